using GupSim.Arch;
using GupSim.Core;
using GupSim.Hugetlb;
using GupSim.Memory;
using GupSim.Pages;

namespace GupSim.Mm;

/// <summary>What one UFFDIO_COPY did (the ioctl's return and <c>uffdio_copy.copy</c>).</summary>
/// <param name="Result">0 when every byte was copied, -EAGAIN when only some were, else the error (a negative errno).</param>
/// <param name="Copied">uffdio_copy.copy: bytes copied, or the negative errno when none were.</param>
public readonly record struct UffdCopyResult(int Result, long Copied);

public sealed partial class MmStruct
{
    /// <summary>
    /// userfaultfd() + UFFDIO_API + UFFDIO_REGISTER with UFFDIO_REGISTER_MODE_MISSING over [start, start + len)
    /// (fs/userfaultfd.c userfaultfd_register()): every VMA there gets VM_UFFD_MISSING and the context. The range must
    /// be page aligned and inside the task (-EINVAL), wholly mapped (-ENOMEM where a hole is), and, for a hugetlb VMA,
    /// aligned to its huge page size at both ends (-EINVAL). Returns 0 or a negative errno; nothing changes on error.
    /// </summary>
    public int UffdRegister(ulong start, ulong len)
    {
        if ((start & (PageSize - 1)) != 0 || (len & (PageSize - 1)) != 0 || len == 0 || start >= TaskSize || len > TaskSize - start)
            return -(int)Errno.EINVAL;
        ulong end = start + len;
        var vmas = new List<Vma>();
        ulong at = start;
        while (at < end)
        {
            var v = VmaAt(at);
            if (v is null) return -(int)Errno.ENOMEM;
            vmas.Add(v);
            at = v.End;
        }
        // A hugetlb VMA is registered in whole huge pages (vma_kernel_pagesize() alignment of the range's ends).
        foreach (var v in vmas)
            if (v.Hstate is { } h && ((Math.Max(start, v.Start) & ~h.Mask) != 0 || (Math.Min(end, v.End) & ~h.Mask) != 0))
                return -(int)Errno.EINVAL;
        // GupSim registers whole VMAs: the range must start and end on VMA boundaries (the kernel would split them).
        if (vmas[0].Start != start || vmas[^1].End != end) return -(int)Errno.EINVAL;
        foreach (var v in vmas) v.Flags |= VmFlags.UffdMissing;
        return 0;
    }

    /// <summary>
    /// UFFDIO_COPY (fs/userfaultfd.c userfaultfd_copy() → mm/userfaultfd.c mcopy_atomic()): fills the missing pages of
    /// [dst, dst + len) with copies of the user's [src, src + len). Checks as the ioctl does (validate_range() on
    /// the destination: dst and len page aligned, len not 0, inside the task; a source range that wraps): -EINVAL;
    /// the destination one VMA registered with the userfaultfd, else -ENOENT. The source needs no alignment. A hugetlb destination goes through __mcopy_atomic_hugetlb() (whole huge pages,
    /// -EINVAL otherwise); other VMAs are not modelled here (-EINVAL, said by the caller). Stops at the first huge
    /// page already mapped (-EEXIST) or when the pool is empty (-ENOMEM).
    /// </summary>
    public UffdCopyResult UffdioCopy(ulong dst, ulong src, ulong len)
    {
        ulong mask = PageSize - 1;
        if ((dst & mask) != 0 || (len & mask) != 0 || len == 0 || dst >= TaskSize || len > TaskSize - dst || src + len <= src)
            return new(-(int)Errno.EINVAL, -(int)Errno.EINVAL);
        // find_dst_vma(): one VMA holding the whole range, registered with a userfaultfd.
        var vma = VmaAt(dst);
        if (vma is null || dst + len > vma.End || (vma.Flags & VmFlags.UffdMissing) == 0)
            return new(-(int)Errno.ENOENT, -(int)Errno.ENOENT);
        if (!vma.IsHugetlb) return new(-(int)Errno.EINVAL, -(int)Errno.EINVAL);
        long copied = McopyAtomicHugetlb(vma, dst, src, len);
        int result = copied < 0 ? (int)copied : (ulong)copied == len ? 0 : -(int)Errno.EAGAIN;
        return new(result, copied);
    }

