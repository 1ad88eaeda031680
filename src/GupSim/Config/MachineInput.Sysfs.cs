using System.Globalization;
using System.Numerics;
using GupSim.Core;
using GupSim.Memory;

namespace GupSim.Config;

public static partial class MachineInput
{
    /// <summary>
    /// Reads the RAM of a machine from a listing of its <c>/sys/firmware/memmap</c> table (drivers/firmware/memmap.c:
    /// on x86 the firmware's e820 table): one line per entry, <c>INDEX 0xSTART 0xEND TYPE</c>, inclusive end.
    /// </summary>
    /// <param name="text">
    /// The listing, e.g. from <c>for d in /sys/firmware/memmap/*; do echo ${d##*/} $(cat $d/start $d/end $d/type); done</c>.
    /// The form <c>INDEX: 0xSTART-0xEND TYPE</c> is read too. Blank lines are skipped; the 0x is optional.
    /// </param>
    /// <param name="sourceName">The name used in messages and as <see cref="RamLayout.Source"/>.</param>
    /// <returns>One node, nid 0, holding every "System RAM" entry, sorted, touching ranges merged.</returns>
    /// <remarks>
    /// Only type "System RAM" counts ("Reserved", "ACPI Tables", "ACPI Non-volatile Storage", "Persistent Memory",
    /// "Soft Reserved" ... do not). This is the table before the kernel trims it, so it can hold RAM that
    /// /proc/iomem does not show as System RAM (x86 gives page 0 to the BIOS, 0x0-0xfff).
    /// </remarks>
    /// <exception cref="GupSimException">Thrown when a line is malformed, System RAM entries overlap, or there is no System RAM.</exception>
    public static RamLayout ParseFirmwareMemmap(string text, string sourceName)
    {
        var ram = new List<(PhysRange Range, string Label)>();
        foreach (var (number, line) in Lines(text))
        {
            if (string.IsNullOrWhiteSpace(line)) continue;
            if (!TryParseMemmapLine(line, out ulong start, out ulong last, out string type))
                throw new GupSimException($"{sourceName}:{number}: malformed /sys/firmware/memmap line: {line}: write INDEX 0xSTART 0xEND TYPE, with an inclusive end");
            if (type == SystemRamName) ram.Add((PhysRange.FromInclusive(start, last), $"{sourceName}:{number}"));
        }
        if (ram.Count == 0)
            throw new GupSimException($"{sourceName}: no \"System RAM\" entry in this /sys/firmware/memmap listing: list every entry with its type");
        var ranges = SortAndMerge(ram, (a, b) => $"{sourceName}: System RAM at {a} overlaps System RAM at {b}: give each entry once");
        return OneNode(ranges, sourceName);
    }

    private static bool TryParseMemmapLine(string line, out ulong start, out ulong last, out string type)
    {
        start = last = 0;
        type = "";
        string[] tokens = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        if (tokens.Length < 3) return false;
        if (!int.TryParse(tokens[0].TrimEnd(':'), NumberStyles.None, CultureInfo.InvariantCulture, out _)) return false;
        int typeAt;
        int dash = tokens[1].IndexOf('-', StringComparison.Ordinal);
        if (dash >= 0)
        {
            if (!TryParseHex(tokens[1].AsSpan(0, dash), out start) || !TryParseHex(tokens[1].AsSpan(dash + 1), out last)) return false;
            typeAt = 2;
        }
        else
        {
            if (tokens.Length < 4 || !TryParseHex(tokens[1], out start) || !TryParseHex(tokens[2], out last)) return false;
            typeAt = 3;
        }
        type = string.Join(' ', tokens[typeAt..]);
        return last >= start && last != ulong.MaxValue;
    }

