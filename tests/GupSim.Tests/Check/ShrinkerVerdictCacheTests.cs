using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json.Nodes;
using GupSim.Arch;
using GupSim.Check;
using GupSim.Core;
using static GupSim.Tests.Check.EngineTestShapes;

namespace GupSim.Tests.Check;

/// <summary>
/// The shrinker's verdict cache (CheckShrinker.Judge): each configuration is run once per shrinker, a cached verdict
/// is the one a fresh engine gives, a configuration differing in any one dimension is never answered from another's
/// verdict, and GUPSIM_CHECK_PROFILE=1 adds the profile to stderr without changing the JSON summary.
/// </summary>
public class ShrinkerVerdictCacheTests
{
    /// <summary>A runner that passes every configuration to another and records how often each was run and what it got.</summary>
    private sealed class CountingRunner(ICheckRunner inner) : ICheckRunner
    {
        public ConcurrentDictionary<CheckConfiguration, int> Runs { get; } = new();
        public ConcurrentDictionary<CheckConfiguration, CheckVerdict?> Verdicts { get; } = new();
        private long _calls;

        public long Calls => Interlocked.Read(ref _calls);

        public CheckVerdict Run(CheckConfiguration configuration)
        {
            Interlocked.Increment(ref _calls);
            Runs.AddOrUpdate(configuration, 1, (_, n) => n + 1);
            try
            {
                var v = inner.Run(configuration);
                Verdicts[configuration] = v;
                return v;
            }
            catch (GupSimException)
            {
                Verdicts[configuration] = null;
                throw;
            }
        }
    }

    /// <summary>Trap 4's configuration (refs = 0, v5.12) on a lived-in machine, as in ShrinkerTests.</summary>
    private static CheckConfiguration LivedInTrap4() =>
        new CheckConfiguration(new CheckShape("x86_64", V("5.12"), MemoryModel.SparsememVmemmap, CheckPlacement.Boot, 2 * M, 4, 2 * G, 64 * M, 2),
            null, CheckPath.SlowGet, 2047, 1, 1)
        { ByteOffset = 4095 };

    [Fact]
    public void ASecondShrink_OfTheSameCase_RunsNothing_AndGivesTheSameMinimalCase()
    {
        var c = LivedInTrap4();
        var engine = new CheckEngine([]);
        var v = engine.Run(c);
        var counting = new CountingRunner(engine);
        var shrinker = new CheckShrinker(counting);

        var first = shrinker.Shrink(c, v);
        long calls1 = counting.Calls, hits1 = shrinker.CachedVerdicts;
        Assert.True(calls1 > 0);
        // Each configuration was run once, and the shrinker knows exactly those.
        foreach (var (cfg, n) in counting.Runs) Assert.True(n == 1, $"{cfg} was run {n} times");
        Assert.Equal(calls1, counting.Runs.Count);
        Assert.Equal(calls1, shrinker.JudgedConfigurations);

        var second = shrinker.Shrink(c, v);
        // Nothing new was run: every candidate of the second shrink (the same ones, the shrinker is deterministic:
        // the first shrink's runs plus its own cache hits) came from the cache.
        Assert.Equal(calls1, counting.Calls);
        Assert.Equal(calls1 + hits1, shrinker.CachedVerdicts - hits1);
        Assert.Equal(first, second);
        // As ShrinkerTests works out by hand: subpage 511 of one 2 MiB page, one byte in, no churn.
        Assert.Equal((0UL, 1, 511L, 1L, 1L, 1L),
            (second.Configuration.Shape.ChurnBytes, second.Configuration.Shape.HugePages, second.Configuration.OffsetPages,
             second.Configuration.LengthPages, second.Configuration.Batch, second.Configuration.ByteOffset));
        Assert.Equal("oops", second.Verdict.Symptoms.Kind());
        // And a shrinker with no cache of its own, on its own engine, finds the same case.
        Assert.Equal(first, new CheckShrinker(new CheckEngine([])).Shrink(c, v));
    }

