using System.Globalization;
using GupSim.Core;
using GupSim.Gup;
using GupSim.Memory;
using GupSim.Mm;
using GupSim.Pages;
using GupSim.Scenario;

namespace GupSim.Check;

/// <summary>
/// The check engine of <c>gupsim check</c> (GupSim's own, not a kernel function): boots each machine shape through the
/// scenario runner (<see cref="CheckScenario.SetupLines"/>), then runs a configuration with the real GUP code
/// (<see cref="GetUserPages"/> with the configuration's strategy, gup_test's batch loop <see cref="GupTestLoop"/>)
/// and judges it: every pages[] entry against pfn_to_page() of the pfn the page table maps there
/// (<see cref="PagesOracle"/>), every head's counts back after the release (<see cref="PinBalance"/>), no oops, no
/// "BUG: Bad page state", no stray store (<see cref="StrayWrites"/>). Thread-safe: one machine per worker thread,
/// never shared; each thread keeps only its most recent shape.
/// </summary>
/// <remarks>
/// A configuration the shape cannot run is not a failure and not a pass: its verdict has no symptoms and a
/// <see cref="CheckVerdict.Detail"/> starting with <see cref="NotApplicablePrefix"/> (<see cref="IsNotApplicable"/>):
/// the hot-plug placement whose pool the allocators did not put in the hot-added memory, a setup step that failed
/// (the pool too small for the mapping, a hot-add refused), a range past the mapping's end.
/// </remarks>
public sealed class CheckEngine : ICheckRunner
{
    /// <summary>How a not-applicable verdict's <see cref="CheckVerdict.Detail"/> begins.</summary>
    public const string NotApplicablePrefix = "not applicable: ";

    /// <summary>How the detail of an oops inside the GUP calls begins (then the oops line).</summary>
    public const string OopsInGupPrefix = "oops in GUP: ";

    /// <summary>How the detail of an oops inside the release begins (then the oops line).</summary>
    public const string OopsInReleasePrefix = "oops in release: ";

    /// <summary>How the detail of a soft lockup inside the GUP calls begins (then the watchdog line).</summary>
    public const string LockupInGupPrefix = "soft lockup in GUP: ";

    /// <summary>How the detail of an oops or a soft lockup while the shape was set up begins (then the step and the line).</summary>
    public const string SetupPrefix = "in setup ";

    private readonly IReadOnlyList<ISubpageRecorder> _userRecorders;
    private readonly ThreadLocal<Worker> _workers = new(() => new Worker());
    private long _boots;

    /// <summary>An engine whose <c>--strategy</c> names may also be those of <paramref name="userRecorders"/> (from <c>--strategy-assembly</c>).</summary>
    public CheckEngine(IReadOnlyList<ISubpageRecorder> userRecorders)
    {
        ArgumentNullException.ThrowIfNull(userRecorders);
        _userRecorders = userRecorders;
    }

    /// <summary>The user recorders the engine was given.</summary>
    public IReadOnlyList<ISubpageRecorder> UserRecorders => _userRecorders;

    /// <summary>Machines booted so far, on every thread (a measure of the reset cost).</summary>
    public long Boots => Interlocked.Read(ref _boots);

    /// <summary>Whether <paramref name="verdict"/> says the configuration could not run on its shape (neither pass nor failure).</summary>
    public static bool IsNotApplicable(CheckVerdict verdict) =>
        verdict is { Failed: false, Detail: not null } && verdict.Detail.StartsWith(NotApplicablePrefix, StringComparison.Ordinal);

    /// <summary>
    /// Whether the run of <paramref name="verdict"/> stopped before its release: an oops or a soft lockup inside the GUP
    /// calls, or during the shape's setup (so there is nothing to release).
    /// </summary>
    public static bool StoppedBeforeRelease(CheckVerdict verdict) =>
        verdict?.Detail is string d && (d.StartsWith(OopsInGupPrefix, StringComparison.Ordinal)
            || d.StartsWith(LockupInGupPrefix, StringComparison.Ordinal) || d.StartsWith(SetupPrefix, StringComparison.Ordinal));

    /// <summary>One worker thread's machine and buffers.</summary>
    private sealed class Worker
    {
        public CheckShape? Shape;
        public Machine? Machine;
        public MmStruct? Mm;
        public ulong Addr, Len;
        public string? NotApplicable;
        public CheckVerdict? SetupFailure;
        public bool Used;
        public MachineCheckpoint? Checkpoint;
        public PagePtr[] Pages = [];
        public PagePtr[] Right = [];
    }

