using System.CommandLine;
using GupSim.Scenario;

namespace GupSim.Cli.Commands;

/// <summary>`gupsim scenario FILE|-`: runs a scenario script (docs/scenarios.md).</summary>
public static class ScenarioCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("file") { Description = "The script, or - for standard input" };
        var cmd = new Command("scenario", "Run a scenario script of machine operations and expectations; exits 3 when an expectation fails.");
        cmd.Arguments.Add(file);
        cmd.SetAction(pr =>
        {
            string path = pr.GetValue(file)!;
            string text = path == "-" ? Console.In.ReadToEnd() : Core.HostFile.ReadAllText(path, "scenario wants a script file (docs/scenarios.md), or - for standard input");
            var result = new ScenarioRunner(pr.InvocationConfiguration.Output).Run(text, path == "-" ? "<stdin>" : path);
            return result.ExpectationsFailed > 0 ? ExitCodes.ExpectationFailed : ExitCodes.Ok;
        });
        return cmd;
    }
}
