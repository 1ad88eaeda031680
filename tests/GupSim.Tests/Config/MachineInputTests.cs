using GupSim.Config;
using GupSim.Core;
using GupSim.Memory;

namespace GupSim.Tests.Config;

/// <summary>
/// Machine files: /proc/iomem, /sys/firmware/memmap and memory-block listings, and LoadMachineFile. Expected values
/// come from data/machines/x86_64-vm-24g (a 24 GiB x86_64 Firecracker VM, read as root).
/// </summary>
public sealed partial class MachineInputTests
{
    private const ulong K = 1UL << 10, M = 1UL << 20, G = 1UL << 30;

    private static readonly string SnapshotDir = Path.Combine(AppContext.BaseDirectory, "data", "machines", "x86_64-vm-24g");
    private static string SnapshotFile(string name) => Path.Combine(SnapshotDir, name);

    private static PhysRange R(ulong start, ulong end) => PhysRange.FromStartEnd(start, end);

    /// <summary>The snapshot's top-level "System RAM" lines 2, 6 and 16, made half-open.</summary>
    private static readonly PhysRange[] SnapshotIomemRam =
        [R(0x1000, 0x9fc00), R(0x100000, 0xc0000000), R(0x100000000, 0x640000000)];

    private static PhysRange[] Ranges(RamLayout layout) => [.. layout.AllRanges];

    private static GupSimException Fails(Action action) => Assert.Throws<GupSimException>(action);

    // ---- /proc/iomem ----

    [Fact]
    public void ParseIomem_Snapshot_ReturnsTopLevelSystemRamOnly()
    {
        string path = SnapshotFile(MachineInput.IomemFileName);
        RamLayout layout = MachineInput.ParseIomem(File.ReadAllText(path), path);

        NodeRam node = Assert.Single(layout.Nodes);
        Assert.Equal(0, node.Nid);
        Assert.Equal(SnapshotIomemRam, node.Ranges);
        Assert.Equal(path, layout.Source);
    }

    [Fact]
    public void ParseIomem_Snapshot_TotalBytesExact()
    {
        RamLayout layout = MachineInput.ParseIomem(File.ReadAllText(SnapshotFile(MachineInput.IomemFileName)), "iomem");

        // 0x9ec00 + 0xbff00000 + 0x540000000: 24 GiB less page 0, 640K-1M (0x61400 bytes).
        Assert.Equal(0x5fff9ec00UL, layout.TotalBytes);
        Assert.Equal(24 * G - 0x61400, layout.TotalBytes);
    }

    [Fact]
    public void ParseIomem_Snapshot_ShowsThePciHoleFrom3To4G()
    {
        RamLayout layout = MachineInput.ParseIomem(File.ReadAllText(SnapshotFile(MachineInput.IomemFileName)), "iomem");

        PhysRange hole = R(0xc0000000, 0x100000000);
        Assert.DoesNotContain(layout.AllRanges, r => r.Overlaps(hole));
        Assert.DoesNotContain(layout.AllRanges, r => r.Contains(0xc0000000) || r.Contains(0xffffffff));
        Assert.Contains(layout.AllRanges, r => r.Contains(0xbfffffff));
        Assert.Contains(layout.AllRanges, r => r.Contains(0x100000000));
    }

    [Fact]
    public void ParseIomem_AllAddressesZero_SaysReadAsRoot()
    {
        const string nonRoot = """
            00000000-00000000 : Reserved
            00000000-00000000 : System RAM
            00000000-00000000 : Reserved
              00000000-00000000 : System ROM
            00000000-00000000 : System RAM
              00000000-00000000 : Kernel code
            """;

        var e = Fails(() => MachineInput.ParseIomem(nonRoot, "/proc/iomem"));

        Assert.Equal("addresses hidden: read /proc/iomem as root", e.Message);
    }

