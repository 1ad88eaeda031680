using System.Globalization;
using GupSim.Arch;
using GupSim.Core;
using GupSim.Fs;
using GupSim.Memory;
using GupSim.Pages;

namespace GupSim.Mm;

/// <summary>What a piece of the lived-in workload allocated, for the summary line.</summary>
public enum ChurnPayload
{
    /// <summary>Page cache pages of a disk filesystem file, read in.</summary>
    PageCache,
    /// <summary>tmpfs (shmem) pages, fallocated.</summary>
    Shmem,
    /// <summary>Anonymous 4 KiB (base) pages, faulted in by writes.</summary>
    Anon,
    /// <summary>Anonymous pages that came as transparent huge pages (PMD-mapped).</summary>
    Thp,
    /// <summary>Kernel allocations (alloc_pages(GFP_KERNEL, 0..3)).</summary>
    Kernel,
    /// <summary>kmalloc objects (GFP_KERNEL and __GFP_RECLAIMABLE), counted as the bytes of the objects in pages; their slab pages are slab, not payload.</summary>
    Slab,
}

/// <summary>
/// One allocation of the lived-in workload that has a lifetime: a page cache range, a tmpfs file, an anonymous
/// mapping, a kernel block. <see cref="Pages"/> is what it holds now; ending it frees that through the same kernel
/// paths the rest of GupSim uses (invalidate_mapping_pages, unlink, munmap, __free_pages).
/// </summary>
public abstract class ChurnItem
{
    /// <summary>Payload pages held now (page tables and other side allocations not included).</summary>
    public ulong Pages { get; protected set; }

    /// <summary>What it allocated (set by <see cref="Churn.Track"/>).</summary>
    public ChurnPayload Payload { get; internal set; }

    /// <summary>Whether part of it can end before the rest (a mapping: munmap of part of it).</summary>
    public virtual bool HasParts => false;

    /// <summary>Ends part of it (see <see cref="HasParts"/>); the rest lives on.</summary>
    internal virtual void EndPart(Churn churn) { }

    /// <summary>Ends it: frees everything it still holds.</summary>
    internal abstract void End(Churn churn);
}

/// <summary>
/// One kind of step of the lived-in workload (docs/architecture.md, "A machine that has lived"). A step asks the kind
/// for at most a number of payload pages; the kind allocates them through the kernel paths it stands for, gives each
/// piece a lifetime with <see cref="Churn.DrawLifetime"/> and hands it to <see cref="Churn.Track"/>.
/// </summary>
public interface IChurnKind
{
    /// <summary>Name for messages.</summary>
    string Name { get; }

    /// <summary>Relative weight: the chance of a step being of this kind is its weight over the sum.</summary>
    int Weight { get; }

    /// <summary>
    /// One step: draws its size (at most <paramref name="maxPages"/> payload pages), makes room for it with
    /// <see cref="Churn.MakeRoom"/>, allocates; returns the pages it got (0: nothing could be allocated).
    /// </summary>
    ulong Allocate(Churn churn, ulong maxPages);
}

/// <summary>When a churn item ends: kept (never, by the workload), or at a step; and, for items with parts, when a part ends first.</summary>
/// <param name="Kept">Left allocated when the workload ends.</param>
/// <param name="PartAt">The step at which part of it ends (0: no partial end).</param>
/// <param name="EndAt">The step at which all of it ends (0 when kept).</param>
public readonly record struct ChurnLifetime(bool Kept, long PartAt, long EndAt);

/// <summary>What a churn run did.</summary>
/// <param name="TargetPages">SIZE in pages (rounded up to whole pages).</param>
/// <param name="AllocatedPages">Payload pages allocated in total (equals the target unless it stopped short).</param>
/// <param name="PageCachePages">Of which page cache pages read from a disk filesystem.</param>
/// <param name="ShmemPages">Of which tmpfs pages.</param>
/// <param name="AnonPages">Of which anonymous pages (THP included).</param>
/// <param name="ThpPages">Of the anonymous pages, those that came as transparent huge pages.</param>
/// <param name="KernelPages">Of which kernel allocations of orders 0 to 3.</param>
/// <param name="SlabPages">Of which kmalloc objects (their bytes, in pages).</param>
/// <param name="KeptPages">Payload pages left allocated when the workload ended.</param>
/// <param name="FreePagesBefore">Free pages before the run.</param>
/// <param name="FreePagesAfter">Free pages after it.</param>
/// <param name="Steps">Steps run.</param>
/// <param name="StoppedShort">Why it stopped before the target, or null.</param>
/// <param name="Summary">The one summary line (kernel log, scenario output).</param>
public sealed record ChurnResult(
    ulong TargetPages, ulong AllocatedPages, ulong PageCachePages, ulong ShmemPages, ulong AnonPages, ulong ThpPages,
    ulong KernelPages, ulong SlabPages, ulong KeptPages, ulong FreePagesBefore, ulong FreePagesAfter, long Steps, string? StoppedShort, string Summary)
{
    /// <summary>Pages the workload left allocated: free before less free after (payload, page tables, pgd of the resident process).</summary>
    public ulong LeftAllocatedPages => FreePagesBefore - FreePagesAfter;
}

