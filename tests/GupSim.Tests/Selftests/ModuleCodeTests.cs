using GupSim.Selftests;

namespace GupSim.Tests.Selftests;

/// <summary>
/// ModuleCode's ReadyToRun check, on files whose kind is known without it: the shared framework's
/// System.Private.CoreLib ships as a ReadyToRun image, the test assembly and the Debug GupSim.dll beside it are IL only.
/// </summary>
public sealed class ModuleCodeTests
{
    [Fact]
    public void IsReadyToRunImage_CoreLib_IsReadyToRun() =>
        Assert.True(ModuleCode.IsReadyToRunImage(typeof(object).Assembly.Location));

    [Fact]
    public void IsReadyToRunImage_IlAssemblies_AreNot()
    {
        Assert.False(ModuleCode.IsReadyToRunImage(typeof(ModuleCodeTests).Assembly.Location));
#if DEBUG
        // Debug builds are never precompiled (GupSim.Cli.csproj compiles Release only).
        Assert.False(ModuleCode.IsReadyToRunImage(typeof(ModuleCode).Assembly.Location));
        Assert.False(ModuleCode.ReadyToRunCode);
#endif
    }

    [Fact]
    public void IsReadyToRunImage_NotAnImage_IsFalse()
    {
        string dir = Path.Combine(Path.GetTempPath(), "gupsim-modulecode-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            string text = Path.Combine(dir, "notes.txt");
            File.WriteAllText(text, "not a PE file");
            Assert.False(ModuleCode.IsReadyToRunImage(text));
            Assert.False(ModuleCode.IsReadyToRunImage(dir));
            Assert.False(ModuleCode.IsReadyToRunImage(Path.Combine(dir, "missing.dll")));
            Assert.False(ModuleCode.IsReadyToRunImage(""));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
