using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using GupSim.Arch;
using GupSim.Core;

namespace GupSim.Mm;

/// <summary>
/// A process page table (<c>mm->pgd</c> and everything below it) with the arch's levels, as the kernel's helpers
/// see it. Entries use the uniform encoding of <see cref="PageTableEntry"/>; table pages are real buddy pages
/// (<see cref="Machine.TryAllocPages(int, int, string, out Pfn, Arch.ZoneType, bool)"/>, owner "page table (PGD|P4D|PUD|PMD|PTE)", _refcount 1) whose entries are
/// kept in a <c>ulong[]</c> keyed by the page's pfn; the array is that page's memory: it is registered with
/// <see cref="Memory.KernelMemory.RegisterPageTable"/> while the table holds the page, so a store to the page's
/// direct-map address (a stray write through a wrong struct page pointer) changes the entry the walkers read next.
/// Shapes come from <see cref="PageTableGeometry"/>.
/// </summary>
/// <remarks>
/// <para><b>Folding</b> (include/asm-generic/pgtable-nop4d.h, -nopud.h, -nopmd.h): a level whose shift equals the one
/// above is folded; its <c>*_offset()</c> returns the upper slot retyped, and the none/present checks of the level
/// <i>above</i> it are the constants none = 0, present = 1 (the real check is made at the lowest level sharing the
/// entry). So on x86-64 4-level <c>pgd_none()</c> is always false and <c>p4d_none()</c> tests the PGD entry; on
/// i386 2-level only <c>pmd_none()</c> tests it and a 4M leaf lives in the PGD entry.</para>
/// <para><b>Concurrency</b>: reads are <c>Volatile.Read</c> (READ_ONCE), leaf writes
/// <c>Volatile.Write</c> (set_pte), clears <c>Interlocked.Exchange</c>
/// (ptep_get_and_clear), table installs <c>Interlocked.CompareExchange</c>. Writers
/// serialise on one lock (mm->page_table_lock); lockless walkers need none. The pfn → table map is a
/// <see cref="ConcurrentDictionary{TKey, TValue}"/> so a walker may look tables up while a writer adds one.
/// gup-fast reads every entry once and descends from the value read (<see cref="PudOffsetLockless"/> and the other
/// pXd_offset_lockless helpers) inside an irq-off section (<see cref="LocalIrqSave"/>); a table freed under it
/// goes through tlb_remove_table() and is reclaimed only after the last walker that could see it has left.</para>
/// <para><b>Not modelled</b>: PageTable page type / split ptlocks in struct page, pgtable deposit for THP, PMD
/// sharing, TLB flushing.</para>
/// </remarks>
public sealed class PageTable
{
    private sealed record TablePage(PgLevel Level, int Order, ulong[] Entries);

    private readonly Machine _machine;
    private readonly int _nid;
    private readonly Lock _lock = new();
    private readonly ConcurrentDictionary<ulong, TablePage> _tables = new();
    private readonly int[] _count = new int[5];
    private readonly bool _x86, _arm64;
    private bool _freed;

    private PageTable(Machine machine, int nid, Pfn pgdPfn, ulong[] pgd)
    {
        _machine = machine;
        _nid = nid;
        Geometry = new PageTableGeometry(machine.Arch);
        PgdPfn = pgdPfn;
        _pgd = pgd;
        _x86 = machine.Arch.KernelArch == "x86";
        _arm64 = machine.Arch.KernelArch == "arm64";
    }

    private readonly ulong[] _pgd;

    /// <summary>
    /// mm_alloc() → pgd_alloc(): a new, empty page table whose PGD comes from the buddy of node <paramref name="nid"/>.
    /// Returns false (ENOMEM) when the buddy has no page.
    /// </summary>
    public static bool TryCreate(Machine machine, int nid, [NotNullWhen(true)] out PageTable? table)
    {
        var geo = new PageTableGeometry(machine.Arch);
        table = null;
        if (!machine.TryAllocPages(geo.TableOrder(PgLevel.Pgd), nid, "page table (PGD)", out Pfn pfn, Memory.Gfp.PgtableUser)) return false;
        machine.MarkKernelPages(pfn.Value, 1UL << geo.TableOrder(PgLevel.Pgd), Memory.KernelPageUse.PageTable);
        var entries = new ulong[geo.EntriesPerTable(PgLevel.Pgd)];
        table = new PageTable(machine, nid, pfn, entries);
        var pgd = new TablePage(PgLevel.Pgd, geo.TableOrder(PgLevel.Pgd), entries);
        table._tables[pfn.Value] = pgd;
        table.TakeTablePage(pfn, pgd);
        table._count[0] = 1;
        return true;
    }

    /// <summary>The machine whose buddy backs the tables.</summary>
    public Machine Machine => _machine;

    /// <summary>The arch's table shapes.</summary>
    public PageTableGeometry Geometry { get; }

    /// <summary>The frame of the PGD (<c>mm->pgd</c>).</summary>
    public Pfn PgdPfn { get; }

    private int PageShift => Geometry.Arch.PageShift;

    // ---------------------------------------------------------------- accounting

    /// <summary>Table pages of <paramref name="level"/> allocated now (the PGD counts as one Pgd table; folded levels 0).</summary>
    public int TablesAllocated(PgLevel level) { lock (_lock) return _count[(int)level]; }

    /// <summary>Table pages of every level allocated now, the PGD included.</summary>
    public int TotalTables { get { lock (_lock) return _count.Sum(); } }

    /// <summary>
    /// Bytes of buddy memory held by tables now, like /proc/meminfo <c>PageTables:</c> (which in v6.1 counts only what
    /// the pgtable ctors account — at least PTE and split-lock PMD pages; this counts every level, the PGD included).
    /// </summary>
    public ulong PageTablesBytes
    {
        get
        {
            lock (_lock)
            {
                ulong sum = 0;
                foreach (PgLevel l in Geometry.RealLevels)
                    sum += (ulong)_count[(int)l] * (Geometry.Arch.PageSize << Geometry.TableOrder(l));
                return sum;
            }
        }
    }

