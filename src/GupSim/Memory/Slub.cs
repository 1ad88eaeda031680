using System.Numerics;
using GupSim.Arch;
using GupSim.Core;
using GupSim.Pages;

namespace GupSim.Memory;

/// <summary>SLAB_* cache flags (include/linux/slab.h) that change where a cache's slab pages come from.</summary>
[Flags]
public enum SlabFlags
{
    /// <summary>None.</summary>
    None = 0,
    /// <summary>SLAB_RECLAIM_ACCOUNT: slab pages are __GFP_RECLAIMABLE (MIGRATE_RECLAIMABLE); the kmalloc-rcl-* caches and inode caches.</summary>
    ReclaimAccount = 1,
    /// <summary>SLAB_TYPESAFE_BY_RCU or a constructor: SLUB keeps the free pointer after the object (calculate_sizes()), one word more per object.</summary>
    FreePointerOutside = 2,
}

/// <summary>
/// One slab (mm/slub.c: the struct page fields SLUB uses, page->freelist / inuse / objects): 2^order buddy pages cut
/// into <see cref="KmemCache.Objects"/> objects of <see cref="KmemCache.Size"/> bytes from page_address() upwards.
/// The free list is a stack: a fresh slab hands out its objects in address order (CONFIG_SLAB_FREELIST_RANDOM off),
/// a freed object is pushed on top and is the next one handed out (set_freepointer() on the head, LIFO).
/// </summary>
internal sealed class Slab
{
    private readonly int[] _free;

    public Slab(KmemCache cache, ulong pfn, int order, int nid, ulong address)
    {
        Cache = cache;
        Pfn = pfn;
        Order = order;
        Nid = nid;
        Address = address;
        int n = cache.ObjectsFor(order);
        _free = new int[n];
        for (int i = 0; i < n; i++) _free[i] = n - 1 - i;
        FreeCount = n;
        Objects = n;
    }

    public KmemCache Cache { get; }
    public ulong Pfn { get; }
    public int Order { get; }
    public int Nid { get; }
    /// <summary>page_address() of the slab's first page.</summary>
    public ulong Address { get; }
    /// <summary>page->objects.</summary>
    public int Objects { get; }
    public int FreeCount { get; private set; }
    /// <summary>page->inuse.</summary>
    public int InUse => Objects - FreeCount;
    /// <summary>On the node's partial list (else the cpu slab or full).</summary>
    public bool OnPartial { get; set; }

    public ulong Pop()
    {
        int idx = _free[--FreeCount];
        return Address + (ulong)idx * (ulong)Cache.Size;
    }

    public void Push(ulong address)
    {
        ulong off = address - Address;
        if (off % (ulong)Cache.Size != 0 || off / (ulong)Cache.Size >= (ulong)Objects)
            throw new InvalidOperationException($"kfree: 0x{address:x} is not an object of {Cache.Name} (slab at 0x{Address:x})");
        int idx = (int)(off / (ulong)Cache.Size);
        for (int i = 0; i < FreeCount; i++)
            if (_free[i] == idx) throw new InvalidOperationException($"kfree: double free of 0x{address:x} in {Cache.Name}");
        _free[FreeCount++] = idx;
    }
}

/// <summary>
/// struct kmem_cache (include/linux/slub_def.h): a cache of same-sized objects, with the slab order and objects per
/// slab that calculate_order() gives (s->oo), the fallback order of one object (s->min), s->min_partial and
/// s->allocflags. Per node GupSim keeps the slab being allocated from (the cpu slab of the one CPU that allocates on
/// that node) and the node partial list.
/// </summary>
public sealed class KmemCache
{
    private readonly Dictionary<int, (Slab? Cpu, List<Slab> Partial)> _nodes = [];

    internal KmemCache(string name, int objectSize, int size, int order, int minOrder, int minPartial, Gfp allocFlags, int pageSize)
    {
        Name = name;
        ObjectSize = objectSize;
        Size = size;
        Order = order;
        MinOrder = minOrder;
        MinPartial = minPartial;
        AllocFlags = allocFlags;
        PageSize = pageSize;
        Objects = ObjectsFor(order);
    }

