using System.Globalization;
using GupSim.Arch;
using GupSim.Core;
using GupSim.Pages;

namespace GupSim.Hugetlb;

/// <summary>
/// The hugetlb pools of one machine (mm/hugetlb.c): one <see cref="Hstate"/> per huge page size the arch supports,
/// boot-time reservation from the kernel command line (gigantic pages from memblock, others from the buddy),
/// runtime resizing through nr_hugepages (buddy for orders below MAX_ORDER, alloc_contig_pages for gigantic ones),
/// and the free path (update_and_free_page) as each version had it.
/// </summary>
public sealed class HugetlbPools
{
    private readonly Machine _m;
    private readonly List<Hstate> _hstates = [];
    private readonly List<(Hstate H, ulong Phys, int Nid)> _bootPages = [];
    // hugetlb_lock: pool counters and free lists change under it (faults, frees and unpins run concurrently).
    private readonly Lock _lock = new();
    // WARN_ON_ONCE in alloc_contig_range_noprof(): printed once per boot.
    private bool _warnedContigOrder;

    /// <summary>The machine the pools belong to.</summary>
    internal Machine Machine => _m;

    internal HugetlbPools(Machine machine, HugepagesCmdline cmdline)
    {
        _m = machine;
        Compound = new CompoundPages(machine);
        foreach (var size in machine.Arch.HugePageSizes)
        {
            var h = new Hstate(machine.Arch, size);
            WarnAboveMaxFolioOrder(h);
            _hstates.Add(h);
        }
        var defSize = cmdline.DefaultSize ?? machine.Arch.DefaultHugePageSize?.Bytes;
        Default = defSize is ulong d ? Find(d) : null;
        if (cmdline.DefaultSize is ulong ds && Default is null)
            machine.Log($"HugeTLB: unsupported default_hugepagesz={ByteSize.Format(ds)}. Reverting to default");
        Default ??= machine.Arch.DefaultHugePageSize is { } dh ? Find(dh.Bytes) : _hstates.FirstOrDefault();
        Cmdline = cmdline;
        Mounts = new HugetlbfsMounts(this);
        // hugepagesz_setup(): a size the arch cannot map is refused and the hugepages= after it ignored.
        foreach (var (bytes, count) in cmdline.Pages)
        {
            if (Find(bytes) is not null) continue;
            string size = ByteSize.Format(bytes);
            machine.Log($"HugeTLB: unsupported hugepagesz={size}");
            machine.Log(string.Create(CultureInfo.InvariantCulture, $"HugeTLB: hugepages={count} does not follow a valid hugepagesz, ignoring"));
            string sizes = _hstates.Count == 0 ? "none" : string.Join(", ", _hstates.Select(h => ByteSize.Format(h.Size.Bytes)));
            machine.Warn(string.Create(CultureInfo.InvariantCulture, $"--hugepages: HugeTLB: unsupported hugepagesz={size}, hugepages={count} ignored: the huge page sizes of {machine.Arch.Name} here are {sizes}"));
        }
    }

    /// <summary>The hugetlbfs mounts.</summary>
    public HugetlbfsMounts Mounts { get; }

    /// <summary>The hstate of a compound head (by its order), or null when it is not a hugetlb page size.</summary>
    public Hstate? HstateOfHead(Pages.PagePtr head)
    {
        int order = _m.StructPages.CompoundOrder(head);
        return _hstates.FirstOrDefault(h => h.Order == order);
    }

