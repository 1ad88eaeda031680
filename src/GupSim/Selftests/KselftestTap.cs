using System.Globalization;

namespace GupSim.Selftests;

/// <summary>A kselftest result code (tools/testing/selftests/kselftest.h: KSFT_PASS, KSFT_FAIL, KSFT_XFAIL, KSFT_XPASS, KSFT_SKIP); also the exit codes.</summary>
public enum KsftResult
{
    /// <summary>KSFT_PASS.</summary>
    Pass = 0,
    /// <summary>KSFT_FAIL.</summary>
    Fail = 1,
    /// <summary>KSFT_XFAIL.</summary>
    XFail = 2,
    /// <summary>KSFT_XPASS.</summary>
    XPass = 3,
    /// <summary>KSFT_SKIP.</summary>
    Skip = 4,
}

/// <summary>
/// The TAP writer of tools/testing/selftests/kselftest.h, character for character: <c>ksft_print_header()</c>,
/// <c>ksft_set_plan()</c>, <c>ksft_print_msg()</c>, <c>ksft_test_result_pass/fail/skip/xfail/error()</c>,
/// <c>ksft_test_result_report()</c>, <c>ksft_print_cnts()</c> and <c>ksft_finished()</c>. Messages are printf
/// formats already expanded: like the C functions, nothing adds a newline the message does not have (a message
/// without one runs into the next line, as it does on a real console).
/// </summary>
public sealed class KselftestTap
{
    private readonly TextWriter _out;
    private readonly Lock _lock = new();
    // ksft_cnt; xpass and error stay 0: nothing here reports them (ksft_test_result_report() has no XPASS case).
    private int _pass, _fail, _xfail, _skip;

    /// <summary>A writer on <paramref name="stdout"/>.</summary>
    public KselftestTap(TextWriter stdout)
    {
        ArgumentNullException.ThrowIfNull(stdout);
        _out = stdout;
    }

    /// <summary>The plan (ksft_plan); 0 until <see cref="SetPlan"/>.</summary>
    public int Plan { get; private set; }
    /// <summary>Results reported so far (ksft_test_num()).</summary>
    public int TestNumber
    {
        get
        {
            lock (_lock) return _pass + _fail + _xfail + _skip;
        }
    }
    /// <summary>ksft_cnt.ksft_pass.</summary>
    public int Passed => _pass;
    /// <summary>ksft_cnt.ksft_fail.</summary>
    public int Failed => _fail;
    /// <summary>ksft_cnt.ksft_xskip.</summary>
    public int Skipped => _skip;

    /// <summary>ksft_print_header(): "TAP version 13" unless KSFT_TAP_LEVEL is set (<paramref name="tapLevelSet"/>), as when runner.sh nests tests.</summary>
    public void PrintHeader(bool tapLevelSet = false)
    {
        if (!tapLevelSet) Write("TAP version 13\n");
    }

    /// <summary>ksft_set_plan(): "1..N".</summary>
    public void SetPlan(int plan)
    {
        Plan = plan;
        Write(string.Create(CultureInfo.InvariantCulture, $"1..{plan}\n"));
    }

    /// <summary>ksft_print_msg(): "# " and the message.</summary>
    public void PrintMsg(string message) => Write("# " + message);

    /// <summary>ksft_test_result_pass(): "ok N " and the message.</summary>
    public void Pass(string message) => Result(KsftResult.Pass, message);

    /// <summary>ksft_test_result_fail(): "not ok N " and the message.</summary>
    public void Fail(string message) => Result(KsftResult.Fail, message);

    /// <summary>ksft_test_result_skip(): "ok N # SKIP " and the message.</summary>
    public void Skip(string message) => Result(KsftResult.Skip, message);

    /// <summary>ksft_test_result(condition, ...): pass when <paramref name="condition"/> holds, else fail, with the same message.</summary>
    public void Result(bool condition, string message) => Result(condition ? KsftResult.Pass : KsftResult.Fail, message);

    /// <summary>ksft_test_result_report(): the result line for <paramref name="result"/> (none for KSFT_XPASS, which its switch lacks).</summary>
    public void Result(KsftResult result, string message)
    {
        lock (_lock)
        {
            string prefix;
            switch (result)
            {
                case KsftResult.Pass:
                    _pass++;
                    prefix = "ok {0} ";
                    break;
                case KsftResult.Fail:
                    _fail++;
                    prefix = "not ok {0} ";
                    break;
                case KsftResult.XFail:
                    _xfail++;
                    prefix = "ok {0} # XFAIL ";
                    break;
                case KsftResult.XPass:
                    return; // ksft_test_result_report()'s switch has no KSFT_XPASS case: nothing is printed or counted
                default:
                    _skip++;
                    prefix = "ok {0} # SKIP ";
                    break;
            }
            int n = _pass + _fail + _xfail + _skip;
            _out.Write(string.Format(CultureInfo.InvariantCulture, prefix, n) + message);
        }
    }

    /// <summary>ksft_print_cnts(): the "Planned tests != run tests" line when they differ, then the totals.</summary>
    public void PrintCounts()
    {
        lock (_lock)
        {
            int run = _pass + _fail + _xfail + _skip;
            if (Plan != run) _out.Write(string.Create(CultureInfo.InvariantCulture, $"# Planned tests != run tests ({Plan} != {run})\n"));
            _out.Write(string.Create(CultureInfo.InvariantCulture,
                $"# Totals: pass:{_pass} fail:{_fail} xfail:{_xfail} xpass:0 skip:{_skip} error:0\n"));
        }
    }

    /// <summary>
    /// ksft_finished(): prints the counts and returns the exit code — KSFT_PASS (0) when the plan equals
    /// pass + xfail + skip, else KSFT_FAIL (1). A run that skipped everything passes.
    /// </summary>
    public int Finished()
    {
        PrintCounts();
        lock (_lock) return Plan == _pass + _xfail + _skip ? (int)KsftResult.Pass : (int)KsftResult.Fail;
    }

    /// <summary>ksft_exit_pass(): the counts, then KSFT_PASS whatever the results were.</summary>
    public int ExitPass()
    {
        PrintCounts();
        return (int)KsftResult.Pass;
    }

    /// <summary>ksft_exit_fail_msg(): "Bail out! MESSAGE", the counts, KSFT_FAIL.</summary>
    public int ExitFailMessage(string message)
    {
        Write("Bail out! " + message);
        PrintCounts();
        return (int)KsftResult.Fail;
    }

    private void Write(string text)
    {
        lock (_lock) _out.Write(text);
    }
}
