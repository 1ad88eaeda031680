using GupSim.Arch;
using GupSim.Core;
using GupSim.Hugetlb;
using GupSim.Memory;
using GupSim.Pages;
using static GupSim.Tests.Memory.TestMachines;

namespace GupSim.Tests.Hugetlb;

/// <summary>
/// v7.1's tail-page encoding (8c846c879e22, "mm: rework compound_head() for power-of-2 sizeof(struct page)"): with
/// CONFIG_HUGETLB_PAGE_OPTIMIZE_VMEMMAP (SPARSEMEM_VMEMMAP only) and a power-of-two struct page, every tail holds
/// GENMASK(BITS_PER_LONG − 1, order + log2(sizeof(struct page))) | 1 and compound_head() is page &amp; mask; everywhere
/// else the word stays head | 1. Expected words and head addresses are worked out by hand from those rules and the
/// memmap's placement (vmemmap base + pfn × 64, or the memmap array's start + (pfn − its first pfn) × sizeof).
/// </summary>
public class CompoundInfoTests
{
    private const ulong X86Vmemmap = 0xffffea0000000000UL;

    private static Machine Boot(string arch, KernelVersion v, MemoryModel model, RamLayout ram, string hugepages, bool allowKconfig = false, bool debugVm = false)
    {
        var a = ArchProfiles.Get(arch, v);
        return Machine.Boot(new MachineSpec
        {
            Arch = a,
            Model = model,
            Ram = ram,
            Hugepages = HugepagesCmdline.Parse(hugepages, a.DefaultHugePageSize!.Bytes),
            AllowKconfigViolations = allowKconfig,
            DebugVm = debugVm,
        });
    }

    private static ulong HeadPfn(Machine m, ulong bytes)
    {
        var h = m.Hugetlb.Find(bytes);
        Assert.NotNull(h);
        Assert.Equal(1UL, h.NrHugePages);
        return h.FreeList(0).First();
    }

    /// <summary>The struct page address of <paramref name="pfn"/> from the memmap array that holds it (non-vmemmap models).</summary>
    private static ulong ArrayAddress(Machine m, ulong pfn)
    {
        foreach (var a in m.Memory.Arrays)
            if (pfn >= a.FirstPfn && pfn < a.FirstPfn + a.NrPages) return a.VaStart + (pfn - a.FirstPfn) * (ulong)a.StructPageSize;
        throw new InvalidOperationException($"pfn 0x{pfn:x} has no memmap array");
    }

    /// <summary>Tails at the start, middle and end of the folio: raw word and compound_head() both exact.</summary>
    private static void AssertTails(Machine m, ulong headPfn, int order, ulong headVa, ulong expectedWord)
    {
        var sp = m.StructPages;
        var head = m.PfnToPage(Pfn.FromUInt64(headPfn));
        Assert.Equal(headVa, head.Address);
        Assert.Equal(head, sp.CompoundHead(head)); // a head's compound_info has bit 0 clear: the page itself
        ulong n = 1UL << order;
        foreach (ulong i in new[] { 1UL, 2UL, n / 2, n - 1 })
        {
            var tail = m.PfnToPage(Pfn.FromUInt64(headPfn + i));
            Assert.Equal(headVa + i * (ulong)m.Layout.Size, tail.Address);
            Assert.Equal(expectedWord, sp.CompoundHeadRaw(tail));
            Assert.True(sp.PageTail(tail));
            Assert.Equal(headVa, sp.CompoundHead(tail).Address);
        }
    }

    // x86_64, SPARSEMEM_VMEMMAP: 0xffffea0000000000 + pfn × 64. Order 9: shift 15 → 0xffffffffffff8001; order 18:
    // shift 24 → 0xffffffffff000001. v7.0 keeps head + 1.
    [Theory]
    [InlineData("7.1", "hugepagesz=2M hugepages=1", 2UL << 20, 9, true)]
    [InlineData("7.1", "default_hugepagesz=1G hugepagesz=1G hugepages=1", 1UL << 30, 18, true)]
    [InlineData("7.0", "hugepagesz=2M hugepages=1", 2UL << 20, 9, false)]
    [InlineData("7.0", "default_hugepagesz=1G hugepagesz=1G hugepages=1", 1UL << 30, 18, false)]
    public void Vmemmap_X86_64_TailWordAndHead(string version, string hugepages, ulong size, int order, bool mask)
    {
        var m = Boot("x86_64", KernelVersion.Parse(version), MemoryModel.SparsememVmemmap, Ram((0, 3 * G), (4 * G, 21 * G)), hugepages);
        Assert.Equal(mask, m.CompoundInfoHasMask);
        ulong headPfn = HeadPfn(m, size);
        Assert.Equal(0UL, headPfn & ((1UL << order) - 1));
        ulong headVa = X86Vmemmap + headPfn * 64;
        ulong word = mask ? (order == 9 ? 0xffffffffffff8001UL : 0xffffffffff000001UL) : headVa + 1;
        AssertTails(m, headPfn, order, headVa, word);
    }

