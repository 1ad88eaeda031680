using GupSim.Core;
using GupSim.Gup;
using GupSim.Pages;

namespace GupSim.Samples.Recorder;

/// <summary>
/// A sample user recorder: <c>pfn_to_page()</c> for every subpage. Right on every memory model and placement, and
/// as slow as that sounds on classic SPARSEMEM. Build this project and run, e.g.
/// <c>gupsim scenario FILE</c> with <c>strategy-assembly samples/.../GupSim.Samples.Recorder.dll</c> and
/// <c>pin A strategy=pfn-each</c>.
/// </summary>
public sealed class PfnEachRecorder : ISubpageRecorder
{
    /// <inheritdoc/>
    public string Name => "pfn-each";

    /// <inheritdoc/>
    public void Record(in SubpageRecordContext ctx, Span<PagePtr> pages)
    {
        ulong pfn = ctx.HeadPfn.Value + ctx.FirstSubpage;
        for (int i = 0; i < pages.Length; i++) pages[i] = ctx.Machine.PfnToPage(Pfn.FromUInt64(pfn + (ulong)i));
    }
}
