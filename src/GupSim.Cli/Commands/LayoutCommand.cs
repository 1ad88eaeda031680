using System.CommandLine;
using System.Globalization;
using GupSim.Reports;

namespace GupSim.Cli.Commands;

/// <summary>`gupsim layout`: prints the machine.</summary>
public static class LayoutCommand
{
    public static Command Create()
    {
        var machine = new MachineOptionSet();
        var json = CommonOptions.CreateJsonOption();
        var cmd = new Command("layout", "Boot a simulated machine and print its memory layout: nodes, zones, sections and where each memmap lives.");
        machine.AddTo(cmd);
        cmd.Options.Add(json);
        cmd.SetAction(pr =>
        {
            var opts = machine.Read(pr);
            var m = opts.Boot();
            var report = LayoutReport.Of(m, opts.Warnings);
            var o = pr.InvocationConfiguration.Output;
            if (pr.GetValue(json)) o.WriteLine(Json.Serialize(report));
            else LayoutText.Write(o, report);
            foreach (var w in opts.Warnings) Program.Warn(pr.InvocationConfiguration.Error, w);
            return ExitCodes.Ok;
        });
        return cmd;
    }
}