    /// <summary>
    /// __mcopy_atomic_hugetlb() (mm/userfaultfd.c): whole huge pages only; an anon_vma for a private mapping
    /// (anon_vma_prepare()); then for each huge page: -EEXIST where one is mapped already, else
    /// <see cref="HugetlbMcopyAtomicPte"/>. Its first copy runs with page faults disabled; when that comes back short
    /// (-ENOENT) the copy is redone with faults allowed (copy_huge_page_from_user(..., true), outside mmap_lock; still
    /// short: -EFAULT) and the page is then installed. A page left over on error goes back (put_page()). Returns the
    /// bytes copied, or the error when none were.
    /// </summary>
    private long McopyAtomicHugetlb(Vma vma, ulong dst, ulong src, ulong len)
    {
        var h = vma.Hstate!;
        ulong hsize = h.Size.Bytes;
        if ((dst & (hsize - 1)) != 0 || (len & (hsize - 1)) != 0) return -(int)Errno.EINVAL;
        if (!vma.MayShare) AnonVmaPrepare(vma);
        long copied = 0;
        int err = 0;
        ulong? leftover = null;
        for (ulong off = 0; off < len; off += hsize)
        {
            ulong dstAddr = dst + off, srcAddr = src + off;
            var slot = PageTable.HugePteOffset(dstAddr, hsize);
            if (slot is { } s0 && !PageTable.Read(s0).IsNone)
            {
                err = -(int)Errno.EEXIST;
                break;
            }
            err = HugetlbMcopyAtomicPte(vma, dstAddr, srcAddr, ref leftover);
            if (err == -(int)Errno.ENOENT)
            {
                var page = _m.PfnToPage(Pfn.FromUInt64(leftover!.Value));
                if (CopyHugePageFromUser(page, leftover.Value, srcAddr, h.PagesPerHugePage, allowPagefault: true) != 0)
                {
                    err = -(int)Errno.EFAULT;
                    break;
                }
                // The retry finds the VMA again and installs the copied page.
                err = HugetlbMcopyAtomicPte(vma, dstAddr, srcAddr, ref leftover);
            }
            if (err != 0) break;
            copied += (long)hsize;
        }
        if (leftover is ulong left) _m.Hugetlb.PutHugePage(left);
        return copied != 0 ? copied : err;
    }

    /// <summary>
    /// hugetlb_mcopy_atomic_pte() (mm/hugetlb.c): with no page carried over, alloc_huge_page() (consuming the
    /// mapping's reservation for that index, as a fault does; -ENOMEM when the pool is empty) and
    /// <see cref="CopyHugePageFromUser"/> with faults disabled — short: -ENOENT, the page carried to the caller in
    /// <paramref name="carried"/>. Then a shared mapping's page goes into the page cache (-EFAULT past i_size), the
    /// entry is set (writable and dirty when the VMA has VM_WRITE, young), private pages get their anon rmap, and the
    /// mm's hugetlb count grows. A page that cannot be installed is put back.
    /// </summary>
    private int HugetlbMcopyAtomicPte(Vma vma, ulong dstAddr, ulong srcAddr, ref ulong? carried)
    {
        var h = vma.Hstate!;
        var sp = _m.StructPages;
        ulong idx = vma.HugecacheIndex(dstAddr, PageShift);
        ulong head;
        if (carried is ulong c)
        {
            head = c;
            carried = null;
        }
        else
        {
            bool reserved = vma.MayShare ? vma.HugeFile.Reservations.Contains(idx) : vma.PrivateReservations.Contains(idx);
            if (!_m.Hugetlb.TryAllocHugePage(h, reserved, out head)) return -(int)Errno.ENOMEM;
            if (vma.MayShare) vma.HugeFile.Reservations.Remove(idx);
            else vma.PrivateReservations.Remove(idx);
            if (CopyHugePageFromUser(_m.PfnToPage(Pfn.FromUInt64(head)), head, srcAddr, h.PagesPerHugePage, allowPagefault: false) != 0)
            {
                carried = head; // "fallback to copy_from_user outside mmap_lock": don't free the page
                return -(int)Errno.ENOENT;
            }
        }
        var headPage = _m.PfnToPage(Pfn.FromUInt64(head));
        sp.SetFlag(headPage, PageFlagBits.Uptodate); // __SetPageUptodate()
        if (vma.MayShare)
        {
            var file = vma.HugeFile;
            if (idx >= file.Size >> h.Shift || file.PageCache.ContainsKey(idx))
            {
                _m.Hugetlb.PutHugePage(head);
                return idx >= file.Size >> h.Shift ? -(int)Errno.EFAULT : -(int)Errno.EEXIST;
            }
            file.AddToPageCache(_m, idx, head); // the allocation's reference becomes the mapping's
        }
        bool writable = (vma.Flags & VmFlags.Write) != 0;
        int rc = PageTable.SetLeaf(dstAddr, h.Size, Pfn.FromUInt64(head), HugeLeafFlags(vma, writable));
        if (rc != 0)
        {
            _m.Hugetlb.PutHugePage(head);
            return -(int)Errno.ENOMEM;
        }
        if (vma.MayShare) sp.SetCompoundMapcount(headPage, sp.CompoundMapcount(headPage) + 1); // page_dup_rmap(page, true)
        else HugepageAddNewAnonRmap(vma, headPage, dstAddr);
        HugetlbPages += (long)h.PagesPerHugePage;
        return 0;
    }

