using System.Globalization;
using GupSim.Core;
using GupSim.Memory;

namespace GupSim.Config;

/// <summary>
/// Builds a <see cref="RamLayout"/> from the ways a user describes a machine: a copy of a real machine's
/// <c>/proc/iomem</c>, its <c>/sys/firmware/memmap</c> table or its memory-block listing, a <c>--ram</c> range
/// list, a <c>--mem</c> size, and a <c>--nodes</c> split.
/// </summary>
/// <remarks>
/// <para>
/// Every layout returned has its ranges sorted by address, never overlapping, and with touching ranges merged into
/// one (memblock_add() merges adjacent regions of one node the same way, mm/memblock.c), so two descriptions of the
/// same RAM give equal range lists. The file parsers return one node, nid 0; <see cref="SplitIntoNodes"/> and
/// <see cref="ParseNodesSpec"/> make more.
/// </para>
/// <para>
/// Bad input throws <see cref="GupSimException"/> with one line that names the source (file and line, or the flag)
/// and says what to do. Arguments only the program itself chooses (an alignment) throw
/// <see cref="ArgumentException"/> instead.
/// </para>
/// </remarks>
public static partial class MachineInput
{
    /// <summary>The resource name /proc/iomem and /sys/firmware/memmap give boot RAM ("System RAM").</summary>
    public const string SystemRamName = "System RAM";

    /// <summary>The file in a machine directory that holds a copy of /proc/iomem.</summary>
    public const string IomemFileName = "proc-iomem.txt";

    /// <summary>The file in a machine directory that lists /sys/firmware/memmap as "INDEX 0xSTART 0xEND TYPE" lines.</summary>
    public const string FirmwareMemmapFileName = "sys-firmware-memmap.txt";

    /// <summary>The file in a machine directory that lists /sys/devices/system/memory (block size, then one line per block).</summary>
    public const string MemoryBlocksFileName = "sys-memory-blocks.txt";

    /// <summary>
    /// Reads a machine description from a file or a directory and returns its RAM (one node, nid 0).
    /// </summary>
    /// <param name="path">
    /// A file in one of the three formats (<see cref="ParseIomem"/>, <see cref="ParseFirmwareMemmap"/>,
    /// <see cref="ParseMemoryBlocks"/>), found by content: a line with " : " means /proc/iomem, a line starting
    /// "memory" means a memory-block listing, anything else is read as a firmware memmap listing.
    /// Or a directory: a machine snapshot such as <c>data/machines/x86_64-vm-24g/</c> (<see cref="IomemFileName"/>
    /// first, then <see cref="FirmwareMemmapFileName"/>, then <see cref="MemoryBlocksFileName"/>), or
    /// <c>/sys/firmware/memmap</c> itself (numbered directories holding start, end and type).
    /// </param>
    /// <remarks>
    /// In a snapshot directory whose /proc/iomem copy was taken by a non-root user (all addresses zero), the firmware
    /// memmap listing is used when there is one; otherwise the "addresses hidden" error of <see cref="ParseIomem"/>
    /// is thrown.
    /// </remarks>
    /// <exception cref="GupSimException">Thrown when the path does not exist, cannot be read, or holds no usable RAM description.</exception>
    public static RamLayout LoadMachineFile(string path)
    {
        if (Directory.Exists(path)) return LoadMachineDirectory(path);
        string text = ReadText(path);
        return DetectFormat(text) switch
        {
            MachineFileFormat.Iomem => ParseIomem(text, path),
            MachineFileFormat.MemoryBlocks => ParseMemoryBlocks(text, path),
            _ => ParseFirmwareMemmap(text, path),
        };
    }

    private enum MachineFileFormat
    {
        Iomem,
        FirmwareMemmap,
        MemoryBlocks,
    }

    private static MachineFileFormat DetectFormat(string text)
    {
        bool blocks = false;
        foreach (var (_, line) in Lines(text))
        {
            if (line.Contains(" : ", StringComparison.Ordinal)) return MachineFileFormat.Iomem;
            if (line.TrimStart().StartsWith("memory", StringComparison.Ordinal)) blocks = true;
        }
        return blocks ? MachineFileFormat.MemoryBlocks : MachineFileFormat.FirmwareMemmap;
    }