    /// <inheritdoc/>
    /// <exception cref="GupSimException">Thrown when the shape cannot boot at all (bad machine options, a missing --config file), or for an unknown strategy.</exception>
    public CheckVerdict Run(CheckConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var c = configuration;
        var w = _workers.Value!;
        Reset(w, c.Shape);
        if (w.NotApplicable is not null) return NotApplicable(w.NotApplicable);
        if (w.SetupFailure is not null) return w.SetupFailure;
        var m = w.Machine!;
        var mm = w.Mm!;
        int shift = m.Arch.PageShift;
        ulong startOff = CheckScenario.StartOffsetBytes(c, shift);
        long fit = (long)(((w.Len > startOff ? w.Len - startOff : 0) + m.Arch.PageSize - 1) >> shift);
        if (c.OffsetPages < 0 || c.ByteOffset < 0 || c.ByteOffset >= (long)m.Arch.PageSize || c.LengthPages <= 0 || c.LengthPages > fit)
            return NotApplicable(string.Create(CultureInfo.InvariantCulture,
                $"{c.LengthPages} pages from page {c.OffsetPages} (+{c.ByteOffset} bytes) do not fit in the {c.Shape.HugePages} x {ByteSize.Format(c.Shape.HugepageBytes)} mapping"));

        var gup = new GetUserPages(m, Strategy(c.Strategy, m));
        long length = c.LengthPages;
        if (w.Pages.Length < length) w.Pages = new PagePtr[length];
        var pages = w.Pages.AsSpan(0, (int)length);
        pages.Clear(); // gup_test's kvcalloc(): every entry starts NULL, whatever ran before on this thread
        ulong start = w.Addr + startOff;
        // Everything the run changes is measured from here: the machine has just been reset to the shape.
        w.Used = true;
        var before = PinBalance.Take(mm, w.Addr, w.Len);
        var stray0 = m.StrayWrites;
        int log0 = m.KernelLog.Count;
        var symptoms = CheckSymptoms.None;
        string? detail = null;
        var entry = CheckScenario.EntryPoint(c.Path);
        GupLoopResult loop;
        try
        {
            loop = GupTestLoop.Get(gup, mm, entry, start, length, c.Batch, pages);
        }
        catch (KernelOops e)
        {
            return Judge(m, CheckSymptoms.Oops, 0, -1, OopsInGupPrefix + e.Message, stray0, log0);
        }
        catch (KernelSoftLockup e)
        {
            return Judge(m, CheckSymptoms.SoftLockup, 0, -1, LockupInGupPrefix + e.Message, stray0, log0);
        }
        var done = pages[..(int)loop.Done];
        var oracle = PagesOracle.Check(mm, start, done);
        if (!oracle.AllCorrect)
        {
            symptoms |= CheckSymptoms.WrongPages;
            detail = oracle.FirstWrongText;
        }
        foreach (var mp in gup.Migrated) before.Moved(mp.OldPfn, mp.NewPfn, mp.NewRefcount, mp.NewPincount);
        ReadOnlySpan<PagePtr> right = [];
        if (!oracle.AllCorrect)
        {
            if (w.Right.Length < length) w.Right = new PagePtr[length];
            var r = w.Right.AsSpan(0, done.Length);
            r.Clear();
            PagesOracle.RightPages(mm, start, r);
            right = r;
        }
        try
        {
            GupTestLoop.PutBack(m, entry.Pin, done, right);
        }
        catch (KernelOops e)
        {
            return Judge(m, symptoms | CheckSymptoms.Oops, oracle.Wrong, oracle.FirstWrongIndex, OopsInReleasePrefix + e.Message, stray0, log0);
        }
        catch (KernelSoftLockup e)
        {
            return Judge(m, symptoms | CheckSymptoms.SoftLockup, oracle.Wrong, oracle.FirstWrongIndex, "soft lockup in release: " + e.Message, stray0, log0);
        }
        var diffs = before.Differences(pools: false);
        if (diffs.Count > 0)
        {
            symptoms |= CheckSymptoms.Leak;
            detail ??= "after release: " + diffs[0];
        }
        if (symptoms == CheckSymptoms.None && (loop.Error < 0 || loop.Done != length))
            detail = string.Create(CultureInfo.InvariantCulture,
                $"GUP took {loop.Done} of {length} pages{(loop.Error < 0 ? $", then -{(Errno)(-loop.Error)}" : "")}");
        return Judge(m, symptoms, oracle.Wrong, oracle.FirstWrongIndex, detail, stray0, log0);
    }

