using System.Globalization;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using GupSim.Arch;
using GupSim.Core;
using GupSim.Pages;

namespace GupSim.Gup.C;

/// <summary>
/// A recorder written in C (<c>--strategy-c FILE.c</c>): the kernel's record_subpages() (mm/gup.c, v5.11–v6.9's shape)
/// pasted from a patch, compiled by the system C compiler against gupsim/kernel.h once per machine geometry
/// (sizeof(struct page), PAGE_SHIFT, PMD_SHIFT, PUD_SHIFT, SECTION_SIZE_BITS, BITS_PER_LONG), cached by content hash,
/// loaded with <see cref="NativeLibrary"/> and called through a function pointer. Each call gives the C function the
/// first subpage (the caller's line: the file's GUPSIM_RECORDER_FROM function, else the running version's caller),
/// the user address range and the caller's <c>pages[]</c>; its helpers call back into the simulated kernel
/// (<see cref="KernelHelpers"/>), and an oops in one is raised here once C has returned.
/// </summary>
public sealed unsafe class CRecorder : ISubpageRecorder
{
    /// <summary>
    /// The gupsim/kernel.h ABI this loader speaks (GUPSIM_ABI_VERSION; 2: warn(file, line, once); 3: an object whose
    /// code keeps a helper call exports gupsim_calls_back).
    /// </summary>
    public const uint AbiVersion = 3;

    private const string Advice = "--strategy-c wants a C file defining record_subpages() and GUPSIM_RECORDER(fn, \"name\"), e.g. samples/c/nth-page.c";

    private readonly byte[] _source;
    private readonly Lock _gate = new();
    private readonly Dictionary<Geometry, Variant> _variants = [];
    private readonly System.Runtime.CompilerServices.ConditionalWeakTable<Machine, MachineBinding> _bindings = [];
    private readonly System.Runtime.CompilerServices.ConditionalWeakTable<Machine, MachineBinding>.CreateValueCallback _bind;
    private volatile MachineBinding? _last;

    private CRecorder(string path, byte[] source)
    {
        SourcePath = path;
        _source = source;
        _bind = m => new MachineBinding(m, VariantFor(Geometry.Of(m.Arch)), GupStrategy.ForVersion(m.Version));
    }

    /// <summary>The name GUPSIM_RECORDER gave it.</summary>
    public string Name { get; private set; } = "";

    /// <summary>The C file, as given.</summary>
    public string SourcePath { get; }

    /// <summary>Whether the file gives the caller's first-subpage line too (GUPSIM_RECORDER_FROM).</summary>
    public bool HasFirst { get; private set; }

    /// <summary>
    /// Whether the x86_64 object keeps a call to a helper (gupsim/kernel.h's gupsim_calls_back): one that does not is
    /// called with no GC transition.
    /// </summary>
    internal bool CallsBack { get; private set; }

