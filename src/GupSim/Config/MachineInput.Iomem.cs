using GupSim.Core;
using GupSim.Memory;

namespace GupSim.Config;

public static partial class MachineInput
{
    /// <summary>The exact message for a /proc/iomem copy read without root (every address zero).</summary>
    public const string IomemHiddenMessage = "addresses hidden: read /proc/iomem as root";

    /// <summary>
    /// Reads the RAM of a machine from a copy of its <c>/proc/iomem</c> (kernel/resource.c r_show(): lines
    /// <c>start-end : name</c>, hex addresses with an inclusive end, two spaces of indentation per nesting level).
    /// </summary>
    /// <param name="text">The file's text.</param>
    /// <param name="sourceName">The name used in messages and as <see cref="RamLayout.Source"/> (a path, or "/proc/iomem").</param>
    /// <returns>One node, nid 0, holding every "System RAM" range, sorted, touching ranges merged.</returns>
    /// <remarks>
    /// RAM is every "System RAM" entry that is not inside another "System RAM" entry: the top-level entries, as
    /// x86 and arm64 print them, and a "System RAM" nested under a non-RAM parent in the rare file shaped so.
    /// Children of RAM ("Kernel code", "Kernel data", "reserved", "Crash kernel") do not change it: they are
    /// still RAM. Names must match exactly, so hot-plugged "System RAM (kmem)" is not boot RAM. Blank lines are
    /// skipped.
    /// <para>
    /// Reservations (<see cref="RamLayout.Reserved"/>): a "reserved"/"Reserved", "ACPI Tables" or "ACPI
    /// Non-volatile Storage" entry nested inside "System RAM" is RAM the firmware or the running kernel held
    /// (arm64 and riscv list memblock.reserved so, reserve_memblock_reserved_regions()); it becomes a memblock
    /// reservation at boot. The same names at top level are e820 types (E820_TYPE_RESERVED, _ACPI, _NVS) that
    /// e820__memblock_setup() never adds to memblock.memory: they stay out of RAM, as every non-RAM entry does.
    /// </para>
    /// </remarks>
    /// <exception cref="GupSimException">
    /// Thrown when every address is zero (<see cref="IomemHiddenMessage"/>, what non-root readers see), when a line
    /// is malformed (<c>{sourceName}:{line}: malformed /proc/iomem line: {text}</c>), or when there is no System RAM.
    /// </exception>
    public static RamLayout ParseIomem(string text, string sourceName)
    {
        var ancestors = new List<(int Indent, bool IsRam)>();
        var ram = new List<(PhysRange Range, string Label)>();
        var reserved = new List<FirmwareReservation>();
        bool anyEntry = false, allZero = true;
        foreach (var (number, line) in Lines(text))
        {
            if (string.IsNullOrWhiteSpace(line)) continue;
            if (!TryParseIomemLine(line, out int indent, out ulong start, out ulong last, out string name))
                throw new GupSimException($"{sourceName}:{number}: malformed /proc/iomem line: {line}");
            anyEntry = true;
            allZero &= start == 0 && last == 0;
            while (ancestors.Count > 0 && ancestors[^1].Indent >= indent) ancestors.RemoveAt(ancestors.Count - 1);
            bool isRam = name == SystemRamName;
            if (isRam && !ancestors.Exists(a => a.IsRam))
            {
                // An inclusive end of 2^64 - 1 has no half-open form; the kernel never gives RAM there.
                if (last == ulong.MaxValue) throw new GupSimException($"{sourceName}:{number}: malformed /proc/iomem line: {line}");
                ram.Add((PhysRange.FromInclusive(start, last), $"{sourceName}:{number}"));
            }
            else if (IsReservationName(name) && ancestors.Exists(a => a.IsRam) && last != ulong.MaxValue)
                reserved.Add(new FirmwareReservation(PhysRange.FromInclusive(start, last), name, $"{sourceName}:{number}"));
            ancestors.Add((indent, isRam));
        }
        if (anyEntry && allZero) throw new GupSimException(IomemHiddenMessage);
        if (ram.Count == 0)
            throw new GupSimException($"{sourceName}: no \"System RAM\" entry in this /proc/iomem: give the whole file, read as root");
        var ranges = SortAndMerge(ram, (a, b) => $"{sourceName}: System RAM at {a} overlaps System RAM at {b}: give /proc/iomem as the kernel prints it");
        return OneNode(ranges, sourceName) with { Reserved = reserved };
    }

    /// <summary>The /proc/iomem names of RAM that is held at boot: "reserved" (arm64, riscv), "Reserved" (x86), and the ACPI ones.</summary>
    private static bool IsReservationName(string name) =>
        name is "reserved" or "Reserved" or "ACPI Tables" or "ACPI Non-volatile Storage";

    /// <summary>Whether <paramref name="text"/> looks like /proc/iomem read by a non-root user: entries, all of them zero.</summary>
    private static bool IomemAddressesHidden(string text)
    {
        bool anyEntry = false;
        foreach (var (_, line) in Lines(text))
        {
            if (string.IsNullOrWhiteSpace(line)) continue;
            if (!TryParseIomemLine(line, out _, out ulong start, out ulong last, out _)) return false;
            if (start != 0 || last != 0) return false;
            anyEntry = true;
        }
        return anyEntry;
    }

    /// <summary>Splits "  0009fc00-000fffff : Reserved" into its indentation, addresses and name.</summary>
    private static bool TryParseIomemLine(string line, out int indent, out ulong start, out ulong last, out string name)
    {
        start = last = 0;
        name = "";
        indent = 0;
        while (indent < line.Length && line[indent] is ' ' or '\t') indent++;
        ReadOnlySpan<char> rest = line.AsSpan(indent);
        int colon = rest.IndexOf(" : ", StringComparison.Ordinal);
        ReadOnlySpan<char> addresses;
        if (colon >= 0)
        {
            addresses = rest[..colon];
            name = rest[(colon + 3)..].Trim().ToString();
        }
        else if (rest.EndsWith(" :", StringComparison.Ordinal))
        {
            addresses = rest[..^2]; // an empty name whose trailing space an editor removed
        }
        else return false;
        int dash = addresses.IndexOf('-');
        if (dash < 0) return false;
        return TryParseHex(addresses[..dash], out start) && TryParseHex(addresses[(dash + 1)..], out last) && last >= start;
    }
}
