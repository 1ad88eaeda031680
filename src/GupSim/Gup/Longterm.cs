using GupSim.Core;
using GupSim.Mm;
using GupSim.Pages;

namespace GupSim.Gup;

public sealed partial class GetUserPages
{
    /// <summary>How often the v5.13+ retry loop may go round before GupSim calls it a hang (the kernel has no bound).</summary>
    private const int MaxLongtermRetries = 64;

    private readonly List<MigratedPage> _migrated = [];

    /// <summary>How many pages FOLL_LONGTERM calls on this instance migrated (the length of <see cref="Migrated"/>, without copying it).</summary>
    public int MigratedCount
    {
        get
        {
            lock (_migrated) return _migrated.Count;
        }
    }

    /// <summary>Every page FOLL_LONGTERM calls on this instance migrated, in order.</summary>
    public IReadOnlyList<MigratedPage> Migrated
    {
        get
        {
            lock (_migrated) return [.. _migrated];
        }
    }

    private int _migrationFailures;

    /// <summary>
    /// How many times migrate_pages() left pages behind in a FOLL_LONGTERM call on this instance: before v5.13
    /// check_and_migrate_cma_pages() then stops migrating and returns the pages pinned where they are (in CMA);
    /// from v5.13 the call fails with −ENOMEM. A checker reads it to tell that documented fallback from a page the
    /// walk never tried to move.
    /// </summary>
    public int LongtermMigrationFailures => Volatile.Read(ref _migrationFailures);

    /// <summary>Per-call state of one FOLL_LONGTERM call: the isolated list and what moved.</summary>
    private sealed class LongtermCall
    {
        public List<PagePtr> Isolated { get; } = [];
        public List<MigratedPage> Moved { get; } = [];
    }

    private PageMigrator Migrator => _m.Migrator;

    /// <summary>
    /// The FOLL_LONGTERM part of __gup_longterm_locked() (mm/gup.c), under memalloc_nocma_save() (before v5.13) or
    /// memalloc_pin_save() (v5.13+), so that faults and migration targets avoid CMA (and ZONE_MOVABLE from v5.13):
    /// <list type="bullet">
    /// <item>before v5.13: __get_user_pages_locked(), then check_and_migrate_cma_pages(), which re-runs GUP itself;</item>
    /// <item>v5.13–v6.0: loop { __get_user_pages_locked(); check_and_migrate_movable_pages() } while it returns 0;</item>
    /// <item>v6.1: FOLL_PIN required (−EINVAL otherwise); the same loop while check_and_migrate_movable_pages()
    /// returns −EAGAIN, returning the pinned count on 0.</item>
    /// </list>
    /// </summary>
    private long LongtermLocked(MmStruct mm, ulong start, long nrPages, FollFlags flags, Span<PagePtr> pages)
    {
        var v = _m.Version;
        if (v.LongtermWalksFolios && (flags & FollFlags.Pin) == 0)
        {
            _m.Log("WARNING: __gup_longterm_locked: FOLL_LONGTERM without FOLL_PIN");
            return -(int)Errno.EINVAL;
        }
        var saved = _m.MemallocPinSave();
        var call = new LongtermCall();
        try
        {
            if (!v.LongtermPinsMigrateMovable)
            {
                long rc = GetUserPagesSlow(mm, start, nrPages, flags, pages);
                return rc > 0 ? CheckAndMigrateCmaPages(call, mm, start, rc, flags, pages) : rc;
            }
            for (int tries = 0; tries < MaxLongtermRetries; tries++)
            {
                long nr = GetUserPagesSlow(mm, start, nrPages, flags, pages);
                if (nr <= 0) return nr;
                if (v.LongtermWalksFolios)
                {
                    long rc = CheckAndMigrateFolios(call, mm, nr, pages);
                    if (rc != -(int)Errno.EAGAIN) return rc != 0 ? rc : nr;
                }
                else
                {
                    long rc = CheckAndMigrateMovablePages(call, mm, nr, flags, pages);
                    if (rc != 0) return rc;
                }
            }
            throw new KernelSoftLockup("__gup_longterm_locked", $"pages stay unpinnable after {MaxLongtermRetries} rounds of migration");
        }
        finally
        {
            Machine.MemallocPinRestore(saved);
            lock (_migrated) _migrated.AddRange(call.Moved);
        }
    }

    /// <summary>Drops what GUP took on pages[0..nr): unpin_user_pages() for FOLL_PIN, put_page() each for FOLL_GET.</summary>
    private void ReleaseTaken(ReadOnlySpan<PagePtr> pages, FollFlags flags)
    {
        if ((flags & FollFlags.Pin) != 0) Grab.UnpinUserPages(pages);
        else Grab.PutPages(pages);
    }

    /// <summary>PageHuge() then isolate_huge_page(), else isolate_lru_page(); false when isolation failed.</summary>
    private bool IsolateForMigration(PagePtr head, List<PagePtr> list) =>
        _m.Hugetlb.IsHugetlbHead(_m.PageToPfn(head).Value) ? Migrator.IsolateHugePage(head, list) : Migrator.IsolateLruPage(head, list);