    /// <summary>
    /// hugetlb_acct_memory(): reserve (<paramref name="delta"/> &gt; 0) or release huge pages. Reserving needs
    /// free − resv ≥ delta, else surplus pages within nr_overcommit_hugepages (gather_surplus_pages()); −ENOMEM
    /// otherwise, with nothing changed.
    /// </summary>
    public int HugetlbAcctMemory(Hstate h, long delta)
    {
        lock (_lock)
        {
            if (delta > 0)
            {
                long needed = (long)h.ResvHugePages + delta - (long)h.FreeHugePages;
                if (needed > 0)
                {
                    if ((long)h.SurplusHugePages + needed > (long)h.NrOvercommitHugePages) return -(int)Errno.ENOMEM;
                    var fresh = new List<ulong>();
                    for (long i = 0; i < needed; i++)
                    {
                        if (!TryAllocFreshHugePage(h, _m.Nodes[0].Nid, out ulong head))
                        {
                            foreach (ulong f in fresh) UpdateAndFreePage(h, f);
                            return -(int)Errno.ENOMEM;
                        }
                        fresh.Add(head);
                    }
                    foreach (ulong f in fresh)
                    {
                        h.SurplusHugePages++;
                        _m.StructPages.SetRefcount(_m.PfnToPage(Pfn.FromUInt64(f)), 0);
                        h.Enqueue(NidOf(f), f);
                    }
                }
                h.ResvHugePages += (ulong)delta;
                return 0;
            }
            h.ResvHugePages -= (ulong)(-delta);
            ReturnUnusedSurplusPages(h);
            return 0;
        }
    }

    /// <summary>return_unused_surplus_pages(): frees surplus pages that no reservation needs any more.</summary>
    private void ReturnUnusedSurplusPages(Hstate h)
    {
        while (h.SurplusHugePages > 0 && h.FreeHugePages > h.ResvHugePages)
        {
            int? nid = h.NodesWithFree().Cast<int?>().FirstOrDefault();
            if (nid is null) break;
            h.TryDequeue(nid.Value, out ulong head);
            h.SurplusHugePages--;
            UpdateAndFreePage(h, head);
        }
    }

    /// <summary>
    /// alloc_huge_page() for a fault: dequeue a free page (consuming a reservation when the mapping holds one for
    /// this index; else only if free − resv &gt; 0), or a surplus page within nr_overcommit_hugepages. The page comes
    /// back with _refcount 1. False means the pool is exhausted (the fault returns VM_FAULT_SIGBUS).
    /// </summary>
    public bool TryAllocHugePage(Hstate h, bool hasReservation, out ulong headPfn)
    {
        lock (_lock)
        {
            headPfn = 0;
            if (!hasReservation && h.FreeHugePages <= h.ResvHugePages)
            {
                if (h.SurplusHugePages >= h.NrOvercommitHugePages || !TryAllocFreshHugePage(h, _m.Nodes[0].Nid, out headPfn)) return false;
                h.SurplusHugePages++;
                return true;
            }
            if (!TryDequeueForTask(h, out headPfn)) return false;
            if (hasReservation) h.ResvHugePages--;
            return true;
        }
    }

    /// <summary>
    /// dequeue_huge_page_nodemask() for the current task: nodes in order, each node's free list from its head; inside
    /// a FOLL_LONGTERM call (PF_MEMALLOC_NOCMA before v5.13, PF_MEMALLOC_PIN after) pages in CMA — from v5.13 any
    /// page that is not long-term pinnable — are skipped.
    /// </summary>
    private bool TryDequeueForTask(Hstate h, out ulong headPfn)
    {
        headPfn = 0;
        Func<ulong, bool> ok = !_m.InMemallocPinScope ? static _ => true
            : _m.Version.LongtermPinsMigrateMovable ? pfn => _m.Grab.IsPinnablePage(_m.PfnToPage(Pfn.FromUInt64(pfn)))
            : pfn => !_m.IsCmaPfn(pfn);
        foreach (int nid in h.NodesWithFree().ToList())
        {
            if (!h.TryDequeue(nid, ok, out headPfn)) continue;
            DequeueReference(_m.PfnToPage(Pfn.FromUInt64(headPfn)));
            return true;
        }
        return false;
    }

    /// <summary>
    /// The reference dequeue_huge_page_node_exact() gives a free pool page (its count is 0 on the free list):
    /// set_page_refcounted() before v6.3, folio_ref_unfreeze(folio, 1) from v6.3
    /// (<see cref="Arch.KernelVersion.HugetlbDequeueUnfreezes"/>; the two trace as page_ref_set and page_ref_unfreeze).
    /// </summary>
    private void DequeueReference(PagePtr head)
    {
        if (_m.Version.HugetlbDequeueUnfreezes) PageRef.FolioRefUnfreeze(_m, head, 1);
        else PageRef.SetPageRefcounted(_m, head);
    }

