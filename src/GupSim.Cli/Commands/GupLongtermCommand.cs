using System.CommandLine;
using GupSim.Arch;
using GupSim.Core;
using GupSim.Fs;
using GupSim.Gup;
using GupSim.Selftests;

namespace GupSim.Cli.Commands;

/// <summary>
/// `gupsim gup-longterm [MACHINE OPTIONS]`: the kernel's gup_longterm selftest on a simulated machine, printing its
/// TAP output (docs/gup-longterm.md). The exit code is the selftest's (ksft_finished(): 0 pass, 1 fail).
/// </summary>
public static class GupLongtermCommand
{
    public static Command Create()
    {
        var machine = new MachineOptionSet();
        var strategy = CommonOptions.CreateStrategyOption();
        var assemblies = CommonOptions.CreateStrategyAssemblyOption();
        var cFiles = CommonOptions.CreateStrategyCOption();
        var tmpFs = new Option<string?>("--tmp-fs")
        {
            Description = "Mount this filesystem on /tmp first, where tmpfile() creates its file: tmpfs, ext4, xfs, btrfs or other (default: the machine's /tmp, ext4 on /)",
            HelpName = "type",
        };
        var localFs = new Option<string?>("--local-fs")
        {
            Description = $"Filesystem of the test's directory ({GupLongtermOptions.DefaultTestDirectory}), where the \"local tmpfile\" lives: tmpfs, ext4, xfs, btrfs or other (default ext4)",
            HelpName = "type",
        };
        var selftest = new Option<string?>("--selftest")
        {
            Description = $"Kernel tree the selftest is built from, v{GupLongtermDialect.FirstVersion} or later (default: the kernel's; v{GupLongtermDialect.FirstVersion} on older kernels)",
            HelpName = "version",
        };
        var json = CommonOptions.CreateJsonOption();
        var verify = CommonOptions.CreateVerifyOption("GupSim's checks of every pinned entry, the counts after each STOP and the free pages and pools after the run");
        var cmd = new Command("gup-longterm",
            "Run the kernel's gup_longterm selftest (tools/testing/selftests/mm/gup_longterm.c) on a simulated machine and print its TAP output; "
            + $"default machine: x86_64 SPARSEMEM_VMEMMAP, hugepagesz=1G hugepages=16, kernel v{GupLongtermDialect.FirstVersion} (the selftest's first release). Exit codes are the selftest's.");
        machine.AddTo(cmd);
        cmd.Options.Add(strategy);
        cmd.Options.Add(assemblies);
        cmd.Options.Add(cFiles);
        cmd.Options.Add(tmpFs);
        cmd.Options.Add(localFs);
        cmd.Options.Add(selftest);
        cmd.Options.Add(verify);
        cmd.Options.Add(json);
        cmd.SetAction(pr =>
        {
            var o = pr.InvocationConfiguration.Output;
            var e = pr.InvocationConfiguration.Error;
            bool verifyOn = CommonOptions.ReadVerify(pr, verify);
            FsType? tmp = pr.GetValue(tmpFs) is { } t ? FsTypes.Parse(t) : null;
            FsType local = pr.GetValue(localFs) is { } l ? FsTypes.Parse(l) : FsType.Ext4;
            KernelVersion? tree = pr.GetValue(selftest) is { } s ? KernelVersion.ParseModelled(s, "--selftest") : null;
            var opts = machine.Read(pr);
            // The selftest arrived in v6.5: without --kernel or --config, that is the kernel it runs on.
            if (opts.Kernel is null && opts.ConfigFile is null) opts = opts with { Kernel = GupLongtermDialect.FirstVersion.ToString() };
            var m = GupTestMachine.Boot(opts);
            foreach (var w in opts.Warnings) Program.Warn(e, w);
            var chosen = StrategySelection.Resolve(pr.GetValue(strategy), StrategySelection.LoadUserRecorders(pr.GetValue(assemblies) ?? [], pr.GetValue(cFiles) ?? []), m.Version);
            var program = new GupLongterm(m, new GupLongtermOptions
            {
                TmpFs = tmp,
                LocalFs = local,
                SelftestVersion = tree,
                Strategy = chosen,
                Verify = verifyOn,
            });
            if (pr.GetValue(json)) return RunJson(m, chosen, program, o, e);
            int logSeen = m.KernelLog.Count;
            bool badInput = false;
            try
            {
                return program.Run(o, e);
            }
            catch (GupSimException)
            {
                badInput = true; // one line on stderr, from Program.Run
                throw;
            }
            finally
            {
                // The kernel log goes to stderr, so that stdout stays the selftest's TAP stream; then what GupSim checked.
                for (int i = logSeen; i < m.KernelLog.Count; i++) e.WriteLine("dmesg: " + m.KernelLog[i]);
                if (!badInput) e.WriteLine("gupsim: " + program.Verification.Line);
            }
        });
        return cmd;
    }

    /// <summary>--json: the TAP stream captured, and stdout is one JSON document (docs/cli.md).</summary>
    private static int RunJson(Machine m, GupStrategy? chosen, GupLongterm program, TextWriter o, TextWriter e)
    {
        var c = SelftestJson.Capture(m, (so, se) => program.Run(so, se));
        int exit = c.ExitCode;
        string? oops = c.Oops;
        var v = program.Verification;
        var (passed, failed, skipped) = program.Totals;
        o.WriteLine(Json.Serialize(new
        {
            machine = SelftestJson.Machine(m, (chosen ?? GupStrategy.ForVersion(m.Version)).Name),
            selftest = program.Dialect.Version.ToString(),
            exitCode = exit,
            oops,
            plan = program.Plan,
            tests = program.Results.Select(r => new
            {
                number = r.Number == 0 ? (int?)null : r.Number,
                name = r.Name,
                result = r.Result switch
                {
                    null => "none",
                    KsftResult.Pass => "pass",
                    KsftResult.Fail => "fail",
                    KsftResult.Skip => "skip",
                    KsftResult.XFail => "xfail",
                    _ => "xpass",
                },
                message = r.Message,
                reason = r.Reason,
            }),
            totals = new { pass = passed, fail = failed, skip = skipped, noResult = program.Results.Count(r => r.Result is null) },
            verified = v.Verified,
            verification = SelftestJson.Verification(v),
            output = c.Output,
            stderr = c.Stderr,
            dmesg = c.Dmesg,
        }));
        if (oops is not null) e.WriteLine(oops);
        return exit;
    }
}
