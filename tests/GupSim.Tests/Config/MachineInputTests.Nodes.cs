using GupSim.Arch;
using GupSim.Config;
using GupSim.Memory;

namespace GupSim.Tests.Config;

/// <summary>--nodes: equal splits and explicit node ranges.</summary>
public sealed partial class MachineInputTests
{
    private const ulong Section = 128 * M;

    private static RamLayout X86_20G() => MachineInput.DefaultRam(20 * G, ArchProfiles.Get("x86_64", KernelVersion.V5_12));

    [Fact]
    public void SplitIntoNodes_X86_20G_TwoNodes_TenGEach()
    {
        RamLayout layout = MachineInput.SplitIntoNodes(X86_20G(), 2, Section);

        Assert.Equal(2, layout.Nodes.Count);
        Assert.Equal(0, layout.Nodes[0].Nid);
        Assert.Equal([R(0, 3 * G), R(4 * G, 11 * G)], layout.Nodes[0].Ranges);
        Assert.Equal(1, layout.Nodes[1].Nid);
        Assert.Equal([R(11 * G, 21 * G)], layout.Nodes[1].Ranges);
        Assert.Equal("--mem 20G, --nodes 2", layout.Source);
    }

    [Fact]
    public void SplitIntoNodes_FourNodes_EqualQuarters()
    {
        RamLayout layout = MachineInput.SplitIntoNodes(MachineInput.ParseRamSpec("0-16G"), 4, Section);

        Assert.Equal([0, 1, 2, 3], layout.Nodes.Select(n => n.Nid));
        for (int i = 0; i < 4; i++)
            Assert.Equal([R((ulong)i * 4 * G, (ulong)(i + 1) * 4 * G)], layout.Nodes[i].Ranges);
    }

    [Fact]
    public void SplitIntoNodes_UnevenSplit_RoundsBoundariesDown()
    {
        // 1G / 3 = 341.3M -> 256M; 2G / 3 = 682.7M -> 640M; the last node gets what rounding took.
        RamLayout layout = MachineInput.SplitIntoNodes(MachineInput.ParseRamSpec("0-1G"), 3, Section);

        Assert.Equal([R(0, 256 * M)], layout.Nodes[0].Ranges);
        Assert.Equal([R(256 * M, 640 * M)], layout.Nodes[1].Ranges);
        Assert.Equal([R(640 * M, G)], layout.Nodes[2].Ranges);
    }

    [Fact]
    public void SplitIntoNodes_Snapshot_BoundaryAt13G()
    {
        RamLayout iomem = MachineInput.LoadMachineFile(SnapshotDir);

        RamLayout layout = MachineInput.SplitIntoNodes(iomem, 2, Section);

        // Half of 0x5fff9ec00 bytes lies below 0x340030a00; rounded down to 128M that is 13G.
        Assert.Equal([R(0x1000, 0x9fc00), R(0x100000, 0xc0000000), R(0x100000000, 13 * G)], layout.Nodes[0].Ranges);
        Assert.Equal([R(13 * G, 25 * G)], layout.Nodes[1].Ranges);
        Assert.Equal(iomem.TotalBytes, layout.TotalBytes);
    }

    [Fact]
    public void SplitIntoNodes_BoundaryAtTheEndOfARange_LeavesTheHoleBetweenNodes()
    {
        RamLayout layout = MachineInput.SplitIntoNodes(MachineInput.ParseRamSpec("0-2G,4G-6G"), 2, Section);

        Assert.Equal([R(0, 2 * G)], layout.Nodes[0].Ranges);
        Assert.Equal([R(4 * G, 6 * G)], layout.Nodes[1].Ranges);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(MachineInput.MaxNodes + 1)]
    [InlineData(16)]
    public void SplitIntoNodes_BadCount_Throws(int nodes)
    {
        var e = Fails(() => MachineInput.SplitIntoNodes(MachineInput.ParseRamSpec("0-1G"), nodes, Section));

        Assert.StartsWith($"--nodes {nodes}: ", e.Message);
    }

    [Fact]
    public void ParseNodesSpec_Count_SplitsEqually()
    {
        RamLayout layout = MachineInput.ParseNodesSpec(" 2 ", X86_20G(), Section);

        Assert.Equal([R(0, 3 * G), R(4 * G, 11 * G)], layout.Nodes[0].Ranges);
        Assert.Equal([R(11 * G, 21 * G)], layout.Nodes[1].Ranges);
    }

    [Fact]
    public void ParseNodesSpec_ExplicitWindows_TakeTheRamInside()
    {
        RamLayout layout = MachineInput.ParseNodesSpec("0:0-8G,1:8G-21G", X86_20G(), Section);

        Assert.Equal([R(0, 3 * G), R(4 * G, 8 * G)], layout.Nodes[0].Ranges);
        Assert.Equal([R(8 * G, 21 * G)], layout.Nodes[1].Ranges);
        Assert.Equal("--mem 20G, --nodes 0:0-8G,1:8G-21G", layout.Source);
    }

    [Fact]
    public void ParseNodesSpec_RepeatedAndSparseNids_SortedByNid()
    {
        RamLayout layout = MachineInput.ParseNodesSpec("2:8G+24G,0:4G-8G,0:0-3G", X86_20G(), Section);

        Assert.Equal([0, 2], layout.Nodes.Select(n => n.Nid));
        Assert.Equal([R(0, 3 * G), R(4 * G, 8 * G)], layout.Nodes[0].Ranges);
        Assert.Equal([R(8 * G, 21 * G)], layout.Nodes[1].Ranges);
    }

    [Theory]
    [InlineData("0:0-8G,1:7G-21G", "--nodes: 0:0-8G overlaps 1:7G-21G: give each address to one node")]
    [InlineData("0:0-3G,1:3G-4G,2:4G-21G", "--nodes: '1:3G-4G' holds no RAM (RAM is 0-3G,4G-21G): give each node range some RAM")]
    [InlineData("0:0-3G,1:8G-21G", "--nodes: RAM 4G-8G is in no node: extend a node's range over it")]
    [InlineData("0:0-20G", "--nodes: RAM 20G-21G is in no node: extend a node's range over it")]
    [InlineData("0:0-0x140100000,1:0x140100000-21G", "--nodes: '0:0-0x140100000' cuts RAM at 0x140100000, not a multiple of 128M: put node boundaries inside RAM on 128M boundaries")]
    [InlineData("0-21G", "--nodes: '0-21G' is not NID:START-END: give a node count or ranges like 0:0-8G,1:8G-16G")]
    [InlineData("x:0-21G", "--nodes: 'x:0-21G' is not NID:START-END: give a node count or ranges like 0:0-8G,1:8G-16G")]
    [InlineData("1024:0-21G", "--nodes: node id 1024 in '1024:0-21G' is too large: use node ids 0 to 1023")]
    public void ParseNodesSpec_BadExplicitSpec_Throws(string spec, string message)
    {
        Assert.Equal(message, Fails(() => MachineInput.ParseNodesSpec(spec, X86_20G(), Section)).Message);
    }

    [Fact]
    public void ParseNodesSpec_UnalignedBoundaryInAHole_IsAllowed()
    {
        RamLayout layout = MachineInput.ParseNodesSpec("0:0-0xc0001000,1:0xc0001000-21G", X86_20G(), Section);

        Assert.Equal([R(0, 3 * G)], layout.Nodes[0].Ranges);
        Assert.Equal([R(4 * G, 21 * G)], layout.Nodes[1].Ranges);
    }
}
