using System.Globalization;
using GupSim.Core;

namespace GupSim.Hugetlb;

/// <summary>
/// The hugetlb part of the kernel command line: <c>hugepagesz=1G hugepages=16 default_hugepagesz=1G</c>
/// (mm/hugetlb.c hugepagesz_setup / hugepages_setup / default_hugepagesz_setup). A <c>hugepages=N</c> before any
/// <c>hugepagesz=</c> applies to the default size. GupSim also accepts the shorthand <c>1G=16,2M=512</c>.
/// </summary>
public sealed record HugepagesCmdline(IReadOnlyList<(ulong Bytes, ulong Count)> Pages, ulong? DefaultSize)
{
    /// <summary>No boot-time huge pages.</summary>
    public static HugepagesCmdline None { get; } = new([], null);

    /// <summary>Parses the command-line form or the shorthand.</summary>
    /// <param name="text">The text.</param>
    /// <param name="archDefault">HPAGE_SIZE of the arch, for a leading hugepages=N.</param>
    /// <exception cref="GupSimException">Thrown on a malformed token.</exception>
    public static HugepagesCmdline Parse(string text, ulong? archDefault)
    {
        var pages = new List<(ulong, ulong)>();
        ulong? defaultSize = null;
        ulong? current = null;
        foreach (string raw in text.Split([' ', ',', '\t'], StringSplitOptions.RemoveEmptyEntries))
        {
            string tok = raw.Trim();
            int eq = tok.IndexOf('=');
            if (eq <= 0) throw new GupSimException($"--hugepages: '{tok}' is not key=value (e.g. hugepagesz=1G hugepages=16, or 1G=16)");
            string key = tok[..eq].ToLowerInvariant(), value = tok[(eq + 1)..];
            switch (key)
            {
                case "hugepagesz":
                    current = ByteSize.Parse(value);
                    break;
                case "default_hugepagesz":
                    defaultSize = ByteSize.Parse(value);
                    break;
                case "hugepages":
                    ulong size = current ?? defaultSize ?? archDefault
                        ?? throw new GupSimException("--hugepages: this arch has no default huge page size; give hugepagesz= first");
                    pages.Add((size, ParseCount(value)));
                    break;
                default:
                    if (ByteSize.TryParse(key, out ulong sz)) pages.Add((sz, ParseCount(value)));
                    else throw new GupSimException($"--hugepages: unknown key '{key}': use hugepagesz=, hugepages=, default_hugepagesz= or SIZE=COUNT");
                    break;
            }
        }
        return new HugepagesCmdline(pages, defaultSize);
    }

    private static ulong ParseCount(string value)
    {
        if (!ulong.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out ulong n))
            throw new GupSimException($"--hugepages: '{value}' is not a page count");
        return n;
    }
}