    /// <summary>
    /// alloc_huge_page_nodemask() as alloc_migration_target() calls it (v5.9+): a free pool page when
    /// free_huge_pages − resv_huge_pages &gt; 0 (dequeued as <see cref="TryDequeueForTask"/> does), else
    /// alloc_migrate_huge_page(): nothing for gigantic sizes, otherwise a fresh buddy page marked HPageTemporary (not
    /// counted as surplus). The page comes back with _refcount 1.
    /// </summary>
    internal bool TryAllocMigrationTarget(Hstate h, int nid, out ulong headPfn, out bool temporary)
    {
        lock (_lock)
        {
            temporary = false;
            if (h.FreeHugePages > h.ResvHugePages && TryDequeueForTask(h, out headPfn)) return true;
            headPfn = 0;
            if (h.IsGigantic || !TryAllocFreshHugePage(h, nid, out headPfn)) return false;
            temporary = true;
            return true;
        }
    }

    /// <summary>
    /// After a hugetlb migration (move_hugetlb_state(), then putback_active_hugepage() dropping the isolation
    /// reference, the old page's last): a temporary target hands its temporary state to the old page, which leaves
    /// the pool for the buddy; otherwise free_huge_page() puts the old page on the free list (or frees it as surplus).
    /// Also undoes a target that was not used (<paramref name="oldHeadPfn"/> is then the target itself).
    /// </summary>
    internal void ReleaseAfterMigration(Hstate h, ulong oldHeadPfn, bool temporary)
    {
        lock (_lock)
        {
            if (temporary)
            {
                // free_huge_page() of a surplus page: page->mapping = NULL, then update_and_free_page().
                ClearMappingOnFree(_m.PfnToPage(Pfn.FromUInt64(oldHeadPfn)));
                UpdateAndFreePage(h, oldHeadPfn);
                return;
            }
            FreeHugePage(h, oldHeadPfn, NidOf(oldHeadPfn));
        }
    }

    /// <summary>put_page() on a hugetlb head: the last reference frees it to the pool (free_huge_page()).</summary>
    public void PutHugePage(ulong headPfn)
    {
        lock (_lock)
        {
            if (!PageRef.PageRefDecAndTest(_m, _m.PfnToPage(Pfn.FromUInt64(headPfn)))) return;
            FreeHugePageWithoutRefs(headPfn);
        }
    }

    /// <summary>
    /// folio_put_refs() on a hugetlb head (filemap_free_folio() dropping the page cache's references): the last
    /// reference frees it to the pool (free_huge_page()).
    /// </summary>
    public void PutHugePageRefs(ulong headPfn, int refs)
    {
        lock (_lock)
        {
            if (!PageRef.FolioPutRefsTestzero(_m, _m.PfnToPage(Pfn.FromUInt64(headPfn)), refs)) return;
            FreeHugePageWithoutRefs(headPfn);
        }
    }

    /// <summary>free_huge_page() for a head whose _refcount already reached zero (put_page() did the decrement).</summary>
    internal void FreeHugePageAfterLastReference(ulong headPfn)
    {
        lock (_lock) FreeHugePageWithoutRefs(headPfn);
    }

    private void FreeHugePageWithoutRefs(ulong headPfn)
    {
        var h = HstateOfHead(_m.PfnToPage(Pfn.FromUInt64(headPfn))) ?? throw new InvalidOperationException($"pfn 0x{headPfn:x} is not a hugetlb head");
        FreeHugePage(h, headPfn, NidOf(headPfn));
    }

    private int NidOf(ulong pfn) => _m.NodeOfPfn(pfn).Nid;

    /// <summary>
    /// unlink() of a hugetlbfs file once no mapping holds it open (remove_inode_hugepages() then
    /// hugetlb_unreserve_pages()): drops the page cache's reference on every page (a page still mapped lives on
    /// until its last mapping goes) and releases the inode's remaining reservations.
    /// </summary>
    public void RemoveInodePages(HugetlbfsInode inode)
    {
        lock (_lock)
        {
            foreach (ulong idx in inode.PageCache.Keys.Order().ToList()) inode.RemoveFromPageCache(_m, idx);
            if (inode.Reservations.Count > 0) HugetlbAcctMemory(inode.Hstate, -inode.Reservations.Count);
            inode.Reservations.Clear();
        }
    }

