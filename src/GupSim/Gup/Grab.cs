using GupSim.Pages;

namespace GupSim.Gup;

/// <summary>
/// Taking and dropping GUP references (mm/gup.c try_grab_compound_head() / put_compound_head(), include/linux/mm.h, include/linux/page_ref.h), as the
/// machine's kernel version does. "Grab" means: look at FOLL_GET / FOLL_PIN to decide. Everything works on any
/// pointer: a wrong <c>pages[i]</c> is grabbed or released on whatever lives at its address, so leaks and
/// corruptions show up in the counts.
/// </summary>
public sealed class Grab
{
    /// <summary>GUP_PIN_COUNTING_BIAS (include/linux/mm.h).</summary>
    public const int GupPinCountingBias = 1024;

    private readonly Machine _m;
    private long _pinAcquired, _pinReleased;

    internal Grab(Machine machine)
    {
        _m = machine;
        Counters = new GupCounters(machine.Model == Arch.MemoryModel.Sparsemem);
    }

    private StructPages Sp => _m.StructPages;

    /// <summary>Deterministic cost counters.</summary>
    public GupCounters Counters { get; }

    /// <summary>NR_FOLL_PIN_ACQUIRED.</summary>
    public long FollPinAcquired => Interlocked.Read(ref _pinAcquired);
    /// <summary>NR_FOLL_PIN_RELEASED.</summary>
    public long FollPinReleased => Interlocked.Read(ref _pinReleased);

    /// <summary>Sets NR_FOLL_PIN_ACQUIRED / NR_FOLL_PIN_RELEASED back (a machine rollback: <see cref="Machine.Rollback"/>).</summary>
    internal void RestorePinStats(long acquired, long released)
    {
        Interlocked.Exchange(ref _pinAcquired, acquired);
        Interlocked.Exchange(ref _pinReleased, released);
    }

    /// <summary>
    /// try_get_compound_head() (mm/gup.c; try_get_folio() from v5.18, d8ddc099c6b3's series): head = compound_head(page);
    /// NULL if its refcount is negative (WARN); else page_cache_add_speculative() (folio_ref_try_add_rcu() from v5.18),
    /// i.e. <see cref="PageRef.PageRefAddUnless"/>(head, refs, 0), which fails on a freed page (refcount 0) and fires
    /// page_ref_mod_unless either way.
    /// </summary>
    public PagePtr? TryGetCompoundHead(PagePtr page, int refs)
    {
        var head = Sp.CompoundHead(page);
        Counters.Touch(2);
        int count = Sp.Refcount(head);
        if (count < 0)
        {
            _m.Log($"WARNING: try_get_compound_head: negative refcount {count} on {head}");
            return null;
        }
        if (!PageRef.FolioRefTryAddRcu(_m, head, refs)) return null;
        Counters.Atomic();
        return head;
    }

    /// <summary>
    /// c24d37322548 (Jann Horn, "mm/gup: fix try_grab_compound_head() race with split_huge_page()")
    /// (merged for v5.14, June 2021): a FOLL_PIN grab first takes <c>refs</c> references through
    /// try_get_compound_head() and then, on a page without an exact pincount, the other
    /// <c>refs × (GUP_PIN_COUNTING_BIAS − 1)</c> with page_ref_add() (folio_ref_add() in try_grab_folio() from v5.18);
    /// before, it took <c>refs × GUP_PIN_COUNTING_BIAS</c> in the one page_ref_add_unless().
    /// </summary>
    internal static bool PinAddsBiasAfterGet(Arch.KernelVersion v) => v >= Arch.KernelVersion.V5_14;

    /// <summary>
    /// d8ddc099c6b3 ("mm/gup: Add gup_put_folio()", Matthew Wilcox, v5.18): put_compound_head() becomes
    /// gup_put_folio(), which drops all the references in one folio_put_refs() → folio_ref_sub_and_test()
    /// (page_ref_mod_and_test val=−refs); before, page_ref_sub(refs − 1) then put_page() (put_page_refs() from v5.14).
    /// </summary>
    internal static bool PutDropsRefsAtOnce(Arch.KernelVersion v) => v >= Arch.KernelVersion.V5_18;

