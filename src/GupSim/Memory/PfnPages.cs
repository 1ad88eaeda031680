namespace GupSim.Memory;

/// <summary>
/// GupSim's sparse per-pfn storage, not a kernel structure: arrays of 2^<see cref="Shift"/> elements, one per block of
/// pfns that has been written, found by the block's number through a dictionary with the last block used remembered
/// (walks stay in one block for long). Memory grows with the blocks touched, not with the machine. Not thread-safe:
/// the owner locks.
/// </summary>
/// <typeparam name="T">The element per pfn.</typeparam>
internal sealed class PfnPages<T>
{
    /// <summary>log2 of the pfns one array covers.</summary>
    public const int Shift = 12;

    /// <summary>The index of <paramref name="pfn"/> in its block's array.</summary>
    public static int IndexOf(ulong pfn) => (int)(pfn & ((1UL << Shift) - 1));

    private readonly Dictionary<ulong, T[]> _blocks = [];
    private ulong _lastKey = ulong.MaxValue;
    private T[]? _last;

    /// <summary>The array of the block holding <paramref name="pfn"/>; made (all default) when <paramref name="create"/>, else null when there is none.</summary>
    public T[]? Block(ulong pfn, bool create)
    {
        ulong key = pfn >> Shift;
        if (key == _lastKey) return _last;
        if (!_blocks.TryGetValue(key, out var block))
        {
            if (!create) return null;
            _blocks.Add(key, block = new T[1 << Shift]);
        }
        _lastKey = key;
        _last = block;
        return block;
    }
}
