using GupSim.Arch;
using GupSim.Core;
using GupSim.Pages;

namespace GupSim.Memory.Models;

/// <summary>A node's memmap under DISCONTIGMEM: node_mem_map is the struct page of node_start_pfn.</summary>
public sealed record NodeMemMap(int Nid, ulong NodeStartPfn, ulong NodeSpannedPages, ulong NodeMemMapVa);

/// <summary>DISCONTIGMEM (until v5.14): one node_mem_map per node; page_to_pfn reads the node from page->flags.</summary>
public sealed class DiscontigMemMap : MemMap
{
    private readonly NodeMemMap[] _nodes;

    internal DiscontigMemMap(ArchProfile arch, KernelMemory memory, PageFlagsLayout flags, IReadOnlyList<NodeMemMap> nodes)
        : base(arch, memory, flags)
    {
        _nodes = [.. nodes];
    }

    /// <summary>The per-node arrays.</summary>
    public IReadOnlyList<NodeMemMap> Nodes => _nodes;

    public override MemoryModel Model => MemoryModel.Discontigmem;

    /// <summary>arch_pfn_to_nid(): the node spanning pfn (node 0 when none does, as an unset physnode_map entry reads).</summary>
    public int PfnToNid(Pfn pfn)
    {
        foreach (var n in _nodes)
            if (pfn.Value >= n.NodeStartPfn && pfn.Value < n.NodeStartPfn + n.NodeSpannedPages) return n.Nid;
        return 0;
    }

    /// <summary><c>NODE_DATA(nid)->node_mem_map + (pfn - node_start_pfn)</c>.</summary>
    public override PagePtr PfnToPage(Pfn pfn)
    {
        var n = Node(PfnToNid(pfn));
        return PagePtr.FromAddress(n.NodeMemMapVa).Add(unchecked((long)(pfn.Value - n.NodeStartPfn)), StructPageSize);
    }

    /// <summary><c>(page - pgdat->node_mem_map) + pgdat->node_start_pfn</c> with pgdat from page_to_nid(page).</summary>
    public override Pfn PageToPfn(PagePtr page)
    {
        int nid = FlagsLayout.NodeOf(ReadFlags(page));
        if (nid >= _nodes.Length) throw new KernelOops(KernelVa.Null, $"page_to_pfn({page}): NODE_DATA({nid}) is NULL");
        var n = Node(nid);
        long diff = PagePtr.Difference(page, PagePtr.FromAddress(n.NodeMemMapVa), StructPageSize);
        return Pfn.FromUInt64(unchecked((ulong)diff + n.NodeStartPfn));
    }

    /// <summary>DISCONTIGMEM pfn_valid(): inside a node's span.</summary>
    public override bool PfnValid(Pfn pfn)
    {
        foreach (var n in _nodes)
            if (pfn.Value >= n.NodeStartPfn && pfn.Value < n.NodeStartPfn + n.NodeSpannedPages) return true;
        return false;
    }

    private NodeMemMap Node(int nid)
    {
        foreach (var n in _nodes)
            if (n.Nid == nid) return n;
        return _nodes[0];
    }
}