/// <summary>
/// A machine that has lived (<c>--churn SIZE</c>, scenario <c>churn SIZE</c>): a seeded workload of allocations and
/// frees through the allocators the rest of GupSim uses, run after boot and before the experiment, until SIZE bytes of
/// payload have been allocated in total, part of it left allocated. Its steps are drawn from
/// <see cref="DefaultKinds"/>: page cache read from disk and evicted, tmpfs written and removed, anonymous memory
/// faulted (4 KiB and THP) and munmapped in parts, kernel blocks of orders 0–3, kmalloc objects (slab growth and shrink). Everything random comes from one
/// <see cref="Random"/> seeded from <see cref="MachineSpec.Seed"/>, so the same seed gives the same machine.
/// The distribution is written in docs/architecture.md ("A machine that has lived (--churn)").
/// </summary>
public sealed class Churn
{
    /// <summary>Most kinds draw a step of floor(2^(<see cref="StepLog2Pages"/> × U)) pages, U uniform in [0, 1): 1 to 4095 pages (<see cref="DrawStepPages"/>).</summary>
    public const int StepLog2Pages = 12;
    /// <summary>One item in <see cref="KeptOneIn"/> is kept (left allocated at the end).</summary>
    public const int KeptOneIn = 8;
    /// <summary>A short-lived item ends 1 to <see cref="MaxLifetimeSteps"/> steps after it was made (uniform).</summary>
    public const int MaxLifetimeSteps = 64;
    /// <summary>Disk files the page cache kind reads ranges of (each sparse, <see cref="DataFileBytes"/> long).</summary>
    public const int DataFiles = 16;
    /// <summary>i_size of each data file.</summary>
    public const ulong DataFileBytes = 1UL << 40;

    private readonly Machine _m;
    private readonly Random _rng;
    private readonly PriorityQueue<(ChurnItem Item, bool Part), (long When, long Seq)> _events = new(EventOrder.Instance);
    private readonly List<ChurnItem> _kept = [];
    private readonly ulong[] _byPayload = new ulong[6];
    private long _seq;
    private ulong _live;
    private ulong _budget;
    private MmStruct? _worker;
    private MmStruct? _resident;
    private bool _released;

    private Churn(Machine machine, int run, ulong seed)
    {
        _m = machine;
        Run = run;
        _rng = new Random(SeedOf(seed, run));
    }

    /// <summary>The machine.</summary>
    public Machine Machine => _m;
    /// <summary>Which churn run on this machine this is (0 for the first; names its files).</summary>
    public int Run { get; }
    /// <summary>The seeded random source every choice of the run draws from.</summary>
    public Random Rng => _rng;
    /// <summary>The current step (lifetimes are counted in steps).</summary>
    public long Now { get; private set; }
    /// <summary>What the run did; set when it has finished.</summary>
    public ChurnResult Result { get; private set; } = null!;
    /// <summary>The items left allocated, oldest first.</summary>
    public IReadOnlyList<ChurnItem> Kept => _kept;
    /// <summary>The process that holds the kept anonymous mappings (null when none was kept).</summary>
    public MmStruct? Resident => _resident;

    /// <summary>
    /// The kinds GupSim has, with their weights (the chance of a step): page cache read from a disk filesystem 27,
    /// tmpfs 9, anonymous 4 KiB 22, anonymous THP 4, kernel orders 0–3 22, slab (kmalloc objects) 16. With the step
    /// sizes (1–4095 pages log-uniform, mean 492; THP 1–4 PMDs, mean 1280 pages with 4 KiB pages; slab steps capped
    /// at <see cref="SlabKind.MaxObjects"/> objects, mean 222 pages over the 13 classes) that is about
    /// 28 / 9 / 22 / 11 / 22 / 7 % of the bytes (the slab kind's bytes are its objects' bytes; the slab pages
    /// holding them are more, partly empty slabs).
    /// </summary>
    public static IReadOnlyList<IChurnKind> DefaultKinds(Machine machine) =>
    [
        new PageCacheReadKind(machine),
        new ShmemKind(),
        new AnonKind(),
        new AnonThpKind(),
        new KernelPagesKind(),
        new SlabKind(),
    ];

