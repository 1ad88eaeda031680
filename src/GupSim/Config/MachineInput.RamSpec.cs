using System.Numerics;
using GupSim.Arch;
using GupSim.Core;
using GupSim.Memory;

namespace GupSim.Config;

public static partial class MachineInput
{
    private const ulong GiB = 1UL << 30;

    /// <summary>Where x86's low RAM stops in <see cref="DefaultRam"/>: the 3–4 GiB PCI hole starts here.</summary>
    public const ulong X86PciHoleStart = 3 * GiB;

    /// <summary>Where x86's RAM above the PCI hole starts in <see cref="DefaultRam"/>.</summary>
    public const ulong X86PciHoleEnd = 4 * GiB;

    /// <summary>
    /// Parses <c>--ram</c>: comma-separated half-open ranges, each <c>START-END</c> or <c>START+SIZE</c>, the numbers
    /// in <see cref="ByteSize.Parse"/>'s syntax (<c>0-3G,4G-20G</c>, <c>0-3G,4G+16G</c>, <c>0x1000-0x9fc00</c>).
    /// </summary>
    /// <param name="spec">The option's value.</param>
    /// <param name="alignBytes">Every start and end must be a multiple of this (the caller passes the page size); 1 for none.</param>
    /// <returns>One node, nid 0: the ranges sorted, touching ranges merged; <see cref="RamLayout.Source"/> is "--ram SPEC".</returns>
    /// <exception cref="GupSimException">
    /// Thrown when the list is empty, an item is not a range, a range is empty or backwards, runs past 2^64,
    /// is not aligned, or overlaps another (the message names both as written).
    /// </exception>
    /// <exception cref="ArgumentOutOfRangeException">Thrown when <paramref name="alignBytes"/> is not a power of two.</exception>
    public static RamLayout ParseRamSpec(string spec, ulong alignBytes = 1) => ParseRamSpec(spec, alignBytes, "--ram");

    /// <summary><see cref="ParseRamSpec(string, ulong)"/> for another option that takes ranges (<c>--hotplug</c>): its messages name <paramref name="flag"/>.</summary>
    public static RamLayout ParseRamSpec(string spec, ulong alignBytes, string flag)
    {
        CheckAlignArgument(alignBytes);
        if (string.IsNullOrWhiteSpace(spec))
            throw new GupSimException($"{flag}: no range given: list ranges as START-END or START+SIZE, e.g. {flag} 0-3G,4G-20G");
        var ranges = new List<(PhysRange Range, string Label)>();
        foreach (string raw in spec.Split(','))
        {
            string item = raw.Trim();
            PhysRange range = ParseRangeItem(item, flag);
            CheckAligned(item, range, alignBytes, flag);
            ranges.Add((range, item));
        }
        var sorted = SortAndMerge(ranges, (a, b) => $"{flag}: {a} overlaps {b}: give each byte of RAM once");
        return OneNode(sorted, $"{flag} {spec.Trim()}");
    }

    /// <summary>
    /// Prints ranges as <see cref="ParseRamSpec(string, ulong)"/> reads them: <c>0-3G,4G-21G</c> (half-open, largest exact suffix).
    /// </summary>
    public static string FormatRamSpec(IEnumerable<PhysRange> ranges) =>
        string.Join(',', ranges.Select(r => $"{ByteSize.Format(r.Start)}-{ByteSize.Format(r.End)}"));

