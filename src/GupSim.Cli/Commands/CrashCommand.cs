using System.CommandLine;
using GupSim.Debug;

namespace GupSim.Cli.Commands;

/// <summary>
/// `gupsim crash 'kmem -n'` / `gupsim crash 'kmem -p [ADDR]'`: crash's views of a simulated machine, in crash's own
/// columns (crash-utility memory.c), so the output reads like a crash session on a dump of that machine.
/// </summary>
public static class CrashCommand
{
    public static Command Create()
    {
        var machine = new MachineOptionSet();
        var line = new Argument<string[]>("command")
        {
            Description = "The crash command, quoted or as words: 'kmem -n' or 'kmem -p [ADDR]'",
            Arity = ArgumentArity.OneOrMore,
        };
        var cmd = new Command("crash", "Show the machine as the crash utility would: 'kmem -n' (nodes, zones, mem_section table) or 'kmem -p [ADDR]' (struct pages).");
        machine.AddTo(cmd);
        cmd.Arguments.Add(line);
        cmd.SetAction(pr =>
        {
            var command = CrashCommandLine.Parse(pr.GetValue(line) ?? []);
            var opts = machine.Read(pr);
            var m = opts.Boot();
            foreach (var w in opts.Warnings) Program.Warn(pr.InvocationConfiguration.Error, w);
            command.Run(m, pr.InvocationConfiguration.Output);
            return ExitCodes.Ok;
        });
        return cmd;
    }
}
