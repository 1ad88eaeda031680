using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using GupSim.Arch;
using GupSim.Core;

namespace GupSim.Check;

/// <summary>
/// What one <c>gupsim check</c> run (or shard) found, as its JSON says (docs/cli.md, "check"): totals, then one
/// group per arch, kernel, strategy, memory model, placement, GUP path and huge page size, each with its counts, the
/// histories it ran and failed in, and the first failure's minimal case. <see cref="Merge"/> turns the shards of one
/// sweep into exactly the summary one run gives (elapsedSeconds aside).
/// </summary>
public sealed class CheckSummary
{
    /// <summary>Configurations run.</summary>
    public long Configurations { get; init; }
    /// <summary>Configurations that failed.</summary>
    public long Failures { get; init; }
    /// <summary>Wall-clock seconds of the run; for a merge, the sum of the shards' (the work done, not a wall time).</summary>
    public double ElapsedSeconds { get; init; }
    /// <summary>The groups, in the order of their first configuration in the space.</summary>
    public List<CheckGroupSummary> Groups { get; init; } = [];
    /// <summary>
    /// Configurations that could not run on their shape and so neither passed nor failed (e.g. a hot-plug pool the
    /// allocators placed in boot memory: see <see cref="CheckEngine.IsNotApplicable"/>); counted in
    /// <see cref="Configurations"/>, never as a failure.
    /// </summary>
    public long NotApplicable { get; init; }
    /// <summary>
    /// Passes in which GUP took fewer pages than asked, or ended with an errno (<see cref="CheckEngine.IsShort"/>): the
    /// kernel may return fewer, so they pass when the entries returned are right and every count balances; counted
    /// in <see cref="Configurations"/>, never as a failure. Added after the first release of the schema (absent = 0).
    /// </summary>
    public long Short { get; init; }
    /// <summary>Configurations in the whole space (before --budget and --shard).</summary>
    public long SpaceConfigurations { get; init; }
    /// <summary>Configurations --budget chose from the space (all of them without --budget); the shards of a sweep run these between them.</summary>
    public long SweepConfigurations { get; init; }
    /// <summary>Combinations skipped (the kernel cannot have them, or they repeat another configuration).</summary>
    public long Skipped { get; init; }
    /// <summary>Digest of the sweep's options: shards of one sweep share it.</summary>
    public string Space { get; init; } = "";
    /// <summary>The shard this is ("I/N"), or null for a whole sweep (and for a merge).</summary>
    public string? Shard { get; init; }

    /// <summary>Where this summary was read from (for merge's messages); not written.</summary>
    [JsonIgnore]
    public string? Source { get; init; }

