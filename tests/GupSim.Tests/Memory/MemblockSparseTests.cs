using GupSim.Arch;
using GupSim.Config;
using GupSim.Core;
using GupSim.Memory;
using Xunit;

namespace GupSim.Tests.Memory;

/// <summary>
/// memblock as setup_arch() leaves it and sparse_init()'s placement (mm/memblock.c, mm/sparse.c). Every expected
/// address is worked out by hand from the kernel's rules (top-down, round_down(end − size, align), the reservation
/// order of setup_arch()) and GupSim's documented figures: kernel image 16 MiB + 48 MiB, brk 12 pages, trampoline
/// 24 KiB, NODE_DATA 0x2a000 bytes, mem_section_usage 40 bytes per section (8-byte subsection map + 256 pageblock
/// bits), 2 MiB of memmap per 128 MiB section.
/// </summary>
public sealed class MemblockSparseTests
{
    private const ulong K = 1UL << 10, M = 1UL << 20, G = 1UL << 30;
    private const ulong NodeData = 0x2a000, UsagePerSection = 40, MapSize = 2 * M;

    private static Machine Boot(RamLayout ram, MemoryModel model, MemmapPlacement placement = MemmapPlacement.BootBuffer,
        CrashkernelSpec? crash = null, InitrdSpec? initrd = null, string kernel = "5.11") =>
        Machine.Boot(new MachineSpec
        {
            Arch = ArchProfiles.Get("x86_64", KernelVersion.Parse(kernel)),
            Model = model,
            Ram = ram,
            Placement = placement,
            Crashkernel = crash,
            Initrd = initrd,
        });

    private static RamLayout Ram(params (ulong Start, ulong End)[] ranges) => TestMachines.Ram(ranges);

    private static Memblock.NamedAllocation Named(Machine m, string name) =>
        Assert.Single(m.Memblock.Allocations, a => a.Name.StartsWith(name, StringComparison.Ordinal));

    private static (ulong Base, ulong Size) At(Machine m, string name)
    {
        var a = Named(m, name);
        return (a.Base, a.Size);
    }

    [Fact]
    public void DefaultX86_64_v5_11_HasSetupArchReservationsInOrder()
    {
        // --mem 20G on x86_64: RAM [0, 3G) and [4G, 21G); the default model (VMEMMAP).
        var m = Boot(Ram((0, 3 * G), (4 * G, 21 * G)), MemoryModel.SparsememVmemmap);
        var names = m.Memblock.Allocations.Select(a => a.Name).ToList();
        string[] expectedOrder =
        [
            "kernel image", "page 0", "brk", "BIOS regions", "real mode trampoline", "low 64 KiB", "NODE_DATA(0)",
            "mem_section_usage (node 0)", "vmemmap backing (sparsemap_buf, node 0)",
        ];
        Assert.Equal(expectedOrder.Length, names.Count);
        for (int i = 0; i < expectedOrder.Length; i++) Assert.StartsWith(expectedOrder[i], names[i], StringComparison.Ordinal);

        Assert.Equal((16 * M, 48 * M), At(m, "kernel image"));
        Assert.Equal((0UL, 4 * K), At(m, "page 0"));
        Assert.Equal((64 * M, 48 * K), At(m, "brk"));                  // right after __end_of_kernel_reserve
        Assert.Equal((0x9f000UL, 0x61000UL), At(m, "BIOS regions"));   // EBDA page to 1 MiB
        Assert.Equal((0x99000UL, 0x6000UL), At(m, "real mode trampoline")); // top-down below the EBDA
        Assert.Equal((0UL, 64 * K), At(m, "low 64 KiB"));
        // alloc_node_data(): top-down on node 0: 21G − 0x2a000.
        Assert.Equal((0x53ffd6000UL, NodeData), At(m, "NODE_DATA(0)"));
        // 24 + 136 = 160 sections × 40 bytes = 0x1900, in the pgdat's section, right below it (64-byte aligned).
        Assert.Equal((0x53ffd6000UL - 0x1900, 0x1900UL), At(m, "mem_section_usage"));
        // 160 × 2 MiB = 320 MiB, 2 MiB aligned, below the usemaps: round_down(0x53ffd4700 − 0x14000000, 2M).
        Assert.Equal((0x52be00000UL, 0x14000000UL), At(m, "vmemmap backing (sparsemap_buf"));

        // memblock.reserved after merging: [0, 64K), the trampoline + BIOS run [0x99000, 1M), image + brk, the buffer,
        // and usemaps + NODE_DATA (the 2 MiB alignment leaves [0x53fe00000, 0x53ffd4700) free between them).
        var reserved = m.Memblock.Reserved.Select(r => (r.Base, r.End)).ToList();
        Assert.Equal([(0UL, 64 * K), (0x99000UL, M), (16 * M, 64 * M + 48 * K), (0x52be00000UL, 0x53fe00000UL), (0x53ffd4700UL, 21 * G)], reserved);
    }

