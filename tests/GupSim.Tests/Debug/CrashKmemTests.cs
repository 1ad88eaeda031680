using System.Globalization;
using GupSim.Arch;
using GupSim.Debug;
using GupSim.Memory;
using static GupSim.Tests.Memory.TestMachines;

namespace GupSim.Tests.Debug;

/// <summary>
/// crash's kmem -n and kmem -p on a VMEMMAP and a classic SPARSEMEM machine. Every expected line is written out by
/// hand from crash's printf formats and mkstring() widths (memory.c, tools.c) and the kernel's layout rules, with the
/// arithmetic in the comments; nothing here calls the formatter to get a value.
/// </summary>
public class CrashKmemTests
{
    private static string[] Run(Machine m, Action<Machine, TextWriter> view)
    {
        var w = new StringWriter();
        view(m, w);
        return w.ToString().Split('\n');
    }

    private static Machine Vmemmap1G(string version = "6.1") =>
        Boot("x86_64", KernelVersion.Parse(version), MemoryModel.SparsememVmemmap, Ram((0, G)));

    [Fact]
    public void KmemN_Vmemmap_NodeZoneAndSectionTables()
    {
        var lines = Run(Vmemmap1G(), CrashKmem.KmemN);
        // NODE row: " %2d   " then mkstring(8, CENTER|LJUST, "262144") = " 262144 " (1 GiB / 4 KiB = 262144 pages), then
        // the pg_data_t: NODE_DATA(0) is setup_arch()'s first top-down memblock allocation, 0x2a000 bytes below the end
        // of RAM: 0x40000000 − 0x2a000 = 0x3ffd6000, seen at __va() = 0xffff888000000000 + 0x3ffd6000. BOOTMEM_DATA is
        // "----" centred in 16 (6 + 4 + 6); node_zones[] is the pg_data_t's first member.
        Assert.Equal("NODE    SIZE      PGLIST_DATA       BOOTMEM_DATA       NODE_ZONES   ", lines[0]);
        Assert.Equal("  0    262144   ffff88803ffd6000        ----        ffff88803ffd6000", lines[1]);
        // MEM_MAP of the node: vmemmap + node_start_pfn (0) × 64; START_PADDR 0 centred in 16, START_MAPNR 0 centred in 11.
        Assert.Equal("    MEM_MAP          START_PADDR    START_MAPNR", lines[5]);
        Assert.Equal("ffffea0000000000          0              0     ", lines[6]);
        Assert.Equal("ZONE  NAME         SIZE       MEM_MAP      START_PADDR  START_MAPNR", lines[8]);
        // ZONE_DMA [0, 16 MiB): 4096 pages at pfn 0. ZONE_DMA32 [16 MiB, 1 GiB): 0x40000 − 0x1000 = 258048 pages from
        // pfn 0x1000, whose struct page is vmemmap + 0x1000 × 64 = 0xffffea0000040000. Normal and Movable are empty:
        // zone_start_pfn 0, no mem_map.
        Assert.Equal("  0   DMA          4096  ffffea0000000000            0            0", lines[9]);
        Assert.Equal("  1   DMA32      258048  ffffea0000040000      1000000         4096", lines[10]);
        Assert.Equal("  2   Normal          0                 0            0            0", lines[11]);
        Assert.Equal("  3   Movable         0                 0            0            0", lines[12]);
        Assert.Equal(new string('-', 67), lines[14]);
        Assert.Equal("NR      SECTION        CODED_MEM_MAP        MEM_MAP       STATE PFN", lines[16]);
        // Sections are 128 MiB: 8 of them. SPARSEMEM_EXTREME, 256 mem_sections of 16 bytes per root page; root 0 is
        // the only one, placed one page below _end (0x4000000: the image is 16 MiB + 48 MiB):
        // __va(0x4000000) − 0x1000 = 0xffff888003fff000, section nr at + nr × 0x10. VMEMMAP's coded mem_map is
        // mem_map − section_nr_to_pfn(nr) × 64 = vmemmap for every section; mem_map = vmemmap + nr × 32768 × 64.
        // Boot sections are present, have a memmap, are online and early: "PMOE" (centred in 5: one space after).
        // The PFN column is crash's default radix 10, left-justified in 16.
        Assert.Equal(" 0  ffff888003fff000  ffffea0000000000  ffffea0000000000  PMOE  0               ", lines[17]);
        Assert.Equal(" 7  ffff888003fff070  ffffea0000000000  ffffea0000e00000  PMOE  229376          ", lines[24]);
        Assert.Equal("", lines[25]);
        Assert.Equal(26, lines.Length);
    }

