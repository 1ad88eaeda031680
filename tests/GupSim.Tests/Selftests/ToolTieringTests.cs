using System.Text.Json;

namespace GupSim.Tests.Selftests;

/// <summary>
/// The gupsim tool's tiered compilation settings, as docs/performance.md ("First repeat") describes them: the
/// runtimeconfig that GupSim.Cli.csproj produces turns quick JIT off (so ModuleCode.Prepare compiles the GUP path fully
/// optimised before gup_test's first ioctl) and leaves tiering and PGO for the framework's own precompiled code. Not a
/// timing test: it checks the setting that the measured figures depend on.
/// </summary>
public sealed class ToolTieringTests
{
    private static string ToolFile(string name)
    {
        // The test project references GupSim.Cli, so the build copies the tool's runtimeconfig next to the tests.
        string path = Path.Combine(AppContext.BaseDirectory, name);
        Assert.True(File.Exists(path), $"{name} is not next to the test assembly ({AppContext.BaseDirectory})");
        return path;
    }

    [Fact]
    public void ToolRuntimeConfig_TurnsQuickJitOff_AndLeavesTieringOn()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(ToolFile("GupSim.Cli.runtimeconfig.json")));
        var props = doc.RootElement.GetProperty("runtimeOptions").GetProperty("configProperties");
        Assert.Equal(JsonValueKind.False, props.GetProperty("System.Runtime.TieredCompilation.QuickJit").ValueKind);
        // Tiered compilation itself stays on (the framework's precompiled code still tiers up), and PGO is not touched.
        Assert.False(props.TryGetProperty("System.Runtime.TieredCompilation", out _));
        Assert.False(props.TryGetProperty("System.Runtime.TieredPGO", out _));
    }
}
