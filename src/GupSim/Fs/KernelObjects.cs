using GupSim.Core;

namespace GupSim.Fs;

/// <summary>
/// GupSim's stand-in for the slab caches that hold struct address_space (inside struct inode) and struct anon_vma:
/// fixed-size slots in one area reserved at the top of the vmalloc range on first use. The addresses are what
/// page->mapping points at; nothing in them is read. They take no buddy pages, so free page counts only move with
/// page cache, anonymous and page-table pages. Freed slots are reused lowest first.
/// </summary>
public sealed class KernelObjects
{
    /// <summary>Bytes per slot (struct anon_vma and struct address_space both fit; kernel sizes differ).</summary>
    public const int SlotBytes = 256;
    private const int Slots = 16384;

    private readonly Machine _m;
    private readonly SortedSet<int> _free = [];
    private int _next;
    private ulong _base;

    internal KernelObjects(Machine machine) => _m = machine;

    /// <summary>Objects allocated now.</summary>
    public int InUse { get; private set; }

    /// <summary>kmem_cache_alloc(): a fresh object address (aligned to <see cref="SlotBytes"/>, so bits 0–1 are free for PAGE_MAPPING_FLAGS).</summary>
    /// <exception cref="GupSimException">Thrown when every slot is in use.</exception>
    public ulong Alloc()
    {
        lock (_free)
        {
            if (_base == 0) _base = _m.Memory.ReserveTop((ulong)SlotBytes * Slots, "GupSim kernel objects (address_space, anon_vma)");
            int slot;
            if (_free.Count > 0)
            {
                slot = _free.Min;
                _free.Remove(slot);
            }
            else if (_next < Slots) slot = _next++;
            else throw new GupSimException($"kernel objects: all {Slots} slots in use (too many files or anonymous VMAs)");
            InUse++;
            return _base + (ulong)slot * SlotBytes;
        }
    }

    /// <summary>kmem_cache_free().</summary>
    public void Free(ulong address)
    {
        lock (_free)
        {
            int slot = (int)((address - _base) / SlotBytes);
            if (_base == 0 || address < _base || slot >= _next || !_free.Add(slot)) throw new InvalidOperationException($"kernel objects: double or stray free of 0x{address:x}");
            InUse--;
        }
    }
}