    /// <summary>The level of the table in frame <paramref name="pfn"/>, or null when it is not one of this mm's tables.</summary>
    public PgLevel? TableLevel(Pfn pfn) => _tables.TryGetValue(pfn.Value, out var t) ? t.Level : null;

    // ---------------------------------------------------------------- entry access

    /// <summary>READ_ONCE(*p) / ptep_get() / pmdp_get(): the whole entry.</summary>
    public PageTableEntry Read(EntryRef p) => new(Volatile.Read(ref p.Entries[p.Index]), PageShift);

    /// <summary>set_pte() / set_pmd() / WRITE_ONCE(*p, v): stores a whole value (callers write leaves, not tables).</summary>
    public void Write(EntryRef p, PageTableEntry value)
    {
        _machine.MmStamp++;
        lock (_lock) Volatile.Write(ref p.Entries[p.Index], value.Value);
    }

    /// <summary>cmpxchg(p, expected, value): stores when the slot still holds <paramref name="expected"/>; returns the old value.</summary>
    public PageTableEntry CompareExchange(EntryRef p, PageTableEntry expected, PageTableEntry value)
    {
        _machine.MmStamp++;
        return new(Interlocked.CompareExchange(ref p.Entries[p.Index], value.Value, expected.Value), PageShift);
    }

    /// <summary>ptep_get_and_clear() / pmdp_huge_get_and_clear(): atomically reads and clears the slot.</summary>
    public PageTableEntry GetAndClear(EntryRef p)
    {
        _machine.MmStamp++;
        return new(Interlocked.Exchange(ref p.Entries[p.Index], 0), PageShift);
    }

    // ---------------------------------------------------------------- offsets

    /// <summary>pgd_offset(mm, addr) (include/linux/pgtable.h): the PGD slot for <paramref name="addr"/>.</summary>
    public EntryRef PgdOffset(ulong addr) => SlotIn(PgLevel.Pgd, PgdPfn, _pgd, addr);

    /// <summary>p4d_offset(pgd, addr): the P4D slot; with P4D folded, <paramref name="pgd"/> itself (pgtable-nop4d.h).</summary>
    public EntryRef P4dOffset(EntryRef pgd, ulong addr) => Descend(pgd, PgLevel.P4d, addr);

    /// <summary>pud_offset(p4d, addr): the PUD slot; with PUD folded, <paramref name="p4d"/> itself (pgtable-nopud.h).</summary>
    public EntryRef PudOffset(EntryRef p4d, ulong addr) => Descend(p4d, PgLevel.Pud, addr);

    /// <summary>pmd_offset(pud, addr): the PMD slot; with PMD folded, <paramref name="pud"/> itself (pgtable-nopmd.h).</summary>
    public EntryRef PmdOffset(EntryRef pud, ulong addr) => Descend(pud, PgLevel.Pmd, addr);

    /// <summary>pte_offset_map(pmd, addr) / pte_offset_kernel(): the PTE slot in the table <paramref name="pmd"/> points at.</summary>
    public EntryRef PteOffsetMap(EntryRef pmd, ulong addr) => Descend(pmd, PgLevel.Pte, addr);

    private EntryRef SlotIn(PgLevel level, Pfn tablePfn, ulong[] entries, ulong addr)
    {
        int idx = Geometry.Index(level, addr);
        return new EntryRef(level, tablePfn, idx, entries, (tablePfn.Value << PageShift) + (ulong)(idx * Geometry.EntryBytes));
    }

    // ---------------------------------------------------------------- lockless offsets (gup-fast)

    /// <summary>
    /// p4d_offset_lockless(pgdp, pgd, addr) (include/linux/pgtable.h, d3f7b1bb2040 "mm/gup: fix gup_fast with dynamic
    /// page table folding", v5.9): the P4D slot in the table the VALUE <paramref name="pgdv"/> points at, without
    /// reading <paramref name="pgd"/> again. With P4D folded the kernel's default is <c>p4d_offset(&amp;pgd, addr)</c>,
    /// a pointer to the walker's local copy: the slot returned is <paramref name="pgd"/> retyped and the caller must
    /// keep using <paramref name="pgdv"/> as the P4D value (see <see cref="GupSim.Gup.GetUserPages"/>).
    /// </summary>
    /// <returns>False when the table the value names is gone (freed and reclaimed): the walker reads it as none.</returns>
    public bool P4dOffsetLockless(EntryRef pgd, PageTableEntry pgdv, ulong addr, out EntryRef p4d) =>
        DescendLockless(pgd, pgdv, PgLevel.P4d, addr, out p4d);

    /// <summary>pud_offset_lockless(p4dp, p4d, addr) (include/linux/pgtable.h): as <see cref="P4dOffsetLockless"/>, one level down.</summary>
    public bool PudOffsetLockless(EntryRef p4d, PageTableEntry p4dv, ulong addr, out EntryRef pud) =>
        DescendLockless(p4d, p4dv, PgLevel.Pud, addr, out pud);

    /// <summary>pmd_offset_lockless(pudp, pud, addr) (include/linux/pgtable.h): as <see cref="P4dOffsetLockless"/>, one level down.</summary>
    public bool PmdOffsetLockless(EntryRef pud, PageTableEntry pudv, ulong addr, out EntryRef pmd) =>
        DescendLockless(pud, pudv, PgLevel.Pmd, addr, out pmd);

    /// <summary>
    /// <c>pte_offset_map(&amp;pmd, addr)</c> as gup_pte_range() (mm/gup.c) calls it: on the walker's local copy
    /// <paramref name="pmdv"/> of the PMD, so the PTE table is the one the value names, not whatever the slot holds now.
    /// </summary>
    public bool PteOffsetMapLockless(EntryRef pmd, PageTableEntry pmdv, ulong addr, out EntryRef pte) =>
        DescendLockless(pmd, pmdv, PgLevel.Pte, addr, out pte);