    /// <summary>
    /// Compiles <paramref name="path"/> for the x86_64 geometry (its name, and its errors, now) and returns the
    /// recorder; other geometries compile on first use.
    /// </summary>
    /// <exception cref="GupSimException">Thrown when the file is missing, does not compile, or has no GUPSIM_RECORDER.</exception>
    public static CRecorder Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        string label = "--strategy-c " + path;
        if (Directory.Exists(path)) throw HostFile.Error(label, Errno.EISDIR, Advice);
        byte[] source = HostFile.ReadAllBytes(path, Advice);
        var r = new CRecorder(path, source);
        var v = r.VariantFor(Geometry.Of(ArchProfiles.Get("x86_64", KernelVersion.V6_1)));
        r.Name = v.Name;
        r.HasFirst = v.First != 0;
        r.CallsBack = v.CallsBack;
        return r;
    }

    /// <summary>The geometry a compiled object is specific to: gupsim/kernel.h's -D flags.</summary>
    private readonly record struct Geometry(int StructPageSize, int PageShift, int PmdShift, int PudShift, int SectionSizeBits, int BitsPerLong)
    {
        public static Geometry Of(ArchProfile a) => new(a.StructPageSize, a.PageShift, a.PmdShift, a.PudShift, a.SectionSizeBits, a.BitsPerLong);

        public string[] Defines() =>
        [
            $"-DGUPSIM_STRUCT_PAGE_SIZE={StructPageSize}", $"-DGUPSIM_PAGE_SHIFT={PageShift}", $"-DGUPSIM_PMD_SHIFT={PmdShift}",
            $"-DGUPSIM_PUD_SHIFT={PudShift}", $"-DGUPSIM_SECTION_SIZE_BITS={SectionSizeBits}", $"-DGUPSIM_BITS_PER_LONG={BitsPerLong}",
        ];
    }

    /// <summary>
    /// One loaded object: its record_subpages() and optional first-subpage function, and whether its code calls a
    /// helper (gupsim/kernel.h's gupsim_calls_back symbol).
    /// </summary>
    private sealed class Variant(string name, nint record, nint first, bool callsBack)
    {
        public string Name { get; } = name;
        public nint Record { get; } = record;
        public nint First { get; } = first;
        public bool CallsBack { get; } = callsBack;
    }

    /// <summary>A machine's object and its version's own caller; the last one used is kept so a call does no lookup.</summary>
    private sealed class MachineBinding(Machine machine, Variant variant, GupStrategy own)
    {
        public Machine Machine { get; } = machine;
        public Variant Variant { get; } = variant;
        public GupStrategy Own { get; } = own;
    }

    private Variant VariantFor(Geometry g)
    {
        lock (_gate)
        {
            if (_variants.TryGetValue(g, out var v)) return v;
            v = Compile(g);
            _variants[g] = v;
            return v;
        }
    }

    private Variant Compile(Geometry g)
    {
        string label = "--strategy-c " + SourcePath;
        string so = CCompiler.Build(label, SourcePath, _source, g.Defines());
        nint lib;
        try
        {
            lib = NativeLibrary.Load(so);
        }
        catch (DllNotFoundException e)
        {
            throw new GupSimException($"{label}: the compiled object {so} does not load ({e.Message.ReplaceLineEndings(" ")}): delete it and run again");
        }
        if (!NativeLibrary.TryGetExport(lib, "gupsim_recorder", out nint desc))
            throw new GupSimException($"{SourcePath}: no GUPSIM_RECORDER(...) in the file: add GUPSIM_RECORDER(fn, \"name\") after the function");
        // struct gupsim_recorder: abi, struct_page_size, name, record, first, ops (gupsim/kernel.h).
        var d = (byte*)desc;
        uint abi = *(uint*)d;
        if (abi != AbiVersion)
            throw new GupSimException($"{SourcePath}: built for gupsim/kernel.h ABI {abi}, this GupSim speaks ABI {AbiVersion}: delete {so} and run again");
        uint sps = *(uint*)(d + 4);
        string? name = Marshal.PtrToStringUTF8(*(nint*)(d + 8));
        nint record = *(nint*)(d + 16), first = *(nint*)(d + 24), ops = *(nint*)(d + 32);
        if (record == 0 || ops == 0)
            throw new GupSimException($"{SourcePath}: GUPSIM_RECORDER(fn, \"name\") names no function: give the recorder's function as its first argument");
        if (string.IsNullOrEmpty(name))
            throw new GupSimException($"{SourcePath}: GUPSIM_RECORDER(fn, \"name\") has an empty name: give the name --strategy selects it by");
        if (Name.Length > 0 && name != Name)
            throw new GupSimException($"{SourcePath}: GUPSIM_RECORDER names the recorder '{name}' for {g.BitsPerLong}-bit arches and '{Name}' for others: give it one name");
        *(nint*)ops = KernelHelpers.NewOpsTable(sps);
        return new Variant(name, record, first, NativeLibrary.TryGetExport(lib, "gupsim_calls_back", out _));
    }

    /// <summary>
    /// Fills <paramref name="pages"/>: the first subpage by the file's first-subpage function or the running version's
    /// caller, then the C record_subpages(page, addr, end, pages).
    /// </summary>
    public void Record(in SubpageRecordContext ctx, Span<PagePtr> pages)
    {
        int nr = RecordCounted(ctx, pages);
        // Where the record step's return is not used — the slow path's (record_subpages_vmas(), v5.12) and v6.18's
        // gup-fast leaf fill after its grab — the caller grabs and counts what it asked for, whatever C returned.
        if (nr != pages.Length)
        {
            string caller = ctx.Site == RecordSite.Fast
                ? "gup-fast grabbed them before the fill (v6.18's gup_fast_pmd_leaf()/gup_fast_pud_leaf()) and counts"
                : "the slow path's caller grabs and counts";
            ctx.Machine.Log(string.Create(CultureInfo.InvariantCulture, $"gupsim: {Name}: record_subpages() returned {nr} for {pages.Length} subpages; {caller} {pages.Length}"));
        }
    }

    /// <summary>
    /// Runs the C record_subpages() over <paramref name="pages"/> and returns what it returned: gup-fast's
    /// gup_huge_pmd()/gup_huge_pud() before v6.18 grab and count that many (<c>refs = record_subpages(…)</c>).
    /// </summary>
    public int RecordCounted(in SubpageRecordContext ctx, Span<PagePtr> pages)
    {
        int n = pages.Length;
        if (n == 0) return 0;
        var m = ctx.Machine;
        var b = _last;
        if (b is null || !ReferenceEquals(b.Machine, m))
        {
            // One binding per machine, made once: check's threads each run their own machines through one recorder.
            b = _bindings.GetValue(m, _bind);
            _last = b;
        }
        var v = b.Variant;
        int shift = m.Arch.PageShift;
        ulong addr = ctx.Addr != 0 ? ctx.Addr & ~((1UL << shift) - 1) : ctx.FirstSubpage << shift;
        ulong end = addr + ((ulong)n << shift);
        if (!v.CallsBack) return RecordWithoutCallbacks(b, ctx, addr, end, pages);
        PagePtr page;
        int nr;
        KernelHelpers.Enter(m, ctx.Counters);
        Exception? fault;
        try
        {
            page = v.First != 0
                ? PagePtr.FromAddress(((delegate* unmanaged<ulong, ulong, ulong>)v.First)(ctx.Head.Address, ctx.FirstSubpage))
                : CallersFirst(b.Own, ctx, pages);
            fixed (PagePtr* p = pages)
                nr = ((delegate* unmanaged<ulong, ulong, ulong, PagePtr*, int>)v.Record)(page.Address, addr, end, p);
        }
        finally
        {
            fault = KernelHelpers.Leave();
        }
        if (fault is not null) ExceptionDispatchInfo.Throw(fault);
        return nr;
    }

    /// <summary>
    /// An object whose code calls no helper (page++, <c>page + n</c>: address arithmetic only) runs with no GC
    /// transition: nothing it does can reach managed code, so the helpers need no machine and no oops can be kept.
    /// A first subpage the caller computes is computed in managed code before it. PERF: the two transitions and the
    /// helpers' attach/detach were ~40 ns of each 512-subpage call on the seed workload (docs/performance.md, "C recorders").
    /// </summary>
    private static int RecordWithoutCallbacks(MachineBinding b, in SubpageRecordContext ctx, ulong addr, ulong end, Span<PagePtr> pages)
    {
        var v = b.Variant;
        ulong page = v.First != 0
            ? ((delegate* unmanaged[SuppressGCTransition]<ulong, ulong, ulong>)v.First)(ctx.Head.Address, ctx.FirstSubpage)
            : CallersFirst(b.Own, ctx, pages).Address;
        fixed (PagePtr* p = pages)
            return ((delegate* unmanaged[SuppressGCTransition]<ulong, ulong, ulong, PagePtr*, int>)v.Record)(page, addr, end, p);
    }

    /// <summary>
    /// The first subpage as the running version's caller computes it: gup-fast's <c>pmd_page(orig) + offset</c>
    /// (nth_page() from c228afb11ac6, v5.18–v6.17); the slow path's first pages[] entry of the version's own
    /// follow_hugetlb_page() / hugetlb_follow_page_mask(); <c>head + offset</c> where the caller is not known.
    /// </summary>
    private static PagePtr CallersFirst(GupStrategy own, in SubpageRecordContext ctx, Span<PagePtr> pages)
    {
        var m = ctx.Machine;
        switch (ctx.Site)
        {
            case RecordSite.Fast when own.FastFirstPageByNthPage:
                if (m.MemMap.NthPageRoundTrips) SubpageRecorders.CountRoundTrip(ctx.Counters);
                return m.MemMap.NthPageOrPfnRoundTrip(ctx.Head, ctx.FirstSubpage);
            case RecordSite.Slow:
                SubpageRecorders.Record(own.SlowRecorder, ctx, pages[..1]);
                return pages[0];
            default:
                return ctx.Head.Add((long)ctx.FirstSubpage, m.StructPageSize);
        }
    }
}
