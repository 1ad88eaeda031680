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
        Assembly asm;
        try
        {
            asm = Assembly.LoadFrom(Path.GetFullPath(path));
        }
        catch (Exception e) when (e is IOException or BadImageFormatException or FileLoadException or ArgumentException)
        {
            throw new GupSimException($"--strategy-assembly {path}: cannot load it ({e.Message.Split('\n')[0]})");
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