    /// <summary>
    /// try_grab_compound_head() (v5.11 semantics): FOLL_GET takes <paramref name="refs"/> references on the head;
    /// FOLL_PIN takes refs × GUP_PIN_COUNTING_BIAS where the head has no exact pincount, else refs references plus
    /// refs on the compound pincount. Neither flag: WARN and NULL.
    /// </summary>
    public PagePtr? TryGrabCompoundHead(PagePtr page, int refs, FollFlags flags)
    {
        if ((flags & FollFlags.Get) != 0) return TryGetCompoundHead(page, refs);
        if ((flags & FollFlags.Pin) == 0)
        {
            _m.Log("WARNING: try_grab_compound_head: neither FOLL_GET nor FOLL_PIN");
            return null;
        }
        // FOLL_LONGTERM: a page that may not be pinned long-term makes gup-fast fail here, so the slow path migrates it
        // (is_migrate_cma_page() before v5.13, !is_pinnable_page() from v5.13). Slow GUP's grabs over hugetlb reach
        // this test too until v6.10 (KernelVersion.SlowGrabSkipsLongtermCheck), where it fails them instead.
        if ((flags & FollFlags.Longterm) != 0 && (_m.Version.LongtermPinsMigrateMovable ? !IsPinnablePage(page) : IsMigrateCmaPage(page))) return null;
        return PinCompoundHead(page, refs);
    }

    /// <summary>
    /// The grab slow GUP uses for a run of subpages of one huge page: try_grab_compound_head() / try_grab_folio() with
    /// its FOLL_LONGTERM test up to v6.9 (<see cref="TryGrabCompoundHead"/>), try_grab_folio() without it from v6.10
    /// (f442fa614137, mm/gup.c; the test lives on in try_grab_folio_fast()), so a CMA or ZONE_MOVABLE huge page is
    /// grabbed and left to the FOLL_LONGTERM migration.
    /// </summary>
    public PagePtr? TryGrabFolioSlow(PagePtr page, int refs, FollFlags flags)
    {
        if (!_m.Version.SlowGrabSkipsLongtermCheck || (flags & (FollFlags.Get | FollFlags.Pin)) == 0)
            return TryGrabCompoundHead(page, refs, flags);
        return TryGrabFolio(Sp.CompoundHead(page), refs, flags);
    }

    /// <summary>
    /// try_grab_folio() as f442fa614137 (v6.10) left it for slow GUP (mm/gup.c): WARN and fail when the folio's
    /// refcount is not positive; FOLL_GET folio_ref_add(refs); FOLL_PIN folio_ref_add(refs) plus refs on _pincount for
    /// a folio with a pincount, else folio_ref_add(refs × GUP_PIN_COUNTING_BIAS) — page_ref_mod events, no
    /// page_ref_add_unless(). Its zero-folio test (no pin on the shared zero page) is not modelled: slow GUP grabs
    /// through here only for hugetlb subpages.
    /// </summary>
    private PagePtr? TryGrabFolio(PagePtr folio, int refs, FollFlags flags)
    {
        Counters.Touch(2);
        int count = Sp.Refcount(folio);
        if (count <= 0)
        {
            _m.Log($"WARNING: try_grab_folio: refcount {count} on {folio}");
            return null;
        }
        if ((flags & FollFlags.Get) != 0)
        {
            PageRef.FolioRefAdd(_m, folio, refs);
            Counters.Atomic();
            return folio;
        }
        if (Sp.HpagePincountAvailable(folio))
        {
            PageRef.FolioRefAdd(_m, folio, refs);
            Sp.CompoundPincountAdd(folio, refs);
            Counters.Atomic(2);
        }
        else
        {
            PageRef.FolioRefAdd(_m, folio, refs * GupPinCountingBias);
            Counters.Atomic();
        }
        Interlocked.Add(ref _pinAcquired, refs);
        return folio;
    }

