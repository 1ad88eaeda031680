using System.Collections.Concurrent;
using GupSim.Core;
using GupSim.Arch;

namespace GupSim.Check;

/// <summary>
/// Shrinks a failing <c>gupsim check</c> configuration to a minimal case that still fails with the same kind
/// (GupSim's own, not a kernel function): greedy, deterministic passes in a fixed order, repeated until none changes
/// anything — no churn if it fails without, else the least that fails, searched from below; no teardown if it fails
/// without; pages faulted in if it fails without UFFDIO_COPY; for wrong pages the one call that recorded the first wrong entry, cut to
/// the fewest pages before it; the shortest length; the smallest batch; the smallest offset (and byte offset); the
/// fewest huge pages; the smallest RAM (whole memory sections). Every candidate is judged by the runner, so what is
/// minimal emerges from the model, never from knowing the bug.
/// </summary>
public sealed class CheckShrinker : ICheckShrinker
{
    private readonly ICheckRunner _runner;

    /// <summary>A shrinker judging candidates with <paramref name="runner"/> (a <see cref="CheckEngine"/>).</summary>
    public CheckShrinker(ICheckRunner runner)
    {
        ArgumentNullException.ThrowIfNull(runner);
        _runner = runner;
    }

    /// <summary>
    /// Every verdict this shrinker got or is getting from the runner, by configuration (null: the runner refused it as
    /// bad input). A lazy per configuration, so two groups shrunk side by side that reach the same candidate run it once.
    /// </summary>
    private readonly ConcurrentDictionary<CheckConfiguration, Lazy<CheckVerdict?>> _verdicts = new();
    private long _cacheHits;

    /// <summary>Candidates answered from the verdicts already judged instead of being run again, over every <see cref="Shrink"/> of this shrinker.</summary>
    public long CachedVerdicts => Interlocked.Read(ref _cacheHits);

    /// <summary>Configurations this shrinker has had the runner judge (each once).</summary>
    public int JudgedConfigurations => _verdicts.Count;

    /// <summary>Candidates judged by the last <see cref="Shrink"/> on this thread (a measure of its cost).</summary>
    [ThreadStatic]
    private static int t_tried;

    /// <summary>Candidates the last <see cref="Shrink"/> on the calling thread judged.</summary>
    public static int LastCandidates => t_tried;

