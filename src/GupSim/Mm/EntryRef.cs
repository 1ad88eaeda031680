using GupSim.Core;

namespace GupSim.Mm;

/// <summary>
/// A pointer to one page-table slot (<c>pgd_t *</c>, <c>pmd_t *</c>, <c>pte_t *</c>, ...): the table's frame, the
/// index in it, and the level the pointer is typed as. A folded level's pointer is the upper level's slot retyped
/// (<c>(pud_t *)p4d</c>), so two refs of different <see cref="Level"/> may share <see cref="SlotAddress"/>.
/// </summary>
/// <remarks>
/// The ref holds the table's entry array itself, so a lockless walker that obtained it keeps reading whole (possibly
/// stale) values even if the table is freed meanwhile, as with MMU_GATHER_RCU_TABLE_FREE.
/// </remarks>
public readonly struct EntryRef : IEquatable<EntryRef>
{
    internal EntryRef(PgLevel level, Pfn tablePfn, int index, ulong[] entries, ulong slotAddress)
    {
        Level = level;
        TablePfn = tablePfn;
        Index = index;
        Entries = entries;
        SlotAddress = slotAddress;
    }

    /// <summary>The level this pointer is typed as.</summary>
    public PgLevel Level { get; }

    /// <summary>The frame of the table page holding the slot.</summary>
    public Pfn TablePfn { get; }

    /// <summary>The slot's index in its table.</summary>
    public int Index { get; }

    /// <summary>Physical address of the slot: table address + index × sizeof(entry).</summary>
    public ulong SlotAddress { get; }

    internal ulong[] Entries { get; }

    /// <summary>Whether two refs point at the same slot, whatever level they are typed as.</summary>
    public bool SameSlot(EntryRef other) => SlotAddress == other.SlotAddress;

    /// <summary>Retypes the pointer (folding: <c>(pud_t *)p4d</c>).</summary>
    internal EntryRef As(PgLevel level) => new(level, TablePfn, Index, Entries, SlotAddress);

    /// <summary>Pointer arithmetic within the table (<c>ptep + n</c>).</summary>
    internal EntryRef Plus(int n, int entryBytes) => new(Level, TablePfn, Index + n, Entries, SlotAddress + (ulong)(n * entryBytes));

    public bool Equals(EntryRef other) => Level == other.Level && SlotAddress == other.SlotAddress;
    public override bool Equals(object? obj) => obj is EntryRef other && Equals(other);
    public override int GetHashCode() => HashCode.Combine(Level, SlotAddress);
    public static bool operator ==(EntryRef a, EntryRef b) => a.Equals(b);
    public static bool operator !=(EntryRef a, EntryRef b) => !a.Equals(b);

    /// <summary>"pmd@0x…[idx]".</summary>
    public override string ToString() => $"{Level.ToString().ToLowerInvariant()}@{TablePfn}[{Index}]";
}

/// <summary>A leaf removed by <see cref="PageTable.ClearRange"/>.</summary>
/// <param name="Address">The first virtual address the entry mapped.</param>
/// <param name="Level">The (lowest logical) level the entry was at: Pte, Pmd, Pud (a folded PMD's leaf reports Pmd).</param>
/// <param name="Bytes">The bytes the entry mapped (PAGE_SIZE for a PTE, each entry of a contiguous run separately).</param>
/// <param name="Old">The entry as it was (its Pfn, and whether it was present, cont, special, ...).</param>
public sealed record ClearedLeaf(ulong Address, PgLevel Level, ulong Bytes, PageTableEntry Old)
{
    /// <summary>The frame the entry mapped (meaningless when <see cref="PageTableEntry.IsPresent"/> is false and it is not PROT_NONE).</summary>
    public Pfn Pfn => Old.Pfn;
}
