using System.CommandLine;
using System.Globalization;
using GupSim.Core;
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
            var words = string.Join(' ', pr.GetValue(line) ?? []).Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var (option, address) = Parse(words);
            var opts = machine.Read(pr);
            var m = opts.Boot();
            foreach (var w in opts.Warnings) Program.Warn(pr.InvocationConfiguration.Error, w);
            Run(m, option, address, pr.InvocationConfiguration.Output);
            return ExitCodes.Ok;
        });
        return cmd;
    }

    /// <summary>Runs a parsed crash command on <paramref name="m"/>.</summary>
    public static void Run(Machine m, char option, ulong? address, TextWriter o)
    {
        if (option == 'n') CrashKmem.KmemN(m, o);
        else CrashKmem.KmemP(m, address, o);
    }

    /// <summary>
    /// Reads <c>kmem -n</c> or <c>kmem -p [ADDR]</c>; ADDR is hexadecimal with or without 0x, as crash's htoll() reads
    /// it (a kernel virtual address, or else a physical address).
    /// </summary>
    /// <exception cref="GupSimException">Thrown for any other command line.</exception>
    public static (char Option, ulong? Address) Parse(IReadOnlyList<string> words)
    {
        ArgumentNullException.ThrowIfNull(words);
        const string Use = "use 'kmem -n' or 'kmem -p [ADDR]'";
        if (words.Count == 0) throw new GupSimException($"crash: give a crash command: {Use}");
        // An option the command line did not take (a GupSim option after the crash words, a typo) would otherwise
        // read as a crash word: say which, as the other commands do.
        foreach (string w in words)
            if (w.StartsWith("--", StringComparison.Ordinal))
                throw new GupSimException($"crash: unrecognized option '{w}' (the crash command is 'kmem -n' or 'kmem -p [ADDR]'; try 'gupsim crash --help')");
        if (words[0] != "kmem") throw new GupSimException($"crash: '{words[0]}' is not a crash command GupSim models: {Use}");
        if (words.Count < 2 || words[1] is not ("-n" or "-p")) throw new GupSimException($"crash: kmem: give -n or -p: {Use}");
        char option = words[1][1];
        if (option == 'n')
        {
            if (words.Count > 2) throw new GupSimException("crash: kmem: no address arguments allowed with this option: use 'kmem -n'");
            return ('n', null);
        }
        if (words.Count > 3) throw new GupSimException("crash: kmem -p takes one address: use 'kmem -p ADDR'");
        if (words.Count == 2) return ('p', null);
        string a = words[2];
        if (a.StartsWith("0x", StringComparison.OrdinalIgnoreCase)) a = a[2..];
        if (a.Length == 0 || !ulong.TryParse(a, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong v))
            throw new GupSimException($"crash: kmem: invalid address: {words[2]} (give a hexadecimal address)");
        return ('p', v);
    }
}
