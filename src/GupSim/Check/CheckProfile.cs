using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace GupSim.Check;

/// <summary>
/// Where <c>gupsim check</c> spends its time (GupSim's own measuring aid, not a kernel concept): counts and
/// thread-summed wall time of boots (fresh and churned), runs (GUP, verification, release), rollbacks, and the
/// shrinker's candidates, switched on by the environment variable <c>GUPSIM_CHECK_PROFILE=1</c> and printed to stderr
/// at the end of the sweep. Off, each probe costs one static field test. The counters are per process and never reset:
/// sweeps that share a process (report, audit, tests) add to the same counts.
/// </summary>
public static class CheckProfile
{
    /// <summary>Whether profiling is on (<c>GUPSIM_CHECK_PROFILE</c> set to anything but empty or 0).</summary>
    public static readonly bool Enabled = Environment.GetEnvironmentVariable("GUPSIM_CHECK_PROFILE") is string s && s.Length > 0 && s != "0";

    /// <summary>The counters, one pair (events, Stopwatch ticks) per slot.</summary>
    public enum Slot
    {
        /// <summary>Boots of a shape without churn.</summary>
        BootFresh,
        /// <summary>Boots of a shape with churn.</summary>
        BootChurned,
        /// <summary>Boots of a shape without churn while shrinking.</summary>
        ShrinkBootFresh,
        /// <summary>Boots of a shape with churn while shrinking.</summary>
        ShrinkBootChurned,
        /// <summary>Boots of a shape booted before whose machine was dropped (evicted from the idle set, a refused rollback, a run that threw); a thread that wants a shape another thread has out waits for it instead.</summary>
        Reboot,
        /// <summary>Of those, the boots while shrinking.</summary>
        ShrinkReboot,
        /// <summary>Runs of a configuration on a booted machine (GUP, oracle, release, judging).</summary>
        Run,
        /// <summary>Rollbacks that restored the machine.</summary>
        Rollback,
        /// <summary>Rollbacks that refused (the machine was dropped).</summary>
        RollbackRefused,
        /// <summary>Shrinks (one per failing group).</summary>
        Shrink,
        /// <summary>Candidates the shrinker judged.</summary>
        ShrinkCandidate,
        /// <summary>Candidates answered from the verdict cache.</summary>
        CandidateCacheHit,
        /// <summary>The sweep phase (wall).</summary>
        SweepPhase,
        /// <summary>The shrink phase (wall).</summary>
        ShrinkPhase,
    }

    private static readonly long[] s_count = new long[Enum.GetValues<Slot>().Length];
    private static readonly long[] s_ticks = new long[Enum.GetValues<Slot>().Length];

    /// <summary>Set while the sweep shrinks (boots are then counted apart).</summary>
    public static volatile bool Shrinking;

    /// <summary>A timestamp to pass to <see cref="Add"/> (0 when profiling is off).</summary>
    public static long Start() => Enabled ? Stopwatch.GetTimestamp() : 0;

    /// <summary>Counts one event of <paramref name="slot"/> that began at <paramref name="start"/> (from <see cref="Start"/>).</summary>
    public static void Add(Slot slot, long start)
    {
        if (!Enabled) return;
        Interlocked.Increment(ref s_count[(int)slot]);
        if (start != 0) Interlocked.Add(ref s_ticks[(int)slot], Stopwatch.GetTimestamp() - start);
    }

    /// <summary>The counters as text lines (slot, events, seconds).</summary>
    public static string Report()
    {
        var sb = new StringBuilder();
        foreach (var slot in Enum.GetValues<Slot>())
        {
            long n = Interlocked.Read(ref s_count[(int)slot]);
            double sec = (double)Interlocked.Read(ref s_ticks[(int)slot]) / Stopwatch.Frequency;
            sb.Append(CultureInfo.InvariantCulture, $"gupsim: profile: {slot,-18} {n,8} events {sec,9:0.00} s")
                .Append(n > 0 && sec > 0 ? string.Create(CultureInfo.InvariantCulture, $" ({sec * 1000 / n:0.000} ms each)") : "")
                .AppendLine();
        }
        return sb.ToString();
    }
}
