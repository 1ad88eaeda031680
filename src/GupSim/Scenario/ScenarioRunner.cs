using System.Globalization;
using GupSim.Config;
using GupSim.Core;
using GupSim.Fs;
using GupSim.Hugetlb;
using GupSim.Memory;
using GupSim.Mm;
using GupSim.Reports;

namespace GupSim.Scenario;

/// <summary>The outcome of a scenario run.</summary>
/// <param name="ExpectationsPassed">Expectations that held.</param>
/// <param name="ExpectationsFailed">Expectations that did not.</param>
public sealed record ScenarioResult(int ExpectationsPassed, int ExpectationsFailed)
{
    /// <summary>Every step that ran, in order (comments and blank lines are not steps).</summary>
    public IReadOnlyList<ScenarioStep> Steps { get; init; } = [];

    /// <summary>The last <c>machine</c> line's machine, or null when the script booted none.</summary>
    public Machine? Machine { get; init; }
}

/// <summary>One line of a scenario script as it ran.</summary>
/// <param name="Line">1-based line number.</param>
/// <param name="Op">The operation, lower case (<c>pin</c>, <c>expect</c>, ...).</param>
/// <param name="Text">The line without its comment, trimmed.</param>
/// <param name="Result">What the step set as "the last result" (<c>ok</c>, an errno name such as <c>EINVAL</c>, <c>SIGBUS</c>); null when the operation sets none.</param>
/// <param name="Output">The lines the step printed.</param>
/// <param name="Oops">The oops the step ran into, or null.</param>
/// <param name="SoftLockup">The soft lockup the step ran into, or null.</param>
/// <param name="Expectation">For <c>expect</c>: what was expected and whether it held.</param>
/// <param name="Gup">For <c>pin</c>/<c>get</c>: what the GUP calls returned.</param>
public sealed record ScenarioStep(int Line, string Op, string Text, string? Result, IReadOnlyList<string> Output, string? Oops, string? SoftLockup,
    ScenarioExpectation? Expectation, ScenarioGup? Gup)
{
    /// <summary>The stray stores the step made (stores through a pointer that was not the one the kernel meant), or null when it made none.</summary>
    public StrayWrites? StrayWrites { get; init; }
}

/// <summary>An <c>expect</c> line's outcome.</summary>
/// <param name="What">The expectation's name (<c>pages-correct</c>, <c>result</c>, ...).</param>
/// <param name="Args">Its arguments.</param>
/// <param name="Ok">Whether it held.</param>
/// <param name="Detail">What was seen, as printed in parentheses.</param>
public sealed record ScenarioExpectation(string What, IReadOnlyList<string> Args, bool Ok, string Detail);

/// <summary>A <c>pin</c>/<c>get</c> line's outcome.</summary>
/// <param name="Mapping">The mapping's name.</param>
/// <param name="Pin">FOLL_PIN (pin) rather than FOLL_GET (get).</param>
/// <param name="Fast">The gup-fast entry point.</param>
/// <param name="Strategy">The GUP code that ran.</param>
/// <param name="Batch">Pages per call.</param>
/// <param name="Pages">Entries taken.</param>
/// <param name="Total">Pages in the mapping.</param>
/// <param name="Wrong">Entries that are not the struct page of the pfn mapped at their address (GupSim's oracle).</param>
/// <param name="FirstWrongIndex">The first wrong entry's index, or null.</param>
/// <param name="FirstWrong">The oracle's line about it, or null.</param>
/// <param name="Migrated">Pages FOLL_LONGTERM migrated.</param>
/// <param name="Unpinnable">Pinned heads left in CMA or ZONE_MOVABLE.</param>
public sealed record ScenarioGup(string Mapping, bool Pin, bool Fast, string Strategy, long Batch, long Pages, long Total, long Wrong,
    long? FirstWrongIndex, string? FirstWrong, long Migrated, long Unpinnable);

/// <summary>
/// Runs a scenario script (docs/scenarios.md): one operation per line on one simulated machine, printing what each
/// step did. Operations: <c>machine</c>, <c>hotplug</c>, <c>hotremove</c>, <c>hugepages</c>, <c>meminfo</c>,
/// <c>layout</c>, <c>walk</c>, <c>dmesg</c>, <c>expect</c>.
/// </summary>
public sealed class ScenarioRunner
{
    private readonly TextWriter _out;
    private readonly StepCapture _capture;
    private readonly List<ScenarioStep> _steps = [];
    private ScenarioExpectation? _stepExpectation;
    private ScenarioGup? _stepGup;
    private string? _stepOops, _stepLockup;
    private static readonly string s_noResult = new('\0', 1);
    private Machine? _m;
    private int _logSeen;
    private int _badPagesSinceLastExpect;
    private ulong _wrongWritesSinceLastExpect;
    private StrayWrites _strayWritesSinceLastExpect;
    private StrayWrites? _stepStray;
    private KernelOops? _lastOops;
    private int _passed, _failed;
    private MmStruct? _mm;
    private readonly Dictionary<string, (ulong Addr, ulong Len)> _maps = [];
    private readonly Dictionary<string, Fs.OpenFile> _files = [];
    private string? _lastResult;
    private readonly Dictionary<string, (Pages.PagePtr[] Pages, long Count, Gup.FollFlags Flags, Gup.PinBalance Before, Pages.PagePtr[]? Right)> _pins = [];
    private long _lastWrong;
    private readonly Dictionary<string, Gup.ISubpageRecorder> _userRecorders = [];
    private bool _lastLeak;
    private KernelSoftLockup? _lastLockup;
    private long _lastMigrated;
    private long _lastUnpinnable;
    private string _source = "scenario";
    private int _line;

    public ScenarioRunner(TextWriter output) => _out = _capture = new StepCapture(output);

    /// <summary>
    /// <c>--trace page_ref</c>: every machine the script boots records the page_ref trace events
    /// (<see cref="Debug.PageRefTrace"/>), and each step prints the lines its reference changes fired, in order, as
    /// <c>  trace: EVENT: pfn=… …</c> after its own output.
    /// </summary>
    public bool TracePageRef { get; init; }

    /// <summary>The machine, once a <c>machine</c> line ran.</summary>
    public Machine? Machine => _m;

    /// <summary>The scenario's process (its mm), once a <c>machine</c> line ran.</summary>
    public MmStruct? Process => _mm;

    /// <summary>
    /// The last <c>pin</c>/<c>get</c> step's call: the address its first entry is for, and the entries it filled
    /// (<c>gupsim explain</c> draws them). Null before any GUP step.
    /// </summary>
    public (ulong Start, Pages.PagePtr[] Pages, long Count)? LastGup { get; private set; }

    /// <summary>
    /// Runs the following lines on <paramref name="machine"/>, booted by the caller, as if a <c>machine</c> line had
    /// booted it (<c>gupsim explain</c> boots from its command-line options).
    /// </summary>
    public void UseMachine(Machine machine)
    {
        ArgumentNullException.ThrowIfNull(machine);
        _m = machine;
        _mm = MmStruct.Create(machine) ?? throw new GupSimException("no memory for a process page table");
        _maps.Clear();
        _files.Clear();
        _logSeen = machine.KernelLog.Count;
        StartTrace();
    }