    private static readonly JsonSerializerOptions s_json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        RespectNullableAnnotations = true,
    };

    /// <summary>The summary as JSON (camelCase, indented).</summary>
    public string ToJson() => JsonSerializer.Serialize(this, s_json);

    /// <summary>Reads a summary <see cref="ToJson"/> wrote; <paramref name="source"/> names it in messages.</summary>
    /// <exception cref="GupSimException">Thrown when the text is not such a summary.</exception>
    public static CheckSummary FromJson(string text, string source)
    {
        CheckSummary? s;
        try
        {
            s = JsonSerializer.Deserialize<CheckSummary>(text, s_json);
        }
        catch (JsonException e)
        {
            string where = e.LineNumber is long l ? string.Create(CultureInfo.InvariantCulture, $" (line {l + 1})") : "";
            throw new GupSimException($"{source}: not a gupsim check JSON summary{where}: give the files 'gupsim check --json' or 'gupsim check --shard I/N --json' wrote");
        }
        if (s is null || s.Space.Length == 0)
            throw new GupSimException($"{source}: not a gupsim check JSON summary (no \"space\"): give the files 'gupsim check --json' or 'gupsim check --shard I/N --json' wrote");
        if (Incomplete(s) is string what)
            throw new GupSimException($"{source}: not a complete gupsim check JSON summary ({what}): give the files 'gupsim check --json' or 'gupsim check --shard I/N --json' wrote, whole");
        return new CheckSummary
        {
            Configurations = s.Configurations,
            Failures = s.Failures,
            NotApplicable = s.NotApplicable,
            Short = s.Short,
            ElapsedSeconds = s.ElapsedSeconds,
            Groups = s.Groups,
            SpaceConfigurations = s.SpaceConfigurations,
            SweepConfigurations = s.SweepConfigurations,
            Skipped = s.Skipped,
            Space = s.Space,
            Shard = s.Shard,
            Source = source,
        };
    }

    /// <summary>What makes a parsed summary not one <see cref="ToJson"/> wrote (a null entry, counts that do not add up), or null.</summary>
    private static string? Incomplete(CheckSummary s)
    {
        if (s.SweepConfigurations <= 0) return "no \"sweepConfigurations\": every sweep runs at least one";
        long configurations = 0, failures = 0;
        foreach (var g in s.Groups)
        {
            if (g is null) return "a null group";
            if (g.Histories.Count == 0) return "a group without histories";
            long gc = 0, gf = 0;
            foreach (var h in g.Histories)
            {
                if (h is null) return "a null history";
                gc += h.Configurations;
                gf += h.Failures;
            }
            if (gc != g.Configurations || gf != g.Failures) return $"group {g.Arch} {g.Kernel} {g.Path}: its histories add up to {gc} configurations, {gf} failures, not {g.Configurations}, {g.Failures}";
            configurations += gc;
            failures += gf;
        }
        return configurations != s.Configurations || failures != s.Failures
            ? $"its groups add up to {configurations} configurations, {failures} failures, not {s.Configurations}, {s.Failures}"
            : null;
    }

    /// <summary>
    /// The summary of a run: each group's counts and histories from the verdicts, and its minimal case from
    /// <paramref name="minimal"/> (the shrunk first failure, by lowest global index).
    /// </summary>
    /// <param name="space">The space (or shard) that ran.</param>
    /// <param name="verdicts">One verdict per entry of <paramref name="space"/>, in order.</param>
    /// <param name="minimal">Per group with a failure: the global index of its first failure and that failure's minimal case.</param>
    /// <param name="elapsedSeconds">The run's wall-clock time.</param>
    public static CheckSummary FromRun(CheckSpace space, IReadOnlyList<CheckVerdict> verdicts, IReadOnlyDictionary<CheckGroupKey, (long Index, CheckMinimalCase Case)> minimal, double elapsedSeconds)
    {
        ArgumentNullException.ThrowIfNull(space);
        ArgumentNullException.ThrowIfNull(verdicts);
        ArgumentNullException.ThrowIfNull(minimal);
        if (verdicts.Count != space.Entries.Count) throw new ArgumentException("one verdict per entry", nameof(verdicts));
        var groups = new Dictionary<CheckGroupKey, GroupAccumulator>();
        var order = new List<CheckGroupKey>();
        long failures = 0, notApplicable = 0, shortPasses = 0;
        for (int i = 0; i < verdicts.Count; i++)
        {
            var e = space.Entries[i];
            var key = CheckGroupKey.Of(e.Configuration);
            if (!groups.TryGetValue(key, out var acc))
            {
                acc = new GroupAccumulator(e.Index);
                groups.Add(key, acc);
                order.Add(key);
            }
            bool failed = verdicts[i].Failed, na = !failed && CheckEngine.IsNotApplicable(verdicts[i]), sh = CheckEngine.IsShort(verdicts[i]);
            acc.Add(e.Configuration.Shape.ChurnBytes, e.Configuration.Shape.Seed, failed, na, sh);
            if (failed) failures++;
            if (na) notApplicable++;
            if (sh) shortPasses++;
        }
        var list = new List<CheckGroupSummary>(order.Count);
        foreach (var key in order)
        {
            var acc = groups[key];
            CheckMinimalSummary? min = null;
            if (minimal.TryGetValue(key, out var m)) min = CheckMinimalSummary.Of(m.Index, m.Case);
            list.Add(CheckGroupSummary.Make(key, acc.FirstIndex, acc.Histories(), min));
        }
        list.Sort((a, b) => a.FirstIndex.CompareTo(b.FirstIndex));
        return new CheckSummary
        {
            Configurations = verdicts.Count,
            Failures = failures,
            NotApplicable = notApplicable,
            Short = shortPasses,
            ElapsedSeconds = elapsedSeconds,
            Groups = list,
            SpaceConfigurations = space.SpaceConfigurations,
            SweepConfigurations = space.SweepConfigurations,
            Skipped = space.Skipped,
            Space = space.Fingerprint,
            Shard = space.Shard?.ToString(),
        };
    }

    /// <summary>
    /// Merges the shards of one sweep into the summary one run of it gives: counts and histories added up, each
    /// group's minimal case the one with the lowest global index, elapsedSeconds the sum of the shards'.
    /// </summary>
    /// <exception cref="GupSimException">
    /// Thrown for shards of different sweeps, overlapping shards (the same shard twice, a whole run with shards,
    /// different shard counts) or a missing shard, naming the files.
    /// </exception>
    public static CheckSummary Merge(IEnumerable<CheckSummary> summaries)
    {
        ArgumentNullException.ThrowIfNull(summaries);
        var all = summaries.ToList();
        if (all.Count == 0) throw new GupSimException("check merge: no summaries to merge: give the JSON files of every shard");
        var first = all[0];
        string Name(CheckSummary s, int i) => s.Source ?? string.Create(CultureInfo.InvariantCulture, $"summary {i + 1}");
        for (int i = 1; i < all.Count; i++)
            if (all[i].Space != first.Space || all[i].SpaceConfigurations != first.SpaceConfigurations || all[i].SweepConfigurations != first.SweepConfigurations || all[i].Skipped != first.Skipped)
                throw new GupSimException($"check merge: {Name(all[i], i)} is from a different sweep than {Name(first, 0)} (space {all[i].Space} vs {first.Space}): merge only the shards of one gupsim check command line");
        var seen = new Dictionary<int, int>();
        int count = -1;
        for (int i = 0; i < all.Count; i++)
        {
            CheckShardSpec spec;
            if (all[i].Shard is null)
            {
                if (all.Count > 1)
                    throw new GupSimException($"check merge: {Name(all[i], i)} is a whole sweep (no --shard) and overlaps every other file: merge shards only, or use it alone");
                spec = new CheckShardSpec(0, 1);
            }
            else
            {
                try
                {
                    spec = CheckShardSpec.Parse(all[i].Shard!);
                }
                catch (GupSimException)
                {
                    throw new GupSimException($"check merge: {Name(all[i], i)}: bad \"shard\" '{all[i].Shard}': give the files 'gupsim check --shard I/N --json' wrote");
                }
            }
            if (count < 0) count = spec.Count;
            else if (spec.Count != count)
                throw new GupSimException($"check merge: {Name(all[i], i)} is shard {spec} but {Name(all[0], 0)} is of {count} shards: shards of different counts overlap; merge the shards of one --shard I/{count} run");
            if (seen.TryGetValue(spec.Index, out int j))
                throw new GupSimException($"check merge: {Name(all[j], j)} and {Name(all[i], i)} are both shard {spec}: overlapping shards; give each shard once");
            seen.Add(spec.Index, i);
        }
        var missing = Enumerable.Range(0, count).Where(k => !seen.ContainsKey(k)).ToList();
        if (missing.Count > 0)
            throw new GupSimException($"check merge: shard{(missing.Count > 1 ? "s" : "")} {string.Join(", ", missing.Select(k => $"{k}/{count}"))} missing: give the JSON of every shard 0/{count} to {count - 1}/{count}");

        var groups = new Dictionary<(string, string, string?, string, string, string, string), List<CheckGroupSummary>>();
        var keys = new List<(string, string, string?, string, string, string, string)>();
        foreach (var s in all)
            foreach (var g in s.Groups)
            {
                var k = (g.Arch, g.Kernel, g.Strategy, g.Model, g.Placement, g.Path, g.HugepageSize);
                if (!groups.TryGetValue(k, out var l))
                {
                    l = [];
                    groups.Add(k, l);
                    keys.Add(k);
                }
                l.Add(g);
            }
        var merged = new List<CheckGroupSummary>(keys.Count);
        foreach (var k in keys)
        {
            var parts = groups[k];
            var hist = new SortedDictionary<(ulong, ulong), CheckHistorySummary>();
            CheckMinimalSummary? min = null;
            long firstIndex = long.MaxValue;
            foreach (var g in parts)
            {
                firstIndex = Math.Min(firstIndex, g.FirstIndex);
                foreach (var h in g.Histories)
                    hist[(h.Churn, h.Seed)] = Sum(hist.GetValueOrDefault((h.Churn, h.Seed)), h.Churn, h.Seed, h.Configurations, h.Failures, h.NotApplicable, h.Short);
                if (g.Minimal is not null && (min is null || g.Minimal.Index < min.Index)) min = g.Minimal;
            }
            var p = parts[0];
            merged.Add(CheckGroupSummary.Make(p.Arch, p.Kernel, p.Strategy, p.Model, p.Placement, p.Path, p.HugepageSize, firstIndex,
                [.. hist.Values], min));
        }
        merged.Sort((a, b) => a.FirstIndex.CompareTo(b.FirstIndex));
        return new CheckSummary
        {
            Configurations = all.Sum(s => s.Configurations),
            Failures = all.Sum(s => s.Failures),
            NotApplicable = all.Sum(s => s.NotApplicable),
            Short = all.Sum(s => s.Short),
            ElapsedSeconds = all.Sum(s => s.ElapsedSeconds),
            Groups = merged,
            SpaceConfigurations = first.SpaceConfigurations,
            SweepConfigurations = first.SweepConfigurations,
            Skipped = first.Skipped,
            Space = first.Space,
            Shard = null,
        };
    }

    private sealed class GroupAccumulator(long firstIndex)
    {
        private readonly SortedDictionary<(ulong Churn, ulong Seed), CheckHistorySummary> _histories = [];

        public long FirstIndex { get; } = firstIndex;

        public void Add(ulong churn, ulong seed, bool failed, bool notApplicable, bool shortPass) =>
            _histories[(churn, seed)] = Sum(_histories.GetValueOrDefault((churn, seed)), churn, seed, 1, failed ? 1 : 0, notApplicable ? 1 : 0, shortPass ? 1 : 0);

        public List<CheckHistorySummary> Histories() => [.. _histories.Values];
    }

    /// <summary>A history's counts plus more of the same history (a run's configurations, or another shard's).</summary>
    private static CheckHistorySummary Sum(CheckHistorySummary? h, ulong churn, ulong seed, long configurations, long failures, long notApplicable, long shortPasses) => new()
    {
        Churn = churn,
        Seed = seed,
        Configurations = (h?.Configurations ?? 0) + configurations,
        Failures = (h?.Failures ?? 0) + failures,
        NotApplicable = (h?.NotApplicable ?? 0) + notApplicable,
        Short = (h?.Short ?? 0) + shortPasses,
    };
}