    [Fact]
    public void KmemN_ClassicSparsememWithHotplug_CodedMemMapIsTheArrayMinusTheSectionsFirstPfn()
    {
        // Classic SPARSEMEM, 1 GiB at boot and [1 GiB, 1.25 GiB) hot-added: sections 0–7 from boot, 8–9 hot-plugged.
        var m = Boot("x86_64", KernelVersion.V6_1, MemoryModel.Sparsemem, Ram((0, G)),
            hotplug: PhysRange.FromStartEnd(G, G + 256 * M));
        var lines = Run(m, CrashKmem.KmemN);
        // sparse_init() puts the 8 boot memmaps (8 × 32768 × 64 = 16 MiB) in one buffer, PAGE_ALIGN(2 MiB)-aligned,
        // below NODE_DATA (0x3ffd6000) and the usemaps under it: the highest 2 MiB boundary with 16 MiB free above it
        // is 0x3ee00000. Section nr's array is __va(0x3ee00000) + nr × 2 MiB; coded = that − nr × 32768 × 64, the
        // same 0xffff88803ee00000 for every boot section.
        Assert.Equal(" 0  ffff888003fff000  ffff88803ee00000  ffff88803ee00000  PMOE  0               ", lines[17]);
        Assert.Equal(" 1  ffff888003fff010  ffff88803ee00000  ffff88803f000000  PMOE  32768           ", lines[18]);
        Assert.Equal(" 7  ffff888003fff070  ffff88803ee00000  ffff88803fc00000  PMOE  229376          ", lines[24]);
        // A hot-added section is present with a memmap and online, not early: "PMO" centred in 5 (" PMO "). Its
        // array lives wherever hot-add put it; the coded value is still that address − 8 × 32768 × 64 (0x1000000).
        string row8 = lines[25];
        Assert.StartsWith(" 8  ffff888003fff080  ", row8, StringComparison.Ordinal);
        ulong coded = Convert.ToUInt64(row8.Substring(22, 16), 16), memMap = Convert.ToUInt64(row8.Substring(40, 16), 16);
        Assert.Equal(memMap, coded + 8UL * 32768 * 64);
        Assert.Equal("   PMO  262144          ", row8[56..]); // "  " + " PMO " + " " + pfn
        Assert.Equal(" 9  ffff888003fff090  ", lines[26][..22]);
        Assert.Equal("   PMO  294912          ", lines[26][56..]);
    }