    /// <summary>
    /// Test seam: called by every lockless offset after the walker read and checked the upper entry and before it
    /// looks up the table the value names (the window in which munmap may free that table).
    /// </summary>
    internal Action<PgLevel, ulong>? LocklessDescendHook { get; set; }

    private bool DescendLockless(EntryRef upper, PageTableEntry value, PgLevel level, ulong addr, out EntryRef slot)
    {
        if (Geometry.IsFolded(level))
        {
            slot = upper.As(level);
            return true;
        }
        LocklessDescendHook?.Invoke(level, addr);
        // The table named by the value: live, or removed from the tree but not yet reclaimed (tlb_remove_table()),
        // which a walker inside its irq-off section may still read. Anything else reads as none.
        if (value.IsTable && (_tables.TryGetValue(value.Pfn.Value, out var t) || _removedTables.TryGetValue(value.Pfn.Value, out t)) && t.Level == level)
        {
            slot = SlotIn(level, value.Pfn, t.Entries, addr);
            return true;
        }
        slot = default;
        return false;
    }

    private EntryRef Descend(EntryRef upper, PgLevel level, ulong addr)
    {
        if ((int)upper.Level != (int)level - 1)
            throw new ArgumentException($"{level}_offset needs a {(PgLevel)((int)level - 1)} pointer, got {upper.Level}", nameof(upper));
        if (Geometry.IsFolded(level)) return upper.As(level);
        var e = Read(upper);
        if (!e.IsTable || !_tables.TryGetValue(e.Pfn.Value, out var t) || t.Level != level)
            throw new InvalidOperationException(
                $"{level.ToString().ToLowerInvariant()}_offset: {upper} holds {e}, not a {level} table (the kernel would dereference it as one)");
        return SlotIn(level, e.Pfn, t.Entries, addr);
    }

    // ---------------------------------------------------------------- checks (arch semantics)

    /// <summary>pgd_none(): constant false when P4D is folded (pgtable-nop4d.h), else value 0.</summary>
    public bool PgdNone(PageTableEntry pgd) => !Geometry.ChecksAreTrivial(PgLevel.Pgd) && pgd.IsNone;
    /// <summary>p4d_none(): constant false when PUD is folded (pgtable-nopud.h), else value 0.</summary>
    public bool P4dNone(PageTableEntry p4d) => !Geometry.ChecksAreTrivial(PgLevel.P4d) && p4d.IsNone;
    /// <summary>pud_none(): constant false when PMD is folded (pgtable-nopmd.h), else value 0.</summary>
    public bool PudNone(PageTableEntry pud) => !Geometry.ChecksAreTrivial(PgLevel.Pud) && pud.IsNone;
    /// <summary>pmd_none(): value 0.</summary>
    public bool PmdNone(PageTableEntry pmd) => pmd.IsNone;
    /// <summary>pte_none(): value 0.</summary>
    public bool PteNone(PageTableEntry pte) => pte.IsNone;

    /// <summary>pgd_present(): constant true when P4D is folded, else the Present bit.</summary>
    public bool PgdPresent(PageTableEntry pgd) => Geometry.ChecksAreTrivial(PgLevel.Pgd) || pgd.IsPresent;
    /// <summary>p4d_present(): constant true when PUD is folded, else the Present bit.</summary>
    public bool P4dPresent(PageTableEntry p4d) => Geometry.ChecksAreTrivial(PgLevel.P4d) || p4d.IsPresent;
    /// <summary>
    /// pud_present(): constant true when PMD is folded; x86 the Present bit (arch/x86/include/asm/pgtable.h);
    /// arm64 <c>pte_present(pud_pte(pud))</c> = Present or PROT_NONE.
    /// </summary>
    public bool PudPresent(PageTableEntry pud) =>
        Geometry.ChecksAreTrivial(PgLevel.Pud) || pud.IsPresent || (_arm64 && pud.IsProtNone);
    /// <summary>
    /// pmd_present(): x86 <c>flags &amp; (_PAGE_PRESENT|_PAGE_PROTNONE|_PAGE_PSE)</c> (PSE: a THP being split keeps
    /// it); elsewhere Present or PROT_NONE (arm64 pte_present(pmd_pte(pmd))).
    /// </summary>
    public bool PmdPresent(PageTableEntry pmd) =>
        _x86 ? (pmd.Value & (ulong)(PteFlags.Present | PteFlags.ProtNone | PteFlags.Huge)) != 0 : pmd.IsPresent || pmd.IsProtNone;
    /// <summary>pte_present(): Present or PROT_NONE (x86 <c>flags &amp; (_PAGE_PRESENT|_PAGE_PROTNONE)</c>).</summary>
    public bool PtePresent(PageTableEntry pte) => pte.IsPresent || pte.IsProtNone;

    /// <summary>
    /// pmd_huge() (arch/*/mm/hugetlbpage.c): x86 <c>!pmd_none &amp;&amp; (val &amp; (_PAGE_PRESENT|_PAGE_PSE)) !=
    /// _PAGE_PRESENT</c> — so non-present (migration, hwpoison) entries count; arm64 <c>val &amp;&amp; !(val &amp;
    /// PMD_TABLE_BIT)</c> with table = Present &amp;&amp; !Huge; powerpc and the rest: the Huge bit.
    /// </summary>
    public bool PmdHuge(PageTableEntry pmd)
    {
        if (_x86) return !pmd.IsNone && (pmd.Value & (ulong)(PteFlags.Present | PteFlags.Huge)) != (ulong)PteFlags.Present;
        if (_arm64) return !pmd.IsNone && !pmd.IsTable;
        return pmd.IsHuge;
    }