    // The 1 GiB page of this layout is the top-down one below the vmemmap buffer (HugetlbPoolTests: 19G on v5.12):
    // pfn 0x4c0000, head 0xffffea0000000000 + 0x4c0000 × 64 = 0xffffea0013000000.
    [Fact]
    public void Vmemmap_X86_64_V71_GiganticHeadAddress()
    {
        var m = Boot("x86_64", KernelVersion.V7_1, MemoryModel.SparsememVmemmap, Ram((0, 3 * G), (4 * G, 21 * G)), "default_hugepagesz=1G hugepagesz=1G hugepages=1");
        Assert.Equal(0x4c0000UL, HeadPfn(m, 1 * G));
        AssertTails(m, 0x4c0000, 18, 0xffffea0013000000UL, 0xffffffffff000001UL);
    }

    // FLATMEM (riscv64 keeps it at v7.1): HUGETLB_PAGE_OPTIMIZE_VMEMMAP depends on SPARSEMEM_VMEMMAP, so head | 1.
    [Theory]
    [InlineData("hugepagesz=2M hugepages=1", 2UL << 20, 9)]
    [InlineData("hugepagesz=1G hugepages=1", 1UL << 30, 18)]
    public void Flatmem_Riscv64_V71_KeepsHeadPointer(string hugepages, ulong size, int order)
    {
        var m = Boot("riscv64", KernelVersion.V7_1, MemoryModel.Flatmem, Ram((2 * G, 6 * G)), hugepages);
        Assert.False(m.CompoundInfoHasMask);
        ulong headPfn = HeadPfn(m, size);
        ulong headVa = ArrayAddress(m, headPfn);
        AssertTails(m, headPfn, order, headVa, headVa + 1);
    }

    // Classic SPARSEMEM (x86_64 booted against its Kconfig, as a .config may ask): per-section memmaps are neither
    // contiguous nor aligned, which is why the kernel limits the mask to HVO (SPARSEMEM_VMEMMAP); head | 1 stays.
    [Fact]
    public void ClassicSparsemem_X86_64_V71_KeepsHeadPointer()
    {
        var m = Boot("x86_64", KernelVersion.V7_1, MemoryModel.Sparsemem, Ram((0, 3 * G), (4 * G, 9 * G)), "hugepagesz=2M hugepages=1", allowKconfig: true);
        Assert.False(m.CompoundInfoHasMask);
        ulong headPfn = HeadPfn(m, 2 * M);
        ulong headVa = ArrayAddress(m, headPfn);
        AssertTails(m, headPfn, 9, headVa, headVa + 1);
    }

    // 1 GiB on the same machine: 7b4f21f5e038 only WARNs in hugetlb_add_hstate() (order 18 > MAX_FOLIO_ORDER), the
    // size is registered and alloc_bootmem() takes the page from memblock with no order check (mm/hugetlb.c), so the
    // pool has it. Its tails are prepared with page + i (v6.18+): right from the node's sparse buffer, where each
    // present section's memmap (32768 × 64 B = 2 MiB) follows the previous one, so no store goes astray.
    [Fact]
    public void ClassicSparsemem_X86_64_V71_OneGig_WarnsAtRegistration_BootPageAllocated_BufferMemmapsNoStrayStore()
    {
        var g = Boot("x86_64", KernelVersion.V7_1, MemoryModel.Sparsemem, Ram((0, 3 * G), (4 * G, 9 * G)), "hugepagesz=1G hugepages=1", allowKconfig: true);
        var h = g.Hugetlb.Find(1 * G);
        Assert.NotNull(h);
        Assert.Equal(1UL, h.NrHugePages);
        Assert.Contains(g.KernelLog, l => l.StartsWith("WARNING: ", StringComparison.Ordinal) && l.Contains("hugetlb_add_hstate", StringComparison.Ordinal));
        Assert.Equal(0UL, g.StrayWrites.N);
    }