    [Fact]
    public void X86_64_v5_13_ReservesTheWholeFirstMegabyte()
    {
        var m = Boot(Ram((0, 3 * G), (4 * G, 8 * G)), MemoryModel.SparsememVmemmap, kernel: "5.14");
        Assert.Equal((0UL, M), At(m, "first 1 MiB"));
        Assert.Equal((0UL, M), (m.Memblock.Reserved[0].Base, m.Memblock.Reserved[0].End));
        // No struct page below 1 MiB is handed to the buddy: the lowest free block starts at pfn 0x100.
        Assert.True(m.Memblock.IsReserved(0xff000, 0x100000));
        Assert.False(m.Memblock.IsReserved(0x100000, 0x101000));
    }

    [Fact]
    public void ScatteredPlacement_IsTopDownPerSection_EachMemmapRightBelowThePrevious()
    {
        // RAM [0, 3G) + [4G, 12G): 24 + 64 = 88 sections. NODE_DATA at 12G − 0x2a000 = 0x2fffd6000; usemaps
        // 88 × 40 = 0xdc0 below it at 0x2fffd5240; the first memmap round_down(0x2fffd5240 − 2M, 2M) = 0x2ffc00000.
        var m = Boot(Ram((0, 3 * G), (4 * G, 12 * G)), MemoryModel.Sparsemem, MemmapPlacement.Scattered);
        Assert.DoesNotContain(m.Memblock.Allocations, a => a.Name.StartsWith("sparsemap_buf", StringComparison.Ordinal));
        var secs = m.PresentSections;
        Assert.Equal(88, secs.Count);
        Assert.Equal(0x2fffd5240UL, At(m, "mem_section_usage").Base);
        for (int k = 0; k < secs.Count; k++)
        {
            Assert.Equal(MemmapPlacement.Scattered, secs[k].Placement);
            Assert.Equal(0x2ffc00000UL - (ulong)k * MapSize, secs[k].Array!.PhysStart);
        }
        // page++ past the last struct page of section k's memmap lands on the first struct page of section k−1's.
        Assert.Equal(secs[0].Array!.PhysStart, secs[1].Array!.PhysStart + MapSize);
        Assert.Equal(0x2f4e00000UL, secs[87].Array!.PhysStart);
    }

    [Fact]
    public void ScatteredPlacement_LeavesAGapExactlyAtACrashkernelReservation()
    {
        // crashkernel=16M@0x2fa000000 (x86 @OFFSET: memblock_phys_alloc_range(16M, 1M, base, base + 16M)) is reserved
        // before sparse_init(). Memmaps descend from 0x2ffc00000; the 39th (index 38) is at 0x2ffc00000 − 38 × 2M =
        // 0x2fb000000, the top of the crash kernel; index 39 cannot go at 0x2fae00000 and lands below the
        // reservation, at 0x2fa000000 − 2M.
        var m = Boot(Ram((0, 3 * G), (4 * G, 12 * G)), MemoryModel.Sparsemem, MemmapPlacement.Scattered,
            crash: new CrashkernelSpec(16 * M, 0x2fa000000, High: false));
        var crash = Assert.Single(m.Memblock.Allocations, a => a.Name == "crashkernel");
        Assert.Equal((0x2fa000000UL, 16 * M), (crash.Base, crash.Size));
        // Above 4 GiB, so reserve_crashkernel_low() takes 256 MiB below 4 GiB too: 3G − 256M.
        Assert.Equal((0xb0000000UL, 256 * M), At(m, "crashkernel low"));
        Assert.Equal((0UL, M), At(m, "low 1 MiB for crashkernel")); // crash_reserve_low_1M(), v5.11
        var secs = m.PresentSections;
        for (int k = 0; k <= 38; k++) Assert.Equal(0x2ffc00000UL - (ulong)k * MapSize, secs[k].Array!.PhysStart);
        Assert.Equal(0x2fb000000UL, secs[38].Array!.PhysStart);
        Assert.Equal(0x2f9e00000UL, secs[39].Array!.PhysStart);
        Assert.Equal(secs[38].Array!.PhysStart - MapSize - 16 * M, secs[39].Array!.PhysStart);
        for (int k = 40; k < secs.Count; k++) Assert.Equal(secs[k - 1].Array!.PhysStart - MapSize, secs[k].Array!.PhysStart);
    }

