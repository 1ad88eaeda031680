using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using GupSim.Core;

namespace GupSim.Gup.C;

/// <summary>
/// A C file that the system compiler refused: the one-line <see cref="Exception.Message"/> and the compiler's own
/// diagnostics, which the command line prints after it as one block.
/// </summary>
public sealed class CCompileException : GupSimException
{
    /// <summary>The message and the compiler's stderr (printed verbatim after the message).</summary>
    public CCompileException(string message, string diagnostics) : base(message) => Diagnostics = diagnostics;

    /// <summary>What the compiler printed.</summary>
    public string Diagnostics { get; }
}

/// <summary>
/// The system C compiler (<c>$CC</c>, else <c>cc</c>, <c>gcc</c> or <c>clang</c> on PATH) and the content-hashed cache
/// of what it built: <c>$XDG_CACHE_HOME/gupsim/c</c> (or <c>~/.cache/gupsim/c</c>), one shared object per SHA-256 of
/// (source, gupsim/kernel.h, flags, compiler and its version).
/// </summary>
internal static class CCompiler
{
    private static readonly Lock Gate = new();
    private static (string Path, string Version)? _found;
    private static string? _header;

    /// <summary>gupsim/kernel.h as shipped in this build (an embedded resource).</summary>
    internal static string HeaderText => _header ??= ReadHeader();

    private static string ReadHeader()
    {
        using var s = typeof(CCompiler).Assembly.GetManifestResourceStream("GupSim.Gup.C.kernel.h")
            ?? throw new InvalidOperationException("gupsim/kernel.h is not embedded in GupSim.dll");
        using var r = new StreamReader(s);
        return r.ReadToEnd();
    }

    /// <summary>The cache folder.</summary>
    internal static string CacheDir()
    {
        string? xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        string root = !string.IsNullOrEmpty(xdg) ? xdg : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        return Path.Combine(root, "gupsim", "c");
    }

    /// <summary>The compiler to use and its <c>--version</c> text.</summary>
    /// <exception cref="GupSimException">Thrown when no C compiler is installed.</exception>
    internal static (string Path, string Version) Find(string label)
    {
        lock (Gate)
        {
            if (_found is { } f) return f;
            _found = FindIn(label, Environment.GetEnvironmentVariable("CC"), Environment.GetEnvironmentVariable("PATH") ?? "");
            return _found.Value;
        }
    }

    /// <summary>The compiler <paramref name="cc"/> names (<c>$CC</c>), else the first of cc, gcc, clang on <paramref name="pathVar"/>.</summary>
    /// <exception cref="GupSimException">Thrown when there is none.</exception>
    internal static (string Path, string Version) FindIn(string label, string? cc, string pathVar)
    {
        string[] names = string.IsNullOrWhiteSpace(cc) ? ["cc", "gcc", "clang"] : [cc.Trim()];
        foreach (string n in names)
        {
            string? path = OnPath(n, pathVar);
            if (path is null) continue;
            var (rc, stdout, _) = Run(path, ["--version"]);
            if (rc == 0) return (path, stdout);
        }
        throw new GupSimException(string.IsNullOrWhiteSpace(cc)
            ? $"{label}: no C compiler: none of cc, gcc, clang is on PATH; install one (apt-get install gcc) or set CC"
            : $"{label}: the C compiler CC={cc} is not on PATH or does not run: install it, or unset CC to use cc, gcc or clang");
    }

    private static string? OnPath(string name, string pathVar)
    {
        if (name.Contains('/')) return File.Exists(name) ? name : null;
        foreach (string dir in pathVar.Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            string p = Path.Combine(dir, name);
            if (File.Exists(p)) return p;
        }
        return null;
    }

