using GupSim.Arch;
using GupSim.Gup;
using GupSim.Mm;
using GupSim.Pages;
using static GupSim.Tests.Memory.TestMachines;

namespace GupSim.Tests.Gup;

/// <summary>
/// FOLL_PIN on a transparent huge page and on a small page, and unpin_user_pages_dirty_lock(), with exact counts:
/// a compound page with an exact pincount (order ≥ 2; hpage_pincount_available()) takes +1 on _refcount and +1 on
/// the compound pincount per pinned subpage; a small page takes GUP_PIN_COUNTING_BIAS (1024) on _refcount
/// (mm/gup.c try_grab_compound_head() / try_grab_page(), v5.11–v6.1).
/// </summary>
public class ThpPinTests
{
    private static (Machine M, MmStruct Mm, ulong Addr) AnonThp(string version)
    {
        var m = Machine.Boot(new MachineSpec { Arch = ArchProfiles.Get("x86_64", KernelVersion.Parse(version)), Ram = Ram((0, 4 * G)) });
        var mm = MmStruct.Create(m)!;
        long a = mm.Mmap(0, 4 * M, Prot.Read | Prot.Write, MapFlags.Private | MapFlags.Anonymous);
        Assert.True(a > 0);
        ulong addr = ((ulong)a + 2 * M - 1) & ~(2 * M - 1); // a 2 MiB aligned range inside
        Assert.Equal(0, mm.Madvise(addr, 2 * M, Madvise.HugePage));
        Assert.Equal(VmFault.None, mm.HandleMmFault(addr, FaultFlags.Write) & VmFault.Error);
        return (m, mm, addr);
    }

    [Theory]
    [InlineData("5.11", true)]
    [InlineData("5.12", false)]
    [InlineData("6.1", true)]
    [InlineData("6.1", false)]
    public void PinThp_RefcountAndPincountExact_ThenUnpinDirtyLock(string version, bool fast)
    {
        var (m, mm, addr) = AnonThp(version);
        var leaf = mm.WalkLeaf(addr)!.Value.Entry;
        Assert.True(leaf.IsHuge, "the write fault on a MADV_HUGEPAGE range maps a PMD THP");
        ulong head = leaf.Pfn.Value;
        Assert.Equal(0UL, head % 512);
        var headPage = PagePtr.FromAddress(KnownAddresses.X86_64Vmemmap + head * 64);
        var sp = m.StructPages;
        Assert.Equal((1, 0), (sp.Refcount(headPage), sp.CompoundPincount(headPage))); // the mapping's reference
        var gup = new GetUserPages(m);
        var pages = new PagePtr[512];
        long got = fast ? gup.PinUserPagesFast(mm, addr, 512, FollFlags.Write, pages) : gup.PinUserPagesRemote(mm, addr, 512, FollFlags.Write, pages);
        Assert.Equal(512, got);
        for (int i = 0; i < 512; i++) Assert.Equal(KnownAddresses.X86_64Vmemmap + (head + (ulong)i) * 64, pages[i].Address);
        Assert.Equal((1 + 512, 512), (sp.Refcount(headPage), sp.CompoundPincount(headPage)));
        Assert.True(m.Grab.PageMaybeDmaPinned(pages[300]));
        sp.ClearFlag(headPage, PageFlagBits.Dirty);
        m.Grab.UnpinUserPagesDirtyLock(pages, makeDirty: true);
        Assert.Equal((1, 0), (sp.Refcount(headPage), sp.CompoundPincount(headPage)));
        Assert.True(sp.TestFlag(headPage, PageFlagBits.Dirty)); // set_page_dirty_lock() on the head
        Assert.Equal((512L, 512L), (m.Grab.FollPinAcquired, m.Grab.FollPinReleased));
    }

    [Theory]
    [InlineData("5.12")]
    [InlineData("6.1")]
    public void PinSmallPage_TakesTheBias_AndUnpinDirtyLockWithoutDirtyLeavesTheFlag(string version)
    {
        var m = Machine.Boot(new MachineSpec { Arch = ArchProfiles.Get("x86_64", KernelVersion.Parse(version)), Ram = Ram((0, 4 * G)) });
        var mm = MmStruct.Create(m)!;
        long a = mm.Mmap(0, 8192, Prot.Read | Prot.Write, MapFlags.Private | MapFlags.Anonymous);
        Assert.Equal(VmFault.None, mm.HandleMmFault((ulong)a, FaultFlags.Write) & VmFault.Error);
        ulong pfn = mm.WalkLeaf((ulong)a)!.Value.Entry.Pfn.Value;
        var page = PagePtr.FromAddress(KnownAddresses.X86_64Vmemmap + pfn * 64);
        var sp = m.StructPages;
        var pages = new PagePtr[1];
        Assert.Equal(1, new GetUserPages(m).PinUserPagesFast(mm, (ulong)a, 1, FollFlags.Write, pages));
        Assert.Equal(page, pages[0]);
        Assert.Equal(1 + Grab.GupPinCountingBias, sp.Refcount(page)); // 1025
        sp.ClearFlag(page, PageFlagBits.Dirty);
        m.Grab.UnpinUserPagesDirtyLock(pages, makeDirty: false);
        Assert.Equal(1, sp.Refcount(page));
        Assert.False(sp.TestFlag(page, PageFlagBits.Dirty));
    }
}
