using System.Globalization;
using GupSim.Core;
using GupSim.Mm;

namespace GupSim.Gup;

/// <summary>
/// GupSim's balance check around a GUP and its release (not a kernel function): the refcount and pincount of every
/// compound head mapped in a range, and every hstate's pool counts, taken before and compared after. A release that
/// dropped references from the wrong struct pages, or never dropped them, shows up as a head whose counts moved.
/// </summary>
public sealed class PinBalance
{
    private Machine _m;
    private readonly Dictionary<ulong, (int Ref, int Pin)> _heads = [];
    private (ulong Nr, ulong Free, ulong Resv, ulong Surplus)[] _pools = [];

    private PinBalance(Machine m) => _m = m;

    /// <summary>The compound heads mapped in [addr, addr + len), by pfn, with their counts now.</summary>
    public IReadOnlyDictionary<ulong, (int Ref, int Pin)> Heads => _heads;

    /// <summary>
    /// A head that FOLL_LONGTERM migrated: the old page is gone, and the new one is judged against the counts it had
    /// before GUP took it (<paramref name="refcount"/>, <paramref name="pincount"/>).
    /// </summary>
    public void Moved(ulong oldPfn, ulong newPfn, int refcount, int pincount)
    {
        _heads.Remove(oldPfn);
        _heads[newPfn] = (refcount, pincount);
    }

    /// <summary>Takes the counts of every head mapped in [addr, addr + len) of <paramref name="mm"/>, and the pools.</summary>
    public static PinBalance Take(MmStruct mm, ulong addr, ulong len)
    {
        ArgumentNullException.ThrowIfNull(mm);
        return new PinBalance(mm.Machine).Retake(mm, addr, len);
    }

    /// <summary>
    /// Takes the counts again, into this instance (what <see cref="Take"/> returns, without allocating once the
    /// instance has held as many heads and hstates): every head mapped in [addr, addr + len) of <paramref name="mm"/>,
    /// and the pools. What was taken before is forgotten.
    /// </summary>
    public PinBalance Retake(MmStruct mm, ulong addr, ulong len)
    {
        ArgumentNullException.ThrowIfNull(mm);
        var m = mm.Machine;
        _m = m;
        var sp = m.StructPages;
        var heads = _heads;
        heads.Clear();
        for (ulong va = addr; va < addr + len && va >= addr;)
        {
            var leaf = mm.WalkLeaf(va);
            ulong step = leaf?.Bytes ?? m.Arch.PageSize;
            if (leaf is { } l && l.Entry.IsPresent)
            {
                var head = sp.CompoundHead(m.PfnToPage(l.Entry.Pfn));
                ulong hp = m.PageToPfn(head).Value;
                if (!heads.ContainsKey(hp))
                    heads[hp] = (sp.Refcount(head), sp.HpagePincountAvailable(head) ? sp.CompoundPincount(head) : 0);
            }
            va = (va & ~(step - 1)) + step;
        }
        var hs = m.Hugetlb.Hstates;
        if (_pools.Length != hs.Count) _pools = new (ulong, ulong, ulong, ulong)[hs.Count];
        for (int i = 0; i < hs.Count; i++) _pools[i] = (hs[i].NrHugePages, hs[i].FreeHugePages, hs[i].ResvHugePages, hs[i].SurplusHugePages);
        return this;
    }

    /// <summary>The first line <see cref="Differences"/> would give, or null when everything is back where it was (without building the list).</summary>
    public string? FirstDifference(bool pools = true)
    {
        var sp = _m.StructPages;
        foreach (var (pfn, (r, pc)) in _heads)
        {
            var head = _m.PfnToPage(Pfn.FromUInt64(pfn));
            int r2 = sp.Refcount(head), pc2 = sp.HpagePincountAvailable(head) ? sp.CompoundPincount(head) : 0;
            if (r2 != r || pc2 != pc) return Differences(pools)[0];
        }
        var hs = _m.Hugetlb.Hstates;
        for (int i = 0; pools && i < hs.Count && i < _pools.Length; i++)
            if ((hs[i].NrHugePages, hs[i].FreeHugePages, hs[i].ResvHugePages, hs[i].SurplusHugePages) != _pools[i]) return Differences(pools)[0];
        return null;
    }

    /// <summary>
    /// One line per head (of those taken) whose refcount or pincount differs now, and, with <paramref name="pools"/>,
    /// per hstate whose pool counts differ; empty when everything is back where it was.
    /// </summary>
    public List<string> Differences(bool pools = true)
    {
        var sp = _m.StructPages;
        var lines = new List<string>();
        foreach (var (pfn, (r, pc)) in _heads)
        {
            var head = _m.PfnToPage(Pfn.FromUInt64(pfn));
            int r2 = sp.Refcount(head), pc2 = sp.HpagePincountAvailable(head) ? sp.CompoundPincount(head) : 0;
            if (r2 != r || pc2 != pc)
                lines.Add(string.Create(CultureInfo.InvariantCulture, $"head pfn 0x{pfn:x}: refcount {r} -> {r2}, pincount {pc} -> {pc2}"));
        }
        var hs = _m.Hugetlb.Hstates;
        for (int i = 0; pools && i < hs.Count && i < _pools.Length; i++)
        {
            var now = (hs[i].NrHugePages, hs[i].FreeHugePages, hs[i].ResvHugePages, hs[i].SurplusHugePages);
            if (now != _pools[i])
                lines.Add(string.Create(CultureInfo.InvariantCulture,
                    $"{hs[i].Name}: total/free/resv/surplus {_pools[i].Nr}/{_pools[i].Free}/{_pools[i].Resv}/{_pools[i].Surplus} -> {now.NrHugePages}/{now.FreeHugePages}/{now.ResvHugePages}/{now.SurplusHugePages}"));
        }
        return lines;
    }
}
