using System.Globalization;
using GupSim.Cli;

namespace GupSim.Tests.Cli;

/// <summary>What one <c>gupsim</c> command line gave: its exit code and everything it wrote to stdout and stderr.</summary>
internal sealed record CliResult(int ExitCode, string Stdout, string Stderr)
{
    /// <summary>The non-empty stdout lines.</summary>
    public string[] Lines => Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    /// <summary>The non-empty stderr lines.</summary>
    public string[] StderrLines => Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
}

/// <summary>Runs a <c>gupsim</c> command line in-process (<see cref="Program.Run"/>) with captured streams.</summary>
internal static class CliRun
{
    /// <summary>Runs <paramref name="args"/>; stdout has its line ends as "\n".</summary>
    public static CliResult Run(params string[] args)
    {
        var stdout = new StringWriter(CultureInfo.InvariantCulture);
        var stderr = new StringWriter(CultureInfo.InvariantCulture);
        int rc = Program.Run(args, stdout, stderr);
        return new CliResult(rc, stdout.ToString().Replace("\r", "", StringComparison.Ordinal), stderr.ToString());
    }
}
