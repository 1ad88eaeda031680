using System.Numerics;
using GupSim.Arch;
using GupSim.Config;
using GupSim.Core;
using GupSim.Memory;

namespace GupSim.Tests.Memory;

/// <summary>
/// The page data model: tokens per pfn (uniform 512-page chunks until a page differs, journaled by a checkpoint),
/// and whole-page stores (<see cref="KernelMemory.StorePage"/>) that replace a page's token and its words, or write
/// the data word by word over the struct pages or page-table entries a page holds. Expected words are the data's
/// own (<see cref="PageContents.Word"/>), read back at fixed offsets of the structures (struct page flags at +0,
/// page-table entry k at +8k, little-endian halves).
/// </summary>
public class PageContentsTests
{
    [Fact]
    public void Tokens_FillAcrossChunks_WriteOne_Copy_ThenRollBackToTheCheckpoint()
    {
        var c = new PageContents();
        Assert.Equal(PageContents.Unwritten, c.Read(12345));
        c.Fill(500, 600, PageContents.Zero); // [500, 1100): the tail of chunk 0, all of chunk 1, the head of chunk 2
        Assert.Equal((PageContents.Unwritten, PageContents.Zero, PageContents.Zero, PageContents.Zero, PageContents.Unwritten),
            (c.Read(499), c.Read(500), c.Read(800), c.Read(1099), c.Read(1100)));
        Assert.Equal(600UL, c.WrittenPages);
        c.Write(700, 77);
        c.Copy(2000, 699, 3); // 699 → 2000 (Zero), 700 → 2001 (77), 701 → 2002 (Zero)
        Assert.Equal((77UL, PageContents.Zero, 77UL, PageContents.Zero), (c.Read(700), c.Read(2000), c.Read(2001), c.Read(2002)));

        c.BeginJournal();
        c.Fill(0, 4096, 5);
        c.Write(2001, 9);
        Assert.Equal((5UL, 5UL, 9UL), (c.Read(0), c.Read(700), c.Read(2001)));
        c.Rollback();
        Assert.Equal((PageContents.Unwritten, 77UL, 77UL, PageContents.Zero), (c.Read(0), c.Read(700), c.Read(2001), c.Read(500)));
        Assert.Equal(603UL, c.WrittenPages);
        // Still open: a second change is undone too.
        c.Write(5000, 1);
        c.Rollback();
        Assert.Equal(PageContents.Unwritten, c.Read(5000));
        c.EndJournal();
    }

    [Fact]
    public void Word_ZeroIsZero_DataDiffersByTokenAndOffset_UserPatternsAreData()
    {
        for (int k = 0; k < 1024; k++) Assert.Equal(0u, PageContents.Word(PageContents.Zero, k));
        Assert.NotEqual(PageContents.Word(7, 0), PageContents.Word(7, 1));
        Assert.NotEqual(PageContents.Word(7, 0), PageContents.Word(8, 0));
        Assert.True(PageContents.UserPattern(0) > PageContents.Zero);
        Assert.NotEqual(PageContents.UserPattern(0x1000), PageContents.UserPattern(0x2000));
    }

    private static Machine Boot(string model = "vmemmap") => new MachineOptions { Arch = "x86_64", Mem = "1G", Seed = 1, Model = model, Kernel = "5.11" }.Boot();

    [Fact]
    public void StorePage_IntoOtherData_ReplacesItsWordsAndToken_CountingTheBitsItChanged()
    {
        var m = Boot();
        Assert.True(m.TryAllocPages(0, 0, "test: data page", out Pfn pfn, Gfp.Kernel));
        ulong va = m.Memory.PhysToVirt(pfn.Value << 12);
        m.Memory.WriteU32(va + 8, 0x1234_5678, "test");
        const ulong token = 0xABCDEF;
        // Before: word 2 is the one written, every other word the machine's garbage for its address.
        ulong bits = 0;
        for (int k = 0; k < 1024; k++)
        {
            uint old = k == 2 ? 0x1234_5678u : m.Memory.Garbage(va + ((ulong)k * 4));
            bits += (ulong)BitOperations.PopCount(old ^ PageContents.Word(token, k));
        }
        using var cp = m.Checkpoint();
        Assert.Equal(bits, m.Memory.StorePage(pfn.Value, token));
        Assert.Equal(PageContents.Word(token, 2), m.Memory.ReadU32(va + 8, "test"));
        Assert.Equal(PageContents.Word(token, 1023), m.Memory.ReadU32(va + 4092, "test"));
        Assert.Equal((token, false), (m.Memory.PageData(pfn.Value, out bool patched), patched));
        // A word written afterwards patches the page: a user reading it no longer finds the token's bytes alone.
        m.Memory.WriteU32(va + 16, 1, "test");
        Assert.Equal((token, true), (m.Memory.PageData(pfn.Value, out patched), patched));
        // The rollback puts the page back as it was at the checkpoint: no token, the one word written before it.
        Assert.True(m.Rollback(cp));
        Assert.Equal((PageContents.Unwritten, true), (m.Memory.PageData(pfn.Value, out patched), patched));
        Assert.Equal(0x1234_5678u, m.Memory.ReadU32(va + 8, "test"));
        Assert.Equal(m.Memory.Garbage(va + 16), m.Memory.ReadU32(va + 16, "test"));
    }

    [Fact]
    public void StorePage_OverAPageTable_WritesItsEntries()
    {
        var m = Boot();
        Assert.True(m.TryAllocPages(0, 0, "test: page table", out Pfn pfn, Gfp.Kernel));
        var entries = new ulong[512];
        m.Memory.RegisterPageTable(pfn.Value, 0, entries, 8);
        const ulong token = 42;
        m.Memory.StorePage(pfn.Value, token);
        // Entry k is bytes 8k .. 8k + 7: its low half is word 2k, its high half word 2k + 1.
        for (int k = 0; k < 512; k++)
            Assert.Equal(PageContents.Word(token, 2 * k) | ((ulong)PageContents.Word(token, (2 * k) + 1) << 32), entries[k]);
        Assert.Equal(PageContents.Unwritten, m.Memory.Contents.Read(pfn.Value));
        m.Memory.UnregisterPageTable(pfn.Value, 0);
    }

    [Fact]
    public void StorePage_OverAClassicSectionMemmap_OverwritesTheStructPagesItHolds()
    {
        var m = Boot("sparsemem");
        // A section memmap in the direct map (memblock's), and the first page it lies in: the struct pages of the
        // array's first 4096 / 64 = 64 pfns.
        var a = m.Memory.Arrays.First(x => x.Kind == KernelVaKind.DirectMap && x.PhysStart % 4096 == 0);
        const ulong token = 0x5EED;
        m.Memory.StorePage(a.PhysStart >> 12, token);
        for (ulong i = 0; i < 64; i++)
        {
            var page = m.PfnToPage(Pfn.FromUInt64(a.FirstPfn + i));
            Assert.Equal(a.VaStart + (i * 64), page.Address);
            int unit = (int)(i * 16); // struct page i starts at word 16 i; flags are its first 8 bytes
            Assert.Equal(PageContents.Word(token, unit) | ((ulong)PageContents.Word(token, unit + 1) << 32), m.StructPages.Flags(page));
        }
    }
}