    /// <summary>
    /// Makes <paramref name="recorder"/> a <c>strategy=</c> name of this runner's steps, as a <c>strategy-assembly</c> or
    /// <c>strategy-c</c> line would, for a recorder the caller has already loaded (so a C file is not compiled twice).
    /// </summary>
    public void AddUserRecorder(Gup.ISubpageRecorder recorder)
    {
        ArgumentNullException.ThrowIfNull(recorder);
        _userRecorders[recorder.Name] = recorder;
    }

    /// <summary>With <see cref="TracePageRef"/>, enables the page_ref events on the machine just booted or taken.</summary>
    private void StartTrace()
    {
        if (TracePageRef && _m is not null) _m.PageRefTrace = new Debug.PageRefTrace(_m);
    }

    /// <summary>Prints and forgets the trace lines the step's reference changes recorded.</summary>
    private void ReportTrace()
    {
        if (_m?.PageRefTrace is not { } t) return;
        var lines = t.TakeLines();
        foreach (string l in lines) _out.WriteLine("  trace: " + l);
    }

    /// <summary>The address and length of the mapping <c>mmap</c> called <paramref name="name"/>, or false when there is none.</summary>
    public bool TryGetMapping(string name, out ulong address, out ulong length)
    {
        bool ok = _maps.TryGetValue(name, out var r);
        (address, length) = r;
        return ok;
    }

