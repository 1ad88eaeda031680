using GupSim.Core;

namespace GupSim.Tests.Selftests;

/// <summary>getopt(3) and the C number conversions, with glibc's semantics.</summary>
public sealed class GetoptTests
{
    private const string V511 = "m:r:n:F:f:abctTLUuwSH";

    [Fact]
    public void SeedCommandLine_ParsesInOrder()
    {
        var r = Getopt.Parse("gup_test", ["-f", "/mnt/huge/file", "-m", "16384", "-r", "10", "-L", "-S", "-n", "512", "-w"], V511, out var operands);
        Assert.Equal(
            [new('f', "/mnt/huge/file", null), new('m', "16384", null), new('r', "10", null), new('L', null, null), new('S', null, null), new('n', "512", null), new('w', null, null)],
            r);
        Assert.Empty(operands);
    }

    [Fact]
    public void BundledFlags_AttachedArguments_AndNegativeNextWord()
    {
        var r = Getopt.Parse("gup_test", ["-HL", "-m8192", "-n", "-1"], V511, out _);
        Assert.Equal([new('H', null, null), new('L', null, null), new('m', "8192", null), new('n', "-1", null)], r);
    }

    [Fact]
    public void OperandsAnywhere_ArePermutedToTheEnd_AndDoubleDashEndsOptions()
    {
        var r = Getopt.Parse("gup_test", ["-ct", "0", "-F", "0x1", "19", "--", "-5"], V511, out var operands);
        Assert.Equal([new('c', null, null), new('t', null, null), new('F', "0x1", null)], r);
        Assert.Equal(["0", "19", "-5"], operands);
    }

    [Fact]
    public void UnknownOption_AndMissingArgument_GiveGlibcMessages()
    {
        var r = Getopt.Parse("gup_test", ["-W", "-n"], V511, out _);
        Assert.Equal([new('?', null, "gup_test: invalid option -- 'W'"), new('?', null, "gup_test: option requires an argument -- 'n'")], r);
    }

    [Theory]
    [InlineData("0x1000", 0, 4096)]
    [InlineData("019", 0, 1)] // base 0: leading 0 is octal, stops at 9
    [InlineData("  -42abc", 10, -42)]
    [InlineData("abc", 0, 0)]
    [InlineData("0x", 0, 0)]
    [InlineData("99999999999999999999", 10, long.MaxValue)]
    public void Strtol_FollowsTheCLibrary(string text, int numberBase, long expected) =>
        Assert.Equal(expected, CLib.Strtol(text, numberBase));

    [Theory]
    [InlineData("16384", 16384)]
    [InlineData("-1", -1)]
    [InlineData("12MB", 12)]
    [InlineData("4294967297", 1)] // (int) of a long that does not fit wraps
    public void Atoi_FollowsTheCLibrary(string text, int expected) => Assert.Equal(expected, CLib.Atoi(text));
}
