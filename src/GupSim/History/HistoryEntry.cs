namespace GupSim.History;

/// <summary>
/// One known bug of the GUP / hugetlb / memmap history (shared/reference/history.md, kernel-facts.md §8), as
/// <c>gupsim history</c> replays it: the kernel code that went wrong, the commit that brought it and the one that
/// fixed it, and the machines that show it. Not a kernel concept: GupSim's own catalogue. Nothing here says what the
/// result is: each <see cref="HistoryCase"/> is a scenario script (docs/scenarios.md) run once on the buggy kernel
/// and once on the fixed one by <see cref="HistoryRunner"/>, and what went wrong emerges from the model.
/// </summary>
/// <param name="Name">The name <c>gupsim history NAME</c> takes.</param>
/// <param name="Title">One line: what went wrong.</param>
/// <param name="Where">The kernel function and file of the faulty code.</param>
/// <param name="BugCommit">The commit that brought the faulty code (12 hex digits), or a sentence when it has none of its own.</param>
/// <param name="FixCommit">The commit that fixed it, or a sentence when the fix is not one commit.</param>
/// <param name="BuggyKernel">The kernel version the buggy side runs.</param>
/// <param name="FixedKernel">The kernel version the fixed side runs.</param>
/// <param name="Cases">The machines that show it (at least one).</param>
public sealed record HistoryEntry(string Name, string Title, string Where, string BugCommit, string FixCommit, string BuggyKernel,
    string FixedKernel, IReadOnlyList<HistoryCase> Cases)
{
    /// <summary>What the reader should know: where the facts come from, what is latent where, what is not modelled.</summary>
    public IReadOnlyList<string> Notes { get; init; } = [];

    /// <summary>The memory model of the fixed side when it is not the case's (<c>--model</c>), or null for the same.</summary>
    public string? FixedModel { get; init; }

    /// <summary>
    /// The GUP strategy (<c>--strategy</c>, <see cref="Gup.GupStrategy.Named"/>) the buggy side's <c>{strategy}</c>
    /// placeholders take, for a bug that lived in a tree between releases rather than in a release; null: the
    /// version's own code (the placeholder vanishes).
    /// </summary>
    public string? BuggyStrategy { get; init; }

    /// <summary>As <see cref="BuggyStrategy"/> for the fixed side.</summary>
    public string? FixedStrategy { get; init; }
}

/// <summary>
/// One machine and workload of a <see cref="HistoryEntry"/>: a scenario script with <c>{kernel}</c> and
/// <c>{model}</c> in its <c>machine</c> line, filled in with each side's version and memory model.
/// </summary>
/// <param name="Name">Short name (<c>fresh</c>, <c>lived-in</c>, ...).</param>
/// <param name="Description">What the machine is and why it is one the kernel could have.</param>
/// <param name="Model">The memory model (<c>--model</c>) of the buggy side.</param>
/// <param name="Script">The scenario lines, <c>{kernel}</c> and <c>{model}</c> still in them.</param>
public sealed record HistoryCase(string Name, string Description, string Model, IReadOnlyList<string> Script)
{
    /// <summary>
    /// The script for one side: <c>{kernel}</c> and <c>{model}</c> replaced, and <c>{strategy}</c> by
    /// <c>strategy=NAME</c> (a <c>pin</c>/<c>get</c> option) or by nothing when <paramref name="strategy"/> is null.
    /// </summary>
    public IReadOnlyList<string> ScriptFor(string kernel, string model, string? strategy = null)
    {
        var lines = new string[Script.Count];
        string s = strategy is null ? "" : "strategy=" + strategy;
        for (int i = 0; i < lines.Length; i++)
            lines[i] = Script[i].Replace("{kernel}", kernel, StringComparison.Ordinal).Replace("{model}", model, StringComparison.Ordinal)
                .Replace("{strategy}", s, StringComparison.Ordinal).TrimEnd();
        return lines;
    }
}