    [Fact]
    public void CrashkernelWithoutOffset_GoesBelow4G_AndHighGoesToTheTopWithALowPart()
    {
        var ram = Ram((0, 3 * G), (4 * G, 21 * G));
        // memblock_phys_alloc_range(256M, 16M, 16M, 4G): top-down, RAM below 4 GiB ends at 3 GiB: 3G − 256M.
        var low = Boot(ram, MemoryModel.SparsememVmemmap, crash: new CrashkernelSpec(256 * M, null, High: false));
        Assert.Equal((0xb0000000UL, 256 * M), At(low, "crashkernel"));
        // ",high": up to 64 TiB: below NODE_DATA (0x53ffd6000): round_down(0x53ffd6000 − 256M, 16M) = 0x52f000000,
        // then reserve_crashkernel_low(): 256 MiB below 4 GiB, at 3G − 256M.
        var high = Boot(ram, MemoryModel.SparsememVmemmap, crash: new CrashkernelSpec(256 * M, null, High: true));
        var crash = high.Memblock.Allocations.Where(a => a.Name == "crashkernel").ToList();
        Assert.Equal(0x52f000000UL, Assert.Single(crash).Base);
        Assert.Equal((0xb0000000UL, 256 * M), At(high, "crashkernel low"));
    }

    [Fact]
    public void CrashkernelAtABusyOffset_IsRefusedWithTheKernelsLine()
    {
        // The kernel image holds [16M, 64M): crashkernel=16M@32M is "memory is in use"; nothing is reserved.
        var m = Boot(Ram((0, 3 * G), (4 * G, 8 * G)), MemoryModel.SparsememVmemmap, crash: new CrashkernelSpec(16 * M, 32 * M, High: false));
        Assert.DoesNotContain(m.Memblock.Allocations, a => a.Name == "crashkernel");
        Assert.Contains("crashkernel reservation failed - memory is in use.", m.KernelLog);
        Assert.Single(m.Warnings, w => w.StartsWith("--crashkernel: crashkernel reservation failed - memory is in use.", StringComparison.Ordinal));
    }

    [Fact]
    public void InitrdWithoutAddress_IsPlacedBelow2GiB_AsGrubDoes()
    {
        var m = Boot(Ram((0, 3 * G), (4 * G, 8 * G)), MemoryModel.SparsememVmemmap, initrd: new InitrdSpec(64 * M + 100, null));
        // 64 MiB + 100 bytes → 64 MiB + 4 KiB, the highest page-aligned spot below initrd_addr_max + 1 = 2 GiB.
        Assert.Equal((2 * G - 64 * M - 4 * K, 64 * M + 4 * K), At(m, "initrd"));
    }

    [Fact]
    public void ExactNidBuffer_FailsOnASmallFragmentedNode_InsteadOfBorrowingAnotherNode()
    {
        // Node 1: four 4 MiB ranges in sections 64..67. sparse_buffer_init() wants 4 × 2 MiB = 8 MiB contiguous on
        // node 1 (memblock_alloc_exact_nid_raw) and no range holds it, so node 1 takes the per-section fallback on its
        // own memory; node 0's buffer is not touched.
        var node1 = new[] { 8 * G, 8 * G + 128 * M, 8 * G + 256 * M, 8 * G + 384 * M }
            .Select(b => PhysRange.FromStartEnd(b, b + 4 * M)).ToArray();
        var ram = new RamLayout([
            new NodeRam(0, [PhysRange.FromStartEnd(0, 3 * G), PhysRange.FromStartEnd(4 * G, 8 * G)]),
            new NodeRam(1, node1)], "test");
        var m = Boot(ram, MemoryModel.Sparsemem);
        Assert.DoesNotContain(m.Memblock.Allocations, a => a.Name == "sparsemap_buf (node 1)");
        // NODE_DATA(1) at 0x218400000 − 0x2a000 = 0x2183d6000; 4 usemaps (0xa0) below it, 64-byte aligned: 0x2183d5f40.
        Assert.Equal((0x2183d6000UL, NodeData), At(m, "NODE_DATA(1)"));
        Assert.Equal(0x2183d5f40UL, At(m, "mem_section_usage (node 1)").Base);
        var n1 = m.PresentSections.Where(s => s.Nid == 1).ToList();
        Assert.Equal([64UL, 65, 66, 67], n1.Select(s => s.Nr));
        Assert.All(n1, s => Assert.Equal(MemmapPlacement.Scattered, s.Placement));
        // Section 64: round_down(0x2183d5f40 − 2M, 2M) = 0x218000000 (the top range's base). The top range has only
        // [0x218200000, 0x2183d5f40) left, so 65 and 66 take the range at 8G + 256M from its top, 67 the one at 8G + 128M.
        Assert.Equal([0x218000000UL, 0x210200000, 0x210000000, 0x208200000], n1.Select(s => s.Array!.PhysStart));
        // Node 0 has its buffer: 64 sections × 2 MiB below its NODE_DATA and usemaps at the top of 8 GiB.
        var n0 = m.PresentSections.Where(s => s.Nid == 0).ToList();
        Assert.All(n0, s => Assert.Equal(MemmapPlacement.BootBuffer, s.Placement));
        // NODE_DATA(0) 0x1fffd6000, usemaps 56 × 40 = 0x8c0 at 0x1fffd5740, buffer round_down(0x1fffd5740 − 112M, 2M).
        Assert.Equal((0x1f8e00000UL, 56 * MapSize), At(m, "sparsemap_buf (node 0)"));
        Assert.Equal(0x1f8e00000UL, n0[0].Array!.PhysStart);
    }

