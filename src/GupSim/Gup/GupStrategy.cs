using GupSim.Arch;
using GupSim.Core;

namespace GupSim.Gup;

/// <summary>The shape of follow_hugetlb_page()'s loop (mm/hugetlb.c: v5.11; 0fa5bc4023c1 and 82e5d378b0e4, v5.12).</summary>
public enum HugetlbSlowVariant
{
    /// <summary>v5.11: per subpage, <c>pages[i] = mem_map_offset(head, pfn_offset)</c> and try_grab_page() each.</summary>
    PerSubpage,
    /// <summary>0fa5bc4023c1 (patch 1): the same loop, one try_grab_compound_head() per huge page.</summary>
    GrabOncePerHugePage,
    /// <summary>82e5d378b0e4 (patch 2) and later: refs = min3(...), record_subpages_vmas() with the recorder, one grab.</summary>
    RecordSubpages,
    /// <summary>v6.6+ (4849807114b8): hugetlb through follow_page_mask() / hugetlb_follow_page_mask(); __get_user_pages records page_increm subpages.</summary>
    FollowPageMask,
}

/// <summary>
/// Which code GUP runs: the slow path's follow_hugetlb_page() shape and recorder, gup-fast's recorder and first-page
/// computation, and whether refs come from the aligned vaddr (d08af0a59684). <see cref="ForVersion"/> gives each
/// kernel version's own; <see cref="Named"/> the overrides <c>--strategy</c> accepts.
/// </summary>
public sealed record GupStrategy(
    string Name,
    HugetlbSlowVariant Slow,
    ISubpageRecorder SlowRecorder,
    ISubpageRecorder FastRecorder,
    bool FastFirstPageByNthPage,
    bool RefsFromAlignedVaddr)
{
    /// <summary>The code of <paramref name="v"/> (mm/gup.c, mm/hugetlb.c; the commits on each <see cref="KernelVersion"/> property).</summary>
    public static GupStrategy ForVersion(KernelVersion v)
    {
        bool fastNth = v >= KernelVersion.V5_18 && !v.HasMaxFolioOrderInvariant;
        var fast = fastNth ? SubpageRecorders.NthPage : SubpageRecorders.PagePlusPlus;
        bool aligned = v >= KernelVersion.V5_14;
        string name = "v" + v;
        if (v < KernelVersion.V5_12) return new(name, HugetlbSlowVariant.PerSubpage, SubpageRecorders.MemMapOffsetAligned, fast, fastNth, aligned);
        if (v < KernelVersion.V6_1) return new(name, HugetlbSlowVariant.RecordSubpages, SubpageRecorders.MemMapOffsetMerged, fast, fastNth, aligned);
        if (!v.HugetlbGupThroughFollowPageMask) return new(name, HugetlbSlowVariant.RecordSubpages, SubpageRecorders.NthPage, fast, fastNth, aligned);
        if (v.HasMaxFolioOrderInvariant) return new(name, HugetlbSlowVariant.FollowPageMask, SubpageRecorders.PagePlusPlus, fast, fastNth, aligned);
        // v6.6: hugetlb_follow_page_mask() did page += offset until 426056efe835 switched to nth_page(); that commit
        // reached Linus's tree in the v6.7 merge window (the 6.6.y stable backport came later; v6.5 never had the path).
        var rec = v.HugetlbFollowPageMaskUsesNthPage ? SubpageRecorders.NthPage : FollowPageMaskPointerBase;
        return new(name, HugetlbSlowVariant.FollowPageMask, rec, fast, fastNth, aligned);
    }

    /// <summary>v6.6's hugetlb_follow_page_mask(): <c>page += offset</c>, then __get_user_pages()' nth_page(page, j) per subpage.</summary>
    internal static ISubpageRecorder FollowPageMaskPointerBase { get; } = new PointerBaseNthRecorder();

    /// <summary>The names <c>--strategy</c> accepts.</summary>
    public static IReadOnlyList<string> Names { get; } = ["v5.11", "patch1", "v1-page++", "merged", "nth_page", "page++", "section-run"];

    /// <summary>
    /// A named strategy on top of <paramref name="v"/>'s code: "v5.11" and "patch1" select the slow loop shape; the
    /// others select the recorder of both paths (82e5d378b0e4's loop shape for the slow path).
    /// </summary>
    /// <exception cref="GupSimException">Thrown for an unknown name.</exception>
    public static GupStrategy Named(string name, KernelVersion v)
    {
        var baseline = ForVersion(v);
        return name switch
        {
            "v5.11" => baseline with { Name = name, Slow = HugetlbSlowVariant.PerSubpage, SlowRecorder = SubpageRecorders.MemMapOffsetAligned },
            "patch1" => baseline with { Name = name, Slow = HugetlbSlowVariant.GrabOncePerHugePage, SlowRecorder = SubpageRecorders.MemMapOffsetAligned },
            "v1-page++" or "page++" => WithRecorder(baseline, name, SubpageRecorders.PagePlusPlus),
            "merged" => WithRecorder(baseline, name, SubpageRecorders.MemMapOffsetMerged),
            "nth_page" => WithRecorder(baseline, name, SubpageRecorders.NthPage),
            "section-run" => WithRecorder(baseline, name, SubpageRecorders.SectionRun),
            _ => throw new GupSimException($"unknown strategy '{name}': use one of {string.Join(", ", Names)}, or --strategy-assembly"),
        };
    }

    /// <summary>A user recorder for both paths, on 82e5d378b0e4's loop shape.</summary>
    public static GupStrategy WithRecorder(GupStrategy baseline, string name, ISubpageRecorder recorder) =>
        baseline with
        {
            Name = name,
            Slow = baseline.Slow == HugetlbSlowVariant.FollowPageMask ? HugetlbSlowVariant.FollowPageMask : HugetlbSlowVariant.RecordSubpages,
            SlowRecorder = recorder,
            FastRecorder = recorder,
        };

    private sealed class PointerBaseNthRecorder : ISubpageRecorder
    {
        public string Name => "follow_page_mask-page+=";

        public void Record(in SubpageRecordContext ctx, Span<Pages.PagePtr> pages)
        {
            var m = ctx.Machine;
            var basePage = m.PageAdd(ctx.Head, (long)ctx.FirstSubpage);
            for (int j = 0; j < pages.Length; j++) pages[j] = m.NthPage(basePage, (ulong)j);
        }
    }
}