    /// <summary>
    /// pud_huge(): x86 <c>!!(pud_val &amp; _PAGE_PSE)</c> (v5.11; read on the folded value where the PUD is folded);
    /// arm64 <c>val &amp;&amp; !PUD_TABLE_BIT</c>, but 0 when the PMD is folded (__PAGETABLE_PMD_FOLDED); others the Huge bit.
    /// </summary>
    public bool PudHuge(PageTableEntry pud)
    {
        if (_x86) return pud.IsHuge;
        if (_arm64) return !Geometry.IsFolded(PgLevel.Pmd) && !pud.IsNone && !pud.IsTable;
        return pud.IsHuge;
    }

    /// <summary>
    /// pmd_trans_huge(): x86 and powerpc <c>(val &amp; (PSE|DEVMAP)) == PSE</c>; arm64 <c>val &amp;&amp; pmd_present
    /// &amp;&amp; !table</c>.
    /// </summary>
    public bool PmdTransHuge(PageTableEntry pmd)
    {
        if (_arm64) return !pmd.IsNone && PmdPresent(pmd) && !pmd.IsTable;
        return (pmd.Value & (ulong)(PteFlags.Huge | PteFlags.Devmap)) == (ulong)PteFlags.Huge;
    }

    /// <summary>pmd_devmap().</summary>
    public bool PmdDevmap(PageTableEntry pmd) => pmd.IsDevmap;

    /// <summary>pmd_protnone(): PROT_NONE set, Present clear.</summary>
    public bool PmdProtNone(PageTableEntry pmd) => pmd.IsProtNone;

    /// <summary>
    /// pmd_leaf(): x86 pmd_large = the PSE bit; arm64 <c>pmd_present &amp;&amp; !pmd_table</c>; others the Huge bit.
    /// </summary>
    public bool PmdLeaf(PageTableEntry pmd) => _arm64 ? PmdPresent(pmd) && !pmd.IsTable : pmd.IsHuge;

    /// <summary>
    /// pud_leaf(): x86 pud_large = PSE and Present (0 with 2 levels); arm64 <c>pud_present &amp;&amp; !pud_table</c>
    /// (0 when the PMD is folded); others the Huge bit.
    /// </summary>
    public bool PudLeaf(PageTableEntry pud)
    {
        if (_x86) return Geometry.Arch.PgtableLevels > 2 && pud.IsHuge && pud.IsPresent;
        if (_arm64) return !Geometry.IsFolded(PgLevel.Pmd) && PudPresent(pud) && !pud.IsNone && !pud.IsTable;
        return pud.IsHuge;
    }

    /// <summary>pte_pfn().</summary>
    public static Pfn PtePfn(PageTableEntry pte) => pte.Pfn;
    /// <summary>pmd_pfn().</summary>
    public static Pfn PmdPfn(PageTableEntry pmd) => pmd.Pfn;
    /// <summary>pud_pfn().</summary>
    public static Pfn PudPfn(PageTableEntry pud) => pud.Pfn;

    // ---------------------------------------------------------------- allocation

    /// <summary>p4d_alloc(mm, pgd, addr) (include/linux/mm.h): populates the PGD slot with a new P4D table when none.</summary>
    /// <returns>0, −ENOMEM (nothing changed) or −EEXIST when the slot holds a leaf or a non-present entry.</returns>
    public int P4dAlloc(EntryRef pgd, ulong addr, out EntryRef p4d) => AllocDescend(pgd, PgLevel.P4d, addr, out p4d);

    /// <summary>pud_alloc(mm, p4d, addr) (include/linux/mm.h).</summary>
    public int PudAlloc(EntryRef p4d, ulong addr, out EntryRef pud) => AllocDescend(p4d, PgLevel.Pud, addr, out pud);

    /// <summary>pmd_alloc(mm, pud, addr) (include/linux/mm.h).</summary>
    public int PmdAlloc(EntryRef pud, ulong addr, out EntryRef pmd) => AllocDescend(pud, PgLevel.Pmd, addr, out pmd);

    /// <summary>pte_alloc_map(mm, pmd, addr) (include/linux/mm.h).</summary>
    public int PteAlloc(EntryRef pmd, ulong addr, out EntryRef pte) => AllocDescend(pmd, PgLevel.Pte, addr, out pte);

    private int AllocDescend(EntryRef upper, PgLevel level, ulong addr, out EntryRef slot)
    {
        _machine.MmStamp++;
        slot = default;
        if ((int)upper.Level != (int)level - 1)
            throw new ArgumentException($"{level}_alloc needs a {(PgLevel)((int)level - 1)} pointer, got {upper.Level}", nameof(upper));
        if (Geometry.IsFolded(level))
        {
            slot = upper.As(level);
            return 0;
        }
        lock (_lock)
        {
            var e = Read(upper);
            if (e.IsNone)
            {
                if (!TryAllocTable(level, out var t, out Pfn pfn)) return -(int)Errno.ENOMEM;
                Install(upper, level, pfn, t);
            }
            else if (!e.IsTable) return -(int)Errno.EEXIST;
        }
        slot = Descend(upper, level, addr);
        return 0;
    }

    private bool TryAllocTable(PgLevel level, [NotNullWhen(true)] out TablePage? t, out Pfn pfn)
    {
        t = null;
        int order = Geometry.TableOrder(level);
        if (!_machine.TryAllocPages(order, _nid, $"page table ({level.ToString().ToUpperInvariant()})", out pfn, Memory.Gfp.PgtableUser)) return false;
        _machine.MarkKernelPages(pfn.Value, 1UL << order, Memory.KernelPageUse.PageTable);
        t = new TablePage(level, order, new ulong[Geometry.EntriesPerTable(level)]);
        TakeTablePage(pfn, t);
        return true;
    }

    /// <summary>The table's entries become the page's contents (and the page is marked as a page table).</summary>
    private void TakeTablePage(Pfn pfn, TablePage t)
    {
        _machine.Memory.RegisterPageTable(pfn.Value, t.Order, t.Entries, Geometry.EntryBytes);
        _machine.MarkKernelPages(pfn.Value, 1UL << t.Order, Memory.KernelPageUse.PageTable);
    }