    /// <summary>Adds what the kernel log and the stray-store counters say since the run began, and builds the verdict.</summary>
    private static CheckVerdict Judge(Machine m, CheckSymptoms symptoms, long wrong, long firstWrong, string? detail, StrayWrites stray0, int log0)
    {
        var log = m.KernelLog;
        for (int i = log0; i < log.Count; i++)
        {
            if (!log[i].StartsWith("BUG: Bad page state", StringComparison.Ordinal)) continue;
            symptoms |= CheckSymptoms.BadPageState;
            detail ??= log[i];
            break;
        }
        var stray = m.StrayWrites - stray0;
        if (stray.N > 0)
        {
            symptoms |= CheckSymptoms.StrayWrites;
            detail ??= stray.ToLine();
        }
        if (symptoms == CheckSymptoms.None && detail is null) return CheckVerdict.Pass;
        return new CheckVerdict(symptoms, wrong, wrong > 0 ? firstWrong : -1, detail);
    }

    private static CheckVerdict NotApplicable(string why) => new(CheckSymptoms.None, 0, -1, NotApplicablePrefix + why);

    /// <summary>The strategy named <paramref name="name"/> on the machine's kernel: a user recorder of that name, else a built-in one; null = the version's own code.</summary>
    private GupStrategy? Strategy(string? name, Machine m)
    {
        return name is null ? null : StrategySelection.ByName(name, _userRecorders, m.Version);
    }

    /// <summary>
    /// The one place a worker's machine is made ready for the next configuration of <paramref name="shape"/>: a
    /// machine of that shape nothing has run on yet is used as it is; a used one is rolled back to the checkpoint taken
    /// right after its setup (<see cref="Machine.Rollback(MachineCheckpoint)"/>: struct pages, other kernel memory,
    /// counters, log, pool counters exactly as they were), and booted again only when Rollback refuses (the run changed
    /// state outside the journal: the page allocator, page tables, pool membership — a FOLL_LONGTERM migration, a
    /// page freed to the buddy). A shape whose setup was not applicable stays so (nothing ran on it).
    /// </summary>
    private void Reset(Worker w, CheckShape shape)
    {
        if (w.Shape == shape)
        {
            if (w.NotApplicable is not null || w.SetupFailure is not null) return;
            if (w.Machine is not null && (!w.Used || (w.Checkpoint is { } cp && w.Machine.Rollback(cp))))
            {
                w.Used = false;
                return;
            }
        }
        Boot(w, shape);
    }

    /// <summary>Boots <paramref name="shape"/> by running its setup lines through the scenario runner, and checks that the setup did what it says.</summary>
    private void Boot(Worker w, CheckShape shape)
    {
        w.Checkpoint?.Dispose();
        w.Checkpoint = null;
        w.Shape = null;
        w.Machine = null;
        w.Mm = null;
        w.NotApplicable = null;
        w.SetupFailure = null;
        w.Used = false;
        Interlocked.Increment(ref _boots);
        var runner = new ScenarioRunner(TextWriter.Null);
        w.Shape = shape;
        // Line by line, as a user would, stopping at the first step that did not do what it says.
        foreach (string line in CheckScenario.SetupLines(shape))
        {
            var step = runner.Run(line, "gupsim check setup").Steps[^1];
            // A kernel bug on the way (pool allocation, hot-add, fault-in) is a failure of every configuration of the shape;
            // a step the kernel refused (ENOMEM, EEXIST, fewer huge pages than asked) makes the shape not applicable.
            if ((step.Oops ?? step.SoftLockup) is { } bug)
            {
                var kind = step.Oops is not null ? CheckSymptoms.Oops : CheckSymptoms.SoftLockup;
                w.SetupFailure = new CheckVerdict(kind, 0, -1, $"{SetupPrefix}'{step.Text}': {bug}");
                return;
            }
            if (step.Result is not string r || r == "ok") continue;
            w.NotApplicable = $"setup '{step.Text}': {r}";
            return;
        }
        if (runner.Machine is not { } m || runner.Process is not { } mm || !runner.TryGetMapping(CheckScenario.MappingName, out ulong addr, out ulong len))
        {
            w.NotApplicable = "setup made no mapping";
            return;
        }
        if (CheckScenario.HotplugRange(shape) is PhysRange hot)
        {
            // Where the pool landed emerges from the allocators; a page outside the hot-added range makes the shape not applicable.
            for (ulong va = addr; va < addr + len; va += shape.HugepageBytes)
            {
                var leaf = mm.WalkLeaf(va);
                if (leaf is not { } l || !l.Entry.IsPresent) continue;
                ulong phys = l.Entry.Pfn.Value << m.Arch.PageShift;
                if (hot.Contains(phys)) continue;
                w.NotApplicable = string.Create(CultureInfo.InvariantCulture,
                    $"the huge page at pfn 0x{l.Entry.Pfn.Value:x} came from boot memory, not from the hot-added {hot}");
                return;
            }
        }
        (w.Machine, w.Mm, w.Addr, w.Len) = (m, mm, addr, len);
        w.Checkpoint = m.Checkpoint();
    }
}