/// <summary>One row of the summary: a group's counts, histories and first minimal case.</summary>
public sealed class CheckGroupSummary
{
    /// <summary>Arch profile name.</summary>
    public string Arch { get; init; } = "";
    /// <summary>Kernel version, "5.12".</summary>
    public string Kernel { get; init; } = "";
    /// <summary>The strategy (--strategy), or null for the kernel version's own code.</summary>
    public string? Strategy { get; init; }
    /// <summary>Memory model name.</summary>
    public string Model { get; init; } = "";
    /// <summary>Placement name.</summary>
    public string Placement { get; init; } = "";
    /// <summary>GUP path name.</summary>
    public string Path { get; init; } = "";
    /// <summary>Huge page size, "1G".</summary>
    public string HugepageSize { get; init; } = "";
    /// <summary>Configurations run.</summary>
    public long Configurations { get; init; }
    /// <summary>Configurations that failed.</summary>
    public long Failures { get; init; }
    /// <summary>Histories (churn size and seed) with at least one failure.</summary>
    public int ManifestedSeeds { get; init; }
    /// <summary>Histories run.</summary>
    public int Seeds { get; init; }
    /// <summary>The first failure (lowest global index), shrunk; null when none failed.</summary>
    public CheckMinimalSummary? Minimal { get; init; }
    /// <summary>Configurations of the group that could not run on their shape (neither passed nor failed): a group whose configurations all were is not checked, not safe.</summary>
    public long NotApplicable { get; init; }
    /// <summary>Of the group's passes, those in which GUP took fewer pages than asked or ended with an errno (<see cref="CheckSummary.Short"/>).</summary>
    public long Short { get; init; }
    /// <summary>The lowest global index of the group's configurations that ran (orders the groups).</summary>
    public long FirstIndex { get; init; }
    /// <summary>Each history's counts, by churn size then seed.</summary>
    public List<CheckHistorySummary> Histories { get; init; } = [];