    /// <summary>
    /// The shared object of <paramref name="sourcePath"/> built with <paramref name="defines"/>: from the cache (keyed by
    /// the SHA-256 of the source, its path, the header, the flags and the compiler), or compiled now and put there.
    /// </summary>
    /// <exception cref="CCompileException">Thrown when the compiler refuses the file.</exception>
    internal static string Build(string label, string sourcePath, byte[] source, IReadOnlyList<string> defines)
    {
        var (cc, version) = Find(label);
        string header = HeaderText;
        // -O3: the compiler vectorises a page++ loop as the built-in recorder is (docs/performance.md, "C recorders").
        string[] common = ["-std=gnu11", "-O3", "-fPIC", "-shared", "-fvisibility=hidden", "-fdiagnostics-color=never", "-Wall",
            "-Werror=implicit-function-declaration", "-Werror=incompatible-pointer-types", "-Werror=int-conversion"];
        var flags = new List<string>(common);
        flags.AddRange(defines);
        string key;
        using (var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256))
        {
            sha.AppendData(source);
            sha.AppendData("\0"u8);
            // The object carries the file's name (#line below: WARN_ON's FILE:LINE, the compiler's messages), so the
            // same text at another path is another object.
            sha.AppendData(Encoding.UTF8.GetBytes(sourcePath));
            sha.AppendData("\0"u8);
            sha.AppendData(Encoding.UTF8.GetBytes(header));
            sha.AppendData("\0"u8);
            sha.AppendData(Encoding.UTF8.GetBytes(string.Join(' ', flags)));
            sha.AppendData("\0"u8);
            sha.AppendData(Encoding.UTF8.GetBytes(cc + "\n" + version));
            key = Convert.ToHexStringLower(sha.GetHashAndReset());
        }
        string dir = CacheDir();
        string so = Path.Combine(dir, key + ".so");
        if (File.Exists(so)) return so;
        string inc = Path.Combine(dir, $"build-{key[..16]}-{Environment.ProcessId}-{Environment.CurrentManagedThreadId}");
        string tmp = Path.Combine(dir, $"{key}.{Environment.ProcessId}.{Environment.CurrentManagedThreadId}.tmp");
        try
        {
            Directory.CreateDirectory(Path.Combine(inc, "gupsim"));
            File.WriteAllText(Path.Combine(inc, "gupsim", "kernel.h"), header);
        }
        catch (Exception e) when (HostFile.IsFileError(e))
        {
            throw HostFile.Error(dir, e, "GupSim caches compiled --strategy-c files there: set XDG_CACHE_HOME to a writable folder");
        }
        // The source is compiled from a copy, so the compiler names the file as the user gave it (#line) and a file
        // that changes while it compiles cannot make the cached object disagree with its key.
        string copy = Path.Combine(inc, "source.c");
        File.WriteAllText(copy, $"#line 1 \"{sourcePath.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal)}\"\n");
        using (var f = new FileStream(copy, FileMode.Append)) f.Write(source);
        var args = new List<string>(flags) { "-I", inc, "-o", tmp, copy };
        var (rc, _, stderr) = Run(cc, args);
        try
        {
            if (rc != 0)
                throw new CCompileException($"{label}: {Path.GetFileName(cc)} could not compile it (exit {rc}):", stderr.TrimEnd('\n') + "\n");
            File.Move(tmp, so, overwrite: true);
        }
        finally
        {
            File.Delete(tmp);
            Directory.Delete(inc, recursive: true);
        }
        return so;
    }

    /// <summary>Runs <paramref name="exe"/>; a file that cannot be executed (not a program, no permission) is exit code 126, as a shell reports it.</summary>
    private static (int Rc, string Stdout, string Stderr) Run(string exe, IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args) psi.ArgumentList.Add(a);
        psi.Environment["LC_ALL"] = "C";
        Process? started;
        try
        {
            started = Process.Start(psi);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            // What a shell prints for it: "cc: Permission denied", not .NET's "An error occurred trying to start process".
            return (126, "", Path.GetFileName(exe) + ": " + ErrnoText.Strerror(e.NativeErrorCode) + "\n");
        }
        using var p = started!;
        var err = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout, err.Result);
    }
}
