using PuppeteerSharp;
using SkiaSharp;

namespace GupSim.Tests.Cli;

/// <summary>
/// The report in a real browser (issue 13 §2): Debian's chromium, headless, driven over the DevTools protocol by
/// PuppeteerSharp, loads the file, logs no console error, throws no page error, makes no request that leaves the file,
/// and takes a screenshot that is not blank. A control page with a console.error, a thrown error and an external image
/// shows that each of the three detectors fires. Skipped where no chromium is installed, unless GUPSIM_REQUIRE_BROWSER=1
/// (.ci/run installs chromium and sets it), which makes a missing browser a failure.
/// </summary>
public sealed class ReportBrowserTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "gupsim-report-browser-" + Guid.NewGuid().ToString("N"));

    public ReportBrowserTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>CHROMIUM, else the first of chromium, chromium-browser, google-chrome on PATH or in /usr/bin.</summary>
    private static string? FindChromium()
    {
        if (Environment.GetEnvironmentVariable("CHROMIUM") is { Length: > 0 } env && File.Exists(env)) return env;
        var dirs = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries).Append("/usr/bin");
        foreach (string name in (string[])["chromium", "chromium-browser", "google-chrome"])
            foreach (string d in dirs)
                if (File.Exists(Path.Combine(d, name))) return Path.Combine(d, name);
        return null;
    }

    private static string Chromium()
    {
        string? path = FindChromium();
        if (path is null && Environment.GetEnvironmentVariable("GUPSIM_REQUIRE_BROWSER") == "1")
            Assert.Fail("GUPSIM_REQUIRE_BROWSER=1 but no chromium is installed (apt-get install chromium)");
        Skip.If(path is null, "no chromium installed (apt-get install chromium; .ci/run installs it)");
        return path!;
    }

    private sealed record PageLoad(List<string> ConsoleErrors, List<string> PageErrors, List<string> Requests, List<string> FailedRequests, byte[] Png);

    private static async Task<PageLoad> Load(string chromium, string file, int width, int height)
    {
        var load = new PageLoad([], [], [], [], []);
        await using var browser = await Puppeteer.LaunchAsync(new LaunchOptions
        {
            ExecutablePath = chromium,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        });
        await using var page = await browser.NewPageAsync();
        page.Console += (_, e) =>
        {
            if (e.Message.Type is ConsoleType.Error or ConsoleType.Assert) lock (load) load.ConsoleErrors.Add(e.Message.Text);
        };
        page.PageError += (_, e) => { lock (load) load.PageErrors.Add(e.Message); };
        page.Request += (_, e) => { lock (load) load.Requests.Add(e.Request.Url); };
        page.RequestFailed += (_, e) => { lock (load) load.FailedRequests.Add(e.Request.Url); };
        await page.SetViewportAsync(new ViewPortOptions { Width = width, Height = height });
        await page.GoToAsync(new Uri(file).AbsoluteUri, new NavigationOptions { WaitUntil = [WaitUntilNavigation.Load], Timeout = 60_000 });
        byte[] png = await page.ScreenshotDataAsync(new ScreenshotOptions { Type = ScreenshotType.Png });
        return load with { Png = png };
    }

    /// <summary>The share of pixels that are not (near) white.</summary>
    private static double InkShare(SKBitmap bmp)
    {
        long ink = 0;
        for (int y = 0; y < bmp.Height; y += 2)
            for (int x = 0; x < bmp.Width; x += 2)
            {
                var c = bmp.GetPixel(x, y);
                if (c.Red < 235 || c.Green < 235 || c.Blue < 235) ink++;
            }
        return ink / (double)((bmp.Height + 1) / 2 * ((bmp.Width + 1) / 2));
    }

    [SkippableFact]
    public async Task Report_LoadsInHeadlessChromium_NoErrors_NoOutsideRequests_NotBlank()
    {
        string chromium = Chromium();
        string file = Path.Combine(_dir, "report.html");
        var (rc, err, _) = ReportTests.WriteFromSaved(_dir, file);
        Assert.True(rc == 0, err);

        var load = await Load(chromium, file, 1200, 1600);
        Assert.Empty(load.ConsoleErrors);
        Assert.Empty(load.PageErrors);
        Assert.Empty(load.FailedRequests);
        // The page itself, then only data: URIs (the chart): nothing leaves the file.
        Assert.Equal(new Uri(file).AbsoluteUri, load.Requests[0]);
        Assert.All(load.Requests.Skip(1), u => Assert.StartsWith("data:", u, StringComparison.Ordinal));

        using var bmp = SKBitmap.Decode(load.Png);
        Assert.Equal(1200, bmp.Width);
        Assert.Equal(1600, bmp.Height);
        Assert.InRange(InkShare(bmp), 0.02, 0.9); // text, tables and the chart's bars; not an empty page
    }

    [SkippableFact]
    public async Task ControlPage_EachDetectorFires()
    {
        string chromium = Chromium();
        string file = Path.Combine(_dir, "control.html");
        File.WriteAllText(file, """
            <!DOCTYPE html><html><head><title>control</title></head><body><p>control</p>
            <img src="http://127.0.0.1:65500/outside.png" alt="outside" />
            <script>console.error("control: console error"); throw new Error("control: page error");</script>
            </body></html>
            """);
        var load = await Load(chromium, file, 400, 300);
        // The console.error, then chromium's own console error for the image it could not fetch.
        Assert.Equal(2, load.ConsoleErrors.Count);
        // In whichever order chromium reports them (the fetch can fail before or after the script runs).
        Assert.Contains("control: console error", load.ConsoleErrors);
        Assert.Contains(load.ConsoleErrors, e => e.StartsWith("Failed to load resource: net::ERR_", StringComparison.Ordinal));
        Assert.Equal(["http://127.0.0.1:65500/outside.png"], load.FailedRequests);
        Assert.Single(load.PageErrors);
        Assert.Contains("control: page error", load.PageErrors[0], StringComparison.Ordinal);
        Assert.Contains("http://127.0.0.1:65500/outside.png", load.Requests);
        using var bmp = SKBitmap.Decode(load.Png);
        Assert.Equal(400, bmp.Width);
    }
}