    /// <summary>s->name.</summary>
    public string Name { get; }
    /// <summary>s->object_size: what the caller asked for.</summary>
    public int ObjectSize { get; }
    /// <summary>s->size: the stride between objects (object, free pointer when it lies outside, alignment).</summary>
    public int Size { get; }
    /// <summary>oo_order(s->oo): the order of a slab.</summary>
    public int Order { get; }
    /// <summary>oo_objects(s->oo): objects per slab.</summary>
    public int Objects { get; }
    /// <summary>oo_order(s->min): the order tried when the s->oo allocation fails (get_order(size)).</summary>
    public int MinOrder { get; }
    /// <summary>s->min_partial: empty slabs a node keeps on its partial list before discard_slab().</summary>
    public int MinPartial { get; }
    /// <summary>s->allocflags: __GFP_COMP for order ≥ 1, __GFP_RECLAIMABLE for SLAB_RECLAIM_ACCOUNT.</summary>
    public Gfp AllocFlags { get; }
    private int PageSize { get; }

    /// <summary>Slabs the cache holds now (slabdata num_slabs).</summary>
    public int Slabs { get; internal set; }
    /// <summary>Objects allocated now (active_objs).</summary>
    public int ObjectsInUse { get; internal set; }

    /// <summary>order_objects(): objects in a slab of <paramref name="order"/>.</summary>
    internal int ObjectsFor(int order) => (PageSize << order) / Size;

    internal (Slab? Cpu, List<Slab> Partial) Node(int nid) => _nodes.TryGetValue(nid, out var n) ? n : (null, []);
    internal void SetNode(int nid, Slab? cpu, List<Slab> partial) => _nodes[nid] = (cpu, partial);

    /// <summary>Nodes the cache has state on.</summary>
    internal IEnumerable<int> NodeIds => _nodes.Keys;
}

/// <summary>
/// The SLUB allocator (mm/slub.c, mm/slab_common.c): the kmalloc caches of kmalloc_index() (kmalloc-8 … kmalloc-8k
/// with 4 KiB pages; kmalloc-96 and kmalloc-192; kmalloc-rcl-* for __GFP_RECLAIMABLE, v4.20+), named caches
/// (kmem_cache_create()), and kmalloc_large_node() above KMALLOC_MAX_CACHE_SIZE. A cache takes pages from the buddy
/// only when its slab and partial slabs are full (___slab_alloc() → get_partial() → new_slab()). GupSim models no
/// CPUs: SLUB's order arithmetic uses <see cref="NrCpus"/> (4), and one CPU per node does the allocating.
/// docs/architecture.md, "Slab, kvmalloc and hot-plug".
/// </summary>
public sealed class Slub
{
    /// <summary>slub_max_order = PAGE_ALLOC_COSTLY_ORDER.</summary>
    public const int SlubMaxOrder = 3;
    /// <summary>MAX_OBJS_PER_PAGE.</summary>
    public const int MaxObjsPerPage = 32767;
    /// <summary>The CPU count SLUB's calculate_order() sees (fls(nr_cpu_ids)); GupSim's machine has none, the fact sheet's table uses 4.</summary>
    public const int NrCpus = 4;

    private readonly Machine _m;
    private readonly Lock _lock = new();
    private readonly Dictionary<ulong, Slab> _slabs = [];
    private readonly Dictionary<ulong, (int Order, KernelPageUse Use)> _large = [];
    private readonly Dictionary<string, KmemCache> _caches = [];
    private readonly KmemCache?[] _kmalloc;
    private readonly KmemCache?[] _kmallocRcl;
    private readonly int _pageSize;
    private readonly int _pageShift;

    /// <summary>Bumped by every operation that changes this subsystem's state (a machine checkpoint does not journal it).</summary>
    internal long ModStamp;

    internal Slub(Machine machine)
    {
        _m = machine;
        _pageSize = (int)machine.Arch.PageSize;
        _pageShift = machine.Arch.PageShift;
        KmallocMinSize = KmallocMinSizeFor(machine.Arch);
        KmallocShiftHigh = _pageShift + 1;
        _kmalloc = new KmemCache?[KmallocShiftHigh + 1];
        _kmallocRcl = new KmemCache?[KmallocShiftHigh + 1];
    }