    private static RamLayout LoadMachineDirectory(string dir)
    {
        string iomem = Path.Combine(dir, IomemFileName);
        string memmap = Path.Combine(dir, FirmwareMemmapFileName);
        string blocks = Path.Combine(dir, MemoryBlocksFileName);
        if (File.Exists(iomem))
        {
            string text = ReadText(iomem);
            // A snapshot taken without root has a zeroed iomem but may still have a readable firmware table.
            if (!(IomemAddressesHidden(text) && File.Exists(memmap))) return ParseIomem(text, iomem);
        }
        if (File.Exists(memmap)) return ParseFirmwareMemmap(ReadText(memmap), memmap);
        if (File.Exists(blocks)) return ParseMemoryBlocks(ReadText(blocks), blocks);
        string? sysfs = ReadSysfsMemmapDirectory(dir);
        if (sysfs is not null) return ParseFirmwareMemmap(sysfs, dir);
        throw new GupSimException(
            $"{dir}: no machine description here: put {IomemFileName}, {FirmwareMemmapFileName} or {MemoryBlocksFileName} in it, or give /sys/firmware/memmap");
    }

    /// <summary>Turns /sys/firmware/memmap/N/{start,end,type} into "N start end type" lines, or null when the directory is not shaped so.</summary>
    private static string? ReadSysfsMemmapDirectory(string dir)
    {
        var entries = new List<(int Index, string Line)>();
        foreach (string sub in Directory.EnumerateDirectories(dir))
        {
            if (!int.TryParse(Path.GetFileName(sub), NumberStyles.None, CultureInfo.InvariantCulture, out int index)) continue;
            string start = Path.Combine(sub, "start"), end = Path.Combine(sub, "end"), type = Path.Combine(sub, "type");
            if (!File.Exists(start) || !File.Exists(end) || !File.Exists(type)) continue;
            entries.Add((index, $"{index} {ReadText(start).Trim()} {ReadText(end).Trim()} {ReadText(type).Trim()}"));
        }
        if (entries.Count == 0) return null;
        entries.Sort((a, b) => a.Index.CompareTo(b.Index));
        return string.Join('\n', entries.Select(e => e.Line));
    }

    private static string ReadText(string path) => HostFile.ReadAllText(path, IomemAdvice);

    private const string IomemAdvice = "--iomem wants a copy of /proc/iomem (read as root), a /sys/firmware/memmap listing, a memory-block listing, or a directory holding one";

    /// <summary>The lines of <paramref name="text"/> with their 1-based numbers, line ends ("\n" or "\r\n") removed.</summary>
    private static IEnumerable<(int Number, string Text)> Lines(string text)
    {
        string[] lines = text.Split('\n');
        int count = lines.Length;
        if (count > 0 && lines[^1].Length == 0) count--; // the newline that ends the last line
        for (int i = 0; i < count; i++)
            yield return (i + 1, lines[i].TrimEnd('\r'));
    }

    /// <summary>Parses hex digits with an optional 0x prefix; false when empty, not hex, or above 64 bits.</summary>
    private static bool TryParseHex(ReadOnlySpan<char> s, out ulong value)
    {
        if (s.StartsWith("0x", StringComparison.OrdinalIgnoreCase)) s = s[2..];
        value = 0;
        if (s.IsEmpty) return false;
        foreach (char c in s)
            if (!char.IsAsciiHexDigit(c)) return false;
        return ulong.TryParse(s, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value);
    }

    /// <summary>
    /// Sorts <paramref name="ranges"/>, throws when two overlap (with the message <paramref name="overlap"/> makes from
    /// their labels), and merges touching ranges.
    /// </summary>
    private static PhysRange[] SortAndMerge(List<(PhysRange Range, string Label)> ranges, Func<string, string, string> overlap)
    {
        ranges.Sort((a, b) => a.Range.Start != b.Range.Start
            ? a.Range.Start.CompareTo(b.Range.Start)
            : a.Range.End.CompareTo(b.Range.End));
        var merged = new List<PhysRange>(ranges.Count);
        for (int i = 0; i < ranges.Count; i++)
        {
            if (i > 0 && ranges[i - 1].Range.Overlaps(ranges[i].Range))
                throw new GupSimException(overlap(ranges[i - 1].Label, ranges[i].Label));
            PhysRange r = ranges[i].Range;
            if (merged.Count > 0 && merged[^1].End == r.Start) merged[^1] = PhysRange.FromStartEnd(merged[^1].Start, r.End);
            else merged.Add(r);
        }
        return [.. merged];
    }

    /// <summary>Sorts and merges ranges known not to overlap.</summary>
    private static PhysRange[] SortAndMerge(IEnumerable<PhysRange> ranges) =>
        SortAndMerge([.. ranges.Select(r => (r, r.ToString()))], (a, b) => $"RAM ranges {a} and {b} overlap: give each byte of RAM once");

    private static RamLayout OneNode(PhysRange[] ranges, string source) => new([new NodeRam(0, ranges)], source);

    /// <summary>"0x1000" style hex for messages.</summary>
    private static string Hex(ulong value) => string.Create(CultureInfo.InvariantCulture, $"0x{value:x}");
}
