using GupSim.Config;
using GupSim.Core;
using GupSim.Memory;

namespace GupSim.Tests.Memory;

/// <summary>
/// KernelMemory's 32-bit and word stores (issue 11 §5): a page-table page's words take WRITE_ONCE, atomic_add_return
/// and atomic_cmpxchg on the table's own entries (half an 8-byte entry each, little-endian), and a store to a struct
/// page allocates nothing on the managed heap outside a stray-write scope (a churned boot made 259 MB of closures).
/// </summary>
public class KernelMemoryStoreTests
{
    private static Machine Boot() => new MachineOptions { Arch = "x86_64", Mem = "1G", Seed = 1 }.Boot();

    [Fact]
    public void PageTableWords_SetAddCompareExchange_ReachTheTablesEntries_ExactValues()
    {
        var m = Boot();
        Assert.True(m.TryAllocPages(0, 0, "test: page table", out Pfn pfn, Gfp.Kernel));
        var entries = new ulong[512];
        entries[1] = 0x0123_4567_89ab_cdefUL;
        m.Memory.RegisterPageTable(pfn.Value, 0, entries, 8);
        ulong va = m.Memory.PhysToVirt(pfn.Value << 12);
        // Entry 1 is bytes 8..15: its low half at +8, its high half at +12.
        m.Memory.WriteU32(va + 8, 0x1122_3344, "test");
        Assert.Equal(0x0123_4567_1122_3344UL, entries[1]);
        Assert.Equal(0x1122_3344u, m.Memory.ReadU32(va + 8, "test"));
        // 0x11223344 − 0x44 = 0x11223300; the high half is untouched.
        Assert.Equal(0x1122_3300, m.Memory.AtomicAdd32(va + 8, -0x44, "test"));
        Assert.Equal(0x0123_4567_1122_3300UL, entries[1]);
        // Wrapping: 0x01234567 + 0xfedcba99 = 0x1_00000000 → 0.
        Assert.Equal(0, m.Memory.AtomicAdd32(va + 12, unchecked((int)0xfedc_ba99u), "test"));
        Assert.Equal(0x0000_0000_1122_3300UL, entries[1]);
        // cmpxchg: stores only where the old value is the expected one.
        Assert.False(m.Memory.CompareExchangeU32(va + 12, 7, 1, "test"));
        Assert.Equal(0x0000_0000_1122_3300UL, entries[1]);
        Assert.True(m.Memory.CompareExchangeU32(va + 12, 7, 0, "test"));
        Assert.Equal(0x0000_0007_1122_3300UL, entries[1]);
        m.Memory.WriteWord(va + 16, 0xdead_beef_0bad_f00dUL, "test");
        Assert.Equal(0xdead_beef_0bad_f00dUL, entries[2]);
        Assert.Equal(0UL, entries[0]);
        Assert.Equal(0UL, entries[3]);
        m.Memory.UnregisterPageTable(pfn.Value, 0);
    }

    [Fact]
    public void StructPageStores_AllocateNothing()
    {
        var m = Boot();
        Assert.True(m.TryAllocPages(3, 0, "test", out Pfn pfn, Gfp.Kernel));
        ulong page = m.PfnToPage(pfn).Address; // struct page of the block's head; 64 bytes each on x86_64
        // First touch materialises the store's chunk; the stores after it are what is measured.
        m.Memory.WriteU32(page + 8, 1, "test");
        m.Memory.WriteWord(page + 64 + 16, 2, "test");
        Assert.Equal(2, m.Memory.AtomicAdd32(page + 8, 1, "test"));
        Assert.True(m.Memory.CompareExchangeU32(page + 8, 3, 2, "test"));
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (uint i = 0; i < 1000; i++)
        {
            m.Memory.WriteU32(page + 8, i, "test");
            m.Memory.WriteWord(page + 64 + 16, i, "test");
            m.Memory.AtomicAdd32(page + 8, 1, "test");
            m.Memory.CompareExchangeU32(page + 8, i, i + 1, "test");
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0L, allocated);
        // The last round: WriteU32 999, +1 = 1000, cmpxchg(1000 → 999) stores 999.
        Assert.Equal(999u, m.Memory.ReadU32(page + 8, "test"));
        Assert.Equal(999UL, m.Memory.ReadWord(page + 64 + 16, "test"));
    }
}
