using System.Runtime.CompilerServices;

namespace GupSim.Memory;

/// <summary>
/// Checkpoints of struct page contents (GupSim's machinery for <see cref="Machine.Checkpoint"/>, not a kernel
/// mechanism): copy-on-first-write while a checkpoint is open, in blocks of 64 struct pages (4 KiB of a 64-byte
/// struct page), so a rollback costs what the configuration touched, not the size of the machine.
/// </summary>
public sealed partial class StructPageStore
{
    /// <summary>
    /// What the journal holds for one chunk: an affine record itself (immutable, so it is its own copy), or, for an
    /// array chunk, the blocks written so far copied into <see cref="Copy"/> (bit b of <see cref="Blocks"/> set).
    /// </summary>
    private sealed class ChunkSave(ulong chunk, ChunkRef? affine, uint[]? copy)
    {
        public readonly ulong Chunk = chunk;
        public readonly ChunkRef? Affine = affine;
        public readonly uint[]? Copy = copy;
        public ulong Blocks = affine is null ? 0 : ulong.MaxValue;
    }

    /// <summary>The open checkpoint: the chunks written since it was taken (or since the last rollback).</summary>
    private sealed class CheckpointJournal(int thread)
    {
        public int Thread = thread;
        public int Generation;
        public readonly Dictionary<ulong, ChunkSave> Saved = [];
    }

    // Source of checkpoint generations: never reused, so a stale SavedGeneration of an earlier checkpoint or rollback
    // never matches.
    private int _generations;

    // Chunk arrays a rollback set free, for the next copy or expansion (bounded: see SpareLimit).
    private readonly Stack<uint[]> _spare = new();
    private const int SpareLimit = 256;

    /// <summary>log2 of struct pages per journal block: 64 per block, at most 64 blocks per chunk.</summary>
    private int BlockShift => Math.Max(ChunkShift - 6, 0);

    /// <summary>Whether a checkpoint is open.</summary>
    internal bool CheckpointOpen => _journal is not null;

    /// <summary>Chunks journaled since the checkpoint or the last rollback (what a rollback will restore).</summary>
    internal int JournaledChunks
    {
        get
        {
            lock (_lock) return _journal?.Saved.Count ?? 0;
        }
    }

    /// <summary>
    /// Opens a checkpoint: from now on the first write to each block of struct pages saves it first. Single-threaded:
    /// the machine may be written only from the calling thread until <see cref="EndCheckpoint"/> (the first write to
    /// each chunk checks it).
    /// </summary>
    /// <exception cref="InvalidOperationException">Thrown when a checkpoint is already open.</exception>
    internal void BeginCheckpoint()
    {
        lock (_lock)
        {
            if (_journal is not null) throw new InvalidOperationException("a struct page checkpoint is already open on this machine");
            _journal = new CheckpointJournal(Environment.CurrentManagedThreadId) { Generation = ++_generations };
        }
    }

    /// <summary>Hands the open checkpoint to thread <paramref name="thread"/> (<see cref="Machine.AdoptCheckpoint"/>).</summary>
    internal void AdoptCheckpoint(int thread)
    {
        lock (_lock)
        {
            var j = _journal ?? throw new InvalidOperationException("no struct page checkpoint is open");
            j.Thread = thread;
        }
    }