    internal static CheckGroupSummary Make(CheckGroupKey key, long firstIndex, List<CheckHistorySummary> histories, CheckMinimalSummary? minimal) =>
        Make(key.Arch, key.Kernel.ToString(), key.Strategy, key.Model.ToName(), key.Placement.ToName(), key.Path.ToName(), ByteSize.Format(key.HugepageBytes), firstIndex, histories, minimal);

    internal static CheckGroupSummary Make(string arch, string kernel, string? strategy, string model, string placement, string path, string size, long firstIndex, List<CheckHistorySummary> histories, CheckMinimalSummary? minimal) => new()
    {
        Arch = arch,
        Kernel = kernel,
        Strategy = strategy,
        Model = model,
        Placement = placement,
        Path = path,
        HugepageSize = size,
        Configurations = histories.Sum(h => h.Configurations),
        Failures = histories.Sum(h => h.Failures),
        NotApplicable = histories.Sum(h => h.NotApplicable),
        Short = histories.Sum(h => h.Short),
        ManifestedSeeds = histories.Count(h => h.Failures > 0),
        Seeds = histories.Count,
        Minimal = minimal,
        FirstIndex = firstIndex,
        Histories = histories,
    };
}

/// <summary>One history of a group: its churn size (bytes, 0 = fresh boot) and seed, and its counts.</summary>
public sealed class CheckHistorySummary
{
    /// <summary>Churn in bytes (0 = a fresh boot).</summary>
    public ulong Churn { get; init; }
    /// <summary>The history's seed.</summary>
    public ulong Seed { get; init; }
    /// <summary>Configurations run in this history.</summary>
    public long Configurations { get; init; }
    /// <summary>Of those, failures.</summary>
    public long Failures { get; init; }
    /// <summary>Of those, configurations that could not run on their shape (neither passed nor failed).</summary>
    public long NotApplicable { get; init; }
    /// <summary>Of those, passes in which GUP took fewer pages than asked or ended with an errno.</summary>
    public long Short { get; init; }
}

