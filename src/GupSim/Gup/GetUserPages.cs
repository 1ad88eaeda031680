using GupSim.Core;
using GupSim.Mm;
using GupSim.Pages;

namespace GupSim.Gup;

/// <summary>
/// GUP for one machine and strategy (mm/gup.c, mm/hugetlb.c): the entry points get_user_pages(),
/// pin_user_pages(), get_user_pages_fast(), pin_user_pages_fast() and their _remote forms, the slow path
/// __get_user_pages() with follow_page_mask() and every form of follow_hugetlb_page(), and gup-fast.
/// Return values are the kernel's: pages taken, or a negative errno when none were.
/// </summary>
public sealed partial class GetUserPages
{
    private readonly Machine _m;

    /// <summary>GUP running <paramref name="strategy"/> (null: the machine's kernel version's own code).</summary>
    public GetUserPages(Machine machine, GupStrategy? strategy = null)
    {
        _m = machine;
        Strategy = strategy ?? GupStrategy.ForVersion(machine.Version);
    }

    /// <summary>The code being run.</summary>
    public GupStrategy Strategy { get; }

    private Grab Grab => _m.Grab;
    private int PageShift => _m.Arch.PageShift;
    private ulong PageSize => _m.Arch.PageSize;

    /// <summary>
    /// get_user_pages() / get_user_pages_remote(): FOLL_GET | FOLL_TOUCH (+ caller flags; FOLL_PIN and FOLL_LONGTERM
    /// refused with −EINVAL). Empty (NULL) or short <paramref name="pages"/>: −EINVAL before anything is taken
    /// (<see cref="CheckPagesArgument"/>).
    /// </summary>
    public long GetUserPagesRemote(MmStruct mm, ulong start, long nrPages, FollFlags flags, Span<PagePtr> pages)
    {
        // is_valid_gup_flags(): FOLL_PIN is internal, and FOLL_LONGTERM references must be pins (pin_user_pages()).
        if (!GupFlagsValid("get_user_pages_remote", flags, FollFlags.Get | FollFlags.Touch)) return -(int)Errno.EINVAL;
        if (!CheckPagesArgument("get_user_pages_remote", nrPages, flags | FollFlags.Get, pages.Length, pin: false, out long bad)) return bad;
        return GupLongtermLocked(mm, start, nrPages, flags | FollFlags.Touch | FollFlags.Get, pages);
    }

    /// <summary>
    /// pin_user_pages() / pin_user_pages_remote(): FOLL_PIN (FOLL_GET refused). Empty (NULL) or short
    /// <paramref name="pages"/>: −EINVAL before anything is taken (<see cref="CheckPagesArgument"/>).
    /// </summary>
    public long PinUserPagesRemote(MmStruct mm, ulong start, long nrPages, FollFlags flags, Span<PagePtr> pages)
    {
        if (!GupFlagsValid("pin_user_pages_remote", flags, FollFlags.Pin)) return -(int)Errno.EINVAL;
        if (!CheckPagesArgument("pin_user_pages_remote", nrPages, flags | FollFlags.Pin, pages.Length, pin: true, out long bad)) return bad;
        return GupLongtermLocked(mm, start, nrPages, flags | FollFlags.Pin, pages);
    }

    /// <summary>__gup_longterm_locked(): __get_user_pages_locked() under the mmap lock; FOLL_LONGTERM migrates what may not be pinned long-term (Longterm.cs).</summary>
    private long GupLongtermLocked(MmStruct mm, ulong start, long nrPages, FollFlags flags, Span<PagePtr> pages)
    {
        if ((flags & FollFlags.Pin) != 0) mm.SetHasPinned();
        mm.MmapLock.EnterReadLock();
        try
        {
            return (flags & FollFlags.Longterm) != 0
                ? LongtermLocked(mm, start, nrPages, flags, pages)
                : GetUserPagesSlow(mm, start, nrPages, flags, pages);
        }
        finally
        {
            mm.MmapLock.ExitReadLock();
        }
    }

