using System.Globalization;
using GupSim.Core;
using GupSim.Memory;

namespace GupSim.Config;

public static partial class MachineInput
{
    /// <summary>The most nodes a layout may have: MAX_NUMNODES with the largest CONFIG_NODES_SHIFT x86_64 and arm64 allow (10).</summary>
    public const int MaxNodes = 1 << 10;

    /// <summary>
    /// Splits all RAM of <paramref name="ram"/> into <paramref name="nodes"/> nodes of (nearly) equal size by address
    /// order (<c>--nodes N</c>): node 0 gets the lowest RAM.
    /// </summary>
    /// <param name="ram">The RAM; its node assignment, if any, is discarded.</param>
    /// <param name="nodes">How many nodes, 1 to <see cref="MaxNodes"/>.</param>
    /// <param name="alignBytes">Node boundaries fall on multiples of this (the caller passes the section size or 128 MiB).</param>
    /// <returns>Nodes 0 to N − 1. <see cref="RamLayout.Source"/> gets ", --nodes N" appended.</returns>
    /// <remarks>
    /// Boundary i (1 ≤ i &lt; N) is the address below which exactly total × i / N bytes of RAM lie, rounded down to
    /// <paramref name="alignBytes"/>; rounding down gives the last node the bytes the others lose. A boundary that
    /// falls in a hole leaves the hole between two nodes. Holes never count as a node's memory.
    /// </remarks>
    /// <exception cref="GupSimException">Thrown when <paramref name="nodes"/> is out of range, or when a node would get no RAM.</exception>
    /// <exception cref="ArgumentOutOfRangeException">Thrown when <paramref name="alignBytes"/> is not a power of two.</exception>
    public static RamLayout SplitIntoNodes(RamLayout ram, int nodes, ulong alignBytes)
    {
        ArgumentNullException.ThrowIfNull(ram);
        CheckAlignArgument(alignBytes);
        if (nodes < 1 || nodes > MaxNodes)
            throw new GupSimException($"--nodes {nodes}: give 1 to {MaxNodes} nodes");
        PhysRange[] ranges = SortAndMerge(ram.AllRanges);
        ulong total = ranges.Aggregate(0UL, (a, r) => a + r.Bytes);
        var boundaries = new ulong[nodes + 1];
        boundaries[nodes] = ulong.MaxValue;
        for (int i = 1; i < nodes; i++)
        {
            ulong target = (ulong)((UInt128)total * (ulong)i / (ulong)nodes);
            boundaries[i] = AddressAfterRamBytes(ranges, target) & ~(alignBytes - 1);
        }
        var result = new NodeRam[nodes];
        for (int nid = 0; nid < nodes; nid++)
        {
            PhysRange[] part = Intersect(ranges, boundaries[nid], boundaries[nid + 1]);
            if (part.Length == 0)
                throw new GupSimException(
                    $"--nodes {nodes}: node {nid} would get no RAM ({ByteSize.Format(total)} split on {ByteSize.Format(alignBytes)} boundaries): use fewer nodes");
            result[nid] = new NodeRam(nid, part);
        }
        return new RamLayout(result, $"{ram.Source}, --nodes {nodes}") { Reserved = ram.Reserved };
    }

    /// <summary>
    /// Parses <c>--nodes</c>: either a node count (see <see cref="SplitIntoNodes"/>) or an explicit list
    /// <c>NID:START-END</c> / <c>NID:START+SIZE</c>, comma-separated, e.g. <c>0:0-8G,1:8G-16G</c>; a node may be
    /// named more than once to give it several ranges.
    /// </summary>
    /// <param name="spec">The option's value.</param>
    /// <param name="ram">The RAM to assign to nodes; its node assignment, if any, is discarded.</param>
    /// <param name="alignBytes">Node boundaries that cut through RAM must fall on multiples of this (the section size or 128 MiB).</param>
    /// <returns>The nodes, ordered by nid, each holding the RAM inside its ranges. <see cref="RamLayout.Source"/> gets ", --nodes SPEC" appended.</returns>
    /// <remarks>
    /// Explicit ranges work like an ACPI SRAT memory affinity table: an address window per node. A node's memory
    /// is the RAM inside its windows; a window may span holes (<c>0:0-8G</c> over x86's 3–4 GiB hole), but it must
    /// hold some RAM, windows must not overlap, and every byte of RAM must lie in some window. Nids need not be
    /// consecutive.
    /// </remarks>
    /// <exception cref="GupSimException">
    /// Thrown when the spec is neither a count nor such a list, a nid is out of range, two windows overlap, a window
    /// holds no RAM, a boundary inside RAM is not aligned, or some RAM is in no node.
    /// </exception>
    /// <exception cref="ArgumentOutOfRangeException">Thrown when <paramref name="alignBytes"/> is not a power of two.</exception>
    public static RamLayout ParseNodesSpec(string spec, RamLayout ram, ulong alignBytes)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(ram);
        CheckAlignArgument(alignBytes);
        string trimmed = spec.Trim();
        if (int.TryParse(trimmed, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int count))
            return SplitIntoNodes(ram, count, alignBytes);
        if (trimmed.Length == 0)
            throw new GupSimException("--nodes: nothing given: give a node count (--nodes 2) or NID:START-END ranges (--nodes 0:0-8G,1:8G-16G)");

