using System.Globalization;
using GupSim.Core;

namespace GupSim.Debug;

/// <summary>
/// A crash command line GupSim models — <c>kmem -n</c> or <c>kmem -p [ADDR]</c> (crash-utility memory.c cmd_kmem())
/// — read once and run on any machine: by <c>gupsim crash</c> and by a scenario's <c>crash</c> step, which print the
/// same lines.
/// </summary>
/// <param name="Option">'n' or 'p'.</param>
/// <param name="Address">kmem -p's address, or null for the whole memmap.</param>
public readonly record struct CrashCommandLine(char Option, ulong? Address)
{
    private const string Use = "use 'kmem -n' or 'kmem -p [ADDR]'";

    /// <summary>
    /// Reads <c>kmem -n</c> or <c>kmem -p [ADDR]</c> from words (a quoted line is split at spaces first); ADDR is
    /// hexadecimal with or without 0x, as crash's htoll() reads it (a kernel virtual address, or else a physical
    /// address). <paramref name="help"/> is the hint for a stray --option ("try 'gupsim crash --help'", "see docs/scenarios.md").
    /// </summary>
    /// <exception cref="GupSimException">Thrown for any other command line, with one line starting "crash:".</exception>
    public static CrashCommandLine Parse(IEnumerable<string> words, string help = "try 'gupsim crash --help'")
    {
        ArgumentNullException.ThrowIfNull(words);
        var w = new List<string>();
        foreach (string word in words) w.AddRange(word.Split(' ', StringSplitOptions.RemoveEmptyEntries));
        if (w.Count == 0) throw new GupSimException($"crash: give a crash command: {Use}");
        // An option the command line did not take (a GupSim option after the crash words, a typo) would otherwise
        // read as a crash word: say which, as the other commands do.
        foreach (string s in w)
            if (s.StartsWith("--", StringComparison.Ordinal))
                throw new GupSimException($"crash: unrecognized option '{s}' (the crash command is 'kmem -n' or 'kmem -p [ADDR]'; {help})");
        if (w[0] != "kmem") throw new GupSimException($"crash: '{w[0]}' is not a crash command GupSim models: {Use}");
        if (w.Count < 2 || w[1] is not ("-n" or "-p")) throw new GupSimException($"crash: kmem: give -n or -p: {Use}");
        char option = w[1][1];
        if (option == 'n')
        {
            if (w.Count > 2) throw new GupSimException("crash: kmem: no address arguments allowed with this option: use 'kmem -n'");
            return new('n', null);
        }
        if (w.Count > 3) throw new GupSimException("crash: kmem -p takes one address: use 'kmem -p ADDR'");
        if (w.Count == 2) return new('p', null);
        string a = w[2];
        if (a.StartsWith("0x", StringComparison.OrdinalIgnoreCase)) a = a[2..];
        if (a.Length == 0 || !ulong.TryParse(a, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong v))
            throw new GupSimException($"crash: kmem: invalid address: {w[2]} (give a hexadecimal address)");
        return new('p', v);
    }

    /// <summary>Runs the command on <paramref name="m"/> as it is now, writing crash's lines to <paramref name="o"/>.</summary>
    public void Run(Machine m, TextWriter o)
    {
        if (Option == 'n') CrashKmem.KmemN(m, o);
        else CrashKmem.KmemP(m, Address, o);
    }
}
