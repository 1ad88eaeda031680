using System.Globalization;

namespace GupSim;

/// <summary>
/// A checkpoint of a booted machine (<see cref="Machine.Checkpoint"/>): GupSim's machinery for <c>gupsim check</c>,
/// not a kernel mechanism. It stays open across rollbacks until disposed.
/// </summary>
public sealed class MachineCheckpoint : IDisposable
{
    internal MachineCheckpoint(Machine machine, int thread) => (Machine, Thread) = (machine, thread);

    /// <summary>The machine it was taken on.</summary>
    public Machine Machine { get; }

    internal int Thread { get; set; }
    internal Machine.UntrackedStamps Stamps { get; set; }
    internal int LogLines { get; set; }
    internal int WarningLines { get; set; }
    internal int WarnedSites { get; set; }
    internal object Counters { get; set; } = null!;
    internal long PinAcquired { get; set; }
    internal long PinReleased { get; set; }
    internal object Pools { get; set; } = null!;

    /// <summary>Whether the checkpoint is still open (not disposed).</summary>
    public bool IsOpen { get; internal set; } = true;

    /// <summary>
    /// Why the machine can no longer go back to this checkpoint ("the page allocator changed", ...), once a rollback
    /// returned false; null while rollbacks succeed.
    /// </summary>
    public string? Refusal { get; internal set; }

    /// <summary>Rollbacks that restored the machine.</summary>
    public long Rollbacks { get; internal set; }

    /// <summary>Closes the checkpoint: writes stop being journaled; the machine stays as it is now.</summary>
    public void Dispose() => Machine.EndCheckpoint(this);
}

public sealed partial class Machine
{
    /// <summary>Bumped by every change of page tables (set, cleared, allocated, freed) and VMAs: not journaled by checkpoints.</summary>
    internal long MmStamp;

    private MachineCheckpoint? _checkpoint;

    /// <summary>
    /// The stamps of the state a checkpoint does not journal (the page allocator, allocation owners, page tables and
    /// VMAs, the kernel address-space layout, slab, CMA, memory hotplug, hugetlb pool membership): a rollback refuses
    /// when any moved.
    /// </summary>
    internal readonly record struct UntrackedStamps(long PageAlloc, long Allocations, long Mm, long Layout, long Slab, long Cma, long Hotplug, long HugetlbMembership)
    {
        /// <summary>What changed between <paramref name="then"/> and this, or null when nothing did.</summary>
        public string? ChangedSince(UntrackedStamps then) =>
            PageAlloc != then.PageAlloc ? "the page allocator changed (a page was allocated or freed)"
            : Allocations != then.Allocations ? "an allocation's owner or a kernel page's use changed"
            : Mm != then.Mm ? "page tables or VMAs changed (a fault, a migration, an mmap)"
            : Layout != then.Layout ? "the kernel address-space layout changed (memmap arrays, vmalloc areas, page-table pages)"
            : Slab != then.Slab ? "slab changed"
            : Cma != then.Cma ? "a CMA area changed"
            : Hotplug != then.Hotplug ? "memory was hot-added or hot-removed"
            : HugetlbMembership != then.HugetlbMembership ? "a huge page joined or left the hugetlb pools"
            : null;
    }

    private UntrackedStamps CurrentStamps() => new(
        _pageAlloc?.ModStamp ?? 0,
        Interlocked.Read(ref _allocationsStamp),
        Interlocked.Read(ref MmStamp),
        Memory.LayoutStamp,
        _slub?.ModStamp ?? 0,
        _cma?.ModStamp ?? 0,
        _memoryHotplug?.ModStamp ?? 0,
        Hugetlb.MembershipStamp);

    /// <summary>
    /// Takes a checkpoint of the machine as it is now (after boot, churn, the hugetlb pool, mmap and touch), so that
    /// <see cref="Rollback"/> can put back everything one GUP call sequence and its release change: struct page
    /// contents (copy-on-first-write of each chunk written, in its affine or array form), other kernel memory and
    /// page-table entries written through kernel addresses (stray writes), the stray-write totals, the GUP counters and
    /// FOLL_PIN statistics, the kernel log (and with it every oops and "Bad page state" line), the warnings, and the
    /// hugetlb pool counters and free lists. A write outside a checkpoint costs one null test more.
    /// </summary>
    /// <remarks>
    /// Single-threaded: from <see cref="Checkpoint"/> until the checkpoint is disposed, only the calling thread may
    /// change the machine (the first write to each struct page chunk, and every rollback, check this and throw
    /// <see cref="InvalidOperationException"/> otherwise). Concurrent gup-fast walkers on one machine are for machines
    /// without a checkpoint. One checkpoint at a time per machine.
    /// </remarks>
    /// <exception cref="InvalidOperationException">Thrown when a checkpoint is already open on this machine.</exception>
    public MachineCheckpoint Checkpoint()
    {
        if (_checkpoint is not null) throw new InvalidOperationException("a checkpoint is already open on this machine: dispose it first");
        var cp = new MachineCheckpoint(this, Environment.CurrentManagedThreadId);
        Store.BeginCheckpoint();
        Memory.BeginCheckpoint();
        Capture(cp);
        _checkpoint = cp;
        return cp;
    }