    [Fact]
    public void KmemP_ReservedPfn0_ByPhysicalAddressAndByStructPagePointer()
    {
        var m = Vmemmap1G();
        // PADDR_PRLEN: the highest physical address 0x40000000 has 8 hex digits, so PHYSICAL is 8 wide. Header:
        // "PAGE" centred in 16, " ", "PHYSICAL", " ", "MAPPING" centred|right in 16 (5 + 7 + 4), " ", "INDEX" in 8
        // (2 + 5 + 1), then "CNT FLAGS".
        const string Header = "      PAGE       PHYSICAL      MAPPING       INDEX CNT FLAGS";
        // pfn 0 is memblock-reserved at boot and never freed: PG_reserved (bit 12, 0x1000), zone DMA (0) and node 0
        // (both 0 in the top bits), refcount 1 from __init_single_page(); no mapping, index 0.
        const string Row = "ffffea0000000000        0                0        0  1 1000 reserved";
        Assert.Equal([Header, Row, ""], Run(m, (mm, w) => CrashKmem.KmemP(mm, 0x0, w)));
        Assert.Equal([Header, Row, ""], Run(m, (mm, w) => CrashKmem.KmemP(mm, 0xfff, w)));
        Assert.Equal([Header, Row, ""], Run(m, (mm, w) => CrashKmem.KmemP(mm, 0xffffea0000000000, w)));
        // Inside struct page 0 but not at its start: is_page_ptr() is false, so crash kvtop()s the vmemmap address, to
        // the page frame holding that part of the memmap: section 0's backing block (memblock memory, reserved: refcount
        // 1, PG_reserved, zone DMA32 = 1 << 56 as it lies above 16 MiB) + 8, i.e. that block's first page.
        // The block is sparse_buffer_init()'s memblock allocation for node 0 (named as memblock records it), whose
        // first bytes section 0's memmap takes: the expected address comes from memblock, not from the section's record.
        ulong backing = Assert.Single(m.Memblock.Allocations, a => a.Name == "vmemmap backing (sparsemap_buf, node 0)").Base;
        Assert.True(backing >= 16 * M && backing % 4096 == 0);
        string bRow = string.Create(CultureInfo.InvariantCulture, $"{0xffffea0000000000 + (backing >> 12) * 64:x16} {backing,8:x}                0        0  1 100000000001000 reserved");
        Assert.Equal([Header, bRow, ""], Run(m, (mm, w) => CrashKmem.KmemP(mm, 0xffffea0000000008, w)));
        // 0x1000 bytes into the vmemmap is struct page 64's start (a page pointer); 0x1008 is inside it and kvtop()s to
        // the backing block's first page + 0x1008, the block's second page.
        string bRow2 = string.Create(CultureInfo.InvariantCulture, $"{0xffffea0000000000 + ((backing >> 12) + 1) * 64:x16} {backing + 0x1000,8:x}                0        0  1 100000000001000 reserved");
        Assert.Equal([Header, bRow2, ""], Run(m, (mm, w) => CrashKmem.KmemP(mm, 0xffffea0000001008, w)));
        // Inside the vmemmap slice of section 8, which is not present: kvtop() finds no mapping, nothing printed.
        Assert.Equal([""], Run(m, (mm, w) => CrashKmem.KmemP(mm, 0xffffea0000000000 + 8 * 32768 * 64 + 8, w)));
        // Past the end of RAM: section 8 is not valid, nothing printed.
        Assert.Equal([""], Run(m, (mm, w) => CrashKmem.KmemP(mm, 0x40000000, w)));
    }

