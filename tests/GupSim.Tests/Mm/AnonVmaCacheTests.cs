using GupSim.Arch;
using GupSim.Memory;
using static GupSim.Tests.Memory.TestMachines;

namespace GupSim.Tests.Mm;

/// <summary>
/// The anon_vma kmem_cache per release, from struct anon_vma's layout on x86_64: root 8, rw_semaphore 40, refcount 4
/// + degree 4, parent 8, rb_root_cached 16 = 80 bytes on v5.11; from v6.0 num_children and num_active_vmas (8 each)
/// replace degree (refcount then pads to 8): 96. SLAB_TYPESAFE_BY_RCU with a constructor puts the 8-byte free
/// pointer after the object: s->size 88 and 104, so a 4 KiB slab holds 4096 / 88 = 46 and 4096 / 104 = 39.
/// </summary>
public class AnonVmaCacheTests
{
    [Theory]
    [InlineData("5.11", 80, 88, 46)]
    [InlineData("6.1", 96, 104, 39)]
    public void ObjectSize_FollowsTheStructOfTheRelease(string version, int objectSize, int size, int objects)
    {
        var m = Boot("x86_64", KernelVersion.Parse(version), MemoryModel.SparsememVmemmap, Ram((0, G)));
        var cache = m.Vfs.Objects.AnonVmaCache;
        Assert.Equal((objectSize, size, 0, objects), (cache.ObjectSize, cache.Size, cache.Order, cache.Objects));
    }
}
