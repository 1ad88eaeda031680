using GupSim.Arch;
using GupSim.Core;
using GupSim.Fs;
using GupSim.Hugetlb;
using GupSim.Pages;

namespace GupSim.Mm;

/// <summary>
/// struct mm_struct: an address space with its VMAs (sorted, non-overlapping) and its page table, and the
/// operations that change them (mmap, munmap, mprotect, madvise — mm/mmap.c, mm/mprotect.c, mm/madvise.c) and
/// the page-fault handlers (handle_mm_fault, hugetlb_fault — mm/memory.c, mm/hugetlb.c, mm/huge_memory.c).
/// Failed operations return the kernel's negative errno and change nothing.
/// </summary>
public sealed partial class MmStruct
{
    private readonly List<Vma> _vmas = [];
    private readonly Machine _m;

    private MmStruct(Machine machine, PageTable table)
    {
        _m = machine;
        PageTable = table;
        TaskSize = TaskSizeOf(machine.Arch, table.Geometry);
        // mmap_base: STACK_TOP less the stack gap (at least 128 MiB), page aligned, no randomisation.
        MmapBase = (StackTopOf(machine.Arch, TaskSize) - (128UL << 20)) & ~(machine.Arch.PageSize - 1);
    }

    /// <summary>
    /// TASK_SIZE of a 64-bit (or 32-bit) task: 3 GiB on 32-bit; x86-64 TASK_SIZE_MAX = 1 &lt;&lt; 47 (56 with 5-level);
    /// s390x TASK_SIZE_MAX = −PAGE_SIZE (arch/s390/include/asm/processor.h: the region tables grow on demand, so the
    /// whole 64-bit space is the task's); elsewhere 1 &lt;&lt; the user VA bits.
    /// </summary>
    private static ulong TaskSizeOf(ArchProfile arch, PageTableGeometry geo)
    {
        if (arch.BitsPerLong == 32) return 0xC0000000UL;
        if (arch.KernelArch == "s390") return 0UL - arch.PageSize;
        return 1UL << (geo.UserVaBits - (arch.KernelArch == "x86" ? 1 : 0));
    }

    /// <summary>
    /// STACK_TOP, where mmap_base is measured from: TASK_SIZE, except s390x, where it is _REGION2_SIZE = 1 &lt;&lt; 42
    /// (4 TiB, a 3-level ASCE; arch/s390/include/asm/processor.h, less the vdso's pages from v6.x, which GupSim
    /// does not map) so that a new process starts with 3-level region tables.
    /// </summary>
    private static ulong StackTopOf(ArchProfile arch, ulong taskSize) =>
        arch.KernelArch == "s390" && arch.BitsPerLong == 64 ? 1UL << 42 : taskSize;

    /// <summary>mm_alloc(): a new address space, or null when no page is left for its PGD.</summary>
    public static MmStruct? Create(Machine machine, int nid = 0) =>
        PageTable.TryCreate(machine, nid, out var table) ? new MmStruct(machine, table) : null;

    /// <summary>The machine.</summary>
    public Machine Machine => _m;
    /// <summary>mm->pgd and below.</summary>
    public PageTable PageTable { get; }
    /// <summary>TASK_SIZE.</summary>
    public ulong TaskSize { get; }
    /// <summary>mm->mmap_base (top-down allocation starts here).</summary>
    public ulong MmapBase { get; }
    /// <summary>The VMAs, by address.</summary>
    public IReadOnlyList<Vma> Vmas => _vmas;
    /// <summary>MM_ANONPAGES in pages (4 KiB and THP).</summary>
    public long AnonPages { get; private set; }
    /// <summary>MM_FILEPAGES: mapped page cache pages of files that are not shmem.</summary>
    public long FilePages { get; private set; }
    /// <summary>MM_SHMEMPAGES: mapped shmem pages (memfd, tmpfs files, shared anonymous memory).</summary>
    public long ShmemPages { get; private set; }
    /// <summary>hugetlb_usage, in base pages (hugetlb_count_add()).</summary>
    public long HugetlbPages { get; private set; }
    /// <summary>mm->has_pinned / MMF_HAS_PINNED (sticky: set by the first FOLL_PIN, never cleared by the kernel).</summary>
    public bool HasPinned { get; private set; }