    [Fact]
    public void KmemP_HotAddedVmemmapBlock_FreePagesInZoneNormal_AndTheirBackingFromTheBuddy()
    {
        // VMEMMAP, 1 GiB at boot, [1 GiB, 1.25 GiB) hot-added and onlined: sections 8 and 9.
        var m = Boot("x86_64", KernelVersion.V6_1, MemoryModel.SparsememVmemmap, Ram((0, G)), hotplug: PhysRange.FromStartEnd(G, G + 256 * M));
        // The end of RAM is now 0x50000000: still 8 hex digits, so PHYSICAL stays 8 wide.
        const string Header = "      PAGE       PHYSICAL      MAPPING       INDEX CNT FLAGS";
        // pfn 0x40000 (1 GiB): struct page at vmemmap + 0x40000 × 64 = 0xffffea0000000000 + 0x1000000. Onlined memory
        // goes to the default kernel zone, ZONE_NORMAL (2, in the zone field at bit 56: 0x200000000000000), node 0,
        // and is freed to the buddy: refcount 0, no mapping or index; PG_buddy is a page type in v6.1, not a flag,
        // so FLAGS has no name.
        Assert.Equal([Header, "ffffea0001000000 40000000                0        0  0 200000000000000", ""],
            Run(m, (mm, w) => CrashKmem.KmemP(mm, 0x40000000, w)));
        // The last hot-added page, pfn 0x4ffff: vmemmap + 0x4ffff × 64 = 0xffffea00013fffc0.
        Assert.Equal([Header, "ffffea00013fffc0 4ffff000                0        0  0 200000000000000", ""],
            Run(m, (mm, w) => CrashKmem.KmemP(mm, 0x4ffff000, w)));
        // Inside struct page 0x40000 (+8): crash kvtop()s the vmemmap address to the page frame behind it. A hot-added
        // section's vmemmap is backed by a 2 MiB (order-9, one PMD) block from the buddy (vmemmap_populate() at
        // hot-add, no altmap), named for its section by the page allocator's owner record; the struct page sits at
        // the block's start, so its first page. An order-9 block that is not compound: its first page has refcount 1
        // (prep_new_page()), and it lies in boot memory below 1 GiB: ZONE_DMA32 (1 << 56).
        ulong backingPfn = ulong.MaxValue;
        for (ulong pfn = 0; pfn < 0x40000; pfn += 512)
            if (m.Describe(m.Memory.PhysToVirt(pfn << 12)).Region.Contains("vmemmap backing of hot-added section 8", StringComparison.Ordinal))
            {
                backingPfn = pfn;
                break;
            }
        Assert.NotEqual(ulong.MaxValue, backingPfn);
        string row = string.Create(CultureInfo.InvariantCulture, $"{0xffffea0000000000 + (backingPfn * 64):x16} {backingPfn << 12,8:x}                0        0  1 100000000000000");
        Assert.Equal([Header, row, ""], Run(m, (mm, w) => CrashKmem.KmemP(mm, 0xffffea0001000008, w)));
    }