    /// <summary>
    /// __get_user_pages(): per VMA, check_vma_flags(); hugetlb VMAs through follow_hugetlb_page() (or, from v6.6,
    /// follow_page_mask()); others page by page through follow_page_mask(), faulting in what is missing.
    /// </summary>
    internal long GetUserPagesSlow(MmStruct mm, ulong start, long nrPages, FollFlags flags, Span<PagePtr> pages)
    {
        if (nrPages <= 0) return 0;
        if ((flags & (FollFlags.Get | FollFlags.Pin)) == (FollFlags.Get | FollFlags.Pin)) return -(int)Errno.EINVAL;
        // VM_BUG_ON(!!pages != !!(gup_flags & (FOLL_GET | FOLL_PIN))): every entry point checked pages[] already
        // (CheckPagesArgument), so reaching here without a big enough array is a GupSim bug, not bad input.
        if (pages.Length < nrPages) throw new InvalidOperationException($"__get_user_pages: pages[] holds {pages.Length} entries for nr_pages {nrPages}");
        long i = 0;
        int ret = 0;
        Vma? vma = null;
        while (nrPages > 0)
        {
            if (vma is null || start >= vma.End)
            {
                vma = mm.FindVma(start);
                if (vma is null || vma.Start > start)
                {
                    ret = -(int)Errno.EFAULT;
                    break;
                }
                ret = CheckVmaFlags(vma, flags);
                if (ret != 0) break;
                if (vma.IsHugetlb && Strategy.Slow != HugetlbSlowVariant.FollowPageMask)
                {
                    // i = follow_hugetlb_page(...): the count so far, or the error when there is none.
                    long r = FollowHugetlbPage(mm, vma, pages, ref start, ref nrPages, i, flags, out int err);
                    i = r != 0 ? r : err;
                    if (i < 0) return i;
                    continue;
                }
            }
            var page = FollowPageMask(mm, vma, start, flags, out ulong pageMask, out var hugeCtx, out int ferr);
            if (ferr != 0)
            {
                ret = ferr;
                break;
            }
            if (page is null)
            {
                var fault = mm.HandleMmFault(start, (flags & FollFlags.Write) != 0 ? FaultFlags.Write : FaultFlags.None);
                if ((fault & VmFault.Error) != 0)
                {
                    ret = VmFaultToErrno(fault);
                    break;
                }
                continue;
            }
            // page_increm: with a page mask (hugetlb via follow_page_mask, v6.6+) the rest of the huge page.
            long incr = 1 + (long)(~(start >> PageShift) & pageMask);
            if (incr > nrPages) incr = nrPages;
            if (incr > 1 && hugeCtx is { } ctx)
            {
                // pages[i + j] for the page_increm subpages, from the same entry hugetlb_follow_page_mask() read.
                SubpageRecorders.Record(Strategy.SlowRecorder, ctx, pages.Slice((int)i, (int)incr));
                Grab.Counters.PagesWrite(incr);
                // try_grab_page() on the first subpage, then try_grab_folio(folio, page_increm - 1).
                bool grabbed;
                using (Grab.StrayScopeFor(pages[(int)i], _m.PfnToPage(ctx.HeadPfn + ctx.FirstSubpage)))
                    grabbed = Grab.TryGrabFolioSlow(pages[(int)i], (int)(incr - 1), flags) is not null;
                if (!grabbed)
                {
                    WarnOnOnce("__get_user_pages:page_increm", "__get_user_pages");
                    // "Release the 1st page ref if the folio is problematic, fail hard."
                    Grab.PutCompoundHead(_m.StructPages.CompoundHead(pages[(int)i]), 1, flags);
                    ret = -(int)Errno.EFAULT;
                    break;
                }
            }
            else
            {
                pages[(int)i] = page.Value;
                Grab.Counters.PagesWrite(1);
            }
            i += incr;
            start += (ulong)incr << PageShift;
            nrPages -= incr;
        }
        return i != 0 ? i : ret;
    }

    /// <summary>
    /// check_vma_flags() (v5.11): VM_IO|VM_PFNMAP → −EFAULT; write without VM_WRITE needs FOLL_FORCE on a COW mapping;
    /// read without VM_READ needs FOLL_FORCE and VM_MAYREAD. From v6.5 a write to a file mapping must pass
    /// writable_file_mapping_allowed() (<see cref="WritableFileMappingAllowed"/>).
    /// </summary>
    private int CheckVmaFlags(Vma vma, FollFlags flags)
    {
        if ((vma.Flags & (VmFlags.Io | VmFlags.PfnMap)) != 0) return -(int)Errno.EFAULT;
        if ((flags & FollFlags.Anon) != 0 && !vma.IsAnonymous) return -(int)Errno.EFAULT;
        bool write = (flags & FollFlags.Write) != 0, force = (flags & FollFlags.Force) != 0;
        if (write)
        {
            if (!vma.IsAnonymous && !WritableFileMappingAllowed(vma, flags)) return -(int)Errno.EFAULT;
            if ((vma.Flags & VmFlags.Write) == 0)
            {
                if (!force) return -(int)Errno.EFAULT;
                bool cow = (vma.Flags & (VmFlags.Shared | VmFlags.MayWrite)) == VmFlags.MayWrite;
                if (!cow) return -(int)Errno.EFAULT;
            }
        }
        else if ((vma.Flags & VmFlags.Read) == 0)
        {
            if (!force || (vma.Flags & VmFlags.MayRead) == 0) return -(int)Errno.EFAULT;
        }
        return 0;
    }