    /// <summary>
    /// Runs the workload on <paramref name="machine"/> until <paramref name="bytes"/> (rounded up to whole pages) of
    /// payload have been allocated in total.
    /// </summary>
    /// <param name="machine">The machine.</param>
    /// <param name="bytes">SIZE.</param>
    /// <param name="seed">The machine's seed (<see cref="MachineSpec.Seed"/>).</param>
    /// <param name="run">Which run on this machine (mixed into the seed, names the files).</param>
    /// <param name="what">How the caller names the request in messages ("--churn", "churn").</param>
    /// <param name="afterBoot">Whether it runs right after boot (the message says "free after boot").</param>
    /// <param name="kinds">The step kinds; null = <see cref="DefaultKinds"/>.</param>
    /// <exception cref="GupSimException">Thrown, as one line, when SIZE is more than the machine has free.</exception>
    public static Churn Execute(Machine machine, ulong bytes, ulong seed, int run, string what, bool afterBoot, IReadOnlyList<IChurnKind>? kinds = null)
    {
        ArgumentNullException.ThrowIfNull(machine);
        ulong ps = machine.Arch.PageSize;
        ulong free = machine.FreePagesTotal;
        if (bytes > free * ps)
            throw new GupSimException($"{what} {ByteSize.Format(bytes)}: the machine has {FormatFree(free * ps)} free{(afterBoot ? " after boot" : "")}; churn at most that");
        var c = new Churn(machine, run, seed);
        c.Go(bytes / ps + (bytes % ps != 0 ? 1UL : 0), kinds ?? DefaultKinds(machine), free);
        return c;
    }

    /// <summary>The int seed of run <paramref name="run"/>: SplitMix64 of the machine seed and the run, folded to 32 bits.</summary>
    private static int SeedOf(ulong seed, int run)
    {
        ulong z = seed + 0x9E3779B97F4A7C15UL * (ulong)(run + 1);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return unchecked((int)(z ^ (z >> 32)));
    }

    private void Go(ulong target, IReadOnlyList<IChurnKind> kinds, ulong freeBefore)
    {
        int totalWeight = 0;
        foreach (var k in kinds) totalWeight += k.Weight;
        if (totalWeight <= 0) throw new ArgumentException("churn needs at least one kind with a positive weight", nameof(kinds));
        _budget = freeBefore / 2;
        ulong allocated = 0;
        string? stopped = null;
        while (allocated < target)
        {
            Now++;
            RunDue(Now);
            var kind = Pick(kinds, totalWeight);
            ulong got = kind.Allocate(this, target - allocated);
            if (got == 0)
            {
                // Out of memory for this kind: end every lifetime early (the machine under pressure) and try once more.
                while (_events.Count > 0) RunNext();
                got = kind.Allocate(this, target - allocated);
                if (got == 0)
                {
                    stopped = $"{kind.Name}: out of memory (ENOMEM)";
                    break;
                }
            }
            allocated += got;
        }
        // The workload ends: every short-lived item in lifetime order, then the worker process exits.
        while (_events.Count > 0) RunNext();
        _worker?.Destroy();
        _worker = null;
        ulong ps = _m.Arch.PageSize;
        ulong freeAfter = _m.FreePagesTotal;
        ulong keptPages = 0;
        foreach (var k in _kept) keptPages += k.Pages;
        Result = new ChurnResult(target, allocated, _byPayload[(int)ChurnPayload.PageCache], _byPayload[(int)ChurnPayload.Shmem],
            _byPayload[(int)ChurnPayload.Anon] + _byPayload[(int)ChurnPayload.Thp], _byPayload[(int)ChurnPayload.Thp],
            _byPayload[(int)ChurnPayload.Kernel], _byPayload[(int)ChurnPayload.Slab], keptPages, freeBefore, freeAfter, Now, stopped, "");
        Result = Result with { Summary = SummaryLine(Result, ps) };
    }

    private IChurnKind Pick(IReadOnlyList<IChurnKind> kinds, int totalWeight)
    {
        int r = _rng.Next(totalWeight);
        foreach (var k in kinds)
        {
            if (r < k.Weight) return k;
            r -= k.Weight;
        }
        return kinds[^1];
    }

    /// <summary>A step size: floor(2^(<see cref="StepLog2Pages"/> × U)) pages, U uniform in [0, 1), at most <paramref name="maxPages"/>.</summary>
    public ulong DrawStepPages(ulong maxPages) =>
        Math.Clamp((ulong)Math.Pow(2, StepLog2Pages * _rng.NextDouble()), 1, Math.Max(1, maxPages));

