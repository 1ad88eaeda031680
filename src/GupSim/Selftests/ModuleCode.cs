using System.Reflection;
using System.Reflection.PortableExecutable;
using System.Runtime.CompilerServices;

namespace GupSim.Selftests;

/// <summary>
/// The gup_test module's code, made ready when the module is loaded (GupSim's own machinery, not a kernel function): a
/// kernel module is machine code before its first ioctl, so the simulated module prepares the GUP path — every
/// non-generic method of the types in <see cref="Namespaces"/> — before the selftest's first timed loop instead of inside
/// it. It does so when that makes optimised code: when the .NET runtime compiles fully optimised code at once (quick JIT
/// off — the gupsim tool's runtimeconfig sets System.Runtime.TieredCompilation.QuickJit=false, docs/performance.md
/// "First repeat"; or <c>DOTNET_TC_QuickJit=0</c>, or tiered compilation off), and when GupSim.dll carries ReadyToRun
/// code (a publish with PublishReadyToRun), where preparing a method binds its precompiled code (type loads and fixups)
/// and compiles the few methods crossgen2 left out. With plain IL and the default tiering (the test host) it does
/// nothing: preparing would only make unoptimised tier-0 code. No GUP code runs: no extra ioctl, printed or not.
/// </summary>
public static class ModuleCode
{
    private static int s_prepared;

    /// <summary>The namespaces whose code a gup_test ioctl runs: GUP, struct pages, memory models, page tables, hugetlb.</summary>
    public static IReadOnlyList<string> Namespaces { get; } =
        ["GupSim.Gup", "GupSim.Pages", "GupSim.Memory", "GupSim.Memory.Models", "GupSim.Mm", "GupSim.Hugetlb"];

    /// <summary>Methods compiled by the first <see cref="Prepare"/> (0 before it ran).</summary>
    public static int MethodsPrepared { get; private set; }

    /// <summary>Prepares the GUP path once per process (later calls return at once), on every CPU.</summary>
    public static void Prepare()
    {
        if (!(FullyOptimisingJit || ReadyToRunCode) || Interlocked.Exchange(ref s_prepared, 1) != 0) return;
        var methods = new List<RuntimeMethodHandle>();
        var self = typeof(GupTestModule);
        foreach (var t in self.Assembly.GetTypes())
        {
            if (t.Namespace is not { } ns || !Contains(ns) || t.ContainsGenericParameters) continue;
            Collect(t, methods);
        }
        Collect(self, methods);
        int n = 0;
        Parallel.ForEach(methods, h =>
        {
            try
            {
                RuntimeHelpers.PrepareMethod(h);
                Interlocked.Increment(ref n);
            }
            catch (Exception e) when (e is ArgumentException or NotSupportedException or BadImageFormatException or TypeLoadException or MissingMethodException)
            {
                // A method the runtime cannot compile ahead of its first call is compiled then, as before.
            }
        });
        MethodsPrepared = n;
    }

    /// <summary>
    /// Whether the runtime compiles every method fully optimised at its first compilation: quick JIT off
    /// (<c>DOTNET_TC_QuickJit=0</c> or the runtimeconfig's System.Runtime.TieredCompilation.QuickJit) or tiered
    /// compilation off (<c>DOTNET_TieredCompilation=0</c> or System.Runtime.TieredCompilation).
    /// </summary>
    public static bool FullyOptimisingJit =>
        Off("DOTNET_TC_QuickJit", "COMPlus_TC_QuickJit", "System.Runtime.TieredCompilation.QuickJit")
        || Off("DOTNET_TieredCompilation", "COMPlus_TieredCompilation", "System.Runtime.TieredCompilation");

    /// <summary>
    /// Whether GupSim.dll is a ReadyToRun image the runtime may run: its CLI header names a ReadyToRun (managed native)
    /// header, and ReadyToRun code is not turned off (<c>DOTNET_ReadyToRun=0</c>). An image compiled for another CPU
    /// would not have loaded at all; one whose instruction sets this CPU lacks is JIT-compiled method by method.
    /// </summary>
    public static bool ReadyToRunCode => s_readyToRun.Value;

    private static readonly Lazy<bool> s_readyToRun = new(ReadReadyToRunHeader);

    private static bool ReadReadyToRunHeader()
    {
        string? off = Environment.GetEnvironmentVariable("DOTNET_ReadyToRun") ?? Environment.GetEnvironmentVariable("COMPlus_ReadyToRun");
        return off != "0" && IsReadyToRunImage(typeof(ModuleCode).Assembly.Location);
    }

    /// <summary>
    /// Whether the file at <paramref name="path"/> is a ReadyToRun image (a CLI header with a managed native header);
    /// false for an IL-only assembly, an empty path (a single-file bundle), or a file that cannot be read as PE.
    /// </summary>
    internal static bool IsReadyToRunImage(string path)
    {
        if (path.Length == 0) return false;
        try
        {
            using var stream = File.OpenRead(path);
            using var pe = new PEReader(stream);
            return pe.PEHeaders.CorHeader is { ManagedNativeHeaderDirectory.Size: > 0 };
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or BadImageFormatException)
        {
            return false;
        }
    }

    private static bool Off(string env, string legacyEnv, string runtimeConfig)
    {
        string? v = Environment.GetEnvironmentVariable(env) ?? Environment.GetEnvironmentVariable(legacyEnv);
        if (v is not null) return v == "0";
        return AppContext.GetData(runtimeConfig) is string s && string.Equals(s, "false", StringComparison.OrdinalIgnoreCase);
    }

    private static bool Contains(string ns)
    {
        foreach (string s in Namespaces) if (s == ns) return true;
        return false;
    }

    private static void Collect(Type t, List<RuntimeMethodHandle> methods)
    {
        const BindingFlags all = BindingFlags.DeclaredOnly | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static;
        foreach (var m in t.GetMethods(all))
            if (!m.IsAbstract && !m.ContainsGenericParameters && m.GetMethodBody() is not null) methods.Add(m.MethodHandle);
        foreach (var c in t.GetConstructors(all))
            if (!c.IsStatic && c.GetMethodBody() is not null) methods.Add(c.MethodHandle);
    }
}