    /// <summary>Subpage walks and compound preparation.</summary>
    public CompoundPages Compound { get; }

    /// <summary>The boot command line the pools were set up from.</summary>
    public HugepagesCmdline Cmdline { get; }

    /// <summary>The registered hstates, smallest first.</summary>
    public IReadOnlyList<Hstate> Hstates => _hstates;

    /// <summary>default_hstate, or null when the arch has no hugetlb.</summary>
    public Hstate? Default { get; private set; }

    /// <summary>size_to_hstate().</summary>
    public Hstate? Find(ulong bytes) => _hstates.FirstOrDefault(h => h.Size.Bytes == bytes);

    /// <summary>
    /// The gates of <paramref name="h"/>'s size on this machine's kernel: <see cref="HstateSetup.Gates"/> under
    /// <see cref="HstateSetup.KernelMaxFolioOrder"/> of the machine's .config (<see cref="MachineSpec.HstateConfig"/>),
    /// or of <see cref="HstateConfig.ForMachine"/> without one — what the config audit reads for the same file.
    /// </summary>
    private HstateGates GatesOf(Hstate h) =>
        HstateSetup.Gates(_m.Arch, HstateSetup.KernelMaxFolioOrder(_m.Arch, _m.Model, _m.Spec.HstateConfig ?? HstateConfig.ForMachine(_m.Arch)), h.Size);

    /// <summary>
    /// hugetlb_add_hstate() in v6.18 (7b4f21f5e038): <c>WARN_ON(order &gt; MAX_FOLIO_ORDER)</c>, and the hstate is
    /// registered anyway. On SPARSEMEM without VMEMMAP (MAX_FOLIO_ORDER = PFN_SECTION_SHIFT) a size larger than a
    /// section WARNs here; its boot-time pages still come from memblock, its runtime ones are refused by
    /// alloc_contig_range_noprof() (<see cref="TryAllocFreshHugePage"/>).
    /// </summary>
    private void WarnAboveMaxFolioOrder(Hstate h)
    {
        var gates = GatesOf(h);
        if (!gates.AboveMaxFolioOrder) return;
        int max = gates.MaxFolioOrder!.Value;
        _m.Log(string.Create(CultureInfo.InvariantCulture, $"WARNING: CPU: 0 PID: 0 at mm/hugetlb.c hugetlb_add_hstate: order {h.Order} > MAX_FOLIO_ORDER {max} (hugepagesz={ByteSize.Format(h.Size.Bytes)})"));
    }

    /// <summary>
    /// hugetlb_hstate_alloc_pages() for gigantic sizes at command-line parsing time: __alloc_bootmem_huge_page()
    /// takes each page from memblock, naturally aligned, top-down, nodes round-robin. Runs before the buddy exists.
    /// </summary>
    internal void AllocBootGigantic()
    {
        foreach (var (bytes, count) in Cmdline.Pages)
        {
            var h = Find(bytes);
            if (h is null || !h.IsGigantic) continue;
            if (_m.HasHugetlbCma)
            {
                _m.Log("HugeTLB: hugetlb_cma is enabled, skip boot time allocation");
                continue;
            }
            int nodeIx = 0;
            for (ulong i = 0; i < count; i++)
            {
                bool ok = false;
                for (int tries = 0; tries < _m.Nodes.Count && !ok; tries++)
                {
                    int nid = _m.Nodes[(nodeIx + tries) % _m.Nodes.Count].Nid;
                    if (_m.Memblock.MemblockAllocTryNidRaw(h.Size.Bytes, h.Size.Bytes, 0, GupSim.Memory.Memblock.AllocAccessible, nid, $"hugetlb boot page ({h})", out ulong phys))
                    {
                        _bootPages.Add((h, phys, nid));
                        ok = true;
                    }
                }
                nodeIx++;
                if (!ok)
                {
                    _m.Log(string.Create(CultureInfo.InvariantCulture, $"HugeTLB: allocating {count} of page size {ByteSize.Format(h.Size.Bytes)} failed.  Only allocated {i} hugepages."));
                    break;
                }
            }
            h.MaxHugePages = (ulong)_bootPages.Count(b => b.H == h);
        }
    }