    /// <summary>
    /// Makes room for <paramref name="pages"/> more: the live set stays within half of what was free before the run;
    /// beyond it, the lifetimes that would end first end now, as memory pressure (reclaim, a user closing things)
    /// ends them.
    /// </summary>
    public void MakeRoom(ulong pages)
    {
        while (_live + pages > _budget && _events.Count > 0) RunNext();
    }

    /// <summary>
    /// Draws a lifetime: kept with chance 1 in <see cref="KeptOneIn"/> (a part of it still ends, 1–64 steps on, when
    /// <paramref name="hasParts"/>), else ending L = 1–<see cref="MaxLifetimeSteps"/> steps on (uniform), a part of it
    /// ending first at a uniform step in [1, L) when it has parts and L ≥ 2.
    /// </summary>
    public ChurnLifetime DrawLifetime(bool hasParts)
    {
        if (_rng.Next(KeptOneIn) == 0)
            return new ChurnLifetime(true, hasParts ? Now + _rng.Next(1, MaxLifetimeSteps + 1) : 0, 0);
        int l = _rng.Next(1, MaxLifetimeSteps + 1);
        long part = hasParts && l >= 2 ? Now + _rng.Next(1, l) : 0;
        return new ChurnLifetime(false, part, Now + l);
    }

    /// <summary>Takes an item that allocated <see cref="ChurnItem.Pages"/> of <paramref name="payload"/> and schedules its lifetime.</summary>
    public void Track(ChurnItem item, ChurnLifetime life, ChurnPayload payload, ulong pages)
    {
        ArgumentNullException.ThrowIfNull(item);
        item.Payload = payload;
        _byPayload[(int)payload] += pages;
        _live += item.Pages;
        if (life.PartAt != 0 && item.HasParts) _events.Enqueue((item, true), (life.PartAt, _seq++));
        if (life.Kept) _kept.Add(item);
        else _events.Enqueue((item, false), (life.EndAt, _seq++));
    }

    /// <summary>Counts pages of <paramref name="payload"/> an item got beyond those <see cref="Track"/> counted (a THP mapping's base-page fallback).</summary>
    internal void CountMore(ChurnPayload payload, ulong pages) => _byPayload[(int)payload] += pages;

    private void RunDue(long now)
    {
        while (_events.TryPeek(out _, out var when) && when.When <= now) RunNext();
    }

    private void RunNext()
    {
        var (item, part) = _events.Dequeue();
        ulong before = item.Pages;
        if (part) item.EndPart(this);
        else item.End(this);
        _live -= before - item.Pages;
    }

    /// <summary>The short-lived process the transient anonymous mappings live in (exits when the workload ends).</summary>
    internal MmStruct? Worker => _worker ??= MmStruct.Create(_m);

    /// <summary>The process that keeps the anonymous mappings left allocated.</summary>
    internal MmStruct? ResidentMm => _resident ??= MmStruct.Create(_m);

    /// <summary>
    /// The workload is gone: every kept item ends, the resident process exits, the data files are removed. Afterwards
    /// the free page count is what it was before the run (a test of the bookkeeping; the CLI never calls it).
    /// </summary>
    public void Release()
    {
        if (_released) return;
        _released = true;
        foreach (var k in _kept) k.End(this);
        _kept.Clear();
        _resident?.Destroy();
        _resident = null;
        for (int i = 0; i < DataFiles; i++) _m.Vfs.Unlink(DataFilePath(i));
    }

    /// <summary>The path of data file <paramref name="i"/> of this run.</summary>
    internal string DataFilePath(int i) => string.Create(CultureInfo.InvariantCulture, $"{DataDirectory}/r{Run}-data{i}");

    /// <summary>Where the page cache kind's data files live (on the root filesystem, ext4 on a new machine).</summary>
    public const string DataDirectory = "/var/cache/churn";

    /// <summary>Free memory as the size error says it: GiB (MiB below 1 GiB) with one decimal, rounded down.</summary>
    public static string FormatFree(ulong bytes) => bytes >= 1UL << 30
        ? string.Create(CultureInfo.InvariantCulture, $"{Math.Floor(bytes * 10.0 / (1UL << 30)) / 10:0.0} GiB")
        : string.Create(CultureInfo.InvariantCulture, $"{Math.Floor(bytes * 10.0 / (1UL << 20)) / 10:0.0} MiB");

