using System.CommandLine;
using System.Globalization;
using GupSim.Arch;
using GupSim.Config;
using GupSim.Core;
using GupSim.Gup;
using GupSim.Selftests;

namespace GupSim.Cli.Commands;

/// <summary>
/// `gupsim bench [MACHINE OPTIONS] [--strategies LIST | --kernels LIST] [--rounds N] [--json] [--plot FILE] [GUP_TEST FLAGS]`:
/// GUP codes side by side on one gup_test workload (default: the seed command), interleaved, against page++ and the
/// memory-fill limit (docs/performance.md).
/// </summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var machine = new MachineOptionSet();
        var strategies = new Option<string?>("--strategies")
        {
            Description = $"Comma-separated strategies to compare on one machine (default: the version's own code and {string.Join(", ", DefaultStrategies)})",
            HelpName = "list",
        };
        var kernels = new Option<string?>("--kernels")
        {
            Description = "Comma-separated kernel versions to compare, each on its own machine with the same options (page++ on the first is the baseline)",
            HelpName = "list",
        };
        var assemblies = CommonOptions.CreateStrategyAssemblyOption();
        var cFiles = CommonOptions.CreateStrategyCOption();
        var rounds = new Option<int>("--rounds") { Description = "Measured rounds after the verified warm-up round", DefaultValueFactory = _ => 5, HelpName = "n" };
        var json = CommonOptions.CreateJsonOption();
        var plot = new Option<string?>("--plot") { Description = "Draw the comparison to FILE.png or FILE.svg", HelpName = "file" };
        var costModel = new Option<bool>("--cost-model") { Description = "Also predict the kernel's microseconds from the counters (table fitted on the 2021 v5.11, patch 1 and v1 page++ figures) and check it against the published figures it was not fitted on" };
        var mount = new Option<string[]>("--mount") { Description = "hugetlbfs mounts as for gup-test", HelpName = "path=size", AllowMultipleArgumentsPerToken = false };
        var cmd = new Command("bench",
            "Benchmark GUP codes side by side on a gup_test workload (default: the 2021 seed command), with min/median get and put times, "
            + "ratios to page++ and to the memory-fill limit, and the deterministic counters.\n\n"
            + GupTestCommand.FlagTable)
        {
            TreatUnmatchedTokensAsErrors = false,
        };
        machine.AddTo(cmd);
        foreach (var o in new Option[] { strategies, kernels, assemblies, cFiles, rounds, json, plot, mount, costModel }) cmd.Options.Add(o);
        cmd.SetAction(pr =>
        {
            var output = pr.InvocationConfiguration.Output;
            if (pr.GetValue(plot) is { } plotFile) BenchPlot.CheckFile(plotFile);
            var opts = machine.Read(pr);
            var workload = new List<string>(pr.UnmatchedTokens);
            foreach (var w in workload)
                if (w.StartsWith("--", StringComparison.Ordinal) && w.Length > 2)
                    throw new GupSimException($"bench: unrecognized option '{w}' (gup_test's own flags are single letters; try 'gupsim bench --help')");
            if (workload.Count == 0) workload.AddRange(GupBench.SeedWorkload);
            var mounts = pr.GetValue(mount) ?? [];
            var subjects = Subjects(opts, mounts, pr.GetValue(strategies), pr.GetValue(kernels), pr.GetValue(assemblies) ?? [], pr.GetValue(cFiles) ?? []);
            foreach (var w in opts.Warnings) Program.Warn(pr.InvocationConfiguration.Error, w);
            var result = GupBench.Run(subjects, workload, pr.GetValue(rounds), pr.InvocationConfiguration.Error);
            var m0 = subjects[0].Machine;
            string machineText = $"{m0.Arch.Name} v{m0.Version} {m0.Model.ToName()}";
            (CostTable Table, IReadOnlyList<CostModelCheck> Checks)? model = pr.GetValue(costModel) ? KernelCostModel.FitAndCheck(opts) : null;
            if (pr.GetValue(json))
            {
                output.WriteLine(Json.Serialize(new
                {
                    machine = machineText,
                    result = new
                    {
                        result.Workload,
                        // The gup_test ioctl by name and by its _IOWR('g', nr, struct gup_test) number (mm/gup_test.h).
                        cmd = GupTestUapi.Name(result.Cmd),
                        cmdNr = (int)result.Cmd,
                        result.Pages,
                        result.Rounds,
                        result.FillMinUs,
                        result.FillMedianUs,
                        result.Rows,
                        // put median / fill-limit median per row, in the order of rows (issue 11: put within 4x the fill limit).
                        putPerFill = result.Rows.Select(r => r.PutMedianUs / result.FillMedianUs),
                        result.Targets,
                        result.PeakWorkingSetBytes,
                    },
                    costModel = model is { } cm
                        ? new { table = cm.Table, predictedGetUs = result.Rows.Select(r => new { r.Name, us = cm.Table.PredictUs(r.Counters) }), checks = cm.Checks }
                        : null,
                }));
            }
            else
            {
                WriteText(output, result, machineText);
                if (model is { } cm) WriteCostModel(output, result, cm.Table, cm.Checks);
            }
            if (pr.GetValue(plot) is { } file)
            {
                BenchPlot.Save(result, machineText, file);
                pr.InvocationConfiguration.Error.WriteLine($"gupsim: wrote plot to {file}");
            }
            return result.Rows.All(r => r.Verified) ? ExitCodes.Ok : ExitCodes.ExpectationFailed;
        });
        return cmd;
    }

    /// <summary>The built-in strategies the default comparison runs besides the version's own code.</summary>
    public static IReadOnlyList<string> DefaultStrategies { get; } = ["v5.11", "patch1", "merged", "nth_page", "page++", "section-run"];

    private static List<GupBenchSubject> Subjects(MachineOptions opts, IReadOnlyList<string> mounts, string? strategyList, string? kernelList, IReadOnlyList<string> assemblies, IReadOnlyList<string> cFiles)
    {
        if (strategyList is not null && kernelList is not null) throw new GupSimException("give --strategies or --kernels, not both");
        var subjects = new List<GupBenchSubject>();
        if (kernelList is not null)
        {
            Machine? first = null;
            foreach (string k in Split(kernelList))
            {
                var m = GupTestMachine.Boot(opts with { Kernel = k }, mounts);
                first ??= m;
                subjects.Add(new GupBenchSubject($"v{m.Version} (own)", m, null));
            }
            subjects.Add(new GupBenchSubject("page++", first!, GupStrategy.Named("page++", first!.Version)));
            return subjects;
        }
        var machine = GupTestMachine.Boot(opts, mounts);
        var v = machine.Version;
        var names = strategyList is null ? ["(own)", .. DefaultStrategies] : Split(strategyList);
        if (!names.Contains("page++")) names.Add("page++");
        var user = StrategySelection.LoadUserRecorders(assemblies, cFiles);
        foreach (string n in names)
        {
            if (n is "(own)" or "own")
                subjects.Add(new GupBenchSubject($"v{v} (own)", machine, null));
            else
                subjects.Add(new GupBenchSubject(n, machine, StrategySelection.Resolve(n, user, v)));
        }
        foreach (var r in user)
            if (!names.Contains(r.Name)) subjects.Add(new GupBenchSubject(r.Name, machine, GupStrategy.WithRecorder(GupStrategy.ForVersion(v), r.Name, r)));
        return subjects;
    }

    private static List<string> Split(string list) =>
        [.. list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];

    private static void WriteCostModel(TextWriter o, GupBenchResult r, CostTable t, IReadOnlyList<CostModelCheck> checks)
    {
        var ci = CultureInfo.InvariantCulture;
        o.WriteLine(string.Create(ci,
            $"modelled kernel time: atomic {t.AtomicNs:F2} ns, pfn_to_page/page_to_pfn {t.LookupNs:F2} ns, pages[] entry {t.EntryNs:F3} ns (fitted on v5.11 {KernelCostModel.V511Us:F0}, patch 1 {KernelCostModel.Patch1Us:F0}, v1 page++ {KernelCostModel.V1PagePlusPlusUs:F0} us)"));
        foreach (var row in r.Rows)
            o.WriteLine(string.Create(ci, $"  {row.Name,-16} modelled get {t.PredictUs(row.Counters),9:F0} us"));
        o.WriteLine(string.Create(ci, $"{"published figure",-56} {"published",9} {"modelled",9} {"error",7}  source"));
        foreach (var c in checks)
        {
            o.WriteLine(string.Create(ci,
                $"{c.Label,-56} {c.PublishedUs,9:F0} {c.PredictedUs,9:F0} {c.Error,7:+0%;-0%;0%}  {c.Source}{(c.Fitted ? " (fitted)" : "")}"));
            if (c.Note is not null) o.WriteLine("    not counted: " + c.Note);
        }
    }

    private static void WriteText(TextWriter o, GupBenchResult r, string machine)
    {
        var ci = CultureInfo.InvariantCulture;
        o.WriteLine(string.Create(ci, $"bench: gup_test {r.Workload} ({GupTestUapi.Name(r.Cmd)}), {r.Pages} pages, {r.Rounds} rounds after a verified warm-up, on {machine}"));
        o.WriteLine(string.Create(ci, $"fill limit: min {r.FillMinUs:F0} us, median {r.FillMedianUs:F0} us"));
        o.WriteLine(string.Create(ci, $"{"code",-16} {"get min",9} {"get med",9} {"put min",9} {"put med",9} {"get/page++",10} {"get/fill",8} {"put/page++",10} {"put/fill",8} {"verified",8} {"atomics",8} {"pages[]",9} {"pfn2page",9} {"page2pfn",9} {"sections",9} {"entries",8}"));
        foreach (var row in r.Rows)
        {
            var c = row.Counters;
            o.WriteLine(string.Create(ci,
                $"{row.Name,-16} {row.GetMinUs,9:F0} {row.GetMedianUs,9:F0} {row.PutMinUs,9:F0} {row.PutMedianUs,9:F0} {row.GetPerPagePlusPlus,10:F2} {row.GetPerFill,8:F2} {row.PutPerPagePlusPlus,10:F2} {row.PutMedianUs / r.FillMedianUs,8:F2} {(row.Verified ? "yes" : "NO"),8} {c.Atomics,8} {c.PagesWrites,9} {c.PfnToPageCalls,9} {c.PageToPfnCalls,9} {c.SectionLookups,9} {c.PageTableEntriesRead,8}"));
        }
        foreach (var row in r.Rows)
            if (row.VerifyFailure is not null) o.WriteLine($"  {row.Name}: {row.VerifyFailure}");
        if (r.Targets.Count > 0) o.WriteLine("targets:");
        foreach (var t in r.Targets)
            o.WriteLine(string.Create(ci, $"  {t.Name}: {t.Value:F2} ({(t.AtMost ? "<=" : ">=")} {t.Limit:F2}) {(t.Met ? "met" : "MISSED")}"));
        o.WriteLine(string.Create(ci, $"peak working set: {r.PeakWorkingSetBytes >> 20} MB"));
    }
}
