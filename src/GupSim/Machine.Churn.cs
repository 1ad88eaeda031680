using GupSim.Mm;

namespace GupSim;

public sealed partial class Machine
{
    private readonly List<Churn> _churns = [];

    /// <summary>The lived-in workloads run on this machine (<c>--churn</c> at boot, scenario <c>churn</c>), oldest first.</summary>
    public IReadOnlyList<Churn> Churns => _churns;

    /// <summary>
    /// Runs the lived-in workload (<see cref="Churn"/>) until <paramref name="bytes"/> of payload have been allocated,
    /// and writes its summary line to the kernel log. Each run on a machine draws from its own seed (the machine's
    /// seed and the run's number).
    /// </summary>
    /// <param name="bytes">SIZE.</param>
    /// <param name="what">How the request is named in messages ("--churn", "churn").</param>
    /// <exception cref="Core.GupSimException">Thrown, as one line, when SIZE is more than the machine has free.</exception>
    public Churn RunChurn(ulong bytes, string what = "churn") => RunChurn(bytes, what, afterBoot: false);

    private Churn RunChurn(ulong bytes, string what, bool afterBoot)
    {
        var c = Churn.Execute(this, bytes, Spec.Seed, _churns.Count, what, afterBoot);
        _churns.Add(c);
        Log(c.Result.Summary);
        return c;
    }

    /// <summary>
    /// <c>--churn SIZE</c> at boot: after the kernel's own boot (memblock_free_all, CMA activation, boot-time huge
    /// pages) and before anything the experiment does — boot-time hot-plug of <c>--hotplug</c> ranges included.
    /// </summary>
    private void BootChurn()
    {
        if (Spec.ChurnBytes == 0) return;
        var r = RunChurn(Spec.ChurnBytes, "--churn", afterBoot: true).Result;
        // A run that could not allocate everything booted on without the rest: the tools repeat it on stderr.
        if (r.StoppedShort is not null)
            Warn($"--churn {Core.ByteSize.Format(Spec.ChurnBytes)}: stopped after {Core.ByteSize.Format(r.AllocatedPages << Arch.PageShift)} of {Core.ByteSize.Format(r.TargetPages << Arch.PageShift)}: {r.StoppedShort}");
    }
}
