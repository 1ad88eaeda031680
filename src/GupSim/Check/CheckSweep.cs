using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace GupSim.Check;

/// <summary>How far a sweep has got: configurations done of the total, and failures so far.</summary>
public readonly record struct CheckProgress(long Done, long Total, long Failures);

/// <summary>
/// Runs a <see cref="CheckSpace"/> (or a shard of one) over an <see cref="ICheckRunner"/> on every core: the
/// configurations of one machine shape stay together on one thread (so a worker boots a shape once), shapes are
/// handed out largest first to whichever thread is free. Then each group's first failure — lowest global index, so
/// every shard and every core count picks the same one — is shrunk once. The result does not depend on the number of
/// threads: each verdict is the runner's for its configuration alone, and everything after is ordered by index.
/// </summary>
public sealed class CheckSweep
{
    private readonly ICheckRunner _runner;
    private readonly ICheckShrinker _shrinker;

    /// <summary>A sweep that judges with <paramref name="runner"/> and shrinks with <paramref name="shrinker"/>.</summary>
    public CheckSweep(ICheckRunner runner, ICheckShrinker shrinker)
    {
        ArgumentNullException.ThrowIfNull(runner);
        ArgumentNullException.ThrowIfNull(shrinker);
        _runner = runner;
        _shrinker = shrinker;
    }

    /// <summary>Threads to run on (default: every core).</summary>
    public int MaxDegreeOfParallelism { get; init; } = Environment.ProcessorCount;

    /// <summary>Called (one call at a time, from any thread) as configurations finish: about 200 times a sweep and at the end.</summary>
    public Action<CheckProgress>? Progress { get; init; }

    /// <summary>Runs every entry of <paramref name="space"/> and summarises.</summary>
    public CheckSummary Run(CheckSpace space)
    {
        ArgumentNullException.ThrowIfNull(space);
        var clock = Stopwatch.StartNew();
        var entries = space.Entries;
        int total = entries.Count;
        var verdicts = new CheckVerdict[total];

        // Runs of one shape: [start, end) in entry order.
        var runs = CheckSpace.ShapeRuns(entries);
        runs.Sort((a, b) => (b.End - b.Start) != (a.End - a.Start) ? (b.End - b.Start).CompareTo(a.End - a.Start) : a.Start.CompareTo(b.Start));

        long done = 0, failures = 0;
        long step = Math.Max(1, total / 200);
        var progressLock = new object();
        var progress = Progress;
        var options = new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, MaxDegreeOfParallelism) };
        long sweep0 = CheckProfile.Start();
        try
        {
            Parallel.ForEach(Partitioner.Create(runs, EnumerablePartitionerOptions.NoBuffering), options, run =>
            {
                for (int i = run.Start; i < run.End; i++)
                {
                    var v = _runner.Run(entries[i].Configuration);
                    verdicts[i] = v;
                    long f = v.Failed ? Interlocked.Increment(ref failures) : Interlocked.Read(ref failures);
                    long d = Interlocked.Increment(ref done);
                    if (progress is not null && (d % step == 0 || d == total))
                        lock (progressLock) progress(new CheckProgress(d, total, f));
                }
            });
        }
        catch (AggregateException e) when (e.InnerExceptions.Count > 0)
        {
            ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
        }

        CheckProfile.Add(CheckProfile.Slot.SweepPhase, sweep0);
        // Each group's first failure by global index (entries are in index order).
        var first = new Dictionary<CheckGroupKey, int>();
        var firstOrder = new List<CheckGroupKey>();
        for (int i = 0; i < total; i++)
        {
            if (!verdicts[i].Failed) continue;
            var key = CheckGroupKey.Of(entries[i].Configuration);
            if (first.TryAdd(key, i)) firstOrder.Add(key);
        }
        // Groups whose first failures share a shape are shrunk next to each other, so the cores take them together:
        // their candidates are mostly the same shapes, which the runner boots once and keeps (CheckEngine waits for
        // a shape another thread has out rather than boot it twice). The largest such sets first.
        var byShape = new Dictionary<CheckShape, List<CheckGroupKey>>();
        var shapes = new List<List<CheckGroupKey>>();
        foreach (var key in firstOrder)
        {
            var shape = entries[first[key]].Configuration.Shape;
            if (!byShape.TryGetValue(shape, out var list))
            {
                byShape.Add(shape, list = []);
                shapes.Add(list);
            }
            list.Add(key);
        }
        shapes.Sort((a, b) => b.Count != a.Count ? b.Count.CompareTo(a.Count) : first[a[0]].CompareTo(first[b[0]]));
        var order = new List<CheckGroupKey>(firstOrder.Count);
        foreach (var keys in shapes) order.AddRange(keys);
        var minimal = new ConcurrentDictionary<CheckGroupKey, (long Index, CheckMinimalCase Case)>();
        long shrink0 = CheckProfile.Start();
        CheckProfile.Shrinking = true;
        try
        {
            Parallel.ForEach(Partitioner.Create(order, EnumerablePartitionerOptions.NoBuffering), options, key =>
            {
                int i = first[key];
                long t0 = CheckProfile.Start();
                minimal[key] = (entries[i].Index, _shrinker.Shrink(entries[i].Configuration, verdicts[i]));
                CheckProfile.Add(CheckProfile.Slot.Shrink, t0);
            });
        }
        catch (AggregateException e) when (e.InnerExceptions.Count > 0)
        {
            ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
        }
        finally
        {
            CheckProfile.Shrinking = false;
        }
        CheckProfile.Add(CheckProfile.Slot.ShrinkPhase, shrink0);
        return CheckSummary.FromRun(space, verdicts, minimal, clock.Elapsed.TotalSeconds);
    }
}
