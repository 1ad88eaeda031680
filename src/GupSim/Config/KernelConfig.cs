using System.Globalization;
using System.Text;
using GupSim.Arch;
using GupSim.Core;

namespace GupSim.Config;

/// <summary>The value of a Kconfig <c>bool</c> or <c>tristate</c> symbol (scripts/kconfig: n, m, y).</summary>
public enum Tristate
{
    /// <summary>n: not built (also a symbol absent from the file or written as "# CONFIG_X is not set").</summary>
    No,
    /// <summary>m: built as a module.</summary>
    Module,
    /// <summary>y: built in.</summary>
    Yes,
}

/// <summary>
/// A kernel <c>.config</c> as scripts/kconfig writes it: <c>CONFIG_X=y|m|n</c>, numbers (<c>CONFIG_X=123</c>,
/// <c>CONFIG_X=0x1000</c>), strings (<c>CONFIG_X="text"</c> with backslash escapes), <c># CONFIG_X is not set</c>,
/// and the header comment <c># Linux/&lt;arch&gt; &lt;version&gt; Kernel Configuration</c> that names the arch
/// directory and the kernel release. <see cref="Derive"/> turns it into GupSim's machine parameters.
/// </summary>
/// <remarks>
/// Immutable once parsed. Symbol names are accepted with or without the <c>CONFIG_</c> prefix. When a symbol is
/// assigned twice the later line wins, as scripts/kconfig does when it reads a file.
/// </remarks>
public sealed partial class KernelConfig
{
    private const string Prefix = "CONFIG_";
    private const string NotSetSuffix = " is not set";

    private readonly Dictionary<string, Entry> _entries;
    private readonly List<string> _parseNotes;

    private KernelConfig(string fileName, Dictionary<string, Entry> entries, List<string> parseNotes,
        string? headerArch, string? versionText, KernelVersion? version)
    {
        FileName = fileName;
        _entries = entries;
        _parseNotes = parseNotes;
        HeaderArch = headerArch;
        VersionText = versionText;
        Version = version;
    }

    /// <summary>The name used in messages: the path given to <see cref="Load"/> or the name given to <see cref="Parse"/>.</summary>
    public string FileName { get; }

    /// <summary>
    /// The arch as the header names it (the kernel's <c>$(ARCH)</c>: "x86", "arm64", "arm", "mips", ...), or null when
    /// the file has no <c># Linux/&lt;arch&gt; &lt;version&gt; Kernel Configuration</c> header.
    /// </summary>
    public string? HeaderArch { get; }

    /// <summary>The release as written ("6.1.192"), from the header or a version hint; null when neither is present.</summary>
    public string? VersionText { get; }

    /// <summary>
    /// The kernel release (major.minor) from the header, else from a hint (<c># Linux kernel version: X</c> of old
    /// kernels, or <c>CONFIG_VERSION_SIGNATURE</c>); null when the file gives none.
    /// </summary>
    public KernelVersion? Version { get; }

    /// <summary>Number of symbols with a line in the file (assigned or "is not set").</summary>
    public int Count => _entries.Count;

