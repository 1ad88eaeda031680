using System.Globalization;
using System.Text;
using GupSim.Arch;
using GupSim.Config;
using GupSim.Core;
using GupSim.Gup;
using GupSim.Memory;

namespace GupSim.Check;

/// <summary>
/// The <c>gupsim scenario</c> text of a <c>gupsim check</c> configuration (docs/scenarios.md): the setup lines that
/// boot a shape and prepare its mapping (what <see cref="CheckEngine"/> itself runs), a full script that reproduces
/// a verdict with its <c>expect</c> lines, and the <c>gupsim gup-test</c> command line nearest to it
/// (tools/testing/selftests/mm/gup_test.c's flags, docs/gup-test.md). Not a kernel concept: GupSim's own glue.
/// </summary>
public static class CheckScenario
{
    /// <summary>The name of the mapping the setup lines create (<c>mmap A …</c>).</summary>
    public const string MappingName = "A";

    /// <summary>The name of <see cref="CheckPopulate.UffdCopy"/>'s source buffer (<c>mmap S …</c>).</summary>
    public const string SourceName = "S";

    /// <summary>The setup step that copies the source into the mapping (<see cref="CheckPopulate.UffdCopy"/>).</summary>
    public const string UffdCopyStep = "uffd-copy";

    /// <summary>The setup step in which the user compares the mapping with the source (<see cref="CheckPopulate.UffdCopy"/>).</summary>
    public const string VerifyStep = "verify";

    /// <summary>
    /// The physical range a hot-plug shape adds (<c>hotplug START-END</c>): from the end of the boot RAM rounded up
    /// to the larger of the huge page and the memory section, <see cref="CheckShape.HugePages"/> huge pages long,
    /// so the pool allocated afterwards can come from it; null for the other placements.
    /// </summary>
    /// <exception cref="GupSimException">Thrown when the shape's machine options are bad (from <see cref="MachineOptions.ToSpec"/>).</exception>
    public static PhysRange? HotplugRange(CheckShape shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        if (!shape.Placement.HotAddsPool()) return null;
        var spec = BootOptions(shape).ToSpec();
        ulong end = 0;
        foreach (var r in spec.Ram.AllRanges) end = Math.Max(end, r.End);
        ulong align = Math.Max(shape.HugepageBytes, 1UL << spec.Arch.SectionSizeBits);
        ulong start = (end + align - 1) / align * align;
        int hot = shape.HugePages - shape.Placement.CmaHugePages(shape.HugePages);
        return PhysRange.FromStartEnd(start, start + (ulong)hot * shape.HugepageBytes);
    }

    /// <summary>The machine options of the shape's <c>machine</c> line (no boot-time pool for the hot-plug placement).</summary>
    private static MachineOptions BootOptions(CheckShape s) => new()
    {
        Arch = s.Arch,
        Kernel = s.Kernel.ToString(),
        Model = s.Model.ToName(),
        Placement = s.Placement == CheckPlacement.Scattered ? "scattered" : "boot",
        Mem = s.IomemFile is null ? ByteSize.Format(s.RamBytes) : null,
        Seed = s.Seed,
        Churn = s.ChurnBytes > 0 ? ByteSize.Format(s.ChurnBytes) : null,
        Hugepages = HasRunTimePool(s) ? null : HugepagesArg(s),
        HugetlbCma = s.Placement.UsesHugetlbCma() ? ByteSize.Format((ulong)s.Placement.CmaHugePages(s.HugePages) * s.HugepageBytes) : null,
        ConfigFile = s.ConfigFile,
        IomemFile = s.IomemFile,
    };

    /// <summary>
    /// Whether the shape's pool is written at run time (<c>hugepages SIZE=N</c> after boot) instead of on the command
    /// line: the hot-plug placement (its memory is added after boot), and the CMA placement, whose gigantic pages the
    /// kernel does not allocate at boot while hugetlb_cma= is set ("HugeTLB: hugetlb_cma is enabled, skip boot time
    /// allocation", mm/hugetlb.c hugetlb_hstate_alloc_pages()).
    /// </summary>
    public static bool HasRunTimePool(CheckShape shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        return shape.Placement.HotAddsPool() || shape.Placement.UsesHugetlbCma();
    }

