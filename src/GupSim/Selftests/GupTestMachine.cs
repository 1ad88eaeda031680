using System.Globalization;
using GupSim.Arch;
using GupSim.Config;
using GupSim.Core;

namespace GupSim.Selftests;

/// <summary>
/// The machine gup-test runs on by default: the one the 2021 numbers were taken on as far as the thread tells
/// (x86_64, SPARSEMEM_VMEMMAP, 16 × 1 GiB huge pages reserved on the kernel command line, hugetlbfs mounted at
/// /mnt/huge with pagesize=1G). On another arch the same recipe takes the arch's largest huge page size up to
/// 1 GiB and as many pages of it as make 16 GiB, at most seven eighths of the RAM.
/// </summary>
public static class GupTestMachine
{
    /// <summary>Where the seed command's file lives.</summary>
    public const string MountPoint = "/mnt/huge";

    /// <summary>The seed's huge page size on <paramref name="arch"/>: 1 GiB where the arch has it, else its largest below.</summary>
    public static HugePageSize? SeedHugePageSize(ArchProfile arch)
    {
        ArgumentNullException.ThrowIfNull(arch);
        HugePageSize? best = null;
        foreach (var h in arch.HugePageSizes)
            if (h.Bytes <= 1UL << 30 && (best is null || h.Bytes > best.Bytes)) best = h;
        return best;
    }

    /// <summary>
    /// <paramref name="options"/> with the seed's boot-time huge pages when none were given
    /// (<c>hugepagesz=1G hugepages=16</c> on the default machine).
    /// </summary>
    public static MachineOptions WithSeedHugepages(MachineOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Hugepages is not null) return options;
        var spec = options.ToSpec();
        var size = SeedHugePageSize(spec.Arch);
        if (size is null) return options;
        ulong wanted = (16UL << 30) / size.Bytes;
        ulong fits = spec.Ram.TotalBytes / 8 * 7 / size.Bytes;
        ulong count = Math.Max(1, Math.Min(wanted, fits));
        return options with { Hugepages = string.Create(CultureInfo.InvariantCulture, $"hugepagesz={ByteSize.Format(size.Bytes)} hugepages={count}") };
    }

    /// <summary>
    /// Boots <paramref name="options"/> (with the seed's huge pages unless given) and mounts hugetlbfs: each of
    /// <paramref name="mounts"/> as PATH=PAGESIZE or PATH (the default size), or, when none are given, /mnt/huge with
    /// the seed's page size.
    /// </summary>
    /// <exception cref="GupSimException">Thrown on a bad option or mount.</exception>
    public static Machine Boot(MachineOptions options, IReadOnlyList<string>? mounts = null)
    {
        var o = WithSeedHugepages(options);
        var m = o.Boot();
        if (mounts is { Count: > 0 })
        {
            foreach (string spec in mounts)
            {
                int eq = spec.IndexOf('=', StringComparison.Ordinal);
                string path = eq < 0 ? spec : spec[..eq];
                ulong? size = eq < 0 ? null : ByteSize.Parse(spec[(eq + 1)..]);
                m.Hugetlb.Mounts.Mount(path, size);
            }
        }
        else if (SeedHugePageSize(m.Arch) is { } seed && m.Hugetlb.Find(seed.Bytes) is not null)
        {
            m.Hugetlb.Mounts.Mount(MountPoint, seed.Bytes);
        }
        return m;
    }
}