    private const string Iomem = """
        00000000-00000fff : Reserved
        00001000-0009fbff : System RAM
        0009fc00-0009ffff : Reserved
        000f0000-000fffff : Reserved
        00100000-bffdffff : System RAM
          01000000-01e00000 : Kernel code
          3ff00000-3fffffff : reserved
        bffe0000-bfffffff : Reserved
        fed00000-fed003ff : ACPI Tables
        100000000-43fffffff : System RAM
          43f000000-43f7fffff : reserved
        """;

    [Fact]
    public void IomemReservedInsideRam_BecomesMemblockReservations_TopLevelReservedStaysOutOfRam()
    {
        var ram = MachineInput.ParseIomem(Iomem, "iomem");
        Assert.Equal([(0x3ff00000UL, 0x40000000UL), (0x43f000000UL, 0x43f800000UL)], ram.Reserved.Select(r => (r.Range.Start, r.Range.End)));
        Assert.Equal(["iomem:7", "iomem:11"], ram.Reserved.Select(r => r.Source));
        var m = Boot(ram, MemoryModel.Sparsemem);
        Assert.True(m.Memblock.IsReserved(0x3ff00000, 0x3ff01000));
        Assert.True(m.Memblock.IsReserved(0x43f7ff000, 0x43f800000));
        // e820 RESERVED / ACPI ranges are not memblock.memory at all.
        Assert.False(m.IsRam(0xbffe0000));
        Assert.False(m.IsRam(0xfed00000));
        Assert.False(m.IsRam(0x9fc00));
        // Sections 0..23 and 32..135: 128 usemaps (0x1400) under NODE_DATA (0x43ffd6000); the 256 MiB buffer does not
        // fit above the reservation at 0x43f000000, so it goes below it: round_down(0x43f000000 − 256M, 2M).
        Assert.Equal(0x43ffd6000UL - 0x1400, At(m, "mem_section_usage").Base);
        Assert.Equal((0x42f000000UL, 128 * MapSize), At(m, "sparsemap_buf (node 0)"));
    }

    [Theory]
    [InlineData("12X", "--crashkernel 12X: not SIZE, SIZE@OFFSET or SIZE,high (e.g. --crashkernel 256M, 256M@4G, 512M,high): the RANGE:SIZE form is not modelled")]
    [InlineData("1G-4G:256M", "--crashkernel 1G-4G:256M: not SIZE, SIZE@OFFSET or SIZE,high (e.g. --crashkernel 256M, 256M@4G, 512M,high): the RANGE:SIZE form is not modelled")]
    [InlineData("256M@4G,high", "--crashkernel 256M@4G,high: not SIZE, SIZE@OFFSET or SIZE,high (e.g. --crashkernel 256M, 256M@4G, 512M,high): the RANGE:SIZE form is not modelled")]
    [InlineData("0", "--crashkernel 0: the size must not be 0: give e.g. --crashkernel 256M")]
    public void BadCrashkernel_IsOneLine(string value, string message)
    {
        var e = Assert.Throws<GupSimException>(() => MachineOptions.ParseCrashkernel(value));
        Assert.Equal(message, e.Message);
    }

    [Fact]
    public void CrashkernelForms_Parse()
    {
        Assert.Equal(new CrashkernelSpec(256 * M, null, false), MachineOptions.ParseCrashkernel("256M"));
        Assert.Equal(new CrashkernelSpec(256 * M, 4 * G, false), MachineOptions.ParseCrashkernel("256M@4G"));
        Assert.Equal(new CrashkernelSpec(512 * M, null, true), MachineOptions.ParseCrashkernel("512M,high"));
        Assert.Equal(new InitrdSpec(64 * M, 0x37000000), MachineOptions.ParseInitrd("64M@0x37000000"));
    }

    [Theory]
    [InlineData("big", "--initrd big: not SIZE or SIZE@ADDR (e.g. --initrd 64M, or 64M@0x37000000 where the boot loader put it)")]
    [InlineData("0", "--initrd 0: the size must not be 0: give the initrd's size, e.g. --initrd 64M")]
    public void BadInitrd_IsOneLine(string value, string message)
    {
        var e = Assert.Throws<GupSimException>(() => MachineOptions.ParseInitrd(value));
        Assert.Equal(message, e.Message);
    }
}
