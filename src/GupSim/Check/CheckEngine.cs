// PLACEHOLDER: replaced by helper-engine at merge
using GupSim.Gup;

namespace GupSim.Check;

/// <summary>
/// PLACEHOLDER for the check engine (helper-engine writes the real one: each configuration through the real GUP
/// code on a booted machine shape). This stand-in exists so the frame builds; it judges nothing and passes every
/// configuration.
/// </summary>
public sealed class CheckEngine : ICheckRunner
{
    /// <summary>The recorders <c>--strategy-assembly</c> loaded, by name.</summary>
    public CheckEngine(IReadOnlyList<ISubpageRecorder> userRecorders)
    {
        ArgumentNullException.ThrowIfNull(userRecorders);
        UserRecorders = userRecorders;
    }

    /// <summary>The user recorders.</summary>
    public IReadOnlyList<ISubpageRecorder> UserRecorders { get; }

    /// <inheritdoc/>
    public CheckVerdict Run(CheckConfiguration configuration) => CheckVerdict.Pass;
}
