using System.Reflection;
using GupSim.Core;

namespace GupSim.Gup;

/// <summary>
/// Loads user recorders (<c>--strategy-assembly PATH.dll</c>): every public, non-abstract type in the assembly that
/// implements <see cref="ISubpageRecorder"/> and has a public parameterless constructor.
/// </summary>
public static class StrategyAssemblies
{
    /// <summary>The recorders in the assembly at <paramref name="path"/>.</summary>
    /// <exception cref="GupSimException">Thrown when the file cannot be loaded or holds no recorder.</exception>
    public static IReadOnlyList<ISubpageRecorder> LoadRecorders(string path)
    {
        const string advice = "--strategy-assembly wants the .dll that dotnet build makes of a project implementing GupSim.Gup.ISubpageRecorder, e.g. samples/GupSim.Samples.Recorder";
        string label = "--strategy-assembly " + path;
        if (Directory.Exists(path)) throw HostFile.Error(label, Errno.EISDIR, advice);
        if (!File.Exists(path)) throw HostFile.Error(label, Errno.ENOENT, advice);
        Assembly asm;
        try
        {
            asm = Assembly.LoadFrom(Path.GetFullPath(path));
        }
        catch (BadImageFormatException)
        {
            // The loader's answer for a file that is not a managed PE image: what exec(2) calls ENOEXEC.
            throw new GupSimException($"{label}: not a .NET assembly ({advice})");
        }
        catch (Exception e) when (HostFile.IsFileError(e) || e is ArgumentException)
        {
            throw HostFile.Error(label, e, advice);
        }
        var found = new List<ISubpageRecorder>();
        foreach (var t in asm.GetExportedTypes())
        {
            if (t.IsAbstract || !typeof(ISubpageRecorder).IsAssignableFrom(t) || t.GetConstructor(Type.EmptyTypes) is null) continue;
            found.Add((ISubpageRecorder)Activator.CreateInstance(t)!);
        }
        if (found.Count == 0)
            throw new GupSimException($"--strategy-assembly {path}: no public class implementing GupSim.Gup.ISubpageRecorder with a parameterless constructor");
        return found;
    }
}

/// <summary>The <c>--strategy</c> / <c>--strategy-assembly</c> pair every command that runs GUP accepts.</summary>
public static class StrategySelection
{
    /// <summary>
    /// The strategy to run on kernel <paramref name="v"/>: null for the version's own code when neither is given; a
    /// built-in or user recorder named <paramref name="name"/>; or the only recorder of the assemblies when no name is
    /// given.
    /// </summary>
    /// <exception cref="GupSimException">Thrown for an unknown name, or several user recorders and no name.</exception>
    public static GupStrategy? Resolve(string? name, IReadOnlyList<string> assemblies, Arch.KernelVersion v)
    {
        ArgumentNullException.ThrowIfNull(assemblies);
        return Resolve(name, LoadUserRecorders(assemblies, []), v);
    }

    /// <summary>
    /// The recorders of <c>--strategy-assembly</c> <paramref name="assemblies"/> and <c>--strategy-c</c>
    /// <paramref name="cFiles"/> (each C file compiled now, <see cref="C.CRecorder.Load"/>), in that order.
    /// </summary>
    /// <exception cref="GupSimException">Thrown when a file cannot be loaded, compiled, or holds no recorder.</exception>
    public static IReadOnlyList<ISubpageRecorder> LoadUserRecorders(IReadOnlyList<string> assemblies, IReadOnlyList<string> cFiles)
    {
        ArgumentNullException.ThrowIfNull(assemblies);
        ArgumentNullException.ThrowIfNull(cFiles);
        var user = new List<ISubpageRecorder>();
        foreach (string path in assemblies) user.AddRange(StrategyAssemblies.LoadRecorders(path));
        foreach (string path in cFiles) user.Add(C.CRecorder.Load(path));
        return user;
    }

    /// <summary>
    /// As <see cref="Resolve(string?, IReadOnlyList{string}, Arch.KernelVersion)"/> with the user recorders already
    /// loaded (<see cref="LoadUserRecorders"/>).
    /// </summary>
    /// <exception cref="GupSimException">Thrown for an unknown name, or several user recorders and no name.</exception>
    public static GupStrategy? Resolve(string? name, IReadOnlyList<ISubpageRecorder> user, Arch.KernelVersion v)
    {
        ArgumentNullException.ThrowIfNull(user);
        if (name is null)
        {
            if (user.Count == 0) return null;
            if (user.Count > 1)
                throw new GupSimException($"--strategy-assembly and --strategy-c give several recorders ({string.Join(", ", user.Select(r => r.Name))}): choose one with --strategy NAME");
            return GupStrategy.WithRecorder(GupStrategy.ForVersion(v), user[0].Name, user[0]);
        }
        return ByName(name, user, v);
    }

    /// <summary>
    /// The strategy named <paramref name="name"/> on kernel <paramref name="v"/>: the user recorder of that name (in
    /// the version's own code around it), else the built-in strategy of that name.
    /// </summary>
    /// <exception cref="GupSimException">Thrown when no user recorder and no built-in strategy has that name.</exception>
    public static GupStrategy ByName(string name, IEnumerable<ISubpageRecorder> userRecorders, Arch.KernelVersion v)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(userRecorders);
        foreach (var r in userRecorders)
            if (r.Name == name) return GupStrategy.WithRecorder(GupStrategy.ForVersion(v), name, r);
        return GupStrategy.Named(name, v);
    }
}