    /// <summary>Runs every line of <paramref name="text"/>.</summary>
    /// <exception cref="GupSimException">Thrown on a malformed line, with its file and line number.</exception>
    public ScenarioResult Run(string text, string source)
    {
        _source = source;
        var lines = text.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            _line = i + 1;
            string line = lines[i];
            int hash = line.IndexOf('#');
            if (hash >= 0) line = line[..hash];
            var words = Tokenize(line);
            if (words.Length == 0) continue;
            // The step's own result: "the last result" as the step leaves it, if the step set one (expect only reads it).
            bool reads = string.Equals(words[0], "expect", StringComparison.OrdinalIgnoreCase);
            string? before = _lastResult;
            if (!reads) _lastResult = s_noResult;
            _stepExpectation = null;
            _stepGup = null;
            _stepOops = _stepLockup = null;
            _stepStray = null;
            _capture.Begin();
            try
            {
                Step(words);
            }
            catch (GupSimException e)
            {
                throw new GupSimException($"{_source}:{_line}: {e.Message}");
            }
            finally
            {
                string? result = null;
                if (!reads)
                {
                    if (ReferenceEquals(_lastResult, s_noResult)) _lastResult = before;
                    else result = _lastResult;
                }
                _steps.Add(new ScenarioStep(_line, words[0].ToLowerInvariant(), line.Trim(), result, _capture.End(), _stepOops, _stepLockup, _stepExpectation, _stepGup)
                {
                    StrayWrites = _stepStray,
                });
            }
        }
        _out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"scenario: {_passed} expectations passed, {_failed} failed"));
        return new ScenarioResult(_passed, _failed) { Steps = [.. _steps], Machine = _m };
    }

    /// <summary>Passes everything through to the output and keeps the lines of the current step.</summary>
    private sealed class StepCapture(TextWriter inner) : TextWriter
    {
        private readonly System.Text.StringBuilder _step = new();
        private bool _on;

        public override System.Text.Encoding Encoding => inner.Encoding;

        public override IFormatProvider FormatProvider => CultureInfo.InvariantCulture;

        public void Begin()
        {
            _step.Clear();
            _on = true;
        }

        public List<string> End()
        {
            _on = false;
            var lines = new List<string>(_step.ToString().Split('\n'));
            if (lines[^1].Length == 0) lines.RemoveAt(lines.Count - 1);
            for (int i = 0; i < lines.Count; i++) lines[i] = lines[i].TrimEnd('\r');
            return lines;
        }

        public override void Write(char value)
        {
            inner.Write(value);
            if (_on) _step.Append(value);
        }

        public override void Write(string? value)
        {
            inner.Write(value);
            if (_on) _step.Append(value);
        }

        public override void WriteLine(string? value)
        {
            inner.WriteLine(value);
            if (_on) _step.Append(value).Append('\n');
        }

        public override void WriteLine()
        {
            inner.WriteLine();
            if (_on) _step.Append('\n');
        }

        public override void Flush() => inner.Flush();
    }

    /// <summary>Splits a line into words; "double quotes" keep spaces inside one word.</summary>
    private string[] Tokenize(string line)
    {
        var words = new List<string>();
        var cur = new System.Text.StringBuilder();
        bool quoted = false, any = false;
        foreach (char c in line)
        {
            if (c == '"')
            {
                quoted = !quoted;
                any = true;
            }
            else if (!quoted && char.IsWhiteSpace(c))
            {
                if (any) words.Add(cur.ToString());
                cur.Clear();
                any = false;
            }
            else
            {
                cur.Append(c);
                any = true;
            }
        }
        if (quoted) throw new GupSimException($"{_source}:{_line}: unterminated quote");
        if (any) words.Add(cur.ToString());
        return [.. words];
    }

    private Machine M => _m ?? throw new GupSimException("no machine yet: start with a 'machine ...' line");

    private void Step(string[] w)
    {
        string op = w[0].ToLowerInvariant();
        var args = w.Skip(1).ToArray();
        if (op != "machine" && op != "expect") _ = M;
        var strayBefore = _m?.StrayWrites ?? default;
        var strayMachine = _m;
        try
        {
            switch (op)
            {
                case "machine": DoMachine(args); break;
                case "hotplug": DoHotplug(args, add: true); break;
                case "hotremove": DoHotplug(args, add: false); break;
                case "hugepages": DoHugepages(args); break;
                case "churn": DoChurn(args); break;
                case "meminfo": DoMeminfo(); break;
                case "layout": LayoutText.Write(_out, LayoutReport.Of(M)); break;
                case "walk": DoWalk(args); break;
                case "dmesg": foreach (var l in M.KernelLog) _out.WriteLine("  " + l); break;
                case "mount": DoMount(args); break;
                case "mmap": DoMmap(args); break;
                case "touch": DoTouch(args); break;
                case "fill": DoFill(args); break;
                case "verify": DoVerify(args); break;
                case "uffd-register": DoUffdRegister(args); break;
                case "uffd-copy": DoUffdCopy(args); break;
                case "munmap": DoMunmap(args); break;
                case "mprotect": DoMprotect(args); break;
                case "madvise": DoMadvise(args); break;
                case "rm" or "unlink": DoRm(args); break;
                case "open": DoOpen(args); break;
                case "memfd": DoMemfd(args); break;
                case "tmpfile": DoTmpfile(args); break;
                case "ftruncate": DoFtruncate(args); break;
                case "fallocate": DoFallocate(args); break;
                case "close": DoClose(args); break;
                case "files": DoFiles(); break;
                case "strategy-assembly":
                    if (args.Length != 1) throw new GupSimException("usage: strategy-assembly PATH.dll");
                    foreach (var r in Gup.StrategyAssemblies.LoadRecorders(args[0]))
                    {
                        AddUserRecorder(r);
                        _out.WriteLine($"strategy-assembly: recorder '{r.Name}' ({r.GetType().FullName})");
                    }
                    break;
                case "strategy-c":
                    if (args.Length != 1) throw new GupSimException("usage: strategy-c FILE.c");
                    {
                        var r = Gup.C.CRecorder.Load(args[0]);
                        AddUserRecorder(r);
                        _out.WriteLine($"strategy-c: recorder '{r.Name}' ({args[0]})");
                    }
                    break;
                case "pin": DoGup(args, pin: true); break;
                case "get": DoGup(args, pin: false); break;
                case "unpin": DoRelease(args, unpin: true); break;
                case "put": DoRelease(args, unpin: false); break;
                case "expect": DoExpect(args); break;
                case "crash": Debug.CrashCommandLine.Parse(args, "a crash step takes crash words only; see docs/scenarios.md").Run(M, _out); break;
                default: throw new GupSimException($"unknown operation '{w[0]}': use machine, churn, hotplug, hotremove, hugepages, mount, open, memfd, tmpfile, ftruncate, fallocate, close, rm, files, mmap, touch, munmap, mprotect, madvise, pin, get, unpin, put, meminfo, layout, walk, dmesg, crash or expect");
            }
        }
        catch (KernelOops e)
        {
            _lastOops = e;
            _stepOops = e.Message;
            _out.WriteLine("  " + e.Message);
        }
        catch (KernelSoftLockup e)
        {
            _lastLockup = e;
            _stepLockup = e.Message;
            _out.WriteLine("  " + e.Message);
        }
        ReportStrayWrites(strayMachine, strayBefore);
        CollectKernelLog();
        ReportTrace();
    }

    /// <summary>After a step that made stray stores: the one "stray writes: ..." line (docs/scenarios.md).</summary>
    private void ReportStrayWrites(Machine? machine, StrayWrites before)
    {
        if (machine is null || !ReferenceEquals(machine, _m)) return;
        var made = machine.StrayWrites - before;
        if (made.N == 0) return;
        _stepStray = made;
        _strayWritesSinceLastExpect += made;
        _out.WriteLine("  " + made.ToLine());
    }

    private void CollectKernelLog()
    {
        if (_m is null) return;
        for (; _logSeen < _m.KernelLog.Count; _logSeen++)
        {
            string l = _m.KernelLog[_logSeen];
            if (l.StartsWith("BUG: Bad page state", StringComparison.Ordinal))
            {
                _badPagesSinceLastExpect++;
                _out.WriteLine("  dmesg: " + l);
            }
        }
    }

    private void DoMachine(string[] args)
    {
        var opts = MachineOptions.FromArgs(args);
        _m = opts.Boot();
        _mm = MmStruct.Create(_m) ?? throw new GupSimException("machine: no memory for a process page table");
        _maps.Clear();
        _files.Clear();
        _lastResult = null;
        _logSeen = 0;
        _badPagesSinceLastExpect = 0;
        _wrongWritesSinceLastExpect = 0;
        _strayWritesSinceLastExpect = default;
        _lastOops = null;
        StartTrace();
        foreach (var warn in opts.Warnings) _out.WriteLine("  warning: " + warn);
        _out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"machine: {_m.Arch.Name} v{_m.Version} {Arch.MemoryModelNames.ToName(_m.Model)}, RAM {ByteSize.Format(_m.Ram.Aggregate(0UL, (a, r) => a + r.Bytes))}, {_m.PresentSections.Count} present sections"));
        foreach (var c in _m.Churns) _out.WriteLine("  " + c.Result.Summary); // machine ... --churn SIZE
    }

    private void DoHotplug(string[] args, bool add)
    {
        if (args.Length is < 1 or > 4) throw new GupSimException(add ? "usage: hotplug START-END [node N] [movable]" : "usage: hotremove START-END");
        int nid = 0;
        bool movable = add && args[^1] == "movable";
        var rest = movable ? args[..^1] : args;
        if (rest.Length == 3 && rest[1] == "node") nid = int.Parse(rest[2], CultureInfo.InvariantCulture);
        else if (rest.Length != 1) throw new GupSimException(add ? "usage: hotplug START-END [node N] [movable]" : "usage: hotremove START-END");
        string? firstFailure = null;
        foreach (var r in MachineInput.ParseRamSpec(args[0]).AllRanges)
        {
            int rc = add ? M.HotAdd(r, nid, movable) : M.HotRemove(r);
            Result($"{(add ? "hotplug" : "hotremove")} {r}", rc == 0 ? "ok" : "-" + ErrnoName(rc));
            firstFailure ??= rc == 0 ? null : _lastResult;
        }
        // The step's result (what `expect result` and gupsim check read): the first range the kernel refused, else ok.
        if (firstFailure is not null) _lastResult = firstFailure;
    }

    private void DoHugepages(string[] args)
    {
        foreach (string a in args)
        {
            int eq = a.IndexOf('=');
            if (eq <= 0) throw new GupSimException($"hugepages: '{a}' is not SIZE=COUNT");
            ulong size = ByteSize.Parse(a[..eq]);
            if (!ulong.TryParse(a[(eq + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out ulong count))
                throw new GupSimException($"hugepages: '{a[(eq + 1)..]}' is not a page count");
            var h = M.Hugetlb.Find(size) ?? throw new GupSimException($"hugepages: {ByteSize.Format(size)} is not a huge page size of this machine ({string.Join(", ", M.Hugetlb.Hstates)})");
            ulong before = h.NrHugePages, wrongBefore = M.Hugetlb.WrongSubpageWritesTotal;
            ulong got = M.Hugetlb.SetMaxHugePages(h, count);
            ulong wrong = M.Hugetlb.WrongSubpageWritesTotal - wrongBefore;
            _wrongWritesSinceLastExpect += wrong;
            _out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"hugepages {h}: nr_hugepages {before} -> {got} (asked {count}), free {h.FreeHugePages}"));
            if (wrong > 0)
                _out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  oracle: update_and_free_page wrote flags through {wrong} subpage pointers that were not the subpage's struct page"));
        }
    }

    /// <summary>churn SIZE: the lived-in workload (Mm/Churn.cs) on the machine as it is now; its summary line.</summary>
    private void DoChurn(string[] args)
    {
        if (args.Length != 1) throw new GupSimException("usage: churn SIZE (e.g. churn 1G)");
        if (!ByteSize.TryParse(args[0], out ulong bytes))
            throw new GupSimException($"churn: '{args[0]}' is not a size: use a number with an optional K, M, G, T or P suffix, e.g. 1G");
        _out.WriteLine(M.RunChurn(bytes).Result.Summary);
    }

    private MmStruct Proc => _mm ?? throw new GupSimException("no machine yet: start with a 'machine ...' line");

    private void Result(string op, string result)
    {
        _lastResult = result;
        _out.WriteLine($"{op}: {result}");
    }

    private static string ErrnoName(long rc) => rc < 0 ? ((Errno)(-rc)).ToString() : "ok";

    /// <summary>mount [TYPE] PATH [pagesize=SIZE]: TYPE tmpfs, ext4, xfs, btrfs, other or hugetlbfs (the default, as before).</summary>
    private void DoMount(string[] args)
    {
        const string usage = "usage: mount [tmpfs|ext4|xfs|btrfs|other|hugetlbfs] PATH [pagesize=SIZE]";
        if (args.Length is < 1 or > 3) throw new GupSimException(usage);
        var type = Fs.FsType.Hugetlbfs;
        if (!args[0].StartsWith('/'))
        {
            type = Fs.FsTypes.Parse(args[0]);
            args = args[1..];
            if (args.Length == 0) throw new GupSimException(usage);
        }
        ulong? size = null;
        if (args.Length == 2)
        {
            if (!args[1].StartsWith("pagesize=", StringComparison.Ordinal) || type != Fs.FsType.Hugetlbfs) throw new GupSimException($"mount: unknown option '{args[1]}'");
            size = ByteSize.Parse(args[1]["pagesize=".Length..]);
        }
        else if (args.Length > 2) throw new GupSimException(usage);
        if (type == Fs.FsType.Hugetlbfs)
        {
            var mount = M.Hugetlb.Mounts.Mount(args[0], size);
            _out.WriteLine($"mount -t hugetlbfs -o pagesize={mount.Hstate} none {mount.Path}: ok");
            return;
        }
        var vm = M.Vfs.Mount(type, args[0]);
        _out.WriteLine($"mount -t {type.Name()} none {vm.Path}: ok");
    }

    private Fs.OpenFile File(string name) =>
        _files.TryGetValue(name, out var f) ? f : throw new GupSimException($"no open file named '{name}' (open: {(_files.Count == 0 ? "none" : string.Join(", ", _files.Keys))})");

    private void AddFile(string name, Fs.OpenFile f, string what)
    {
        if (_files.TryGetValue(name, out var old) && !old.IsClosed) throw new GupSimException($"'{name}' is already an open file: close it first");
        _files[name] = f;
        _out.WriteLine($"{what}: {f.Inode.Path} ({f.Inode.FsType.Name()}, size {f.Inode.Size}, {f.Inode.CachedPages} cached pages)");
        _lastResult = "ok";
    }

    /// <summary>open NAME PATH [SIZE]: open(O_CREAT|O_RDWR), and ftruncate to SIZE when given.</summary>
    private void DoOpen(string[] args)
    {
        if (args.Length is < 2 or > 3) throw new GupSimException("usage: open NAME PATH [SIZE]");
        var f = M.Vfs.Open(args[1]);
        if (args.Length == 3 && f.Ftruncate(ByteSize.Parse(args[2])) is int rc && rc != 0)
        {
            f.Close();
            Result($"open {args[0]} {args[1]}", ErrnoName(rc));
            return;
        }
        AddFile(args[0], f, $"open {args[0]}");
    }

    /// <summary>memfd NAME [hugetlb[=SIZE]] [size=LEN]: memfd_create("NAME", [MFD_HUGETLB | MFD_HUGE_*]), then ftruncate(LEN).</summary>
    private void DoMemfd(string[] args)
    {
        if (args.Length < 1) throw new GupSimException("usage: memfd NAME [hugetlb[=SIZE]] [size=LEN]");
        bool huge = false;
        ulong? hsize = null, len = null;
        foreach (string a in args.Skip(1))
        {
            if (a == "hugetlb") huge = true;
            else if (a.StartsWith("hugetlb=", StringComparison.Ordinal))
            {
                huge = true;
                hsize = ByteSize.Parse(a["hugetlb=".Length..]);
            }
            else if (a.StartsWith("size=", StringComparison.Ordinal)) len = ByteSize.Parse(a["size=".Length..]);
            else throw new GupSimException($"memfd: unknown flag '{a}'");
        }
        int rc = M.Vfs.MemfdCreate(args[0], out var f, huge, hsize);
        if (rc == 0 && len is ulong l && f!.Ftruncate(l) is int trc && trc != 0)
        {
            f.Close();
            rc = trc;
        }
        if (rc != 0)
        {
            Result($"memfd {args[0]}", ErrnoName(rc));
            return;
        }
        AddFile(args[0], f!, $"memfd {args[0]}");
    }

    /// <summary>tmpfile NAME [DIR]: open(DIR, O_TMPFILE) (default /tmp), as tmpfile() does.</summary>
    private void DoTmpfile(string[] args)
    {
        if (args.Length is < 1 or > 2) throw new GupSimException("usage: tmpfile NAME [DIR]");
        AddFile(args[0], M.Vfs.OpenTmpfile(args.Length == 2 ? args[1] : "/tmp"), $"tmpfile {args[0]}");
    }

    private void DoFtruncate(string[] args)
    {
        if (args.Length != 2) throw new GupSimException("usage: ftruncate NAME SIZE");
        Result($"ftruncate {args[0]} {args[1]}", ErrnoName(File(args[0]).Ftruncate(ByteSize.Parse(args[1]))));
    }

    private void DoFallocate(string[] args)
    {
        if (args.Length is < 2 or > 3) throw new GupSimException("usage: fallocate NAME [OFFSET] LENGTH");
        ulong off = args.Length == 3 ? ByteSize.Parse(args[1]) : 0, len = ByteSize.Parse(args[^1]);
        var f = File(args[0]);
        int rc = f.Fallocate(off, len);
        Result($"fallocate {args[0]} ({f.Inode.CachedPages} cached pages)", ErrnoName(rc));
    }

    private void DoClose(string[] args)
    {
        if (args.Length != 1) throw new GupSimException("usage: close NAME");
        var f = File(args[0]);
        int rc = f.Close();
        _files.Remove(args[0]);
        Result($"close {args[0]}{(f.Inode.Evicted ? " (inode evicted)" : "")}", ErrnoName(rc));
    }

    /// <summary>files: every live inode with a base-page page cache, and the open files.</summary>
    private void DoFiles()
    {
        foreach (var i in M.Vfs.LiveInodes.OrderBy(i => i.Path, StringComparer.Ordinal))
            _out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {i.Path}: {i.FsType.Name()}, size {i.Size}, {i.CachedPages} cached pages, {i.References} references, {i.Mappings.Count} mappings"));
        foreach (var (name, f) in _files) _out.WriteLine($"  open file {name}: {f.Inode.Path}");
    }

    private void DoMmap(string[] args)
    {
        if (args.Length < 2) throw new GupSimException("usage: mmap NAME LENGTH [hugetlb[=SIZE]|file=PATH] [shared|private] [ro] [noreserve] [populate]");
        string name = args[0];
        ulong len = ByteSize.Parse(args[1]);
        var flags = MapFlags.Private | MapFlags.Anonymous;
        var prot = Prot.Read | Prot.Write;
        Fs.Inode? file = null;
        Fs.OpenFile? opened = null;
        ulong offset = 0;
        foreach (string a in args.Skip(2))
        {
            if (a == "shared") flags = (flags & ~MapFlags.Private) | MapFlags.Shared;
            else if (a == "private") flags = (flags & ~MapFlags.Shared) | MapFlags.Private;
            else if (a == "ro") prot = Prot.Read;
            else if (a == "noreserve") flags |= MapFlags.NoReserve;
            else if (a == "populate") flags |= MapFlags.Populate;
            else if (a == "hugetlb") flags |= MapFlags.Hugetlb;
            else if (a.StartsWith("hugetlb=", StringComparison.Ordinal)) flags |= MapFlags.Hugetlb | MapHuge.For(ByteSize.Parse(a["hugetlb=".Length..]));
            else if (a == "anon") flags |= MapFlags.Anonymous;
            else if (a.StartsWith("offset=", StringComparison.Ordinal)) offset = ByteSize.Parse(a["offset=".Length..]);
            else if (a.StartsWith("file=", StringComparison.Ordinal))
            {
                // file=NAME of an open file, or file=PATH (opened with O_CREAT for the mmap and closed after it).
                string f = a["file=".Length..];
                if (_files.TryGetValue(f, out var of)) file = of.Inode;
                else if (f.StartsWith('/')) file = (opened = M.Vfs.Open(f)).Inode;
                else throw new GupSimException($"mmap: '{f}' is neither an open file nor an absolute path");
                flags &= ~MapFlags.Anonymous;
            }
            else throw new GupSimException($"mmap: unknown flag '{a}'");
        }
        long rc = Proc.Mmap(0, len, prot, flags, file, offset);
        opened?.Close();
        if (rc < 0)
        {
            Result($"mmap {name} {ByteSize.Format(len)}", "-" + ErrnoName(rc));
            _lastResult = ErrnoName(rc);
            return;
        }
        var vma = Proc.VmaAt((ulong)rc)!;
        _maps[name] = ((ulong)rc, vma.End - vma.Start);
        Result($"mmap {name} {ByteSize.Format(len)} at 0x{rc:x}", "ok");
    }

    private (ulong Addr, ulong Len) Mapping(string name) =>
        _maps.TryGetValue(name, out var r) ? r : throw new GupSimException($"no mapping named '{name}' (mapped: {(_maps.Count == 0 ? "none" : string.Join(", ", _maps.Keys))})");

    private void DoTouch(string[] args)
    {
        if (args.Length < 1) throw new GupSimException("usage: touch NAME [write] [OFFSET [LENGTH]]");
        var (addr, len) = Mapping(args[0]);
        bool write = args.Skip(1).Contains("write");
        var nums = args.Skip(1).Where(a => a != "write").ToArray();
        ulong off = nums.Length > 0 ? ByteSize.Parse(nums[0]) : 0;
        ulong tlen = nums.Length > 1 ? ByteSize.Parse(nums[1]) : len - Math.Min(off, len);
        var vma = Proc.VmaAt(addr);
        ulong step = vma?.Hstate?.Size.Bytes ?? M.Arch.PageSize;
        var fault = VmFault.None;
        ulong touched = 0;
        for (ulong a = addr + off; a < addr + off + tlen; a = (a & ~(step - 1)) + step)
        {
            // A user load or store: a present entry that allows it does not fault (MmStruct.UserAccess).
            fault = Proc.UserAccess(a, write, out _);
            if ((fault & VmFault.Error) != 0) break;
            touched++;
        }
        string r = (fault & VmFault.SigBus) != 0 ? "SIGBUS" : (fault & VmFault.SigSegv) != 0 ? "SIGSEGV" : (fault & VmFault.Oom) != 0 ? "OOM" : "ok";
        Result(string.Create(CultureInfo.InvariantCulture, $"touch {args[0]} {(write ? "write" : "read")} ({touched} pages faulted)"), r);
    }

    /// <summary>fill NAME: the user writes its own data into every page of the mapping (a pattern that differs page by page).</summary>
    private void DoFill(string[] args)
    {
        if (args.Length != 1) throw new GupSimException("usage: fill NAME");
        var (addr, len) = Mapping(args[0]);
        var fault = VmFault.None;
        ulong written = 0;
        for (ulong a = addr; a < addr + len; a += M.Arch.PageSize)
        {
            fault = Proc.UserWritePage(a, PageContents.UserPattern(a));
            if ((fault & VmFault.Error) != 0) break;
            written++;
        }
        Result(string.Create(CultureInfo.InvariantCulture, $"fill {args[0]} ({written} pages written)"), FaultName(fault));
    }

    /// <summary>
    /// verify DST SRC [OFFSET]: the user compares DST from OFFSET (bytes, default 0) with SRC, page by page, over the
    /// shorter of the two (reading faults pages in, as any load does): <c>ok</c>, or how many pages of DST differ from
    /// SRC and where the first one is (from DST's start).
    /// </summary>
    private void DoVerify(string[] args)
    {
        if (args.Length is not (2 or 3)) throw new GupSimException("usage: verify DST SRC [OFFSET]");
        var (dst0, dlen0) = Mapping(args[0]);
        var (src, slen) = Mapping(args[1]);
        var (dst, dlen) = OffsetInto(args[0], dst0, dlen0, args.Length == 3 ? args[2] : null);
        ulong len = Math.Min(dlen, slen), differ = 0, first = ulong.MaxValue;
        var fault = VmFault.None;
        for (ulong off = 0; off < len && (fault & VmFault.Error) == 0; off += M.Arch.PageSize)
        {
            fault = Proc.UserReadPage(dst + off, out ulong d, out bool dp);
            if ((fault & VmFault.Error) != 0) break;
            fault = Proc.UserReadPage(src + off, out ulong sv, out bool sp);
            if ((fault & VmFault.Error) != 0) break;
            if (d == sv && !dp && !sp && d != PageContents.Unwritten) continue;
            differ++;
            if (first == ulong.MaxValue) first = dst - dst0 + off;
        }
        string what = string.Create(CultureInfo.InvariantCulture, $"verify {string.Join(' ', args)} ({len >> M.Arch.PageShift} pages)");
        if ((fault & VmFault.Error) != 0) Result(what, FaultName(fault));
        else if (differ == 0) Result(what, "ok");
        else Result(what, string.Create(CultureInfo.InvariantCulture, $"{differ} pages differ, the first at +0x{first:x}"));
    }

    /// <summary>uffd-register NAME: userfaultfd() and UFFDIO_REGISTER (MISSING mode) over the whole mapping.</summary>
    private void DoUffdRegister(string[] args)
    {
        if (args.Length != 1) throw new GupSimException("usage: uffd-register NAME");
        var (addr, len) = Mapping(args[0]);
        Result($"uffd-register {args[0]}", ErrnoName(Proc.UffdRegister(addr, len)));
    }

    /// <summary>
    /// uffd-copy DST SRC [OFFSET]: UFFDIO_COPY of SRC's bytes into DST from OFFSET (bytes, default 0), over the
    /// shorter of SRC and the rest of DST.
    /// </summary>
    private void DoUffdCopy(string[] args)
    {
        if (args.Length is not (2 or 3)) throw new GupSimException("usage: uffd-copy DST SRC [OFFSET]");
        var (dst0, dlen0) = Mapping(args[0]);
        var (src, slen) = Mapping(args[1]);
        var (dst, dlen) = OffsetInto(args[0], dst0, dlen0, args.Length == 3 ? args[2] : null);
        var vma = Proc.VmaAt(dst);
        if (vma is not null && !vma.IsHugetlb && (vma.Flags & VmFlags.UffdMissing) != 0)
            throw new GupSimException($"uffd-copy: {args[0]} is not a hugetlb mapping; GupSim models UFFDIO_COPY into hugetlb mappings only (mmap it with hugetlb=SIZE)");
        var r = Proc.UffdioCopy(dst, src, Math.Min(dlen, slen));
        Result(string.Create(CultureInfo.InvariantCulture, $"uffd-copy {string.Join(' ', args)} (copy {r.Copied})"), ErrnoName(r.Result));
    }

    // [addr + OFFSET, addr + len) of the mapping NAME; a one-line error when OFFSET is not inside it.
    private static (ulong Addr, ulong Len) OffsetInto(string name, ulong addr, ulong len, string? offset)
    {
        if (offset is null) return (addr, len);
        ulong off = ByteSize.Parse(offset);
        if (off >= len) throw new GupSimException($"offset {offset} is past the end of {name} ({ByteSize.Format(len)}): give an offset inside the mapping");
        return (addr + off, len - off);
    }

    private static string FaultName(VmFault fault) =>
        (fault & VmFault.SigBus) != 0 ? "SIGBUS" : (fault & VmFault.SigSegv) != 0 ? "SIGSEGV" : (fault & VmFault.Oom) != 0 ? "OOM" : "ok";

    private void DoMunmap(string[] args)
    {
        if (args.Length != 1) throw new GupSimException("usage: munmap NAME");
        var (addr, len) = Mapping(args[0]);
        int rc = Proc.Munmap(addr, len);
        if (rc == 0) _maps.Remove(args[0]);
        Result($"munmap {args[0]}", rc == 0 ? "ok" : ErrnoName(rc));
    }

    private void DoMprotect(string[] args)
    {
        if (args.Length != 2 || args[1] is not ("ro" or "read" or "rw" or "write" or "none")) throw new GupSimException("usage: mprotect NAME ro|read|rw|write|none");
        var (addr, len) = Mapping(args[0]);
        var prot = args[1] switch { "ro" or "read" => Prot.Read, "rw" or "write" => Prot.Read | Prot.Write, _ => Prot.None };
        Result($"mprotect {args[0]} {args[1]}", ErrnoName(Proc.Mprotect(addr, len, prot)));
    }

    private void DoMadvise(string[] args)
    {
        if (args.Length != 2) throw new GupSimException("usage: madvise NAME hugepage|nohugepage|dontneed");
        var (addr, len) = Mapping(args[0]);
        var advice = args[1] switch
        {
            "hugepage" => Madvise.HugePage,
            "nohugepage" => Madvise.NoHugePage,
            "dontneed" => Madvise.DontNeed,
            _ => throw new GupSimException($"madvise: unknown advice '{args[1]}'"),
        };
        Result($"madvise {args[0]} {args[1]}", ErrnoName(Proc.Madvise(addr, len, advice)));
    }

    private void DoRm(string[] args)
    {
        if (args.Length != 1) throw new GupSimException("usage: rm PATH");
        if (M.Vfs.FsTypeOf(args[0]) == Fs.FsType.Hugetlbfs)
        {
            // As before: a hugetlbfs file's page cache and reservations go at once (the name stays).
            var inode = M.Hugetlb.Mounts.OpenOrCreate(args[0]);
            M.Hugetlb.RemoveInodePages(inode);
            Result($"rm {args[0]}", "ok");
            return;
        }
        Result($"rm {args[0]}", ErrnoName(M.Vfs.Unlink(args[0])));
    }

    /// <summary>
    /// pin/get NAME [fast] [write] [longterm] [batch=N] [strategy=S] [offset=BYTES] [pages=N]: GUP over the mapping
    /// (or N pages from NAME + BYTES) in calls of N pages, as gup_test's module loop does (<see cref="Gup.GupTestLoop"/>).
    /// </summary>
    private void DoGup(string[] args, bool pin)
    {
        if (args.Length < 1) throw new GupSimException($"usage: {(pin ? "pin" : "get")} NAME [fast] [write] [longterm] [batch=N] [strategy=NAME] [offset=BYTES] [pages=N]");
        var (addr, len) = Mapping(args[0]);
        bool fast = false;
        var flags = Gup.FollFlags.None;
        long batch = -1;
        ulong offset = 0;
        long? count = null;
        Gup.GupStrategy? strategy = null;
        foreach (string a in args.Skip(1))
        {
            if (a == "fast") fast = true;
            else if (a == "write") flags |= Gup.FollFlags.Write;
            else if (a == "longterm") flags |= Gup.FollFlags.Longterm;
            else if (a.StartsWith("batch=", StringComparison.Ordinal)) batch = a == "batch=-1" ? -1 : (long)ParseNumber(a["batch=".Length..]);
            else if (a.StartsWith("offset=", StringComparison.Ordinal)) offset = ByteSize.Parse(a["offset=".Length..]);
            else if (a.StartsWith("pages=", StringComparison.Ordinal)) count = (long)ParseNumber(a["pages=".Length..]);
            else if (a.StartsWith("strategy=", StringComparison.Ordinal))
            {
                string sname = a["strategy=".Length..];
                strategy = Gup.StrategySelection.ByName(sname, _userRecorders.Values, M.Version);
            }
            else throw new GupSimException($"{(pin ? "pin" : "get")}: unknown flag '{a}'");
        }
        if (offset >= len)
            throw new GupSimException(string.Create(CultureInfo.InvariantCulture, $"{(pin ? "pin" : "get")}: offset={offset} is past the end of '{args[0]}' ({len} bytes): use an offset below its length"));
        ulong mapStart = addr;
        addr += offset;
        // Pages from addr to the mapping's end (a start inside a page counts that page, as the kernel's nr_pages would).
        long fit = (long)((len - offset + M.Arch.PageSize - 1) >> M.Arch.PageShift);
        long total = count ?? fit;
        if (total <= 0 || total > fit)
            throw new GupSimException(string.Create(CultureInfo.InvariantCulture, $"{(pin ? "pin" : "get")}: pages={total} does not fit in '{args[0]}' from offset {offset}: use 1 to {fit}"));
        if (batch <= 0) batch = total;
        var gup = new Gup.GetUserPages(M, strategy);
        var pages = new Pages.PagePtr[total];
        var counters0 = M.Grab.Counters.Snapshot();
        var before = Gup.PinBalance.Take(Proc, mapStart, len);
        var loop = Gup.GupTestLoop.Get(gup, Proc, new Gup.GupEntryPoint(pin, fast, flags), addr, total, batch, pages);
        long done = loop.Done;
        string outcome = loop.Error < 0 ? ErrnoName(loop.Error) : "ok";
        var oracle = Gup.PagesOracle.Check(Proc, addr, pages.AsSpan(0, (int)done));
        long wrong = oracle.Wrong;
        string? first = oracle.FirstWrongText;
        _lastWrong = wrong;
        // Migrated pages: the old heads are gone; the new ones are judged against their state before GUP pinned them.
        var migrated = gup.Migrated;
        foreach (var mp in migrated)
        {
            before.Moved(mp.OldPfn, mp.NewPfn, mp.NewRefcount, mp.NewPincount);
        }
        _lastMigrated = migrated.Count;
        _lastUnpinnable = CountUnpinnableHeads(pages.AsSpan(0, (int)done));
        // The struct pages the entries should have been, kept only when some are not: unpin/put judges stray stores by them.
        Pages.PagePtr[]? right = null;
        if (wrong > 0)
        {
            right = new Pages.PagePtr[done];
            Gup.PagesOracle.RightPages(Proc, addr, right);
        }
        _pins[args[0]] = (pages, done, pin ? Gup.FollFlags.Pin : Gup.FollFlags.Get, before, right);
        LastGup = (addr, pages, done);
        _lastResult = outcome;
        _stepGup = new ScenarioGup(args[0], pin, fast, gup.Strategy.Name, batch, done, total, wrong,
            oracle.FirstWrongIndex >= 0 ? oracle.FirstWrongIndex : null, first, migrated.Count, _lastUnpinnable);
        _out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{(pin ? "pin" : "get")}{(fast ? "-fast" : "")} {args[0]} ({gup.Strategy.Name}, batch {batch}): {done} of {total} pages, {wrong} wrong{(outcome == "ok" ? "" : ", then " + outcome)}"));
        if (first is not null) _out.WriteLine("  first wrong: " + first);
        if (migrated.Count > 0 || (flags & Gup.FollFlags.Longterm) != 0)
            _out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  longterm: {migrated.Count} migrated{(migrated.Count > 0 ? $" (first pfn 0x{migrated[0].OldPfn:x} -> 0x{migrated[0].NewPfn:x})" : "")}, {_lastUnpinnable} pinned head(s) in CMA or ZONE_MOVABLE"));
        var c = M.Grab.Counters.Snapshot() - counters0;
        _out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  counters: atomics {c.Atomics}, struct pages touched {c.StructPagesTouched}, pfn_to_page {c.PfnToPageCalls}, page_to_pfn {c.PageToPfnCalls}, section lookups {c.SectionLookups}, entries read {c.PageTableEntriesRead}, pages[] writes {c.PagesWrites}"));
    }

    /// <summary>Distinct heads among pinned entries that sit in a CMA pageblock or ZONE_MOVABLE (by the entry's own pfn).</summary>
    private long CountUnpinnableHeads(ReadOnlySpan<Pages.PagePtr> pages)
    {
        var seen = new HashSet<ulong>();
        var sp = M.StructPages;
        long n = 0;
        foreach (var p in pages)
        {
            if (M.Describe(p).Pfn is null) continue;
            ulong head = M.PageToPfn(sp.CompoundHead(p)).Value;
            if (!seen.Add(head)) continue;
            if (M.IsCmaPfn(head) || M.ZoneOfPfn(head)?.Type == Arch.ZoneType.Movable) n++;
        }
        return n;
    }

    private void DoRelease(string[] args, bool unpin)
    {
        bool range = args.Length == 2 && args[1] == "range";
        if (args.Length != 1 && !(range && unpin)) throw new GupSimException(unpin ? "usage: unpin NAME [range]" : "usage: put NAME");
        if (!_pins.TryGetValue(args[0], out var p)) throw new GupSimException($"nothing pinned or got for '{args[0]}'");
        // unpin_user_page_range_dirty_lock() drops FOLL_PIN pins only.
        if (range && p.Flags != Gup.FollFlags.Pin) throw new GupSimException($"'{args[0]}' was got (FOLL_GET), not pinned: 'unpin {args[0]} range' releases pins only; put it");
        _pins.Remove(args[0]);
        var span = p.Pages.AsSpan(0, (int)p.Count);
        var right = p.Right is null ? [] : p.Right.AsSpan(0, (int)p.Count);
        long runs = 0;
        if (range) runs = Gup.IbUmem.Release(M, span, right, judgeStrays: true);
        else Gup.GupTestLoop.PutBack(M, p.Flags == Gup.FollFlags.Pin, span, right);
        var diffs = p.Before.Differences(pools: false);
        _lastLeak = diffs.Count > 0;
        foreach (var d in diffs) _out.WriteLine("  " + d);
        string how = !range ? ""
            : M.Version < Arch.KernelVersion.V5_12 ? ", page by page: v5.11 has no unpin_user_page_range_dirty_lock()"
            : string.Create(CultureInfo.InvariantCulture, $", {runs} pfn-contiguous range(s) by unpin_user_page_range_dirty_lock()");
        Result($"{(p.Flags == Gup.FollFlags.Pin ? "unpin" : "put")} {args[0]} ({p.Count} pages{how})", "ok");
    }

    private void DoMeminfo()
    {
        var m = M;
        ulong totalKb = m.Nodes.SelectMany(n => n.Zones).Aggregate(0UL, (a, z) => a + z.ManagedPages) << (m.Arch.PageShift - 10);
        ulong freeKb = m.FreePagesTotal << (m.Arch.PageShift - 10);
        _out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"MemTotal:       {totalKb,8} kB"));
        _out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"MemFree:        {freeKb,8} kB"));
        foreach (var l in m.Hugetlb.MeminfoLines()) _out.WriteLine(l);
        if (m.CmaAreas.Count > 0)
        {
            _out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"CmaTotal:       {m.TotalCmaPages << (m.Arch.PageShift - 10),8} kB"));
            _out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"CmaFree:        {m.FreeCmaPagesTotal << (m.Arch.PageShift - 10),8} kB"));
        }
    }

    private void DoWalk(string[] args)
    {
        if (args.Length != 2) throw new GupSimException("usage: walk PFN COUNT");
        ulong pfn = ParseNumber(args[0]), count = ParseNumber(args[1]);
        var steps = PageWalk.Run(M, Pfn.FromUInt64(pfn), count);
        int wrong = steps.Count(s => !s.Correct);
        _out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"walk 0x{pfn:x} +{count}: {count - (ulong)wrong} right, {wrong} wrong"));
        var first = steps.FirstOrDefault(s => !s.Correct);
        if (first is not null)
            _out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  first wrong: step {first.Step} at {first.Addr} is {first.Kind}{(first.Pfn is ulong p ? $" (pfn 0x{p:x})" : "")}, expected pfn 0x{first.ExpectedPfn:x}"));
    }

    private static ulong ParseNumber(string s) => Numbers.ParseUInt64(s, "number");

    /// <summary>
    /// <c>expect stray-writes [N] [FIELD=N ...]</c>: the stray stores since the last stray-writes expectation; N is
    /// the total, FIELD one of in-use, free, page-tables, slab, other, unmapped, bits. With no argument: at least one.
    /// </summary>
    private bool ExpectStrayWrites(string[] args, out string detail)
    {
        const string usage = "usage: expect stray-writes [N] [in-use=N] [free=N] [page-tables=N] [slab=N] [other=N] [unmapped=N] [bits=N]";
        var w = _strayWritesSinceLastExpect;
        detail = w.ToLine();
        if (args.Length == 0) return w.N > 0;
        bool ok = true;
        foreach (string a in args)
        {
            int eq = a.IndexOf('=');
            if (eq < 0)
            {
                ok &= w.N == ParseNumber(a);
                continue;
            }
            ulong want = ParseNumber(a[(eq + 1)..]);
            ulong have = a[..eq].ToLowerInvariant() switch
            {
                "n" => w.N,
                "in-use" => w.InUse,
                "free" => w.Free,
                "page-tables" => w.PageTables,
                "slab" => w.Slab,
                "other" => w.Other,
                "unmapped" => w.Unmapped,
                "bits" => w.BitsChanged,
                _ => throw new GupSimException($"expect stray-writes: unknown field '{a[..eq]}': {usage}"),
            };
            ok &= have == want;
        }
        return ok;
    }

    private void DoExpect(string[] args)
    {
        if (args.Length == 0) throw new GupSimException("expect what? (bad-page-state, no-bad-page-state, oops, no-oops, soft-lockup, migrated N, unpinnable N, wrong-subpage-writes, no-wrong-subpage-writes, stray-writes N [FIELD=N ...], no-stray-writes, result R, hugepages|free-hugepages|resv-hugepages|surplus-hugepages SIZE=N)");
        string what = args[0].ToLowerInvariant();
        bool ok;
        string detail;
        switch (what)
        {
            case "bad-page-state":
                ok = _badPagesSinceLastExpect > 0;
                detail = $"{_badPagesSinceLastExpect} bad page report(s)";
                _badPagesSinceLastExpect = 0;
                break;
            case "no-bad-page-state":
                ok = _badPagesSinceLastExpect == 0;
                detail = $"{_badPagesSinceLastExpect} bad page report(s)";
                _badPagesSinceLastExpect = 0;
                break;
            case "oops":
                ok = _lastOops is not null;
                detail = _lastOops?.Message ?? "no oops";
                _lastOops = null;
                break;
            case "no-oops":
                ok = _lastOops is null;
                detail = _lastOops?.Message ?? "no oops";
                break;
            case "wrong-subpage-writes":
                ok = _wrongWritesSinceLastExpect > 0;
                detail = $"{_wrongWritesSinceLastExpect} wrong subpage write(s)";
                _wrongWritesSinceLastExpect = 0;
                break;
            case "no-wrong-subpage-writes":
                ok = _wrongWritesSinceLastExpect == 0;
                detail = $"{_wrongWritesSinceLastExpect} wrong subpage write(s)";
                _wrongWritesSinceLastExpect = 0;
                break;
            case "stray-writes":
                ok = ExpectStrayWrites(args[1..], out detail);
                _strayWritesSinceLastExpect = default;
                break;
            case "no-stray-writes":
                ok = _strayWritesSinceLastExpect.N == 0;
                detail = _strayWritesSinceLastExpect.ToLine();
                _strayWritesSinceLastExpect = default;
                break;
            case "pages-correct":
                ok = _lastWrong == 0;
                detail = $"{_lastWrong} wrong entries";
                break;
            case "wrong-pages":
                if (args.Length != 2) throw new GupSimException("usage: expect wrong-pages N");
                ok = _lastWrong == (long)ParseNumber(args[1]);
                detail = $"{_lastWrong} wrong entries";
                break;
            case "leak":
                ok = _lastLeak;
                detail = _lastLeak ? "a head kept references or pins" : "every head back where it was";
                break;
            case "no-leak":
                ok = !_lastLeak;
                detail = _lastLeak ? "a head kept references or pins" : "every head back where it was";
                break;
            case "migrated":
                if (args.Length != 2) throw new GupSimException("usage: expect migrated N");
                ok = _lastMigrated == (long)ParseNumber(args[1]);
                detail = $"{_lastMigrated} page(s) migrated by the last pin/get";
                break;
            case "unpinnable":
                if (args.Length != 2) throw new GupSimException("usage: expect unpinnable N");
                ok = _lastUnpinnable == (long)ParseNumber(args[1]);
                detail = $"{_lastUnpinnable} pinned head(s) in CMA or ZONE_MOVABLE";
                break;
            case "soft-lockup":
                ok = _lastLockup is not null;
                detail = _lastLockup?.Message ?? "no soft lockup";
                _lastLockup = null;
                break;
            case "cached":
                {
                    if (args.Length != 3) throw new GupSimException("usage: expect cached FILE N");
                    var cf = File(args[1]);
                    ok = (ulong)cf.Inode.CachedPages == ParseNumber(args[2]);
                    detail = string.Create(CultureInfo.InvariantCulture, $"{cf.Inode.Path} has {cf.Inode.CachedPages} cached pages");
                    break;
                }
            case "result":
                if (args.Length != 2) throw new GupSimException("usage: expect result ok|EINVAL|ENOMEM|SIGBUS|SIGSEGV|...");
                ok = string.Equals(_lastResult, args[1], StringComparison.OrdinalIgnoreCase);
                detail = "last result " + (_lastResult ?? "none");
                break;
            case "hugepages" or "free-hugepages" or "resv-hugepages" or "surplus-hugepages":
                if (args.Length != 2 || args[1].IndexOf('=') <= 0) throw new GupSimException($"usage: expect {what} SIZE=COUNT");
                var parts = args[1].Split('=');
                var h = M.Hugetlb.Find(ByteSize.Parse(parts[0])) ?? throw new GupSimException($"expect: no {parts[0]} hstate");
                ulong want = ParseNumber(parts[1]);
                ulong have = what switch
                {
                    "hugepages" => h.NrHugePages,
                    "free-hugepages" => h.FreeHugePages,
                    "resv-hugepages" => h.ResvHugePages,
                    _ => h.SurplusHugePages,
                };
                ok = have == want;
                detail = string.Create(CultureInfo.InvariantCulture, $"{what} {h} = {have}");
                break;
            default:
                throw new GupSimException($"unknown expectation '{args[0]}'");
        }
        if (ok) _passed++;
        else _failed++;
        _stepExpectation = new ScenarioExpectation(what, args[1..], ok, detail);
        _out.WriteLine($"expect {string.Join(' ', args)}: {(ok ? "ok" : "FAILED")} ({detail})");
    }
}
