using System.CommandLine;
using System.Globalization;
using GupSim.Core;
using GupSim.Reports;

namespace GupSim.Cli.Commands;

/// <summary>`gupsim walk --pfn P --count N`: page++ from pfn_to_page(P).</summary>
public static class WalkCommand
{
    /// <summary>Largest --count accepted (one line per step).</summary>
    public const ulong MaxCount = 1UL << 22;

    public static Command Create()
    {
        var machine = new MachineOptionSet();
        var json = CommonOptions.CreateJsonOption();
        var pfn = new Option<string>("--pfn") { Description = "Start pfn (decimal or 0x hex)", Required = true, HelpName = "pfn" };
        var count = new Option<string>("--count") { Description = "Number of struct pages to visit (the start included)", DefaultValueFactory = _ => "16", HelpName = "n" };
        var onlyWrong = new Option<bool>("--wrong-only") { Description = "Print only the steps that did not reach the expected struct page" };
        var cmd = new Command("walk", "Start at pfn_to_page(P) and step page++ N−1 times, printing what each step reaches and the pfn it should have been.");
        machine.AddTo(cmd);
        cmd.Options.Add(pfn);
        cmd.Options.Add(count);
        cmd.Options.Add(onlyWrong);
        cmd.Options.Add(json);
        cmd.SetAction(pr =>
        {
            ulong start = Numbers.ParseUInt64(pr.GetValue(pfn)!, "--pfn");
            ulong n = Numbers.ParseUInt64(pr.GetValue(count)!, "--count");
            if (n == 0 || n > MaxCount) throw new GupSimException(string.Create(CultureInfo.InvariantCulture, $"--count must be in 1..{MaxCount}"));
            var opts = machine.Read(pr);
            var m = opts.Boot();
            foreach (var w in opts.Warnings) Program.Warn(pr.InvocationConfiguration.Error, w);
            var steps = PageWalk.Run(m, Pfn.FromUInt64(start), n);
            var o = pr.InvocationConfiguration.Output;
            var shown = pr.GetValue(onlyWrong) ? steps.Where(s => !s.Correct).ToList() : steps;
            if (pr.GetValue(json))
            {
                o.WriteLine(Json.Serialize(shown.Select(s => new { s.Step, s.Addr, s.Kind, s.Pfn, s.ExpectedPfn })));
                return ExitCodes.Ok;
            }
            o.WriteLine("step  address             kind        pfn          expected     region");
            foreach (var s in shown)
            {
                string got = s.Pfn is ulong p ? "0x" + p.ToString("x", CultureInfo.InvariantCulture) : "-";
                string mark = s.Correct ? "" : "   <-- wrong";
                o.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{s.Step,4}  {s.Addr,-18}  {s.Kind,-10}  {got,-11}  0x{s.ExpectedPfn,-9:x}  {s.Region}{mark}"));
            }
            int wrong = steps.Count(s => !s.Correct);
            o.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{steps.Count} steps, {steps.Count - wrong} reached the right struct page, {wrong} did not"));
            return ExitCodes.Ok;
        });
        return cmd;
    }
}