    /// <summary>KMALLOC_MIN_SIZE: ARCH_DMA_MINALIGN where it exceeds 8 (arm64 128 before v6.5's 9382bc44b5f5; arm 64), else 8.</summary>
    public int KmallocMinSize { get; }
    /// <summary>KMALLOC_SHIFT_HIGH (SLUB): PAGE_SHIFT + 1.</summary>
    public int KmallocShiftHigh { get; }
    /// <summary>KMALLOC_MAX_CACHE_SIZE: 1 &lt;&lt; KMALLOC_SHIFT_HIGH (8 KiB with 4 KiB pages).</summary>
    public int KmallocMaxCacheSize => 1 << KmallocShiftHigh;

    private static int KmallocMinSizeFor(ArchProfile arch) => arch.KernelArch switch
    {
        "arm64" when arch.Version < KernelVersion.FromNumbers(6, 5) => 128,
        "arm" => 64,
        _ => 8,
    };

    /// <summary>Every cache made so far (kmalloc caches are made on first use), by name.</summary>
    public IReadOnlyCollection<KmemCache> Caches
    {
        get
        {
            lock (_lock) return [.. _caches.Values];
        }
    }

    /// <summary>Total slab pages held by all caches.</summary>
    public ulong SlabPages
    {
        get
        {
            lock (_lock)
            {
                ulong n = 0;
                foreach (var s in _slabs.Values) n += 1UL << s.Order;
                return n;
            }
        }
    }

    /// <summary>
    /// kmalloc_index() (include/linux/slab.h): the cache index for <paramref name="size"/> bytes; 1 is kmalloc-96,
    /// 2 kmalloc-192, n ≥ 3 kmalloc-2^n; −1 above KMALLOC_MAX_CACHE_SIZE.
    /// </summary>
    public int KmallocIndex(ulong size)
    {
        if (size == 0) return 0;
        if (size > (ulong)KmallocMaxCacheSize) return -1;
        if (size <= (ulong)KmallocMinSize) return BitOperations.Log2((uint)KmallocMinSize);
        if (KmallocMinSize <= 32 && size > 64 && size <= 96) return 1;
        if (KmallocMinSize <= 64 && size > 128 && size <= 192) return 2;
        int shift = BitOperations.Log2(BitOperations.RoundUpToPowerOf2((uint)size));
        return Math.Max(3, shift);
    }

    /// <summary>kmalloc_size() for an index.</summary>
    private static int KmallocSize(int index) => index switch { 1 => 96, 2 => 192, _ => 1 << index };

    /// <summary>
    /// calculate_order() (mm/slub.c, v5.11): min_objects = 4 × (fls(nr_cpus) + 1), capped at what an order-3 slab
    /// holds; the lowest order from get_order(min_objects × size) whose leftover is at most 1/16, then 1/8, 1/4 of the
    /// slab; then one object fewer; finally one object at any order.
    /// </summary>
    public static int CalculateOrder(int size, int pageSize, int nrCpus = NrCpus)
    {
        int minObjects = 4 * (Fls(nrCpus) + 1);
        int maxObjects = (pageSize << SlubMaxOrder) / size;
        minObjects = Math.Min(minObjects, maxObjects);
        while (minObjects > 1)
        {
            for (int fraction = 16; fraction >= 4; fraction /= 2)
            {
                int order = SlabOrder(size, minObjects, SlubMaxOrder, fraction, pageSize);
                if (order <= SlubMaxOrder) return order;
            }
            minObjects--;
        }
        int o = SlabOrder(size, 1, SlubMaxOrder, 1, pageSize);
        return o <= SlubMaxOrder ? o : SlabOrder(size, 1, 10, 1, pageSize);
    }

    /// <summary>slab_order() (mm/slub.c).</summary>
    private static int SlabOrder(int size, int minObjects, int maxOrder, int fractLeftover, int pageSize)
    {
        if (pageSize / size > MaxObjsPerPage) return GetOrder((ulong)size * MaxObjsPerPage, pageSize) - 1;
        int order = Math.Max(0, GetOrder((ulong)minObjects * (ulong)size, pageSize));
        for (; order <= maxOrder; order++)
        {
            int slabSize = pageSize << order;
            int rem = slabSize % size;
            if (rem <= slabSize / fractLeftover) break;
        }
        return order;
    }

    /// <summary>get_order(): the smallest order whose block holds <paramref name="bytes"/>.</summary>
    public static int GetOrder(ulong bytes, int pageSize)
    {
        ulong pages = (bytes + (ulong)pageSize - 1) / (ulong)pageSize;
        return pages <= 1 ? 0 : BitOperations.Log2(pages - 1) + 1;
    }

