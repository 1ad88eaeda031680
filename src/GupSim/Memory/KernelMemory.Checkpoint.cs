namespace GupSim.Memory;

/// <summary>
/// Checkpoints of the kernel memory that is not struct pages (GupSim's machinery for <see cref="Machine.Checkpoint"/>):
/// an undo journal of the first store to each word of "other" kernel data and of each page-table entry reached
/// through its direct-map address, the page contents (<see cref="PageContents"/>, chunk by chunk), and the stray-write totals.
/// </summary>
public sealed partial class KernelMemory
{
    private sealed class CheckpointJournal
    {
        public readonly Dictionary<ulong, (bool Had, uint Value)> Other = [];
        public readonly Dictionary<(ulong[] Entries, int Index), ulong> PageTableWords = new(EntryComparer.Instance);
        public StrayWrites Stray;
    }

    private sealed class EntryComparer : IEqualityComparer<(ulong[] Entries, int Index)>
    {
        public static readonly EntryComparer Instance = new();

        public bool Equals((ulong[] Entries, int Index) x, (ulong[] Entries, int Index) y) => ReferenceEquals(x.Entries, y.Entries) && x.Index == y.Index;

        public int GetHashCode((ulong[] Entries, int Index) obj) => HashCode.Combine(System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(obj.Entries), obj.Index);
    }

    private CheckpointJournal? _journal;

    /// <summary>
    /// Bumped whenever the layout of the address space changes: a memmap array added or removed, a vmalloc area
    /// mapped or freed, a page-table page registered or given back. A checkpoint does not journal these.
    /// </summary>
    internal long LayoutStamp { get; private set; }

    /// <summary>Words of other kernel data and page-table entries journaled since the checkpoint or the last rollback.</summary>
    internal int JournaledWords
    {
        get
        {
            lock (_otherWrites) return _journal is null ? 0 : _journal.Other.Count + _journal.PageTableWords.Count;
        }
    }

    /// <summary>Opens a checkpoint (single-threaded: see <see cref="Machine.Checkpoint"/>).</summary>
    /// <exception cref="InvalidOperationException">Thrown when one is already open.</exception>
    internal void BeginCheckpoint()
    {
        lock (_otherWrites)
        {
            if (_journal is not null) throw new InvalidOperationException("a kernel memory checkpoint is already open on this machine");
            _journal = new CheckpointJournal { Stray = _strayTotal };
        }
        Contents.BeginJournal();
    }

    /// <summary>Puts back every journaled word and the stray-write totals; the checkpoint stays open.</summary>
    internal void RollbackCheckpoint()
    {
        lock (_otherWrites)
        {
            var j = _journal ?? throw new InvalidOperationException("no kernel memory checkpoint is open");
            foreach (var (key, (had, value)) in j.Other)
            {
                if (had)
                {
                    _otherWrites[key] = value;
                    _otherWritePages.Add(key >> _arch.PageShift);
                }
                else _otherWrites.Remove(key);
            }
            j.Other.Clear();
            foreach (var ((entries, index), value) in j.PageTableWords) Volatile.Write(ref entries[index], value);
            j.PageTableWords.Clear();
            _strayTotal = j.Stray;
        }
        Contents.Rollback();
    }

    /// <summary>Closes the checkpoint.</summary>
    internal void EndCheckpoint()
    {
        lock (_otherWrites) _journal = null;
        Contents.EndJournal();
    }

    /// <summary>_otherWrites[key] = value, journaling the old contents first (caller holds the lock).</summary>
    private void SetOther(ulong key, uint value)
    {
        if (_journal is { } j && !j.Other.ContainsKey(key))
            j.Other[key] = _otherWrites.TryGetValue(key, out uint old) ? (true, old) : (false, 0);
        _otherWrites[key] = value;
        _otherWritePages.Add(key >> _arch.PageShift);
    }

    /// <summary>Removes the word at <paramref name="key"/> from _otherWrites, journaling it first (caller holds the lock).</summary>
    private void RemoveOther(ulong key)
    {
        if (!_otherWrites.TryGetValue(key, out uint old)) return;
        if (_journal is { } j && !j.Other.ContainsKey(key)) j.Other[key] = (true, old);
        _otherWrites.Remove(key);
    }

    private void JournalPageTableWord(ulong[] entries, int index)
    {
        lock (_otherWrites)
        {
            if (_journal is { } j) j.PageTableWords.TryAdd((entries, index), Volatile.Read(ref entries[index]));
        }
    }
}
