using System.Globalization;
using GupSim.Core;

namespace GupSim.Check;

/// <summary>
/// One line of a machine's verdict: the summary groups of one GUP path and one huge page size folded together (over
/// placements and strategies), as <c>gupsim check --config</c> ("Your machine") and <c>gupsim audit</c> print them.
/// </summary>
/// <param name="Path">The GUP path ("slow-get" … "fast-longterm").</param>
/// <param name="HugepageSize">The huge page size's name ("2M").</param>
/// <param name="Groups">The groups folded, in summary order.</param>
public sealed record CheckLine(string Path, string HugepageSize, IReadOnlyList<CheckGroupSummary> Groups)
{
    /// <summary>"1G fast-pin": the huge page size and the path, as the "Your machine" lines start.</summary>
    public string Label => HugepageSize + " " + Path;

    /// <summary>Configurations of every group.</summary>
    public long Configurations
    {
        get
        {
            long n = 0;
            foreach (var g in Groups) n += g.Configurations;
            return n;
        }
    }

    /// <summary>Failed configurations of every group.</summary>
    public long Failures
    {
        get
        {
            long n = 0;
            foreach (var g in Groups) n += g.Failures;
            return n;
        }
    }

    /// <summary>Configurations that could not run on their machine's shape (they checked nothing).</summary>
    public long NotApplicable
    {
        get
        {
            long n = 0;
            foreach (var g in Groups) n += g.NotApplicable;
            return n;
        }
    }

    /// <summary>Configurations that ran: <see cref="Configurations"/> − <see cref="NotApplicable"/>; only these count towards "safe".</summary>
    public long Ran => Configurations - NotApplicable;

    /// <summary>The group whose minimal case comes first in the sweep (lowest configuration index), or null when none failed.</summary>
    public CheckGroupSummary? FirstUnsafe
    {
        get
        {
            CheckGroupSummary? bad = null;
            foreach (var g in Groups)
                if (g.Minimal is not null && (bad is null || g.Minimal.Index < bad.Minimal!.Index)) bad = g;
            return bad;
        }
    }

    /// <summary>The lines of <paramref name="groups"/>: one per path × size, by size (smallest first), then path in <see cref="PathOrder"/>.</summary>
    public static IReadOnlyList<CheckLine> Fold(IReadOnlyList<CheckGroupSummary> groups)
    {
        ArgumentNullException.ThrowIfNull(groups);
        var keys = new List<(ulong Size, int Path, string PathName, string SizeName)>();
        var members = new List<List<CheckGroupSummary>>();
        foreach (var g in groups)
        {
            ulong size = ByteSize.Parse(g.HugepageSize);
            int p = PathOrder(g.Path);
            int at = keys.FindIndex(k => k.Size == size && k.Path == p);
            if (at < 0)
            {
                keys.Add((size, p, g.Path, g.HugepageSize));
                members.Add([g]);
            }
            else
            {
                members[at].Add(g);
            }
        }
        var order = new int[keys.Count];
        for (int i = 0; i < order.Length; i++) order[i] = i;
        Array.Sort(order, (a, b) => keys[a].Size != keys[b].Size ? keys[a].Size.CompareTo(keys[b].Size) : keys[a].Path.CompareTo(keys[b].Path));
        var lines = new List<CheckLine>(order.Length);
        foreach (int i in order) lines.Add(new CheckLine(keys[i].PathName, keys[i].SizeName, members[i]));
        return lines;
    }

    /// <summary>The paths of the default sweep (and of <c>gupsim audit</c>), in the order the lines are printed.</summary>
    public static IReadOnlyList<string> DefaultPathNames { get; } = ["slow-get", "slow-pin", "slow-longterm", "fast-get", "fast-pin", "fast-longterm"];

    /// <summary>Every GUP path in the order the lines are printed: the default ones, then fast-longterm-umem (asked for by name).</summary>
    public static IReadOnlyList<string> PathNames { get; } = [.. DefaultPathNames, "fast-longterm-umem"];

    /// <summary>The position of a path name in <see cref="PathNames"/> (an unknown one last).</summary>
    public static int PathOrder(string name)
    {
        for (int i = 0; i < PathNames.Count; i++)
            if (PathNames[i] == name) return i;
        return PathNames.Count;
    }

    /// <summary>A configuration in words: "offset 32000, length 1000, batch 1000, 2 huge pages of 1G, RAM 24G, fresh boot, scattered memmaps" (", then the pool freed" for <c>--teardown free-pool</c>).</summary>
    public static string Describe(CheckConfigurationSummary c)
    {
        ArgumentNullException.ThrowIfNull(c);
        return string.Create(CultureInfo.InvariantCulture, $"offset {c.Offset}, length {c.Length}, batch ") + (c.Batch < 0 ? "all" : c.Batch.ToString(CultureInfo.InvariantCulture))
            + string.Create(CultureInfo.InvariantCulture, $", {c.HugePages} huge page") + (c.HugePages == 1 ? "" : "s") + " of " + c.HugepageSize + ", "
            + (c.Iomem is null ? "RAM " + ByteSize.Format(c.Ram) + ", " : "RAM from " + c.Iomem + ", ")
            + (c.Churn == 0 ? "fresh boot" : string.Create(CultureInfo.InvariantCulture, $"churn {ByteSize.Format(c.Churn)} seed {c.Seed}"))
            + ", " + c.Placement + " memmaps" + (c.Populate == "uffd-copy" ? ", populated by UFFDIO_COPY" : "")
            + (c.Teardown == "free-pool" ? ", then the pool freed" : "");
    }
}
