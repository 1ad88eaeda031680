namespace GupSim.Core;

/// <summary>
/// A simulated kernel hang: the modelled code entered a loop it can never leave (the kernel's watchdog would report
/// "BUG: soft lockup"). GupSim stops the loop and throws this instead of spinning; the state is what the loop had
/// made of it when it started repeating.
/// </summary>
public sealed class KernelSoftLockup : Exception
{
    public KernelSoftLockup(string where, string why)
        : base($"watchdog: BUG: soft lockup - CPU#0 stuck in {where}: {why}")
    {
        Where = where;
    }

    /// <summary>The kernel function that loops.</summary>
    public string Where { get; }
}