    /// <summary>
    /// gather_bootmem_prealloc() then the non-gigantic boot pages: each memblock page is prepared as a compound
    /// gigantic page and put on the free list; "hugepages=N" for buddy-sized pages allocates from the buddy.
    /// </summary>
    internal void GatherBootmemAndAllocBootPages()
    {
        foreach (var (h, phys, nid) in _bootPages)
        {
            var head = _m.PfnToPage(Pfn.FromUInt64(phys >> _m.Arch.PageShift));
            Compound.PrepCompoundGiganticPage(head, h.Order);
            PrepNewHugePage(h, head);
            _m.StructPages.SetRefcount(head, 0); // put_page() → free_huge_page() → enqueue
            _m.Store.Compact(phys >> _m.Arch.PageShift, (phys >> _m.Arch.PageShift) + h.PagesPerHugePage);
            h.Enqueue(nid, phys >> _m.Arch.PageShift);
            var zone = _m.ZoneOfPfn(phys >> _m.Arch.PageShift);
            if (zone is not null) zone.ManagedPages += h.PagesPerHugePage;
        }
        foreach (var (bytes, count) in Cmdline.Pages)
        {
            var h = Find(bytes);
            if (h is null) continue; // refused at command-line parsing (the constructor)
            if (h.IsGigantic) continue;
            ulong got = SetMaxHugePages(h, count);
            if (got < count)
                _m.Log(string.Create(CultureInfo.InvariantCulture, $"HugeTLB: allocating {count} of page size {ByteSize.Format(h.Size.Bytes)} failed.  Only allocated {got} hugepages."));
        }
    }

    /// <summary>
    /// PageHuge() (mm/hugetlb.c v5.11; folio_test_hugetlb(page_folio(page)) later): before v6.9 PageCompound(page) —
    /// PG_head in flags or bit 0 of compound_head — and then compound_head(page)[1]'s HUGETLB_PAGE_DTOR (to v6.5) or
    /// PG_hugetlb (v6.6–v6.8); from v6.9 the page type of compound_head(page), whatever the page is
    /// (<see cref="CompoundPages.FolioTestHugetlb"/>). All read from the struct page store at the pointer's address,
    /// so a pointer to the wrong struct page (or to something that is not one) answers from whatever lies there.
    /// </summary>
    public bool PageHuge(PagePtr page)
    {
        var sp = _m.StructPages;
        if (_m.Version.HugetlbMark != HugetlbMark.PageType && !sp.PageCompound(page)) return false;
        return Compound.FolioTestHugetlb(sp.CompoundHead(page));
    }

    /// <summary>PageHeadHuge(): PageHead(page) &amp;&amp; PageHuge(page) for the struct page of <paramref name="pfn"/>.</summary>
    public bool IsHugetlbHead(ulong pfn)
    {
        var page = _m.PfnToPage(Pfn.FromUInt64(pfn));
        return _m.StructPages.PageHead(page) && PageHuge(page);
    }

    /// <summary>prep_new_huge_page() / __prep_new_hugetlb_folio(): the version's hugetlb mark (<see cref="CompoundPages.SetHugetlb"/>), nr_huge_pages++.</summary>
    private void PrepNewHugePage(Hstate h, PagePtr head)
    {
        Compound.SetHugetlb(head);
        h.NrHugePages++;
        MembershipStamp++;
    }

