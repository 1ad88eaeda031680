using GupSim.Arch;
using GupSim.Core;
using GupSim.Memory;
using static GupSim.Tests.Memory.TestMachines;

namespace GupSim.Tests.Memory;

/// <summary>
/// Every arch profile × every memory model it can build × v5.11, v5.12, v6.1: boot one RAM range at the arch's
/// default RAM start and check the translations exactly (include/asm-generic/memory_model.h; FLATMEM, DISCONTIGMEM and VMEMMAP are never wrong).
/// </summary>
public class ModelMatrixTests
{
    private static readonly KernelVersion[] Versions = [KernelVersion.V5_11, KernelVersion.V5_12, KernelVersion.V6_1];

    private static IEnumerable<(string Name, KernelVersion V, MemoryModel Model)> AllCombinations()
    {
        foreach (string name in ArchProfiles.Names)
            foreach (var v in Versions)
                foreach (var model in ArchProfiles.Get(name, v).Models)
                    yield return (name, v, model);
    }

    public static TheoryData<string, string, MemoryModel> Combinations()
    {
        var data = new TheoryData<string, string, MemoryModel>();
        foreach (var (name, v, model) in AllCombinations()) data.Add(name, v.ToString(), model);
        return data;
    }

    /// <summary>1 GiB on 32-bit, 4 GiB on 64-bit, a whole number of sections.</summary>
    private static ulong RamSize(ArchProfile arch)
    {
        ulong size = arch.BitsPerLong == 32 ? 1 * G : 4 * G;
        ulong section = 1UL << arch.SectionSizeBits;
        return (size + section - 1) & ~(section - 1);
    }

    private static Machine BootOne(ArchProfile arch, MemoryModel model) =>
        Machine.Boot(new MachineSpec
        {
            Arch = arch,
            Model = model,
            Ram = Ram((arch.DefaultRamStart, arch.DefaultRamStart + RamSize(arch))),
        });

    [Theory]
    [MemberData(nameof(Combinations))]
    public void EveryArchModelVersion_TranslatesExactly(string archName, string version, MemoryModel model) =>
        CheckTranslations(archName, version, model);

    private static void CheckTranslations(string archName, string version, MemoryModel model)
    {
        var arch = ArchProfiles.Get(archName, KernelVersion.Parse(version));
        Assert.Equal(0UL, arch.DefaultRamStart % (1UL << arch.SectionSizeBits));
        var m = BootOne(arch, model);
        Assert.Equal(model, m.Model);

        // (c) sizeof(struct page).
        Assert.Equal(arch.BitsPerLong == 64 ? 64 : 32, m.StructPageSize);
        Assert.Equal(m.StructPageSize, arch.StructPageSize);

        ulong first = arch.DefaultRamStart >> arch.PageShift;
        ulong pages = RamSize(arch) >> arch.PageShift;
        ulong last = first + pages - 1;
        ulong pps = arch.PagesPerSection;
        Assert.Equal(first, m.MinPfn);
        Assert.Equal(last + 1, m.MaxPfn);
        Assert.True(pages >= 2 * pps, $"{archName}: RAM must span at least two sections");

        // (a) round trips and Describe at the interesting pfns.
        foreach (ulong pfn in new[] { first, first + 1, first + pps - 1, first + pps, last })
        {
            var page = m.PfnToPage(Pfn.FromUInt64(pfn));
            Assert.Equal(pfn, m.PageToPfn(page).Value);
            var info = m.Describe(page);
            Assert.Equal(AddressKind.Page, info.Kind);
            Assert.Equal(pfn, info.Pfn);
            Assert.Equal(0, info.OffsetInPage);
            // (b) vmemmap is base + pfn × sizeof(struct page); arm64 and riscv bias the base so that the first RAM
            // pfn (memstart, aligned down to ARM64_MEMSTART_ALIGN on arm64) sits at VMEMMAP_START.
            if (model == MemoryModel.SparsememVmemmap)
            {
                ulong align = Math.Max(arch.MemstartAlign, arch.PageSize);
                ulong memstartPfn = arch.VmemmapBiasedByMemstart ? (arch.DefaultRamStart & ~(align - 1)) >> arch.PageShift : 0;
                Assert.Equal(arch.VmemmapBase + (pfn - memstartPfn) * (ulong)m.StructPageSize, page.Address);
            }
        }

        // (d) FLATMEM and VMEMMAP: page + k from the first pfn is pfn first + k, at every section boundary.
        if (model is MemoryModel.Flatmem or MemoryModel.SparsememVmemmap)
        {
            var firstPage = m.PfnToPage(Pfn.FromUInt64(first));
            for (ulong k = pps - 1; k < pages; k += pps)
            {
                foreach (ulong kk in new[] { k, k + 1 })
                {
                    if (kk >= pages) continue;
                    var p = m.PageAdd(firstPage, (long)kk);
                    var info = m.Describe(p);
                    Assert.Equal(AddressKind.Page, info.Kind);
                    Assert.Equal(first + kk, info.Pfn);
                    Assert.Equal(first + kk, m.PageToPfn(p).Value);
                    Assert.Equal(m.PfnToPage(Pfn.FromUInt64(first + kk)), p);
                }
            }
        }
    }

    [Fact]
    public void Matrix_CoversEveryProfileAndVersion()
    {
        var combos = AllCombinations().Select(c => (c.Name, c.V)).Distinct().ToList();
        Assert.Equal(ArchProfiles.Names.Count * Versions.Length, combos.Count);
    }

    /// <summary>
    /// Regression (found by these tests): the vmemmap area of arm64 and riscv64 runs to the top of the address space,
    /// and its end used to wrap to 0, so every vmemmap struct page was "unmapped". arm64 v6.1, RAM [1 GiB, 5 GiB):
    /// memstart = 1 GiB, so pfn 0x40000's struct page is at VMEMMAP_START and pfn 0x40200's 0x8000 bytes later.
    /// </summary>
    [Fact]
    public void Arm64_VmemmapIsBiasedByMemstart_AndStructPagesAreReadable()
    {
        var m = Boot("arm64-4k", KernelVersion.V6_1, MemoryModel.SparsememVmemmap, Ram((1 * G, 5 * G)));
        var page = m.PfnToPage(Pfn.FromUInt64(0x40200));
        Assert.Equal(0xfffffc0000000000UL + 0x200UL * 64, page.Address);
        var info = m.Describe(page);
        Assert.Equal(AddressKind.Page, info.Kind);
        Assert.Equal(0x40200UL, info.Pfn);
        Assert.Equal(1, m.StructPages.Refcount(page)); // kernel image page: reserved, refcount 1
    }
}
