using GupSim.Arch;
using GupSim.Gup;

namespace GupSim.Tests.Gup;

/// <summary>
/// The FOLL_* numbers per version, from the kernel headers: v6.2's include/linux/mm.h #defines (FOLL_WRITE 0x01,
/// FOLL_TOUCH 0x02, FOLL_GET 0x04, FOLL_LONGTERM 0x10000, FOLL_PIN 0x40000, FOLL_FAST_ONLY 0x80000) and v6.3's enums
/// (include/linux/mm_types.h: FOLL_WRITE 1 &lt;&lt; 0, FOLL_GET 1 &lt;&lt; 1, FOLL_DUMP 1 &lt;&lt; 2, FOLL_FORCE 1 &lt;&lt; 3,
/// FOLL_LONGTERM 1 &lt;&lt; 8; mm/internal.h: FOLL_TOUCH 1 &lt;&lt; 16, FOLL_PIN 1 &lt;&lt; 19, FOLL_FAST_ONLY 1 &lt;&lt; 20).
/// </summary>
public class FollFlagsAbiTests
{
    [Theory]
    [InlineData("6.2", 0x02u, FollFlags.Touch)]
    [InlineData("6.3", 0x02u, FollFlags.Get)]
    [InlineData("6.2", 0x10000u, FollFlags.Longterm)]
    [InlineData("6.3", 0x10000u, FollFlags.Touch)]
    [InlineData("6.3", 0x100u, FollFlags.Longterm)]
    [InlineData("6.3", 0x80000u, FollFlags.Pin)]
    [InlineData("6.3", 0x100000u, FollFlags.FastOnly)]
    [InlineData("6.3", 0x0fu, FollFlags.Write | FollFlags.Get | FollFlags.Dump | FollFlags.Force)]
    [InlineData("6.3", 0x20u, FollFlags.None)] // FOLL_NOFAULT: not modelled
    public void KernelWord_ReadsAsThatReleaseNumbersTheFlags(string version, uint word, FollFlags expected)
    {
        var v = KernelVersion.Parse(version);
        Assert.Equal(expected, FollFlagsAbi.FromKernelWord(word, v));
        if (expected != FollFlags.None) Assert.Equal(word, FollFlagsAbi.ToKernelWord(expected, v));
    }
}
