using CsCheck;
using GupSim.Arch;
using GupSim.Config;
using GupSim.Memory;

namespace GupSim.Tests.Config;

/// <summary>--ram ranges and --mem defaults.</summary>
public sealed partial class MachineInputTests
{
    // ---- --ram ----

    [Fact]
    public void ParseRamSpec_Suffixes_GiveHalfOpenRanges()
    {
        RamLayout layout = MachineInput.ParseRamSpec("0-3G,4G-20G");

        Assert.Equal([R(0, 3 * G), R(4 * G, 20 * G)], Ranges(layout));
        Assert.Equal(19 * G, layout.TotalBytes);
        Assert.Equal("--ram 0-3G,4G-20G", layout.Source);
        Assert.Equal(0, Assert.Single(layout.Nodes).Nid);
    }

    [Theory]
    [InlineData("0-3G,4G+16G")]
    [InlineData("0+3G, 4G+16G")]
    [InlineData("0x0-0xc0000000,0x100000000-20G")]
    [InlineData("0-3072M,4194304K-20480M")]
    [InlineData("4G-20G,0-3G")]
    [InlineData("4G+16G,0-3G")]
    public void ParseRamSpec_PlusFormHexAndUnsortedInput_GiveTheSameSortedRanges(string spec)
    {
        Assert.Equal([R(0, 3 * G), R(4 * G, 20 * G)], Ranges(MachineInput.ParseRamSpec(spec)));
    }

    [Fact]
    public void ParseRamSpec_SmallHexRange_IsExact()
    {
        Assert.Equal([R(0x1000, 0x9fc00), R(M, 3 * G)], Ranges(MachineInput.ParseRamSpec("0x1000-0x9fc00,1M-3G")));
    }

    [Fact]
    public void ParseRamSpec_TouchingRanges_AreMerged()
    {
        Assert.Equal([R(0, 2 * G)], Ranges(MachineInput.ParseRamSpec("1G-2G,0-1G")));
    }