    [Theory]
    [InlineData("00100000-bfffffff System RAM")]
    [InlineData("00100000 : System RAM")]
    [InlineData("0010000g-bfffffff : System RAM")]
    [InlineData("bfffffff-00100000 : System RAM")]
    [InlineData("-bfffffff : System RAM")]
    public void ParseIomem_MalformedLine_NamesFileAndLineNumber(string bad)
    {
        string text = $"00000000-00000fff : Reserved\n00001000-0009fbff : System RAM\n  {bad}\n";

        var e = Fails(() => MachineInput.ParseIomem(text, "iomem.txt"));

        Assert.Equal($"iomem.txt:3: malformed /proc/iomem line:   {bad}", e.Message);
    }

    [Fact]
    public void ParseIomem_NoSystemRam_Throws()
    {
        var e = Fails(() => MachineInput.ParseIomem("00000000-00000fff : Reserved\n  000f0000-000fffff : System ROM\n", "x"));

        Assert.StartsWith("x: no \"System RAM\" entry", e.Message);
    }

    [Fact]
    public void ParseIomem_Empty_Throws()
    {
        Fails(() => MachineInput.ParseIomem("", "x"));
        Fails(() => MachineInput.ParseIomem("\n  \n", "x"));
    }

    [Fact]
    public void ParseIomem_NestedSystemRam_CountsOnlyOutermost()
    {
        const string text = """
            00000000-0fffffff : System RAM
              00100000-001fffff : System RAM
              00200000-002fffff : Kernel code
            40000000-7fffffff : Reserved
              40000000-4fffffff : System RAM
                40000000-407fffff : System RAM
              50000000-5fffffff : System RAM (kmem)
            80000000-8fffffff : System RAM
            """;

        RamLayout layout = MachineInput.ParseIomem(text, "x");

        Assert.Equal([R(0, 0x10000000), R(0x40000000, 0x50000000), R(0x80000000, 0x90000000)], Ranges(layout));
    }

    [Fact]
    public void ParseIomem_CrLfBlankLinesAndEmptyNames_AreRead()
    {
        string text = "00000000-00000fff : \r\n\r\n00001000-00001fff :\r\n00100000-001fffff : System RAM\r\n";

        Assert.Equal([R(0x100000, 0x200000)], Ranges(MachineInput.ParseIomem(text, "x")));
    }

    [Fact]
    public void ParseIomem_TouchingRamEntries_AreMergedAndSorted()
    {
        const string text = """
            100000000-13fffffff : System RAM
            00100000-3fffffff : System RAM
            40000000-7fffffff : System RAM
            """;

        Assert.Equal([R(0x100000, 0x80000000), R(0x100000000, 0x140000000)], Ranges(MachineInput.ParseIomem(text, "x")));
    }

    // ---- /sys/firmware/memmap ----

    [Fact]
    public void ParseFirmwareMemmap_Snapshot_ReturnsSystemRamEntries()
    {
        string path = SnapshotFile(MachineInput.FirmwareMemmapFileName);
        RamLayout layout = MachineInput.ParseFirmwareMemmap(File.ReadAllText(path), path);

        // Entries 0, 2 and 4; unlike /proc/iomem the firmware table still has page 0.
        Assert.Equal([R(0, 0x9fc00), R(0x100000, 0xc0000000), R(0x100000000, 0x640000000)], Ranges(layout));
        Assert.Equal(24 * G - 0x60400, layout.TotalBytes);
        Assert.Equal(path, layout.Source);
    }

    [Fact]
    public void ParseFirmwareMemmap_ColonDashForm_IsRead()
    {
        const string text = "0: 0x0-0x9fbff System RAM\n3: 0xeec00000-0xfebfffff Reserved\n4: 0x100000000-0x63fffffff System RAM\n";

        Assert.Equal([R(0, 0x9fc00), R(0x100000000, 0x640000000)], Ranges(MachineInput.ParseFirmwareMemmap(text, "x")));
    }