    private static string SummaryLine(ChurnResult r, ulong ps)
    {
        bool gib = r.TargetPages * ps >= 1UL << 30;
        double unit = gib ? 1UL << 30 : 1UL << 20;
        string u = gib ? "GiB" : "MiB";
        string F(ulong pages) => (pages * ps / unit).ToString("0.00", CultureInfo.InvariantCulture);
        string line = $"churn: {F(r.AllocatedPages)} {u} allocated (page cache {F(r.PageCachePages)}, tmpfs {F(r.ShmemPages)}, anon {F(r.AnonPages)} of which THP {F(r.ThpPages)}, kernel {F(r.KernelPages)}, slab {F(r.SlabPages)}), "
            + $"{F(r.LeftAllocatedPages)} {u} left allocated, free {FormatFree(r.FreePagesAfter * ps)}";
        return r.StoppedShort is null ? line : line + $"; stopped short of {F(r.TargetPages)} {u}: {r.StoppedShort}";
    }

    private sealed class EventOrder : IComparer<(long When, long Seq)>
    {
        public static readonly EventOrder Instance = new();

        public int Compare((long When, long Seq) x, (long When, long Seq) y) =>
            x.When != y.When ? x.When.CompareTo(y.When) : x.Seq.CompareTo(y.Seq);
    }
}

/// <summary>
/// Page cache read from a disk filesystem and evicted: a pread(2) of a fresh range of one of the run's sparse data
/// files (<see cref="Churn.DataDirectory"/>; filemap_read() adds each page), and at the end of its lifetime
/// invalidate_mapping_pages() on that range (what drop_caches does). Kept ranges stay cached.
/// </summary>
internal sealed class PageCacheReadKind : IChurnKind
{
    private readonly ulong[] _next = new ulong[Churn.DataFiles];
    private readonly Machine _m;
    private bool _made;

    public PageCacheReadKind(Machine machine) => _m = machine;

    public string Name => "page cache";
    public int Weight => 27;

    public ulong Allocate(Churn churn, ulong maxPages)
    {
        ulong pages = churn.DrawStepPages(maxPages);
        churn.MakeRoom(pages);
        int i = churn.Rng.Next(Churn.DataFiles);
        var life = churn.DrawLifetime(hasParts: false);
        int shift = _m.Arch.PageShift;
        ulong first = _next[i];
        if (((first + pages) << shift) > Churn.DataFileBytes) return 0;
        var file = Open(churn, i);
        if (file is null) return 0;
        long rc = file.Read(first << shift, pages << shift);
        file.Close();
        if (rc <= 0) return 0;
        ulong got = (ulong)rc >> shift;
        _next[i] = first + got;
        churn.Track(new PageCacheRange((PageCacheInode)file.Inode, first, got), life, ChurnPayload.PageCache, got);
        return got;
    }

    /// <summary>open(O_RDWR|O_CREAT) of data file <paramref name="i"/>; a new one is made <see cref="Churn.DataFileBytes"/> long (sparse).</summary>
    private OpenFile? Open(Churn churn, int i)
    {
        var vfs = _m.Vfs;
        if (!_made)
        {
            vfs.Mkdir("/var/cache");
            vfs.Mkdir(Churn.DataDirectory);
            _made = true;
        }
        if (vfs.TryOpen(churn.DataFilePath(i), create: true, out var f) != 0) return null;
        if (f!.Inode is not PageCacheInode pc || pc.FsType.IsShmem() || (pc.Size == 0 && f.Ftruncate(Churn.DataFileBytes) != 0))
        {
            f.Close();
            return null;
        }
        return f;
    }

    private sealed class PageCacheRange : ChurnItem
    {
        private readonly PageCacheInode _inode;
        private readonly ulong _first;

        public PageCacheRange(PageCacheInode inode, ulong first, ulong pages)
        {
            _inode = inode;
            _first = first;
            Pages = pages;
        }

        internal override void End(Churn churn)
        {
            if (Pages == 0) return;
            if (!_inode.Evicted) _inode.InvalidateMappingPages(_first, _first + Pages - 1);
            Pages = 0;
        }
    }
}

/// <summary>
/// tmpfs written and removed: a new file in /dev/shm (a POSIX shared memory segment) fallocated to the step's size
/// (shmem_fallocate() allocates every page), closed; at the end of its lifetime unlinked (eviction truncates its
/// page cache). Kept files stay.
/// </summary>
internal sealed class ShmemKind : IChurnKind
{
    private long _n;

    public string Name => "tmpfs";
    public int Weight => 9;

