using GupSim.Arch;
using GupSim.Hugetlb;
using GupSim.Memory;
using GupSim.Mm;
using GupSim.Pages;
using static GupSim.Tests.Memory.TestMachines;

namespace GupSim.Tests.Hugetlb;

/// <summary>
/// PageHuge() (mm/hugetlb.c, v5.11): PageCompound(page), then compound_head(page)[1].compound_dtor ==
/// HUGETLB_PAGE_DTOR (2), read from the struct pages themselves. x86_64 VMEMMAP: struct page of pfn p at
/// 0xffffea0000000000 + p × 64; page[1].compound_dtor is the byte at + 64 + 16 (kernel-facts.md §3.1).
/// </summary>
public class PageHugeTests
{
    /// <summary>An x86_64 VMEMMAP machine of 1 GiB with one 2 MiB pool page, mapped privately and written: the machine, the process and the head pfn.</summary>
    internal static (Machine M, MmStruct Mm, ulong Head) FaultedHugetlbPage(string version)
    {
        var m = Machine.Boot(new MachineSpec
        {
            Arch = ArchProfiles.Get("x86_64", KernelVersion.Parse(version)),
            Model = MemoryModel.SparsememVmemmap,
            Ram = Ram((0, G)),
            Hugepages = HugepagesCmdline.Parse("hugepagesz=2M hugepages=1", null),
        });
        var mm = MmStruct.Create(m)!;
        long a = mm.Mmap(0, 2 * M, Prot.Read | Prot.Write, MapFlags.Private | MapFlags.Anonymous | MapFlags.Hugetlb | MapHuge.For(2 * M));
        Assert.Equal(VmFault.None, mm.HandleMmFault((ulong)a, FaultFlags.Write));
        return (m, mm, mm.WalkLeaf((ulong)a)!.Value.Entry.Pfn.Value);
    }

    private static (Machine M, ulong Head) HugetlbPage(string version)
    {
        var (m, _, head) = FaultedHugetlbPage(version);
        return (m, head);
    }

    private static PagePtr At(ulong pfn) => PagePtr.FromAddress(KnownAddresses.X86_64Vmemmap + pfn * 64);

    [Fact]
    public void PageHuge_PoolPage_HeadAndTails_True_IsHugetlbHeadOnlyForTheHead()
    {
        var (m, head) = HugetlbPage("5.11");
        Assert.Equal(2, m.Memory.ReadU8(At(head).Address + 64 + 16, "test"));
        Assert.True(m.Hugetlb.PageHuge(At(head)));
        Assert.True(m.Hugetlb.PageHuge(At(head + 511)));
        Assert.True(m.Hugetlb.IsHugetlbHead(head));
        Assert.False(m.Hugetlb.IsHugetlbHead(head + 1));
    }

    [Fact]
    public void PageHuge_AnswersFromTheDtorByte_NotFromWhoAllocatedThePage()
    {
        var (m, head) = HugetlbPage("5.11");
        // COMPOUND_PAGE_DTOR (1) written over page[1].compound_dtor: the same pool page is no longer PageHuge.
        m.Memory.WriteU8(At(head).Address + 64 + 16, 1, "test");
        Assert.False(m.Hugetlb.PageHuge(At(head)));
        Assert.False(m.Hugetlb.IsHugetlbHead(head));

        // An order-0 buddy page dressed as a hugetlb head (PG_head, page[1].compound_dtor 2) is PageHuge.
        Assert.True(m.TryAllocPages(1, 0, "test", out var pfn));
        var p = At(pfn.Value);
        Assert.False(m.Hugetlb.PageHuge(p));
        m.StructPages.SetFlag(p, PageFlagBits.Head);
        m.Memory.WriteU8(p.Address + 64 + 16, 2, "test");
        Assert.True(m.Hugetlb.PageHuge(p));
    }

    [Fact]
    public void PageHuge_PointerIntoKernelData_AnswersFromTheBytesThere()
    {
        var (m, _) = HugetlbPage("5.11");
        ulong va = KnownAddresses.X86_64PageOffset + 16 * M + 8192; // kernel image: not a struct page
        Assert.Equal(AddressKind.Other, m.Describe(va).Kind);
        var p = PagePtr.FromAddress(va);
        // The expected answer from the bytes as the test reads them (PageCompound, compound_head, page[1] byte).
        ulong flags = m.Memory.ReadWord(va, "test"), ch = m.Memory.ReadWord(va + 8, "test");
        bool compound = (flags & (1UL << PageFlagBits.Head)) != 0 || (ch & 1) != 0;
        ulong headVa = (ch & 1) != 0 ? ch - 1 : va;
        bool expected = compound && m.Memory.ReadU8(headVa + 64 + 16, "test") == 2;
        Assert.True((ch & 1) == 0 || m.Describe(headVa).Kind != AddressKind.Unmapped, "this seed's compound_head points nowhere: pick another address");
        Assert.Equal(expected, m.Hugetlb.PageHuge(p));

        // Then with chosen bytes: PG_head and a 2 in page[1]'s dtor byte → true; dtor 3 (TRANSHUGE) → false.
        m.Memory.WriteWord(va, 1UL << PageFlagBits.Head, "test");
        m.Memory.WriteWord(va + 8, 0, "test");
        m.Memory.WriteU8(va + 64 + 16, 2, "test");
        Assert.True(m.Hugetlb.PageHuge(p));
        m.Memory.WriteU8(va + 64 + 16, 3, "test");
        Assert.False(m.Hugetlb.PageHuge(p));
    }

    [Fact]
    public void PageHuge_V6_6_NoDtorByte_PoolPageStillHuge()
    {
        // v6.6 marks hugetlb folios with PG_hugetlb in page[1].flags (9c5ccf2db04b), which GupSim's layout does not
        // hold: PageHuge() answers from the pool's table there (docs/architecture.md).
        var (m, head) = HugetlbPage("6.6");
        Assert.True(m.Hugetlb.PageHuge(At(head)));
        Assert.True(m.Hugetlb.IsHugetlbHead(head));
        Assert.False(m.Hugetlb.IsHugetlbHead(head + 1));
    }
}
