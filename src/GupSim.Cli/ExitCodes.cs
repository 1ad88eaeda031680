namespace GupSim.Cli;

/// <summary>Process exit codes. Commands that mirror kernel selftests use the kselftest codes instead (0 pass, 1 fail, 4 skip).</summary>
public static class ExitCodes
{
    /// <summary>Success.</summary>
    public const int Ok = 0;
    /// <summary>Bad input: one line on stderr.</summary>
    public const int BadInput = 1;
    /// <summary>The simulated kernel oopsed where the command did not expect it.</summary>
    public const int Oops = 2;
    /// <summary>A scenario expectation failed.</summary>
    public const int ExpectationFailed = 3;
}