    /// <summary>
    /// alloc_fresh_huge_page(): a gigantic page from alloc_contig_pages(), or a buddy block with __GFP_COMP
    /// (prep_compound_page()); then prep_new_huge_page(). Returns the head pfn and node, or false when memory is short.
    /// </summary>
    private bool TryAllocFreshHugePage(Hstate h, int nid, out ulong headPfn)
    {
        headPfn = 0;
        Pfn pfn;
        if (h.IsGigantic)
        {
            // v6.18 alloc_contig_range_noprof() (0bf2edf041dc): a __GFP_COMP range above MAX_FOLIO_ORDER is
            // WARN_ON_ONCE and -EINVAL (cma_alloc() goes through it too).
            var gates = GatesOf(h);
            if (gates.AboveMaxFolioOrder)
            {
                int max = gates.MaxFolioOrder!.Value;
                if (!_warnedContigOrder)
                {
                    _warnedContigOrder = true;
                    _m.Log(string.Create(CultureInfo.InvariantCulture, $"WARNING: CPU: 0 PID: 1 at mm/page_alloc.c alloc_contig_range_noprof: order {h.Order} > MAX_FOLIO_ORDER {max}"));
                }
                return false;
            }
            // alloc_gigantic_page(): hugetlb_cma first (v5.7+), then alloc_contig_pages().
            if (!_m.TryAllocFromHugetlbCma(h.PagesPerHugePage, nid, out pfn) && !_m.TryAllocContigPages(h.PagesPerHugePage, nid, out pfn)) return false;
            var head = _m.PfnToPage(pfn);
            Compound.PrepCompoundGiganticPage(head, h.Order);
            _m.StructPages.SetRefcount(head, 1);
            _m.Store.Compact(pfn.Value, pfn.Value + h.PagesPerHugePage);
        }
        else
        {
            // htlb_alloc_mask(): GFP_HIGHUSER_MOVABLE when hugepage_movable_supported() (migratable, not gigantic).
            // alloc_fresh_huge_page() adds __GFP_COMP | __GFP_RETRY_MAYFAIL | __GFP_NOWARN.
            if (!_m.TryAllocPages(h.Order, nid, $"hugetlb page ({h})", out pfn, Memory.Gfp.HighUserMovable | Memory.Gfp.Comp | Memory.Gfp.RetryMayfail | Memory.Gfp.Nowarn, ZoneType.Dma32)) return false;
            Compound.PrepCompoundPage(_m.PfnToPage(pfn), h.Order);
        }
        PrepNewHugePage(h, _m.PfnToPage(pfn));
        headPfn = pfn.Value;
        return true;
    }

    /// <summary>
    /// Writes nr_hugepages (set_max_huge_pages()): grows the pool one fresh page at a time until the target or until
    /// memory runs out, or shrinks it by freeing free pages (never below the reserved and in-use ones; what cannot be
    /// freed becomes surplus). Returns the resulting persistent pool size, which sysfs then reads back.
    /// </summary>
    /// <exception cref="GupSimException">Thrown when gigantic pages cannot be allocated at runtime on this machine.</exception>
    public ulong SetMaxHugePages(Hstate h, ulong count)
    {
        lock (_lock)
        {
            // Grow: first turn surplus pages into persistent ones, then allocate fresh pages.
            while (h.SurplusHugePages > 0 && h.PersistentHugePages < count) h.SurplusHugePages--;
            int nodeIx = 0;
            while (h.PersistentHugePages < count)
            {
                bool ok = false;
                for (int tries = 0; tries < _m.Nodes.Count && !ok; tries++)
                {
                    int nid = _m.Nodes[(nodeIx + tries) % _m.Nodes.Count].Nid;
                    if (TryAllocFreshHugePage(h, nid, out ulong head))
                    {
                        FreeHugePage(h, head, nid, fromAlloc: true);
                        ok = true;
                    }
                }
                nodeIx++;
                if (!ok) break;
            }
            // Shrink: free pages above max(count, reserved + in use).
            ulong minCount = h.ResvHugePages + h.NrHugePages - h.FreeHugePages;
            ulong target = Math.Max(count, minCount);
            while (h.PersistentHugePages > target)
            {
                int? nid = h.NodesWithFree().Cast<int?>().FirstOrDefault();
                if (nid is null || h.FreeHugePages <= h.ResvHugePages) break;
                h.TryDequeue(nid.Value, out ulong head);
                UpdateAndFreePage(h, head);
            }
            while (h.PersistentHugePages > count) h.SurplusHugePages++;
            h.MaxHugePages = h.PersistentHugePages;
            return h.PersistentHugePages;
        }
    }

