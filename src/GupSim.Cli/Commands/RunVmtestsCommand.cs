using System.CommandLine;
using System.Globalization;
using GupSim.Arch;
using GupSim.Core;
using GupSim.Gup;
using GupSim.Selftests;
using Spectre.Console;

namespace GupSim.Cli.Commands;

/// <summary>
/// `gupsim run-vmtests [MACHINE OPTIONS] [-a] [-t CATEGORIES] [--nr-cpus N] [--strategy NAME] [--verify on|off] [--dmesg] [--json]`:
/// the gup part of the kernel's tools/testing/selftests/mm/run_vmtests.sh on a simulated machine (docs/run-vmtests.md).
/// </summary>
public static class RunVmtestsCommand
{
    public static Command Create()
    {
        var machine = new MachineOptionSet();
        var strategy = CommonOptions.CreateStrategyOption();
        var assemblies = CommonOptions.CreateStrategyAssemblyOption();
        var cFiles = CommonOptions.CreateStrategyCOption();
        var all = new Option<bool>("-a") { Description = "The script's -a (v6.6+): run_gup_matrix() instead of the default gup_test lines" };
        var categories = new Option<string?>("-t")
        {
            Description = "The script's -t (v6.2+): space-separated categories to run; only gup_test is simulated",
            HelpName = "categories",
        };
        var nrCpus = new Option<int>("--nr-cpus") { Description = "nproc as the script reads it, for needmem_KB", DefaultValueFactory = _ => 2, HelpName = "n" };
        var verify = CommonOptions.CreateVerifyOption("GupSim's oracle on every pages[] entry and every count after each put loop");
        var dmesg = new Option<bool>("--dmesg") { Description = "Print each run's kernel log lines after its output" };
        var json = CommonOptions.CreateJsonOption();
        var testMb = new Option<int?>("--gup-test-default-mb")
        {
            Description = "GupSim's knob for fast tests: gup_test's default size in MiB instead of 128 (command lines unchanged)",
            Hidden = true,
        };
        var testHugetlbMb = new Option<int?>("--hugetlb-mb")
        {
            Description = "GupSim's knob for fast tests: run_gup_matrix's hugetlb_mb instead of needmem_KB / 1024",
            Hidden = true,
        };
        var cmd = new Command("run-vmtests",
            "Run the gup part of the kernel's run_vmtests.sh (tools/testing/selftests/mm) on a simulated machine: the version's "
            + "gup_test lines, or with -a run_gup_matrix(), each a fresh process, printed as TAP as the version prints it.\n\n"
            + "The runs' gup_test command lines use gup_test's own flags (run-vmtests itself takes only the options below):\n"
            + GupTestCommand.FlagRows);
        machine.AddTo(cmd);
        foreach (var o in new Option[] { all, categories, nrCpus, strategy, assemblies, cFiles, verify, dmesg, json, testMb, testHugetlbMb }) cmd.Options.Add(o);
        cmd.SetAction(pr =>
        {
            var output = pr.InvocationConfiguration.Output;
            var error = pr.InvocationConfiguration.Error;
            bool verifyOn = CommonOptions.ReadVerify(pr, verify);
            int cpus = pr.GetValue(nrCpus);
            if (cpus < 1) throw new GupSimException($"--nr-cpus {cpus}: give at least 1");
            int? mb = pr.GetValue(testMb), hugetlbMb = pr.GetValue(testHugetlbMb);
            if (mb is < 1) throw new GupSimException($"--gup-test-default-mb {mb}: give at least 1");
            if (hugetlbMb is < 1) throw new GupSimException($"--hugetlb-mb {hugetlbMb}: give at least 1");

            var opts = machine.Read(pr);
            var m = GupTestMachine.Boot(opts);
            foreach (var w in opts.Warnings) Program.Warn(error, w);
            var dialect = new RunVmtestsDialect(m.Version);
            bool runAll = pr.GetValue(all);
            if (runAll && !dialect.HasMatrix)
                throw new GupSimException($"run_vmtests.sh of v{m.Version} has no -a: run_gup_matrix() came with v6.6");
            // VM_SELFTEST_ITEMS=${VM_SELFTEST_ITEMS:-default}: an empty -t is the default, every category.
            string[]? cats = pr.GetValue(categories) is { } t ? t.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) : null;
            if (cats is { Length: 0 }) cats = null;
            if (cats is not null && !dialect.HasCategories)
                throw new GupSimException($"run_vmtests.sh of v{m.Version} has no -t: categories came with v6.2");
            foreach (string c in cats ?? [])
                if (c != RunVmtests.GupCategory) error.WriteLine($"gupsim: category '{c}' is not simulated and runs nothing");

            var chosen = StrategySelection.Resolve(pr.GetValue(strategy), StrategySelection.LoadUserRecorders(pr.GetValue(assemblies) ?? [], pr.GetValue(cFiles) ?? []), m.Version);
            var module = new GupTestModule(m, chosen, verifyOn);
            bool live = ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected && !pr.GetValue(json);
            var progress = live ? new LiveProgress() : null;
            var suite = new RunVmtests(m, module)
            {
                NrCpus = cpus,
                RunAll = runAll,
                Categories = cats,
                IncludeKernelLog = pr.GetValue(dmesg),
                GupTestDefaultSizeBytes = mb is int size ? (ulong)size << 20 : GupTestSelftest.DefaultSize,
                HugetlbMbOverride = hugetlbMb is int h ? (ulong)h : null,
                RunStarting = progress is null ? null : progress.Starting,
                RunFinished = progress is null ? null : progress.Finished,
            };
            // ./gup_longterm joins the plan after the dump test on v6.5+, as in the script; each run is a fresh process.
            suite.Programs[RunVmtests.GupLongtermProgram] = (_, so, se) =>
            {
                var program = new GupLongterm(m, new GupLongtermOptions { Strategy = chosen, Verify = verifyOn });
                try
                {
                    return program.Run(so, se);
                }
                finally
                {
                    suite.NoteVerification(program.Verification);
                }
            };

            VmtestsResult result;
            if (pr.GetValue(json))
            {
                result = suite.Run(TextWriter.Null);
                output.WriteLine(Json.Serialize(ToJson(m, result)));
            }
            else if (progress is not null)
            {
                result = progress.Run(suite);
            }
            else
            {
                result = suite.Run(output);
            }
            // After the TAP stream, on stderr: what GupSim's own checks covered (silence is not a verdict).
            if (!pr.GetValue(json) && result.Runs.Count > 0) error.WriteLine("gupsim: " + result.VerificationLine);
            return result.ExitCode;
        });
        return cmd;
    }

    private static object ToJson(Machine m, VmtestsResult r) => new
    {
        arch = m.Arch.Name,
        kernel = m.Version.ToString(),
        memoryModel = m.Model.ToName(),
        setup = r.Setup,
        runs = r.Runs.Select(x => new
        {
            number = x.Number,
            category = x.Entry.Category,
            command = x.Entry.CommandLine,
            exitCode = x.ExitCode,
            result = x.Outcome.ToString().ToLowerInvariant(),
            oops = x.Oops,
            output = x.Output,
            milliseconds = Math.Round(x.Milliseconds, 1),
            verified = x.Verification is { } v ? v.Verified : (bool?)null,
            verification = x.Verification is { } w ? "gupsim: " + w.Line : null,
        }),
        passed = r.Passed,
        failed = r.Failed,
        skipped = r.Skipped,
        exitCode = r.ExitCode,
        verified = r.Verified,
        verification = "gupsim: " + r.VerificationLine,
    };

    /// <summary>
    /// A Spectre.Console progress bar under the TAP stream when stdout is a terminal: the TAP lines go through the same
    /// console, above the bar, a run at a time, so the two never tear each other.
    /// </summary>
    private sealed class LiveProgress
    {
        private ProgressTask? _task;
        private ConsoleLineWriter? _writer;

        public void Starting(int number, int total, VmtestsEntry entry)
        {
            _writer?.FlushLines();
            if (_task is null) return;
            _task.MaxValue = total;
            _task.Value = number - 1;
            _task.Description = Markup.Escape(entry.CommandLine);
        }

        public void Finished(VmtestsRunResult result) => _writer?.FlushLines();

        public VmtestsResult Run(RunVmtests suite)
        {
            var console = AnsiConsole.Console;
            VmtestsResult? result = null;
            console.Progress()
                .AutoClear(true)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
                .Start(ctx =>
                {
                    _task = ctx.AddTask("run_vmtests.sh", maxValue: 1);
                    using (_writer = new ConsoleLineWriter(console)) result = suite.Run(_writer);
                    _writer = null;
                    _task.Value = _task.MaxValue;
                });
            return result!;
        }
    }

    /// <summary>A TextWriter that collects whole lines and hands them to a Spectre console as plain text (no markup) on <see cref="FlushLines"/>.</summary>
    private sealed class ConsoleLineWriter(IAnsiConsole console) : TextWriter
    {
        private readonly System.Text.StringBuilder _lines = new();

        public override System.Text.Encoding Encoding => System.Text.Encoding.UTF8;

        public override IFormatProvider FormatProvider => CultureInfo.InvariantCulture;

        public override void Write(char value)
        {
            if (value != '\r') _lines.Append(value);
        }

        /// <summary>Writes the complete lines collected so far.</summary>
        public void FlushLines()
        {
            string text = _lines.ToString();
            int end = text.LastIndexOf('\n');
            if (end < 0) return;
            console.Write(new Text(text[..(end + 1)]));
            _lines.Remove(0, end + 1);
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                if (_lines.Length > 0 && _lines[^1] != '\n') _lines.Append('\n');
                FlushLines();
            }
            base.Dispose(disposing);
        }
    }
}
