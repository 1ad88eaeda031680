using System.Globalization;
using System.Text;
using GupSim.Arch;
using GupSim.Config;
using GupSim.Core;
using GupSim.Gup;

namespace GupSim.Check;

/// <summary>
/// What <c>gupsim check</c> was asked to sweep: each dimension as the comma list given on the command line (null =
/// the default sweep), and the options that choose a subset (<c>--budget</c>, <c>--seed</c>) and the user's machine
/// (<c>--config</c>, <c>--iomem</c>). <see cref="CheckSpace.Build"/> parses and checks it.
/// </summary>
public sealed record CheckSpaceOptions
{
    /// <summary><c>--arch</c>: arch profile names (<see cref="ArchProfiles.Names"/>).</summary>
    public string? Arches { get; init; }
    /// <summary><c>--kernel</c>: kernel versions, major.minor.</summary>
    public string? Kernels { get; init; }
    /// <summary><c>--strategy</c>: built-in strategy names (<see cref="GupStrategy.Names"/>), user recorder names, or <c>kernel</c> for the version's own code.</summary>
    public string? Strategies { get; init; }
    /// <summary><c>--model</c>: memory model names.</summary>
    public string? Models { get; init; }
    /// <summary><c>--placement</c>: boot, scattered, hotplug.</summary>
    public string? Placements { get; init; }
    /// <summary><c>--churn</c>: history sizes (0 = a fresh boot).</summary>
    public string? Churn { get; init; }
    /// <summary><c>--seeds N</c>: histories per non-zero churn size.</summary>
    public int? Seeds { get; init; }
    /// <summary><c>--hugepage-size</c>: huge page sizes (2M, 1G, ...), or <c>all</c>.</summary>
    public string? HugepageSizes { get; init; }
    /// <summary><c>--path</c>: GUP entry points (<see cref="CheckNames.ToName(CheckPath)"/>), or <c>all</c>.</summary>
    public string? Paths { get; init; }
    /// <summary><c>--offset</c>: first page, in base pages: numbers, <c>boundary-1</c>, <c>boundary</c>, <c>boundary+1</c>, <c>random</c>.</summary>
    public string? Offsets { get; init; }
    /// <summary><c>--length</c>: pages asked for: numbers, <c>cross</c>, <c>huge</c>, <c>random</c>.</summary>
    public string? Lengths { get; init; }
    /// <summary><c>--batch</c>: pages per call: numbers, <c>all</c>, <c>random</c>.</summary>
    public string? Batches { get; init; }
    /// <summary><c>--teardown</c>: what runs after the release: <c>keep</c> (the default), <c>free-pool</c>, or <c>all</c>.</summary>
    public string? Teardowns { get; init; }
    /// <summary><c>--populate</c>: how the mapping gets its pages: <c>fault</c> (the default), <c>uffd-copy</c>, or <c>all</c>.</summary>
    public string? Populates { get; init; }
    /// <summary><c>--budget N</c>: run at most N configurations; null = every one.</summary>
    public long? Budget { get; init; }
    /// <summary>
    /// Raise <see cref="Budget"/> to the number of groups (<see cref="CheckSpace.Groups"/>) when it is below it, so that
    /// every group runs at least one configuration (what <c>gupsim audit</c> needs: a verdict per path × size).
    /// </summary>
    public bool BudgetAtLeastOnePerGroup { get; init; }
    /// <summary><c>--seed S</c>: the first history's seed, the random dimension values and the budget's choice.</summary>
    public ulong Seed { get; init; } = 1;
    /// <summary><c>--config FILE</c>: the user's kernel .config ("your machine").</summary>
    public string? ConfigFile { get; init; }
    /// <summary><c>--iomem FILE</c>: the user's /proc/iomem.</summary>
    public string? IomemFile { get; init; }
    /// <summary>The names of the recorders <c>--strategy-assembly</c> loaded.</summary>
    public IReadOnlyList<string> UserRecorders { get; init; } = [];
}

/// <summary>One configuration of a sweep and its global index: its position in the whole space's enumeration.</summary>
/// <param name="Index">Global configuration index (the same in every shard and in one run).</param>
/// <param name="Configuration">The configuration.</param>
public readonly record struct CheckEntry(long Index, CheckConfiguration Configuration);

/// <summary>
/// A summary group: arch, kernel, strategy (null = the kernel's own code), memory model, placement, GUP path and
/// huge page size. Every history of a group is one row of the summary.
/// </summary>
public sealed record CheckGroupKey(string Arch, KernelVersion Kernel, string? Strategy, MemoryModel Model, CheckPlacement Placement, CheckPath Path, ulong HugepageBytes)
{
    /// <summary>The group of a configuration.</summary>
    public static CheckGroupKey Of(CheckConfiguration c)
    {
        ArgumentNullException.ThrowIfNull(c);
        var s = c.Shape;
        return new(s.Arch, s.Kernel, c.Strategy, s.Model, s.Placement, c.Path, s.HugepageBytes);
    }

    /// <summary>"x86_64 v5.12 sparsemem scattered slow-pin 1G" (with the strategy after the kernel when one is set).</summary>
    public override string ToString() =>
        $"{Arch} v{Kernel}{(Strategy is null ? "" : " " + Strategy)} {Model.ToName()} {Placement.ToName()} {Path.ToName()} {ByteSize.Format(HugepageBytes)}";
}