    /// <summary>The page stops being a page table (before it goes back to the buddy).</summary>
    private void GiveBackTablePage(Pfn pfn, TablePage t)
    {
        _machine.Memory.UnregisterPageTable(pfn.Value, t.Order);
        _machine.MarkKernelPages(pfn.Value, 1UL << t.Order, Memory.KernelPageUse.None);
    }

    private void Install(EntryRef upper, PgLevel level, Pfn pfn, TablePage t)
    {
        _tables[pfn.Value] = t;
        _count[(int)level]++;
        ulong old = Interlocked.CompareExchange(ref upper.Entries[upper.Index], PageTableEntry.MakeTable(pfn, PageShift).Value, 0);
        if (old != 0) throw new InvalidOperationException($"populate: {upper} changed under the page-table lock");
    }

    private void FreeTablePage(Pfn pfn, TablePage t)
    {
        _tables.TryRemove(pfn.Value, out _);
        _count[(int)t.Level]--;
        ReleaseTablePage(pfn, t);
    }

    private void ReleaseTablePage(Pfn pfn, TablePage t)
    {
        GiveBackTablePage(pfn, t);
        var page = _machine.PfnToPage(pfn);
        _machine.StructPages.SetRefcount(page, 0); // pte_free(): put_page() drops the only reference
        _machine.FreePages(pfn, t.Order);
    }

    // ---------------------------------------------------------------- lockless walkers and deferred table freeing

    private readonly ConcurrentDictionary<ulong, TablePage> _removedTables = new();
    private readonly List<(Pfn Pfn, TablePage Table)> _pendingFree = [];
    private int _locklessWalkers, _pendingCount;

    /// <summary>
    /// local_irq_save() around gup-fast's walk (lockless_pages_from_mm(), mm/gup.c; internal_get_user_pages_fast() in
    /// v5.11): the read-side section of a lockless walker. While any walker is inside, a table page that munmap
    /// removes from the tree stays readable and out of the buddy: on x86 the TLB-flush IPI cannot complete while IRQs
    /// are off, elsewhere MMU_GATHER_RCU_TABLE_FREE defers the free past an RCU grace period, which IRQs-off also
    /// holds off. Dispose is local_irq_restore(); the last walker out reclaims what waited for it.
    /// </summary>
    /// <remarks>
    /// Ordering: the walker's entry is an interlocked increment (a full fence) before it reads any entry; the freeing
    /// side clears the upper entry (interlocked) before it reads the walker count. So when the freeing side sees no
    /// walker, every later walker reads the cleared entry and never reaches the table.
    /// </remarks>
    public IrqDisabledWalk LocalIrqSave()
    {
        Interlocked.Increment(ref _locklessWalkers);
        return new IrqDisabledWalk(this);
    }

    /// <summary>local_irq_restore() at the end of gup-fast's walk (see <see cref="LocalIrqSave"/>).</summary>
    internal void LocalIrqRestore()
    {
        if (Interlocked.Decrement(ref _locklessWalkers) == 0 && Volatile.Read(ref _pendingCount) != 0) TlbRemoveTableRcu();
    }

    /// <summary>Lockless walkers inside their irq-off section now.</summary>
    public int LocklessWalkers => Volatile.Read(ref _locklessWalkers);

    /// <summary>
    /// Table pages removed from this tree that wait for the lockless walkers before they go back to the buddy (the
    /// batch of tlb_remove_table()). Until they do, <see cref="Machine.FreePagesTotal"/> is that many pages lower than
    /// after a synchronous free; munmap and exit reclaim them at once when no walker is inside.
    /// </summary>
    public int PendingTableFrees => Volatile.Read(ref _pendingCount);

    /// <summary>
    /// tlb_remove_table() (mm/mmu_gather.c): the table page leaves the tree (its entry was cleared and it no longer
    /// counts as this mm's) but is queued instead of freed, and stays readable to walkers holding its value.
    /// Caller holds the page-table lock.
    /// </summary>
    private void TlbRemoveTable(Pfn pfn, TablePage t)
    {
        _tables.TryRemove(pfn.Value, out _);
        _count[(int)t.Level]--;
        _removedTables[pfn.Value] = t;
        _pendingFree.Add((pfn, t));
        Interlocked.Increment(ref _pendingCount);
    }

    /// <summary>
    /// tlb_table_flush() → tlb_remove_table_free() (mm/mmu_gather.c): hands the batch to the grace period; with no
    /// lockless walker inside the grace period has already elapsed and the pages are reclaimed now (what the IPI or
    /// call_rcu() would complete at once on an idle machine).
    /// </summary>
    private void TlbTableFlush()
    {
        if (Volatile.Read(ref _pendingCount) != 0) TlbRemoveTableRcu();
    }

    /// <summary>
    /// tlb_remove_table_rcu() → __tlb_remove_table_free() (mm/mmu_gather.c): the RCU callback, run once no walker
    /// that could see the queued tables is left: every queued page goes back to the buddy. Tables queued before the
    /// walker count was read as zero (under the page-table lock, so after their entries were cleared) are safe.
    /// </summary>
    private void TlbRemoveTableRcu()
    {
        lock (_lock)
        {
            if (Volatile.Read(ref _locklessWalkers) != 0 || _pendingFree.Count == 0) return;
            foreach (var (pfn, t) in _pendingFree)
            {
                _removedTables.TryRemove(pfn.Value, out _);
                ReleaseTablePage(pfn, t);
            }
            _pendingFree.Clear();
            Volatile.Write(ref _pendingCount, 0);
        }
    }

    // ---------------------------------------------------------------- hugetlb helpers

