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

/// <summary>
/// The numbers a kernel gives the FOLL_* flags, for words that cross into the kernel as numbers (gup_test's
/// <c>gup_flags</c>, <c>-F</c>). GupSim's <see cref="FollFlags"/> are the v5.11 #defines of include/linux/mm.h, which
/// the kernel kept until v6.2 (FOLL_NOFAULT 0x80, FOLL_PCI_P2PDMA 0x100000, FOLL_INTERRUPTIBLE 0x200000 came later
/// and are not modelled). v6.3 (Jason Gunthorpe's 2c2241081f7d, "mm/gup: move private gup FOLL_ flags to
/// internal.h", after David Howells' b5054174ac7c moved the #defines to mm_types.h unchanged) renumbered them: an
/// enum in include/linux/mm_types.h from bit 0 (WRITE, GET, DUMP, FORCE, NOWAIT, NOFAULT, HWPOISON, ANON, LONGTERM,
/// SPLIT_PMD, PCI_P2PDMA, INTERRUPTIBLE; HONOR_NUMA_FAULT bit 12 from v6.5) and the internal ones in mm/internal.h
/// from bit 16 (TOUCH, TRIED, REMOTE, PIN, FAST_ONLY, UNLOCKABLE). A user word built with the old numbers means other
/// flags there: the selftest's own <c>#define FOLL_TOUCH 0x02</c> is FOLL_GET from v6.3.
/// </summary>
public static class FollFlagsAbi
{
    /// <summary>v6.3 bit → GupSim flag (bits GupSim does not model, and unused ones, are <see cref="FollFlags.None"/>).</summary>
    private static readonly FollFlags[] s_v63 =
    [
        FollFlags.Write, FollFlags.Get, FollFlags.Dump, FollFlags.Force, FollFlags.NoWait, FollFlags.None /* NOFAULT */,
        FollFlags.HwPoison, FollFlags.Anon, FollFlags.Longterm, FollFlags.SplitPmd, FollFlags.None /* PCI_P2PDMA */,
        FollFlags.None /* INTERRUPTIBLE */, FollFlags.None /* HONOR_NUMA_FAULT */, FollFlags.None, FollFlags.None, FollFlags.None,
        FollFlags.Touch, FollFlags.Tried, FollFlags.Remote, FollFlags.Pin, FollFlags.FastOnly, FollFlags.None /* UNLOCKABLE */,
    ];

    /// <summary>The flags a kernel of version <paramref name="v"/> reads in the number <paramref name="word"/> (bits it has no flag for are dropped, as nothing there tests them).</summary>
    public static FollFlags FromKernelWord(uint word, Arch.KernelVersion v)
    {
        if (!v.FollFlagsRenumbered) return (FollFlags)word;
        var f = FollFlags.None;
        for (int b = 0; b < s_v63.Length; b++)
            if ((word & (1u << b)) != 0) f |= s_v63[b];
        return f;
    }

    /// <summary>The number a kernel of version <paramref name="v"/> gives <paramref name="flags"/> (the inverse of <see cref="FromKernelWord"/> for the flags it has).</summary>
    public static uint ToKernelWord(FollFlags flags, Arch.KernelVersion v)
    {
        if (!v.FollFlagsRenumbered) return (uint)flags;
        uint w = 0;
        for (int b = 0; b < s_v63.Length; b++)
            if (s_v63[b] != FollFlags.None && (flags & s_v63[b]) != 0) w |= 1u << b;
        return w;
    }
}