        PhysRange[] allRam = SortAndMerge(ram.AllRanges);
        var windows = new List<(int Nid, PhysRange Window, string Item)>();
        foreach (string raw in trimmed.Split(','))
        {
            string item = raw.Trim();
            int colon = item.IndexOf(':', StringComparison.Ordinal);
            if (colon < 0 || !int.TryParse(item.AsSpan(0, colon), NumberStyles.None, CultureInfo.InvariantCulture, out int nid))
                throw new GupSimException($"--nodes: '{item}' is not NID:START-END: give a node count or ranges like 0:0-8G,1:8G-16G");
            if (nid >= MaxNodes)
                throw new GupSimException($"--nodes: node id {nid} in '{item}' is too large: use node ids 0 to {MaxNodes - 1}");
            PhysRange window = ParseRangeItem(item[(colon + 1)..].Trim(), "--nodes");
            CheckBoundaryInsideRam(item, window.Start, allRam, alignBytes);
            CheckBoundaryInsideRam(item, window.End, allRam, alignBytes);
            if (Intersect(allRam, window.Start, window.End).Length == 0)
                throw new GupSimException($"--nodes: '{item}' holds no RAM (RAM is {FormatRamSpec(allRam)}): give each node range some RAM");
            windows.Add((nid, window, item));
        }
        SortAndMerge([.. windows.Select(w => (w.Window, w.Item))], (a, b) => $"--nodes: {a} overlaps {b}: give each address to one node");
        CheckEveryRamByteInANode(allRam, windows.Select(w => w.Window));

        var nodes = windows
            .GroupBy(w => w.Nid)
            .OrderBy(g => g.Key)
            .Select(g => new NodeRam(g.Key, SortAndMerge(g.SelectMany(w => Intersect(allRam, w.Window.Start, w.Window.End)))))
            .ToArray();
        return new RamLayout(nodes, $"{ram.Source}, --nodes {trimmed}") { Reserved = ram.Reserved };
    }

    /// <summary>The lowest address with exactly <paramref name="bytes"/> of RAM below it (the end of a range when it fills one).</summary>
    private static ulong AddressAfterRamBytes(PhysRange[] ranges, ulong bytes)
    {
        foreach (var r in ranges)
        {
            if (bytes <= r.Bytes) return r.Start + bytes;
            bytes -= r.Bytes;
        }
        return ranges.Length == 0 ? 0 : ranges[^1].End;
    }

    /// <summary>The parts of sorted <paramref name="ranges"/> inside [start, end).</summary>
    private static PhysRange[] Intersect(PhysRange[] ranges, ulong start, ulong end)
    {
        var parts = new List<PhysRange>();
        foreach (var r in ranges)
        {
            ulong s = Math.Max(r.Start, start), e = Math.Min(r.End, end);
            if (s < e) parts.Add(PhysRange.FromStartEnd(s, e));
        }
        return [.. parts];
    }

    private static void CheckBoundaryInsideRam(string item, ulong boundary, PhysRange[] ram, ulong alignBytes)
    {
        if (boundary % alignBytes == 0) return;
        foreach (var r in ram)
        {
            if (boundary > r.Start && boundary < r.End)
                throw new GupSimException(
                    $"--nodes: '{item}' cuts RAM at {Hex(boundary)}, not a multiple of {ByteSize.Format(alignBytes)}: put node boundaries inside RAM on {ByteSize.Format(alignBytes)} boundaries");
        }
    }

    private static void CheckEveryRamByteInANode(PhysRange[] ram, IEnumerable<PhysRange> windows)
    {
        PhysRange[] covered = SortAndMerge(windows);
        foreach (var r in ram)
        {
            ulong at = r.Start;
            foreach (var w in covered)
            {
                if (w.End <= at || w.Start >= r.End) continue;
                if (w.Start > at) break;
                at = w.End;
                if (at >= r.End) break;
            }
            if (at < r.End)
            {
                ulong gapEnd = r.End;
                foreach (var w in covered)
                {
                    if (w.Start > at && w.Start < gapEnd) gapEnd = w.Start;
                }
                throw new GupSimException(
                    $"--nodes: RAM {FormatRamSpec([PhysRange.FromStartEnd(at, gapEnd)])} is in no node: extend a node's range over it");
            }
        }
    }
}
