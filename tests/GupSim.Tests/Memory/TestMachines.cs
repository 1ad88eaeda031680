using GupSim.Arch;
using GupSim.Memory;

namespace GupSim.Tests.Memory;

/// <summary>Machines built by hand (no input parsing), for model tests.</summary>
internal static class TestMachines
{
    public const ulong M = 1UL << 20, G = 1UL << 30;

    public static RamLayout Ram(params (ulong Start, ulong End)[] ranges) =>
        new([new NodeRam(0, [.. ranges.Select(r => PhysRange.FromStartEnd(r.Start, r.End))])], "test");

    public static Machine Boot(string arch, KernelVersion v, MemoryModel model, RamLayout ram,
        MemmapPlacement placement = MemmapPlacement.BootBuffer, ulong seed = 1, params PhysRange[] hotplug) =>
        Machine.Boot(new MachineSpec
        {
            Arch = ArchProfiles.Get(arch, v),
            Model = model,
            Ram = ram,
            Placement = placement,
            Seed = seed,
            Hotplug = hotplug,
        });

    /// <summary>x86_64 with a PC-style hole: [0, 3G) and [4G, 9G).</summary>
    public static RamLayout PcRam8G => Ram((0, 3 * G), (4 * G, 9 * G));
}
