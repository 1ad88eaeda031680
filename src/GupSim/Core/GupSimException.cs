namespace GupSim.Core;

/// <summary>
/// Bad input to the simulator (a flag, a config file, a machine description): the message is one line that says
/// what is wrong and what to do. Kernel failures are never reported this way; they are return values.
/// </summary>
public class GupSimException : Exception
{
    public GupSimException(string message) : base(message) { }
    public GupSimException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>
/// A simulated kernel oops: the modelled kernel dereferenced an address with nothing mapped there.
/// The message reads like the kernel's "BUG: unable to handle page fault for address: ...".
/// </summary>
public sealed class KernelOops : Exception
{
    public KernelOops(KernelVa address, string what)
        : base($"BUG: unable to handle page fault for address: {address.Value:x16} ({what})")
    {
        Address = address;
        What = what;
    }

    /// <summary>The faulting kernel virtual address.</summary>
    public KernelVa Address { get; }

    /// <summary>What the modelled code was doing (e.g. "reading page->flags").</summary>
    public string What { get; }
}