    /// <summary>
    /// Reads the RAM of a machine from a listing of its memory blocks (<c>/sys/devices/system/memory</c>,
    /// drivers/base/memory.c): the first line is <c>block_size_bytes</c> in hex, then one line per block,
    /// <c>memoryN PHYS_INDEX state valid_zones</c>, with phys_index in hex.
    /// </summary>
    /// <param name="text">The listing. Blank lines are skipped.</param>
    /// <param name="sourceName">The name used in messages and as <see cref="RamLayout.Source"/>.</param>
    /// <param name="blockSizeBytes">
    /// The block size when the listing has no block_size_bytes line; when both are given they must agree.
    /// </param>
    /// <returns>One node, nid 0: every block as [phys_index × size, +size), touching blocks merged.</returns>
    /// <remarks>
    /// Online and offline blocks both count: an offline block is present memory the kernel has a memmap for, just
    /// not in the buddy allocator. A block is all-or-nothing, so holes smaller than a block are invisible here
    /// (x86's first block covers 0-128M though page 0 and 640K-1M are not RAM); /proc/iomem or the firmware memmap
    /// give the exact ranges. The state and valid_zones columns are not read.
    /// </remarks>
    /// <exception cref="GupSimException">
    /// Thrown when the block size is missing, not a power of two, or disagrees with <paramref name="blockSizeBytes"/>;
    /// when a line is malformed; when a block is listed twice; or when there is no block.
    /// </exception>
    public static RamLayout ParseMemoryBlocks(string text, string sourceName, ulong? blockSizeBytes = null)
    {
        ulong? size = blockSizeBytes;
        if (size is { } given && !BitOperations.IsPow2(given))
            throw new GupSimException($"{sourceName}: memory block size {Hex(given)} is not a power of two: give block_size_bytes as the kernel prints it (8000000 is 128M)");
        var blocks = new List<(PhysRange Range, string Label)>();
        bool first = true;
        foreach (var (number, line) in Lines(text))
        {
            if (string.IsNullOrWhiteSpace(line)) continue;
            string[] tokens = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (first && !tokens[0].StartsWith("memory", StringComparison.Ordinal))
            {
                first = false;
                size = ParseBlockSizeLine(tokens, line, number, sourceName, blockSizeBytes);
                continue;
            }
            first = false;
            if (size is not { } blockSize)
                throw new GupSimException($"{sourceName}:{number}: no block size before the first block: start the listing with block_size_bytes in hex (e.g. 8000000)");
            if (tokens.Length < 2 || !IsMemoryBlockName(tokens[0]) || !TryParseHex(tokens[1], out ulong index))
                throw new GupSimException($"{sourceName}:{number}: malformed memory block line: {line}: write memoryN PHYS_INDEX_HEX [state] [valid_zones]");
            if (index >= ulong.MaxValue / blockSize) // the block would end at or past 2^64
                throw new GupSimException($"{sourceName}:{number}: memory block phys_index {Hex(index)} is beyond 64-bit addresses: give phys_index in hex as sysfs prints it");
            blocks.Add((PhysRange.FromStartEnd(index * blockSize, index * blockSize + blockSize), tokens[0]));
        }
        if (blocks.Count == 0)
            throw new GupSimException($"{sourceName}: no memoryN line in this memory block listing: list every /sys/devices/system/memory/memoryN with its phys_index");
        var ranges = SortAndMerge(blocks, (a, b) => $"{sourceName}: {a} and {b} are the same memory block: list each block once");
        return OneNode(ranges, sourceName);
    }

    private static ulong ParseBlockSizeLine(string[] tokens, string line, int number, string sourceName, ulong? given)
    {
        if (tokens.Length != 1 || !TryParseHex(tokens[0], out ulong size) || !BitOperations.IsPow2(size))
            throw new GupSimException($"{sourceName}:{number}: malformed block_size_bytes line: {line}: give the block size in hex as sysfs prints it (8000000 is 128M)");
        if (given is { } g && g != size)
            throw new GupSimException($"{sourceName}:{number}: block_size_bytes {Hex(size)} disagrees with the block size {Hex(g)} given: use one of them");
        return size;
    }

    private static bool IsMemoryBlockName(string token) =>
        token.Length > "memory".Length
        && token.StartsWith("memory", StringComparison.Ordinal)
        && token.AsSpan("memory".Length).ContainsAnyExceptInRange('0', '9') is false;
}
