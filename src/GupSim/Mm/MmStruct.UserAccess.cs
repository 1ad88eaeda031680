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
}