    /// <summary>
    /// The FOLL_PIN half of try_grab_compound_head() (try_grab_folio() v5.18–v6.9, try_grab_folio_fast() from v6.10)
    /// after its FOLL_LONGTERM test: refs pins on the head, taken as the version takes them
    /// (<see cref="PinAddsBiasAfterGet"/>).
    /// </summary>
    private PagePtr? PinCompoundHead(PagePtr page, int refs)
    {
        bool exact = Sp.HpagePincountAvailable(page);
        bool biasAfter = PinAddsBiasAfterGet(_m.Version);
        var head = TryGetCompoundHead(page, exact || biasAfter ? refs : refs * GupPinCountingBias);
        if (head is null) return null;
        if (exact)
        {
            Sp.CompoundPincountAdd(head.Value, refs);
            Counters.Atomic();
        }
        else if (biasAfter)
        {
            PageRef.PageRefAdd(_m, head.Value, refs * (GupPinCountingBias - 1));
            Counters.Atomic();
        }
        Interlocked.Add(ref _pinAcquired, refs);
        return head;
    }

    /// <summary>
    /// put_compound_head() (gup_put_folio() from v5.18): FOLL_PIN drops refs from the pincount (or refs ×
    /// GUP_PIN_COUNTING_BIAS from the refcount where there is none); then refs references — page_ref_sub(refs − 1)
    /// and put_page() up to v5.17, one folio_put_refs() from v5.18 (<see cref="PutDropsRefsAtOnce"/>).
    /// </summary>
    public void PutCompoundHead(PagePtr head, int refs, FollFlags flags)
    {
        if ((flags & FollFlags.Pin) != 0)
        {
            Interlocked.Add(ref _pinReleased, refs);
            if (Sp.HpagePincountAvailable(head))
            {
                Sp.CompoundPincountAdd(head, -refs);
                Counters.Atomic();
            }
            else refs *= GupPinCountingBias;
        }
        if (PutDropsRefsAtOnce(_m.Version))
        {
            FolioPutRefs(head, refs);
            return;
        }
        if (refs > 1)
        {
            PageRef.PageRefSub(_m, head, refs - 1);
            Counters.Atomic();
        }
        PutPage(head);
    }

    /// <summary>
    /// folio_put_refs() (include/linux/mm.h, v5.18+): <c>if (folio_ref_sub_and_test(folio, refs)) __folio_put(folio)</c>
    /// — one atomic, no put_page_testzero() check.
    /// </summary>
    public void FolioPutRefs(PagePtr folio, int refs)
    {
        Counters.Atomic();
        if (PageRef.FolioRefSubAndTest(_m, folio, refs)) ReleaseZeroRefHead(folio);
    }

    /// <summary>
    /// try_grab_page() (one page; the v5.11 follow_hugetlb_page loop and follow_page paths): FOLL_GET → try_get_page
    /// on the head; FOLL_PIN → pincount + 1 and one reference, or GUP_PIN_COUNTING_BIAS references; false if the
    /// head's refcount is not positive (WARN). Neither flag: true, nothing taken.
    /// </summary>
    public bool TryGrabPage(PagePtr page, FollFlags flags)
    {
        if ((flags & (FollFlags.Get | FollFlags.Pin)) == (FollFlags.Get | FollFlags.Pin))
        {
            _m.Log("WARNING: try_grab_page: FOLL_GET and FOLL_PIN");
            return false;
        }
        if ((flags & (FollFlags.Get | FollFlags.Pin)) == 0) return true;
        var head = Sp.CompoundHead(page);
        Counters.Touch(2);
        if (Sp.Refcount(head) <= 0)
        {
            _m.Log($"WARNING: try_grab_page: refcount {Sp.Refcount(head)} on {head}");
            return false;
        }
        if ((flags & FollFlags.Get) != 0)
        {
            PageRef.PageRefInc(_m, head); // try_get_page() → page_ref_inc() (folio_ref_inc() from v5.18)
            Counters.Atomic();
            return true;
        }
        if (Sp.HpagePincountAvailable(head))
        {
            PageRef.PageRefAdd(_m, head, 1); // page_ref_add(page, 1) (folio_ref_add() from v5.18)
            Sp.CompoundPincountAdd(head, 1);
            Counters.Atomic(2);
        }
        else
        {
            PageRef.PageRefAdd(_m, head, GupPinCountingBias);
            Counters.Atomic();
        }
        Interlocked.Increment(ref _pinAcquired);
        return true;
    }

