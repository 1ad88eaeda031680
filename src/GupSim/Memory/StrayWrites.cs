using System.Globalization;

namespace GupSim.Memory;

/// <summary>What a store through a wrong pointer reached (see <see cref="StrayWrites"/>).</summary>
public enum StrayTarget
{
    /// <summary>A struct page whose pfn is not free in the buddy (allocated, reserved, in a hugetlb pool, a hole).</summary>
    InUseStructPage,
    /// <summary>A struct page whose pfn is free in the buddy.</summary>
    FreeStructPage,
    /// <summary>A page-table page (PGD, P4D, PUD, PMD or PTE table): the entries the walkers read.</summary>
    PageTable,
    /// <summary>A slab page (or GupSim's named stand-in region for slab objects).</summary>
    Slab,
    /// <summary>
    /// Anything else that is mapped: the kernel image, memblock reservations, other kernel allocations, vmalloc'd
    /// data, free pages and user pages reached through the direct map.
    /// </summary>
    OtherKernelData,
    /// <summary>Nothing is mapped there: the access oopses.</summary>
    Unmapped,
}

/// <summary>Stray stores logged together (<see cref="KernelMemory.StrayLog"/>): <paramref name="Count"/> stores in [<paramref name="Start"/>, <paramref name="End"/>) that reached <paramref name="Target"/>.</summary>
public readonly record struct StrayRange(ulong Start, ulong End, ulong Count, StrayTarget Target);

/// <summary>
/// The accounting of stores made through a pointer that is not the one the kernel meant (update_and_free_page()'s
/// <c>page[i]</c> past a section's memmap, put_page()/unpin_user_page() on a wrong <c>pages[]</c> entry): how many
/// (<see cref="N"/>), what each reached, and how many bits they changed (popcount of old ^ new over the words written;
/// a store that writes back what was there changes 0). One store is one field write of the C source
/// (<c>page[i].flags &amp;= ~mask</c>, <c>atomic_dec(&amp;page->_refcount)</c>), whatever its width.
/// An access that oopses counts as one <see cref="Unmapped"/> store (the oops stops the store it was for).
/// </summary>
/// <param name="N">Stray stores.</param>
/// <param name="InUse">Stores that reached a struct page not free in the buddy.</param>
/// <param name="Free">Stores that reached the struct page of a free pfn.</param>
/// <param name="PageTables">Stores that reached a page-table page.</param>
/// <param name="Slab">Stores that reached a slab page.</param>
/// <param name="Other">Stores that reached other kernel data.</param>
/// <param name="Unmapped">Accesses that reached nothing and oopsed.</param>
/// <param name="BitsChanged">Bits the stores changed.</param>
public readonly record struct StrayWrites(ulong N, ulong InUse, ulong Free, ulong PageTables, ulong Slab, ulong Other, ulong Unmapped, ulong BitsChanged)
{
    /// <summary>One store that reached <paramref name="target"/> and changed <paramref name="bits"/> bits.</summary>
    public static StrayWrites One(StrayTarget target, ulong bits) => target switch
    {
        StrayTarget.InUseStructPage => new(1, 1, 0, 0, 0, 0, 0, bits),
        StrayTarget.FreeStructPage => new(1, 0, 1, 0, 0, 0, 0, bits),
        StrayTarget.PageTable => new(1, 0, 0, 1, 0, 0, 0, bits),
        StrayTarget.Slab => new(1, 0, 0, 0, 1, 0, 0, bits),
        StrayTarget.OtherKernelData => new(1, 0, 0, 0, 0, 1, 0, bits),
        _ => new(1, 0, 0, 0, 0, 0, 1, 0),
    };

    /// <summary>Field-wise sum.</summary>
    public static StrayWrites operator +(StrayWrites a, StrayWrites b) =>
        new(a.N + b.N, a.InUse + b.InUse, a.Free + b.Free, a.PageTables + b.PageTables, a.Slab + b.Slab, a.Other + b.Other, a.Unmapped + b.Unmapped, a.BitsChanged + b.BitsChanged);

    /// <summary>Field-wise difference (what happened between two snapshots).</summary>
    public static StrayWrites operator -(StrayWrites a, StrayWrites b) =>
        new(a.N - b.N, a.InUse - b.InUse, a.Free - b.Free, a.PageTables - b.PageTables, a.Slab - b.Slab, a.Other - b.Other, a.Unmapped - b.Unmapped, a.BitsChanged - b.BitsChanged);

    /// <summary>Field-wise sum (CA2225's named alternative to <c>+</c>).</summary>
    public static StrayWrites Add(StrayWrites a, StrayWrites b) => a + b;

    /// <summary>Field-wise difference (CA2225's named alternative to <c>-</c>).</summary>
    public static StrayWrites Subtract(StrayWrites a, StrayWrites b) => a - b;

    /// <summary>The scenario line: <c>stray writes: N (struct pages in use A, ...), bits changed M</c>.</summary>
    public string ToLine() => string.Create(CultureInfo.InvariantCulture,
        $"stray writes: {N} (struct pages in use {InUse}, free struct pages {Free}, page tables {PageTables}, slab {Slab}, other kernel data {Other}, unmapped {Unmapped}), bits changed {BitsChanged}");
}
