namespace GupSim.Mm;

public sealed partial class MmStruct
{
    /// <summary>
    /// A user-space load or store at <paramref name="addr"/>, as the CPU does it: a present entry that allows the
    /// access is used (the hardware sets its accessed and, for a store, dirty bit); anything else faults through
    /// <see cref="HandleMmFault"/>. Returns the fault result (VM_FAULT_SIGSEGV / SIGBUS kill the task) and, when the
    /// access succeeded, the bytes the entry maps, so a caller touching every page can step a whole leaf at once.
    /// </summary>
    public VmFault UserAccess(ulong addr, bool write, out ulong leafBytes)
    {
        leafBytes = 0;
        var leaf = WalkLeaf(addr);
        if (leaf is not { } l || !l.Entry.IsPresent || (write && !l.Entry.IsWrite))
        {
            var fault = HandleMmFault(addr, write ? FaultFlags.Write : FaultFlags.None);
            if ((fault & VmFault.Error) != 0) return fault;
            leaf = WalkLeaf(addr);
            if (leaf is not { } again || !again.Entry.IsPresent) return VmFault.SigBus;
            l = again;
        }
        var bits = PteFlags.Young | (write ? PteFlags.Dirty : PteFlags.None);
        if ((l.Entry.Flags & bits) != bits) PageTable.Write(l.Slot, l.Entry.With(bits));
        leafBytes = l.Bytes;
        return VmFault.None;
    }
    /// <summary>
    /// A user program writing a whole page of data (the <see cref="Memory.PageContents"/> token
    /// <paramref name="token"/>) at the page holding <paramref name="addr"/>: the store faults like any
    /// (<see cref="UserAccess"/>), then the page the entry maps takes the data.
    /// </summary>
    public VmFault UserWritePage(ulong addr, ulong token)
    {
        var fault = UserAccess(addr, write: true, out _);
        if ((fault & VmFault.Error) != 0) return fault;
        _m.Memory.StorePage(UserPfn(addr), token);
        return VmFault.None;
    }

    /// <summary>
    /// A user program reading the page holding <paramref name="addr"/> (faulting it in like any load): the data it
    /// holds (<see cref="Memory.KernelMemory.PageData"/>).
    /// </summary>
    public VmFault UserReadPage(ulong addr, out ulong token, out bool patched)
    {
        token = 0;
        patched = false;
        var fault = UserAccess(addr, write: false, out _);
        if ((fault & VmFault.Error) != 0) return fault;
        token = _m.Memory.PageData(UserPfn(addr), out patched);
        return VmFault.None;
    }

    // The pfn of the base page mapped at addr (present: the caller has just accessed it).
    private ulong UserPfn(ulong addr)
    {
        var l = WalkLeaf(addr)!.Value;
        return l.Entry.Pfn.Value + ((addr & (l.Bytes - 1)) >> PageShift);
    }
}