    // The same with per-section memblock memmaps (--placement scattered: each below the previous): page + i leaves
    // the head section's memmap at tail 32768, so tails 32768..262143 (7 × 32768 = 229376) are written through
    // pointers that are not their struct pages: three stores each (PG_reserved cleared, _refcount 0,
    // compound_info), 688128 stray stores.
    [Fact]
    public void ClassicSparsemem_X86_64_V71_OneGig_ScatteredMemmaps_PrepWritesThroughPagePlusI()
    {
        var a = ArchProfiles.Get("x86_64", KernelVersion.V7_1);
        var g = Machine.Boot(new MachineSpec
        {
            Arch = a,
            Model = MemoryModel.Sparsemem,
            Placement = MemmapPlacement.Scattered,
            Ram = Ram((0, 3 * G), (4 * G, 9 * G)),
            Hugepages = HugepagesCmdline.Parse("hugepagesz=1G hugepages=1", a.DefaultHugePageSize!.Bytes),
            AllowKconfigViolations = true,
        });
        Assert.Equal(1UL, g.Hugetlb.Find(1 * G)!.NrHugePages);
        Assert.Equal(688128UL, g.StrayWrites.N);
    }

    // The fourth model, DISCONTIGMEM (i386 NUMA), exists only before v5.14, long before compound_info: node_mem_map +
    // offset, head + 1. At v7.1 it is not offered.
    [Fact]
    public void Discontigmem_I386_V511_HeadPointer_AndGoneAtV71()
    {
        var m = Boot("i386", KernelVersion.V5_11, MemoryModel.Discontigmem, Ram((0, 768 * M)), "hugepagesz=4M hugepages=1");
        Assert.False(m.CompoundInfoHasMask);
        ulong headPfn = HeadPfn(m, 4 * M);
        ulong headVa = ArrayAddress(m, headPfn);
        AssertTails(m, headPfn, 10, headVa, headVa + 1);
        Assert.DoesNotContain(MemoryModel.Discontigmem, ArchProfiles.Get("i386", KernelVersion.V7_1).Models);
    }

    // 32-bit: sizeof(struct page) is 32, a power of two, but i386 has no HVO (and no VMEMMAP): head | 1.
    [Fact]
    public void I386_V71_KeepsHeadPointer()
    {
        var m = Boot("i386", KernelVersion.V7_1, MemoryModel.Sparsemem, Ram((0, 768 * M)), "hugepagesz=4M hugepages=1");
        Assert.False(m.CompoundInfoHasMask);
        ulong headPfn = HeadPfn(m, 4 * M);
        ulong headVa = ArrayAddress(m, headPfn);
        AssertTails(m, headPfn, 10, headVa, headVa + 1);
    }

    // arm64 4K at v7.1 with RAM at 1 GiB: memstart_addr 1G, pfn_to_page(0) = VMEMMAP_START − 0x40000 × 64 =
    // VMEMMAP_START − 16 MiB; MAX_FOLIO_VMEMMAP_ALIGN = 2^(34−12) × 64 = 256 MiB. With CONFIG_DEBUG_VM sparse_init()
    // warns; a 2 MiB head (pfn 512-aligned, so its struct page is 32 KiB-aligned) is still found right by the mask.
    [Fact]
    public void Arm64_V71_DebugVm_WarnsOnMisalignedMemmap_SmallFoliosStillRight()
    {
        var m = Boot("arm64-4k", KernelVersion.V7_1, MemoryModel.SparsememVmemmap, Ram((1 * G, 5 * G)), "hugepagesz=2M hugepages=1", debugVm: true);
        Assert.True(m.CompoundInfoHasMask);
        Assert.Equal(256 * M, m.MaxFolioVmemmapAlign);
        ulong start = unchecked(0UL - (1UL << 42)); // VMEMMAP_START = −(1 << (48 − (12 − 6)))
        Assert.Equal(start - 16 * M, m.Memory.Vmemmap);
        Assert.Contains(m.KernelLog, l => l.StartsWith("WARNING: CPU: 0 PID: 0 at mm/sparse.c sparse_init", StringComparison.Ordinal));
        ulong headPfn = HeadPfn(m, 2 * M);
        AssertTails(m, headPfn, 9, start - 16 * M + headPfn * 64, 0xffffffffffff8001UL);
    }

    // x86_64's vmemmap base is 256 MiB-aligned: no warning even with CONFIG_DEBUG_VM.
    [Fact]
    public void X86_64_V71_DebugVm_AlignedMemmap_NoWarning()
    {
        var m = Boot("x86_64", KernelVersion.V7_1, MemoryModel.SparsememVmemmap, Ram((0, 3 * G), (4 * G, 9 * G)), "hugepagesz=2M hugepages=1", debugVm: true);
        Assert.DoesNotContain(m.KernelLog, l => l.Contains("mm/sparse.c sparse_init", StringComparison.Ordinal));
    }