    /// <summary>
    /// check_and_migrate_cma_pages() (before v5.13): walks pages[] by <c>step = compound_nr(head) − (pages[i] − head)</c>
    /// — a pointer difference, meaningless when pages[i] lies in another section's memmap than its head (mm/gup.c,
    /// v5.11; unsigned, so a "negative" step wraps i backwards) — isolating every head in a CMA pageblock. If any was
    /// isolated: release all pages, migrate_pages() (on failure: put the rest back and stop migrating), GUP again, and
    /// check again while migration is allowed. A failed migration still returns the pages, pinned in CMA.
    /// </summary>
    private long CheckAndMigrateCmaPages(LongtermCall call, MmStruct mm, ulong start, long nrPages, FollFlags flags, Span<PagePtr> pages)
    {
        var sp = _m.StructPages;
        bool migrateAllow = true;
        long ret = nrPages;
        while (true)
        {
            ulong nr = (ulong)nrPages, i = 0;
            long iterations = 0;
            while (i < nr)
            {
                if (++iterations > nrPages)
                    throw new KernelSoftLockup("check_and_migrate_cma_pages", FormattableString.Invariant($"i came back to {i} of {nr} (step = compound_nr(head) - (pages[i] - head))"));
                var page = pages[(int)i];
                var head = sp.CompoundHead(page);
                ulong step = unchecked(sp.CompoundNr(head) - (ulong)PagePtr.Difference(page, head, _m.StructPageSize));
                if (Grab.IsMigrateCmaPage(head)) IsolateForMigration(head, call.Isolated);
                i = unchecked(i + step);
            }
            if (call.Isolated.Count == 0) return ret;
            ReleaseTaken(pages[..(int)nrPages], flags);
            if (Migrator.MigratePages(mm, call.Isolated, call.Moved) != 0)
            {
                Interlocked.Increment(ref _migrationFailures);
                migrateAllow = false;
                Migrator.Putback(call.Isolated);
            }
            ret = GetUserPagesSlow(mm, start, nrPages, flags, pages);
            if (ret > 0 && migrateAllow)
            {
                nrPages = ret;
                continue;
            }
            return ret;
        }
    }

    /// <summary>
    /// check_and_migrate_movable_pages() (v5.13–v6.0): every entry's compound head once (prev_head), isolating heads
    /// that are not is_pinnable_page(). Nothing to do: nr. Else release all pages and migrate_pages(): 0 (the caller
    /// pins again) when it all moved or only isolation failed, −ENOMEM when a page could not be migrated.
    /// </summary>
    private long CheckAndMigrateMovablePages(LongtermCall call, MmStruct mm, long nrPages, FollFlags flags, Span<PagePtr> pages)
    {
        var sp = _m.StructPages;
        PagePtr prev = default;
        bool first = true;
        int isolationErrors = 0;
        for (int i = 0; i < nrPages; i++)
        {
            var head = sp.CompoundHead(pages[i]);
            if (!first && head == prev) continue;
            first = false;
            prev = head;
            if (!Grab.IsPinnablePage(head) && !IsolateForMigration(head, call.Isolated)) isolationErrors++;
        }
        if (call.Isolated.Count == 0 && isolationErrors == 0) return nrPages;
        ReleaseTaken(pages[..(int)nrPages], flags);
        int failed = 0;
        if (call.Isolated.Count > 0)
        {
            failed = Migrator.MigratePages(mm, call.Isolated, call.Moved);
            if (failed != 0)
            {
                Interlocked.Increment(ref _migrationFailures);
                Migrator.Putback(call.Isolated);
            }
        }
        return failed > 0 ? -(int)Errno.ENOMEM : 0;
    }

    /// <summary>
    /// check_and_migrate_movable_pages() as the v6.1 tree has it: collect_longterm_unpinnable_pages() (per folio:
    /// not longterm-pinnable → counted and isolated), then migrate_longterm_unpinnable_pages(): unpin every entry
    /// (setting it NULL), migrate_pages() — −ENOMEM if anything stays — and −EAGAIN so the caller pins again.
    /// 0 when nothing needed migrating.
    /// </summary>
    private long CheckAndMigrateFolios(LongtermCall call, MmStruct mm, long nrPages, Span<PagePtr> pages)
    {
        var sp = _m.StructPages;
        PagePtr prev = default;
        bool first = true;
        long collected = 0;
        for (int i = 0; i < nrPages; i++)
        {
            var folio = sp.CompoundHead(pages[i]);
            if (!first && folio == prev) continue;
            first = false;
            prev = folio;
            if (Grab.IsPinnablePage(folio)) continue;
            collected++;
            IsolateForMigration(folio, call.Isolated);
        }
        if (collected == 0) return 0;
        for (int i = 0; i < nrPages; i++)
        {
            Grab.UnpinUserPage(pages[i]);
            pages[i] = default;
        }
        if (call.Isolated.Count > 0 && Migrator.MigratePages(mm, call.Isolated, call.Moved) != 0)
        {
            Interlocked.Increment(ref _migrationFailures);
            Migrator.Putback(call.Isolated);
            return -(int)Errno.ENOMEM;
        }
        Migrator.Putback(call.Isolated);
        return -(int)Errno.EAGAIN;
    }
}