    private ulong ContPteSize => ContSize(HugeMapping.ContPte, Geometry.Arch.PageSize);
    private ulong ContPmdSize => ContSize(HugeMapping.ContPmd, Geometry.Arch.PmdSize);

    private ulong ContSize(HugeMapping mapping, ulong unit)
    {
        foreach (var h in Geometry.Arch.HugePageSizes)
            if (h.Mapping == mapping) return (ulong)h.ContCount * unit;
        return 0;
    }

    /// <summary>
    /// huge_pte_offset(mm, addr, sz): the slot that maps a huge page of <paramref name="sz"/> bytes at
    /// <paramref name="addr"/>, or null. Generic (mm/hugetlb.c, ARCH_WANT_GENERAL_HUGETLB: x86 and, as a GupSim
    /// simplification, powerpc/riscv/s390): pgd/p4d not present → null; <c>sz == PUD_SIZE</c> → the PUD slot even if
    /// none; PUD not present → null; else the PMD slot. arm64 (arch/arm64/mm/hugetlbpage.c): PUD none and sz ≠ PUD_SIZE
    /// → null; PUD huge or not present → the PUD slot; CONT_PMD → the first PMD of the group; PMD none and sz not a PMD
    /// size → null; PMD huge or not present → the PMD slot; CONT_PTE → the first PTE of the group; else null. SuperH's
    /// PTE-level sizes: the PTE slot (null when an upper level is none).
    /// </summary>
    public EntryRef? HugePteOffset(ulong addr, ulong sz)
    {
        var arch = Geometry.Arch;
        var pgd = PgdOffset(addr);
        if (!PgdPresent(Read(pgd))) return null;
        var p4d = P4dOffset(pgd, addr);
        if (!P4dPresent(Read(p4d))) return null;
        var pud = PudOffset(p4d, addr);
        if (_arm64)
        {
            var pudv = Read(pud);
            if (sz != arch.PudSize && PudNone(pudv)) return null;
            if (PudHuge(pudv) || !PudPresent(pudv)) return pud;
            if (sz == ContPmdSize) addr &= ~(ContPmdSize - 1);
            var pmdA = PmdOffset(pud, addr);
            var pmdv = Read(pmdA);
            if (!(sz == arch.PmdSize || sz == ContPmdSize) && PmdNone(pmdv)) return null;
            if (PmdHuge(pmdv) || !PmdPresent(pmdv)) return pmdA;
            if (sz == ContPteSize) return PteOffsetMap(pmdA, addr & ~(ContPteSize - 1));
            return null;
        }
        if (IsPteLevelSize(sz))
        {
            if (PudNone(Read(pud))) return null;
            var pmdS = PmdOffset(pud, addr);
            if (PmdNone(Read(pmdS)) || !Read(pmdS).IsTable) return null;
            return PteOffsetMap(pmdS, addr);
        }
        if (sz == arch.PudSize) return pud;
        if (!PudPresent(Read(pud))) return null;
        return PmdOffset(pud, addr);
    }

    private bool IsPteLevelSize(ulong sz)
    {
        // PERF: a plain loop, no closure or enumerator (huge_pte_offset runs once per GUP call).
        var sizes = Geometry.Arch.HugePageSizes;
        for (int i = 0; i < sizes.Count; i++)
            if (sizes[i].Bytes == sz && sizes[i].Mapping == HugeMapping.PteLeaf) return true;
        return false;
    }

    /// <summary>
    /// huge_pte_alloc(mm, vma, addr, sz): allocates the tables down to the level that maps <paramref name="sz"/> and
    /// returns that slot (generic mm/hugetlb.c: PUD_SIZE → the PUD slot, PMD_SIZE → the PMD slot; arm64 also CONT_PTE
    /// → the PTE slot, CONT_PMD → the PMD slot; PTE-level sizes → the PTE slot). No PMD sharing.
    /// </summary>
    /// <returns>0, −ENOMEM (nothing changed), −EINVAL for a size the arch does not map, −EEXIST when a leaf is in the way.</returns>
    public int HugePteAlloc(ulong addr, ulong sz, out EntryRef slot)
    {
        _machine.MmStamp++;
        slot = default;
        var h = Geometry.Arch.FindHugePageSize(sz);
        PgLevel? target = h is null ? null : LeafLevel(h);
        if (target is null) return -(int)Errno.EINVAL;
        lock (_lock) return WalkAllocLocked(addr, target.Value, out slot);
    }

    /// <summary>
    /// The table allocations __handle_mm_fault() makes before it hands a fault to its handler (p4d_alloc(),
    /// pud_alloc(), pmd_alloc()), and with <paramref name="pte"/> the PTE table too (do_anonymous_page()'s
    /// pte_alloc(), __do_fault()'s pte_alloc_one() preallocation for do_read_fault() and do_cow_fault()), so their
    /// pages come from the buddy before the page the fault maps, as in the kernel.
    /// </summary>
    /// <returns>0, −ENOMEM (nothing changed), −EEXIST when a leaf above that level is in the way.</returns>
    public int FaultTablesAlloc(ulong addr, bool pte)
    {
        _machine.MmStamp++;
        lock (_lock) return WalkAllocLocked(addr, pte ? PgLevel.Pte : PgLevel.Pmd, out _);
    }

    // ---------------------------------------------------------------- mapping

    private PgLevel? LeafLevel(HugePageSize h)
    {
        var arch = Geometry.Arch;
        return h.Mapping switch
        {
            HugeMapping.PteLeaf or HugeMapping.ContPte => PgLevel.Pte,
            HugeMapping.PmdLeaf or HugeMapping.ContPmd => PgLevel.Pmd,
            HugeMapping.PudLeaf => PgLevel.Pud,
            HugeMapping.Hugepd => h.Bytes == arch.PmdSize ? PgLevel.Pmd : h.Bytes == arch.PudSize ? PgLevel.Pud : null,
            _ => null,
        };
    }