    private static string HugepagesArg(CheckShape s) =>
        string.Create(CultureInfo.InvariantCulture, $"hugepagesz={ByteSize.Format(s.HugepageBytes)} hugepages={s.HugePages}");

    /// <summary>
    /// The scenario lines that boot <paramref name="shape"/> and prepare its mapping: <c>machine …</c> (with the
    /// boot-time pool, or for the hot-plug and CMA placements a boot without one — with <c>--hugetlb-cma</c> for CMA,
    /// then <c>hotplug RANGE</c> for hot-plug — and the pool written at run time as a user would, so the allocators
    /// decide whether it comes from the hot-added memory or the CMA area), then
    /// <c>mmap A LEN hugetlb=H</c> and <c>touch A write</c>; for <see cref="CheckPopulate.UffdCopy"/> a source
    /// buffer written by the user (<c>mmap S LEN</c>, <c>fill S</c>) right after boot (and hot-add), and instead of
    /// the touch
    /// <c>uffd-register A</c>, <c>uffd-copy A S</c> and <c>verify A S</c>.
    /// </summary>
    public static IReadOnlyList<string> SetupLines(CheckShape shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        var o = BootOptions(shape);
        var machine = new StringBuilder("machine");
        machine.Append(" --arch ").Append(o.Arch).Append(" --kernel ").Append(o.Kernel).Append(" --model ").Append(o.Model)
            .Append(" --placement ").Append(o.Placement);
        if (o.Mem is not null) machine.Append(" --mem ").Append(o.Mem);
        machine.Append(" --seed ").Append(o.Seed.ToString(CultureInfo.InvariantCulture));
        if (o.Churn is not null) machine.Append(" --churn ").Append(o.Churn);
        if (o.Hugepages is not null) machine.Append(" --hugepages \"").Append(o.Hugepages).Append('"');
        if (o.HugetlbCma is not null) machine.Append(" --hugetlb-cma ").Append(o.HugetlbCma);
        if (o.ConfigFile is not null) machine.Append(" --config ").Append(Quote(o.ConfigFile));
        if (o.IomemFile is not null) machine.Append(" --iomem ").Append(Quote(o.IomemFile));
        var lines = new List<string> { machine.ToString() };
        string h = ByteSize.Format(shape.HugepageBytes);
        if (HotplugRange(shape) is PhysRange hot)
            lines.Add(string.Create(CultureInfo.InvariantCulture, $"hotplug 0x{hot.Start:x}-0x{hot.End:x}"));
        string len = ByteSize.Format((ulong)shape.HugePages * shape.HugepageBytes);
        // The source buffer first: a run-time pool then comes from what the user's pages left (the hot-added memory).
        if (shape.Populate == CheckPopulate.UffdCopy)
        {
            lines.Add($"mmap {SourceName} {len}");
            lines.Add($"fill {SourceName}");
        }
        if (HasRunTimePool(shape))
            lines.Add(string.Create(CultureInfo.InvariantCulture, $"hugepages {h}={shape.HugePages}"));
        lines.Add($"mmap {MappingName} {len} hugetlb={h}");
        if (shape.Populate == CheckPopulate.UffdCopy)
        {
            lines.Add($"uffd-register {MappingName}");
            lines.Add($"{UffdCopyStep} {MappingName} {SourceName}");
            lines.Add($"{VerifyStep} {MappingName} {SourceName}");
        }
        else lines.Add($"touch {MappingName} write");
        return lines;
    }

    private static string Quote(string path) => path.Contains(' ', StringComparison.Ordinal) ? "\"" + path + "\"" : path;