    public ulong Allocate(Churn churn, ulong maxPages)
    {
        var m = churn.Machine;
        ulong pages = churn.DrawStepPages(maxPages);
        churn.MakeRoom(pages);
        var life = churn.DrawLifetime(hasParts: false);
        string path = string.Create(CultureInfo.InvariantCulture, $"/dev/shm/churn{churn.Run}.{_n++}");
        if (m.Vfs.TryOpen(path, create: true, out var f) != 0 || f!.Inode is not PageCacheInode pc || !pc.FsType.IsShmem())
        {
            f?.Close();
            return 0;
        }
        int rc = f.Fallocate(0, pages << m.Arch.PageShift);
        f.Close();
        if (rc != 0)
        {
            m.Vfs.Unlink(path);
            return 0;
        }
        churn.Track(new ShmemFile(path, pages), life, ChurnPayload.Shmem, pages);
        return pages;
    }

    private sealed class ShmemFile : ChurnItem
    {
        private readonly string _path;

        public ShmemFile(string path, ulong pages)
        {
            _path = path;
            Pages = pages;
        }

        internal override void End(Churn churn)
        {
            if (Pages == 0) return;
            churn.Machine.Vfs.Unlink(_path);
            Pages = 0;
        }
    }
}

/// <summary>
/// An anonymous mapping (MAP_PRIVATE|MAP_ANONYMOUS, placed by get_unmapped_area()) whose pages are written once each,
/// so each write fault allocates (do_anonymous_page(), or do_huge_pmd_anonymous_page() where VM_HUGEPAGE and the arch
/// allow a THP); munmapped in two parts. Kept mappings live in the resident process and keep the rest after their part
/// ends; the others live in the worker process.
/// </summary>
internal class AnonKind : IChurnKind
{
    public virtual string Name => "anon";
    public virtual int Weight => 22;

    public virtual ulong Allocate(Churn churn, ulong maxPages)
    {
        ulong pages = churn.DrawStepPages(maxPages);
        churn.MakeRoom(pages);
        return MapAndTouch(churn, pages, thp: false);
    }

    /// <summary>
    /// Maps <paramref name="pages"/> pages (with <paramref name="thp"/>: a PMD-aligned range of whole PMDs, madvised
    /// MADV_HUGEPAGE) and writes each page.
    /// </summary>
    protected static ulong MapAndTouch(Churn churn, ulong pages, bool thp)
    {
        var m = churn.Machine;
        ulong ps = m.Arch.PageSize, pmd = m.Arch.PmdSize;
        ulong len = pages * ps;
        var life = churn.DrawLifetime(hasParts: pages > 1);
        var mm = life.Kept ? churn.ResidentMm : churn.Worker;
        if (mm is null) return 0;
        ulong start;
        if (thp)
        {
            // User space gets a PMD-aligned range the way glibc's and jemalloc's allocators do: map more, unmap the slop.
            long a = mm.Mmap(0, len + pmd - ps, Prot.Read | Prot.Write, MapFlags.Private | MapFlags.Anonymous);
            if (a < 0) return 0;
            ulong raw = (ulong)a;
            start = (raw + pmd - 1) & ~(pmd - 1);
            if (start > raw) mm.Munmap(raw, start - raw);
            if (raw + len + pmd - ps > start + len) mm.Munmap(start + len, raw + len + pmd - ps - (start + len));
            mm.Madvise(start, len, Madvise.HugePage);
        }
        else
        {
            long a = mm.Mmap(0, len, Prot.Read | Prot.Write, MapFlags.Private | MapFlags.Anonymous);
            if (a < 0) return 0;
            start = (ulong)a;
        }
        long anonBefore = mm.AnonPages;
        ulong thpPages = 0;
        for (ulong va = start; va < start + len;)
        {
            if ((mm.UserAccess(va, write: true, out ulong leaf) & VmFault.Error) != 0) break;
            if (leaf > ps) thpPages += leaf / ps;
            va = (va & ~(leaf - 1)) + leaf;
        }
        ulong got = (ulong)(mm.AnonPages - anonBefore);
        if (got == 0)
        {
            mm.Munmap(start, len);
            return 0;
        }
        var item = new AnonRange(mm, start, len, thp ? pmd : ps, got);
        churn.Track(item, life, ChurnPayload.Anon, got - thpPages);
        if (thpPages > 0) churn.CountMore(ChurnPayload.Thp, thpPages);
        return got;
    }

    /// <summary>A mapping of the workload: a part (a random run of whole granules, never all of them) goes first, then the rest.</summary>
    private sealed class AnonRange : ChurnItem
    {
        private readonly MmStruct _mm;
        private readonly ulong _start;
        private readonly ulong _len;
        private readonly ulong _granule;

        public AnonRange(MmStruct mm, ulong start, ulong len, ulong granule, ulong pages)
        {
            _mm = mm;
            _start = start;
            _len = len;
            _granule = granule;
            Pages = pages;
        }

        public override bool HasParts => _len / _granule >= 2;

