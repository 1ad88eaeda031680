using System.Globalization;
using GupSim.Arch;
using GupSim.Core;
using GupSim.Memory;
using GupSim.Pages;
using static GupSim.Tests.Memory.TestMachines;

namespace GupSim.Tests.Debug;

/// <summary>
/// dump_page() of the head and a tail of an order-9 anonymous compound page, as v5.11, v6.1, v6.6 and v6.18 print
/// it (mm/debug.c of each). The page's state is set by hand: refcount 3, mapped once as a whole (compound mapcount 0,
/// so compound/entire_mapcount 1), pincount 1, an anon_vma mapping (PAGE_MAPPING_ANON), index 0. Addresses are
/// vmemmap + pfn × 64 (KnownAddresses); flags are PG_head (bit 16) and zone DMA32 (1 &lt;&lt; ZONES_PGSHIFT 56).
/// </summary>
public class DumpPageTests
{
    private const ulong AnonVma = 0xffff888012345001;

    private static (Machine M, ulong Pfn) AnonCompound(string version)
    {
        var m = Boot("x86_64", KernelVersion.Parse(version), MemoryModel.SparsememVmemmap, Ram((0, G)));
        Assert.True(m.TryAllocPages(9, 0, "test", out Pfn pfn, movable: true));
        var head = PagePtr.FromAddress(KnownAddresses.X86_64Vmemmap + pfn.Value * 64);
        m.Hugetlb.Compound.PrepCompoundPage(head, 9);
        var sp = m.StructPages;
        sp.SetRefcount(head, 3);
        sp.SetMapping(head, AnonVma);
        sp.SetCompoundMapcount(head, 0);
        sp.SetCompoundPincount(head, 1);
        return (m, pfn.Value);
    }

    private static string H(ulong v) => v.ToString("x16", CultureInfo.InvariantCulture);

    private static List<string> Text(Machine m, ulong pfn) =>
        [.. m.StructPages.DumpPage(PagePtr.FromAddress(KnownAddresses.X86_64Vmemmap + pfn * 64), "test").Where(l => !l.StartsWith("raw: ", StringComparison.Ordinal) && !(l.StartsWith("head: ", StringComparison.Ordinal) && !l.Contains("order:", StringComparison.Ordinal)))];

    [Theory]
    [InlineData("5.11")]
    [InlineData("6.1")]
    [InlineData("6.2")]
    [InlineData("6.6")]
    [InlineData("6.9")]
    [InlineData("6.10")]
    [InlineData("6.18")]
    public void HeadAndTail_AsTheVersionPrintsThem(string version)
    {
        var (m, pfn) = AnonCompound(version);
        ulong headVa = KnownAddresses.X86_64Vmemmap + pfn * 64, tailVa = headVa + 5 * 64;
        string p = "0x" + pfn.ToString("x", CultureInfo.InvariantCulture), p5 = "0x" + (pfn + 5).ToString("x", CultureInfo.InvariantCulture);
        // %pGp: names only before v5.13; from v5.13 the word, then node and zone (no section field under VMEMMAP).
        string flags = version == "5.11" ? "anon flags: 0x100000000010000(head)" : "anon flags: 0x100000000010000(head|node=0|zone=1)";
        List<string> head, tail;
        switch (version)
        {
            case "5.11":
            case "6.1":
                // page_mapcount(): _mapcount (−1) + 1, plus compound_mapcount + 1 = 1 for an anonymous compound page.
                // page_to_pgoff(): the head's index 0; a tail's head->index + 5. mapping: page_mapping() is NULL for anon.
                string compound = $"head:{H(headVa)} order:9 compound_mapcount:1 compound_pincount:1";
                head = [$"page:{H(headVa)} refcount:3 mapcount:1 mapping:0000000000000000 index:0x0 pfn:{p}", compound, flags, "page dumped because: test"];
                tail = [$"page:{H(tailVa)} refcount:3 mapcount:1 mapping:0000000000000000 index:0x5 pfn:{p5}", compound, flags, "page dumped because: test"];
                break;
            case "6.2":
                // Hugh Dickins' v6.2 compound line adds subpages_mapcount (pages mapped by PTE: none here); page_mapcount()
                // is still _mapcount + 1 + compound_mapcount + 1 = 1.
                string subpages = $"head:{H(headVa)} order:9 compound_mapcount:1 subpages_mapcount:0 compound_pincount:1";
                head = [$"page:{H(headVa)} refcount:3 mapcount:1 mapping:0000000000000000 index:0x0 pfn:{p}", subpages, flags, "page dumped because: test"];
                tail = [$"page:{H(tailVa)} refcount:3 mapcount:1 mapping:0000000000000000 index:0x5 pfn:{p5}", subpages, flags, "page dumped because: test"];
                break;
            case "6.9":
                // v6.9's __dump_folio(): no page pointer; mapcount open-codes page_mapcount(): max(_mapcount + 1, 0) = 0
                // plus folio_entire_mapcount() 1 = 1; the folio line has no mapcount: field yet; page_type only for a
                // typed page (none here).
                string folio69 = "head: order:9 entire_mapcount:1 nr_pages_mapped:0 pincount:1";
                head = [$"page: refcount:3 mapcount:1 mapping:0000000000000000 index:0x0 pfn:{p}", folio69, flags, "page dumped because: test"];
                tail = [$"page: refcount:3 mapcount:1 mapping:0000000000000000 index:0x5 pfn:{p5}", folio69, flags, "page dumped because: test"];
                break;
            case "6.6":
                // v6.3+: page_mapcount() = _mapcount + 1 + folio_entire_mapcount() = 1; %pGt of head->page_type,
                // which overlays the head's _mapcount (−1): 0xffffffff, no type.
                string entire = $"head:{H(headVa)} order:9 entire_mapcount:1 nr_pages_mapped:0 pincount:1";
                head = [$"page:{H(headVa)} refcount:3 mapcount:1 mapping:0000000000000000 index:0x0 pfn:{p}", entire, flags, "page_type: 0xffffffff()", "page dumped because: test"];
                tail = [$"page:{H(tailVa)} refcount:3 mapcount:1 mapping:0000000000000000 index:0x5 pfn:{p5}", entire, flags, "page_type: 0xffffffff()", "page dumped because: test"];
                break;
            default:
                // v6.10+ __dump_folio(): no page pointer; mapcount is this page's _mapcount + 1 = 0; index folio->index + idx;
                // the folio line: mapcount (= entire_mapcount for a folio mapped whole) 1, nr_pages_mapped 0, pincount 1.
                string folio = "head: order:9 mapcount:1 entire_mapcount:1 nr_pages_mapped:0 pincount:1";
                head = [$"page: refcount:3 mapcount:0 mapping:0000000000000000 index:0x0 pfn:{p}", folio, flags, "page dumped because: test"];
                tail = [$"page: refcount:3 mapcount:0 mapping:0000000000000000 index:0x5 pfn:{p5}", folio, flags, "page dumped because: test"];
                break;
        }
        Assert.Equal(head, Text(m, pfn));
        Assert.Equal(tail, Text(m, pfn + 5));
    }