    /// <summary>The byte offset of the configuration's first page from the mapping's start.</summary>
    public static ulong StartOffsetBytes(CheckConfiguration configuration, int pageShift)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        return ((ulong)configuration.OffsetPages << pageShift) + (ulong)configuration.ByteOffset;
    }

    /// <summary>
    /// The <c>pin</c>/<c>get</c> line of the configuration: entry point flags, <c>batch=</c>, <c>offset=</c> (bytes from
    /// the mapping's start), <c>pages=</c> and <c>strategy=</c>.
    /// </summary>
    public static string GupLine(CheckConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var c = configuration;
        int shift = ArchProfiles.Get(c.Shape.Arch, c.Shape.Kernel).PageShift;
        var e = EntryPoint(c.Path);
        var sb = new StringBuilder(e.Pin ? "pin " : "get ").Append(MappingName);
        if (e.Fast) sb.Append(" fast");
        sb.Append(" write");
        if ((e.Flags & FollFlags.Longterm) != 0) sb.Append(" longterm");
        long batch = c.Batch <= 0 ? c.LengthPages : c.Batch;
        sb.Append(CultureInfo.InvariantCulture, $" batch={batch} offset=0x{StartOffsetBytes(c, shift):x} pages={c.LengthPages}");
        if (c.Strategy is not null) sb.Append(" strategy=").Append(c.Strategy);
        return sb.ToString();
    }

    /// <summary>The GUP entry point and gup_flags of a path (FOLL_WRITE always: gup_test -w, a DMA target).</summary>
    public static GupEntryPoint EntryPoint(CheckPath path) => path switch
    {
        CheckPath.SlowGet => new(false, false, FollFlags.Write),
        CheckPath.SlowPin => new(true, false, FollFlags.Write),
        CheckPath.SlowLongterm => new(true, false, FollFlags.Write | FollFlags.Longterm),
        CheckPath.FastGet => new(false, true, FollFlags.Write),
        CheckPath.FastPin => new(true, true, FollFlags.Write),
        _ => new(true, true, FollFlags.Write | FollFlags.Longterm),
    };

    /// <summary>
    /// A full <c>gupsim scenario</c> script that reproduces <paramref name="verdict"/> for
    /// <paramref name="configuration"/>: a comment saying what it shows, the setup lines, a <c>strategy-assembly</c>
    /// line for a user recorder, the GUP line (unless the setup itself failed), the release (unless the GUP or the
    /// setup stopped it) and for
    /// <see cref="CheckTeardown.FreePool"/> <c>munmap A</c> and <c>hugepages SIZE=0</c>, and one <c>expect</c>
    /// line per symptom (<c>expect wrong-pages N</c>, <c>expect unpinnable N</c>, <c>expect leak</c>, <c>expect oops</c>,
    /// <c>expect bad-page-state</c>, <c>expect stray-writes</c>; a pass expects <c>pages-correct</c>, <c>no-leak</c>,
    /// <c>no-oops</c>, <c>no-bad-page-state</c> and <c>no-stray-writes</c>).
    /// </summary>
    /// <param name="configuration">The configuration.</param>
    /// <param name="verdict">Its verdict, as <see cref="CheckEngine"/> gave it.</param>
    /// <param name="userRecorders">The user recorders the engine knows (for the <c>strategy-assembly</c> line), or null.</param>
    public static string Script(CheckConfiguration configuration, CheckVerdict verdict, IReadOnlyList<ISubpageRecorder>? userRecorders = null)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(verdict);
        var c = configuration;
        var sb = new StringBuilder();
        string kind = verdict.Symptoms.Kind() ?? "pass";
        sb.Append(CultureInfo.InvariantCulture,
            $"# gupsim check: {kind} — {c.Shape.Arch} v{c.Shape.Kernel} {c.Shape.Model.ToName()} {c.Shape.Placement.ToName()}, {ByteSize.Format(c.Shape.HugepageBytes)} pages, {c.Path.ToName()}, offset {c.OffsetPages}{(c.ByteOffset != 0 ? $"+{c.ByteOffset}B" : "")} length {c.LengthPages} batch {(c.Batch <= 0 ? "all" : c.Batch.ToString(CultureInfo.InvariantCulture))}{(c.Shape.Populate == CheckPopulate.UffdCopy ? ", populated by UFFDIO_COPY" : "")}{(c.Teardown == CheckTeardown.FreePool ? ", then the pool freed" : "")}")
            .Append('\n');
        if (verdict.Detail is not null) sb.Append("# ").Append(verdict.Detail.Replace('\n', ' ')).Append('\n');
        foreach (var l in SetupLines(c.Shape)) sb.Append(l).Append('\n');
        if (c.Strategy is not null && UserRecorderSource(c.Strategy, userRecorders) is var (directive, file))
            sb.Append(directive).Append(' ').Append(Quote(file)).Append('\n');
        // A failure of the setup itself reproduces without any GUP call.
        bool inSetup = verdict.Detail?.StartsWith(CheckEngine.SetupPrefix, StringComparison.Ordinal) == true;
        if (!inSetup) sb.Append(GupLine(c)).Append('\n');
        var s = verdict.Symptoms;
        if ((s & CheckSymptoms.Unpinnable) != 0)
            sb.Append(CultureInfo.InvariantCulture, $"expect unpinnable {verdict.UnpinnableHugePages}\n");
        bool stopped = CheckEngine.StoppedBeforeRelease(verdict);
        if (!stopped)
        {
            sb.Append((s & CheckSymptoms.WrongPages) != 0
                ? string.Create(CultureInfo.InvariantCulture, $"expect wrong-pages {verdict.WrongEntries}\n")
                : "expect pages-correct\n");
            sb.Append(EntryPoint(c.Path).Pin ? "unpin " : "put ").Append(MappingName).Append(c.Path == CheckPath.FastLongtermUmem ? " range\n" : "\n");
            if (c.Teardown == CheckTeardown.FreePool)
                sb.Append("munmap ").Append(MappingName).Append('\n')
                  .Append("hugepages ").Append(ByteSize.Format(c.Shape.HugepageBytes)).Append("=0\n");
        }
        sb.Append((s & CheckSymptoms.Oops) != 0 ? "expect oops\n" : "expect no-oops\n");
        if ((s & CheckSymptoms.SoftLockup) != 0) sb.Append("expect soft-lockup\n");
        // After an oops or a lockup the release was cut short: the engine judges no leak then, and neither does the script.
        if ((s & (CheckSymptoms.Oops | CheckSymptoms.SoftLockup)) == 0) sb.Append((s & CheckSymptoms.Leak) != 0 ? "expect leak\n" : "expect no-leak\n");
        sb.Append((s & CheckSymptoms.BadPageState) != 0 ? "expect bad-page-state\n" : "expect no-bad-page-state\n");
        sb.Append((s & CheckSymptoms.StrayWrites) != 0 ? "expect stray-writes\n" : "expect no-stray-writes\n");
        return sb.ToString();
    }

    /// <summary>
    /// The <c>gupsim gup-test</c> command line of a whole-mapping configuration (<see cref="IsGupTestRun"/>): the
    /// shape's machine flags, a hugetlbfs mount of its page size, the pool on the kernel command line, a
    /// <c>--strategy-assembly</c> for a user recorder, then gup_test's own flags: <c>-f /mnt/huge/check -m MB -n BATCH
    /// -w -S</c> and the command (<c>-U</c> get_user_pages, <c>-b</c> pin_user_pages, <c>-L</c> pin_user_pages +
    /// FOLL_LONGTERM, <c>-u</c> get_user_pages_fast, <c>-a</c> pin_user_pages_fast).
    /// </summary>
    /// <exception cref="ArgumentException">Thrown when gup_test cannot run <paramref name="configuration"/> as it is.</exception>
    public static string GupTestCommand(CheckConfiguration configuration, IReadOnlyList<ISubpageRecorder>? userRecorders = null)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        if (!IsGupTestRun(configuration))
            throw new ArgumentException("gup_test GUPs the whole mapping from its first page, with a boot-time pool, and has no fast FOLL_LONGTERM command", nameof(configuration));
        var c = configuration;
        var s = c.Shape;
        var sb = new StringBuilder("gupsim gup-test");
        sb.Append(" --arch ").Append(s.Arch).Append(" --kernel ").Append(s.Kernel.ToString()).Append(" --model ").Append(s.Model.ToName())
            .Append(" --placement ").Append(s.Placement == CheckPlacement.Scattered ? "scattered" : "boot");
        if (s.IomemFile is null) sb.Append(" --mem ").Append(ByteSize.Format(s.RamBytes));
        sb.Append(" --seed ").Append(s.Seed.ToString(CultureInfo.InvariantCulture));
        if (s.ChurnBytes > 0) sb.Append(" --churn ").Append(ByteSize.Format(s.ChurnBytes));
        if (s.ConfigFile is not null) sb.Append(" --config ").Append(Quote(s.ConfigFile));
        if (s.IomemFile is not null) sb.Append(" --iomem ").Append(Quote(s.IomemFile));
        sb.Append(" --hugepages \"").Append(HugepagesArg(s)).Append('"');
        sb.Append(" --mount /mnt/huge=").Append(ByteSize.Format(s.HugepageBytes));
        if (c.Strategy is not null)
        {
            if (UserRecorderSource(c.Strategy, userRecorders) is var (directive, file)) sb.Append(" --").Append(directive).Append(' ').Append(Quote(file));
            sb.Append(" --strategy ").Append(c.Strategy);
        }
        ulong mb = Math.Max(1, (MappingBytes(s) + (1UL << 20) - 1) >> 20);
        string cmd = c.Path switch
        {
            CheckPath.SlowGet => "-U",
            CheckPath.SlowPin => "-b",
            CheckPath.SlowLongterm => "-L",
            CheckPath.FastGet => "-u",
            _ => "-a",
        };
        sb.Append(CultureInfo.InvariantCulture, $" -f /mnt/huge/check -m {mb} -n {c.Batch} -w -S {cmd}");
        return sb.ToString();
    }

    /// <summary>
    /// Whether gup_test can run <paramref name="configuration"/> as it is: the whole mapping from its first page
    /// (page-aligned, all of it, in calls of <see cref="CheckConfiguration.Batch"/> pages starting at k × n), a pool
    /// allocated at boot (not the hot-plug placement's run-time pool), a path gup_test has a command for (not fast
    /// FOLL_LONGTERM: <c>-L</c> is the slow path), nothing after the release (gup_test never frees the pool), and
    /// pages faulted in (gup_test has no userfaultfd).
    /// </summary>
    public static bool IsGupTestRun(CheckConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var c = configuration;
        return c.OffsetPages == 0 && c.ByteOffset == 0 && c.Batch > 0 && c.LengthPages == MappingPages(c.Shape)
            && !HasRunTimePool(c.Shape) && c.Path is not (CheckPath.FastLongterm or CheckPath.FastLongtermUmem) && c.Teardown == CheckTeardown.Keep
            && c.Shape.Populate == CheckPopulate.Fault;
    }

    /// <summary>The mapping's length in bytes: <see cref="CheckShape.HugePages"/> huge pages.</summary>
    public static ulong MappingBytes(CheckShape shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        return (ulong)shape.HugePages * shape.HugepageBytes;
    }

    /// <summary>The mapping's length in base pages.</summary>
    public static long MappingPages(CheckShape shape) =>
        (long)(MappingBytes(shape) >> ArchProfiles.Get(shape.Arch, shape.Kernel).PageShift);

    /// <summary>The file of the assembly holding the user recorder <paramref name="name"/>, or null (a built-in strategy, or no file: a single-file publish).</summary>
    /// <summary>Where the user recorder <paramref name="name"/> came from: ("strategy-c", its C file) or ("strategy-assembly", its .dll).</summary>
    private static (string Directive, string File)? UserRecorderSource(string name, IReadOnlyList<ISubpageRecorder>? userRecorders)
    {
        if (userRecorders is null) return null;
        foreach (var r in userRecorders)
        {
            if (r.Name != name) continue;
            if (r is Gup.C.CRecorder c) return ("strategy-c", Path.GetFullPath(c.SourcePath));
            return r.GetType().Assembly.Location is { Length: > 0 } dll ? ("strategy-assembly", dll) : null;
        }
        return null;
    }
}