    /// <summary>
    /// put_page(): <c>page = compound_head(page)</c>, put_page_testzero() (with CONFIG_DEBUG_VM a VM_BUG_ON_PAGE when
    /// _refcount is already 0), an atomic decrement of the word at the _refcount offset; the last reference frees the
    /// page the way its kind needs (hugetlb pages back to their pool, THP and buddy pages to the buddy). On bytes that
    /// are not a struct page, __put_page() runs on what they hold (<see cref="Pages.PutPage.Release"/>).
    /// </summary>
    /// <exception cref="Core.KernelOops">Thrown where the kernel would oops or BUG.</exception>
    public void PutPage(PagePtr page) => PutPageOnHead(Sp.CompoundHead(page));

    /// <summary>put_page() from its <c>page = compound_head(page)</c> on: <paramref name="head"/> is what it read.</summary>
    private void PutPageOnHead(PagePtr head)
    {
        Counters.Atomic();
        Pages.PutPage.PutPageTestzeroCheck(_m, head);
        // put_page_testzero() → page_ref_dec_and_test() (folio_put() → folio_put_testzero() from v5.18: the same event).
        if (PageRef.PageRefDecAndTest(_m, head)) ReleaseZeroRefHead(head);
    }

    /// <summary>What __put_page() / __folio_put() does with a head whose _refcount just reached 0.</summary>
    private void ReleaseZeroRefHead(PagePtr head)
    {
        var info = _m.Describe(head);
        if (info.Kind != Memory.AddressKind.Page || info.Pfn is not ulong pfn)
        {
            Pages.PutPage.Release(_m, head);
            return;
        }
        // Freeing the page is the kernel's own work on that page, not a stray store, even after a stray decrement.
        using (_m.Memory.SuspendStrayWrites()) _m.ReleaseZeroRefPage(pfn);
    }

    /// <summary>
    /// GupSim's oracle, not a kernel function: a stray-write scope (<see cref="Memory.KernelMemory.BeginStrayWrites"/>)
    /// when grabbing or releasing through <paramref name="page"/> reaches another compound head than through
    /// <paramref name="right"/>, the struct page the kernel meant; else an inactive scope. Reading
    /// <paramref name="page"/>'s compound_head is the kernel's own first access through it, so an oops there counts as
    /// an unmapped stray store. A null <paramref name="right"/> (not known) judges nothing.
    /// </summary>
    public Memory.StrayWriteScope StrayScopeFor(PagePtr page, PagePtr right)
    {
        if (page == right || right == PagePtr.Null) return default; // Null: the oracle did not know the right page
        var scope = _m.Memory.BeginStrayWrites();
        bool sameHead;
        try
        {
            sameHead = Sp.CompoundHead(page) == Sp.CompoundHead(right);
        }
        catch
        {
            scope.Dispose();
            throw;
        }
        if (!sameHead) return scope;
        scope.Dispose();
        return default;
    }

    /// <summary>unpin_user_page(): put_compound_head(compound_head(page), 1, FOLL_PIN).</summary>
    public void UnpinUserPage(PagePtr page) => PutCompoundHead(Sp.CompoundHead(page), 1, FollFlags.Pin);