    [Fact]
    public void ParseFirmwareMemmap_OtherTypes_DoNotCount()
    {
        const string text = "0 0x0 0xfff ACPI Tables\n1 0x1000 0x1fff System RAM\n2 0x2000 0x2fff Persistent Memory\n3 0x3000 0x3fff System  RAM\n";

        // "System  RAM" with two spaces is still System RAM: the type is read as words.
        Assert.Equal([R(0x1000, 0x2000), R(0x3000, 0x4000)], Ranges(MachineInput.ParseFirmwareMemmap(text, "x")));
    }

    [Theory]
    [InlineData("x 0x0 0x9fbff System RAM")]
    [InlineData("1 0x0 System RAM")]
    [InlineData("1 0x9fbff 0x0 System RAM")]
    [InlineData("1 0x0 0x9fbff")]
    public void ParseFirmwareMemmap_MalformedLine_NamesLineNumber(string bad)
    {
        var e = Fails(() => MachineInput.ParseFirmwareMemmap($"0 0x0 0xfff System RAM\n{bad}\n", "memmap.txt"));

        Assert.StartsWith($"memmap.txt:2: malformed /sys/firmware/memmap line: {bad}", e.Message);
    }

    [Fact]
    public void ParseFirmwareMemmap_NoSystemRam_Throws()
    {
        Fails(() => MachineInput.ParseFirmwareMemmap("0 0x0 0xfff Reserved\n", "x"));
    }

    [Fact]
    public void ParseFirmwareMemmap_Overlap_Throws()
    {
        var e = Fails(() => MachineInput.ParseFirmwareMemmap("0 0x0 0x1fff System RAM\n1 0x1000 0x2fff System RAM\n", "m"));

        Assert.StartsWith("m: System RAM at m:1 overlaps System RAM at m:2", e.Message);
    }

    // ---- memory blocks ----

    [Fact]
    public void ParseMemoryBlocks_Snapshot_GivesWholeBlocksAroundTheHole()
    {
        string path = SnapshotFile(MachineInput.MemoryBlocksFileName);
        RamLayout layout = MachineInput.ParseMemoryBlocks(File.ReadAllText(path), path);

        // Blocks 0..23 and 32..199 of 128M (its /sys/devices/system/memory): 192 blocks, 24 GiB, whole blocks only.
        Assert.Equal([R(0, 3 * G), R(4 * G, 25 * G)], Ranges(layout));
        Assert.Equal(192 * 128 * M, layout.TotalBytes);
    }

    [Fact]
    public void ParseMemoryBlocks_BlockSizeGivenByCaller_NeedsNoHeader()
    {
        const string text = "memory0 0 online none\nmemory2 2 offline Normal\nmemory1 1 online DMA32\n";

        Assert.Equal([R(0, 384 * M)], Ranges(MachineInput.ParseMemoryBlocks(text, "x", 128 * M)));
        Assert.Equal([R(0, 384 * M)], Ranges(MachineInput.ParseMemoryBlocks("8000000\n" + text, "x", 128 * M)));
    }

    [Fact]
    public void ParseMemoryBlocks_Errors()
    {
        Assert.Contains("no block size", Fails(() => MachineInput.ParseMemoryBlocks("memory0 0 online none\n", "x")).Message);
        Assert.Contains("disagrees", Fails(() => MachineInput.ParseMemoryBlocks("8000000\nmemory0 0\n", "x", 256 * M)).Message);
        Assert.StartsWith("x:1: malformed block_size_bytes", Fails(() => MachineInput.ParseMemoryBlocks("7000000\nmemory0 0\n", "x")).Message);
        Assert.StartsWith("x:2: malformed memory block line", Fails(() => MachineInput.ParseMemoryBlocks("8000000\nmemoryX 0\n", "x")).Message);
        Assert.Equal(
            "x: memory3 and memory3 are the same memory block: list each block once",
            Fails(() => MachineInput.ParseMemoryBlocks("8000000\nmemory3 3\nmemory3 3\n", "x")).Message);
        Assert.Contains("no memoryN line", Fails(() => MachineInput.ParseMemoryBlocks("8000000\n", "x")).Message);
        Assert.Contains("beyond 64-bit addresses", Fails(() => MachineInput.ParseMemoryBlocks("8000000\nmemory1 1fffffffff\n", "x")).Message);
        Assert.Equal([R(0x1ffffffffeUL << 27, 0x1fffffffffUL << 27)], Ranges(MachineInput.ParseMemoryBlocks("8000000\nmemory1 1ffffffffe\n", "x")));
    }