    [Theory]
    [InlineData("5.11", 2, 2)]
    [InlineData("6.6", 2, 2)]
    [InlineData("6.18", 2, 4)]
    public void TailHexDump_RawThenHead(string version, int rawLines, int headLines)
    {
        var (m, pfn) = AnonCompound(version);
        ulong headVa = KnownAddresses.X86_64Vmemmap + pfn * 64;
        var lines = m.StructPages.DumpPage(PagePtr.FromAddress(headVa + 5 * 64), "test");
        var raw = lines.Where(l => l.StartsWith("raw: ", StringComparison.Ordinal)).ToList();
        Assert.Equal(rawLines, raw.Count);
        // 32 bytes a line, 8-byte words: word 1 is compound_head = head + 1, word 3 mapping = TAIL_MAPPING
        // (0x400 + POISON_POINTER_DELTA 0xdead000000000000); word 6 of line 2 is _mapcount (−1) | _refcount 0 << 32.
        Assert.Equal(H(headVa + 1), raw[0].Split(' ')[2]);
        Assert.Equal("dead000000000400", raw[0].Split(' ')[4]);
        Assert.Equal("00000000ffffffff", raw[1].Split(' ')[3]);
        // The head's dump: one struct page before v6.9, the folio's first two from v6.9 (__dump_folio()).
        Assert.Equal(headLines, lines.Count(l => l.StartsWith("head: ", StringComparison.Ordinal) && l.Length > 20 && !l.Contains("order:", StringComparison.Ordinal)));
    }

    [Theory]
    // An order-0 page whose _mapcount holds a page type: __SetPageTable() clears PG_table (0x200) in 0xffffffff,
    // leaving 0xfffffdff = −513. page_mapcount() is _mapcount + 1 = −512 up to v6.8; v6.9 clamps a value below 0 to
    // 0 (4ffca5a96678); v6.10 sees page_mapcount_is_type() (−512 < PAGE_MAPCOUNT_RESERVE + 1 = −127) and reads 0.
    [InlineData("6.8", -512)]
    [InlineData("6.9", 0)]
    [InlineData("6.10", 0)]
    public void TypedPage_MapcountAsTheVersionReadsIt(string version, int expected)
    {
        var m = Boot("x86_64", KernelVersion.Parse(version), MemoryModel.SparsememVmemmap, Ram((0, G)));
        Assert.True(m.TryAllocPages(0, 0, "test", out Pfn pfn));
        var page = PagePtr.FromAddress(KnownAddresses.X86_64Vmemmap + pfn.Value * 64);
        m.StructPages.AtomicMapcountSet(page, unchecked((int)0xfffffdffu));
        Assert.Equal(expected, GupSim.Debug.DumpPage.PageMapcount(m, page));
    }
}
