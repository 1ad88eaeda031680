using System.CommandLine;
using System.Globalization;
using GupSim.Core;
using GupSim.Explain;
using GupSim.Selftests;

namespace GupSim.Cli.Commands;

/// <summary>
/// `gupsim explain`: a picture of where one GUP call's pages[] pointers landed (docs/cli.md, "explain"): the
/// physical sections, the memmaps in kernel virtual memory and who placed them, the huge page's span, each run of
/// entries and where it points, stray writes. Terminal text on stdout; --svg FILE and --png FILE.
/// </summary>
public static class ExplainCommand
{
    /// <summary>Default picture size.</summary>
    public const int DefaultWidth = 1200, DefaultHeight = 640;

    /// <summary>Largest picture side accepted.</summary>
    public const int MaxSide = 8192;

    private const string FileAdvice = "give a file in a directory you can write";

    public static Command Create()
    {
        var machine = new MachineOptionSet();
        var strategy = CommonOptions.CreateStrategyOption();
        var assemblies = CommonOptions.CreateStrategyAssemblyOption();
        var cFiles = CommonOptions.CreateStrategyCOption();
        var pin = new Option<bool>("--pin") { Description = "The call is pin_user_pages*() (FOLL_PIN)" };
        var get = new Option<bool>("--get") { Description = "The call is get_user_pages*() (FOLL_GET)" };
        var fast = new Option<bool>("--fast") { Description = "Through the gup-fast entry point (pin_user_pages_fast / get_user_pages_fast)" };
        var write = new Option<bool>("--write") { Description = "FOLL_WRITE" };
        var longterm = new Option<bool>("--longterm") { Description = "FOLL_LONGTERM" };
        var huge = new Option<string?>("--huge") { Description = "Huge page size of the mapping (MAP_HUGETLB | MAP_HUGE_*; default the arch's largest up to 1G)", HelpName = "size" };
        var mapping = new Option<string?>("--mapping") { Description = "Length of the hugetlb mapping (default one huge page)", HelpName = "size" };
        var offset = new Option<string?>("--offset") { Description = "Where in the mapping the call starts, in bytes (default 0)", HelpName = "bytes" };
        var pages = new Option<string?>("--pages") { Description = "Entries to take (default: to the end of the mapping)", HelpName = "n" };
        var batch = new Option<string?>("--batch") { Description = "Pages per call, as gup_test's -n (default: all in one call)", HelpName = "n" };
        var noRelease = new Option<bool>("--no-release") { Description = "Do not put the pages back after the call (gup_test does; its stray writes are drawn)" };
        var scenario = new Option<string?>("--scenario") { Description = "Take the call from a scenario script (docs/scenarios.md) instead: with --step", HelpName = "file" };
        var step = new Option<string?>("--step") { Description = "With --scenario: the line number of the pin or get step to draw", HelpName = "line" };
        var svg = new Option<string?>("--svg") { Description = "Write the picture as SVG", HelpName = "file" };
        var png = new Option<string?>("--png") { Description = "Write the picture as PNG", HelpName = "file" };
        var width = new Option<string?>("--width") { Description = $"Picture width in pixels (default {DefaultWidth})", HelpName = "px" };
        var height = new Option<string?>("--height") { Description = $"Picture height in pixels (default {DefaultHeight})", HelpName = "px" };
        var columns = new Option<string?>("--columns") { Description = "Terminal rendering width (default the terminal's, or 100)", HelpName = "n" };
        var cmd = new Command("explain",
            "Draw where one GUP call's pages[] entries landed: physical sections, the memmaps in kernel virtual memory (and which allocator placed each), "
            + "the huge page's span, each run of right / wrong / other / unmapped entries, stray writes. Terminal text on stdout; --svg FILE, --png FILE.");
        int first = cmd.Options.Count;
        machine.AddTo(cmd);
        var machineOptions = cmd.Options.Skip(first).ToList();
        foreach (var o in new Option[] { strategy, assemblies, cFiles, pin, get, fast, write, longterm, huge, mapping, offset, pages, batch, noRelease, scenario, step, svg, png, width, height, columns })
            cmd.Options.Add(o);
        cmd.SetAction(pr =>
        {
            var o = pr.InvocationConfiguration.Output;
            var e = pr.InvocationConfiguration.Error;
            int w = Side(pr.GetValue(width), "--width", DefaultWidth, ExplainDrawing.MinWidth);
            int h = Side(pr.GetValue(height), "--height", DefaultHeight, ExplainDrawing.MinHeight);
            string? svgFile = pr.GetValue(svg), pngFile = pr.GetValue(png);
            if (svgFile is not null) HostFile.CheckWritable(svgFile, FileAdvice, "--svg " + svgFile);
            if (pngFile is not null) HostFile.CheckWritable(pngFile, FileAdvice, "--png " + pngFile);
            ExplainScene scene;
            if (pr.GetValue(scenario) is { } file)
            {
                foreach (var opt in machineOptions.Concat([pin, get, fast, write, longterm, huge, mapping, offset, pages, batch, noRelease, strategy, assemblies, cFiles]))
                    if (pr.GetResult(opt) is { Implicit: false })
                        throw new GupSimException($"explain: {opt.Name} does not go with --scenario: the script's own lines say the machine and the call (drop {opt.Name})");
                string stepText = pr.GetValue(step) ?? throw new GupSimException("explain: --scenario needs --step LINE: the line number of the pin or get step to draw");
                ulong line = Numbers.ParseUInt64(stepText, "--step");
                string text = HostFile.ReadAllText(file, "explain --scenario wants a scenario script (docs/scenarios.md)");
                scene = ExplainRun.FromScenario(text.Replace("\r\n", "\n", StringComparison.Ordinal), file, (int)Math.Min(line, int.MaxValue));
            }
            else
            {
                if (pr.GetValue(step) is not null) throw new GupSimException("explain: --step goes with --scenario FILE");
                bool isPin = pr.GetValue(pin), isGet = pr.GetValue(get);
                if (isPin == isGet)
                    throw new GupSimException(isPin
                        ? "explain: give one of --pin and --get, not both"
                        : "explain: give the call: --pin or --get (with --fast, --write, --offset, --pages, --batch), or --scenario FILE --step LINE");
                var opts = GupTestMachine.WithSeedHugepages(machine.Read(pr));
                var m = opts.Boot();
                foreach (var warn in opts.Warnings) Program.Warn(e, warn);
                ulong hp = pr.GetValue(huge) is { } hs ? ByteSize.Parse(hs)
                    : GupTestMachine.SeedHugePageSize(m.Arch)?.Bytes ?? throw new GupSimException($"explain: {m.Arch.Name} has no huge page size: give --huge SIZE");
                ulong len = pr.GetValue(mapping) is { } ms ? ByteSize.Parse(ms) : hp;
                ulong off = pr.GetValue(offset) is { } os ? ByteSize.Parse(os) : 0;
                long? n = pr.GetValue(pages) is { } ps ? (long)Math.Min(Numbers.ParseUInt64(ps, "--pages"), long.MaxValue) : null;
                long b = pr.GetValue(batch) is { } bs ? (long)Math.Min(Numbers.ParseUInt64(bs, "--batch"), long.MaxValue) : -1;
                if (b == 0) throw new GupSimException("--batch must be at least 1 (or leave it out for one call)");
                string[] asm = pr.GetValue(assemblies) ?? [], cSources = pr.GetValue(cFiles) ?? [];
                var user = Gup.StrategySelection.LoadUserRecorders(asm, cSources);
                var chosen = Gup.StrategySelection.Resolve(pr.GetValue(strategy), user, m.Version);
                var spec = new ExplainCallSpec(isPin, pr.GetValue(fast), pr.GetValue(write), pr.GetValue(longterm), hp, len, off, n, b,
                    chosen?.Name, user, !pr.GetValue(noRelease));
                scene = ExplainRun.Direct(m, spec);
            }
            bool tty = ReferenceEquals(o, Console.Out) && !Console.IsOutputRedirected
                && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("NO_COLOR"));
            int cols = pr.GetValue(columns) is { } cs
                ? (int)Math.Clamp(Numbers.ParseUInt64(cs, "--columns"), 40, 1000)
                : tty && Console.WindowWidth > 0 ? Math.Clamp(Console.WindowWidth, 40, 1000) : 100;
            ExplainText.Write(scene, o, tty, cols);
            if (svgFile is not null) File.WriteAllText(svgFile, ExplainSvg.Render(scene, w, h));
            if (pngFile is not null) File.WriteAllBytes(pngFile, ExplainPng.Render(scene, w, h));
            return ExitCodes.Ok;
        });
        return cmd;
    }

    private static int Side(string? text, string name, int dflt, int min)
    {
        if (text is null) return dflt;
        ulong v = Numbers.ParseUInt64(text, name);
        if (v < (ulong)min || v > MaxSide)
            throw new GupSimException(string.Create(CultureInfo.InvariantCulture, $"{name} {v}: use {min} to {MaxSide} pixels"));
        return (int)v;
    }
}
