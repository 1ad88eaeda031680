using System.Globalization;
using GupSim.Core;

namespace GupSim.Mm;

/// <summary>
/// Bits of GupSim's uniform page-table entry encoding (see <see cref="PageTableEntry"/>). The positions follow x86's
/// (_PAGE_BIT_*) where x86 has the bit, and arm64's PTE_CONT for the contiguous hint.
/// </summary>
[Flags]
public enum PteFlags : ulong
{
    /// <summary>No bits.</summary>
    None = 0,
    /// <summary>Bit 0: _PAGE_PRESENT / PTE_VALID — the MMU may use the entry.</summary>
    Present = 1UL << 0,
    /// <summary>Bit 1: _PAGE_RW — writable.</summary>
    Write = 1UL << 1,
    /// <summary>Bit 2: _PAGE_USER — user accessible.</summary>
    User = 1UL << 2,
    /// <summary>Bit 5: _PAGE_ACCESSED (pte_young).</summary>
    Young = 1UL << 5,
    /// <summary>Bit 6: _PAGE_DIRTY (pte_dirty).</summary>
    Dirty = 1UL << 6,
    /// <summary>Bit 7: _PAGE_PSE — a leaf at PMD, PUD or PGD level (huge page); on a PTE, a large-page size (SuperH _PAGE_SZHUGE).</summary>
    Huge = 1UL << 7,
    /// <summary>Bit 9: _PAGE_SPECIAL (pte_special: no struct page to refcount).</summary>
    Special = 1UL << 9,
    /// <summary>Bit 10: _PAGE_DEVMAP (ZONE_DEVICE mapping).</summary>
    Devmap = 1UL << 10,
    /// <summary>Bit 11: _PAGE_PROTNONE — PROT_NONE / NUMA-hinting entry (set with Present clear).</summary>
    ProtNone = 1UL << 11,
    /// <summary>Bit 52: arm64 PTE_CONT — one of a naturally aligned run of CONT_PTES / CONT_PMDS entries.</summary>
    Cont = 1UL << 52,
}