    /// <summary>
    /// copy_huge_page_from_user() (mm/memory.c; copy_folio_from_user() from v6.4, e87340ca5c9c): for each subpage i,
    /// kmap() of the subpage's struct page — on 64-bit page_address(), the direct map of page_to_pfn(), which on
    /// classic SPARSEMEM reads the section number from that struct page's flags — and copy_from_user() of PAGE_SIZE
    /// from <c>usr_src + i × PAGE_SIZE</c>. The subpage is <c>dst_page + i</c> before 3272cfc2525b (v5.12): past a
    /// section's memmap that is whatever struct page (or data) lies next in kernel memory, and the user's data lands
    /// in the page it stands for (a stray store, <see cref="KernelMemory.CountStrayPageStore"/>). The fix walks by
    /// mem_map_next(); v6.1 nth_page() (14455eabd840), v6.4 folio_page(), and from v6.18 <c>page + i</c> again (a
    /// folio never spans a non-contiguous memmap). Stops at the first short copy. Returns the bytes not copied
    /// (0 when all were).
    /// </summary>
    /// <param name="dstPage">The huge page's head struct page.</param>
    /// <param name="headPfn">Its pfn (GupSim's oracle: subpage i is right when it is pfn_to_page(head + i)).</param>
    /// <param name="usrSrc">The user source address.</param>
    /// <param name="pagesPerHugePage">Subpages to copy.</param>
    /// <param name="allowPagefault">kmap() with faults allowed (the retry outside mmap_lock), else kmap_atomic() with page faults disabled.</param>
    /// <exception cref="KernelOops">Thrown where the kernel oopses: page_to_pfn() of a wrong struct page reading a NULL mem_section, or a copy into an address no RAM backs (x86's _copy_from_user() zeroes the tail it could not copy with a plain store; arm64's copy loop stores without an exception-table entry).</exception>
    public ulong CopyHugePageFromUser(PagePtr dstPage, ulong headPfn, ulong usrSrc, ulong pagesPerHugePage, bool allowPagefault)
    {
        ulong left = pagesPerHugePage * PageSize;
        var v = _m.Version;
        bool plus = v < KernelVersion.V5_12 || v.HasMaxFolioOrderInvariant;
        var subpage = dstPage;
        for (ulong i = 0; i < pagesPerHugePage; i++)
        {
            if (i > 0)
                subpage = plus ? _m.PageAdd(dstPage, (long)i) // dst_page + i; folio_page() by pointer from v6.18
                    : v.HasMemMapOffset ? _m.MemMap.MemMapNext(subpage, dstPage, (int)i) // 3272cfc2525b
                    : _m.NthPage(dstPage, i); // 14455eabd840, then folio_page()
            ulong rc = CopyFromUserToPage(subpage, usrSrc + i * PageSize, allowPagefault, headPfn + i);
            left -= PageSize - rc;
            if (rc != 0) break;
        }
        return left;
    }

    /// <summary>
    /// copy_from_user(kmap(subpage), src, PAGE_SIZE): the source page through the user's page table (faulted in when
    /// <paramref name="allowPagefault"/>, else a missing page makes the copy short), the destination the page
    /// page_to_pfn(subpage) names (a destination no RAM backs oopses: see <see cref="CopyHugePageFromUser"/>).
    /// Returns the bytes not copied.
    /// </summary>
    private ulong CopyFromUserToPage(PagePtr subpage, ulong src, bool allowPagefault, ulong rightPfn)
    {
        // The source bytes: one user page, or the two an unaligned source straddles (bytes no single token names).
        if (SourceData(src & ~(PageSize - 1), allowPagefault) is not ulong token) return PageSize;
        if ((src & (PageSize - 1)) != 0)
        {
            if (SourceData((src & ~(PageSize - 1)) + PageSize, allowPagefault) is not ulong next) return PageSize;
            token = PageContents.Opaque(token ^ (next * 31) ^ (src & (PageSize - 1)));
        }
        ulong dstPfn = _m.PageToPfn(subpage).Value; // kmap() → page_address(): may oops on a wrong struct page
        bool stray = subpage != _m.PfnToPage(Pfn.FromUInt64(rightPfn));
        if (!_m.Memory.IsRamPfn(dstPfn))
        {
            if (stray) _m.Memory.CountStrayPageStore(null, 0);
            ulong va = _m.Memory.PhysToVirt(dstPfn << PageShift);
            throw new KernelOops(KernelVa.FromUInt64(va), $"copy_from_user() into page_address({subpage}) = 0x{va:x}: no RAM there (pfn 0x{dstPfn:x})");
        }
        ulong bits = _m.Memory.StorePage(dstPfn, token);
        if (stray) _m.Memory.CountStrayPageStore(dstPfn, bits);
        return 0;
    }

    // The data of the user page at page-aligned src, faulting it in when allowed (a page GupSim holds no token for,
    // or one patched word by word, gets a token of its own); null when the access fails.
    private ulong? SourceData(ulong src, bool allowPagefault)
    {
        var leaf = WalkLeaf(src);
        if (leaf is not { } l || !l.Entry.IsPresent)
        {
            if (!allowPagefault) return null; // pagefault_disable(): the access fails instead of faulting
            if ((HandleMmFault(src, FaultFlags.None) & VmFault.Error) != 0) return null;
            leaf = WalkLeaf(src);
            if (leaf is not { } again || !again.Entry.IsPresent) return null;
            l = again;
        }
        return _m.Memory.CopyablePageData(l.Entry.Pfn.Value + ((src & (l.Bytes - 1)) >> PageShift));
    }
}