/// <summary><c>--shard I/N</c>: shard I (0-based) of N.</summary>
public sealed record CheckShardSpec(int Index, int Count)
{
    /// <summary>Parses "I/N" with 0 ≤ I &lt; N.</summary>
    /// <exception cref="GupSimException">Thrown with a one-line message for anything else.</exception>
    public static CheckShardSpec Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string t = text.Trim();
        int slash = t.IndexOf('/');
        if (slash <= 0 || slash == t.Length - 1
            || !int.TryParse(t.AsSpan(0, slash), NumberStyles.None, CultureInfo.InvariantCulture, out int i)
            || !int.TryParse(t.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int n))
            throw new GupSimException($"--shard: '{text}' is not I/N: give the shard's 0-based index and the shard count, e.g. --shard 0/4 ($SLURM_ARRAY_TASK_ID/N)");
        if (n == 0) throw new GupSimException($"--shard {t}: the shard count must be at least 1 (e.g. --shard 0/4)");
        if (i >= n)
            throw new GupSimException($"--shard {t}: the index is 0-based and must be below the count: the shards of {n} are 0/{n} to {n - 1}/{n}");
        return new(i, n);
    }

    /// <summary>"I/N".</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Index}/{Count}");
}

/// <summary>
/// The space <c>gupsim check</c> sweeps (issue 11 item 1): arch × kernel × strategy × memory model × placement ×
/// huge page size × populate (fault or UFFDIO_COPY) × history (churn size and seed) × GUP path × offset × length × batch × teardown, each dimension a comma list
/// with a default sweep. Combinations the kernel cannot have (a model the arch's Kconfig does not offer in that
/// version, a huge page size the arch does not have, a placement the model has no code for, what a given
/// <c>.config</c> leaves out) and repeats (a batch as large as the length is one call, like <c>all</c>) are counted
/// in <see cref="Skipped"/> and not run. Enumeration is shape-major: every configuration of one machine shape is
/// adjacent, so a worker boots each shape once.
/// </summary>
public sealed class CheckSpace
{
    private const ulong K = 1UL << 10, M = 1UL << 20, G = 1UL << 30;

    /// <summary>
    /// The default arches, where the traps live: x86_64 and arm64-4k (1 GiB pages over 128 MiB sections; arm64's from
    /// v5.12, when its sections shrank from 1 GiB) and ppc64 (16 GiB pages over 16 MiB sections). Other arches
    /// (riscv64, ppc64-radix, arm64-64k, the 32-bit ones) are swept with <c>--arch</c>.
    /// </summary>
    public static IReadOnlyList<string> DefaultArches { get; } = ["x86_64", "arm64-4k", "ppc64"];
    /// <summary>The default kernels: the documented releases (before, in and after each trap's fix).</summary>
    public static IReadOnlyList<KernelVersion> DefaultKernels => KernelVersion.DistinctlyModelled;
    /// <summary>Offsets of the default sweep.</summary>
    public const string DefaultOffsets = "0,boundary-1,boundary,boundary+1,random";
    /// <summary>Lengths of the default sweep.</summary>
    public const string DefaultLengths = "1,2,cross,huge";
    /// <summary>Batches of the default sweep.</summary>
    public const string DefaultBatches = "1,123,512,all,random";
    /// <summary>Churn sizes of the default sweep.</summary>
    public const string DefaultChurn = "0,1G";
    /// <summary>Histories per non-zero churn size in the default sweep.</summary>
    public const int DefaultSeeds = 1;

    private static readonly CheckPath[] s_allPaths = [CheckPath.SlowGet, CheckPath.SlowPin, CheckPath.SlowLongterm, CheckPath.FastGet, CheckPath.FastPin, CheckPath.FastLongterm];
    /// <summary>Every path --path names: the default ones and fast-longterm-umem (asked for by name).</summary>
    private static readonly CheckPath[] s_namedPaths = [.. s_allPaths, CheckPath.FastLongtermUmem];
    private static readonly MemoryModel[] s_allModels = [MemoryModel.Flatmem, MemoryModel.Discontigmem, MemoryModel.Sparsemem, MemoryModel.SparsememVmemmap];
    /// <summary>The placements of the default sweep (<c>cma</c> is asked for by name: it only matters for FOLL_LONGTERM over gigantic pages).</summary>
    private static readonly CheckPlacement[] s_defaultPlacements = [CheckPlacement.Boot, CheckPlacement.Scattered, CheckPlacement.Hotplug];
    private static readonly CheckPlacement[] s_allPlacements = [.. s_defaultPlacements, CheckPlacement.Cma, CheckPlacement.HotplugCma];

    private readonly CheckEntry[] _entries;

    private CheckSpace(CheckEntry[] entries, long spaceConfigurations, long sweepConfigurations, long skipped, IReadOnlyDictionary<string, long> skippedBy, string fingerprint, CheckShardSpec? shard, IReadOnlyList<string> warnings, int groups)
    {
        _entries = entries;
        Groups = groups;
        Warnings = warnings;
        SpaceConfigurations = spaceConfigurations;
        SweepConfigurations = sweepConfigurations;
        Skipped = skipped;
        SkippedBy = skippedBy;
        Fingerprint = fingerprint;
        Shard = shard;
    }

    /// <summary>The configurations to run, in global index order (shape-major).</summary>
    public IReadOnlyList<CheckEntry> Entries => _entries;

    /// <summary>Configurations the space holds (before <c>--budget</c>): the product of the dimensions minus <see cref="Skipped"/>.</summary>
    public long SpaceConfigurations { get; }

    /// <summary>The summary groups (<see cref="CheckGroupKey"/>) of the whole space, before <c>--budget</c>.</summary>
    public int Groups { get; }

    /// <summary>Configurations <c>--budget</c> chose (all of <see cref="SpaceConfigurations"/> without it); the shards of the sweep run these between them.</summary>
    public long SweepConfigurations { get; }

    /// <summary>Combinations not run: the kernel cannot have them, or they repeat another configuration.</summary>
    public long Skipped { get; }

    /// <summary><see cref="Skipped"/> by reason: "model", "hugepage-size", "placement", "config", "repeat".</summary>
    public IReadOnlyDictionary<string, long> SkippedBy { get; }

    /// <summary>A digest of the resolved space and the options that choose from it: shards of one sweep share it.</summary>
    public string Fingerprint { get; }

    /// <summary>The shard this is, or null for the whole (budgeted) space.</summary>
    public CheckShardSpec? Shard { get; }