/// <summary>A group's first failure, shrunk: its kind, how many entries were wrong, the reproducing script and command.</summary>
public sealed class CheckMinimalSummary
{
    /// <summary><c>wrong-pages</c>, <c>oops</c>, <c>leak</c>, <c>bad-page-state</c> or <c>stray-writes</c> (<see cref="CheckNames.Kind"/>).</summary>
    public string Kind { get; init; } = "";
    /// <summary>Wrong pages[] entries of the minimal case.</summary>
    public long WrongEntries { get; init; }
    /// <summary>A <c>gupsim scenario</c> script that reproduces it.</summary>
    public string Scenario { get; init; } = "";
    /// <summary>The <c>gupsim gup-test</c> command line that shows it, or null when no gup_test run can (<see cref="CheckMinimalCase.GupTestCommand"/>).</summary>
    public string? GupTest { get; init; }
    /// <summary>One line about the failure, or null.</summary>
    public string? Detail { get; init; }
    /// <summary>The global index of the failing configuration that was shrunk (the group's first failure).</summary>
    public long Index { get; init; }
    /// <summary>The minimal configuration.</summary>
    public CheckConfigurationSummary Configuration { get; init; } = new();

    internal static CheckMinimalSummary Of(long index, CheckMinimalCase c) => new()
    {
        Kind = c.Verdict.Symptoms.Kind() ?? "none",
        WrongEntries = c.Verdict.WrongEntries,
        Scenario = c.Scenario,
        GupTest = c.GupTestCommand,
        Detail = c.Verdict.Detail,
        Index = index,
        Configuration = CheckConfigurationSummary.Of(c.Configuration),
    };
}

/// <summary>A configuration as JSON gives it.</summary>
public sealed class CheckConfigurationSummary
{
    public string Arch { get; init; } = "";
    public string Kernel { get; init; } = "";
    public string? Strategy { get; init; }
    public string Model { get; init; } = "";
    public string Placement { get; init; } = "";
    public string HugepageSize { get; init; } = "";
    public int HugePages { get; init; }
    /// <summary>RAM in bytes.</summary>
    public ulong Ram { get; init; }
    /// <summary>Churn in bytes.</summary>
    public ulong Churn { get; init; }
    public ulong Seed { get; init; }
    public string Path { get; init; } = "";
    public long Offset { get; init; }
    public long Length { get; init; }
    /// <summary>Pages per call; −1 = all in one call.</summary>
    public long Batch { get; init; }
    public string? Config { get; init; }
    public string? Iomem { get; init; }
    /// <summary>What ran after the release: <c>keep</c> or <c>free-pool</c> (<see cref="CheckNames.ToName(CheckTeardown)"/>).</summary>
    public string Teardown { get; init; } = "keep";
    /// <summary>How the mapping got its pages: <c>fault</c> or <c>uffd-copy</c> (<see cref="CheckNames.ToName(CheckPopulate)"/>).</summary>
    public string Populate { get; init; } = "fault";

    /// <summary>The summary of <paramref name="c"/>.</summary>
    public static CheckConfigurationSummary Of(CheckConfiguration c)
    {
        ArgumentNullException.ThrowIfNull(c);
        var s = c.Shape;
        return new()
        {
            Arch = s.Arch,
            Kernel = s.Kernel.ToString(),
            Strategy = c.Strategy,
            Model = s.Model.ToName(),
            Placement = s.Placement.ToName(),
            HugepageSize = ByteSize.Format(s.HugepageBytes),
            HugePages = s.HugePages,
            Ram = s.RamBytes,
            Churn = s.ChurnBytes,
            Seed = s.Seed,
            Path = c.Path.ToName(),
            Offset = c.OffsetPages,
            Length = c.LengthPages,
            Batch = c.Batch,
            Config = s.ConfigFile,
            Iomem = s.IomemFile,
            Teardown = c.Teardown.ToName(),
            Populate = s.Populate.ToName(),
        };
    }
}
