using GupSim.Arch;

namespace GupSim.Mm;

/// <summary>The five page-table levels, top down (include/linux/pgtable.h naming).</summary>
public enum PgLevel
{
    /// <summary>pgd_t: the top table (mm->pgd).</summary>
    Pgd = 0,
    /// <summary>p4d_t (folded unless 5-level).</summary>
    P4d = 1,
    /// <summary>pud_t.</summary>
    Pud = 2,
    /// <summary>pmd_t.</summary>
    Pmd = 3,
    /// <summary>pte_t.</summary>
    Pte = 4,
}

/// <summary>
/// Shapes of an arch's page tables, derived from the profile's shifts:
/// <list type="bullet">
/// <item>a level is <b>folded</b> when its shift equals the shift of the level above (P4D when P4D_SHIFT ==
/// PGDIR_SHIFT, PUD when PUD_SHIFT == P4D_SHIFT, PMD when PMD_SHIFT == PUD_SHIFT), as pgtable-nop4d.h /
/// pgtable-nopud.h / pgtable-nopmd.h fold them; PGD and PTE are never folded;</item>
/// <item>entries in a table of a real level = <c>1 &lt;&lt; (shift of the level above − this shift)</c>, the PGD's
/// upper bound being <see cref="UserVaBits"/>;</item>
/// <item>a table takes 2^order buddy pages, the order that holds its entries (8 bytes each, 4 on 2-level 32-bit
/// arches), at least one page: s390's 2048-entry region/segment tables take order 2 as crst_table_alloc() does;
/// tables smaller than a page (arm64 64K's 64-entry PGD, PAE's 4-entry PGD, s390's 2K PTE tables) still take one
/// whole page (the kernel uses a slab cache or page fragments there).</item>
/// </list>
/// </summary>
public sealed class PageTableGeometry
{
    private readonly int[] _shift = new int[5];
    private readonly bool[] _folded = new bool[5];
    private readonly int[] _entriesLog2 = new int[5];
    private readonly int[] _order = new int[5];

    /// <summary>Builds the geometry of <paramref name="arch"/>.</summary>
    public PageTableGeometry(ArchProfile arch)
    {
        Arch = arch;
        UserVaBits = ComputeUserVaBits(arch);
        _shift[0] = arch.PgdirShift;
        _shift[1] = arch.P4dShift;
        _shift[2] = arch.PudShift;
        _shift[3] = arch.PmdShift;
        _shift[4] = arch.PageShift;
        EntryBytes = arch.BitsPerLong == 32 && arch.PgtableLevels == 2 ? 4 : 8;
        for (int l = 0; l < 5; l++)
        {
            int above = l == 0 ? UserVaBits : _shift[l - 1];
            _folded[l] = l is >= 1 and <= 3 && _shift[l] == _shift[l - 1];
            _entriesLog2[l] = _folded[l] ? 0 : above - _shift[l];
            ulong bytes = (1UL << _entriesLog2[l]) * (ulong)EntryBytes;
            int order = 0;
            while ((arch.PageSize << order) < bytes) order++;
            _order[l] = order;
        }
    }

    /// <summary>The profile.</summary>
    public ArchProfile Arch { get; }

    /// <summary>
    /// The virtual-address bits the top-level table covers (pgd_index range): 32 on 32-bit arches; 57 on x86-64 with
    /// 5-level paging; 64 on s390x (region-first table, 2048 entries above bit 53); 52 on powerpc64 Book3S with 64K
    /// pages (H_PGTABLE_EADDR_SIZE / radix 52-bit); 39 on riscv64 Sv39 (PGDIR_SHIFT 30 + 9); 48 otherwise (x86-64
    /// 4-level, arm64 48-bit VA). Computed here from the profile, not stored in it.
    /// </summary>
    public int UserVaBits { get; }

    /// <summary>Computes <see cref="UserVaBits"/> for a profile.</summary>
    public static int ComputeUserVaBits(ArchProfile arch)
    {
        if (arch.BitsPerLong == 32) return 32;
        return arch.KernelArch switch
        {
            "x86" => arch.PgtableLevels == 5 ? 57 : 48,
            "s390" => 64,
            "powerpc" => 52,
            "riscv" => arch.PgdirShift + 9,
            _ => 48,
        };
    }

    /// <summary>sizeof(pte_t): 4 on 2-level 32-bit arches, 8 otherwise.</summary>
    public int EntryBytes { get; }

    /// <summary>PGDIR_SHIFT, P4D_SHIFT, PUD_SHIFT, PMD_SHIFT or PAGE_SHIFT.</summary>
    public int Shift(PgLevel level) => _shift[(int)level];

    /// <summary>The bytes one entry of <paramref name="level"/> maps (PGDIR_SIZE, ..., PAGE_SIZE).</summary>
    public ulong EntrySpan(PgLevel level) => 1UL << _shift[(int)level];

    /// <summary>Whether <paramref name="level"/> is folded into the level above (__PAGETABLE_P4D/PUD/PMD_FOLDED).</summary>
    public bool IsFolded(PgLevel level) => _folded[(int)level];

    /// <summary>PTRS_PER_PGD / PTRS_PER_P4D / ...: 1 for a folded level.</summary>
    public ulong EntriesPerTable(PgLevel level) => 1UL << _entriesLog2[(int)level];

    /// <summary>Buddy order of one table of <paramref name="level"/>.</summary>
    public int TableOrder(PgLevel level) => _order[(int)level];

    /// <summary>pgd_index() / p4d_index() / pud_index() / pmd_index() / pte_index(); 0 on a folded level.</summary>
    public int Index(PgLevel level, ulong addr) =>
        _folded[(int)level] ? 0 : (int)((addr >> _shift[(int)level]) & ((1UL << _entriesLog2[(int)level]) - 1));

    /// <summary>The real (not folded) level the entry of <paramref name="level"/> lives in.</summary>
    public PgLevel StorageLevel(PgLevel level)
    {
        while (_folded[(int)level]) level--;
        return level;
    }

    /// <summary>The levels that have tables of their own, top down.</summary>
    public IEnumerable<PgLevel> RealLevels =>
        Enum.GetValues<PgLevel>().Where(l => !_folded[(int)l]);

    /// <summary>The next real level below <paramref name="level"/>, or null below PTE.</summary>
    public PgLevel? NextRealLevel(PgLevel level)
    {
        for (int l = (int)level + 1; l < 5; l++)
            if (!_folded[l]) return (PgLevel)l;
        return null;
    }

    /// <summary>
    /// Whether the level below <paramref name="level"/> is folded into it, so the kernel's none/present/bad checks at
    /// <paramref name="level"/> are the constant ones of pgtable-nop4d.h / nopud.h / nopmd.h (none 0, present 1, bad 0)
    /// and the real check happens at the lowest level sharing the entry.
    /// </summary>
    public bool ChecksAreTrivial(PgLevel level) => level < PgLevel.Pte && _folded[(int)level + 1];
}
