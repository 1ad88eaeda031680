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
/// "BUG: Bad page state", no stray store (<see cref="StrayWrites"/>); with <see cref="CheckTeardown.FreePool"/> the
/// same after the mapping is unmapped and the pool freed. Thread-safe: a machine is used by one thread
/// at a time; after each configuration it is rolled back and kept idle for the next configuration of its shape on
/// any thread (<see cref="MaxIdleMachines"/>, <see cref="IdleMemoryBytes"/>), so a shape is booted again only when
/// a rollback refuses or its machine was dropped.
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

    /// <summary>How the detail of an oops inside <see cref="CheckTeardown.FreePool"/>'s munmap() and pool free begins (then the oops line).</summary>
    public const string OopsInTeardownPrefix = "oops in teardown: ";

    /// <summary>How the detail of a soft lockup inside the GUP calls begins (then the watchdog line).</summary>
    public const string LockupInGupPrefix = "soft lockup in GUP: ";

    /// <summary>
    /// How the detail of a short pass begins: GUP took fewer pages than asked, or a call ended with an errno, and
    /// what it returned was right (entries, counts after release). The kernel's contract allows it (get_user_pages()
    /// "may return fewer", an errno when none were taken; gup_test counts what it got), so it is no failure.
    /// </summary>
    public const string ShortPrefix = "GUP took ";

    /// <summary>How the detail of an oops or a soft lockup while the shape was set up begins (then the step and the line).</summary>
    public const string SetupPrefix = "in setup ";

    private readonly IReadOnlyList<ISubpageRecorder> _userRecorders;
    private readonly ThreadLocal<Worker> _workers = new(() => new Worker());
    private long _boots;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<CheckShape, byte> _bootedShapes = new();

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

    /// <summary>Whether <paramref name="verdict"/> is a short pass (<see cref="ShortPrefix"/>): fewer pages or an errno, everything returned right.</summary>
    public static bool IsShort(CheckVerdict verdict) =>
        verdict is { Failed: false, Detail: not null } && verdict.Detail.StartsWith(ShortPrefix, StringComparison.Ordinal);

    /// <summary>
    /// Whether the run of <paramref name="verdict"/> stopped before its release: an oops or a soft lockup inside the GUP
    /// calls, or during the shape's setup (so there is nothing to release).
    /// </summary>
    public static bool StoppedBeforeRelease(CheckVerdict verdict) =>
        verdict?.Detail is string d && (d.StartsWith(OopsInGupPrefix, StringComparison.Ordinal)
            || d.StartsWith(LockupInGupPrefix, StringComparison.Ordinal) || d.StartsWith(SetupPrefix, StringComparison.Ordinal));

    /// <summary>
    /// A booted shape: its machine (with the checkpoint taken after its setup) and what the setup found, or, for a
    /// shape whose setup was not applicable or failed, only that. One thread at a time uses a machine: it is taken
    /// out of the idle set for a run and put back, rolled back, after it.
    /// </summary>
    private sealed class Booted(CheckShape shape)
    {
        public readonly CheckShape Shape = shape;
        public Machine? Machine;
        public MmStruct? Mm;
        public ulong Addr, Len;
        public string? NotApplicable;
        public CheckVerdict? SetupFailure;
        public bool Used;
        public MachineCheckpoint? Checkpoint;
        /// <summary>The GUP instance of the machine and strategy name (reused while both stay).</summary>
        public GetUserPages? Gup;
        public string? GupStrategyName;
        /// <summary>When it was last put back (orders evictions: the least recently used goes first).</summary>
        public long LastUse;
        /// <summary>Bytes of struct page storage its machine holds (<see cref="StructPageStore.MaterialisedBytes"/>), measured when it was put back.</summary>
        public long Footprint;
    }

    /// <summary>One worker thread's buffers.</summary>
    private sealed class Worker
    {
        public PagePtr[] Pages = [];
        public PagePtr[] Right = [];
        /// <summary>The balance taken before each run, refilled in place.</summary>
        public PinBalance? Balance;
    }

    private readonly object _idleLock = new();
    /// <summary>Booted machines not in use, rolled back to their checkpoint, by shape.</summary>
    private readonly Dictionary<CheckShape, List<Booted>> _idle = [];
    /// <summary>Machines of each shape out for a run or being booted: another thread wanting the shape waits for one instead of booting it again.</summary>
    private readonly Dictionary<CheckShape, int> _inUse = [];
    private int _idleCount;
    /// <summary>The <see cref="Booted.Footprint"/>s of the idle machines, summed.</summary>
    private long _idleBytes;
    private long _useClock;
    /// <summary>Shapes whose setup was not applicable or failed: the verdict of every configuration of theirs, kept for good (no machine).</summary>
    private readonly Dictionary<CheckShape, Booted> _settled = [];

    /// <summary>
    /// Booted machines kept idle for their shape's next configuration, on any thread (default 24): the sweep's shapes
    /// and the shrinker's candidates are booted once each while they stay among the most recently used. Each holds a
    /// simulated machine's touched state (some MB to some tens of MB), so this and <see cref="IdleMemoryBytes"/> bound memory.
    /// </summary>
    public int MaxIdleMachines { get; init; } = 24;

    /// <summary>
    /// The struct page storage the idle machines may hold together (default 96 MiB, summed over their
    /// <see cref="StructPageStore.MaterialisedBytes"/>): beyond it, put-backs drop the least recently used idle machines
    /// until it fits, keeping at least the one just put back. Measured on the machines themselves, not on the managed
    /// heap, so garbage not yet collected does not drop machines the next configurations need (with the heap alone as
    /// the measure the default sweep booted 343 shapes again, most of them while shrinking).
    /// </summary>
    public long IdleMemoryBytes { get; init; } = 96L << 20;

    /// <summary>
    /// The backstop for what struct page storage does not count (page tables, allocator lists, other kernel data):
    /// while the managed heap, garbage included, is larger than this (default 224 MiB), each put-back also drops the
    /// least recently used idle machine.
    /// </summary>
    public long IdleHeapBytes { get; init; } = 224L << 20;

    /// <inheritdoc/>
    /// <exception cref="GupSimException">Thrown when the shape cannot boot at all (bad machine options, a missing --config file), or for an unknown strategy.</exception>
    public CheckVerdict Run(CheckConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var b = Acquire(configuration.Shape);
        bool finished = false;
        try
        {
            long t0 = CheckProfile.Start();
            var v = RunOn(b, configuration);
            CheckProfile.Add(CheckProfile.Slot.Run, t0);
            finished = true;
            return v;
        }
        finally
        {
            Release(b, finished);
        }
    }

    /// <summary>Runs <paramref name="c"/> on <paramref name="b"/> (acquired for its shape) and judges it.</summary>
    private CheckVerdict RunOn(Booted b, CheckConfiguration c)
    {
        var w = _workers.Value!;
        if (b.NotApplicable is not null) return NotApplicable(b.NotApplicable);
        if (b.SetupFailure is not null) return b.SetupFailure;
        var m = b.Machine!;
        var mm = b.Mm!;
        int shift = m.Arch.PageShift;
        ulong startOff = CheckScenario.StartOffsetBytes(c, shift);
        long fit = (long)(((b.Len > startOff ? b.Len - startOff : 0) + m.Arch.PageSize - 1) >> shift);
        if (c.OffsetPages < 0 || c.ByteOffset < 0 || c.ByteOffset >= (long)m.Arch.PageSize || c.LengthPages <= 0 || c.LengthPages > fit)
            return NotApplicable(string.Create(CultureInfo.InvariantCulture,
                $"{c.LengthPages} pages from page {c.OffsetPages} (+{c.ByteOffset} bytes) do not fit in the {c.Shape.HugePages} x {ByteSize.Format(c.Shape.HugepageBytes)} mapping"));

        if (b.Gup is null || b.GupStrategyName != c.Strategy)
            (b.Gup, b.GupStrategyName) = (new GetUserPages(m, Strategy(c.Strategy, m)), c.Strategy);
        var gup = b.Gup;
        int migrated0 = gup.MigratedCount, migrationFailures0 = gup.LongtermMigrationFailures;
        long length = c.LengthPages;
        if (w.Pages.Length < length) w.Pages = new PagePtr[length];
        var pages = w.Pages.AsSpan(0, (int)length);
        pages.Clear(); // gup_test's kvcalloc(): every entry starts NULL, whatever ran before on this thread
        ulong start = b.Addr + startOff;
        // Everything the run changes is measured from here: the machine has just been reset to the shape.
        b.Used = true;
        var before = w.Balance = w.Balance is null ? PinBalance.Take(mm, b.Addr, b.Len) : w.Balance.Retake(mm, b.Addr, b.Len);
        var stray0 = m.StrayWrites;
        int log0 = m.KernelLog.Count;
        var symptoms = CheckSymptoms.None;
        string? detail = null;
        long unpinnableHugePages = 0;
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
        if ((entry.Flags & FollFlags.Longterm) != 0 && gup.LongtermMigrationFailures == migrationFailures0
            && FirstUnpinnableHead(mm, start, done.Length, c.Shape.HugepageBytes) is var (unpinnable, headPfn, where))
        {
            symptoms |= CheckSymptoms.Unpinnable;
            unpinnableHugePages = unpinnable;
            detail ??= string.Create(CultureInfo.InvariantCulture,
                $"FOLL_LONGTERM returned {unpinnable} huge page(s) pinned in {where} (first head pfn 0x{headPfn:x}) with no failed migration");
        }
        if (gup.MigratedCount > migrated0)
        {
            var moved = gup.Migrated;
            for (int k = migrated0; k < moved.Count; k++) before.Moved(moved[k].OldPfn, moved[k].NewPfn, moved[k].NewRefcount, moved[k].NewPincount);
        }
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
            if (c.Path == CheckPath.FastLongtermUmem) IbUmem.Release(m, done, right, judgeStrays: true);
            else GupTestLoop.PutBack(m, entry.Pin, done, right);
        }
        catch (KernelOops e)
        {
            return Judge(m, symptoms | CheckSymptoms.Oops, oracle.Wrong, oracle.FirstWrongIndex, OopsInReleasePrefix + e.Message, stray0, log0);
        }
        catch (KernelSoftLockup e)
        {
            return Judge(m, symptoms | CheckSymptoms.SoftLockup, oracle.Wrong, oracle.FirstWrongIndex, "soft lockup in release: " + e.Message, stray0, log0);
        }
        if (before.FirstDifference(pools: false) is string diff)
        {
            symptoms |= CheckSymptoms.Leak;
            detail ??= "after release: " + diff;
        }
        if (c.Teardown == CheckTeardown.FreePool)
        {
            try
            {
                if (FreePool(m, mm, b.Addr, b.Len, c.Shape.HugepageBytes) is string left) detail ??= left;
            }
            catch (KernelOops e)
            {
                return Judge(m, symptoms | CheckSymptoms.Oops, oracle.Wrong, oracle.FirstWrongIndex, OopsInTeardownPrefix + e.Message, stray0, log0);
            }
            catch (KernelSoftLockup e)
            {
                return Judge(m, symptoms | CheckSymptoms.SoftLockup, oracle.Wrong, oracle.FirstWrongIndex, "soft lockup in teardown: " + e.Message, stray0, log0);
            }
        }
        if (symptoms == CheckSymptoms.None && (loop.Error < 0 || loop.Done != length))
            detail = string.Create(CultureInfo.InvariantCulture,
                $"{ShortPrefix}{loop.Done} of {length} pages{(loop.Error < 0 ? $", then -{(Errno)(-loop.Error)}" : "")}");
        var verdict = Judge(m, symptoms, oracle.Wrong, oracle.FirstWrongIndex, detail, stray0, log0);
        return unpinnableHugePages > 0 ? verdict with { UnpinnableHugePages = unpinnableHugePages } : verdict;
    }

    /// <summary>
    /// <see cref="CheckTeardown.FreePool"/>: munmap() of the mapping (mm/mmap.c; each huge page's last mapping
    /// reference goes, free_huge_page() puts it on the hstate's free list), then <c>echo 0 &gt; nr_hugepages</c>
    /// (mm/hugetlb.c set_max_huge_pages(), update_and_free_page() on each free page). Its stray stores and "Bad page
    /// state" reports are judged with the run's. Returns a line when the pool did not drain (a page still held: what
    /// the release left behind, already judged as a leak), else null.
    /// </summary>
    private static string? FreePool(Machine m, MmStruct mm, ulong addr, ulong len, ulong hugepageBytes)
    {
        int rc = mm.Munmap(addr, len);
        if (rc != 0) return "teardown: munmap: " + (Errno)(-rc);
        var h = m.Hugetlb.Find(hugepageBytes);
        if (h is null) return null;
        ulong before = h.NrHugePages;
        ulong left = m.Hugetlb.SetMaxHugePages(h, 0);
        return left == 0 ? null : string.Create(CultureInfo.InvariantCulture,
            $"teardown: nr_hugepages {before} -> {left} (asked 0): {left} huge page(s) still held");
    }

    /// <summary>
    /// The huge pages of the pinned range that a FOLL_LONGTERM pin may not keep, judged from the page table (the pfn
    /// mapped at each huge page), not from pages[]: a head in a MIGRATE_CMA pageblock, or from v5.13 (when
    /// is_pinnable_page() replaced is_migrate_cma_page(), <see cref="Arch.KernelVersion.LongtermPinsMigrateMovable"/>) in
    /// ZONE_MOVABLE. Null when there is none.
    /// </summary>
    private static (long Count, ulong FirstHeadPfn, string Where)? FirstUnpinnableHead(MmStruct mm, ulong start, long nrPages, ulong hugepageBytes)
    {
        if (nrPages <= 0) return null;
        var m = mm.Machine;
        int shift = m.Arch.PageShift;
        ulong first = start & ~(hugepageBytes - 1), end = (start & ~(m.Arch.PageSize - 1)) + ((ulong)nrPages << shift);
        long n = 0;
        ulong firstHead = 0;
        string where = "";
        for (ulong va = first; va < end; va += hugepageBytes)
        {
            if (mm.WalkLeaf(va) is not { } l || !l.Entry.IsPresent) continue;
            ulong head = l.Entry.Pfn.Value & ~((hugepageBytes >> shift) - 1);
            string? here = m.IsCmaPfn(head) ? "MIGRATE_CMA"
                : m.Version.LongtermPinsMigrateMovable && m.ZoneOfPfn(head)?.Type == Arch.ZoneType.Movable ? "ZONE_MOVABLE"
                : null;
            if (here is null) continue;
            if (n++ == 0) (firstHead, where) = (head, here);
        }
        return n > 0 ? (n, firstHead, where) : null;
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
    /// A machine of <paramref name="shape"/> ready for a configuration, for the calling thread alone: an idle one
    /// (rolled back to the checkpoint taken right after its setup when it was put back, so exactly as booted), handed
    /// to this thread (<see cref="Machine.AdoptCheckpoint"/>), else a new boot. A shape whose setup was not applicable
    /// or failed is booted once and its verdict kept.
    /// </summary>
    private Booted Acquire(CheckShape shape)
    {
        Booted? b = null;
        lock (_idleLock)
        {
            while (true)
            {
                if (_settled.TryGetValue(shape, out var settled)) return settled;
                if (_idle.TryGetValue(shape, out var list))
                {
                    b = list[^1];
                    list.RemoveAt(list.Count - 1);
                    if (list.Count == 0) _idle.Remove(shape);
                    _idleCount--;
                    _idleBytes -= b.Footprint;
                    break;
                }
                // One out already (a run, or its boot): wait for it to come back rather than boot the shape twice.
                // No deadlock: a thread holds one machine at a time and gives it back without waiting for another.
                if (_inUse.GetValueOrDefault(shape) == 0) break;
                Monitor.Wait(_idleLock);
            }
            _inUse[shape] = _inUse.GetValueOrDefault(shape) + 1;
        }
        if (b is not null)
        {
            b.Machine!.AdoptCheckpoint(b.Checkpoint!);
            return b;
        }
        try
        {
            long t0 = CheckProfile.Start();
            b = Boot(shape);
            CheckProfile.Add(shape.ChurnBytes > 0
                ? (CheckProfile.Shrinking ? CheckProfile.Slot.ShrinkBootChurned : CheckProfile.Slot.BootChurned)
                : (CheckProfile.Shrinking ? CheckProfile.Slot.ShrinkBootFresh : CheckProfile.Slot.BootFresh), t0);
            if (CheckProfile.Enabled && !_bootedShapes.TryAdd(shape, 0))
            {
                CheckProfile.Add(CheckProfile.Slot.Reboot, 0);
                if (CheckProfile.Shrinking) CheckProfile.Add(CheckProfile.Slot.ShrinkReboot, 0);
            }
        }
        catch
        {
            GiveBack(shape, null);
            throw;
        }
        if (b.Machine is null)
        {
            lock (_idleLock) _settled.TryAdd(shape, b);
            GiveBack(shape, null);
        }
        return b;
    }

    /// <summary>Ends one use of <paramref name="shape"/>, keeping <paramref name="keep"/> idle (null: nothing to keep), and wakes the threads waiting for a machine.</summary>
    private void GiveBack(CheckShape shape, Booted? keep)
    {
        List<Booted>? evicted = null;
        lock (_idleLock)
        {
            int n = _inUse[shape] - 1;
            if (n == 0) _inUse.Remove(shape);
            else _inUse[shape] = n;
            if (keep is not null)
            {
                keep.LastUse = ++_useClock;
                if (!_idle.TryGetValue(shape, out var list)) _idle[shape] = list = [];
                list.Add(keep);
                _idleCount++;
                _idleBytes += keep.Footprint;
                bool heapFull = _idleCount > 1 && GC.GetTotalMemory(false) > IdleHeapBytes;
                while (_idleCount > Math.Max(0, MaxIdleMachines) || (_idleCount > 1 && (_idleBytes > IdleMemoryBytes || heapFull)))
                {
                    heapFull = false;
                    Booted? lru = null;
                    foreach (var l in _idle.Values)
                        foreach (var x in l)
                            if (lru is null || x.LastUse < lru.LastUse) lru = x;
                    var from = _idle[lru!.Shape];
                    from.Remove(lru);
                    if (from.Count == 0) _idle.Remove(lru.Shape);
                    _idleCount--;
                    _idleBytes -= lru.Footprint;
                    (evicted ??= []).Add(lru);
                }
            }
            Monitor.PulseAll(_idleLock);
        }
        if (evicted is not null)
            foreach (var x in evicted) x.Checkpoint!.Dispose();
    }

    /// <summary>
    /// Puts <paramref name="b"/> back after a run: rolled back to its checkpoint
    /// (<see cref="Machine.Rollback(MachineCheckpoint)"/>: struct pages, other kernel memory, counters, log, pool
    /// counters exactly as they were) and kept idle, or dropped when Rollback refuses (the run changed state outside
    /// the journal: the page allocator, page tables, pool membership — a FOLL_LONGTERM migration, a page freed to the
    /// buddy) or the run ended in an exception (its state is unknown). Beyond <see cref="MaxIdleMachines"/> the least
    /// recently used idle machine is dropped.
    /// </summary>
    private void Release(Booted b, bool finished)
    {
        if (b.Machine is null) return;
        long t0 = CheckProfile.Start();
        bool keep = finished && (!b.Used || b.Machine.Rollback(b.Checkpoint!));
        if (b.Used) CheckProfile.Add(keep ? CheckProfile.Slot.Rollback : CheckProfile.Slot.RollbackRefused, t0);
        if (!keep)
        {
            b.Checkpoint!.Dispose();
        }
        else b.Footprint = b.Machine.Store.MaterialisedBytes;
        b.Used = false;
        GiveBack(b.Shape, keep ? b : null);
    }

    /// <summary>Boots <paramref name="shape"/> by running its setup lines through the scenario runner, and checks that the setup did what it says.</summary>
    private Booted Boot(CheckShape shape)
    {
        var w = new Booted(shape);
        Interlocked.Increment(ref _boots);
        var runner = new ScenarioRunner(TextWriter.Null);
        string? strayStep = null, verifyResult = null;
        var strayInSetup = default(StrayWrites);
        // Line by line, as a user would, stopping at the first step that did not do what it says.
        foreach (string line in CheckScenario.SetupLines(shape))
        {
            var stray0 = runner.Machine?.StrayWrites ?? default;
            var step = runner.Run(line, "gupsim check setup").Steps[^1];
            // uffd-copy's stores through wrong struct pages, and what the user then finds in the mapping, are a
            // failure of every configuration of the shape (judged after the verify step).
            if (runner.Machine is { } sm && sm.StrayWrites.N != stray0.N)
            {
                strayInSetup += sm.StrayWrites - stray0;
                strayStep ??= step.Text;
            }
            if (line.StartsWith(CheckScenario.VerifyStep + " ", StringComparison.Ordinal) && step.Oops is null)
            {
                verifyResult = step.Result;
                if (strayStep is not null) break;
            }
            // A kernel bug on the way (pool allocation, hot-add, fault-in) is a failure of every configuration of the shape;
            // a step the kernel refused (ENOMEM, EEXIST, fewer huge pages than asked) makes the shape not applicable.
            if ((step.Oops ?? step.SoftLockup) is { } bug)
            {
                var kind = step.Oops is not null ? CheckSymptoms.Oops : CheckSymptoms.SoftLockup;
                if (strayStep is not null) kind |= CheckSymptoms.StrayWrites;
                w.SetupFailure = new CheckVerdict(kind, 0, -1, $"{SetupPrefix}'{step.Text}': {bug}");
                return w;
            }
            if (strayStep is not null) continue; // on to the verify step, whatever the copy returned
            if (step.Result is not string r || r == "ok") continue;
            w.NotApplicable = $"setup '{step.Text}': {r}";
            return w;
        }
        if (strayStep is not null)
        {
            w.SetupFailure = new CheckVerdict(CheckSymptoms.StrayWrites, 0, -1,
                $"{SetupPrefix}'{strayStep}': {strayInSetup.ToLine()}" + (verifyResult is string vr ? $"; verify: {vr}" : ""));
            return w;
        }
        if (runner.Machine is not { } m || runner.Process is not { } mm || !runner.TryGetMapping(CheckScenario.MappingName, out ulong addr, out ulong len))
        {
            w.NotApplicable = "setup made no mapping";
            return w;
        }
        // Where the pool landed emerges from the allocators; a huge page outside the hot-added range, or outside the
        // hugetlb CMA area, makes the shape not applicable.
        var hot = CheckScenario.HotplugRange(shape);
        // hotplug-cma wants both: each page from the hot-added range or the CMA area, and at least one of each.
        bool cma = shape.Placement.UsesHugetlbCma();
        if (hot is not null || cma)
        {
            int fromCma = 0, fromHot = 0;
            for (ulong va = addr; va < addr + len; va += shape.HugepageBytes)
            {
                var leaf = mm.WalkLeaf(va);
                if (leaf is not { } l || !l.Entry.IsPresent) continue;
                ulong pfn = l.Entry.Pfn.Value;
                if (hot is PhysRange h && h.Contains(pfn << m.Arch.PageShift)) { fromHot++; continue; }
                if (cma && m.IsCmaPfn(pfn)) { fromCma++; continue; }
                string from = hot is null ? "outside the hugetlb CMA area"
                    : cma ? $"boot memory outside the hugetlb CMA area, not from it or the hot-added {hot}"
                    : $"boot memory, not from the hot-added {hot}";
                w.NotApplicable = FormattableString.Invariant($"the huge page at pfn 0x{pfn:x} came from {from}");
                return w;
            }
            if (hot is not null && cma && (fromCma == 0 || fromHot == 0))
            {
                w.NotApplicable = FormattableString.Invariant($"{fromCma} huge page(s) came from the hugetlb CMA area and {fromHot} from the hot-added {hot}: the pool is not in two parts");
                return w;
            }
        }
        (w.Machine, w.Mm, w.Addr, w.Len) = (m, mm, addr, len);
        w.Checkpoint = m.Checkpoint();
        return w;
    }
}
