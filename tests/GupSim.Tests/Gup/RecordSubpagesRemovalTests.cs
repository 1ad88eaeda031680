using GupSim.Arch;
using GupSim.Core;
using GupSim.Gup;
using GupSim.Hugetlb;
using GupSim.Mm;
using GupSim.Pages;
using static GupSim.Tests.Memory.TestMachines;

namespace GupSim.Tests.Gup;

/// <summary>
/// The September 2025 mm-tree regression from "mm/gup: remove record_subpages()" (v2 19/37, fixed on 2025-09-05 by
/// folding in <c>pages += *nr</c>): gup_fast_pmd_leaf() filled <c>*(pages++) = page++</c> from the array the walk was
/// given, so the second PMD leaf of one call overwrote the first leaf's entries and left its own slots untouched.
/// Two 2 MiB hugetlb pages pinned in one gup-fast call; expected struct pages are vmemmap + pfn × 64 (x86_64 v6.18
/// forces SPARSEMEM_VMEMMAP), the references as try_grab_folio_fast() takes them: +refs on the head's _refcount and
/// +refs on the folio's _pincount, on the right folio even when pages[] is wrong.
/// </summary>
public class RecordSubpagesRemovalTests
{
    private static (Machine M, MmStruct Mm, ulong Addr, ulong H1, ulong H2) TwoHugePages()
    {
        var m = Machine.Boot(new MachineSpec
        {
            Arch = ArchProfiles.Get("x86_64", KernelVersion.V6_18),
            Ram = Ram((0, 4 * G)),
            Hugepages = HugepagesCmdline.Parse("hugepagesz=2M hugepages=2", null),
        });
        var mm = MmStruct.Create(m)!;
        long a = mm.Mmap(0, 4 * M, Prot.Read | Prot.Write, MapFlags.Private | MapFlags.Anonymous | MapFlags.Hugetlb);
        Assert.True(a > 0);
        ulong addr = (ulong)a;
        Assert.Equal(VmFault.None, mm.HandleMmFault(addr, FaultFlags.Write) & VmFault.Error);
        Assert.Equal(VmFault.None, mm.HandleMmFault(addr + 2 * M, FaultFlags.Write) & VmFault.Error);
        ulong h1 = mm.WalkLeaf(addr)!.Value.Entry.Pfn.Value, h2 = mm.WalkLeaf(addr + 2 * M)!.Value.Entry.Pfn.Value;
        return (m, mm, addr, h1, h2);
    }

    private static PagePtr Page(ulong pfn) => PagePtr.FromAddress(KnownAddresses.X86_64Vmemmap + pfn * 64);

    [Fact]
    public void V6_18_TwoLeavesInOneCall_EveryEntryItsOwnSubpage()
    {
        var (m, mm, addr, h1, h2) = TwoHugePages();
        var gup = new GetUserPages(m);
        var pages = new PagePtr[1024];
        Assert.Equal(1024, gup.PinUserPagesFast(mm, addr, 1024, FollFlags.Write, pages));
        for (int j = 0; j < 512; j++) Assert.Equal(Page(h1 + (ulong)j), pages[j]);
        for (int j = 512; j < 1024; j++) Assert.Equal(Page(h2 + (ulong)(j - 512)), pages[j]);
        var sp = m.StructPages;
        Assert.Equal((513, 512), (sp.Refcount(Page(h1)), sp.CompoundPincount(Page(h1))));
        Assert.Equal((513, 512), (sp.Refcount(Page(h2)), sp.CompoundPincount(Page(h2))));
        m.Grab.UnpinUserPages(pages);
        Assert.Equal((1, 0), (sp.Refcount(Page(h1)), sp.CompoundPincount(Page(h1))));
        Assert.Equal((1, 0), (sp.Refcount(Page(h2)), sp.CompoundPincount(Page(h2))));
    }

    [Fact]
    public void MmUnstable202509_SecondLeafOverwritesTheFirst_TheRestStaysNull_UnpinOopsesAtTheFirstNull()
    {
        var (m, mm, addr, h1, h2) = TwoHugePages();
        var gup = new GetUserPages(m, GupStrategy.Named(GupStrategy.MmUnstable202509, m.Version));
        var pages = new PagePtr[1024]; // kvcalloc()'d, as gup_test's module allocates it: every slot NULL
        Assert.Equal(1024, gup.PinUserPagesFast(mm, addr, 1024, FollFlags.Write, pages));
        // The first leaf wrote pages[0..512) with h1's subpages, then the second wrote the same slots with h2's.
        for (int j = 0; j < 512; j++) Assert.Equal(Page(h2 + (ulong)j), pages[j]);
        for (int j = 512; j < 1024; j++) Assert.Equal(PagePtr.Null, pages[j]);
        var sp = m.StructPages;
        Assert.Equal((513, 512), (sp.Refcount(Page(h1)), sp.CompoundPincount(Page(h1))));
        Assert.Equal((513, 512), (sp.Refcount(Page(h2)), sp.CompoundPincount(Page(h2))));
        // unpin_user_pages(): gup_folio_next() extends h2's run while page_folio(pages[nr]) is the same folio, so it
        // reads NULL->compound_head (offset 8) at pages[512] before it puts anything: the null-ptr-deref syzbot
        // reported, with both folios still holding every reference.
        var e = Assert.Throws<KernelOops>(() => m.Grab.UnpinUserPages(pages));
        Assert.StartsWith("BUG: unable to handle page fault for address: 0000000000000008", e.Message);
        Assert.Equal((513, 512), (sp.Refcount(Page(h2)), sp.CompoundPincount(Page(h2))));
        Assert.Equal((513, 512), (sp.Refcount(Page(h1)), sp.CompoundPincount(Page(h1))));
    }

    [Fact]
    public void MmUnstable202509_OneLeafPerCall_IsRight()
    {
        // -n 512 on 2 MiB pages: every call covers exactly one PMD leaf from pages[0], so the missing offset never shows.
        var (m, mm, addr, h1, h2) = TwoHugePages();
        var gup = new GetUserPages(m, GupStrategy.Named(GupStrategy.MmUnstable202509, m.Version));
        var pages = new PagePtr[1024];
        Assert.Equal(512, gup.PinUserPagesFast(mm, addr, 512, FollFlags.Write, pages.AsSpan(0, 512)));
        Assert.Equal(512, gup.PinUserPagesFast(mm, addr + 2 * M, 512, FollFlags.Write, pages.AsSpan(512)));
        for (int j = 0; j < 512; j++) Assert.Equal(Page(h1 + (ulong)j), pages[j]);
        for (int j = 512; j < 1024; j++) Assert.Equal(Page(h2 + (ulong)(j - 512)), pages[j]);
    }
}