    // ---- LoadMachineFile ----

    [Fact]
    public void LoadMachineFile_SnapshotDirectory_PrefersIomem()
    {
        RamLayout layout = MachineInput.LoadMachineFile(SnapshotDir);

        Assert.Equal(SnapshotIomemRam, Ranges(layout));
        Assert.Equal(SnapshotFile(MachineInput.IomemFileName), layout.Source);
    }

    [Theory]
    [InlineData(MachineInput.IomemFileName, 0x1000UL, 0x640000000UL)]
    [InlineData(MachineInput.FirmwareMemmapFileName, 0UL, 0x640000000UL)]
    [InlineData(MachineInput.MemoryBlocksFileName, 0UL, 0x640000000UL)]
    public void LoadMachineFile_File_DetectsFormatByContent(string name, ulong firstStart, ulong lastEnd)
    {
        RamLayout layout = MachineInput.LoadMachineFile(SnapshotFile(name));

        Assert.Equal(firstStart, layout.AllRanges.First().Start);
        Assert.Equal(lastEnd, layout.AllRanges.Last().End);
    }

    [Fact]
    public void LoadMachineFile_DirectoryWithHiddenIomem_FallsBackToFirmwareMemmap()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File(MachineInput.IomemFileName), "00000000-00000000 : System RAM\n");
        File.WriteAllText(dir.File(MachineInput.FirmwareMemmapFileName), "0 0x0 0x3fffffff System RAM\n");

        Assert.Equal([R(0, G)], Ranges(MachineInput.LoadMachineFile(dir.Path)));

        File.Delete(dir.File(MachineInput.FirmwareMemmapFileName));
        Assert.Equal(MachineInput.IomemHiddenMessage, Fails(() => MachineInput.LoadMachineFile(dir.Path)).Message);
    }

    [Fact]
    public void LoadMachineFile_SysfsMemmapDirectory_IsRead()
    {
        using var dir = new TempDir();
        string[][] entries = [["0x0", "0x9fbff", "System RAM"], ["0x9fc00", "0xfffff", "Reserved"], ["0x100000", "0xbfffffff", "System RAM"]];
        for (int i = 0; i < entries.Length; i++)
        {
            string sub = Directory.CreateDirectory(dir.File(i.ToString(System.Globalization.CultureInfo.InvariantCulture))).FullName;
            File.WriteAllText(Path.Combine(sub, "start"), entries[i][0] + "\n");
            File.WriteAllText(Path.Combine(sub, "end"), entries[i][1] + "\n");
            File.WriteAllText(Path.Combine(sub, "type"), entries[i][2] + "\n");
        }

        Assert.Equal([R(0, 0x9fc00), R(0x100000, 0xc0000000)], Ranges(MachineInput.LoadMachineFile(dir.Path)));
    }

    [Fact]
    public void LoadMachineFile_NothingThere_Throws()
    {
        using var dir = new TempDir();

        Assert.Contains("no machine description here", Fails(() => MachineInput.LoadMachineFile(dir.Path)).Message);
        Assert.Contains(": No such file or directory (--iomem wants a copy of /proc/iomem", Fails(() => MachineInput.LoadMachineFile(dir.File("missing.txt"))).Message);
    }

    private sealed class TempDir : IDisposable
    {
        public TempDir() => Path = Directory.CreateTempSubdirectory("gupsim-machine-").FullName;

        public string Path { get; }

        public string File(string name) => System.IO.Path.Combine(Path, name);

        public void Dispose() => Directory.Delete(Path, recursive: true);
    }
}
