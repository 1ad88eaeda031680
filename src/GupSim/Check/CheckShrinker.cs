// PLACEHOLDER: replaced by helper-engine at merge
namespace GupSim.Check;

/// <summary>
/// PLACEHOLDER for the shrinker (helper-engine writes the real one). This stand-in exists so the frame builds: it
/// returns the failing configuration as it is, unshrunk, with a script that says so.
/// </summary>
public sealed class CheckShrinker : ICheckShrinker
{
    private readonly ICheckRunner _runner;

    /// <summary>Shrinks with <paramref name="runner"/>'s verdicts.</summary>
    public CheckShrinker(ICheckRunner runner)
    {
        ArgumentNullException.ThrowIfNull(runner);
        _runner = runner;
    }

    /// <inheritdoc/>
    public CheckMinimalCase Shrink(CheckConfiguration failing, CheckVerdict verdict)
    {
        ArgumentNullException.ThrowIfNull(failing);
        _ = _runner;
        return new CheckMinimalCase(failing, verdict, "# PLACEHOLDER: the check engine writes the reproducing script\n", "gupsim gup-test");
    }
}
