using System.CommandLine;
using GupSim.Cli.Commands;
using GupSim.Core;

namespace GupSim.Cli;

/// <summary>The gupsim command line.</summary>
public static class Program
{
    /// <summary>Builds the root command.</summary>
    public static RootCommand CreateRoot()
    {
        var root = new RootCommand("GupSim: how Linux pins user memory backed by huge pages, on every memory model and arch.");
        root.Subcommands.Add(LayoutCommand.Create());
        root.Subcommands.Add(WalkCommand.Create());
        root.Subcommands.Add(PageCommand.CreatePage());
        root.Subcommands.Add(PageCommand.CreatePfn());
        root.Subcommands.Add(ScenarioCommand.Create());
        root.Subcommands.Add(GupTestCommand.Create());
        root.Subcommands.Add(GupLongtermCommand.Create());
        root.Subcommands.Add(BenchCommand.Create());
        root.Subcommands.Add(RunVmtestsCommand.Create());
        return root;
    }

    public static int Main(string[] args) => Run(args, Console.Out, Console.Error);

    /// <summary>Runs a command line with the given streams; bad input gets one line on stderr and exit code 1.</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var root = CreateRoot();
        var config = new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false };
        try
        {
            return root.Parse(args).Invoke(config);
        }
        catch (GupSimException e)
        {
            stderr.WriteLine("gupsim: " + e.Message);
            return ExitCodes.BadInput;
        }
        catch (KernelOops e)
        {
            stderr.WriteLine(e.Message);
            return ExitCodes.Oops;
        }
        catch (IOException e)
        {
            stderr.WriteLine("gupsim: " + e.Message);
            return ExitCodes.BadInput;
        }
        catch (UnauthorizedAccessException e)
        {
            stderr.WriteLine("gupsim: " + e.Message);
            return ExitCodes.BadInput;
        }
    }
}