    private static int Fls(int x) => x == 0 ? 0 : BitOperations.Log2((uint)x) + 1;

    /// <summary>
    /// kmem_cache_create() (mm/slab_common.c) → kmem_cache_open() → calculate_sizes(): s->size is the object size
    /// rounded to a word (plus a word when the free pointer lies outside the object), s->oo from
    /// <see cref="CalculateOrder"/>, s->min from get_order(size), min_partial = clamp(ilog2(size)/2, 5, 10).
    /// Asking for an existing name returns that cache (GupSim's caches are never merged with others).
    /// </summary>
    public KmemCache KmemCacheCreate(string name, int objectSize, SlabFlags flags = SlabFlags.None)
    {
        ModStamp++;
        lock (_lock)
        {
            if (_caches.TryGetValue(name, out var existing)) return existing;
            int word = _m.Arch.WordBytes;
            int size = (objectSize + word - 1) & ~(word - 1);
            if ((flags & SlabFlags.FreePointerOutside) != 0) size += word;
            int order = CalculateOrder(size, _pageSize);
            int minOrder = GetOrder((ulong)size, _pageSize);
            int minPartial = Math.Clamp(BitOperations.Log2((uint)size) / 2, 5, 10);
            var allocFlags = Gfp.None;
            if (order > 0) allocFlags |= Gfp.Comp;
            if ((flags & SlabFlags.ReclaimAccount) != 0) allocFlags |= Gfp.Reclaimable;
            var cache = new KmemCache(name, objectSize, size, order, minOrder, minPartial, allocFlags, _pageSize);
            _caches[name] = cache;
            return cache;
        }
    }