    /// <summary>
    /// free_huge_page()'s <c>page->mapping = NULL</c> (an anonymous page's anon_vma; a page cache page's was cleared by
    /// its removal already); the index is left as it was.
    /// </summary>
    private void ClearMappingOnFree(PagePtr head)
    {
        if (_m.StructPages.Mapping(head) != 0) _m.StructPages.SetMapping(head, 0);
    }

    /// <summary>free_huge_page() for a page whose last reference went: surplus pages leave the pool, others go back on the free list.</summary>
    internal void FreeHugePage(Hstate h, ulong headPfn, int nid, bool fromAlloc = false)
    {
        var head = _m.PfnToPage(Pfn.FromUInt64(headPfn));
        _m.StructPages.SetRefcount(head, 0);
        ClearMappingOnFree(head);
        if (!fromAlloc && h.SurplusHugePages > 0)
        {
            h.SurplusHugePages--;
            UpdateAndFreePage(h, headPfn);
            return;
        }
        h.Enqueue(nid, headPfn);
    }

    /// <summary>
    /// update_and_free_page(): clears PG_locked/error/referenced/dirty/active/private/writeback on every subpage —
    /// in v5.11 through <c>page[i]</c>, which walks off a section's memmap into whatever lies beyond; from v5.12
    /// (dbfee5aee7e5) through the version's subpage walk — then returns the page to the buddy: a gigantic page via
    /// destroy_compound_gigantic_page() and free_contig_range(), a buddy-sized one through __free_pages(). Each store
    /// through a <c>page[i]</c> that is not subpage i's struct page is a stray write (<see cref="Machine.StrayWrites"/>):
    /// it changes whatever lives at that address, and whatever reads it later sees the change.
    /// </summary>
    /// <returns>The "BUG: Bad page state" reports of the free, if any.</returns>
    public IReadOnlyList<string> UpdateAndFreePage(Hstate h, ulong headPfn)
    {
        var result = UpdateAndFreePageChecked(h, headPfn);
        return result.BadPageReports;
    }

    /// <summary>What freeing one huge page did, as GupSim's oracle sees it.</summary>
    /// <param name="BadPageReports">"BUG: Bad page state" reports.</param>
    /// <param name="WrongSubpageWrites">Subpage flag writes that reached something other than the subpage's own struct page.</param>
    /// <param name="FirstWrong">The first such write: subpage index, address, and what lives there.</param>
    public sealed record FreeHugePageResult(IReadOnlyList<string> BadPageReports, ulong WrongSubpageWrites, string? FirstWrong);

    /// <summary>Totals over every huge page freed so far.</summary>
    public ulong WrongSubpageWritesTotal { get; private set; }

    /// <summary>
    /// Bumped whenever a page joins or leaves the pools (prep_new_huge_page(), update_and_free_page()): what a machine
    /// checkpoint does not journal. Free lists and counters it does (<see cref="CapturePools"/>).
    /// </summary>
    internal long MembershipStamp { get; private set; }

    /// <summary>Every hstate's counters and free lists, and the oracle's totals, as they are now.</summary>
    internal object CapturePools()
    {
        lock (_lock)
        {
            var pools = new Hstate.PoolState[_hstates.Count];
            for (int i = 0; i < pools.Length; i++) pools[i] = _hstates[i].CapturePool();
            return (pools, WrongSubpageWritesTotal);
        }
    }

    /// <summary>Puts back what <see cref="CapturePools"/> saw.</summary>
    internal void RestorePools(object captured)
    {
        var (pools, wrong) = ((Hstate.PoolState[], ulong))captured;
        lock (_lock)
        {
            for (int i = 0; i < pools.Length; i++) _hstates[i].RestorePool(pools[i]);
            WrongSubpageWritesTotal = wrong;
        }
    }

