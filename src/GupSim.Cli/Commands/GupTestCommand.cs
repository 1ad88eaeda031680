using System.CommandLine;
using GupSim.Core;
using GupSim.Gup;
using GupSim.Selftests;

namespace GupSim.Cli.Commands;

/// <summary>
/// `gupsim gup-test [MACHINE OPTIONS] [GUP_TEST FLAGS]`: the kernel's gup_test selftest on a simulated machine
/// (docs/gup-test.md). Long options choose the machine and GupSim's checks; every other word goes to the selftest's
/// own getopt, so its command lines run unchanged (<c>-f /mnt/huge/file -m 16384 -r 10 -L -S -n 512 -w</c>).
/// </summary>
public static class GupTestCommand
{
    public static Command Create()
    {
        var machine = new MachineOptionSet();
        var strategy = CommonOptions.CreateStrategyOption();
        var assemblies = CommonOptions.CreateStrategyAssemblyOption();
        var cFiles = CommonOptions.CreateStrategyCOption();
        var mount = new Option<string[]>("--mount")
        {
            Description = $"Mount hugetlbfs at PATH with pagesize SIZE (PATH=SIZE or PATH for the default size; repeatable; default {GupTestMachine.MountPoint} with the seed's size)",
            HelpName = "path=size",
            AllowMultipleArgumentsPerToken = false,
        };
        var verify = CommonOptions.CreateVerifyOption("GupSim's oracle on every pages[] entry and every count after the put loop (off for pure timing)");
        var counters = new Option<bool>("--counters") { Description = "Print the deterministic counters of each get loop" };
        var trace = CommonOptions.CreateTraceOption("during the GUP calls, after the run");
        var json = CommonOptions.CreateJsonOption();
        var cmd = new Command("gup-test",
            "Run the kernel's gup_test selftest (tools/testing/selftests/mm/gup_test.c) with its own flags on a simulated machine; "
            + "default machine: x86_64 SPARSEMEM_VMEMMAP, hugepagesz=1G hugepages=16, hugetlbfs at /mnt/huge. Exit codes are the selftest's.\n\n"
            + FlagTable)
        {
            TreatUnmatchedTokensAsErrors = false,
        };
        machine.AddTo(cmd);
        cmd.Options.Add(strategy);
        cmd.Options.Add(assemblies);
        cmd.Options.Add(cFiles);
        cmd.Options.Add(mount);
        cmd.Options.Add(verify);
        cmd.Options.Add(counters);
        cmd.Options.Add(trace);
        cmd.Options.Add(json);
        cmd.SetAction(pr =>
        {
            var o = pr.InvocationConfiguration.Output;
            var e = pr.InvocationConfiguration.Error;
            bool verifyOn = CommonOptions.ReadVerify(pr, verify);
            string? traceEvents = pr.GetValue(trace);
            if (traceEvents is not null) GupSim.Debug.PageRefTrace.CheckEventGroup(traceEvents, "gup-test");
            var opts = machine.Read(pr);
            var m = GupTestMachine.Boot(opts, pr.GetValue(mount) ?? []);
            foreach (var w in opts.Warnings) Program.Warn(e, w);
            if (traceEvents is not null) m.PageRefTrace = new GupSim.Debug.PageRefTrace(m);
            var chosen = StrategySelection.Resolve(pr.GetValue(strategy), StrategySelection.LoadUserRecorders(pr.GetValue(assemblies) ?? [], pr.GetValue(cFiles) ?? []), m.Version);
            var module = new GupTestModule(m, chosen, verifyOn);
            var selftest = new GupTestSelftest(m, module) { PrintCounters = pr.GetValue(counters) };
            var words = SelftestWords(pr);
            if (pr.GetValue(json)) return RunJson(m, module, selftest, words, o, e);
            int logSeen = m.KernelLog.Count;
            bool badInput = false;
            try
            {
                return selftest.Run(words, o, e);
            }
            catch (GupSimException)
            {
                badInput = true; // one line on stderr, from Program.Run
                throw;
            }
            finally
            {
                for (int i = logSeen; i < m.KernelLog.Count; i++) o.WriteLine("dmesg: " + m.KernelLog[i]);
                if (m.PageRefTrace is { } t)
                    foreach (string l in t.Lines) o.WriteLine("trace: " + l);
                // Silence is not a verdict: once an ioctl ran, one closing line on stderr says what GupSim checked
                // (stdout stays the selftest's own output).
                if (!badInput && selftest.Runs.Count > 0) e.WriteLine("gupsim: " + selftest.Verification.Line);
            }
        });
        return cmd;
    }