    /// <summary>
    /// kmalloc_slab() (mm/slab_common.c): the kmalloc cache for <paramref name="size"/> and the gfp's kmalloc_type()
    /// (__GFP_RECLAIMABLE → kmalloc-rcl-*, made with SLAB_RECLAIM_ACCOUNT; __GFP_DMA caches are not modelled).
    /// </summary>
    public KmemCache KmallocSlab(ulong size, Gfp gfp)
    {
        int index = KmallocIndex(size);
        if (index < 0) throw new ArgumentOutOfRangeException(nameof(size), $"kmalloc_slab: {size} bytes is above KMALLOC_MAX_CACHE_SIZE");
        bool rcl = (gfp & Gfp.Reclaimable) != 0;
        var table = rcl ? _kmallocRcl : _kmalloc;
        lock (_lock)
        {
            if (table[index] is { } c) return c;
        }
        int bytes = KmallocSize(index);
        string name = (rcl ? "kmalloc-rcl-" : "kmalloc-") + (bytes >= 1024 ? $"{bytes >> 10}k" : bytes.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var cache = KmemCacheCreate(name, bytes, rcl ? SlabFlags.ReclaimAccount : SlabFlags.None);
        lock (_lock) table[index] = cache;
        return cache;
    }

    /// <summary>
    /// kmem_cache_alloc_node() → slab_alloc_node() → ___slab_alloc(): the next free object of the node's slab; when
    /// that is full, the head of the node partial list (get_partial_node()); when there is none, new_slab(). Returns
    /// the object's direct-map address, or 0 (ENOMEM) when the buddy has no pages for a new slab.
    /// </summary>
    public ulong KmemCacheAllocNode(KmemCache cache, Gfp gfp, int nid)
    {
        ModStamp++;
        lock (_lock)
        {
            var (cpu, partial) = cache.Node(nid);
            if (cpu is null || cpu.FreeCount == 0)
            {
                if (partial.Count > 0)
                {
                    cpu = partial[0];
                    partial.RemoveAt(0);
                    cpu.OnPartial = false;
                }
                else
                {
                    cpu = NewSlab(cache, gfp, nid);
                    if (cpu is null) return 0;
                }
                cache.SetNode(nid, cpu, partial);
            }
            cache.ObjectsInUse++;
            return cpu.Pop();
        }
    }

    /// <summary>kmem_cache_alloc(): <see cref="KmemCacheAllocNode"/> on the allocating CPU's node (GupSim: the first node).</summary>
    public ulong KmemCacheAlloc(KmemCache cache, Gfp gfp) => KmemCacheAllocNode(cache, gfp, _m.Nodes[0].Nid);

    /// <summary>
    /// new_slab() → allocate_slab() (mm/slub.c, v5.11): alloc_slab_page() of s->oo with __GFP_NOWARN|__GFP_NORETRY
    /// added (and, when it may reclaim and oo is above min, __GFP_NOMEMALLOC without __GFP_RECLAIM), then s->min with
    /// the caller's flags; the gfp carries s->allocflags. The pages are marked PG_slab and recorded as slab pages.
    /// </summary>
    private Slab? NewSlab(KmemCache cache, Gfp gfp, int nid)
    {
        Gfp flags = (gfp & ~(Gfp.Zero)) | cache.AllocFlags;
        Gfp allocGfp = (flags | Gfp.Nowarn | Gfp.Noretry) & ~Gfp.Nofail;
        if ((allocGfp & Gfp.DirectReclaim) != 0 && cache.Order > cache.MinOrder)
            allocGfp = (allocGfp | Gfp.Nomemalloc) & ~(Gfp.Reclaim | Gfp.Nofail);
        int order = cache.Order;
        if (!_m.TryAllocPages(order, nid, $"slab page ({cache.Name})", out Pfn pfn, allocGfp))
        {
            order = cache.MinOrder;
            Gfp minFlags = order > 0 ? flags : flags & ~Gfp.Comp;
            if (!_m.TryAllocPages(order, nid, $"slab page ({cache.Name})", out pfn, minFlags)) return null;
        }
        ulong p = pfn.Value;
        var slab = new Slab(cache, p, order, _m.NodeOfPfn(p).Nid, _m.Memory.PhysToVirt(p << _pageShift));
        _slabs[p] = slab;
        cache.Slabs++;
        _m.MarkKernelPages(p, 1UL << order, KernelPageUse.Slab);
        _m.StructPages.SetFlag(_m.PfnToPage(pfn), PageFlagBits.Slab); // __SetPageSlab()
        return slab;
    }

    /// <summary>
    /// kmem_cache_free() → __slab_free(): the object goes back on top of its slab's free list. A full slab becomes
    /// partial (put_cpu_partial(): GupSim puts it at the head of the node partial list); a slab that becomes empty and
    /// is not the node's current slab is discarded (discard_slab() → __free_slab(), pages back to the buddy) when
    /// the node already holds min_partial partial slabs, else it stays on the partial list.
    /// </summary>
    public void KmemCacheFree(KmemCache cache, ulong address)
    {
        ModStamp++;
        lock (_lock)
        {
            var slab = SlabOf(address) ?? throw new InvalidOperationException($"kmem_cache_free: 0x{address:x} is not a slab object");
            if (slab.Cache != cache) throw new InvalidOperationException($"kmem_cache_free: 0x{address:x} belongs to {slab.Cache.Name}, not {cache.Name}");
            FreeObject(slab, address);
        }
    }

    private void FreeObject(Slab slab, ulong address)
    {
        var cache = slab.Cache;
        bool wasFull = slab.FreeCount == 0;
        slab.Push(address);
        cache.ObjectsInUse--;
        var (cpu, partial) = cache.Node(slab.Nid);
        if (cpu == slab) return;
        if (slab.InUse == 0)
        {
            if (partial.Count >= cache.MinPartial)
            {
                if (slab.OnPartial) partial.Remove(slab);
                slab.OnPartial = false;
                cache.SetNode(slab.Nid, cpu, partial);
                DiscardSlab(slab);
                return;
            }
        }
        if (wasFull && !slab.OnPartial)
        {
            partial.Insert(0, slab);
            slab.OnPartial = true;
            cache.SetNode(slab.Nid, cpu, partial);
        }
    }

    /// <summary>discard_slab() → __free_slab(): __ClearPageSlab(), the pages back to the buddy (__free_pages()).</summary>
    private void DiscardSlab(Slab slab)
    {
        _slabs.Remove(slab.Pfn);
        slab.Cache.Slabs--;
        var pfn = Pfn.FromUInt64(slab.Pfn);
        _m.StructPages.ClearFlag(_m.PfnToPage(pfn), PageFlagBits.Slab);
        _m.MarkKernelPages(slab.Pfn, 1UL << slab.Order, KernelPageUse.None);
        _m.FreeKernelPages(slab.Pfn, slab.Order);
    }

    /// <summary>virt_to_head_page() of a slab object: the slab holding <paramref name="address"/>, or null.</summary>
    private Slab? SlabOf(ulong address)
    {
        ulong pfn = _m.Memory.VirtToPhys(address) >> _pageShift;
        for (int o = 0; o <= SlubMaxOrder + 1; o++)
        {
            ulong head = pfn & ~((1UL << o) - 1);
            if (_slabs.TryGetValue(head, out var s) && pfn < head + (1UL << s.Order)) return s;
        }
        return null;
    }

    /// <summary>Whether <paramref name="address"/> lies in a slab page (PageSlab() of virt_to_head_page()).</summary>
    public bool IsSlabAddress(ulong address)
    {
        lock (_lock) return SlabOf(address) is not null;
    }

    /// <summary>kmalloc() on the node of the allocating CPU (GupSim: the first node).</summary>
    public ulong Kmalloc(ulong size, Gfp gfp) => KmallocNode(size, gfp, _m.Nodes[0].Nid);

    /// <summary>kzalloc(): kmalloc() with __GFP_ZERO (GupSim does not model the bytes of slab objects).</summary>
    public ulong Kzalloc(ulong size, Gfp gfp) => Kmalloc(size, gfp | Gfp.Zero);

    /// <summary>kzalloc_node().</summary>
    public ulong KzallocNode(ulong size, Gfp gfp, int nid) => KmallocNode(size, gfp | Gfp.Zero, nid);

    /// <summary>
    /// __kmalloc_node() (mm/slub.c, v5.11): above KMALLOC_MAX_CACHE_SIZE kmalloc_large_node(), else an object of
    /// kmalloc_slab()'s cache. 0 on failure.
    /// </summary>
    public ulong KmallocNode(ulong size, Gfp gfp, int nid, KernelPageUse largeUse = KernelPageUse.OtherKernelData)
    {
        if (size > (ulong)KmallocMaxCacheSize) return KmallocLargeNode(size, gfp, nid, largeUse);
        return KmemCacheAllocNode(KmallocSlab(size, gfp), gfp, nid);
    }

    /// <summary>
    /// kmalloc_large_node() (mm/slub.c to v6.0; mm/slab_common.c from v6.1): alloc_pages_node(nid, gfp | __GFP_COMP,
    /// get_order(size)) and page_address() of it. The pages are recorded with <paramref name="use"/>. 0 on failure.
    /// </summary>
    public ulong KmallocLargeNode(ulong size, Gfp gfp, int nid, KernelPageUse use = KernelPageUse.OtherKernelData)
    {
        ModStamp++;
        int order = GetOrder(size, _pageSize);
        if (!_m.TryAllocPages(order, nid, $"kmalloc_large ({ByteSize.Format(size)})", out Pfn pfn, gfp | Gfp.Comp)) return 0;
        lock (_lock) _large[pfn.Value] = (order, use);
        _m.MarkKernelPages(pfn.Value, 1UL << order, use);
        return _m.Memory.PhysToVirt(pfn.Value << _pageShift);
    }

    /// <summary>
    /// kfree() (mm/slub.c): a slab object goes back to its cache; a kmalloc_large block (a compound page that is not
    /// PageSlab) goes back to the buddy.
    /// </summary>
    public void Kfree(ulong address)
    {
        ModStamp++;
        if (address == 0) return;
        lock (_lock)
        {
            if (SlabOf(address) is { } slab)
            {
                FreeObject(slab, address);
                return;
            }
            ulong pfn = _m.Memory.VirtToPhys(address) >> _pageShift;
            if (!_large.Remove(pfn, out var large)) throw new InvalidOperationException($"kfree: 0x{address:x} was not allocated by kmalloc");
            _m.MarkKernelPages(pfn, 1UL << large.Order, KernelPageUse.None);
            _m.FreeKernelPages(pfn, large.Order);
        }
    }

    /// <summary>Whether <paramref name="address"/> is a live kmalloc_large block.</summary>
    public bool IsKmallocLarge(ulong address)
    {
        lock (_lock) return _large.ContainsKey(_m.Memory.VirtToPhys(address) >> _pageShift);
    }
}
