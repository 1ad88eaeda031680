using GupSim.Mm;
using GupSim.Pages;

namespace GupSim.Gup;

public sealed partial class GetUserPages
{
    /// <summary>
    /// writable_file_mapping_allowed() (mm/gup.c, v6.5+; true on earlier kernels): a write through a file mapping is
    /// refused only for FOLL_PIN|FOLL_LONGTERM, and then only when the VMA needs dirty tracking
    /// (vma_needs_dirty_tracking(): shared, writable, and a filesystem with ->page_mkwrite or writeback — not
    /// tmpfs or hugetlbfs). Called from check_vma_flags() for FOLL_WRITE on non-anonymous VMAs.
    /// </summary>
    private bool WritableFileMappingAllowed(Vma vma, FollFlags flags)
    {
        if (!_m.Version.HasLongtermFileWriteRule) return true;
        if ((flags & (FollFlags.Pin | FollFlags.Longterm)) != (FollFlags.Pin | FollFlags.Longterm)) return true;
        return !vma.NeedsDirtyTracking;
    }

    /// <summary>
    /// folio_fast_pin_allowed() (mm/gup.c, v6.5+; gup_fast_folio_allowed() later; true on earlier kernels), checked by
    /// gup-fast after it grabbed the folio and re-read the entry: unless the pin is FOLL_PIN|FOLL_LONGTERM|FOLL_WRITE
    /// anything goes; hugetlb folios pass; then page->mapping decides — NULL (truncated) fails, PAGE_MAPPING_ANON
    /// passes, other flag bits (movable, KSM without anon) fail, and an address_space passes only if it is shmem's.
    /// A refusal puts the folio back and stops gup-fast; the slow path then applies the VMA rule.
    /// </summary>
    private bool FolioFastPinAllowed(PagePtr folio, FollFlags flags)
    {
        if (!_m.Version.HasLongtermFileWriteRule) return true;
        const FollFlags all = FollFlags.Pin | FollFlags.Longterm | FollFlags.Write;
        if ((flags & all) != all) return true;
        if (_m.Hugetlb.IsHugetlbHead(_m.PageToPfn(folio).Value)) return true;
        ulong mapping = _m.StructPages.Mapping(folio);
        if (mapping == 0) return false;
        ulong mappingFlags = mapping & StructPages.PageMappingFlags;
        if (mappingFlags != 0) return (mappingFlags & StructPages.PageMappingAnon) != 0;
        return _m.Vfs.IsShmemMapping(mapping);
    }
}