    /// <summary>
    /// Puts every block written since the checkpoint (or the last rollback) back as it was — an affine chunk back in
    /// affine form — and keeps the checkpoint open for the next run.
    /// </summary>
    internal void RollbackCheckpoint()
    {
        var j = _journal ?? throw new InvalidOperationException("no struct page checkpoint is open");
        AssertCheckpointThread(j);
        lock (_lock)
        {
            foreach (var save in j.Saved.Values)
            {
                if (!_chunks.TryGetValue(save.Chunk, out var current)) continue; // dropped by hot-remove (the machine refuses the rollback)
                if (save.Affine is { } affine)
                {
                    if (ReferenceEquals(current, affine)) continue;
                    // A write expanded it: back to its affine record; the expansion's array is dead (as Compact does).
                    if (current.Units is { } expanded && Interlocked.CompareExchange(ref current.Writers, int.MinValue, 0) == 0) Recycle(expanded);
                    Publish(affine);
                    continue;
                }
                var copy = save.Copy!;
                uint[] live;
                if (current.Units is { } units && Volatile.Read(ref current.Writers) >= 0) live = units;
                else
                {
                    // Compacted since the write: the chunk is an array again, its saved blocks put back below.
                    live = RentChunkArray();
                    int upp = UnitsPerPage;
                    for (int i = 0; i < 1 << ChunkShift; i++)
                        for (int k = 0; k < upp; k++)
                            live[i * upp + k] = unchecked(current.Base![k] + (uint)i * current.Step![k]);
                    Publish(new ChunkRef(save.Chunk, live, null, null));
                }
                int blockUnits = (1 << BlockShift) * UnitsPerPage;
                for (ulong bits = save.Blocks; bits != 0; bits &= bits - 1)
                {
                    int b = System.Numerics.BitOperations.TrailingZeroCount(bits);
                    Array.Copy(copy, b * blockUnits, live, b * blockUnits, blockUnits);
                }
                Recycle(copy);
            }
            j.Saved.Clear();
            j.Generation = ++_generations;
        }
    }

    /// <summary>Closes the checkpoint: writes cost what they cost without one again; contents stay as they are now.</summary>
    internal void EndCheckpoint()
    {
        lock (_lock)
        {
            _journal = null;
            _spare.Clear();
        }
    }

    /// <summary>A write to the chunk at unit <paramref name="baseUnit"/> while a checkpoint is open: save its block first.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void JournalWrite(ChunkRef chunk, int baseUnit)
    {
        var j = _journal;
        if (j is null) return;
        var save = chunk.SavedGeneration == j.Generation ? chunk.Save! : SaveOf(j, chunk);
        int block = baseUnit / UnitsPerPage >> BlockShift;
        if ((save.Blocks & (1UL << block)) != 0) return;
        // A chunk that was an array at its first write (an affine one is saved whole by its record): copy the block
        // as it is now — from the affine form if it was compacted since, its contents unchanged by that.
        int upp = UnitsPerPage, pages = 1 << BlockShift, first = block * pages;
        var copy = save.Copy!;
        if (chunk.Units is { } units) Array.Copy(units, first * upp, copy, first * upp, pages * upp);
        else
            for (int i = first; i < first + pages; i++)
                for (int k = 0; k < upp; k++)
                    copy[i * upp + k] = unchecked(chunk.Base![k] + (uint)i * chunk.Step![k]);
        save.Blocks |= 1UL << block;
    }

    /// <summary>The journal entry of a chunk, made at its first write in this generation.</summary>
    private ChunkSave SaveOf(CheckpointJournal j, ChunkRef chunk)
    {
        AssertCheckpointThread(j);
        lock (_lock)
        {
            if (!j.Saved.TryGetValue(chunk.Chunk, out var save))
            {
                save = chunk.Units is null ? new ChunkSave(chunk.Chunk, chunk, null) : new ChunkSave(chunk.Chunk, null, RentChunkArray());
                j.Saved[chunk.Chunk] = save;
            }
            chunk.Save = save;
            chunk.SavedGeneration = j.Generation;
            return save;
        }
    }

    private static void AssertCheckpointThread(CheckpointJournal j)
    {
        if (Environment.CurrentManagedThreadId != j.Thread)
            throw new InvalidOperationException("a machine with an open checkpoint was written from another thread than the one that took it (checkpoints are single-threaded)");
    }

    /// <summary>An array for a whole chunk (the caller writes what it reads): a spare one when a rollback left some.</summary>
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