    [Fact]
    public void EveryCachedVerdict_IsTheVerdictOfAFreshRun()
    {
        var c = LivedInTrap4();
        var engine = new CheckEngine([]);
        var counting = new CountingRunner(engine);
        var shrinker = new CheckShrinker(counting);
        shrinker.Shrink(c, engine.Run(c));
        Assert.NotEmpty(counting.Verdicts);

        // Another engine, booted anew, runs every judged configuration in another order (the reverse).
        var fresh = new CheckEngine([]);
        var judged = counting.Verdicts.ToArray();
        Array.Reverse(judged);
        int failures = 0;
        foreach (var (cfg, cached) in judged)
        {
            CheckVerdict? again;
            try
            {
                again = fresh.Run(cfg);
            }
            catch (GupSimException)
            {
                again = null;
            }
            Assert.Equal(cached, again);
            // What the shrinker answers from its cache for this configuration is what was run.
            Assert.Equal(cached, shrinker.Judge(cfg));
            if (cached is { Failed: true }) failures++;
        }
        // At least the minimal case itself failed.
        Assert.True(failures >= 1);
        Assert.Equal(judged.Length, counting.Calls);
    }

    /// <summary>A runner whose verdict names the configuration it was given, and that refuses one configuration as bad input.</summary>
    private sealed class NamingRunner(CheckConfiguration refused) : ICheckRunner
    {
        private long _calls;

        public long Calls => Interlocked.Read(ref _calls);

        public CheckVerdict Run(CheckConfiguration configuration)
        {
            Interlocked.Increment(ref _calls);
            if (configuration == refused) throw new GupSimException("gupsim: --churn: more than the RAM has free");
            return new CheckVerdict(CheckSymptoms.WrongPages, 1, 0, configuration.ToString() + " byteOffset " + configuration.ByteOffset);
        }
    }

    [Fact]
    public void TheCache_NeverAnswersAConfiguration_WithTheVerdictOfOneThatDiffersInAnyDimension()
    {
        var shape = new CheckShape("x86_64", V("5.12"), MemoryModel.Sparsemem, CheckPlacement.Scattered, G, 1, 2 * G, 0, 1);
        var b = new CheckConfiguration(shape, null, CheckPath.SlowGet, 32767, 2, 2);
        CheckConfiguration[] variants =
        [
            b,
            b with { Shape = shape with { Arch = "arm64-4k" } },
            b with { Shape = shape with { Kernel = V("5.14") } },
            b with { Shape = shape with { Model = MemoryModel.SparsememVmemmap } },
            b with { Shape = shape with { Placement = CheckPlacement.Hotplug } },
            b with { Shape = shape with { HugepageBytes = 2 * M } },
            b with { Shape = shape with { HugePages = 2 } },
            b with { Shape = shape with { RamBytes = 4 * G } },
            b with { Shape = shape with { ChurnBytes = 64 * M } },
            b with { Shape = shape with { Seed = 2 } },
            b with { Shape = shape with { ConfigFile = "/tmp/config" } },
            b with { Shape = shape with { IomemFile = "/tmp/iomem" } },
            b with { Strategy = "v5.11" },
            b with { Path = CheckPath.FastGet },
            b with { OffsetPages = 32768 },
            b with { LengthPages = 3 },
            b with { Batch = 1 },
            b with { ByteOffset = 1 },
        ];
        var refused = variants[8];
        var runner = new NamingRunner(refused);
        var shrinker = new CheckShrinker(runner);

        for (int i = 0; i < variants.Length; i++)
        {
            var v = shrinker.Judge(variants[i]);
            // Each variant was run (not answered from an earlier one's verdict) and got its own verdict.
            Assert.Equal(i + 1, runner.Calls);
            if (variants[i] == refused) Assert.Null(v);
            else Assert.Equal(variants[i].ToString() + " byteOffset " + variants[i].ByteOffset, v!.Detail);
        }
        Assert.Equal(variants.Length, shrinker.JudgedConfigurations);
        Assert.Equal(0, shrinker.CachedVerdicts);

        // Asked again, each (an equal copy, built anew) gets its own verdict from the cache, the refusal included.
        for (int i = 0; i < variants.Length; i++)
        {
            var copy = variants[i] with { Shape = variants[i].Shape with { } };
            var v = shrinker.Judge(copy);
            if (variants[i] == refused) Assert.Null(v);
            else Assert.Equal(variants[i].ToString() + " byteOffset " + variants[i].ByteOffset, v!.Detail);
        }
        Assert.Equal(variants.Length, runner.Calls);
        Assert.Equal(variants.Length, shrinker.CachedVerdicts);
    }

    private static readonly string[] s_oneFailingGroup =
    [
        "check", "--arch", "x86_64", "--kernel", "5.12", "--model", "sparsemem", "--placement", "scattered", "--hugepage-size", "1G",
        "--churn", "0", "--path", "slow-get", "--offset", "boundary-1,boundary", "--length", "2", "--batch", "2", "--json",
    ];

