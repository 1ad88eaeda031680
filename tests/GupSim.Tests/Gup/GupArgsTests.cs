using GupSim.Arch;
using GupSim.Gup;
using GupSim.Hugetlb;
using GupSim.Mm;
using GupSim.Pages;
using static GupSim.Tests.Memory.TestMachines;

namespace GupSim.Tests.Gup;

/// <summary>
/// Bad pages[] arguments to the GUP API (issue 9 §3): the kernel's checks per version (WARN_ON_ONCE, then −EINVAL),
/// GupSim's refusal where the kernel has none, and nothing taken either way.
/// </summary>
public class GupArgsTests
{
    private const long EINVAL = -22;

    private sealed record Setup(Machine M, MmStruct Mm, ulong Addr, PagePtr Head, ulong Free0);

    /// <summary>One 2 MiB hugetlb page mapped and faulted at a fixed address; its head (x86_64 vmemmap + pfn × 64).</summary>
    private static Setup Map(KernelVersion v)
    {
        var m = Machine.Boot(new MachineSpec
        {
            Arch = ArchProfiles.Get("x86_64", v),
            Ram = Ram((0, 3 * G)),
            Hugepages = HugepagesCmdline.Parse("hugepagesz=2M hugepages=2", null),
        });
        var mm = MmStruct.Create(m)!;
        const ulong a = 0x7f0000200000UL;
        Assert.Equal((long)a, mm.Mmap(a, 2 * M, Prot.Read | Prot.Write, MapFlags.Private | MapFlags.Anonymous | MapFlags.Hugetlb | MapFlags.Fixed));
        Assert.Equal(VmFault.None, mm.HandleMmFault(a, FaultFlags.Write) & VmFault.Error);
        var head = PagePtr.FromAddress(0xffffea0000000000UL + mm.WalkLeaf(a)!.Value.Entry.Pfn.Value * 64);
        Assert.Equal(1, m.StructPages.Refcount(head)); // the mapping's reference
        return new Setup(m, mm, a, head, m.FreePagesTotal);
    }

    private static void AssertNothingTaken(Setup s)
    {
        Assert.Equal((0L, 0L), (s.M.Grab.FollPinAcquired, s.M.Grab.FollPinReleased));
        Assert.Equal(1, s.M.StructPages.Refcount(s.Head));
        Assert.Equal(0, s.M.StructPages.CompoundPincount(s.Head));
        Assert.Equal(s.Free0, s.M.FreePagesTotal);
        Assert.False(s.Mm.HasPinned);
    }

    private static long Call(Setup s, string api, long nr, Span<PagePtr> pages, FollFlags extra = 0)
    {
        var gup = new GetUserPages(s.M);
        return api switch
        {
            "pin_user_pages_fast" => gup.PinUserPagesFast(s.Mm, s.Addr, nr, FollFlags.Write | extra, pages),
            "pin_user_pages_remote" => gup.PinUserPagesRemote(s.Mm, s.Addr, nr, FollFlags.Write | extra, pages),
            "get_user_pages_fast" => gup.GetUserPagesFast(s.Mm, s.Addr, nr, FollFlags.Write | extra, pages),
            "get_user_pages_remote" => gup.GetUserPagesRemote(s.Mm, s.Addr, nr, FollFlags.Write | extra, pages),
            _ => throw new ArgumentException(api),
        };
    }

    /// <summary>
    /// pages[] with 3 entries for nr_pages 4: no kernel can tell (it would write past the array); every version and
    /// entry point refuses with −EINVAL and one "gupsim:" line before taking anything.
    /// </summary>
    [Theory]
    [InlineData("5.11", "pin_user_pages_fast")]
    [InlineData("5.12", "pin_user_pages_remote")]
    [InlineData("6.1", "get_user_pages_fast")]
    [InlineData("6.6", "get_user_pages_remote")]
    [InlineData("6.18", "pin_user_pages_fast")]
    public void ShortPagesArray_EinvalNothingTaken(string version, string api)
    {
        var s = Map(KernelVersion.Parse(version));
        var pages = new PagePtr[3];
        Assert.Equal(EINVAL, Call(s, api, 4, pages));
        AssertNothingTaken(s);
        Assert.All(pages, p => Assert.Equal(0UL, p.Address));
        Assert.Equal($"gupsim: {api}: pages[] holds 3 entries for nr_pages 4 (the kernel would write past the array): refused with -EINVAL, nothing taken", s.M.KernelLog[^1]);
        Assert.DoesNotContain(s.M.KernelLog, l => l.StartsWith("WARNING", StringComparison.Ordinal));
    }