    /// <summary>
    /// unpin_user_pages(): v5.11 one unpin_user_page() per entry; from v5.12 (31b912de1316) one put_compound_head()
    /// per run of entries with the same compound head.
    /// </summary>
    public void UnpinUserPages(ReadOnlySpan<PagePtr> pages)
    {
        if (_m.Version < Arch.KernelVersion.V5_12)
        {
            foreach (var p in pages) UnpinUserPage(p);
            return;
        }
        int i = 0;
        while (i < pages.Length)
        {
            var head = Sp.CompoundHead(pages[i]);
            int n = 1 + Sp.CountCompoundHead(pages[(i + 1)..], head); // compound_next()
            PutCompoundHead(head, n, FollFlags.Pin);
            i += n;
        }
    }

    /// <summary>
    /// unpin_user_pages_dirty_lock(): without <paramref name="makeDirty"/>, unpin_user_pages(); else each compound
    /// head is dirtied (set_page_dirty_lock when !PageDirty) before its pins are dropped — one entry at a time in
    /// v5.11, one compound-head group at a time from v5.12.
    /// </summary>
    public void UnpinUserPagesDirtyLock(ReadOnlySpan<PagePtr> pages, bool makeDirty)
    {
        if (!makeDirty)
        {
            UnpinUserPages(pages);
            return;
        }
        int i = 0;
        bool batched = _m.Version >= Arch.KernelVersion.V5_12;
        while (i < pages.Length)
        {
            var head = Sp.CompoundHead(pages[i]);
            int n = batched ? 1 + Sp.CountCompoundHead(pages[(i + 1)..], head) : 1;
            if (!Sp.TestFlag(head, PageFlagBits.Dirty)) Sp.SetPageFlagAtomic(head, PageFlagBits.Dirty); // set_page_dirty_lock() → SetPageDirty
            PutCompoundHead(head, n, FollFlags.Pin);
            i += n;
        }
    }

    /// <summary>
    /// unpin_user_page_range_dirty_lock() (v5.12+): releases <paramref name="npages"/> pins starting at
    /// <paramref name="start"/>, walking with compound_range_next(): <c>next = start + i</c> and
    /// <c>ntails = head + compound_nr(head) − next</c> by pointer arithmetic until c228afb11ac6 (v5.18), then with
    /// nth_page() and pfn differences, and by pointers again from v6.18 (mm/gup.c).
    /// </summary>
    public void UnpinUserPageRangeDirtyLock(PagePtr start, long npages, bool makeDirty) =>
        UnpinUserPageRangeDirtyLock(start, npages, makeDirty, judgeStrays: false, []);

    /// <summary>
    /// <see cref="UnpinUserPageRangeDirtyLock(PagePtr, long, bool)"/> for GupSim's oracle, not the kernel's API: with
    /// <paramref name="judgeStrays"/>, a step whose <c>next</c> is not the page entry i means makes its stores through
    /// a wrong pointer, counted as stray writes (<see cref="StrayScopeFor"/>). The page entry i means is
    /// <paramref name="right"/>[i] when the oracle found pages[] wrong (the pages the mapping really holds), else the
    /// struct page of pfn(start) + i by pfn_to_page() — never the walk's own arithmetic. The stores themselves are
    /// the same either way.
    /// </summary>
    public void UnpinUserPageRangeDirtyLock(PagePtr start, long npages, bool makeDirty, bool judgeStrays, ReadOnlySpan<PagePtr> right)
    {
        // c228afb11ac6 (v5.18) walked with nth_page(); v6.18 went back to start + i (folios never span a section).
        bool pfnBased = _m.Version >= Arch.KernelVersion.V5_18 && !_m.Version.HasMaxFolioOrderInvariant;
        ulong startPfn = judgeStrays ? _m.PageToPfn(start).Value : 0;
        for (long i = 0; i < npages;)
        {
            var next = pfnBased ? _m.NthPage(start, (ulong)i) : _m.PageAdd(start, i);
            using var stray = !judgeStrays ? default
                : StrayScopeFor(next, i < right.Length ? right[(int)i] : _m.PfnToPage(Core.Pfn.FromUInt64(startPfn + (ulong)i)));
            var head = Sp.CompoundHead(next);
            long ntails = 1;
            if (Sp.PageCompound(head))
            {
                long left = pfnBased
                    ? (long)Sp.CompoundNr(head) - (long)(_m.PageToPfn(next).Value - _m.PageToPfn(head).Value)
                    : PagePtr.Difference(_m.PageAdd(head, (long)Sp.CompoundNr(head)), next, _m.StructPageSize);
                // min_t(unsigned int, ...): a negative pointer difference becomes huge and loses to npages − i.
                ntails = Math.Min((uint)left, (uint)(npages - i));
                if (ntails == 0) ntails = 1;
            }
            if (makeDirty && !Sp.TestFlag(head, PageFlagBits.Dirty)) Sp.SetPageFlagAtomic(head, PageFlagBits.Dirty); // set_page_dirty_lock()
            PutCompoundHead(head, (int)ntails, FollFlags.Pin);
            i += ntails;
        }
    }

