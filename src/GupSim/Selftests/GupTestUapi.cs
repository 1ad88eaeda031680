using System.Runtime.CompilerServices;

namespace GupSim.Selftests;

/// <summary>The gup_test ioctl commands (mm/gup_test.h; the number is the ioctl's <c>_IOWR('g', N, …)</c> nr).</summary>
public enum GupTestCmd
{
    /// <summary>GUP_FAST_BENCHMARK: get_user_pages_fast(), timed.</summary>
    GupFastBenchmark = 1,
    /// <summary>PIN_FAST_BENCHMARK: pin_user_pages_fast(), timed.</summary>
    PinFastBenchmark = 2,
    /// <summary>PIN_LONGTERM_BENCHMARK: pin_user_pages(FOLL_LONGTERM), timed.</summary>
    PinLongtermBenchmark = 3,
    /// <summary>GUP_BASIC_TEST: get_user_pages().</summary>
    GupBasicTest = 4,
    /// <summary>PIN_BASIC_TEST: pin_user_pages().</summary>
    PinBasicTest = 5,
    /// <summary>DUMP_USER_PAGES_TEST: get or pin, then dump_page() the chosen pages.</summary>
    DumpUserPagesTest = 6,
}

/// <summary>Names and constants of mm/gup_test.h.</summary>
public static class GupTestUapi
{
    /// <summary>GUP_TEST_MAX_PAGES_TO_DUMP.</summary>
    public const int MaxPagesToDump = 8;

    /// <summary>GUP_TEST_FLAG_DUMP_PAGES_USE_PIN.</summary>
    public const uint FlagDumpPagesUsePin = 0x1;

    /// <summary>cmd_to_str() of the selftest.</summary>
    public static string Name(GupTestCmd cmd) => cmd switch
    {
        GupTestCmd.GupFastBenchmark => "GUP_FAST_BENCHMARK",
        GupTestCmd.PinFastBenchmark => "PIN_FAST_BENCHMARK",
        GupTestCmd.PinLongtermBenchmark => "PIN_LONGTERM_BENCHMARK",
        GupTestCmd.GupBasicTest => "GUP_BASIC_TEST",
        GupTestCmd.PinBasicTest => "PIN_BASIC_TEST",
        GupTestCmd.DumpUserPagesTest => "DUMP_USER_PAGES_TEST",
        _ => "Unknown command",
    };

    /// <summary>Whether the selftest times and repeats the command (the *_BENCHMARK ones).</summary>
    public static bool IsBenchmark(GupTestCmd cmd) =>
        cmd is GupTestCmd.GupFastBenchmark or GupTestCmd.PinFastBenchmark or GupTestCmd.PinLongtermBenchmark;

    /// <summary>Whether the command takes pins (FOLL_PIN) rather than references.</summary>
    public static bool Pins(GupTestCmd cmd, bool dumpUsesPin) =>
        cmd is GupTestCmd.PinFastBenchmark or GupTestCmd.PinBasicTest or GupTestCmd.PinLongtermBenchmark
        || (cmd == GupTestCmd.DumpUserPagesTest && dumpUsesPin);
}

/// <summary>struct gup_test's which_pages[GUP_TEST_MAX_PAGES_TO_DUMP]: 1-based page numbers, 0 = unused.</summary>
[InlineArray(GupTestUapi.MaxPagesToDump)]
public struct GupTestWhichPages
{
    private uint _element0;
}

/// <summary>
/// struct gup_test (mm/gup_test.h), a value type so that each selftest thread copies it as the C code does.
/// Up to v5.12 one <c>flags</c> word (GupSim keeps it in <see cref="GupFlags"/>); from v5.13 gup_flags and test_flags.
/// </summary>
public struct GupTestArgs
{
    /// <summary>get_delta_usec: microseconds of the get loop.</summary>
    public ulong GetDeltaUsec;
    /// <summary>put_delta_usec: microseconds of the release.</summary>
    public ulong PutDeltaUsec;
    /// <summary>addr: the user address.</summary>
    public ulong Addr;
    /// <summary>size: bytes asked for; on return the bytes walked.</summary>
    public ulong Size;
    /// <summary>nr_pages_per_call.</summary>
    public uint NrPagesPerCall;
    /// <summary>gup_flags (flags up to v5.12).</summary>
    public uint GupFlags;
    /// <summary>test_flags (v5.13+).</summary>
    public uint TestFlags;
    /// <summary>which_pages[].</summary>
    public GupTestWhichPages WhichPages;
}