        internal override void EndPart(Churn churn)
        {
            if (Pages == 0) return;
            ulong n = _len / _granule;
            if (n < 2) return;
            // A run of 1 to n − 1 granules at a random granule offset: the VMA shrinks or splits.
            ulong count = 1 + (ulong)churn.Rng.NextInt64((long)(n - 1));
            ulong first = (ulong)churn.Rng.NextInt64((long)(n - count + 1));
            long before = _mm.AnonPages;
            _mm.Munmap(_start + first * _granule, count * _granule);
            Pages -= (ulong)(before - _mm.AnonPages);
        }

        internal override void End(Churn churn)
        {
            if (Pages == 0) return;
            _mm.Munmap(_start, _len);
            Pages = 0;
        }
    }
}

/// <summary>
/// Anonymous memory as transparent huge pages: a PMD-aligned mapping of 1 to <see cref="MaxPmds"/> whole PMDs
/// (uniform) madvised MADV_HUGEPAGE and written, so each PMD faults in a THP where the arch has PMD-mapped THP and
/// the buddy has a free block of that order; otherwise the fault falls back to 4 KiB pages, as the kernel's does.
/// When less than a PMD is left of SIZE, the step is a 4 KiB one.
/// </summary>
internal sealed class AnonThpKind : AnonKind
{
    /// <summary>Most PMDs one THP step maps.</summary>
    public const int MaxPmds = 4;

    public override string Name => "anon THP";
    public override int Weight => 4;

    public override ulong Allocate(Churn churn, ulong maxPages)
    {
        ulong pmdPages = churn.Machine.Arch.PmdSize >> churn.Machine.Arch.PageShift;
        if (maxPages < pmdPages) return base.Allocate(churn, maxPages);
        ulong pages = Math.Min((ulong)churn.Rng.Next(1, MaxPmds + 1), maxPages / pmdPages) * pmdPages;
        churn.MakeRoom(pages);
        return MapAndTouch(churn, pages, thp: true);
    }
}

/// <summary>
/// Kernel allocations kept and freed: blocks of order 0 (8 in 15), 1 (4 in 15), 2 (2 in 15) or 3 (1 in 15) —
/// lowered to fit what is left of the step — with alloc_pages_node(nid, GFP_KERNEL, order) on a node drawn uniformly
/// (the CPU the allocating task runs on), recorded as other kernel data, each with its own lifetime, freed with
/// __free_pages().
/// </summary>
internal sealed class KernelPagesKind : IChurnKind
{
    private static readonly string[] Owners = ["churn: kernel page", "churn: kernel block (order 1)", "churn: kernel block (order 2)", "churn: kernel block (order 3)"];

    public string Name => "kernel";
    public int Weight => 22;

    public ulong Allocate(Churn churn, ulong maxPages)
    {
        var m = churn.Machine;
        ulong pages = churn.DrawStepPages(maxPages);
        churn.MakeRoom(pages);
        ulong got = 0;
        while (got < pages)
        {
            int r = churn.Rng.Next(15);
            int order = r < 8 ? 0 : r < 12 ? 1 : r < 14 ? 2 : 3;
            while ((1UL << order) > pages - got) order--;
            int nid = m.Nodes.Count == 1 ? m.Nodes[0].Nid : m.Nodes[churn.Rng.Next(m.Nodes.Count)].Nid;
            var life = churn.DrawLifetime(hasParts: false);
            if (!m.TryAllocPages(order, nid, Owners[order], out Pfn pfn, Gfp.Kernel)) break;
            m.MarkKernelPages(pfn.Value, 1UL << order, KernelPageUse.OtherKernelData);
            churn.Track(new KernelBlock(pfn, order), life, ChurnPayload.Kernel, 1UL << order);
            got += 1UL << order;
        }
        return got;
    }

    private sealed class KernelBlock : ChurnItem
    {
        private readonly Pfn _pfn;
        private readonly int _order;

        public KernelBlock(Pfn pfn, int order)
        {
            _pfn = pfn;
            _order = order;
            Pages = 1UL << order;
        }

        internal override void End(Churn churn)
        {
            if (Pages == 0) return;
            var m = churn.Machine;
            m.MarkKernelPages(_pfn.Value, Pages, KernelPageUse.None);
            // __free_pages(): put_page_testzero() on the head, then the block goes back to the buddy.
            if (PageRef.PageRefDecAndTest(m, m.PfnToPage(_pfn))) m.FreePages(_pfn, _order);
            Pages = 0;
        }
    }
}

