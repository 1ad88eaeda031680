using System.Globalization;
using GupSim.Core;

namespace GupSim.Memory;

/// <summary>A half-open range of physical addresses [Start, End), in bytes.</summary>
/// <remarks>Immutable value type. <c>/proc/iomem</c> prints inclusive ends; <see cref="FromInclusive"/> converts.</remarks>
public readonly record struct PhysRange
{
    private PhysRange(ulong start, ulong end)
    {
        Start = start;
        End = end;
    }

    /// <summary>First byte.</summary>
    public ulong Start { get; }
    /// <summary>One past the last byte.</summary>
    public ulong End { get; }
    /// <summary>Length in bytes.</summary>
    public ulong Bytes => End - Start;

    /// <summary>Makes [start, end).</summary>
    /// <exception cref="ArgumentOutOfRangeException">Thrown when end is below start.</exception>
    public static PhysRange FromStartEnd(ulong start, ulong end)
    {
        if (end < start) throw new ArgumentOutOfRangeException(nameof(end), end, "range end is below its start");
        return new PhysRange(start, end);
    }

    /// <summary>Makes [start, lastInclusive + 1), the form /proc/iomem and /sys/firmware/memmap print.</summary>
    public static PhysRange FromInclusive(ulong start, ulong lastInclusive) => FromStartEnd(start, lastInclusive + 1);

    /// <summary>Whether <paramref name="addr"/> lies inside.</summary>
    public bool Contains(ulong addr) => addr >= Start && addr < End;

    /// <summary>Whether the two ranges share a byte.</summary>
    public bool Overlaps(PhysRange other) => Start < other.End && other.Start < End;

    /// <summary>"0x100000000-0x63fffffff (20G)": inclusive end, as iomem prints it, plus the size.</summary>
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"0x{Start:x}-0x{End - 1:x} ({ByteSize.Format(Bytes)})");
}

/// <summary>The RAM of one NUMA node.</summary>
/// <param name="Nid">Node id.</param>
/// <param name="Ranges">RAM ranges, sorted, not overlapping.</param>
public sealed record NodeRam(int Nid, IReadOnlyList<PhysRange> Ranges);

/// <summary>A machine's physical memory as boot firmware hands it to the kernel: RAM per node (holes are what is not listed).</summary>
/// <param name="Nodes">Nodes by id, each with its RAM.</param>
/// <param name="Source">Where the layout came from ("--mem 20G", "/proc/iomem", ...), for the layout printout.</param>
public sealed record RamLayout(IReadOnlyList<NodeRam> Nodes, string Source)
{
    /// <summary>
    /// Parts of the RAM the firmware or an earlier boot marked as used (a /proc/iomem "reserved" or "ACPI Tables"
    /// entry inside "System RAM"): memblock reservations at boot. Empty unless a machine file gave them.
    /// </summary>
    public IReadOnlyList<FirmwareReservation> Reserved { get; init; } = [];

    /// <summary>Every RAM range of every node, sorted by address.</summary>
    public IEnumerable<PhysRange> AllRanges => Nodes.SelectMany(n => n.Ranges).OrderBy(r => r.Start);

    /// <summary>Total RAM bytes.</summary>
    public ulong TotalBytes => Nodes.SelectMany(n => n.Ranges).Aggregate(0UL, (a, r) => a + r.Bytes);
}

/// <summary>A range of RAM reserved before the kernel's own allocations, and the name the machine file gave it.</summary>
/// <param name="Range">The bytes.</param>
/// <param name="Name">"reserved", "ACPI Tables", ... as /proc/iomem names it.</param>
/// <param name="Source">Where it was read ("file:line").</param>
public sealed record FirmwareReservation(PhysRange Range, string Name, string Source);