    private void Capture(MachineCheckpoint cp)
    {
        var grab = Grab;
        lock (_log) (cp.LogLines, cp.WarnedSites) = (_log.Count, _warnedSites.Count);
        lock (_warnings) cp.WarningLines = _warnings.Count;
        cp.Counters = grab.Counters.Capture();
        cp.PinAcquired = grab.FollPinAcquired;
        cp.PinReleased = grab.FollPinReleased;
        cp.Pools = Hugetlb.CapturePools();
        cp.Stamps = CurrentStamps();
    }

    /// <summary>
    /// Puts the machine back as it was at <paramref name="cp"/> (see <see cref="Checkpoint"/> for what that covers);
    /// the checkpoint stays open for the next run. Returns false when state the checkpoint does not journal changed
    /// since (the page allocator, page tables or VMAs, slab, CMA, hotplug, hugetlb pool membership — a FOLL_LONGTERM
    /// migration, slow GUP faulting a page in, a release that freed a page): the machine is then not the
    /// checkpoint's and must be discarded (<see cref="MachineCheckpoint.Refusal"/> says why), and every later
    /// rollback to <paramref name="cp"/> returns false too. Never returns true with state differing.
    /// </summary>
    /// <exception cref="ArgumentException">Thrown when <paramref name="cp"/> is not this machine's open checkpoint.</exception>
    /// <exception cref="InvalidOperationException">Thrown when called from another thread than the one that took it.</exception>
    public bool Rollback(MachineCheckpoint cp)
    {
        ArgumentNullException.ThrowIfNull(cp);
        if (!ReferenceEquals(cp, _checkpoint)) throw new ArgumentException("not this machine's open checkpoint", nameof(cp));
        if (Environment.CurrentManagedThreadId != cp.Thread)
            throw new InvalidOperationException("a checkpoint is single-threaded: roll back from the thread that took it");
        // Refuse first, before writing anything back: a machine whose allocator or page tables moved is discarded as
        // the run left it (restoring struct pages on top of a changed buddy would make it incoherent).
        if (cp.Refusal is not null) return false;
        if ((CurrentStamps().ChangedSince(cp.Stamps)
            ?? (_migrator is { IsolatedCount: > 0 } ? "a page is still isolated for migration (an oops between isolate and putback)" : null)) is { } why)
        {
            cp.Refusal = why;
            return false;
        }
        Store.RollbackCheckpoint();
        Memory.RollbackCheckpoint();
        var grab = Grab;
        grab.Counters.Restore(cp.Counters);
        grab.RestorePinStats(cp.PinAcquired, cp.PinReleased);
        Hugetlb.RestorePools(cp.Pools);
        if (_pinnedSince is { } pinned)
        {
            foreach (var mm in pinned) mm.ClearHasPinnedForRollback();
            pinned.Clear();
        }
        lock (_log)
        {
            _log.RemoveRange(cp.LogLines, _log.Count - cp.LogLines);
            _warnedSites.RemoveRange(cp.WarnedSites, _warnedSites.Count - cp.WarnedSites);
        }
        lock (_warnings) _warnings.RemoveRange(cp.WarningLines, _warnings.Count - cp.WarningLines);
        cp.Rollbacks++;
        return true;
    }

    /// <summary>The address spaces whose mm->has_pinned a FOLL_PIN set since the checkpoint (cleared again by a rollback).</summary>
    private List<Mm.MmStruct>? _pinnedSince;

    /// <summary>Records that <paramref name="mm"/>'s has_pinned is about to be set, when a checkpoint is open.</summary>
    internal void JournalHasPinned(Mm.MmStruct mm)
    {
        if (_checkpoint is not null) (_pinnedSince ??= []).Add(mm);
    }

    /// <summary>
    /// Hands the open checkpoint <paramref name="cp"/> (and with it the machine) to the calling thread: from now on
    /// only this thread may change the machine or roll it back. For a pool of checkpointed machines shared by worker
    /// threads (<c>gupsim check</c>): the thread that used it before must be done with it, and the hand-over must go
    /// through a lock (or another barrier) so this thread sees its writes.
    /// </summary>
    /// <exception cref="ArgumentException">Thrown when <paramref name="cp"/> is not this machine's open checkpoint.</exception>
    public void AdoptCheckpoint(MachineCheckpoint cp)
    {
        ArgumentNullException.ThrowIfNull(cp);
        if (!ReferenceEquals(cp, _checkpoint)) throw new ArgumentException("not this machine's open checkpoint", nameof(cp));
        int thread = Environment.CurrentManagedThreadId;
        if (cp.Thread == thread) return;
        cp.Thread = thread;
        Store.AdoptCheckpoint(thread);
    }

    /// <summary>The checkpoint open on this machine, or null.</summary>
    public MachineCheckpoint? OpenCheckpoint => _checkpoint;

    internal void EndCheckpoint(MachineCheckpoint cp)
    {
        if (!ReferenceEquals(cp, _checkpoint)) return;
        Store.EndCheckpoint();
        Memory.EndCheckpoint();
        _pinnedSince?.Clear();
        _checkpoint = null;
        cp.IsOpen = false;
    }
}