    /// <summary>
    /// put_page() on every entry (FOLL_GET release; gup_test's put_back_pages()), in order. The kernel drops one
    /// reference per entry; GupSim merges the drops of a run of entries with the same compound head into one
    /// compare-exchange of <c>_refcount</c> by n where that cannot be told apart from n decrements in a row
    /// (<see cref="PutPagesOnHead"/>), and counts the n atomics the kernel pays.
    /// </summary>
    public void PutPages(ReadOnlySpan<PagePtr> pages)
    {
        int refcountOffset = _m.Layout.Refcount;
        int i = 0;
        while (i < pages.Length)
        {
            var head = Sp.CompoundHead(pages[i]);
            // The entries after i are read ahead of i's decrement, only where that read can neither oops nor see
            // the store: the run stops before any entry that is not in a run of struct pages (it is then read in
            // its turn) and before one whose compound_head word is the _refcount word the decrements store to.
            int n = 1 + Sp.CountCompoundHead(pages[(i + 1)..], head, head.Address + (ulong)refcountOffset, runsOnly: true);
            PutPagesOnHead(pages.Slice(i, n), head);
            i += n;
        }
    }

    /// <summary>
    /// put_page() on each of <paramref name="run"/>, whose compound_head() all read <paramref name="head"/> before any
    /// of them was put. When nobody counts stray stores here, head's _refcount is a struct page word and holds more than
    /// n (so no decrement frees the page, which would rewrite the tails' compound_head, and put_page_testzero()'s
    /// VM_BUG_ON cannot fire), the n atomic decrements become one compare-exchange from that count to count − n: the
    /// same final count, an order of stores another thread could also have seen, n atomics counted. Otherwise each
    /// put_page() runs on its own, re-reading its entry's compound_head after the previous entry's put.
    /// </summary>
    private void PutPagesOnHead(ReadOnlySpan<PagePtr> run, PagePtr head)
    {
        int n = run.Length;
        // Traced, every put is its own page_ref_dec_and_test() event: no merging.
        if (n > 1 && _m.PageRefTrace is null && !_m.Memory.CountingStrayWrites
            && _m.Memory.LocateStructPageWordRun(head.Address + (ulong)_m.Layout.Refcount, out _, out _) > 0)
        {
            while (true)
            {
                int count = Sp.Refcount(head);
                if (count <= n) break;
                if (Sp.RefCompareExchange(head, count - n, count))
                {
                    Counters.Atomic(n);
                    return;
                }
            }
        }
        PutPageOnHead(head);
        for (int k = 1; k < n; k++) PutPage(run[k]);
    }

    /// <summary>
    /// <see cref="PutPages(ReadOnlySpan{PagePtr})"/> with GupSim's oracle: <paramref name="right"/>[i] is the struct
    /// page entry i should have been; a put through an entry whose compound head is not the right one's is counted
    /// as stray stores (<see cref="Machine.StrayWrites"/>). An empty <paramref name="right"/> counts nothing.
    /// </summary>
    public void PutPages(ReadOnlySpan<PagePtr> pages, ReadOnlySpan<PagePtr> right)
    {
        if (right.Length == 0)
        {
            PutPages(pages);
            return;
        }
        for (int i = 0; i < pages.Length; i++)
        {
            using var stray = StrayScopeFor(pages[i], right[i]);
            PutPage(pages[i]);
        }
    }

