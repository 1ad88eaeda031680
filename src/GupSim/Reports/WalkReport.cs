using GupSim.Core;
using GupSim.Memory;
using GupSim.Pages;

namespace GupSim.Reports;

/// <summary>One step of `gupsim walk`: what <c>page + step</c> reaches. <c>kind</c> is page|misaligned|other|unmapped.</summary>
public sealed record WalkStep(ulong Step, string Addr, string Kind, ulong? Pfn, ulong ExpectedPfn, string Region)
{
    /// <summary>Whether the step reached the struct page it should have.</summary>
    public bool Correct => Kind == "page" && Pfn == ExpectedPfn;
}

/// <summary>The `gupsim walk` computation: start at pfn_to_page(P) and step page++ N − 1 times.</summary>
public static class PageWalk
{
    /// <summary>Runs the walk. Memory: one record per step, so callers bound <paramref name="count"/>.</summary>
    public static IReadOnlyList<WalkStep> Run(Machine m, Pfn start, ulong count)
    {
        var steps = new List<WalkStep>();
        PagePtr page = m.PfnToPage(start);
        for (ulong i = 0; i < count; i++)
        {
            var info = m.Describe(page);
            steps.Add(new WalkStep(i, LayoutReport.Hex(page.Address), KindName(info.Kind), info.Pfn, start.Value + i, info.Region));
            page = m.PageAdd(page, 1);
        }
        return steps;
    }

    /// <summary>The JSON name of an <see cref="AddressKind"/>.</summary>
    public static string KindName(AddressKind k) => k switch
    {
        AddressKind.Page => "page",
        AddressKind.Misaligned => "misaligned",
        AddressKind.Other => "other",
        _ => "unmapped",
    };
}
