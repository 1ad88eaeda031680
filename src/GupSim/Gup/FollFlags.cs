namespace GupSim.Gup;

/// <summary>FOLL_* flags (include/linux/mm.h, v5.11 values).</summary>
[Flags]
public enum FollFlags
{
    None = 0,
    Write = 0x01,
    Touch = 0x02,
    Get = 0x04,
    Dump = 0x08,
    Force = 0x10,
    NoWait = 0x20,
    Populate = 0x40,
    Split = 0x80,
    HwPoison = 0x100,
    Numa = 0x200,
    Migration = 0x400,
    Tried = 0x800,
    Mlock = 0x1000,
    Remote = 0x2000,
    Cow = 0x4000,
    Anon = 0x8000,
    Longterm = 0x10000,
    SplitPmd = 0x20000,
    Pin = 0x40000,
    FastOnly = 0x80000,
}