    /// <summary>
    /// Writes the leaf (or leaves) that map <paramref name="pfn"/> at <paramref name="addr"/>, allocating tables on the
    /// way (set_pte_at / set_huge_pte_at after huge_pte_alloc): <paramref name="size"/> null = one PAGE_SIZE PTE;
    /// PteLeaf = one PTE (Huge bit added when larger than PAGE_SIZE, SuperH's size bits); PmdLeaf = one PMD entry with
    /// Huge; PudLeaf = one PUD entry with Huge; ContPte = ContCount PTEs with pfn + i and Cont; ContPmd = ContCount
    /// PMD entries with pfn + i × PMD_SIZE/PAGE_SIZE, Huge and Cont; Hugepd (powerpc) simplified to a PMD leaf when
    /// the size is PMD_SIZE and a PUD leaf when it is PUD_SIZE (the kernel points the entry at a hugepd directory).
    /// <paramref name="flags"/> are written as given (add <see cref="PteFlags.Present"/> for a present mapping); an
    /// existing leaf or non-present entry in the target slot is overwritten.
    /// </summary>
    /// <returns>
    /// 0; −EINVAL (size not the arch's, or <paramref name="addr"/> not aligned to it, or beyond the user VA);
    /// −EEXIST (a table in a target slot, or a leaf above the target level); −ENOMEM (the buddy had no page for a
    /// table: nothing was changed).
    /// </returns>
    public int SetLeaf(ulong addr, HugePageSize? size, Pfn pfn, PteFlags flags)
    {
        _machine.MmStamp++;
        var arch = Geometry.Arch;
        PgLevel level;
        int count = 1;
        ulong stride = 0, bytes = arch.PageSize;
        var extra = PteFlags.None;
        if (size is null) level = PgLevel.Pte;
        else
        {
            if (arch.FindHugePageSize(size.Bytes) is null) return -(int)Errno.EINVAL;
            if (LeafLevel(size) is not { } l) return -(int)Errno.EINVAL;
            level = l;
            bytes = size.Bytes;
            switch (size.Mapping)
            {
                case HugeMapping.PteLeaf:
                    if (size.Bytes > arch.PageSize) extra = PteFlags.Huge;
                    break;
                case HugeMapping.ContPte:
                    count = size.ContCount;
                    stride = 1;
                    extra = PteFlags.Cont;
                    if (bytes != (ulong)count * arch.PageSize) return -(int)Errno.EINVAL;
                    break;
                case HugeMapping.ContPmd:
                    count = size.ContCount;
                    stride = arch.PmdSize >> arch.PageShift;
                    extra = PteFlags.Cont | PteFlags.Huge;
                    if (bytes != (ulong)count * arch.PmdSize) return -(int)Errno.EINVAL;
                    break;
                default:
                    extra = PteFlags.Huge;
                    if (bytes != Geometry.EntrySpan(level)) return -(int)Errno.EINVAL;
                    break;
            }
        }
        if ((addr & (bytes - 1)) != 0) return -(int)Errno.EINVAL;
        if (Geometry.UserVaBits < 64 && addr + bytes > 1UL << Geometry.UserVaBits) return -(int)Errno.EINVAL;
        lock (_lock)
        {
            int rc = WalkAllocLocked(addr, level, out var slot);
            if (rc != 0) return rc;
            for (int i = 0; i < count; i++)
                if (level != PgLevel.Pte && new PageTableEntry(Volatile.Read(ref slot.Entries[slot.Index + i]), PageShift).IsTable)
                    return -(int)Errno.EEXIST;
            for (int i = 0; i < count; i++)
            {
                var v = PageTableEntry.MakeLeaf(pfn + (ulong)i * stride, flags | extra, PageShift);
                Volatile.Write(ref slot.Entries[slot.Index + i], v.Value);
            }
            return 0;
        }
    }

    /// <summary>
    /// Walks to the <paramref name="target"/> slot for <paramref name="addr"/>, allocating missing tables. All tables
    /// are taken from the buddy first, so on −ENOMEM nothing changed (the kernel may leave upper tables populated).
    /// </summary>
    private int WalkAllocLocked(ulong addr, PgLevel target, out EntryRef slot)
    {
        slot = default;
        // Pass 1: which real levels are missing (no list when none is: the common fault on a populated range).
        List<PgLevel>? missing = null;
        var cur = PgdOffset(addr);
        for (var l = PgLevel.P4d; l <= target; l++)
        {
            if (Geometry.IsFolded(l)) { cur = cur.As(l); continue; }
            if (missing is not null) { missing.Add(l); continue; }
            var e = Read(cur);
            if (e.IsNone) { missing = [l]; continue; }
            if (!e.IsTable) return -(int)Errno.EEXIST;
            cur = Descend(cur, l, addr);
        }
        if (missing is null)
        {
            slot = cur;
            return 0;
        }
        // Take every table page before touching anything.
        var pages = new List<(Pfn Pfn, TablePage Table)>();
        foreach (var l in missing)
        {
            if (!TryAllocTable(l, out var t, out Pfn pfn))
            {
                foreach (var (p, tp) in pages)
                {
                    GiveBackTablePage(p, tp);
                    _machine.StructPages.SetRefcount(_machine.PfnToPage(p), 0);
                    _machine.FreePages(p, tp.Order);
                }
                return -(int)Errno.ENOMEM;
            }
            pages.Add((pfn, t));
        }
        // Pass 2: install and descend.
        int next = 0;
        cur = PgdOffset(addr);
        for (var l = PgLevel.P4d; l <= target; l++)
        {
            if (Geometry.IsFolded(l)) { cur = cur.As(l); continue; }
            if (Read(cur).IsNone) Install(cur, l, pages[next].Pfn, pages[next++].Table);
            cur = Descend(cur, l, addr);
        }
        slot = cur;
        return 0;
    }

    // ---------------------------------------------------------------- unmapping