    /// <summary>Sets <see cref="HasPinned"/> (mm/gup.c: the FOLL_PIN entry points), journaled for a machine checkpoint.</summary>
    internal void SetHasPinned()
    {
        if (HasPinned) return;
        Machine.JournalHasPinned(this);
        HasPinned = true;
    }

    /// <summary>Clears <see cref="HasPinned"/> on a checkpoint rollback (nothing in the kernel does).</summary>
    internal void ClearHasPinnedForRollback() => HasPinned = false;
    /// <summary>mmap_lock (a reader-writer lock, as the kernel's).</summary>
    public ReaderWriterLockSlim MmapLock { get; } = new(LockRecursionPolicy.SupportsRecursion);

    private int PageShift => _m.Arch.PageShift;
    private ulong PageSize => _m.Arch.PageSize;

    /// <summary>mmap_write_lock() around <paramref name="op"/> (re-entrant: MAP_FIXED unmaps, MAP_POPULATE faults).</summary>
    private T WithMmapWriteLock<T>(Func<T> op)
    {
        _m.MmStamp++; // VMAs may change: a machine checkpoint does not journal them
        MmapLock.EnterWriteLock();
        try
        {
            return op();
        }
        finally
        {
            MmapLock.ExitWriteLock();
        }
    }

    /// <summary>
    /// __split_vma() on both sides: replaces <paramref name="v"/> by its parts outside [s, e) and returns the part
    /// inside (not inserted).
    /// </summary>
    private Vma SplitAround(Vma v, ulong s, ulong e)
    {
        _vmas.Remove(v);
        if (v.Start < s) InsertVma(Attach(v.CloneRange(v.Start, s, PageShift)));
        if (e < v.End) InsertVma(Attach(v.CloneRange(e, v.End, PageShift)));
        var mid = Attach(v.CloneRange(s, e, PageShift));
        Detach(v);
        return mid;
    }

    /// <summary>
    /// A VMA becomes live in this mm: it holds a reference on its file (get_file()) and sits in the file's i_mmap,
    /// and shares its anon_vma.
    /// </summary>
    private Vma Attach(Vma v)
    {
        v.Mm = this;
        if (v.File is { } f)
        {
            f.Get();
            f.AddMapping(v);
        }
        if (v.AnonVma is { } av) av.Vmas++;
        return v;
    }

    /// <summary>remove_vma(): drops the VMA's file reference (fput(): the last one of an unlinked file evicts it) and its anon_vma.</summary>
    private void Detach(Vma v)
    {
        v.Mm = null;
        if (v.AnonVma is { } av && --av.Vmas == 0) _m.Vfs.Objects.Free(av.Address);
        v.AnonVma = null;
        if (v.File is { } f)
        {
            f.RemoveMapping(v);
            f.Put(_m);
        }
    }

    /// <summary>anon_vma_prepare(): the VMA's anon_vma, made on first use.</summary>
    private AnonVma AnonVmaPrepare(Vma v)
    {
        if (v.AnonVma is { } av) return av;
        av = new AnonVma(_m.Vfs.Objects.AllocAnonVma()) { Vmas = 1 };
        v.AnonVma = av;
        return av;
    }

    /// <summary>hugetlb_vm_op_split(): a hugetlb VMA may only be split on a huge page boundary.</summary>
    private bool HugetlbSplitAllowed(ulong addr, ulong end)
    {
        foreach (var v in _vmas)
        {
            if (v.End <= addr || v.Start >= end || !v.IsHugetlb) continue;
            if ((addr > v.Start && (addr & ~v.Hstate!.Mask) != 0) || (end < v.End && (end & ~v.Hstate!.Mask) != 0)) return false;
        }
        return true;
    }