    [Theory]
    [InlineData("0-4G,3G-5G", "0-4G", "3G-5G")]
    [InlineData("3G-5G,0-4G", "0-4G", "3G-5G")]
    [InlineData("8G+1G,0-3G,4G-9G", "4G-9G", "8G+1G")]
    [InlineData("1G-2G,1G-2G", "1G-2G", "1G-2G")]
    public void ParseRamSpec_Overlap_NamesBothRanges(string spec, string first, string second)
    {
        var e = Fails(() => MachineInput.ParseRamSpec(spec));

        Assert.Equal($"--ram: {first} overlaps {second}: give each byte of RAM once", e.Message);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("4G")]
    [InlineData("0-1G,")]
    [InlineData("1G-2G-3G")]
    [InlineData("1G+2G-3G")]
    [InlineData("3G-1G")]
    [InlineData("1G-1G")]
    [InlineData("1G+0")]
    [InlineData("0-1Q")]
    [InlineData("16E-1")]
    [InlineData("0xffffffffffffffff+2")]
    public void ParseRamSpec_BadSpec_Throws(string spec)
    {
        var e = Fails(() => MachineInput.ParseRamSpec(spec));

        Assert.StartsWith("--ram: ", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void ParseRamSpec_Unaligned_Throws()
    {
        Assert.Equal([R(4 * K, 4 * G)], Ranges(MachineInput.ParseRamSpec("4K-4G", 4 * K)));
        Assert.Contains("not aligned to 4K", Fails(() => MachineInput.ParseRamSpec("0x1800-4G", 4 * K)).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => MachineInput.ParseRamSpec("0-4G", 3000));
    }

    [Fact]
    public void FormatRamSpec_UsesLargestExactSuffix()
    {
        Assert.Equal("0-3G,4G-21G", MachineInput.FormatRamSpec([R(0, 3 * G), R(4 * G, 21 * G)]));
        Assert.Equal("4K-639K,1M-3G", MachineInput.FormatRamSpec([R(0x1000, 0x9fc00), R(M, 3 * G)]));
    }

    [Fact]
    public void ParseRamSpec_FormattedRandomDisjointRanges_RoundTrip()
    {
        // Each range is (gap, length) in 4K units after the previous end; gap >= 1 so no two ranges touch.
        var pieces = Gen.Select(Gen.ULong[1, 1 << 20], Gen.ULong[1, 1 << 20]).Array[1, 12];
        pieces.Sample(list =>
        {
            var ranges = new List<PhysRange>();
            ulong at = 0;
            foreach (var (gap, length) in list)
            {
                ulong start = at + (gap - 1) * 4 * K + (ranges.Count == 0 ? 0 : 4 * K);
                ranges.Add(R(start, start + length * 4 * K));
                at = start + length * 4 * K;
            }
            var shuffled = ranges.OrderBy(r => r.Start * 2654435761UL % 1000003).ToList();
            string spec = MachineInput.FormatRamSpec(shuffled);

            RamLayout parsed = MachineInput.ParseRamSpec(spec, 4 * K);

            return parsed.AllRanges.SequenceEqual(ranges)
                && MachineInput.FormatRamSpec(parsed.AllRanges) == MachineInput.FormatRamSpec(ranges);
        });
    }

    // ---- --mem ----

    [Fact]
    public void DefaultRam_X86_64_20G_SplitsAroundThePciHole()
    {
        RamLayout layout = MachineInput.DefaultRam(20 * G, ArchProfiles.Get("x86_64", KernelVersion.V5_12));

        Assert.Equal([R(0, 3 * G), R(4 * G, 21 * G)], Ranges(layout));
        Assert.Equal(20 * G, layout.TotalBytes);
        Assert.Equal("--mem 20G", layout.Source);
    }

    [Theory]
    [InlineData(2 * G, new[] { 0UL, 2 * G })]
    [InlineData(3 * G, new[] { 0UL, 3 * G })]
    [InlineData(3 * G + 4 * K, new[] { 0UL, 3 * G, 4 * G, 4 * G + 4 * K })]
    public void DefaultRam_X86_64_EdgesOfTheHole(ulong mem, ulong[] bounds)
    {
        RamLayout layout = MachineInput.DefaultRam(mem, ArchProfiles.Get("x86_64", KernelVersion.V5_12));

        PhysRange[] expected = [.. bounds.Chunk(2).Select(b => R(b[0], b[1]))];
        Assert.Equal(expected, Ranges(layout));
    }

    [Fact]
    public void DefaultRam_Arm64_StartsAt1G()
    {
        ArchProfile arm64 = ArchProfiles.Get("arm64-4k", KernelVersion.V5_12);

        Assert.Equal([R(G, G + 20 * G)], Ranges(MachineInput.DefaultRam(20 * G, arm64)));
        Assert.Equal([R(G, G + 64 * M)], Ranges(MachineInput.DefaultRam(64 * M, arm64)));
    }

    [Fact]
    public void DefaultRam_NotAPageMultipleOrZero_Throws()
    {
        ArchProfile x86 = ArchProfiles.Get("x86_64", KernelVersion.V5_12);

        Assert.Equal("--mem 0: give a positive multiple of x86_64's page size (4K), e.g. --mem 4G", Fails(() => MachineInput.DefaultRam(0, x86)).Message);
        Assert.Contains("page size (4K)", Fails(() => MachineInput.DefaultRam(G + 1, x86)).Message);
        Assert.Contains("page size (64K)", Fails(() => MachineInput.DefaultRam(G + 4 * K, ArchProfiles.Get("arm64-64k", KernelVersion.V5_12))).Message);
    }

    [Fact]
    public void DefaultRam_BeyondMaxPhysmemBits_Throws()
    {
        ArchProfile i386 = ArchProfiles.Get("i386", KernelVersion.V5_12);

        Assert.Equal([R(0, 3 * G)], Ranges(MachineInput.DefaultRam(3 * G, i386)));
        Assert.Equal(
            "--mem 4G: i386 addresses only 4G of physical memory (MAX_PHYSMEM_BITS=32): use --mem 3G or less",
            Fails(() => MachineInput.DefaultRam(4 * G, i386)).Message);
        Assert.Equal([R(0, 3 * G), R(4 * G, 64 * G)], Ranges(MachineInput.DefaultRam(63 * G, ArchProfiles.Get("i386-pae", KernelVersion.V5_12))));
    }
}
