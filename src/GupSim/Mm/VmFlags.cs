namespace GupSim.Mm;

/// <summary>vm_flags bits (include/linux/mm.h, v5.11 values).</summary>
[Flags]
public enum VmFlags : ulong
{
    None = 0,
    Read = 0x1,
    Write = 0x2,
    Exec = 0x4,
    Shared = 0x8,
    MayRead = 0x10,
    MayWrite = 0x20,
    MayExec = 0x40,
    MayShare = 0x80,
    GrowsDown = 0x100,
    /// <summary>VM_UFFD_MISSING: registered with a userfaultfd in MISSING mode (UFFDIO_REGISTER_MODE_MISSING).</summary>
    UffdMissing = 0x200,
    PfnMap = 0x400,
    Locked = 0x2000,
    Io = 0x4000,
    DontCopy = 0x20000,
    DontExpand = 0x40000,
    Account = 0x100000,
    NoReserve = 0x200000,
    Hugetlb = 0x400000,
    MixedMap = 0x10000000,
    HugePage = 0x20000000,
    NoHugePage = 0x40000000,
}

/// <summary>PROT_* (include/uapi/asm-generic/mman-common.h).</summary>
[Flags]
public enum Prot
{
    None = 0,
    Read = 0x1,
    Write = 0x2,
    Exec = 0x4,
}

/// <summary>MAP_* flags (include/uapi/asm-generic/mman*.h, x86 values) with the MAP_HUGE_* size field.</summary>
[Flags]
public enum MapFlags
{
    None = 0,
    Shared = 0x01,
    Private = 0x02,
    Fixed = 0x10,
    Anonymous = 0x20,
    NoReserve = 0x4000,
    Populate = 0x8000,
    Hugetlb = 0x40000,
}

/// <summary>MAP_HUGE_SHIFT / MAP_HUGE_MASK: log2 of the huge page size in bits 26..31 of the flags.</summary>
public static class MapHuge
{
    public const int Shift = 26;
    public const int Mask = 0x3f;

    /// <summary>MAP_HUGE_2MB-style bits for a size: log2(size) &lt;&lt; MAP_HUGE_SHIFT.</summary>
    public static MapFlags For(ulong bytes) => (MapFlags)(System.Numerics.BitOperations.Log2(bytes) << Shift);

    /// <summary>The size the flags ask for, or null when the field is 0 (the default hstate).</summary>
    public static ulong? SizeOf(MapFlags flags)
    {
        int log = ((int)flags >> Shift) & Mask;
        return log == 0 ? null : 1UL << log;
    }
}

/// <summary>madvise() advice values used by GupSim.</summary>
public enum Madvise
{
    DontNeed = 4,
    HugePage = 14,
    NoHugePage = 15,
}