    /// <summary>vm_fault_to_errno(): OOM → −ENOMEM, SIGBUS/SIGSEGV → −EFAULT, HWPOISON → −EHWPOISON.</summary>
    private static int VmFaultToErrno(VmFault f) =>
        (f & VmFault.Oom) != 0 ? -(int)Errno.ENOMEM :
        (f & VmFault.HwPoison) != 0 ? -(int)Errno.EHWPOISON :
        -(int)Errno.EFAULT;

    /// <summary>
    /// follow_page_mask(): the page mapped at <paramref name="addr"/> with a reference grabbed (FOLL_GET/FOLL_PIN), or
    /// null when it must be faulted in first (missing, or FOLL_WRITE on a read-only entry). THP: the subpage of the
    /// PMD leaf (follow_trans_huge_pmd). Hugetlb (v6.6+ hugetlb_follow_page_mask): the first subpage as the strategy
    /// computes it, with <paramref name="pageMask"/> = pages_per_huge_page − 1; the caller grabs the rest.
    /// </summary>
    private PagePtr? FollowPageMask(MmStruct mm, Vma vma, ulong addr, FollFlags flags, out ulong pageMask, out SubpageRecordContext? hugeCtx, out int err)
    {
        pageMask = 0;
        hugeCtx = null;
        err = 0;
        bool write = (flags & FollFlags.Write) != 0;
        if (vma.IsHugetlb)
        {
            var h = vma.Hstate!;
            var slot = mm.PageTable.HugePteOffset(addr & h.Mask, h.Size.Bytes);
            Grab.Counters.PteRead();
            if (slot is null) return null;
            var e = mm.PageTable.Read(slot.Value);
            if (e.IsNone || !e.IsPresent || (write && !e.IsWrite)) return null;
            ulong off = (addr & ~h.Mask) >> PageShift;
            var head = _m.PfnToPage(e.Pfn);
            var rec = new SubpageRecordContext(_m, head, e.Pfn, off, Grab.Counters, addr, RecordSite.Slow);
            Span<PagePtr> one = stackalloc PagePtr[1];
            SubpageRecorders.Record(Strategy.SlowRecorder, rec, one);
            bool grabbed;
            // A recorder that computed a wrong first subpage grabs through it: stray stores (Machine.StrayWrites).
            using (Grab.StrayScopeFor(one[0], _m.PfnToPage(e.Pfn + off))) grabbed = Grab.TryGrabPage(one[0], flags);
            if (!grabbed)
            {
                err = -(int)Errno.ENOMEM;
                return null;
            }
            pageMask = h.PagesPerHugePage - 1;
            hugeCtx = rec;
            return one[0];
        }
        var leaf = mm.WalkLeaf(addr);
        Grab.Counters.PteRead();
        if (leaf is not { } l || l.Entry.IsNone || !l.Entry.IsPresent) return null;
        if (write && !l.Entry.IsWrite) return null;
        PagePtr page = _m.PfnToPage(l.Entry.Pfn);
        if (l.Level != PgLevel.Pte) page = _m.PageAdd(page, (long)((addr & (l.Bytes - 1)) >> PageShift));
        if (!Grab.TryGrabPage(page, flags))
        {
            err = -(int)Errno.ENOMEM;
            return null;
        }
        return page;
    }

