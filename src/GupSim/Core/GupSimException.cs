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

    private KernelOops(string message, KernelVa address, string what)
        : base(message)
    {
        Address = address;
        What = what;
    }

    /// <summary>
    /// A BUG() / VM_BUG_ON_PAGE() that fired (include/linux/mmdebug.h): "kernel BUG at FILE!" then the assertion.
    /// The kernel also prints the line number, which depends on the exact tree; GupSim names the file only.
    /// </summary>
    /// <param name="file">The source file of the assertion ("include/linux/mm.h").</param>
    /// <param name="what">The assertion and what it was checking.</param>
    public static KernelOops Bug(string file, string what) => new($"kernel BUG at {file}! ({what})", KernelVa.Null, what);

    /// <summary>
    /// An indirect call through a function pointer the kernel read from data it should not have used (an array indexed
    /// past its end): the oops lands wherever that word points, which GupSim does not follow.
    /// </summary>
    /// <param name="what">The call and the index that went wrong.</param>
    public static KernelOops BadCall(string what) => new($"BUG: unable to handle page fault: indirect call through a garbage function pointer ({what})", KernelVa.Null, what);

    /// <summary>The faulting kernel virtual address.</summary>
    public KernelVa Address { get; }

    /// <summary>What the modelled code was doing (e.g. "reading page->flags").</summary>
    public string What { get; }
}