/// <summary>
/// Slab growth and shrink (mm/slub.c through <see cref="Slub"/>): a step is kmalloc() of objects of one size class of
/// kmalloc_index() (KMALLOC_MIN_SIZE to KMALLOC_MAX_CACHE_SIZE, uniform over the classes; 96 and 192 included,
/// halved while bigger than the step), GFP_KERNEL or, one step in two, GFP_KERNEL | __GFP_RECLAIMABLE (dentry- and
/// inode-like objects: the kmalloc-rcl-* caches, MIGRATE_RECLAIMABLE slab pages), ceil(step bytes / size) objects
/// (the step at most <see cref="MaxObjects"/> objects' worth of pages). A cache
/// takes pages from the buddy only when its slabs are full (new_slab()). At the end of its lifetime the objects are
/// kfree()d in a shuffled order, not the order they were allocated, so slabs are left partly empty; a slab that
/// empties goes back to the buddy only when its node already keeps min_partial partial slabs (discard_slab()).
/// </summary>
internal sealed class SlabKind : IChurnKind
{
    /// <summary>Most objects one step allocates (8192: 16 pages of kmalloc-8 objects).</summary>
    public const ulong MaxObjects = 8192;

    private readonly ulong _size;
    private readonly Gfp? _gfp;

    /// <summary>The kind of the default mix: size class and gfp drawn per step.</summary>
    public SlabKind() { }

    /// <summary>A kind of one size class (<paramref name="size"/> bytes, 0: drawn) and one gfp (null: drawn), for tests.</summary>
    internal SlabKind(ulong size, Gfp? gfp)
    {
        _size = size;
        _gfp = gfp;
    }

    public string Name => "slab";
    public int Weight => 16;

    public ulong Allocate(Churn churn, ulong maxPages)
    {
        var m = churn.Machine;
        var slub = m.Slub;
        ulong ps = m.Arch.PageSize;
        ulong pages = churn.DrawStepPages(maxPages);
        churn.MakeRoom(pages);
        // The size classes: kmalloc_index() 1 (96), 2 (192), and 3.. up to KMALLOC_SHIFT_HIGH, from KMALLOC_MIN_SIZE.
        int minShift = System.Numerics.BitOperations.Log2((uint)slub.KmallocMinSize);
        int classes = slub.KmallocShiftHigh - minShift + 1 + (slub.KmallocMinSize <= 32 ? 1 : 0) + (slub.KmallocMinSize <= 64 ? 1 : 0);
        int pick = churn.Rng.Next(classes);
        ulong size = pick <= slub.KmallocShiftHigh - minShift ? 1UL << (minShift + pick)
            : pick == slub.KmallocShiftHigh - minShift + 1 && slub.KmallocMinSize <= 32 ? 96UL : 192UL;
        if (_size != 0) size = _size;
        Gfp gfp = churn.Rng.Next(2) == 0 ? Gfp.Kernel : Gfp.Kernel | Gfp.Reclaimable;
        if (_gfp is { } fixedGfp) gfp = fixedGfp;
        var life = churn.DrawLifetime(hasParts: false);
        // A class bigger than the step is lowered to fit; a step of small objects is at most MaxObjects of them.
        while (size > pages * ps) size >>= 1;
        pages = Math.Min(pages, Math.Max(1, MaxObjects * size / ps));
        ulong count = (pages * ps + size - 1) / size;
        var objects = new ulong[count];
        for (ulong got = 0; got < count; got++)
        {
            ulong a = slub.Kmalloc(size, gfp);
            if (a == 0)
            {
                // ENOMEM part-way: give back what this step took (the caches keep their slabs, as SLUB does).
                for (ulong i = 0; i < got; i++) slub.Kfree(objects[i]);
                return 0;
            }
            objects[got] = a;
        }
        ulong payload = pages;
        churn.Track(new SlabObjects(objects, count, payload), life, ChurnPayload.Slab, payload);
        return payload;
    }

    private sealed class SlabObjects : ChurnItem
    {
        private readonly ulong[] _objects;
        private readonly ulong _count;

        public SlabObjects(ulong[] objects, ulong count, ulong payload)
        {
            _objects = objects;
            _count = count;
            Pages = payload;
        }

        internal override void End(Churn churn)
        {
            if (Pages == 0) return;
            // Freed in another order than allocated (Fisher-Yates over the run's seed): slabs empty unevenly.
            var rng = churn.Rng;
            for (ulong i = _count - 1; i > 0; i--)
            {
                ulong j = (ulong)rng.NextInt64((long)i + 1);
                (_objects[i], _objects[j]) = (_objects[j], _objects[i]);
            }
            for (ulong i = 0; i < _count; i++) churn.Machine.Slub.Kfree(_objects[i]);
            Pages = 0;
        }
    }
}