    // riscv64 v7.1 (476849b0fba4): vmemmap_start_pfn = round_down(phys_ram_base, max(128 MiB, MAX_FOLIO_NR_PAGES × 64 =
    // 2^22 × 64 = 256 MiB)) >> PAGE_SHIFT = 2 GiB >> 12 = 0x80000, so pfn_to_page(0) = VMEMMAP_START (0xffffffc700000000)
    // − 0x80000 × 64 = 0xffffffc6fe000000: not 256 MiB-aligned, and sparse_init() WARNs under DEBUG_VM. A 1 GiB head's
    // struct page (pfn a multiple of 0x40000: base + a multiple of 16 MiB) is still 16 MiB-aligned, as −32 MiB is, so
    // the order-18 mask GENMASK(63, 24) finds every head.
    [Fact]
    public void Riscv64_V71_RamAt2G_VmemmapOffTheMaxFolioAlignment_Warns_OneGigHeadsStillRight()
    {
        var m = Boot("riscv64", KernelVersion.V7_1, MemoryModel.SparsememVmemmap, Ram((2 * G, 6 * G)), "hugepagesz=1G hugepages=1", debugVm: true);
        Assert.True(m.CompoundInfoHasMask);
        Assert.Equal(0xffffffc6fe000000UL, m.Memory.Vmemmap);
        Assert.Contains(m.KernelLog, l => l.StartsWith("WARNING: CPU: 0 PID: 0 at mm/sparse.c sparse_init", StringComparison.Ordinal));
        ulong headPfn = HeadPfn(m, 1 * G);
        AssertTails(m, headPfn, 18, 0xffffffc6fe000000UL + headPfn * 64, 0xffffffffff000001UL);
    }

    // RAM from 2304 MiB (0x90000000, a multiple of 256 MiB): vmemmap_start_pfn 0x90000, pfn_to_page(0) =
    // 0xffffffc700000000 − 0x90000 × 64 = 0xffffffc6fdc00000. The 1 GiB page at pfn 0x140000 has its struct page at
    // base + 0x5000000 = 0xffffffc702c00000, 12 MiB into a 16 MiB block, so its first tail masked by GENMASK(63, 24)
    // is 0xffffffc702000000: the struct page of pfn (0x702000000 − 0x6fdc00000) / 64 = 0x110000, not the head.
    [Fact]
    public void Riscv64_V71_RamAt2304M_MaskFindsTheWrongHead()
    {
        var m = Boot("riscv64", KernelVersion.V7_1, MemoryModel.SparsememVmemmap, Ram((2304 * M, 8 * G)), "hugepagesz=1G hugepages=2", debugVm: true);
        Assert.Equal(0xffffffc6fdc00000UL, m.Memory.Vmemmap);
        var h = m.Hugetlb.Find(1 * G);
        Assert.NotNull(h);
        Assert.Contains(0x140000UL, h.FreeList(0));
        var head = m.PfnToPage(Pfn.FromUInt64(0x140000));
        Assert.Equal(0xffffffc702c00000UL, head.Address);
        Assert.Equal(0xffffffc702000000UL, m.StructPages.CompoundHead(head.Add(1, 64)).Address);
        Assert.Equal(0xffffffc702000000UL, m.PfnToPage(Pfn.FromUInt64(0x110000)).Address);
    }

    // A wrong pointer read back through the mask: the struct page one past the folio's last tail is the next pfn's
    // page (a free buddy page, compound_info 0): the page itself, as before. A pointer into the middle of a tail
    // (tail + 8) reads that tail's lru.prev word instead, whose bit 0 decides.
    [Fact]
    public void Mask_PageAfterFolio_IsItsOwnHead()
    {
        var m = Boot("x86_64", KernelVersion.V7_1, MemoryModel.SparsememVmemmap, Ram((0, 3 * G), (4 * G, 21 * G)), "hugepagesz=2M hugepages=1");
        ulong headPfn = HeadPfn(m, 2 * M);
        var after = m.PfnToPage(Pfn.FromUInt64(headPfn + 512));
        Assert.Equal(0UL, m.StructPages.CompoundHeadRaw(after) & 1);
        Assert.Equal(after, m.StructPages.CompoundHead(after));
    }
}