/// <summary>
/// A simulated <c>pte_t</c> / <c>pmd_t</c> / <c>pud_t</c> / <c>p4d_t</c> / <c>pgd_t</c> value (<c>pte_val()</c> etc.)
/// in GupSim's uniform encoding, the same on every arch and level:
/// <list type="table">
/// <item><term>bit 0</term><description>Present (_PAGE_PRESENT, arm64 PTE_VALID)</description></item>
/// <item><term>bit 1</term><description>Write (_PAGE_RW)</description></item>
/// <item><term>bit 2</term><description>User (_PAGE_USER)</description></item>
/// <item><term>bit 5</term><description>Young (_PAGE_ACCESSED)</description></item>
/// <item><term>bit 6</term><description>Dirty (_PAGE_DIRTY)</description></item>
/// <item><term>bit 7</term><description>Huge (_PAGE_PSE: a leaf at PMD/PUD/PGD level)</description></item>
/// <item><term>bit 9</term><description>Special (_PAGE_SPECIAL)</description></item>
/// <item><term>bit 10</term><description>Devmap (_PAGE_DEVMAP)</description></item>
/// <item><term>bit 11</term><description>ProtNone (_PAGE_PROTNONE, NUMA hinting)</description></item>
/// <item><term>bits PAGE_SHIFT..51</term><description>the frame's physical address, <c>pfn &lt;&lt; PAGE_SHIFT</c> (of the
/// next-level table for a table entry)</description></item>
/// <item><term>bit 52</term><description>Cont (arm64 PTE_CONT, contiguous hint)</description></item>
/// </list>
/// Value 0 is "none" (<c>pte_none</c>). A table entry (<see cref="MakeTable"/>) is Present|Write|User|Young|Dirty with
/// Huge clear (x86 _PAGE_TABLE); arm64's "table bit" therefore reads as <c>Present &amp;&amp; !Huge</c> above the PTE
/// level. A non-present, non-none entry (swap, migration, hwpoison) is any value with Present clear and some other bit
/// set (<see cref="MakeNonPresent"/>).
/// </summary>
/// <remarks>
/// The value carries the page shift it was made with, so <see cref="Pfn"/> can be read without the arch at hand.
/// Equality is by <see cref="Value"/> only (as <c>pte_val(a) == pte_val(b)</c>, the gup-fast recheck).
/// </remarks>
public readonly struct PageTableEntry : IEquatable<PageTableEntry>
{
    /// <summary>Bits [12, 51]: the physical address field (bits below PAGE_SHIFT are zero in it for larger pages).</summary>
    public const ulong PhysAddrMask = 0x000F_FFFF_FFFF_F000UL;

    /// <summary>The flags of a table (non-leaf) entry: x86 _PAGE_TABLE.</summary>
    public const PteFlags TableFlags = PteFlags.Present | PteFlags.Write | PteFlags.User | PteFlags.Young | PteFlags.Dirty;

    /// <summary>Wraps a raw value read from a table.</summary>
    public PageTableEntry(ulong value, int pageShift)
    {
        Value = value;
        PageShift = pageShift;
    }

    /// <summary>The raw entry (<c>pte_val()</c>).</summary>
    public ulong Value { get; }

    /// <summary>PAGE_SHIFT used to read <see cref="Pfn"/>.</summary>
    public int PageShift { get; }

    /// <summary>The none entry (value 0).</summary>
    public static PageTableEntry None(int pageShift) => new(0, pageShift);

    /// <summary>pfn_pte() / pfn_pmd() / pfn_pud(): a leaf for <paramref name="pfn"/> with exactly <paramref name="flags"/> (Present is not added).</summary>
    public static PageTableEntry MakeLeaf(Pfn pfn, PteFlags flags, int pageShift) =>
        new(((pfn.Value << pageShift) & PhysAddrMask) | (ulong)flags, pageShift);

    /// <summary>pmd_populate() / pud_populate() / ...: an entry pointing at the next-level table in frame <paramref name="tablePfn"/>.</summary>
    public static PageTableEntry MakeTable(Pfn tablePfn, int pageShift) => MakeLeaf(tablePfn, TableFlags, pageShift);

    /// <summary>
    /// A non-present, non-none entry (a stand-in for a swap / migration / hwpoison entry): <paramref name="payload"/> in
    /// the address field and <paramref name="flags"/> (Present is removed), plus bit 8 so the value is never none.
    /// </summary>
    public static PageTableEntry MakeNonPresent(ulong payload, PteFlags flags, int pageShift) =>
        new(((payload << pageShift) & PhysAddrMask) | ((ulong)flags & ~(ulong)PteFlags.Present) | (1UL << 8), pageShift);

    /// <summary>The flag bits (everything but the address field).</summary>
    public PteFlags Flags => (PteFlags)(Value & ~PhysAddrMask);

    /// <summary>pte_pfn() / pmd_pfn() / pud_pfn(): the frame in the address field.</summary>
    public Pfn Pfn => Pfn.FromUInt64((Value & PhysAddrMask) >> PageShift);

    /// <summary>The physical address in the address field.</summary>
    public PhysAddr PhysAddr => PhysAddr.FromUInt64(Value & PhysAddrMask);

    /// <summary>pte_none(): value 0.</summary>
    public bool IsNone => Value == 0;
    /// <summary>The raw Present bit (not pte_present(), which also counts PROT_NONE).</summary>
    public bool IsPresent => Has(PteFlags.Present);
    /// <summary>pte_write().</summary>
    public bool IsWrite => Has(PteFlags.Write);
    /// <summary>User bit.</summary>
    public bool IsUser => Has(PteFlags.User);
    /// <summary>pte_dirty().</summary>
    public bool IsDirty => Has(PteFlags.Dirty);
    /// <summary>pte_young().</summary>
    public bool IsYoung => Has(PteFlags.Young);
    /// <summary>The raw Huge (PSE) bit.</summary>
    public bool IsHuge => Has(PteFlags.Huge);
    /// <summary>pte_cont() (arm64 contiguous hint).</summary>
    public bool IsCont => Has(PteFlags.Cont);
    /// <summary>pte_special().</summary>
    public bool IsSpecial => Has(PteFlags.Special);
    /// <summary>pte_devmap().</summary>
    public bool IsDevmap => Has(PteFlags.Devmap);
    /// <summary>pte_protnone(): ProtNone set and Present clear (x86 <c>(flags &amp; (PROTNONE|PRESENT)) == PROTNONE</c>).</summary>
    public bool IsProtNone => (Value & (ulong)(PteFlags.ProtNone | PteFlags.Present)) == (ulong)PteFlags.ProtNone;
    /// <summary>A table entry under the uniform encoding: Present and not Huge (arm64 PMD_TABLE_BIT).</summary>
    public bool IsTable => IsPresent && !IsHuge;

    /// <summary>Whether all of <paramref name="flags"/> are set.</summary>
    public bool Has(PteFlags flags) => (Value & (ulong)flags) == (ulong)flags;

    /// <summary>The entry with <paramref name="flags"/> added.</summary>
    public PageTableEntry With(PteFlags flags) => new(Value | (ulong)flags, PageShift);

    /// <summary>The entry with <paramref name="flags"/> removed.</summary>
    public PageTableEntry Without(PteFlags flags) => new(Value & ~(ulong)flags, PageShift);

    public bool Equals(PageTableEntry other) => Value == other.Value;
    public override bool Equals(object? obj) => obj is PageTableEntry other && Equals(other);
    public override int GetHashCode() => Value.GetHashCode();
    public static bool operator ==(PageTableEntry a, PageTableEntry b) => a.Value == b.Value;
    public static bool operator !=(PageTableEntry a, PageTableEntry b) => a.Value != b.Value;

    /// <summary>"0x…" and the set flags, e.g. <c>0x00000001234000e7 (P W U A D H)</c>.</summary>
    public override string ToString()
    {
        if (IsNone) return "none";
        var names = new List<string>();
        foreach (var (f, n) in new[] { (PteFlags.Present, "P"), (PteFlags.Write, "W"), (PteFlags.User, "U"), (PteFlags.Young, "A"), (PteFlags.Dirty, "D"), (PteFlags.Huge, "H"), (PteFlags.Special, "S"), (PteFlags.Devmap, "DEV"), (PteFlags.ProtNone, "PROTNONE"), (PteFlags.Cont, "CONT") })
            if (Has(f)) names.Add(n);
        return "0x" + Value.ToString("x16", CultureInfo.InvariantCulture) + " (" + string.Join(' ', names) + ")";
    }
}
