using GupSim.Hugetlb;

namespace GupSim.Mm;

/// <summary>
/// struct vm_area_struct: [Start, End) with vm_flags, vm_pgoff, the file it maps (a hugetlbfs inode) or none
/// (anonymous), and for hugetlb the hstate and, for private mappings, the reservation map (vma_resv_map()).
/// </summary>
public sealed class Vma
{
    internal Vma(ulong start, ulong end, VmFlags flags, ulong pgoff, HugetlbfsInode? file, Hstate? hstate)
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
    /// <summary>The hugetlbfs inode mapped, or null for anonymous memory (incl. MAP_HUGETLB|MAP_ANONYMOUS, which maps an unlinked inode: see <see cref="File"/>).</summary>
    public HugetlbfsInode? File { get; }
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
    /// <summary>vma_pages().</summary>
    public ulong Bytes => End - Start;

    /// <summary>vma_hugecache_offset(): the huge page index in the file for <paramref name="addr"/>.</summary>
    public ulong HugecacheIndex(ulong addr, int pageShift) =>
        ((addr - Start) >> Hstate!.Shift) + (Pgoff >> (Hstate.Shift - pageShift));

    internal Vma CloneRange(ulong start, ulong end, int pageShift)
    {
        var v = new Vma(start, end, Flags, Pgoff + ((start - Start) >> pageShift), File, Hstate);
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