    /// <summary>
    /// The RAM of a default machine of <paramref name="arch"/> with <paramref name="memBytes"/> of memory
    /// (<c>--mem 20G</c>).
    /// </summary>
    /// <param name="memBytes">Total RAM, a positive multiple of the page size.</param>
    /// <param name="arch">The arch profile.</param>
    /// <returns>
    /// One node, nid 0. On x86 (x86_64 and i386), like a PC: [0, min(mem, 3G)) and, when mem is above 3 GiB, the
    /// rest above the 3–4 GiB PCI hole, [4G, 4G + mem − 3G). The legacy holes below 1 MiB (page 0, 640K–1M) are not
    /// modelled; load a real /proc/iomem for them. Other arches: one range [DefaultRamStart, DefaultRamStart + mem).
    /// <see cref="RamLayout.Source"/> is "--mem SIZE".
    /// </returns>
    /// <exception cref="GupSimException">
    /// Thrown when <paramref name="memBytes"/> is zero or not a multiple of the page size, or when the RAM would
    /// reach beyond what MAX_PHYSMEM_BITS addresses.
    /// </exception>
    public static RamLayout DefaultRam(ulong memBytes, ArchProfile arch)
    {
        ArgumentNullException.ThrowIfNull(arch);
        string flag = $"--mem {ByteSize.Format(memBytes)}";
        if (memBytes == 0 || memBytes % arch.PageSize != 0)
            throw new GupSimException($"{flag}: give a positive multiple of {arch.Name}'s page size ({ByteSize.Format(arch.PageSize)}), e.g. --mem 4G");
        ulong physLimit = arch.MaxPhysmemBits >= 64 ? ulong.MaxValue : 1UL << arch.MaxPhysmemBits;
        PhysRange[] ranges;
        ulong maxMem;
        if (arch.KernelArch == "x86")
        {
            maxMem = physLimit <= X86PciHoleEnd ? Math.Min(X86PciHoleStart, physLimit) : physLimit - (X86PciHoleEnd - X86PciHoleStart);
            if (memBytes > maxMem) throw TooMuchRam(flag, arch, physLimit, maxMem);
            ulong low = Math.Min(memBytes, X86PciHoleStart);
            ranges = memBytes <= X86PciHoleStart
                ? [PhysRange.FromStartEnd(0, low)]
                : [PhysRange.FromStartEnd(0, low), PhysRange.FromStartEnd(X86PciHoleEnd, X86PciHoleEnd + (memBytes - X86PciHoleStart))];
        }
        else
        {
            maxMem = physLimit > arch.DefaultRamStart ? physLimit - arch.DefaultRamStart : 0;
            if (memBytes > maxMem) throw TooMuchRam(flag, arch, physLimit, maxMem);
            ranges = [PhysRange.FromStartEnd(arch.DefaultRamStart, arch.DefaultRamStart + memBytes)];
        }
        return OneNode(ranges, flag);
    }

    private static GupSimException TooMuchRam(string flag, ArchProfile arch, ulong physLimit, ulong maxMem) =>
        new($"{flag}: {arch.Name} addresses only {ByteSize.Format(physLimit)} of physical memory (MAX_PHYSMEM_BITS={arch.MaxPhysmemBits}): use --mem {ByteSize.Format(maxMem)} or less");

    /// <summary>Parses "START-END" or "START+SIZE" into a non-empty half-open range; <paramref name="flag"/> prefixes errors.</summary>
    private static PhysRange ParseRangeItem(string item, string flag)
    {
        int plus = item.IndexOf('+', StringComparison.Ordinal);
        int dash = item.IndexOf('-', StringComparison.Ordinal);
        if (item.Length == 0 || (plus < 0) == (dash < 0))
            throw new GupSimException($"{flag}: '{item}' is not a range: write START-END or START+SIZE, e.g. 0-3G or 4G+16G");
        int at = plus >= 0 ? plus : dash;
        if (!ByteSize.TryParse(item[..at], out ulong start) || !ByteSize.TryParse(item[(at + 1)..], out ulong second))
        {
            string fraction = item.Contains('.', StringComparison.Ordinal) ? " (memparse() takes whole numbers: write 512M, not 0.5G)" : "";
            throw new GupSimException($"{flag}: '{item}' is not a range: write START-END or START+SIZE with sizes like 4G, 512M or 0x1000{fraction}");
        }
        ulong end;
        if (plus >= 0)
        {
            if (second > ulong.MaxValue - start)
                throw new GupSimException($"{flag}: '{item}' runs past the last 64-bit address: give a smaller start or size");
            end = start + second;
        }
        else end = second;
        if (end <= start)
            throw new GupSimException($"{flag}: '{item}' is empty or backwards: ranges are half-open START-END with END above START");
        return PhysRange.FromStartEnd(start, end);
    }

    private static void CheckAligned(string item, PhysRange range, ulong alignBytes, string flag)
    {
        if (range.Start % alignBytes != 0 || range.End % alignBytes != 0)
            throw new GupSimException($"{flag}: '{item}' ({range}) is not aligned to {ByteSize.Format(alignBytes)}: start and end it on multiples of {ByteSize.Format(alignBytes)}");
    }

    private static void CheckAlignArgument(ulong alignBytes)
    {
        if (!BitOperations.IsPow2(alignBytes))
            throw new ArgumentOutOfRangeException(nameof(alignBytes), alignBytes, "the alignment must be a power of two");
    }
}