    /// <summary>
    /// One line each: what reading <c>--config</c> found that the real Kconfig would not write or GupSim does not
    /// model (<see cref="DerivedConfig.Warnings"/>, e.g. a header for another release than <c>--kernel</c>); empty
    /// without <c>--config</c>. The CLI prints them as <c>gupsim: warning: …</c>.
    /// </summary>
    public IReadOnlyList<string> Warnings { get; }

    /// <summary>Builds the space from the options.</summary>
    /// <exception cref="GupSimException">
    /// Thrown for an unknown dimension value (naming the dimension and the values allowed) and for an empty space
    /// (naming the filters that emptied it), one line each.
    /// </exception>
    public static CheckSpace Build(CheckSpaceOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var b = new Builder(options);
        return b.Build();
    }

    /// <summary>
    /// Shard <paramref name="shard"/> of this space: a deterministic part, whole shapes where they fit (a shape larger
    /// than a quarter of a shard's share is cut into pieces of that size), balanced by configuration count (each
    /// piece, largest first, goes to the least loaded shard). Over I = 0 … N−1 the shards partition the space.
    /// </summary>
    public CheckSpace ForShard(CheckShardSpec shard)
    {
        ArgumentNullException.ThrowIfNull(shard);
        if (Shard is not null) throw new InvalidOperationException("already a shard");
        int n = shard.Count;
        long total = _entries.Length;
        long piece = Math.Max(1, (total + 4L * n - 1) / (4L * n));
        var pieces = new List<(int Start, int Length)>();
        foreach (var (start, end) in ShapeRuns(_entries))
            for (int s = start; s < end; s += (int)piece) pieces.Add((s, (int)Math.Min(piece, end - s)));
        pieces.Sort((a, b) => a.Length != b.Length ? b.Length.CompareTo(a.Length) : a.Start.CompareTo(b.Start));
        var load = new long[n];
        var mine = new List<(int Start, int Length)>();
        foreach (var p in pieces)
        {
            int best = 0;
            for (int k = 1; k < n; k++)
                if (load[k] < load[best]) best = k;
            load[best] += p.Length;
            if (best == shard.Index) mine.Add(p);
        }
        mine.Sort((a, b) => a.Start.CompareTo(b.Start));
        var entries = new List<CheckEntry>();
        foreach (var p in mine)
            for (int k = p.Start; k < p.Start + p.Length; k++) entries.Add(_entries[k]);
        return new CheckSpace([.. entries], SpaceConfigurations, SweepConfigurations, Skipped, SkippedBy, Fingerprint, shard, Warnings, Groups);
    }

    /// <summary>
    /// The runs of one machine shape in <paramref name="entries"/>: [Start, End) of adjacent entries whose
    /// configurations share one <see cref="CheckShape"/> instance, in entry order (enumeration is shape-major, so each
    /// shape is one run). What <see cref="ForShard"/> cuts into pieces and <see cref="CheckSweep"/> hands to threads.
    /// </summary>
    public static List<(int Start, int End)> ShapeRuns(IReadOnlyList<CheckEntry> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var runs = new List<(int Start, int End)>();
        for (int i = 0; i < entries.Count;)
        {
            int end = i + 1;
            var shape = entries[i].Configuration.Shape;
            while (end < entries.Count && ReferenceEquals(entries[end].Configuration.Shape, shape)) end++;
            runs.Add((i, end));
            i = end;
        }
        return runs;
    }

