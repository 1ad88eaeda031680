using GupSim.Arch;
using GupSim.Core;
using GupSim.Memory;
using GupSim.Pages;

namespace GupSim;

public sealed partial class Machine
{
    private readonly List<(ulong Start, ulong End, string Name)> _allocatedRanges = [];

    /// <summary>
    /// alloc_pages_node(): a block of 2^order pages from node <paramref name="nid"/>, trying its zones from the highest
    /// down to <paramref name="lowestZone"/> as the zonelist does; prep_new_page() gives the head _refcount 1.
    /// Returns false (ENOMEM) when no zone has a block.
    /// </summary>
    public bool TryAllocPages(int order, int nid, string owner, out Pfn pfn, ZoneType lowestZone = ZoneType.Dma)
    {
        pfn = default;
        if (order < 0 || order >= Arch.MaxOrder) return false;
        foreach (var node in Nodes.OrderBy(n => n.Nid == nid ? 0 : 1).ThenBy(n => n.Nid))
        {
            for (int zi = node.Zones.Count - 1; zi >= 0; zi--)
            {
                var z = node.Zones[zi];
                if (z.Type < lowestZone || z.Type == ZoneType.HighMem) continue;
                if (!z.TryAlloc(order, out ulong p)) continue;
                pfn = Pfn.FromUInt64(p);
                StructPages.SetRefcount(PfnToPage(pfn), 1);
                lock (_allocatedRanges) _allocatedRanges.Add((p, p + (1UL << order), owner));
                return true;
            }
        }
        return false;
    }

    /// <summary>
    /// __free_pages_ok() for a block whose last reference is gone: free_pages_prepare() checks every struct page
    /// (bad_page() and the block is not freed when one is dirty), then __free_one_page() merges it back.
    /// </summary>
    /// <returns>The "BUG: Bad page state" reports; empty when the block went back to the buddy.</returns>
    public IReadOnlyList<string> FreePages(Pfn pfn, int order)
    {
        var reports = new List<string>();
        ulong n = 1UL << order;
        for (ulong i = 0; i < n; i++)
        {
            var page = PfnToPage(pfn + i);
            string? reason = StructPages.FreePageCheckReason(page, head: i == 0);
            if (reason is not null) reports.Add(StructPages.BadPage(page, reason));
        }
        if (reports.Count > 0) return reports;
        var zone = ZoneOfPfn(pfn.Value) ?? throw new GupSimException($"free_pages: pfn {pfn} is in no zone");
        lock (_allocatedRanges) _allocatedRanges.RemoveAll(a => a.Start == pfn.Value);
        zone.Free(pfn.Value, order);
        return reports;
    }

    /// <summary>Field access to struct pages at any pointer, as the modelled kernel reads and writes them.</summary>
    public StructPages StructPages => _structPages ??= new StructPages(this);
    private StructPages? _structPages;

    /// <summary>Total free pages over all zones.</summary>
    public ulong FreePagesTotal => Nodes.SelectMany(n => n.Zones).Aggregate(0UL, (a, z) => a + z.FreePages);
}
