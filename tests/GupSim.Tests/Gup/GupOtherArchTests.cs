using GupSim.Arch;
using GupSim.Memory;

namespace GupSim.Tests.Gup;

/// <summary>
/// The "never wrong" run (every entry, fast and slow, in calls of 1, 123, 512 and all) on the arches the x86_64,
/// arm64 and ppc64 matrix leaves out; expected addresses from <see cref="KnownAddresses"/> (riscv64's and s390x's
/// literal vmemmap bases, the memblock placement through the literal PAGE_OFFSET on 32-bit).
/// </summary>
public class GupOtherArchTests
{
    [Theory]
    [InlineData("riscv64", "2M", "6.1", MemoryModel.SparsememVmemmap, 8UL << 30)]
    [InlineData("riscv64", "2M", "5.12", MemoryModel.Sparsemem, 8UL << 30)]
    [InlineData("i386", "4M", "5.12", MemoryModel.Flatmem, 512UL << 20)]
    [InlineData("i386", "4M", "5.12", MemoryModel.Sparsemem, 512UL << 20)]
    [InlineData("i386-pae", "2M", "5.12", MemoryModel.Sparsemem, 512UL << 20)]
    [InlineData("armhf-lpae", "2M", "5.12", MemoryModel.Flatmem, 512UL << 20)]
    [InlineData("sh", "4M", "5.12", MemoryModel.Flatmem, 64UL << 20)]
    public void NeverWrong_OnOtherArches(string arch, string size, string version, MemoryModel model, ulong ram)
    {
        var s = GupMatrix.BootAndFault(arch, size, version, model, MemmapPlacement.BootBuffer, ram);
        if (model == MemoryModel.SparsememVmemmap)
        {
            // The head's struct page spelled out from the literal: riscv64 before v6.8, vmemmap = VMEMMAP_START.
            ulong start = KnownAddresses.Riscv64VmemmapStart;
            Assert.Equal(start + s.HeadPfn * 64, GupMatrix.Page(s.M, s.HeadPfn).Address);
        }
        GupMatrix.RunNeverWrong(arch, size, version, model, MemmapPlacement.BootBuffer, ram);
    }

    /// <summary>
    /// s390x: TASK_SIZE_MAX is −PAGE_SIZE and mmap_base is measured from STACK_TOP = _REGION2_SIZE (1 &lt;&lt; 42,
    /// arch/s390/include/asm/processor.h): 0x40000000000 less the 128 MiB gap is 0x3fff8000000, so the first 1 MiB
    /// hugetlb mapping, top-down, starts 1 MiB below it.
    /// </summary>
    [Fact]
    public void S390x_FirstHugetlbMapping_BelowStackTopLessTheGap()
    {
        var s = GupMatrix.BootAndFault("s390x", "1M", "6.1", MemoryModel.SparsememVmemmap, MemmapPlacement.BootBuffer);
        Assert.Equal(0xFFFFFFFFFFFFF000UL, s.Mm.TaskSize);
        Assert.Equal(0x3FFF8000000UL, s.Mm.MmapBase);
        Assert.Equal(0x3FFF7F00000UL, s.Addr);
    }

    [Fact]
    public void NeverWrong_S390x_1M() =>
        GupMatrix.RunNeverWrong("s390x", "1M", "6.1", MemoryModel.SparsememVmemmap, MemmapPlacement.BootBuffer);
}