    /// <summary>Runs the built gupsim (GupSim.Cli.dll beside the tests) as its own process, with GUPSIM_CHECK_PROFILE set or not.</summary>
    private static (int Rc, string Stdout, string Stderr) RunGupsim(string? profile, string[] args)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "GupSim.Cli.dll");
        Assert.True(File.Exists(dll), dll);
        var psi = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (profile is null) psi.Environment.Remove("GUPSIM_CHECK_PROFILE");
        else psi.Environment["GUPSIM_CHECK_PROFILE"] = profile;
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout, stderr.Result);
    }

    [Fact]
    public void TheProfileEnvironmentVariable_AddsTheProfileToStderr_AndLeavesTheJsonAsItIs()
    {
        var off = RunGupsim(null, s_oneFailingGroup);
        var on = RunGupsim("1", s_oneFailingGroup);
        var zero = RunGupsim("0", s_oneFailingGroup);

        // One group, two configurations: offset boundary-1 (32767) with length 2 crosses the section boundary and
        // fails (the scattered memmaps), offset boundary (32768) stays in one section and passes.
        var json = JsonNode.Parse(off.Stdout)!.AsObject();
        Assert.Equal((2, 1), ((int)json["configurations"]!, (int)json["failures"]!));
        Assert.Equal((1, 1, 1), (off.Rc, on.Rc, zero.Rc));
        Assert.Equal(SummaryJson.WithoutElapsed(off.Stdout), SummaryJson.WithoutElapsed(on.Stdout));
        Assert.Equal(SummaryJson.WithoutElapsed(off.Stdout), SummaryJson.WithoutElapsed(zero.Stdout));

        Assert.DoesNotContain("gupsim: profile:", off.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("gupsim: profile:", zero.Stderr, StringComparison.Ordinal);
        // One line per slot; the sweep ran two configurations and shrank one group.
        var lines = on.Stderr.Split('\n').Where(l => l.StartsWith("gupsim: profile:", StringComparison.Ordinal)).ToArray();
        Assert.Equal(Enum.GetValues<CheckProfile.Slot>().Length, lines.Length);
        Assert.Contains(lines, l => l.StartsWith("gupsim: profile: Shrink ", StringComparison.Ordinal) && l.Contains(" 1 events", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("gupsim: profile: SweepPhase ", StringComparison.Ordinal) && l.Contains(" 1 events", StringComparison.Ordinal));
    }

    /// <summary>A runner that takes 200 ms a run, so callers that ask together overlap.</summary>
    private sealed class SlowRunner : ICheckRunner
    {
        private long _calls;

        public long Calls => Interlocked.Read(ref _calls);

        public CheckVerdict Run(CheckConfiguration configuration)
        {
            Interlocked.Increment(ref _calls);
            Thread.Sleep(200);
            return new CheckVerdict(CheckSymptoms.WrongPages, 1, 0, "slow");
        }
    }

    [Fact]
    public void CallersAskingForTheSameCandidateAtOnce_RunItOnce()
    {
        // Groups shrunk side by side can reach the same candidate together: eight threads meet at a barrier and then
        // judge one configuration; the runner runs it once, the other seven get its verdict from the cache.
        const int Callers = 8;
        var shape = new CheckShape("x86_64", V("5.12"), MemoryModel.Sparsemem, CheckPlacement.Scattered, G, 1, 2 * G, 0, 1);
        var c = new CheckConfiguration(shape, null, CheckPath.SlowGet, 32767, 2, 2);
        var runner = new SlowRunner();
        using var asked = new Barrier(Callers);
        var shrinker = new CheckShrinker(runner);
        var verdicts = new CheckVerdict?[Callers];
        var threads = new Thread[Callers];
        for (int i = 0; i < Callers; i++)
        {
            int k = i;
            threads[i] = new Thread(() =>
            {
                asked.SignalAndWait();
                verdicts[k] = shrinker.Judge(c);
            });
            threads[i].Start();
        }
        foreach (var t in threads) t.Join();
        Assert.Equal(1, runner.Calls);
        Assert.Equal(Callers - 1, shrinker.CachedVerdicts);
        Assert.Equal(1, shrinker.JudgedConfigurations);
        foreach (var v in verdicts) Assert.Equal("slow", v!.Detail);
    }
}