    /// <summary>
    /// <see cref="UnpinUserPages(ReadOnlySpan{PagePtr})"/> with GupSim's oracle (see
    /// <see cref="PutPages(ReadOnlySpan{PagePtr}, ReadOnlySpan{PagePtr})"/>): v5.11 judges every entry; from v5.12 each
    /// put_compound_head() of a run is judged by the run's first entry, whose compound head the kernel used.
    /// </summary>
    public void UnpinUserPages(ReadOnlySpan<PagePtr> pages, ReadOnlySpan<PagePtr> right)
    {
        if (right.Length == 0)
        {
            UnpinUserPages(pages);
            return;
        }
        if (_m.Version < Arch.KernelVersion.V5_12)
        {
            for (int k = 0; k < pages.Length; k++)
            {
                using var stray = StrayScopeFor(pages[k], right[k]);
                UnpinUserPage(pages[k]);
            }
            return;
        }
        int i = 0;
        while (i < pages.Length)
        {
            using var stray = StrayScopeFor(pages[i], right[i]);
            var head = Sp.CompoundHead(pages[i]);
            int n = 1 + Sp.CountCompoundHead(pages[(i + 1)..], head);
            PutCompoundHead(head, n, FollFlags.Pin);
            i += n;
        }
    }

    /// <summary>
    /// is_migrate_cma_page() (include/linux/mmzone.h): the pageblock migratetype of the page's pfn is MIGRATE_CMA.
    /// The pfn comes from page_to_pfn() of whatever <paramref name="page"/> points at.
    /// </summary>
    public bool IsMigrateCmaPage(PagePtr page) => _m.CmaAreas.Count != 0 && _m.IsCmaPfn(_m.PageToPfn(page).Value);

    /// <summary>is_zone_movable_page() (include/linux/mm.h): page_zonenum(), read from page->flags, is ZONE_MOVABLE.</summary>
    public bool IsZoneMovablePage(PagePtr page) =>
        _m.ZoneTypeOf(_m.FlagsLayout.ZoneOf(Sp.Flags(page))) == Arch.ZoneType.Movable;

    /// <summary>
    /// is_pinnable_page() (v5.13, include/linux/mm.h; is_longterm_pinnable_page() in v6.1): whether FOLL_LONGTERM may
    /// pin the page where it is. v5.13: not in ZONE_MOVABLE and not in a MIGRATE_CMA pageblock, or the zero page.
    /// v6.1: a MIGRATE_CMA pageblock never; else the zero page always; else not in ZONE_MOVABLE. gup_test's
    /// PIN_LONGTERM_BENCHMARK check ("pages[%lu] is NOT pinnable but pinned", v5.13+) calls this.
    /// </summary>
    public bool IsPinnablePage(PagePtr page)
    {
        bool zero = _m.PageToPfn(page).Value == _m.ZeroPfn;
        if (_m.Version.LongtermWalksFolios)
        {
            if (IsMigrateCmaPage(page)) return false;
            if (zero) return true;
            return !IsZoneMovablePage(page);
        }
        return !(IsZoneMovablePage(page) || IsMigrateCmaPage(page)) || zero;
    }

    /// <summary>
    /// page_maybe_dma_pinned() (v5.11): exact via the compound pincount where available, else
    /// <c>(unsigned)page_ref_count(compound_head(page)) &gt;= GUP_PIN_COUNTING_BIAS</c>.
    /// </summary>
    public bool PageMaybeDmaPinned(PagePtr page)
    {
        if (Sp.HpagePincountAvailable(page)) return Sp.CompoundPincount(Sp.CompoundHead(page)) > 0;
        return (uint)Sp.Refcount(Sp.CompoundHead(page)) >= GupPinCountingBias;
    }
}
