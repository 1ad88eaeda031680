using System.Globalization;

namespace GupSim.Selftests;

/// <summary>
/// What GupSim's own checks (not the kernel's) covered in one selftest run and what they found: every pages[] entry
/// compared with the struct page that GupSim's own pfn→struct page map gives for the pfn the page table maps at its
/// address (<see cref="Gup.PagesOracle"/>), and the refcount and pincount of every compound head mapped, the hugetlb
/// pools and (gup_longterm) the free pages, compared with their values before (<see cref="Gup.PinBalance"/>). It is
/// the simulator checked against its own model, which is what lets it see a wrong entry the kernel's selftest cannot.
/// </summary>
public sealed record SelftestVerification
{
    /// <summary>Whether the checks ran (<c>--verify on</c>).</summary>
    public bool Enabled { get; init; }

    /// <summary>The GUP calls checked: gup_test ioctls, or gup_longterm's PIN_LONGTERM_TEST_START/STOP pairs.</summary>
    public int Ioctls { get; init; }

    /// <summary>pages[] (or pinned) entries compared.</summary>
    public long EntriesChecked { get; init; }

    /// <summary>Entries that were not the struct page of the pfn mapped at their address.</summary>
    public long WrongEntries { get; init; }

    /// <summary>Checked calls with at least one wrong entry.</summary>
    public int WrongIoctls { get; init; }

    /// <summary>The 1-based call that returned the first wrong entry, or null.</summary>
    public int? FirstWrongIoctl { get; init; }

    /// <summary>The index of the first wrong entry in that call's pages[], or null.</summary>
    public long? FirstWrongIndex { get; init; }

    /// <summary>Compound-head comparisons (refcount and pincount before vs after), summed over the calls.</summary>
    public long HeadsChecked { get; init; }

    /// <summary>Hstate pool comparisons (total, free, resv, surplus), summed over the calls and the end of the run.</summary>
    public long PoolsChecked { get; init; }

    /// <summary>Whether the machine's free page count was compared with its value before the run (gup_longterm).</summary>
    public bool FreePagesChecked { get; init; }

    /// <summary>Heads, pools or free-page counts that did not come back.</summary>
    public int CountDifferences { get; init; }

    /// <summary>What went wrong, one line each (the "gupsim: verify:" lines), empty when verified.</summary>
    public IReadOnlyList<string> Failures { get; init; } = [];

    /// <summary>The closing line without its "gupsim: " prefix: "verified …", "verification FAILED: …" or "not verified (…)".</summary>
    public string Line { get; init; } = "";

    /// <summary>True when the checks ran on at least one call and found nothing wrong.</summary>
    public bool Verified => Enabled && Ioctls > 0 && WrongEntries == 0 && CountDifferences == 0 && Failures.Count == 0;

    /// <summary>The closing line when the checks were off.</summary>
    public const string OffLine = "not verified (--verify off)";

    /// <summary>"1 thing" or "N things".</summary>
    internal static string Count(long n, string one, string many) =>
        string.Create(CultureInfo.InvariantCulture, $"{n} {(n == 1 ? one : many)}");

    /// <summary>"N" when every value is N, else "N–M".</summary>
    internal static string Range(IReadOnlyCollection<int> values)
    {
        if (values.Count == 0) return "0";
        int lo = values.Min(), hi = values.Max();
        return lo == hi ? lo.ToString(CultureInfo.InvariantCulture) : string.Create(CultureInfo.InvariantCulture, $"{lo}–{hi}");
    }
}