    /// <summary>Like <see cref="UpdateAndFreePage"/>, also returning what the subpage walk reached (the oracle compares each pointer with pfn_to_page of the right pfn).</summary>
    public FreeHugePageResult UpdateAndFreePageChecked(Hstate h, ulong headPfn)
    {
        ulong wrong = 0;
        string? firstWrong = null;
        var sp = _m.StructPages;
        var head = _m.PfnToPage(Pfn.FromUInt64(headPfn));
        h.NrHugePages--;
        MembershipStamp++;
        const ulong mask = (1UL << PageFlagBits.Locked) | (1UL << PageFlagBits.Error) | (1UL << PageFlagBits.Referenced)
            | (1UL << PageFlagBits.Dirty) | (1UL << PageFlagBits.Active) | (1UL << PageFlagBits.Private) | (1UL << PageFlagBits.Writeback);
        bool pointerArithmetic = CompoundPages.ClearsFlagsByPointerArithmetic(_m.Version);
        var sub = head;
        for (long i = 0; i < (long)h.PagesPerHugePage; i++)
        {
            bool stray = sub != _m.PfnToPage(Pfn.FromUInt64(headPfn + (ulong)i));
            if (stray)
            {
                wrong++;
                if (firstWrong is null)
                {
                    var info = _m.Describe(sub);
                    firstWrong = string.Create(CultureInfo.InvariantCulture, $"subpage {i} (pfn 0x{headPfn + (ulong)i:x}): page[{i}] = {sub} is {(info.Pfn is ulong p ? $"the struct page of pfn 0x{p:x}" : info.Kind.ToString().ToLowerInvariant())} ({info.Region})");
                }
            }
            if (stray)
            {
                // A store through a pointer that is not page i's struct page: counted by what it reaches (Machine.StrayWrites).
                using (_m.Memory.BeginStrayWrites()) sp.SetFlags(sub, sp.Flags(sub) & ~mask);
            }
            else sp.SetFlags(sub, sp.Flags(sub) & ~mask); // page[i].flags &= ~(...): a plain load and store, as in the kernel
            if (i + 1 < (long)h.PagesPerHugePage)
                sub = pointerArithmetic ? _m.PageAdd(head, i + 1) : Compound.NextSubpage(head, sub, (int)(i + 1));
        }
        Compound.ClearHugetlb(head); // set_compound_page_dtor(NULL_COMPOUND_DTOR), later __clear_hugetlb_destructor()
        sp.SetRefcount(head, 1);
        IReadOnlyList<string> reports;
        if (h.IsGigantic)
        {
            Compound.DestroyCompoundGiganticPage(head, h.Order);
            reports = _m.FreeContigRange(Pfn.FromUInt64(headPfn), h.PagesPerHugePage);
            _m.Store.Compact(headPfn, headPfn + h.PagesPerHugePage);
        }
        else
        {
            reports = sp.RefAddReturn(head, -1) == 0 ? _m.FreePages(Pfn.FromUInt64(headPfn), h.Order) : [];
        }
        WrongSubpageWritesTotal += wrong;
        return new FreeHugePageResult(reports, wrong, firstWrong);
    }

    /// <summary>The hugetlb lines of /proc/meminfo for the default hstate, and Hugetlb: over all sizes.</summary>
    public IReadOnlyList<string> MeminfoLines()
    {
        var ci = CultureInfo.InvariantCulture;
        var d = Default;
        ulong total = 0;
        foreach (var h in _hstates) total += h.NrHugePages * (h.Size.Bytes >> 10);
        return
        [
            string.Create(ci, $"HugePages_Total: {d?.NrHugePages ?? 0,5}"),
            string.Create(ci, $"HugePages_Free:  {d?.FreeHugePages ?? 0,5}"),
            string.Create(ci, $"HugePages_Rsvd:  {d?.ResvHugePages ?? 0,5}"),
            string.Create(ci, $"HugePages_Surp:  {d?.SurplusHugePages ?? 0,5}"),
            string.Create(ci, $"Hugepagesize:   {(d?.Size.Bytes ?? 0) >> 10,8} kB"),
            string.Create(ci, $"Hugetlb:        {total,8} kB"),
        ];
    }
}
