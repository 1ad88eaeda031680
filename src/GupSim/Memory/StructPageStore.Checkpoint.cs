namespace GupSim.Memory;

/// <summary>
/// Checkpoints of struct page contents (GupSim's machinery for <see cref="Machine.Checkpoint"/>, not a kernel
/// mechanism): copy-on-first-write of a chunk while a checkpoint is open, so a rollback costs what the configuration
/// touched, not the size of the machine.
/// </summary>
public sealed partial class StructPageStore
{
    /// <summary>
    /// The open checkpoint: for every chunk written since the checkpoint (or since the last rollback), its record as
    /// it was before the first write — an affine record itself (immutable), or a copy of an array record's units.
    /// </summary>
    private sealed class CheckpointJournal(int thread)
    {
        public readonly int Thread = thread;
        public int Generation;
        public readonly Dictionary<ulong, ChunkRef> Saved = [];
    }

    // Source of checkpoint generations: never reused, so a stale SavedGeneration mark of an earlier checkpoint or
    // rollback never matches.
    private int _generations;

    // Chunk arrays a rollback set free, for the next copy or expansion (bounded: see SpareLimit).
    private readonly Stack<uint[]> _spare = new();
    private const int SpareLimit = 64;

    /// <summary>Whether a checkpoint is open.</summary>
    public bool CheckpointOpen => _journal is not null;

    /// <summary>Chunks journaled since the checkpoint or the last rollback (what a rollback will restore).</summary>
    public int JournaledChunks
    {
        get
        {
            lock (_lock) return _journal?.Saved.Count ?? 0;
        }
    }

    /// <summary>
    /// Opens a checkpoint: from now on the first write to each chunk saves its contents first. Single-threaded: the
    /// machine may be written only from the calling thread until <see cref="EndCheckpoint"/> (the first write to a
    /// chunk checks it).
    /// </summary>
    /// <exception cref="InvalidOperationException">Thrown when a checkpoint is already open.</exception>
    public void BeginCheckpoint()
    {
        lock (_lock)
        {
            if (_journal is not null) throw new InvalidOperationException("a struct page checkpoint is already open on this machine");
            _journal = new CheckpointJournal(Environment.CurrentManagedThreadId) { Generation = ++_generations };
        }
    }

    /// <summary>
    /// Puts every chunk written since the checkpoint (or the last rollback) back as it was, in the form it had
    /// (affine or array), and keeps the checkpoint open for the next run.
    /// </summary>
    public void RollbackCheckpoint()
    {
        var j = _journal ?? throw new InvalidOperationException("no struct page checkpoint is open");
        AssertCheckpointThread(j);
        lock (_lock)
        {
            foreach (var (c, saved) in j.Saved)
            {
                if (!_chunks.TryGetValue(c, out var current)) continue; // dropped by hot-remove (the machine refuses the rollback)
                if (saved.Units is { } copy)
                {
                    // The same array record still live: copy back in place (no allocation), recycle the copy.
                    if (current.Units is { } live && Volatile.Read(ref current.Writers) >= 0)
                    {
                        Array.Copy(copy, live, live.Length);
                        Recycle(copy);
                        continue;
                    }
                    Publish(saved); // compacted since: the copy becomes the chunk again
                    continue;
                }
                if (ReferenceEquals(current, saved)) continue;
                // An affine chunk that a write expanded: back to its affine record; the expansion's array is dead.
                if (current.Units is { } expanded && Interlocked.CompareExchange(ref current.Writers, int.MinValue, 0) == 0) Recycle(expanded);
                Publish(saved);
            }
            j.Saved.Clear();
            j.Generation = ++_generations;
        }
    }

    /// <summary>Closes the checkpoint: writes cost what they cost without one again; journaled contents are kept as they are now.</summary>
    public void EndCheckpoint()
    {
        lock (_lock)
        {
            _journal = null;
            _spare.Clear();
        }
    }

    /// <summary>The first write to a chunk in this generation: save what it holds now.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private void JournalChunk(ChunkRef chunk)
    {
        var j = _journal;
        if (j is null || chunk.SavedGeneration == j.Generation) return;
        AssertCheckpointThread(j);
        lock (_lock)
        {
            if (!j.Saved.ContainsKey(chunk.Chunk))
            {
                j.Saved[chunk.Chunk] = chunk.Units is { } units
                    ? new ChunkRef(chunk.Chunk, CopyOf(units), null, null)
                    : chunk; // affine: the record is immutable, it is its own copy
            }
            chunk.SavedGeneration = j.Generation;
        }
    }

    private static void AssertCheckpointThread(CheckpointJournal j)
    {
        if (Environment.CurrentManagedThreadId != j.Thread)
            throw new InvalidOperationException("a machine with an open checkpoint was written from another thread than the one that took it (checkpoints are single-threaded)");
    }

    private uint[] CopyOf(uint[] units)
    {
        var copy = RentChunkArray();
        Array.Copy(units, copy, units.Length);
        return copy;
    }

    /// <summary>An array for a whole chunk (every unit is written by the caller): a spare one when a rollback left some.</summary>
    private uint[] RentChunkArray()
    {
        if (_spare.Count != 0)
        {
            lock (_lock)
                if (_spare.TryPop(out var spare)) return spare;
        }
        return new uint[(1 << ChunkShift) * UnitsPerPage];
    }

    private void Recycle(uint[] array)
    {
        if (_journal is not null && _spare.Count < SpareLimit) _spare.Push(array);
    }
}