    /// <summary>A deterministic 64-bit value of a seed and a key (FNV-1a of the key, mixed by SplitMix64): the same on every machine and run.</summary>
    internal static ulong Draw(ulong seed, string key)
    {
        ulong h = 14695981039346656037UL;
        foreach (char c in key)
        {
            h ^= c;
            h *= 1099511628211UL;
        }
        ulong z = h ^ (seed * 0x9E3779B97F4A7C15UL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>A position dimension value (offset, length or batch) as given.</summary>
    internal enum ValueKind { Number, BoundaryMinus1, Boundary, BoundaryPlus1, Random, Cross, Huge, All }

    internal readonly record struct DimValue(ValueKind Kind, long Number, string Text);

    private sealed class Builder(CheckSpaceOptions o)
    {
        private readonly Dictionary<string, long> _skipped = new(StringComparer.Ordinal);
        private KernelConfig? _config;
        private DerivedConfig? _derived;

        private void Skip(string reason, long count)
        {
            if (count == 0) return;
            _skipped[reason] = _skipped.GetValueOrDefault(reason) + count;
        }

        public CheckSpace Build()
        {
            if (o.Seeds is int s && s < 1) throw new GupSimException($"--seeds: {s}: give at least 1 history per churn size");
            if (o.Budget is long bud && bud < 1) throw new GupSimException($"--budget: {bud}: give at least 1 configuration (or leave --budget out to run every one)");
            if (o.IomemFile is not null && o.ConfigFile is null)
                throw new GupSimException("--iomem: give it with --config FILE (your machine's kernel .config, e.g. /proc/config.gz): the layout alone does not say which kernel runs on it");
            List<string> arches;
            List<KernelVersion> kernels;
            List<MemoryModel> models;
            if (o.ConfigFile is not null)
            {
                foreach (var (given, name) in new[] { (o.Arches, "--arch"), (o.Models, "--model") })
                    if (given is not null) throw new GupSimException($"{name}: --config {o.ConfigFile} gives the arch and memory model: drop {name} (or --config to sweep other machines)");
                _config = KernelConfig.Load(o.ConfigFile);
                // One machine runs one kernel: --kernel with --config names the release of a file whose header does not
                // (or reads the file as another release, with a warning).
                KernelVersion? kernel = null;
                if (o.Kernels is not null)
                {
                    var given = ParseKernels(o.Kernels);
                    if (given.Count != 1)
                        throw new GupSimException($"--kernel {o.Kernels}: --config {o.ConfigFile} is one machine running one kernel: give one release (e.g. --kernel {given[0]}), or drop --config to sweep several");
                    kernel = given[0];
                }
                else if (_config.Version is null)
                {
                    throw new GupSimException($"--config {o.ConfigFile}: no '# Linux/<arch> <version> Kernel Configuration' header says which release it is for: pass the release it was built for with --kernel (one, e.g. --kernel 6.1)");
                }
                // Read the layout now, so a bad or non-root /proc/iomem is one line before anything runs.
                if (o.IomemFile is not null) MachineInput.LoadMachineFile(o.IomemFile);
                _derived = _config.Derive(kernel);
                if (!_derived.Hugetlb)
                    throw new GupSimException($"--config {o.ConfigFile}: CONFIG_HUGETLB_PAGE is not set, so this kernel has no hugetlb pages for GUP to pin: nothing to check");
                arches = [_derived.Arch.Name];
                kernels = [_derived.Version];
                models = [_derived.Model];
            }
            else
            {
                arches = ParseList(o.Arches, "--arch", DefaultArches, ArchProfiles.Names, t => ArchProfiles.IsKnown(t) ? (true, ArchProfiles.Get(t, KernelVersion.Default).Name) : (false, ""));
                kernels = ParseKernels(o.Kernels);
                models = ParseList(o.Models, "--model", s_allModels, s_allModels.Select(m => m.ToName()).ToList(), t => MemoryModelNames.TryParse(t, out var m) ? (true, m) : (false, default));
            }
            var placements = ParseList(o.Placements, "--placement", s_defaultPlacements, s_allPlacements.Select(p => p.ToName()).ToList(),
                t => s_allPlacements.Any(p => p.ToName() == t) ? (true, s_allPlacements.First(p => p.ToName() == t)) : (false, default));
            var strategies = ParseStrategies();
            var paths = ParsePaths();
            var churn = ParseChurn();
            int seeds = o.Seeds ?? DefaultSeeds;
            var histories = new List<(ulong Churn, ulong Seed)>();
            foreach (ulong c in churn)
            {
                if (c == 0) histories.Add((0, o.Seed));
                else
                    for (int k = 0; k < seeds; k++) histories.Add((c, o.Seed + (ulong)k));
            }
            var sizes = ParseSizes(arches, kernels);
            var offsets = ParseDim(o.Offsets ?? DefaultOffsets, "--offset", ["a number", "boundary-1", "boundary", "boundary+1", "random"], allowZero: true);
            var lengths = ParseDim(o.Lengths ?? DefaultLengths, "--length", ["a number", "cross", "huge", "random"], allowZero: false);
            var batches = ParseDim(o.Batches ?? DefaultBatches, "--batch", ["a number", "all", "random"], allowZero: false);
            var teardowns = ParseTeardowns();
            var populates = ParsePopulates();
            long nominalTriples = (long)offsets.Count * lengths.Count * batches.Count * teardowns.Count;

            var all = new List<CheckConfiguration>();
            foreach (string archName in arches)
                foreach (var kernel in kernels)
                {
                    var profile = _derived?.Arch ?? ArchProfiles.Get(archName, kernel);
                    foreach (var model in models)
                        foreach (var placement in placements)
                            foreach (ulong hp in sizes)
                            {
                                long below = (long)populates.Count * histories.Count * strategies.Count * paths.Count * nominalTriples;
                                if (!profile.Models.Contains(model) && _derived is null) { Skip("model", below); continue; }
                                var size = profile.FindHugePageSize(hp);
                                if (size is null) { Skip("hugepage-size", below); continue; }
                                if (placement == CheckPlacement.Scattered && model != MemoryModel.Sparsemem) { Skip("placement", below); continue; }
                                if (placement.HotAddsPool() && model is not (MemoryModel.Sparsemem or MemoryModel.SparsememVmemmap)) { Skip("placement", below); continue; }
                                if (placement.HotAddsPool() && _config is not null && !_config.IsSet("MEMORY_HOTPLUG")) { Skip("config", below); continue; }
                                // hugetlb_cma= serves gigantic pages only (hugetlb_cma_reserve(), alloc_gigantic_page()), and needs CONFIG_CMA.
                                if (placement.UsesHugetlbCma() && !profile.IsGigantic(size)) { Skip("cma", below); continue; }
                                if (placement.UsesHugetlbCma() && _config is not null && !_config.IsSet("CMA")) { Skip("config", below); continue; }
                                var triples = Triples(profile, kernel, size, offsets, lengths, batches);
                                (long Offset, long Length, long Batch) farthest = default;
                                foreach (var t in triples)
                                    if (t.Offset + t.Length > farthest.Offset + farthest.Length) farthest = t;
                                long hpPages = (long)(hp >> profile.PageShift);
                                long maxEnd = farthest.Offset + farthest.Length;
                                // hotplug-cma: one page from the CMA area and at least one hot-added.
                                long minPages = placement == CheckPlacement.HotplugCma ? 2 : 1;
                                int hugePages = HugePagesFor(profile, hp, Math.Max(minPages, (maxEnd + hpPages - 1) / hpPages), farthest);
                                foreach (var populate in populates)
                                {
                                    if (populate == CheckPopulate.UffdCopy && _config is not null && !_config.IsSet("USERFAULTFD"))
                                    {
                                        Skip("config", below / populates.Count);
                                        continue;
                                    }
                                    foreach (var (churnBytes, seed) in histories)
                                    {
                                        ulong ram = RamFor(profile, hp, hugePages, placement, populate);
                                        var shape = new CheckShape(profile.Name, kernel, model, placement, hp, hugePages, ram, churnBytes, seed, o.ConfigFile, o.IomemFile) { Populate = populate };
                                        // Teardown outermost in the shape: the configurations that keep the pool share one booted machine
                                        // and come first; each that frees it leaves a machine no rollback can restore.
                                        foreach (var teardown in teardowns)
                                            foreach (var strategy in strategies)
                                                foreach (var path in paths)
                                                {
                                                    if (path is (CheckPath.FastGet or CheckPath.FastPin or CheckPath.FastLongterm or CheckPath.FastLongtermUmem) && _config is not null && !HasFastGup(_config))
                                                    {
                                                        Skip("config", nominalTriples / teardowns.Count);
                                                        continue;
                                                    }
                                                    Skip("repeat", (nominalTriples / teardowns.Count) - triples.Count);
                                                    foreach (var t in triples)
                                                        all.Add(new CheckConfiguration(shape, strategy, path, t.Offset, t.Length, t.Batch) { Teardown = teardown });
                                                }
                                    }
                                }
                            }
                }
            long skipped = 0;
            foreach (var v in _skipped.Values) skipped += v;
            if (all.Count == 0) throw Empty();
            var groupKeys = new HashSet<CheckGroupKey>();
            foreach (var c in all) groupKeys.Add(CheckGroupKey.Of(c));
            long? effectiveBudget = o.Budget is long asked && o.BudgetAtLeastOnePerGroup && asked < groupKeys.Count ? groupKeys.Count : o.Budget;
            string fingerprint = Fingerprint(arches, kernels, models, placements, strategies, paths, histories, sizes, offsets, lengths, batches, teardowns, populates, effectiveBudget);
            var chosen = effectiveBudget is long budget && budget < all.Count ? ChooseBudget(all, budget) : Enumerable.Range(0, all.Count).ToArray();
            var entries = new CheckEntry[chosen.Length];
            for (int i = 0; i < chosen.Length; i++) entries[i] = new CheckEntry(chosen[i], all[chosen[i]]);
            return new CheckSpace(entries, all.Count, entries.Length, skipped, new Dictionary<string, long>(_skipped), fingerprint, null, _derived?.Warnings ?? [], groupKeys.Count);
        }

        private static bool HasFastGup(KernelConfig c)
        {
            // CONFIG_HAVE_FAST_GUP (v5.x–v6.8) became CONFIG_HAVE_GUP_FAST. Both are selected by the arch, never asked,
            // so the .config that Kconfig writes (the one with a "# Linux/<arch> <version> Kernel Configuration" header)
            // has the line when it is set and no line when it is not: there, naming neither means no gup-fast. A
            // header-less file may be a hand-made fragment, which does not say: the fast paths stay in.
            if (c.Contains("HAVE_FAST_GUP")) return c.IsSet("HAVE_FAST_GUP");
            if (c.Contains("HAVE_GUP_FAST")) return c.IsSet("HAVE_GUP_FAST");
            return c.HeaderArch is null;
        }

        /// <summary>RAM a shape needs besides its pool: 4 GiB on 64-bit, 512 MiB on 32-bit.</summary>
        private static ulong RestFor(ArchProfile profile) => profile.BitsPerLong == 64 ? 4 * G : 512 * M;

        /// <summary>
        /// The huge pages a shape needs for its farthest offset + length, refused (one line) when they and the rest of
        /// RAM (<see cref="RestFor"/>) would not fit in the arch's physical address space (MAX_PHYSMEM_BITS): no
        /// machine of that arch has such a pool.
        /// </summary>
        private static int HugePagesFor(ArchProfile profile, ulong hp, long hugePages, (long Offset, long Length, long Batch) farthest)
        {
            ulong max = 1UL << profile.MaxPhysmemBits;
            ulong rest = RestFor(profile);
            if ((ulong)hugePages > (max - rest) / hp || hugePages > int.MaxValue)
                throw new GupSimException(string.Create(CultureInfo.InvariantCulture,
                    $"--offset {farthest.Offset} --length {farthest.Length}: the mapping needs {hugePages} huge pages of {ByteSize.Format(hp)}, more than {profile.Name}'s physical address space holds ({ByteSize.Format(max)}, MAX_PHYSMEM_BITS {profile.MaxPhysmemBits}, with {ByteSize.Format(rest)} of other RAM): give a smaller offset or length"));
            return (int)hugePages;
        }

        /// <summary>
        /// RAM for a shape: the arch's default, or enough for the pool and 4 GiB more (512 MiB on 32-bit), in whole GiB.
        /// A hot-plug shape boots small, with only the 4 GiB (512 MiB) and no room for the pool: the pool's memory is
        /// what gets hot-added, as a VM booted small and given a DIMM later; whether the pool then lands there is
        /// still up to the allocators (the engine checks it). Its RAM is not rounded to whole GiB but to whole
        /// sections (SECTION_SIZE_BITS: memory comes and goes in sections), which 512 MiB already is on every 32-bit
        /// arch (i386 64 MiB, i386-pae 512 MiB, armhf 256 MiB). hotplug-cma's one CMA page comes out of those 4 GiB
        /// (hugetlb_cma_reserve() reserves it at boot); a larger boot RAM would leave room for the rest of the pool
        /// outside both the CMA area and the hot-added memory.
        /// </summary>
        private static ulong RamFor(ArchProfile profile, ulong hp, int hugePages, CheckPlacement placement, CheckPopulate populate)
        {
            // uffd-copy's source buffer: as many base pages as the mapping, plus their PTE tables.
            ulong source = populate == CheckPopulate.UffdCopy ? hp * (ulong)hugePages + (hp * (ulong)hugePages >> 8) : 0;
            ulong rest = RestFor(profile) + source;
            if (placement.HotAddsPool())
            {
                ulong section = 1UL << profile.SectionSizeBits;
                return (rest + section - 1) / section * section;
            }
            ulong need = hp * (ulong)hugePages + rest;
            ulong ram = Math.Max(profile.DefaultMemBytes, need);
            return (ram + G - 1) / G * G;
        }

        private GupSimException Empty()
        {
            string Given(params (string Option, string? Value)[] given)
            {
                var parts = given.Where(g => g.Value is not null).Select(g => g.Option + " " + g.Value).ToList();
                return parts.Count == 0 ? "the defaults" : string.Join(" with ", parts);
            }
            var why = new List<string>();
            foreach (var (reason, n) in _skipped.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal))
                why.Add(reason switch
                {
                    "model" => $"{n} with a memory model the arch does not offer in that version ({Given(("--model", o.Models), ("--arch", o.Arches), ("--kernel", o.Kernels))})",
                    "hugepage-size" => $"{n} with a huge page size the arch does not have ({Given(("--hugepage-size", o.HugepageSizes), ("--arch", o.Arches))})",
                    "placement" => $"{n} with a placement the memory model has no code for ({Given(("--placement", o.Placements), ("--model", o.Models))}: scattered needs sparsemem, hotplug and hotplug-cma sparsemem or sparsemem-vmemmap)",
                    "config" => $"{n} that --config {o.ConfigFile} leaves out (no CONFIG_MEMORY_HOTPLUG for hotplug and hotplug-cma, no CONFIG_CMA for cma and hotplug-cma, no CONFIG_HAVE_FAST_GUP for fast paths)",
                    "cma" => $"{n} with the cma or hotplug-cma placement and a huge page size that is not gigantic ({Given(("--placement", o.Placements), ("--hugepage-size", o.HugepageSizes))}: hugetlb_cma= only serves gigantic pages, larger than the buddy allocator's largest block)",
                    _ => $"{n} repeats of other configurations",
                });
            return new GupSimException($"the sweep is empty: every combination was skipped, {string.Join(", ", why)}: widen those options (docs/cli.md, gupsim check)");
        }

        private static List<T> ParseList<T>(string? text, string option, IReadOnlyList<T> defaults, IReadOnlyList<string> allowed, Func<string, (bool Ok, T Value)> parse)
        {
            if (text is null) return [.. defaults];
            var list = new List<T>();
            foreach (string raw in Split(text, option))
            {
                var (ok, v) = parse(raw.ToLowerInvariant());
                if (!ok) throw Unknown(option, raw, allowed);
                if (!list.Contains(v)) list.Add(v);
            }
            return list;
        }

        private static List<string> Split(string text, string option)
        {
            var list = new List<string>();
            foreach (string part in text.Split(','))
            {
                string t = part.Trim();
                if (t.Length == 0) throw new GupSimException($"{option}: '{text}' has an empty value: give a comma list without empty items, e.g. {option} a,b");
                list.Add(t);
            }
            return list;
        }

        private static GupSimException Unknown(string option, string value, IEnumerable<string> allowed) =>
            new($"{option}: unknown value '{value}': use one of {string.Join(", ", allowed)} (a comma list)");

        private static List<KernelVersion> ParseKernels(string? text)
        {
            if (text is null) return [.. DefaultKernels];
            var list = new List<KernelVersion>();
            foreach (string raw in Split(text, "--kernel"))
            {
                if (!KernelVersion.TryParse(raw, out var v) || !v.IsModelled)
                    throw new GupSimException($"--kernel: unknown value '{raw}': use a version from v{KernelVersion.OldestModelled} to v{KernelVersion.NewestModelled}, e.g. {string.Join(", ", KernelVersion.Known)} (a comma list)");
                if (!list.Contains(v)) list.Add(v);
            }
            return list;
        }

        private List<string?> ParseStrategies()
        {
            if (o.Strategies is null)
                return o.UserRecorders.Count > 0 ? [.. o.UserRecorders] : [null];
            var allowed = new List<string> { "kernel" };
            allowed.AddRange(GupStrategy.Names);
            allowed.AddRange(o.UserRecorders);
            var list = new List<string?>();
            foreach (string raw in Split(o.Strategies, "--strategy"))
            {
                string? v = raw == "kernel" ? null : allowed.Contains(raw, StringComparer.Ordinal) ? raw : throw new GupSimException(
                    $"--strategy: unknown value '{raw}': use one of {string.Join(", ", allowed)} (kernel = the version's own code), or a recorder from --strategy-assembly");
                if (!list.Contains(v)) list.Add(v);
            }
            return list;
        }

        private List<CheckPath> ParsePaths()
        {
            if (o.Paths is null) return [.. s_allPaths];
            var list = new List<CheckPath>();
            foreach (string raw in Split(o.Paths, "--path"))
            {
                string t = raw.ToLowerInvariant();
                IEnumerable<CheckPath> add = t switch
                {
                    "all" => s_allPaths,
                    "slow" => s_allPaths.Take(3),
                    "fast" => s_allPaths.Skip(3),
                    _ => s_namedPaths.Where(p => p.ToName() == t).ToList() is { Count: 1 } one ? one : throw Unknown("--path", raw, s_namedPaths.Select(p => p.ToName()).Concat(["slow", "fast", "all"])),
                };
                foreach (var p in add)
                    if (!list.Contains(p)) list.Add(p);
            }
            return list;
        }

        private List<CheckPopulate> ParsePopulates()
        {
            var list = new List<CheckPopulate>();
            foreach (string raw in Split(o.Populates ?? "fault", "--populate"))
            {
                string t = raw.ToLowerInvariant();
                CheckPopulate[] add = t switch
                {
                    "all" => [CheckPopulate.Fault, CheckPopulate.UffdCopy],
                    "fault" => [CheckPopulate.Fault],
                    "uffd-copy" => [CheckPopulate.UffdCopy],
                    _ => throw Unknown("--populate", raw, ["fault", "uffd-copy", "all"]),
                };
                foreach (var v in add)
                    if (!list.Contains(v)) list.Add(v);
            }
            list.Sort();
            return list;
        }

        private List<CheckTeardown> ParseTeardowns()
        {
            var list = new List<CheckTeardown>();
            foreach (string raw in Split(o.Teardowns ?? "keep", "--teardown"))
            {
                string t = raw.ToLowerInvariant();
                CheckTeardown[] add = t switch
                {
                    "all" => [CheckTeardown.Keep, CheckTeardown.FreePool],
                    "keep" => [CheckTeardown.Keep],
                    "free-pool" => [CheckTeardown.FreePool],
                    _ => throw Unknown("--teardown", raw, ["keep", "free-pool", "all"]),
                };
                foreach (var v in add)
                    if (!list.Contains(v)) list.Add(v);
            }
            // keep before free-pool however spelled: the order the shape's configurations run in (the frees last).
            list.Sort();
            return list;
        }

        private List<ulong> ParseChurn()
        {
            var list = new List<ulong>();
            foreach (string raw in Split(o.Churn ?? DefaultChurn, "--churn"))
            {
                if (!ByteSize.TryParse(raw, out ulong v))
                    throw new GupSimException($"--churn: unknown value '{raw}': use sizes with an optional K, M, G or T suffix, 0 for a fresh boot (a comma list, e.g. 0,1G)");
                if (!list.Contains(v)) list.Add(v);
            }
            return list;
        }

        private List<ulong> ParseSizes(List<string> arches, List<KernelVersion> kernels)
        {
            var list = new List<ulong>();
            if (o.HugepageSizes is null || o.HugepageSizes.Trim().Equals("all", StringComparison.OrdinalIgnoreCase))
            {
                // Every size any chosen arch has in any chosen version, smallest first.
                foreach (string a in arches)
                    foreach (var k in kernels)
                        foreach (var s in (_derived?.Arch ?? ArchProfiles.Get(a, k)).HugePageSizes)
                            if (!list.Contains(s.Bytes)) list.Add(s.Bytes);
                list.Sort();
                return list;
            }
            foreach (string raw in Split(o.HugepageSizes, "--hugepage-size"))
            {
                if (!ByteSize.TryParse(raw, out ulong v) || v == 0 || (v & (v - 1)) != 0)
                    throw new GupSimException($"--hugepage-size: unknown value '{raw}': use sizes like 64K, 2M, 16M, 32M, 1G, 16G, or all (a comma list)");
                if (!list.Contains(v)) list.Add(v);
            }
            return list;
        }

        private static List<DimValue> ParseDim(string text, string option, string[] allowed, bool allowZero)
        {
            var list = new List<DimValue>();
            foreach (string raw in Split(text, option))
            {
                string t = raw.ToLowerInvariant();
                DimValue v = t switch
                {
                    "boundary-1" when option == "--offset" => new(ValueKind.BoundaryMinus1, 0, t),
                    "boundary" when option == "--offset" => new(ValueKind.Boundary, 0, t),
                    "boundary+1" when option == "--offset" => new(ValueKind.BoundaryPlus1, 0, t),
                    "cross" when option == "--length" => new(ValueKind.Cross, 0, t),
                    "huge" when option == "--length" => new(ValueKind.Huge, 0, t),
                    "all" when option == "--batch" => new(ValueKind.All, 0, t),
                    "-1" when option == "--batch" => new(ValueKind.All, 0, "all"),
                    "random" => new(ValueKind.Random, 0, t),
                    _ when long.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out long n) && (allowZero || n > 0) => new(ValueKind.Number, n, t),
                    _ => throw Unknown(option, raw, allowed.Select(a => a == "a number" ? (allowZero ? "a number of pages" : "a number of pages above 0") : a)),
                };
                if (option == "--length" && v.Kind == ValueKind.Number && v.Number > int.MaxValue)
                    throw new GupSimException(string.Create(CultureInfo.InvariantCulture,
                        $"--length: {v.Number} pages is more than a pages[] array holds ({int.MaxValue} entries; gup_test's nr_pages is an unsigned int too): give a smaller length"));
                if (!list.Contains(v)) list.Add(v);
            }
            return list;
        }

        /// <summary>
        /// The (offset, length, batch) triples of one arch, kernel and huge page size, in enumeration order without
        /// repeats. The boundary is the first place the memmap under the mapping can change: PAGES_PER_SECTION when
        /// the huge page spans sections, else the next huge page.
        /// </summary>
        private List<(long Offset, long Length, long Batch)> Triples(ArchProfile profile, KernelVersion kernel, HugePageSize size, List<DimValue> offsets, List<DimValue> lengths, List<DimValue> batches)
        {
            long hpPages = (long)(size.Bytes >> profile.PageShift);
            long section = (long)profile.PagesPerSection;
            long boundary = hpPages > section ? section : hpPages;
            long maxPages = 1L << (profile.MaxPhysmemBits - profile.PageShift);
            string key = string.Create(CultureInfo.InvariantCulture, $"{profile.Name}|{kernel}|{size.Bytes}");
            var seen = new HashSet<(long, long, long)>();
            var list = new List<(long, long, long)>();
            for (int oi = 0; oi < offsets.Count; oi++)
            {
                var ov = offsets[oi];
                long off = ov.Kind switch
                {
                    ValueKind.BoundaryMinus1 => boundary - 1,
                    ValueKind.Boundary => boundary,
                    ValueKind.BoundaryPlus1 => boundary + 1,
                    ValueKind.Random => (long)(Draw(o.Seed, $"offset|{key}|{oi}") % (ulong)hpPages),
                    _ => ov.Number,
                };
                // Bounded by the physical address space, so no sum below can overflow (lengths are at most int.MaxValue).
                if (off >= maxPages)
                    throw new GupSimException(string.Create(CultureInfo.InvariantCulture,
                        $"--offset {ov.Text}: page {off} is past {profile.Name}'s physical address space ({ByteSize.Format(1UL << profile.MaxPhysmemBits)}, MAX_PHYSMEM_BITS {profile.MaxPhysmemBits}), so no mapping there can be backed: give a smaller offset"));
                for (int li = 0; li < lengths.Count; li++)
                {
                    var lv = lengths[li];
                    long next = (off / boundary + 1) * boundary;
                    long len = lv.Kind switch
                    {
                        ValueKind.Cross => next - off + 1,
                        ValueKind.Huge => hpPages,
                        ValueKind.Random => 1 + (long)(Draw(o.Seed, $"length|{key}|{li}") % (ulong)hpPages),
                        _ => lv.Number,
                    };
                    for (int bi = 0; bi < batches.Count; bi++)
                    {
                        var bv = batches[bi];
                        long batch = bv.Kind switch
                        {
                            ValueKind.All => -1,
                            ValueKind.Random => 2 + (long)(Draw(o.Seed, $"batch|{key}|{bi}") % 2047),
                            _ => bv.Number,
                        };
                        // gup_test calls with min(batch, what is left): a batch as large as the length is one call.
                        if (batch >= len) batch = -1;
                        if (seen.Add((off, len, batch))) list.Add((off, len, batch));
                    }
                }
            }
            return list;
        }

        /// <summary>
        /// <c>--budget N</c>: N configurations spread over every group. Each group gets an equal share (a group smaller
        /// than its share runs whole and leaves the rest to the others); the remainder goes one each to groups in an
        /// order <c>--seed</c> chooses. Within a group the chosen ones are evenly spaced, from a start <c>--seed</c>
        /// chooses, so they spread over the group's shapes, histories and positions.
        /// </summary>
        private int[] ChooseBudget(List<CheckConfiguration> all, long budget)
        {
            var groupIndex = new Dictionary<CheckGroupKey, int>();
            var members = new List<List<int>>();
            for (int i = 0; i < all.Count; i++)
            {
                var key = CheckGroupKey.Of(all[i]);
                if (!groupIndex.TryGetValue(key, out int g))
                {
                    g = members.Count;
                    groupIndex.Add(key, g);
                    members.Add([]);
                }
                members[g].Add(i);
            }
            var keys = new string[members.Count];
            foreach (var (k, g) in groupIndex) keys[g] = k.ToString();
            int n = members.Count;
            var quota = new long[n];
            var bySize = Enumerable.Range(0, n).OrderBy(g => members[g].Count).ThenBy(g => g).ToArray();
            long left = budget;
            for (int j = 0; j < n; j++)
            {
                int g = bySize[j];
                long share = left / (n - j);
                quota[g] = Math.Min(members[g].Count, share);
                left -= quota[g];
            }
            var order = Enumerable.Range(0, n).OrderBy(g => Draw(o.Seed, "budget-order|" + keys[g])).ThenBy(g => g).ToArray();
            while (left > 0)
            {
                bool gave = false;
                foreach (int g in order)
                {
                    if (left == 0) break;
                    if (quota[g] < members[g].Count)
                    {
                        quota[g]++;
                        left--;
                        gave = true;
                    }
                }
                if (!gave) break;
            }
            var chosen = new List<int>();
            for (int g = 0; g < n; g++)
            {
                long q = quota[g];
                if (q == 0) continue;
                var m = members[g];
                double start = (Draw(o.Seed, "budget-start|" + keys[g]) >> 11) * (1.0 / (1UL << 53));
                for (long k = 0; k < q; k++) chosen.Add(m[(int)Math.Min(m.Count - 1, (long)((k + start) * m.Count / q))]);
            }
            chosen.Sort();
            return [.. chosen];
        }

        /// <summary>A position value as it resolved (kind and number), whatever its spelling: "07" and "7", "ALL" and "all", "-1" and "all" alike.</summary>
        private static string Canonical(DimValue v) => v.Kind == ValueKind.Number ? v.Number.ToString(CultureInfo.InvariantCulture) : v.Kind.ToString();

        /// <summary>
        /// The digest of the resolved space (<see cref="CheckSpace.Fingerprint"/>): every dimension as it resolved, not
        /// as it was spelled, so shards given the same space in other words still merge.
        /// </summary>
        private string Fingerprint(List<string> arches, List<KernelVersion> kernels, List<MemoryModel> models, List<CheckPlacement> placements, List<string?> strategies, List<CheckPath> paths, List<(ulong Churn, ulong Seed)> histories, List<ulong> sizes, List<DimValue> offsets, List<DimValue> lengths, List<DimValue> batches, List<CheckTeardown> teardowns, List<CheckPopulate> populates, long? budget)
        {
            var sb = new StringBuilder();
            sb.Append("arch=").AppendJoin(',', arches)
              .Append(";kernel=").AppendJoin(',', kernels)
              .Append(";strategy=").AppendJoin(',', strategies.Select(s => s ?? "kernel"))
              .Append(";model=").AppendJoin(',', models.Select(m => m.ToName()))
              .Append(";placement=").AppendJoin(',', placements.Select(p => p.ToName()))
              .Append(";size=").AppendJoin(',', sizes)
              .Append(";history=").AppendJoin(',', histories.Select(h => $"{h.Churn}:{h.Seed}"))
              .Append(";path=").AppendJoin(',', paths.Select(p => p.ToName()))
              .Append(";offset=").AppendJoin(',', offsets.Select(Canonical))
              .Append(";length=").AppendJoin(',', lengths.Select(Canonical))
              .Append(";batch=").AppendJoin(',', batches.Select(Canonical));
            // The default teardown adds nothing, so the default sweep's digest is what it was before --teardown.
            if (teardowns is not [CheckTeardown.Keep]) sb.Append(";teardown=").AppendJoin(',', teardowns.Select(t => t.ToName()));
            if (populates is not [CheckPopulate.Fault]) sb.Append(";populate=").AppendJoin(',', populates.Select(t => t.ToName()));
            sb
              .Append(";seed=").Append(o.Seed)
              .Append(";budget=").Append(budget)
              .Append(";config=").Append(o.ConfigFile)
              .Append(";iomem=").Append(o.IomemFile);
            string text = sb.ToString();
            return string.Create(CultureInfo.InvariantCulture, $"{Draw(0, text):x16}{Draw(1, text):x16}");
        }
    }
}
