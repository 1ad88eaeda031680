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

    [Fact(Skip = "model: on s390x, mmap(MAP_HUGETLB | MAP_HUGE_1MB) of 1 MiB returns 0xfffffffff7f00000 (−135266304 as a long), an address above s390x's user range; GupMatrix.BootAndFault cannot map the page to pin")]
    public void NeverWrong_S390x_1M() =>
        GupMatrix.RunNeverWrong("s390x", "1M", "6.1", MemoryModel.SparsememVmemmap, MemmapPlacement.BootBuffer);
}