    /// <summary>
    /// follow_hugetlb_page() in the strategy's form (mm/hugetlb.c): fault in missing or read-only entries, then
    /// record subpages and grab references — per subpage (v5.11), once per huge page after the loop (patch 1), or
    /// with refs = min3(...) and the recorder (82e5d378b0e4 on; refs from the aligned vaddr from d08af0a59684).
    /// </summary>
    private long FollowHugetlbPage(MmStruct mm, Vma vma, Span<PagePtr> pages, ref ulong position, ref long nrPages, long i, FollFlags flags, out int err)
    {
        ulong vaddr = position;
        long remainder = nrPages;
        var h = vma.Hstate!;
        ulong pphp = h.PagesPerHugePage;
        bool hasPages = pages.Length > 0;
        bool write = (flags & FollFlags.Write) != 0;
        err = -(int)Errno.EFAULT;
        while (vaddr < vma.End && remainder > 0)
        {
            var slot = mm.PageTable.HugePteOffset(vaddr & h.Mask, h.Size.Bytes);
            Grab.Counters.PteRead();
            var entry = slot is { } s ? mm.PageTable.Read(s) : PageTableEntry.None(PageShift);
            if (entry.IsNone || !entry.IsPresent || (write && !entry.IsWrite))
            {
                var ret = mm.HugetlbFault(vma, vaddr, write ? FaultFlags.Write : FaultFlags.None);
                if ((ret & VmFault.Error) != 0)
                {
                    err = VmFaultToErrno(ret);
                    remainder = 0;
                    break;
                }
                continue;
            }
            ulong pfnOffset = (vaddr & ~h.Mask) >> PageShift;
            var head = _m.PfnToPage(entry.Pfn); // pte_page(): pfn_to_page of the entry's pfn — the head, always right
            Grab.Counters.PfnToPage(1);
            switch (Strategy.Slow)
            {
                case HugetlbSlowVariant.PerSubpage:
                case HugetlbSlowVariant.GrabOncePerHugePage:
                    {
                        bool perSubpage = Strategy.Slow == HugetlbSlowVariant.PerSubpage;
                        int refs = 0;
                        Span<PagePtr> one = stackalloc PagePtr[1];
                        while (true)
                        {
                            if (hasPages)
                            {
                                SubpageRecorders.Record(Strategy.SlowRecorder, new SubpageRecordContext(_m, head, entry.Pfn, pfnOffset, Grab.Counters, vaddr, RecordSite.Slow), one);
                                pages[(int)i] = one[0];
                                Grab.Counters.PagesWrite(1);
                                bool grabbed = true;
                                if (perSubpage)
                                {
                                    using (Grab.StrayScopeFor(pages[(int)i], _m.PfnToPage(entry.Pfn + pfnOffset)))
                                        grabbed = Grab.TryGrabPage(pages[(int)i], flags);
                                }
                                if (!grabbed)
                                {
                                    WarnOnOnce("follow_hugetlb_page:grab", "follow_hugetlb_page", "mm/hugetlb.c");
                                    remainder = 0;
                                    err = -(int)Errno.ENOMEM;
                                    goto done;
                                }
                            }
                            vaddr += PageSize;
                            pfnOffset++;
                            remainder--;
                            i++;
                            refs++;
                            if (vaddr < vma.End && remainder > 0 && pfnOffset < pphp) continue;
                            break;
                        }
                        // Patch 1: one grab for the group; on failure the refs subpages stay counted in i (Trap 5).
                        bool grabbedGroup = true;
                        if (!perSubpage && hasPages)
                        {
                            using (Grab.StrayScopeFor(pages[(int)i - 1], _m.PfnToPage(entry.Pfn + (pfnOffset - 1))))
                                grabbedGroup = Grab.TryGrabCompoundHead(pages[(int)i - 1], refs, flags) is not null;
                        }
                        if (!grabbedGroup)
                        {
                            WarnOnOnce("follow_hugetlb_page:grab", "follow_hugetlb_page", "mm/hugetlb.c");
                            remainder = 0;
                            err = -(int)Errno.ENOMEM;
                            goto done;
                        }
                        break;
                    }
                case HugetlbSlowVariant.RecordSubpages:
                    {
                        ulong from = Strategy.RefsFromAlignedVaddr ? vaddr & ~(PageSize - 1) : vaddr;
                        long refs = (long)Math.Min(Math.Min(pphp - pfnOffset, (vma.End - from) >> PageShift), (ulong)remainder);
                        if (hasPages)
                        {
                            if (refs > 0)
                                SubpageRecorders.Record(Strategy.SlowRecorder, new SubpageRecordContext(_m, head, entry.Pfn, pfnOffset, Grab.Counters, vaddr, RecordSite.Slow), pages.Slice((int)i, (int)refs));
                            Grab.Counters.PagesWrite(refs);
                            // try_grab_compound_head(pages[i], refs, flags): with refs = 0 pages[i] was never written (Trap 4).
                            bool grabbedRun;
                            using (Grab.StrayScopeFor(pages[(int)i], refs > 0 ? _m.PfnToPage(entry.Pfn + pfnOffset) : PagePtr.Null))
                                grabbedRun = Grab.TryGrabCompoundHead(pages[(int)i], (int)refs, flags) is not null;
                            if (!grabbedRun)
                            {
                                WarnOnOnce("follow_hugetlb_page:grab", "follow_hugetlb_page", "mm/hugetlb.c");
                                remainder = 0;
                                err = -(int)Errno.ENOMEM;
                                goto done;
                            }
                        }
                        if (refs == 0)
                        {
                            remainder = 0;
                            goto done;
                        }
                        vaddr += (ulong)refs << PageShift;
                        remainder -= refs;
                        i += refs;
                        break;
                    }
            }
        }
    done:
        nrPages = remainder;
        position = vaddr;
        return i;
    }
}