    /// <summary>
    /// zap_page_range()-style: clears every leaf and non-present entry mapping any address of [<paramref name="start"/>,
    /// <paramref name="end"/>) with ptep_get_and_clear() and returns them, so callers can drop references. Tables stay
    /// (see <see cref="FreeEmptyTables"/>). A huge leaf only partly inside the range is removed whole (GupSim does not
    /// split); each entry of a contiguous run is reported on its own.
    /// </summary>
    public IReadOnlyList<ClearedLeaf> ClearRange(ulong start, ulong end)
    {
        _machine.MmStamp++;
        var result = new List<ClearedLeaf>();
        if (end <= start) return result;
        lock (_lock) ClearIn(_pgd, PgLevel.Pgd, 0, start, end - 1, result);
        return result;
    }

    /// <summary>free_pgtables()-style: removes every table below the PGD whose entries are all none, within
    /// [<paramref name="start"/>, <paramref name="end"/>), clearing the entry that pointed at it, and frees it through
    /// tlb_remove_table(): back to the buddy now when no lockless walker is inside, else when the last one leaves
    /// (<see cref="PendingTableFrees"/>).</summary>
    /// <returns>How many table pages were removed from the tree.</returns>
    public int FreeEmptyTables(ulong start = 0, ulong end = ulong.MaxValue)
    {
        _machine.MmStamp++;
        if (end <= start) return 0;
        lock (_lock)
        {
            int freed = FreeIn(_pgd, PgLevel.Pgd, 0, start, end - 1);
            TlbTableFlush();
            return freed;
        }
    }

    /// <summary><see cref="ClearRange"/> then <see cref="FreeEmptyTables"/> over the same range (munmap's unmap_region()).</summary>
    public IReadOnlyList<ClearedLeaf> UnmapRange(ulong start, ulong end)
    {
        var leaves = ClearRange(start, end);
        FreeEmptyTables(start, end);
        return leaves;
    }

    /// <summary>exit_mmap() + pgd_free(): clears everything, frees every table and the PGD; the object is dead afterwards.</summary>
    public IReadOnlyList<ClearedLeaf> Destroy()
    {
        _machine.MmStamp++;
        lock (_lock)
        {
            if (_freed) return [];
            var leaves = ClearRange(0, ulong.MaxValue);
            FreeEmptyTables();
            FreeTablePage(PgdPfn, _tables[PgdPfn.Value]);
            _freed = true;
            return leaves;
        }
    }

    private (int First, int Last) IndexRange(PgLevel level, ulong baseAddr, ulong start, ulong last)
    {
        ulong span = Geometry.EntrySpan(level);
        ulong n = Geometry.EntriesPerTable(level);
        ulong tableLast = baseAddr + (span * n - 1);
        if (start > tableLast || last < baseAddr) return (0, -1);
        ulong lo = Math.Max(start, baseAddr), hi = Math.Min(last, tableLast);
        return ((int)((lo - baseAddr) / span), (int)((hi - baseAddr) / span));
    }

    private PgLevel LogicalLeafLevel(PgLevel real)
    {
        var l = real;
        while (l < PgLevel.Pte && Geometry.IsFolded(l + 1)) l++;
        return l;
    }

    private void ClearIn(ulong[] entries, PgLevel level, ulong baseAddr, ulong start, ulong last, List<ClearedLeaf> result)
    {
        var (first, lastIdx) = IndexRange(level, baseAddr, start, last);
        ulong span = Geometry.EntrySpan(level);
        var next = Geometry.NextRealLevel(level);
        for (int i = first; i <= lastIdx; i++)
        {
            ulong v = Volatile.Read(ref entries[i]);
            if (v == 0) continue;
            var e = new PageTableEntry(v, PageShift);
            ulong addr = baseAddr + (ulong)i * span;
            if (level != PgLevel.Pte && e.IsTable && next is { } nl && _tables.TryGetValue(e.Pfn.Value, out var t))
            {
                ClearIn(t.Entries, nl, addr, start, last, result);
                continue;
            }
            var old = new PageTableEntry(Interlocked.Exchange(ref entries[i], 0), PageShift);
            result.Add(new ClearedLeaf(addr, LogicalLeafLevel(level), span, old));
        }
    }

    private static bool IsEmpty(ulong[] entries)
    {
        for (int k = 0; k < entries.Length; k++)
            if (Volatile.Read(ref entries[k]) != 0) return false;
        return true;
    }

    private int FreeIn(ulong[] entries, PgLevel level, ulong baseAddr, ulong start, ulong last)
    {
        if (level == PgLevel.Pte) return 0;
        var (first, lastIdx) = IndexRange(level, baseAddr, start, last);
        ulong span = Geometry.EntrySpan(level);
        var next = Geometry.NextRealLevel(level);
        int freed = 0;
        for (int i = first; i <= lastIdx; i++)
        {
            var e = new PageTableEntry(Volatile.Read(ref entries[i]), PageShift);
            if (!e.IsTable || next is not { } nl || !_tables.TryGetValue(e.Pfn.Value, out var t)) continue;
            freed += FreeIn(t.Entries, nl, baseAddr + (ulong)i * span, start, last);
            if (!IsEmpty(t.Entries)) continue;
            if (Interlocked.CompareExchange(ref entries[i], 0, e.Value) != e.Value) continue;
            TlbRemoveTable(e.Pfn, t);
            freed++;
        }
        return freed;
    }
}

/// <summary>
/// A lockless walker's irq-off section (<see cref="PageTable.LocalIrqSave"/>); <see cref="Dispose"/> is
/// local_irq_restore(). A struct, so <c>using</c> costs no allocation.
/// </summary>
public readonly struct IrqDisabledWalk : IDisposable
{
    private readonly PageTable? _table;

    internal IrqDisabledWalk(PageTable table) => _table = table;

    /// <summary>local_irq_restore(): leaves the section; the last walker out reclaims the tables that waited for it.</summary>
    public void Dispose() => _table?.LocalIrqRestore();
}