    /// <summary>--json: the selftest runs with its output captured, and stdout is one JSON document (docs/cli.md).</summary>
    private static int RunJson(Machine m, GupTestModule module, GupTestSelftest selftest, List<string> words, TextWriter o, TextWriter e)
    {
        var c = SelftestJson.Capture(m, (so, se) => selftest.Run(words, so, se));
        int exit = c.ExitCode;
        string? oops = c.Oops;
        var v = selftest.Verification;
        o.WriteLine(Json.Serialize(new
        {
            machine = SelftestJson.Machine(m, module.Gup.Strategy.Name),
            args = words,
            exitCode = exit,
            oops,
            verified = v.Verified,
            verification = SelftestJson.Verification(v),
            runs = selftest.Runs.Select(SelftestJson.Run),
            output = c.Output,
            stderr = c.Stderr,
            dmesg = c.Dmesg,
        }));
        if (oops is not null) e.WriteLine(oops);
        return exit;
    }

    /// <summary>
    /// gup_test's own flags (tools/testing/selftests/mm/gup_test.c main()'s getopt loop, as GupTestSelftest parses
    /// them per version), for the help of the commands that pass them on.
    /// </summary>
    public const string FlagTable = "gup_test's own flags (every word that is not a --long option goes to its getopt):\n" + FlagRows;

    /// <summary>The rows of <see cref="FlagTable"/>, for a help that explains command lines rather than taking them (run-vmtests).</summary>
    public const string FlagRows =
        "  -m MB    mapping size in MiB (default 128)      -r N     repeats of each ioctl (default 1)\n"
        + "  -n N     pages per ioctl call                   -j N     threads (v5.14+)\n"
        + "  -f FILE  file to open and mmap (/dev/zero)      -F F     gup_flags, e.g. 0x1 (FOLL_WRITE)\n"
        + "  -S       MAP_SHARED (default MAP_PRIVATE)       -H       MAP_HUGETLB | MAP_ANONYMOUS\n"
        + "  -t, -T   MADV_HUGEPAGE, MADV_NOHUGEPAGE         -z       FOLL_TOUCH, no user touch (v5.13+)\n"
        + "  -w, -W   write (FOLL_WRITE), read (-W v5.13+)   -p       -c dumps with FOLL_PIN (v5.13+)\n"
        + "  -u       GUP_FAST_BENCHMARK (the default)       -U       GUP_BASIC_TEST\n"
        + "  -a       PIN_FAST_BENCHMARK                     -b       PIN_BASIC_TEST\n"
        + "  -L       PIN_LONGTERM_BENCHMARK                 -c       DUMP_USER_PAGES_TEST [page indices]";

    /// <summary>The words System.CommandLine did not take, in order: the selftest's own command line.</summary>
    private static List<string> SelftestWords(ParseResult pr)
    {
        var words = new List<string>(pr.UnmatchedTokens);
        foreach (var w in words)
            if (w.StartsWith("--", StringComparison.Ordinal) && w.Length > 2)
                throw new GupSimException($"gup-test: unrecognized option '{w}' (gup_test's own flags are single letters; try 'gupsim gup-test --help')");
        return words;
    }
}