    [Theory]
    [InlineData("6.1", 1UL)] // linear_hugepage_index(): the second 2 MiB page is index 1
    [InlineData("6.7", 512UL)] // a08c7193e4f1: linear_page_index() in base pages, 2 MiB / 4 KiB = 512
    public void KmemP_AnonymousHugetlbHead_MapsTheAnonVmaWithPageMappingAnon_UntilFreed(string version, ulong secondIndex)
    {
        var m = Machine.Boot(new MachineSpec
        {
            Arch = ArchProfiles.Get("x86_64", KernelVersion.Parse(version)),
            Model = MemoryModel.SparsememVmemmap,
            Ram = Ram((0, 4 * G)),
            Hugepages = GupSim.Hugetlb.HugepagesCmdline.Parse("hugepagesz=2M hugepages=2", null),
        });
        var mm = GupSim.Mm.MmStruct.Create(m)!;
        ulong addr = (ulong)mm.Mmap(0, 4 * M, GupSim.Mm.Prot.Read | GupSim.Mm.Prot.Write, GupSim.Mm.MapFlags.Private | GupSim.Mm.MapFlags.Anonymous | GupSim.Mm.MapFlags.Hugetlb);
        Assert.Equal(GupSim.Mm.VmFault.None, mm.HandleMmFault(addr, GupSim.Mm.FaultFlags.Write));
        Assert.Equal(GupSim.Mm.VmFault.None, mm.HandleMmFault(addr + (2 * M), GupSim.Mm.FaultFlags.Write));
        ulong head0 = mm.WalkLeaf(addr)!.Value.Entry.Pfn.Value, head1 = mm.WalkLeaf(addr + (2 * M))!.Value.Entry.Pfn.Value;
        // The VMA's anon_vma is the first object of the anon_vma cache's first slab, which the first fault took from
        // the buddy: the page the allocator records for that cache, at its direct-map address (no freelist
        // randomisation: objects in address order from the page's start). mapping = that | PAGE_MAPPING_ANON (1).
        ulong slabPfn = ulong.MaxValue;
        for (ulong pfn = 0; pfn < 0x100000 && slabPfn == ulong.MaxValue; pfn++)
            if (m.Describe(m.Memory.PhysToVirt(pfn << 12)).Region.Contains("slab page (anon_vma)", StringComparison.Ordinal)) slabPfn = pfn;
        Assert.NotEqual(ulong.MaxValue, slabPfn);
        ulong mapping = m.Memory.PhysToVirt(slabPfn << 12) | 1;
        // Each head: one reference (the page table's), the anon_vma, index 0 and the second page's index; the columns
        // as crash prints them (MAPPING %16lx, INDEX right-justified in 8, decimal CNT), after PAGE (16) and PHYSICAL,
        // 9 wide: the end of RAM, 0x100000000, has 9 hex digits.
        string Columns(ulong pfn) => Run(m, (mm2, w) => CrashKmem.KmemP(mm2, pfn << 12, w))[1][27..55];
        Assert.Equal(string.Create(CultureInfo.InvariantCulture, $"{mapping,16:x} {0,8:x}  1"), Columns(head0));
        Assert.Equal(string.Create(CultureInfo.InvariantCulture, $"{mapping,16:x} {secondIndex,8:x}  1"), Columns(head1));
        // dump_page() prints page_to_pgoff(), in base pages either way: v6.1 shifts the huge-page index by the order
        // (1 << 9), v6.7 has it in base pages already: 0x200 on both. The mapping is anonymous: the "anon " type.
        var dump = DumpPage.Lines(m, m.PfnToPage(GupSim.Core.Pfn.FromUInt64(head1)), null);
        Assert.Contains(string.Create(CultureInfo.InvariantCulture, $" index:0x200 pfn:0x{head1:x}"), dump[0], StringComparison.Ordinal);
        Assert.Contains(dump, l => l.StartsWith("anon flags: ", StringComparison.Ordinal));
        // munmap drops the last reference: free_huge_page() clears the mapping, leaves the index; the page is in the pool.
        Assert.Equal(0, mm.Munmap(addr, 4 * M));
        Assert.Equal(string.Create(CultureInfo.InvariantCulture, $"{0,16:x} {secondIndex,8:x}  0"), Columns(head1));
    }