    /// <inheritdoc/>
    public CheckMinimalCase Shrink(CheckConfiguration failing, CheckVerdict verdict)
    {
        ArgumentNullException.ThrowIfNull(failing);
        ArgumentNullException.ThrowIfNull(verdict);
        t_tried = 0;
        string? kind = verdict.Symptoms.Kind();
        var cur = Normalize(failing);
        var curV = verdict;
        if (kind is null) return Minimal(cur, curV);
        int pageShift = ArchProfiles.Get(cur.Shape.Arch, cur.Shape.Kernel).PageShift;
        long pphp = (long)(cur.Shape.HugepageBytes >> pageShift);
        ulong sectionBytes = 1UL << ArchProfiles.Get(cur.Shape.Arch, cur.Shape.Kernel).SectionSizeBits;

        bool Try(CheckConfiguration cand)
        {
            cand = Normalize(cand);
            if (cand == cur) return false;
            t_tried++;
            // A candidate another pass, round or group already judged (the runner is deterministic) is not run again.
            if (Judge(cand) is not CheckVerdict v) return false;
            if (!v.Failed || v.Symptoms.Kind() != kind) return false;
            (cur, curV) = (cand, v);
            return true;
        }

        // Lowest value in [lo, hi] for which make(value) still fails, assuming hi does (bisection; deterministic).
        void Lowest(long lo, long hi, Func<long, CheckConfiguration> make)
        {
            while (lo < hi)
            {
                long mid = lo + ((hi - lo) / 2);
                if (!Try(make(mid))) lo = mid + 1;
                else hi = mid;
            }
        }

        for (int round = 0; round < 4; round++)
        {
            var start = cur;
            // 1. No churn if it fails without; else as little as still fails (in 64 MiB steps), searched from below:
            // 1, 2, 4, … steps until one fails, then bisected under it. Whether a history breaks the memmaps' adjacency
            // comes and goes with its length, so the search from below finds the small churns that fail, and each
            // candidate it boots costs about what its churn costs (a lived-in boot is mostly the churn itself).
            if (cur.Shape.ChurnBytes > 0 && !Try(cur with { Shape = cur.Shape with { ChurnBytes = 0 } }))
            {
                const ulong step = 64UL << 20;
                var c0 = cur;
                CheckConfiguration Churn(long k) => c0 with { Shape = c0.Shape with { ChurnBytes = (ulong)k * step } };
                long steps = (long)((c0.Shape.ChurnBytes + step - 1) / step), lo = 1, hi = steps;
                for (long t = 1; t < steps; t *= 2)
                {
                    if (Try(Churn(t)))
                    {
                        hi = t;
                        break;
                    }
                    lo = t + 1;
                }
                Lowest(lo, hi, Churn);
            }
            // 1b. Nothing after the release if it fails without (--teardown free-pool: the pool freed).
            if (cur.Teardown != CheckTeardown.Keep) Try(cur with { Teardown = CheckTeardown.Keep });
            // 1c. Pages faulted in, not copied in through userfaultfd, if it fails that way too.
            if (cur.Shape.Populate != CheckPopulate.Fault) Try(cur with { Shape = cur.Shape with { Populate = CheckPopulate.Fault } });
            // 2. Wrong pages: the call that recorded the first wrong entry, alone, from as few pages before it as still fail.
            if (curV.FirstWrongIndex >= 0)
            {
                var c0 = cur;
                long p = c0.OffsetPages + curV.FirstWrongIndex; // the first wrong page, from the mapping's start
                long batch = c0.Batch <= 0 ? c0.LengthPages : c0.Batch;
                long callStart = c0.OffsetPages + (curV.FirstWrongIndex / batch * batch);
                CheckConfiguration Window(long j) => c0 with { OffsetPages = p - j, LengthPages = j + 1, Batch = j + 1, ByteOffset = j == p - c0.OffsetPages ? c0.ByteOffset : 0 };
                if (Try(Window(p - callStart))) Lowest(0, p - callStart, Window);
            }
            // 3. The shortest length from the same start.
            {
                var c0 = cur;
                Lowest(1, c0.LengthPages, l => c0 with { LengthPages = l, Batch = Math.Min(c0.Batch, l) });
            }
            // 4. The smallest batch.
            {
                var c0 = cur;
                Lowest(1, c0.Batch, b => c0 with { Batch = b });
            }
            // 5. The smallest offset: from the mapping's start, else in descending power-of-two steps.
            if (cur.OffsetPages > 0 && !Try(cur with { OffsetPages = 0 }))
            {
                for (long d = HighestPowerOfTwo(cur.OffsetPages); d > 0; d /= 2)
                    while (cur.OffsetPages >= d && Try(cur with { OffsetPages = cur.OffsetPages - d })) { }
            }
            if (cur.ByteOffset > 0 && !Try(cur with { ByteOffset = 0 }))
            {
                var c0 = cur;
                Lowest(1, c0.ByteOffset, b => c0 with { ByteOffset = b });
            }
            // 6. The fewest huge pages: the same offset, or the same distance from the mapping's end.
            for (int n = 1; n < cur.Shape.HugePages; n++)
            {
                var c0 = cur;
                var shape = c0.Shape with { HugePages = n };
                long fromEnd = c0.OffsetPages - ((c0.Shape.HugePages - n) * pphp);
                if (c0.OffsetPages + c0.LengthPages <= n * pphp && Try(c0 with { Shape = shape })) break;
                if (fromEnd >= 0 && Try(c0 with { Shape = shape, OffsetPages = fromEnd })) break;
            }
            // 7. The smallest RAM, in whole sections (the boot layout is the arch's default for --mem).
            if (cur.Shape.IomemFile is null && cur.Shape.RamBytes > sectionBytes)
            {
                var c0 = cur;
                Lowest(1, (long)(c0.Shape.RamBytes / sectionBytes), k => c0 with { Shape = c0.Shape with { RamBytes = (ulong)k * sectionBytes } });
            }
            if (cur == start) break;
        }
        return Minimal(cur, curV);
    }

