using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;
using GupSim.Cli.Commands;
using GupSim.Core;

namespace GupSim.Cli;

/// <summary>The gupsim command line.</summary>
public static class Program
{
    /// <summary>The program's name in usage lines and error messages, whatever the executable is called.</summary>
    public const string Name = "gupsim";

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
        root.Subcommands.Add(CheckCommand.Create());
        root.Subcommands.Add(HistoryCommand.Create());
        root.Subcommands.Add(ReportCommand.Create());
        root.Subcommands.Add(CrashCommand.Create());
        root.Subcommands.Add(ExplainCommand.Create());
        root.Subcommands.Add(AuditCommand.Create());
        return root;
    }

    public static int Main(string[] args) => Run(args, Console.Out, Console.Error);

    /// <summary>Runs a command line with the given streams; bad input gets one line on stderr and exit code 1 (2 under <c>check</c>, whose 1 means failures found).</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr) => RunOn(CreateRoot(), args, stdout, stderr);

    /// <summary>Runs a command line on <paramref name="root"/> (tests give one whose check command has a fake engine).</summary>
    internal static int RunOn(RootCommand root, string[] args, TextWriter stdout, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(stderr);
        ArgumentNullException.ThrowIfNull(root);
        var config = new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false };
        try
        {
            var pr = root.Parse(args);
            if (pr.Action is ParseErrorAction)
            {
                stderr.WriteLine("gupsim: " + ParseErrorText(pr));
                // gupsim check keeps 1 for "failures found", so its bad input is 2.
                return CheckCommand.Owns(pr.CommandResult.Command) || AuditCommand.Owns(pr.CommandResult.Command) ? CheckCommand.BadInput : ExitCodes.BadInput;
            }
            if (pr.Action is HelpAction)
            {
                var help = new StringWriter();
                pr.Invoke(new InvocationConfiguration { Output = help, Error = stderr, EnableDefaultExceptionHandler = false });
                stdout.Write(RewriteHelp(help.ToString(), root.Name));
                return ExitCodes.Ok;
            }
            return pr.Invoke(config);
        }
        catch (GupSimException e)
        {
            stderr.WriteLine("gupsim: " + OneLine(e.Message));
            if (e is Gup.C.CCompileException c) stderr.Write(c.Diagnostics); // the compiler's own words, as one block
            return ExitCodes.BadInput;
        }
        catch (KernelOops e)
        {
            stderr.WriteLine(e.Message);
            return ExitCodes.Oops;
        }
        catch (Exception e) when (HostFile.IsFileError(e))
        {
            // A host file access that no command turned into its own message: the errno's text, never .NET's.
            stderr.WriteLine("gupsim: " + ErrnoText.Strerror((int)HostFile.ErrnoOf(e)));
            return ExitCodes.BadInput;
        }
    }

    /// <summary>Writes a warning as every command does: <c>gupsim: warning: TEXT</c>, one line.</summary>
    public static void Warn(TextWriter stderr, string text)
    {
        ArgumentNullException.ThrowIfNull(stderr);
        stderr.WriteLine("gupsim: warning: " + OneLine(text));
    }

    private static string OneLine(string s) => s.ReplaceLineEndings(" ").Trim();

    private static string Lower(string? s) => string.IsNullOrEmpty(s) ? "" : char.ToLowerInvariant(s[0]) + s[1..];

    /// <summary>"gupsim gup-test": the command's name as a user types it.</summary>
    public static string CommandPath(Command command)
    {
        ArgumentNullException.ThrowIfNull(command);
        var names = new List<string>();
        for (Symbol? s = command; s is not null; s = s.Parents.FirstOrDefault())
            names.Insert(0, s is RootCommand ? Name : s.Name);
        return string.Join(' ', names);
    }

    /// <summary>
    /// The one line for a command line System.CommandLine could not parse, in getopt's words, and where to look
    /// next: <c>layout: unrecognized option '--bogus' (try 'gupsim layout --help')</c>.
    /// </summary>
    private static string ParseErrorText(ParseResult pr)
    {
        var cmd = pr.CommandResult.Command;
        string path = CommandPath(cmd);
        string where = cmd is RootCommand ? "" : cmd.Name + ": ";
        string tryHelp = $"(try '{path} --help')";
        if (pr.UnmatchedTokens.Count > 0 && cmd.TreatUnmatchedTokensAsErrors)
        {
            string t = pr.UnmatchedTokens[0];
            if (t.StartsWith('-') && t.Length > 1) return $"{where}unrecognized option '{t}' {tryHelp}";
            if (cmd is RootCommand) return $"'{t}' is not a {Name} command: use one of {string.Join(", ", cmd.Subcommands.Select(c => c.Name))} {tryHelp}";
            return $"{where}unexpected argument '{t}' {tryHelp}";
        }
        foreach (var e in pr.Errors)
        {
            var option = e.SymbolResult as OptionResult ?? e.SymbolResult?.Parent as OptionResult;
            if (option is null) continue;
            string name = option.Option.Name;
            // A CustomParser's own message (--seed) already names the option and says what to give.
            if (e.Message.StartsWith(name + ": ", StringComparison.Ordinal)) return e.Message;
            if (option.IdentifierToken is null) return $"{where}option '{name}' is required: {Lower(option.Option.Description)} {tryHelp}";
            if (option.Tokens.Count == 0) return $"{where}option '{name}' requires an argument ({option.Option.HelpName ?? "value"}) {tryHelp}";
            if (option.Tokens.Count > option.Option.Arity.MaximumNumberOfValues)
            {
                // "--arch x --arch y": the option takes one value; a list option wants one comma list instead.
                string given = string.Join(", ", option.Tokens.Select(t => "'" + t.Value + "'"));
                string once = option.Option.HelpName == "list"
                    ? $"give it once, with a comma list: {name} {string.Join(',', option.Tokens.Select(t => t.Value))}"
                    : "give it once";
                return $"{where}option '{name}' takes one value but was given {option.Tokens.Count} ({given}): {once} {tryHelp}";
            }
            string value = option.Tokens[^1].Value;
            var type = Nullable.GetUnderlyingType(option.Option.ValueType) ?? option.Option.ValueType;
            if (type == typeof(int) || type == typeof(long) || type == typeof(uint) || type == typeof(ulong))
                return $"{name}: '{value}' is not a number (use a decimal number)";
            return $"{name}: '{value}' is not a valid value {tryHelp}";
        }
        foreach (var o in cmd.Options)
            if (o.Required && pr.GetResult(o) is null) return $"{where}option '{o.Name}' is required: {Lower(o.Description)} {tryHelp}";
        foreach (var a in cmd.Arguments)
            if (a.Arity.MinimumNumberOfValues > 0 && (pr.GetResult(a) is not { } ar || ar.Tokens.Count == 0))
                return $"{where}missing the <{a.Name}> argument: {Lower(a.Description)} {tryHelp}";
        if (cmd is RootCommand && !cmd.Subcommands.Any(c => pr.GetResult(c) is not null))
            return $"give a command: {string.Join(", ", cmd.Subcommands.Select(c => c.Name))} {tryHelp}";
        string message = pr.Errors.Count > 0 ? pr.Errors[0].Message.TrimEnd('.') : "cannot parse the command line";
        return $"{where}{OneLine(message)} {tryHelp}";
    }

    /// <summary>
    /// System.CommandLine's help, reworded: the usage line names gupsim rather than the executable (GupSim.Cli,
    /// or testhost under a test runner), the commands that pass words on to gup_test say "[gup_test flags...]" where
    /// System.CommandLine says "[[--] &lt;additional arguments&gt;...]]", and its "Additional Arguments" section goes.
    /// </summary>
    public static string RewriteHelp(string help, string executableName)
    {
        ArgumentNullException.ThrowIfNull(help);
        var sb = new System.Text.StringBuilder();
        bool skipping = false;
        foreach (string line in help.ReplaceLineEndings("\n").Split('\n'))
        {
            if (skipping)
            {
                if (line.Length == 0) skipping = false;
                continue;
            }
            if (line.StartsWith("Additional Arguments:", StringComparison.Ordinal))
            {
                skipping = true;
                continue;
            }
            string l = line.Replace(" [[--] <additional arguments>...]]", " [gup_test flags...]", StringComparison.Ordinal);
            if (l.StartsWith("  " + executableName + " ", StringComparison.Ordinal) || l == "  " + executableName)
                l = "  " + Name + l[(2 + executableName.Length)..];
            sb.Append(l).Append('\n');
        }
        return sb.ToString().TrimEnd('\n') + "\n";
    }
}