    [Theory]
    [InlineData("6.1", 1UL, 2)] // the page cache index in huge pages; the page cache's one reference and the page table's
    // a08c7193e4f1: the index in base pages, and __filemap_add_folio() takes folio_nr_pages() = 2M / 4K = 512 references
    // for the page cache, plus the page table's one.
    [InlineData("6.7", 512UL, 513)]
    public void KmemP_HugetlbfsPageCacheHead_MapsTheInodesAddressSpace_UntilRemoved(string version, ulong secondIndex, int mappedCount)
    {
        var runner = new GupSim.Scenario.ScenarioRunner(TextWriter.Null);
        var r = runner.Run($"""
            machine --arch x86_64 --kernel {version} --model sparsemem-vmemmap --ram 0-4G --hugepages "hugepagesz=2M hugepages=2"
            mount /mnt/huge pagesize=2M
            open F /mnt/huge/f
            mmap A 4M file=F shared
            touch A write
            """, "hugetlbfs.scenario");
        Assert.Equal(0, r.ExpectationsFailed);
        var m = runner.Machine!;
        Assert.True(runner.TryGetMapping("A", out ulong addr, out _));
        ulong head1 = runner.Process!.WalkLeaf(addr + (2 * M))!.Value.Entry.Pfn.Value;
        // The file's inode is the first object of hugetlbfs_inode_cache's first slab (GupSim makes no root inodes for
        // the mounts), at that slab's direct-map address; page->mapping holds &inode->i_data, which GupSim puts at the
        // object's start (KernelObjects). No PAGE_MAPPING_ANON bit: a page cache page.
        ulong slabPfn = ulong.MaxValue;
        for (ulong pfn = 0; pfn < 0x100000 && slabPfn == ulong.MaxValue; pfn++)
            if (m.Describe(m.Memory.PhysToVirt(pfn << 12)).Region.Contains("slab page (hugetlbfs_inode_cache)", StringComparison.Ordinal)) slabPfn = pfn;
        Assert.NotEqual(ulong.MaxValue, slabPfn);
        ulong mapping = m.Memory.PhysToVirt(slabPfn << 12);
        // MAPPING, INDEX and CNT (crash prints the count "%2d", wider when it needs to be); PG_dirty from
        // hugetlb_add_to_page_cache()'s folio_mark_dirty().
        string[] Line(ulong pfn) => [.. Run(m, (mm2, w) => CrashKmem.KmemP(mm2, pfn << 12, w))[1][27..].Split(' ', StringSplitOptions.RemoveEmptyEntries)];
        string[] mapped = Line(head1);
        Assert.Equal([mapping.ToString("x", CultureInfo.InvariantCulture), secondIndex.ToString("x", CultureInfo.InvariantCulture), mappedCount.ToString(CultureInfo.InvariantCulture)], mapped[..3]);
        Assert.Equal("uptodate,dirty,head", mapped[4]);
        // munmap leaves the page cache's reference and the mapping; rm (remove_inode_hugepages()) deletes it from the
        // page cache (mapping = NULL) and frees it to the pool; the index stays.
        Assert.Equal(0, runner.Run("munmap A\nrm /mnt/huge/f", "rm.scenario").ExpectationsFailed);
        // hugetlb_delete_from_page_cache() cleared PG_dirty and PG_uptodate.
        string[] removed = Line(head1);
        Assert.Equal(["0", secondIndex.ToString("x", CultureInfo.InvariantCulture), "0", "head"], [removed[0], removed[1], removed[2], removed[4]]);
    }

    [Theory]
    [InlineData("CENTER", 8, "SIZE", "  SIZE  ")]
    [InlineData("CENTER|LJUST", 16, "PGLIST_DATA", "  PGLIST_DATA   ")]
    [InlineData("CENTER|RJUST", 16, "MAPPING", "     MAPPING    ")]
    [InlineData("RJUST", 8, "PHYSICAL", "PHYSICAL")]
    [InlineData("LJUST", 6, "0", "0     ")]
    public void MkString_JustifiesAsCrash(string how, int size, string text, string expected)
    {
        var f = MkFlags.None;
        foreach (var part in how.Split('|')) f |= part switch { "CENTER" => MkFlags.Center, "LJUST" => MkFlags.LJust, _ => MkFlags.RJust };
        Assert.Equal(expected, CrashFormat.MkString(text, size, f));
    }

    [Theory]
    [InlineData(new[] { "crash", "kmem -n", "--json" }, "gupsim: crash: unrecognized option '--json' (the crash command is 'kmem -n' or 'kmem -p [ADDR]'; try 'gupsim crash --help')")]
    [InlineData(new[] { "crash", "kmem", "-p", "--mme" }, "gupsim: crash: unrecognized option '--mme' (the crash command is 'kmem -n' or 'kmem -p [ADDR]'; try 'gupsim crash --help')")]
    [InlineData(new[] { "crash", "kmem -x" }, "gupsim: crash: kmem: give -n or -p: use 'kmem -n' or 'kmem -p [ADDR]'")]
    [InlineData(new[] { "crash", "kmem -p zz" }, "gupsim: crash: kmem: invalid address: zz (give a hexadecimal address)")]
    public void Cli_BadCrashCommand_IsOneLine(string[] args, string message)
    {
        var r = GupSim.Tests.Cli.CliRun.Run(args);
        Assert.Equal(1, r.ExitCode);
        Assert.Equal("", r.Stdout);
        Assert.Equal(message, Assert.Single(r.StderrLines));
    }
}