    /// <summary>
    /// The runner's verdict on <paramref name="c"/>, or null when the runner refused it as bad input (a
    /// <see cref="GupSimException"/>: a machine the shape cannot be, e.g. more --churn than a smaller RAM has free).
    /// Each configuration is run once per shrinker: the runner's verdict depends on the configuration alone (every run
    /// starts from the shape's state right after its setup), so a candidate judged before — in an earlier pass or
    /// round, or while shrinking another group — gets the verdict it got then.
    /// </summary>
    internal CheckVerdict? Judge(CheckConfiguration c)
    {
        var mine = new Lazy<CheckVerdict?>(() => RunOnce(c), LazyThreadSafetyMode.ExecutionAndPublication);
        var verdict = _verdicts.GetOrAdd(c, mine);
        if (!ReferenceEquals(verdict, mine))
        {
            Interlocked.Increment(ref _cacheHits);
            CheckProfile.Add(CheckProfile.Slot.CandidateCacheHit, 0);
        }
        return verdict.Value;
    }

    /// <summary>The runner's verdict on <paramref name="c"/>, run now (null: refused as bad input).</summary>
    private CheckVerdict? RunOnce(CheckConfiguration c)
    {
        long t0 = CheckProfile.Start();
        try
        {
            return _runner.Run(c);
        }
        catch (GupSimException)
        {
            return null;
        }
        finally
        {
            CheckProfile.Add(CheckProfile.Slot.ShrinkCandidate, t0);
        }
    }

    private static long HighestPowerOfTwo(long v) => v <= 0 ? 0 : 1L << (63 - (int)long.LeadingZeroCount(v));

    /// <summary>A batch of −1 or at least the length is one call: spelled as the length.</summary>
    private static CheckConfiguration Normalize(CheckConfiguration c) =>
        c.Batch <= 0 || c.Batch > c.LengthPages ? c with { Batch = c.LengthPages } : c;

    private CheckMinimalCase Minimal(CheckConfiguration c, CheckVerdict v)
    {
        var user = _runner is CheckEngine e ? e.UserRecorders : null;
        var shown = v.Failed ? GupTestRunThatShows(c, v.Symptoms.Kind()) : null;
        return new CheckMinimalCase(c, v, CheckScenario.Script(c, v, user), shown is null ? null : CheckScenario.GupTestCommand(shown, user));
    }

    /// <summary>
    /// A gup_test run (the whole mapping from its first page, in calls starting at k × n) that fails with
    /// <paramref name="kind"/> like the minimal case <paramref name="c"/>, judged by the runner; null when none of the
    /// candidates does. Candidates for n: the minimal case's batch, then the smallest n ≥ its length that divides its
    /// offset (so one call starts exactly where the minimal case does, and covers it). gup_test cannot start at a byte
    /// offset, from a hot-added pool, or run fast FOLL_LONGTERM (<see cref="CheckScenario.IsGupTestRun"/>).
    /// </summary>
    private CheckConfiguration? GupTestRunThatShows(CheckConfiguration c, string? kind)
    {
        if (c.ByteOffset != 0) return null;
        long whole = CheckScenario.MappingPages(c.Shape);
        long length = Math.Max(1, c.LengthPages);
        var batches = new List<long>(2) { c.Batch <= 0 ? whole : c.Batch };
        if (c.OffsetPages > 0)
            for (long n = length; n <= c.OffsetPages; n++)
                if (c.OffsetPages % n == 0)
                {
                    if (n != batches[0]) batches.Add(n);
                    break;
                }
        foreach (long n in batches)
        {
            var run = c with { OffsetPages = 0, LengthPages = whole, Batch = Math.Min(n, whole) };
            if (!CheckScenario.IsGupTestRun(run)) return null;
            if (Judge(run) is not CheckVerdict v) return null;
            if (v.Failed && v.Symptoms.Kind() == kind) return run;
        }
        return null;
    }
}
