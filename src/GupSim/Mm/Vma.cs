using GupSim.Fs;
using GupSim.Hugetlb;

namespace GupSim.Mm;

/// <summary>
/// struct vm_area_struct: [Start, End) with vm_flags, vm_pgoff, the file it maps (an <see cref="Inode"/>: a page
/// cache file, a shmem object, or a hugetlbfs inode) or none (anonymous), its anon_vma once anonymous pages exist,
/// and for hugetlb the hstate and, for private mappings, the reservation map (vma_resv_map()).
/// </summary>
public sealed class Vma
{
    internal Vma(ulong start, ulong end, VmFlags flags, ulong pgoff, Inode? file, Hstate? hstate)
    {
        Start = start;
        End = end;
        Flags = flags;
        Pgoff = pgoff;
        File = file;
        Hstate = hstate;
    }

    /// <summary>vm_start.</summary>
    public ulong Start { get; internal set; }
    /// <summary>vm_end.</summary>
    public ulong End { get; internal set; }
    /// <summary>vm_flags.</summary>
    public VmFlags Flags { get; internal set; }
    /// <summary>vm_pgoff, in PAGE_SIZE units.</summary>
    public ulong Pgoff { get; internal set; }
    /// <summary>
    /// vm_file's inode, or null for anonymous memory. MAP_HUGETLB|MAP_ANONYMOUS maps an unlinked hugetlbfs inode and
    /// MAP_SHARED|MAP_ANONYMOUS an unlinked shmem object, so neither is anonymous (vma_is_anonymous()).
    /// </summary>
    public Inode? File { get; }
    /// <summary>The hugetlbfs inode of a hugetlb VMA.</summary>
    internal HugetlbfsInode HugeFile => (HugetlbfsInode)File!;
    /// <summary>The page cache inode of a non-hugetlb file VMA, or null.</summary>
    public PageCacheInode? PageCacheFile => File as PageCacheInode;
    /// <summary>The address space the VMA is in (set while the VMA is live).</summary>
    public MmStruct? Mm { get; internal set; }
    /// <summary>vma->anon_vma (anon_vma_prepare() on the first anonymous page), shared by the pieces of a split.</summary>
    internal AnonVma? AnonVma { get; set; }
    /// <summary>hstate_vma(), or null for non-hugetlb VMAs.</summary>
    public Hstate? Hstate { get; }
    /// <summary>Private hugetlb reservations: huge page indices (into the file) reserved at mmap and not yet consumed by a fault.</summary>
    internal HashSet<ulong> PrivateReservations { get; set; } = [];

    /// <summary>is_vm_hugetlb_page().</summary>
    public bool IsHugetlb => (Flags & VmFlags.Hugetlb) != 0;
    /// <summary>Whether the mapping is shared (VM_MAYSHARE).</summary>
    public bool MayShare => (Flags & VmFlags.MayShare) != 0;
    /// <summary>Anonymous memory (no file).</summary>
    public bool IsAnonymous => File is null;
    /// <summary>
    /// vma_needs_dirty_tracking() (mm/mmap.c, v6.5): shared and writable, and the file's filesystem has
    /// ->page_mkwrite or can write back — ext4, xfs, btrfs and other disk filesystems; not tmpfs or hugetlbfs.
    /// </summary>
    public bool NeedsDirtyTracking =>
        (Flags & (VmFlags.Write | VmFlags.Shared)) == (VmFlags.Write | VmFlags.Shared) && File is { } f && f.FsType.NeedsDirtyTracking();
    /// <summary>is_cow_mapping(): private and may be written.</summary>
    public bool IsCowMapping => (Flags & (VmFlags.Shared | VmFlags.MayWrite)) == VmFlags.MayWrite;
    /// <summary>linear_page_index(): the file page (PAGE_SIZE units) mapped at <paramref name="addr"/>.</summary>
    public ulong LinearPageIndex(ulong addr, int pageShift) => ((addr - Start) >> pageShift) + Pgoff;

    /// <summary>vma_pages().</summary>
    public ulong Bytes => End - Start;

    /// <summary>vma_hugecache_offset(): the huge page index in the file for <paramref name="addr"/>.</summary>
    public ulong HugecacheIndex(ulong addr, int pageShift) =>
        ((addr - Start) >> Hstate!.Shift) + (Pgoff >> (Hstate.Shift - pageShift));

    internal Vma CloneRange(ulong start, ulong end, int pageShift)
    {
        var v = new Vma(start, end, Flags, Pgoff + ((start - Start) >> pageShift), File, Hstate) { AnonVma = AnonVma };
        if (IsHugetlb && !MayShare)
        {
            ulong first = v.HugecacheIndex(start, pageShift), last = v.HugecacheIndex(end - 1, pageShift);
            foreach (ulong idx in PrivateReservations)
                if (idx >= first && idx <= last) v.PrivateReservations.Add(idx);
        }
        return v;
    }

    public override string ToString() => $"{Start:x}-{End:x} {Flags}";
}

/// <summary>struct anon_vma: its address is what page->mapping of an anonymous page holds (with PAGE_MAPPING_ANON); one per VMA lineage.</summary>
internal sealed class AnonVma(ulong address)
{
    /// <summary>The object's address.</summary>
    public ulong Address { get; } = address;
    /// <summary>Live VMAs that use it.</summary>
    public int Vmas { get; set; }
}