    /// <summary>Parses the text of a <c>.config</c>.</summary>
    /// <param name="text">The file's contents.</param>
    /// <param name="fileName">The name to use in messages.</param>
    /// <exception cref="GupSimException">Thrown when a line is malformed: "{fileName}:{line}: malformed line: {text}".</exception>
    public static KernelConfig Parse(string text, string fileName)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(fileName);
        var entries = new Dictionary<string, Entry>(StringComparer.Ordinal);
        var notes = new List<string>();
        string? headerArch = null, headerVersion = null, oldHeaderVersion = null;
        string[] lines = text.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            int lineNumber = i + 1;
            string raw = lines[i].TrimEnd('\r');
            string line = raw.Trim();
            if (line.Length == 0) continue;
            if (line[0] == '#')
            {
                string? notSet = ParseNotSet(line);
                if (notSet != null)
                {
                    Add(entries, notes, new Entry(notSet, EntryKind.NotSet, "n", lineNumber, Tristate.No, null, null, null));
                }
                else if (headerArch == null && TryParseHeader(line, out string arch, out string version))
                {
                    headerArch = arch;
                    headerVersion = version;
                }
                else if (oldHeaderVersion == null && line.StartsWith("# Linux kernel version:", StringComparison.Ordinal))
                {
                    oldHeaderVersion = line["# Linux kernel version:".Length..].Trim();
                }
                continue;
            }
            Entry? entry = ParseAssignment(line, lineNumber);
            if (entry == null) throw new GupSimException($"{fileName}:{lineNumber}: malformed line: {raw}");
            Add(entries, notes, entry);
        }

        string? versionText = headerVersion;
        KernelVersion? kernelVersion = null;
        if (versionText != null && KernelVersion.TryParse(versionText, out var hv)) kernelVersion = hv;
        else if (FindVersionHint(oldHeaderVersion, entries, out string hintText, out var hintVersion))
        {
            versionText = hintText;
            kernelVersion = hintVersion;
        }
        return new KernelConfig(fileName, entries, notes, headerArch, versionText, kernelVersion);
    }

    /// <summary>Reads and parses a <c>.config</c> file, plain or gzip-compressed (<c>/proc/config.gz</c>, found by its magic bytes 1f 8b).</summary>
    /// <param name="path">The file; messages name it as given.</param>
    /// <exception cref="GupSimException">Thrown when the file cannot be read or a line is malformed.</exception>
    public static KernelConfig Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        string text = HostFile.ReadAllText(path, "--config wants a kernel .config: /boot/config-$(uname -r), /proc/config.gz or a build tree's .config");
        return Parse(text, path);
    }

    /// <summary>Whether the symbol is <c>y</c> or <c>m</c> (a number or string value does not count as set).</summary>
    /// <param name="name">"CONFIG_SPARSEMEM" or "SPARSEMEM".</param>
    public bool IsSet(string name) =>
        _entries.TryGetValue(Strip(name), out var e) && e.Kind == EntryKind.Tristate && e.Tristate != Tristate.No;

    /// <summary>Whether the file mentions the symbol at all (assigned, or "# CONFIG_X is not set").</summary>
    public bool Contains(string name) => _entries.ContainsKey(Strip(name));

    /// <summary>The value of a bool or tristate symbol; <see cref="Tristate.No"/> when absent or "is not set".</summary>
    /// <exception cref="GupSimException">Thrown when the symbol holds a number or a string.</exception>
    public Tristate GetTristate(string name)
    {
        if (!_entries.TryGetValue(Strip(name), out var e) || e.Kind == EntryKind.NotSet) return Tristate.No;
        if (e.Kind != EntryKind.Tristate) throw WrongType(e, "y, m or n");
        return e.Tristate;
    }

    /// <summary>The value of an <c>int</c> or <c>hex</c> symbol, or null when absent or "is not set".</summary>
    /// <exception cref="GupSimException">Thrown when the symbol is not a number or does not fit a signed 64-bit value.</exception>
    public long? GetNumber(string name)
    {
        if (!_entries.TryGetValue(Strip(name), out var e) || e.Kind == EntryKind.NotSet) return null;
        if (e.Kind != EntryKind.Number) throw WrongType(e, "a number");
        if (e.Signed is long s) return s;
        throw new GupSimException($"{FileName}:{e.Line}: {Prefix}{e.Name}={e.Raw} does not fit a signed 64-bit number");
    }

    /// <summary>The value of an <c>int</c> or <c>hex</c> symbol as an unsigned 64-bit number (e.g. 0xdead000000000000), or null when absent.</summary>
    /// <exception cref="GupSimException">Thrown when the symbol is not a number or is negative.</exception>
    public ulong? GetUnsignedNumber(string name)
    {
        if (!_entries.TryGetValue(Strip(name), out var e) || e.Kind == EntryKind.NotSet) return null;
        if (e.Kind != EntryKind.Number) throw WrongType(e, "a number");
        if (e.Unsigned is ulong u) return u;
        throw new GupSimException($"{FileName}:{e.Line}: {Prefix}{e.Name}={e.Raw} is negative");
    }

    /// <summary>The value of a <c>string</c> symbol with its escapes undone, or null when absent or "is not set".</summary>
    /// <exception cref="GupSimException">Thrown when the symbol is not a quoted string.</exception>
    public string? GetString(string name)
    {
        if (!_entries.TryGetValue(Strip(name), out var e) || e.Kind == EntryKind.NotSet) return null;
        if (e.Kind != EntryKind.String) throw WrongType(e, "a quoted string");
        return e.Text;
    }

    /// <summary>The 1-based line that gave the symbol its value, or null when absent.</summary>
    public int? LineOf(string name) => _entries.TryGetValue(Strip(name), out var e) ? e.Line : null;

    private static string Strip(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return name.StartsWith(Prefix, StringComparison.Ordinal) ? name[Prefix.Length..] : name;
    }

    private GupSimException WrongType(Entry e, string wanted) =>
        new($"{FileName}:{e.Line}: {Prefix}{e.Name}={e.Raw} is not {wanted}");


    private static void Add(Dictionary<string, Entry> entries, List<string> notes, Entry entry)
    {
        if (entries.TryGetValue(entry.Name, out var old))
            notes.Add($"line {entry.Line}: {Prefix}{entry.Name} is assigned again (first on line {old.Line}); the later value wins");
        entries[entry.Name] = entry;
    }

    private static bool IsSymbolChar(char c) => char.IsAsciiLetterOrDigit(c) || c == '_';

    private static bool IsSymbol(ReadOnlySpan<char> s)
    {
        if (s.IsEmpty) return false;
        foreach (char c in s)
            if (!IsSymbolChar(c)) return false;
        return true;
    }

    /// <summary>"# CONFIG_X is not set" → "X"; anything else → null.</summary>
    private static string? ParseNotSet(string line)
    {
        if (!line.StartsWith("# " + Prefix, StringComparison.Ordinal) || !line.EndsWith(NotSetSuffix, StringComparison.Ordinal)) return null;
        int start = 2 + Prefix.Length;
        int end = line.Length - NotSetSuffix.Length;
        if (end <= start) return null;
        var name = line.AsSpan(start, end - start);
        return IsSymbol(name) ? name.ToString() : null;
    }

    /// <summary>"# Linux/x86 6.1.192 Kernel Configuration" → ("x86", "6.1.192").</summary>
    private static bool TryParseHeader(string line, out string arch, out string version)
    {
        arch = version = "";
        const string Start = "# Linux/", End = " Kernel Configuration";
        if (!line.StartsWith(Start, StringComparison.Ordinal) || !line.EndsWith(End, StringComparison.Ordinal)) return false;
        string middle = line[Start.Length..^End.Length].Trim();
        int space = middle.IndexOf(' ');
        if (space <= 0) return false;
        arch = middle[..space];
        version = middle[(space + 1)..].Trim();
        return version.Length > 0;
    }

    private static bool FindVersionHint(string? oldHeader, Dictionary<string, Entry> entries, out string text, out KernelVersion version)
    {
        // Kernels before 3.x wrote "# Linux kernel version: 2.6.32"; Ubuntu's configs carry
        // CONFIG_VERSION_SIGNATURE="Ubuntu 5.15.0-91.101-generic 5.15.131". (CONFIG_CC_VERSION_TEXT is the compiler's.)
        var candidates = new List<string>();
        if (oldHeader != null) candidates.Add(oldHeader);
        if (entries.TryGetValue("VERSION_SIGNATURE", out var sig) && sig.Text != null)
            candidates.AddRange(sig.Text.Split(' ', StringSplitOptions.RemoveEmptyEntries));
        foreach (string c in candidates)
        {
            if (KernelVersion.TryParse(c, out version))
            {
                text = c;
                return true;
            }
        }
        text = "";
        version = default;
        return false;
    }

    /// <summary>Parses "CONFIG_X=value"; null when the line is not one.</summary>
    private static Entry? ParseAssignment(string line, int lineNumber)
    {
        if (!line.StartsWith(Prefix, StringComparison.Ordinal)) return null;
        int eq = line.IndexOf('=');
        if (eq < 0) return null;
        var name = line.AsSpan(Prefix.Length, eq - Prefix.Length);
        if (!IsSymbol(name)) return null;
        string value = line[(eq + 1)..];
        string n = name.ToString();
        switch (value)
        {
            case "y": return new Entry(n, EntryKind.Tristate, value, lineNumber, Tristate.Yes, null, null, null);
            case "m": return new Entry(n, EntryKind.Tristate, value, lineNumber, Tristate.Module, null, null, null);
            case "n": return new Entry(n, EntryKind.Tristate, value, lineNumber, Tristate.No, null, null, null);
        }
        if (value.StartsWith('"'))
        {
            string? s = ParseQuoted(value);
            return s == null ? null : new Entry(n, EntryKind.String, value, lineNumber, Tristate.No, null, null, s);
        }
        if (value.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
        {
            if (value.Length == 2 || !IsHex(value.AsSpan(2))) return null;
            if (!ulong.TryParse(value.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong u)) return null;
            long? signed = u <= long.MaxValue ? (long)u : null;
            return new Entry(n, EntryKind.Number, value, lineNumber, Tristate.No, signed, u, null);
        }
        if (value.Length > 0 && (char.IsAsciiDigit(value[0]) || (value[0] == '-' && value.Length > 1 && char.IsAsciiDigit(value[1]))))
        {
            if (!long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long l)) return null;
            return new Entry(n, EntryKind.Number, value, lineNumber, Tristate.No, l, l >= 0 ? (ulong)l : null, null);
        }
        return null;
    }

    private static bool IsHex(ReadOnlySpan<char> s)
    {
        foreach (char c in s)
            if (!char.IsAsciiHexDigit(c)) return false;
        return true;
    }

    /// <summary>Undoes scripts/kconfig's string escaping: <c>"a\"b\\c"</c> → <c>a"b\c</c>. Null when unterminated or followed by text.</summary>
    private static string? ParseQuoted(string value)
    {
        var sb = new StringBuilder(value.Length);
        for (int i = 1; i < value.Length; i++)
        {
            char c = value[i];
            if (c == '\\')
            {
                if (i + 1 >= value.Length) return null;
                sb.Append(value[++i]);
            }
            else if (c == '"')
            {
                return i == value.Length - 1 ? sb.ToString() : null;
            }
            else
            {
                sb.Append(c);
            }
        }
        return null;
    }

    private enum EntryKind
    {
        NotSet,
        Tristate,
        Number,
        String,
    }

    /// <param name="Name">Symbol without the CONFIG_ prefix.</param>
    /// <param name="Kind">What the value is.</param>
    /// <param name="Raw">The value as written after '='.</param>
    /// <param name="Line">1-based line number.</param>
    /// <param name="Tristate">For <see cref="EntryKind.Tristate"/>.</param>
    /// <param name="Signed">For numbers that fit a long.</param>
    /// <param name="Unsigned">For non-negative numbers.</param>
    /// <param name="Text">For strings, unescaped.</param>
    private sealed record Entry(string Name, EntryKind Kind, string Raw, int Line, Tristate Tristate, long? Signed, ulong? Unsigned, string? Text);
}