    /// <summary>
    /// Empty (NULL) pages[] with FOLL_PIN, fast and slow. v5.11–v5.18 have no check (gup-fast would store through NULL):
    /// GupSim refuses and says so. v5.19–v6.2 (here v6.1): WARN_ON_ONCE(!pages) in the pin_* entry point → −EINVAL.
    /// v6.3+ (v6.6, v6.18): is_valid_gup_args() WARN_ON_ONCE → −EINVAL. The WARNING is printed once per site.
    /// </summary>
    [Theory]
    [InlineData("5.11", "pin_user_pages_fast", null)]
    [InlineData("5.18", "pin_user_pages_remote", null)]
    [InlineData("6.1", "pin_user_pages_fast", "WARNING: CPU: 0 PID: 1 at mm/gup.c pin_user_pages_fast")]
    [InlineData("6.1", "pin_user_pages_remote", "WARNING: CPU: 0 PID: 1 at mm/gup.c pin_user_pages_remote")]
    [InlineData("6.6", "pin_user_pages_fast", "WARNING: CPU: 0 PID: 1 at mm/gup.c pin_user_pages_fast")]
    [InlineData("6.18", "pin_user_pages_remote", "WARNING: CPU: 0 PID: 1 at mm/gup.c pin_user_pages_remote")]
    public void EmptyPagesWithPin_PerVersion(string version, string api, string? warning)
    {
        var s = Map(KernelVersion.Parse(version));
        int log0 = s.M.KernelLog.Count;
        Assert.Equal(EINVAL, Call(s, api, 512, []));
        Assert.Equal(EINVAL, Call(s, api, 512, []));
        AssertNothingTaken(s);
        var added = s.M.KernelLog.Skip(log0).ToList();
        if (warning is null)
        {
            string line = $"gupsim: {api}: pages is NULL with FOLL_PIN and v{version} does not check it (the kernel would store through NULL or keep references it cannot return): refused with -EINVAL, nothing taken";
            Assert.Equal([line, line], added);
        }
        else Assert.Equal([warning], added); // WARN_ON_ONCE: the second call is silent
    }

    /// <summary>pin_user_pages_fast_only() in v5.19–v6.2 returns 0 (not −EINVAL) after its WARN_ON_ONCE(!pages).</summary>
    [Fact]
    public void EmptyPagesPinFastOnly_V6_1_ReturnsZeroWithWarning()
    {
        var s = Map(KernelVersion.V6_1);
        Assert.Equal(0, Call(s, "pin_user_pages_fast", 512, [], FollFlags.FastOnly));
        AssertNothingTaken(s);
        Assert.Equal("WARNING: CPU: 0 PID: 1 at mm/gup.c pin_user_pages_fast_only", s.M.KernelLog[^1]);
    }

    /// <summary>
    /// Empty (NULL) pages[] with FOLL_GET: no check before is_valid_gup_args() (v6.3), so v5.12 and v6.1 are refused
    /// by GupSim with its line; v6.6 WARNs (is_valid_gup_args) and returns −EINVAL.
    /// </summary>
    [Theory]
    [InlineData("5.12", "get_user_pages_fast", false)]
    [InlineData("6.1", "get_user_pages_remote", false)]
    [InlineData("6.1", "get_user_pages_fast", false)]
    [InlineData("6.6", "get_user_pages_fast", true)]
    [InlineData("6.6", "get_user_pages_remote", true)]
    public void EmptyPagesWithGet_PerVersion(string version, string api, bool warns)
    {
        var s = Map(KernelVersion.Parse(version));
        Assert.Equal(EINVAL, Call(s, api, 512, []));
        AssertNothingTaken(s);
        Assert.Equal(
            warns ? $"WARNING: CPU: 0 PID: 1 at mm/gup.c {api}"
                  : $"gupsim: {api}: pages is NULL with FOLL_GET and v{version} does not check it (the kernel would store through NULL or keep references it cannot return): refused with -EINVAL, nothing taken",
            s.M.KernelLog[^1]);
    }

    /// <summary>An empty span with nr_pages 0 is a valid array of no entries: 0, no line, nothing taken.</summary>
    [Fact]
    public void EmptyPagesWithZeroPages_IsFine()
    {
        var s = Map(KernelVersion.V6_6);
        int log0 = s.M.KernelLog.Count;
        Assert.Equal(0, Call(s, "pin_user_pages_fast", 0, []));
        Assert.Equal(log0, s.M.KernelLog.Count);
        Assert.Equal((0L, 1), (s.M.Grab.FollPinAcquired, s.M.StructPages.Refcount(s.Head)));
    }
}
