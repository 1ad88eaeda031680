namespace GupSim.Mm;

/// <summary>vm_fault_t bits (include/linux/mm_types.h, v5.11 values).</summary>
[Flags]
public enum VmFault
{
    /// <summary>0: the fault was handled.</summary>
    None = 0,
    Oom = 0x000001,
    SigBus = 0x000002,
    Major = 0x000004,
    Write = 0x000008,
    HwPoison = 0x000010,
    SigSegv = 0x000040,
    NoPage = 0x000100,
    Locked = 0x000200,
    Retry = 0x000400,
    Fallback = 0x000800,

    /// <summary>VM_FAULT_ERROR: the bits that mean the fault failed.</summary>
    Error = Oom | SigBus | SigSegv | HwPoison,
}

/// <summary>FAULT_FLAG_* (include/linux/mm.h).</summary>
[Flags]
public enum FaultFlags
{
    None = 0,
    Write = 0x01,
    Mkwrite = 0x02,
    AllowRetry = 0x04,
    RetryNowait = 0x08,
    Killable = 0x10,
    Tried = 0x20,
    User = 0x40,
    Remote = 0x80,
}

/// <summary>The leaf a walk of the page table found for an address.</summary>
/// <param name="Level">Where the leaf sits.</param>
/// <param name="Slot">The entry's slot.</param>
/// <param name="Entry">Its value.</param>
/// <param name="Bytes">How much it maps.</param>
public readonly record struct LeafWalk(PgLevel Level, EntryRef Slot, PageTableEntry Entry, ulong Bytes);