    /// <summary>find_vma(): the first VMA whose end is above <paramref name="addr"/>, or null.</summary>
    public Vma? FindVma(ulong addr)
    {
        int lo = 0, hi = _vmas.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_vmas[mid].End <= addr) lo = mid + 1;
            else hi = mid;
        }
        return lo < _vmas.Count ? _vmas[lo] : null;
    }

    /// <summary>The VMA containing <paramref name="addr"/>, or null.</summary>
    public Vma? VmaAt(ulong addr) => FindVma(addr) is { } v && v.Start <= addr ? v : null;

    private void InsertVma(Vma v)
    {
        int i = 0;
        while (i < _vmas.Count && _vmas[i].Start < v.Start) i++;
        _vmas.Insert(i, v);
    }

    /// <summary>
    /// get_unmapped_area(), top-down from mmap_base (arch_get_unmapped_area_topdown), aligned to
    /// <paramref name="align"/> (huge page size for hugetlb: hugetlb_get_unmapped_area()). 0 when nothing fits.
    /// </summary>
    private ulong GetUnmappedArea(ulong len, ulong align)
    {
        ulong top = MmapBase;
        for (int i = _vmas.Count; i >= 0; i--)
        {
            ulong gapStart = i > 0 ? _vmas[i - 1].End : PageSize * 16;
            ulong gapEnd = i < _vmas.Count ? Math.Min(_vmas[i].Start, top) : top;
            if (gapEnd > gapStart && gapEnd - gapStart >= len)
            {
                ulong addr = (gapEnd - len) & ~(align - 1);
                if (addr >= gapStart) return addr;
            }
        }
        return 0;
    }

    /// <summary>Whether [start, end) overlaps no VMA.</summary>
    private bool IsFree(ulong start, ulong end)
    {
        var v = FindVma(start);
        return v is null || v.Start >= end;
    }

    /// <summary>
    /// mmap(): anonymous memory, MAP_HUGETLB anonymous memory (MAP_HUGE_* size bits or the default hstate), or a file
    /// (<paramref name="file"/>): a hugetlbfs inode, a page cache inode (tmpfs, ext4, ...; see <see cref="Vfs"/>), or
    /// /dev/zero (treated as MAP_ANONYMOUS, as mmap_zero() does). MAP_SHARED|MAP_ANONYMOUS maps a new shmem object
    /// (shmem_zero_setup()). Hugetlb mappings reserve their pages (hugetlb_reserve_pages()) unless MAP_NORESERVE; a
    /// writable hugetlbfs mapping grows i_size to cover it (hugetlbfs_file_mmap()). The VMA holds a reference on the
    /// file. Returns the address, or a negative errno: −EINVAL (bad flags, unsupported huge size, unaligned offset or
    /// hugetlbfs length, zero length), −ENOMEM (no address space, not enough huge pages to reserve).
    /// </summary>
    public long Mmap(ulong addr, ulong length, Prot prot, MapFlags flags, Inode? file = null, ulong offset = 0) =>
        WithMmapWriteLock(() => MmapLocked(addr, length, prot, flags, file, offset));

    private long MmapLocked(ulong addr, ulong length, Prot prot, MapFlags flags, Inode? file = null, ulong offset = 0)
    {
        if (length == 0) return -(int)Errno.EINVAL;
        bool shared = (flags & MapFlags.Shared) != 0, priv = (flags & MapFlags.Private) != 0;
        if (shared == priv) return -(int)Errno.EINVAL;
        if (file is { Evicted: true }) return -(int)Errno.EINVAL;
        if (file is DevZeroInode)
        {
            // mmap_zero(): MAP_PRIVATE → anonymous; MAP_SHARED → shmem_zero_setup() below (MAP_HUGETLB was never valid on /dev/zero).
            if ((flags & MapFlags.Hugetlb) != 0) return -(int)Errno.EINVAL;
            file = null;
            flags |= MapFlags.Anonymous;
        }
        bool anon = (flags & MapFlags.Anonymous) != 0;
        if (anon) file = null;
        if (!anon && file is null) return -(int)Errno.EINVAL;
        if (file is PageCacheInode && (flags & MapFlags.Hugetlb) != 0) return -(int)Errno.EINVAL;
        bool newShmemObject = false;
        Hstate? h = null;
        if ((flags & MapFlags.Hugetlb) != 0 && anon)
        {
            ulong? size = MapHuge.SizeOf(flags);
            h = size is ulong s ? _m.Hugetlb.Find(s) : _m.Hugetlb.Default;
            if (h is null) return -(int)Errno.EINVAL;
            length = (length + h.Size.Bytes - 1) & h.Mask; // ksys_mmap_pgoff(): len = ALIGN(len, huge_page_size(hs))
            file = Vfs.HugetlbMountFor(_m, h).CreateUnlinkedPublic();
        }
        else if (file is HugetlbfsInode hfile)
        {
            h = hfile.Hstate;
            // hugetlbfs_file_mmap(): offset aligned to the huge page; hugetlb_get_unmapped_area(): len aligned.
            if ((offset & ~h.Mask) != 0 || (length & ~h.Mask) != 0) return -(int)Errno.EINVAL;
        }
        else
        {
            if ((offset & (PageSize - 1)) != 0) return -(int)Errno.EINVAL;
            length = (length + PageSize - 1) & ~(PageSize - 1);
            newShmemObject = anon && shared;
        }
        ulong align = h?.Size.Bytes ?? PageSize;
        ulong start;
        if ((flags & MapFlags.Fixed) != 0)
        {
            if ((addr & (align - 1)) != 0 || addr + length > TaskSize || addr + length < addr) return -(int)Errno.EINVAL;
            if (!IsFree(addr, addr + length))
            {
                int rc = Munmap(addr, length);
                if (rc != 0) return rc;
            }
            start = addr;
        }
        else
        {
            start = addr != 0 && (addr & (align - 1)) == 0 && addr + length <= TaskSize && IsFree(addr, addr + length) ? addr : GetUnmappedArea(length, align);
            if (start == 0) return -(int)Errno.ENOMEM;
        }
        var vmFlags = VmFlags.MayRead | VmFlags.MayWrite | VmFlags.MayExec;
        if ((prot & Prot.Read) != 0) vmFlags |= VmFlags.Read;
        if ((prot & Prot.Write) != 0) vmFlags |= VmFlags.Write;
        if ((prot & Prot.Exec) != 0) vmFlags |= VmFlags.Exec;
        if (shared) vmFlags |= VmFlags.Shared | VmFlags.MayShare;
        if ((flags & MapFlags.NoReserve) != 0) vmFlags |= VmFlags.NoReserve;
        if (h is not null) vmFlags |= VmFlags.Hugetlb | VmFlags.DontExpand;
        // shmem_zero_setup(): a new unlinked shmem object of the mapping's size; the VMA's reference is its only one.
        if (newShmemObject) file = _m.Vfs.ShmemZeroSetup(length);
        var vma = new Vma(start, start + length, vmFlags, offset >> PageShift, file, h);
        if (h is not null && (vmFlags & VmFlags.NoReserve) == 0)
        {
            int rc = HugetlbReservePages(vma);
            if (rc != 0)
            {
                if (file is { References: 0 } orphan) orphan.MaybeEvict(_m);
                return rc;
            }
        }
        InsertVma(Attach(vma));
        if (h is not null && file is HugetlbfsInode hf && (vmFlags & VmFlags.Write) != 0 && hf.Size < offset + length) hf.Size = offset + length;
        if ((flags & MapFlags.Populate) != 0)
            for (ulong a = start; a < start + length; a += align) HandleMmFault(a, (prot & Prot.Write) != 0 ? FaultFlags.Write : FaultFlags.None);
        return (long)start;
    }

    /// <summary>
    /// hugetlb_reserve_pages(): shared mappings reserve the file indices not yet reserved or cached (region_chg on the
    /// inode's resv_map); private ones every page of the VMA. −ENOMEM when the pool cannot cover it.
    /// </summary>
    private int HugetlbReservePages(Vma vma)
    {
        var h = vma.Hstate!;
        ulong first = vma.HugecacheIndex(vma.Start, PageShift), count = vma.Bytes >> h.Shift;
        var needed = new List<ulong>();
        for (ulong idx = first; idx < first + count; idx++)
        {
            if (vma.MayShare && (vma.HugeFile.Reservations.Contains(idx) || vma.HugeFile.PageCache.ContainsKey(idx))) continue;
            needed.Add(idx);
        }
        int rc = _m.Hugetlb.HugetlbAcctMemory(h, needed.Count);
        if (rc != 0) return rc;
        foreach (ulong idx in needed)
        {
            if (vma.MayShare) vma.HugeFile.Reservations.Add(idx);
            else vma.PrivateReservations.Add(idx);
        }
        return 0;
    }

    /// <summary>
    /// munmap(): removes [addr, addr + len) from every VMA it touches (splitting them), zaps the mappings (each page
    /// loses its map count and the mapping's reference; the last reference frees it to the pool or buddy), frees
    /// empty page tables, and gives back unused private hugetlb reservations. −EINVAL for an unaligned start, a
    /// range beyond TASK_SIZE, or a split of a hugetlb VMA off a huge page boundary.
    /// </summary>
    public int Munmap(ulong addr, ulong len) =>
        WithMmapWriteLock(() => MunmapLocked(addr, len));

    private int MunmapLocked(ulong addr, ulong len)
    {
        if ((addr & (PageSize - 1)) != 0 || len == 0 || addr + len > TaskSize || addr + len < addr) return -(int)Errno.EINVAL;
        ulong end = addr + ((len + PageSize - 1) & ~(PageSize - 1));
        if (!HugetlbSplitAllowed(addr, end)) return -(int)Errno.EINVAL;
        foreach (var v in _vmas.Where(v => v.End > addr && v.Start < end).ToList())
        {
            ulong s = Math.Max(v.Start, addr), e = Math.Min(v.End, end);
            var removed = SplitAround(v, s, e);
            ZapRange(removed, s, e);
            if (removed.IsHugetlb && !removed.MayShare && removed.PrivateReservations.Count > 0)
                _m.Hugetlb.HugetlbAcctMemory(removed.Hstate!, -removed.PrivateReservations.Count); // hugetlb_vm_op_close()
            Detach(removed);
        }
        PageTable.FreeEmptyTables(addr, end);
        return 0;
    }

    /// <summary>mprotect(): changes VM_READ/WRITE/EXEC over whole pages, splitting VMAs, and write-protects present entries when write goes away.</summary>
    public int Mprotect(ulong addr, ulong len, Prot prot) =>
        WithMmapWriteLock(() => MprotectLocked(addr, len, prot));

    private int MprotectLocked(ulong addr, ulong len, Prot prot)
    {
        if ((addr & (PageSize - 1)) != 0) return -(int)Errno.EINVAL;
        ulong end = addr + ((len + PageSize - 1) & ~(PageSize - 1));
        for (ulong a = addr; a < end;)
        {
            var v = VmaAt(a);
            if (v is null) return -(int)Errno.ENOMEM;
            a = v.End;
        }
        if (!HugetlbSplitAllowed(addr, end)) return -(int)Errno.EINVAL;
        foreach (var v in _vmas.Where(v => v.End > addr && v.Start < end).ToList())
        {
            ulong s = Math.Max(v.Start, addr), e = Math.Min(v.End, end);
            var mid = SplitAround(v, s, e);
            mid.Flags = (mid.Flags & ~(VmFlags.Read | VmFlags.Write | VmFlags.Exec))
                | ((prot & Prot.Read) != 0 ? VmFlags.Read : 0) | ((prot & Prot.Write) != 0 ? VmFlags.Write : 0) | ((prot & Prot.Exec) != 0 ? VmFlags.Exec : 0);
            InsertVma(mid);
            if ((prot & Prot.Write) == 0) WriteProtectRange(s, e);
        }
        return 0;
    }

    /// <summary>madvise(): MADV_HUGEPAGE / MADV_NOHUGEPAGE set VM_HUGEPAGE / VM_NOHUGEPAGE; MADV_DONTNEED zaps.</summary>
    public int Madvise(ulong addr, ulong len, Madvise advice) =>
        WithMmapWriteLock(() => MadviseLocked(addr, len, advice));

    private int MadviseLocked(ulong addr, ulong len, Madvise advice)
    {
        if ((addr & (PageSize - 1)) != 0) return -(int)Errno.EINVAL;
        ulong end = addr + ((len + PageSize - 1) & ~(PageSize - 1));
        foreach (var v in _vmas.Where(v => v.End > addr && v.Start < end))
        {
            switch (advice)
            {
                case Mm.Madvise.HugePage: v.Flags = (v.Flags | VmFlags.HugePage) & ~VmFlags.NoHugePage; break;
                case Mm.Madvise.NoHugePage: v.Flags = (v.Flags | VmFlags.NoHugePage) & ~VmFlags.HugePage; break;
                case Mm.Madvise.DontNeed:
                    if (v.IsHugetlb) return -(int)Errno.EINVAL;
                    ZapRange(v, Math.Max(v.Start, addr), Math.Min(v.End, end));
                    break;
            }
        }
        return 0;
    }

    /// <summary>exit_mmap(): unmaps everything and frees the page table.</summary>
    public void Destroy()
    {
        foreach (var v in _vmas.ToList()) Munmap(v.Start, v.Bytes);
        PageTable.Destroy();
    }
}
