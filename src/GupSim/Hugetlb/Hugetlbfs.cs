using GupSim.Core;

namespace GupSim.Hugetlb;

/// <summary>A hugetlbfs inode (fs/hugetlbfs/inode.c): its page cache of huge pages and its reservation map (shared mappings).</summary>
public sealed class HugetlbfsInode
{
    internal HugetlbfsInode(HugetlbfsMount mount, string name)
    {
        Mount = mount;
        Name = name;
    }

    /// <summary>The mount it lives on.</summary>
    public HugetlbfsMount Mount { get; }
    /// <summary>File name ("" for the unlinked inode behind MAP_HUGETLB|MAP_ANONYMOUS).</summary>
    public string Name { get; }
    /// <summary>The hstate of the mount.</summary>
    public Hstate Hstate => Mount.Hstate;
    /// <summary>Page cache: huge page index → head pfn.</summary>
    public Dictionary<ulong, ulong> PageCache { get; } = [];
    /// <summary>resv_map of the inode (shared mappings): indices reserved and not yet backed by a page-cache page.</summary>
    public HashSet<ulong> Reservations { get; } = [];
    /// <summary>"/mnt/huge/file".</summary>
    public string Path => Name.Length == 0 ? $"<anon hugetlb {Hstate}>" : Mount.Path.TrimEnd('/') + "/" + Name;
}

/// <summary>A hugetlbfs mount with a pagesize= option (default: the default hstate).</summary>
public sealed class HugetlbfsMount
{
    private readonly Dictionary<string, HugetlbfsInode> _files = [];

    /// <summary>A mount (use <see cref="HugetlbfsMounts.Mount"/> to register one on the machine).</summary>
    public HugetlbfsMount(string path, Hstate hstate)
    {
        Path = path;
        Hstate = hstate;
    }

    /// <summary>Mount point.</summary>
    public string Path { get; }
    /// <summary>pagesize= of the mount.</summary>
    public Hstate Hstate { get; }
    /// <summary>Files by name.</summary>
    public IReadOnlyDictionary<string, HugetlbfsInode> Files => _files;

    /// <summary>open(O_CREAT): the named file, created if missing.</summary>
    public HugetlbfsInode OpenOrCreate(string name)
    {
        if (!_files.TryGetValue(name, out var inode)) _files[name] = inode = new HugetlbfsInode(this, name);
        return inode;
    }

    /// <summary>An unlinked inode (hugetlb_file_setup() for MAP_HUGETLB|MAP_ANONYMOUS).</summary>
    public HugetlbfsInode CreateUnlinkedPublic() => new(this, "");
}

/// <summary>The hugetlbfs mounts of a machine.</summary>
public sealed class HugetlbfsMounts
{
    private readonly List<HugetlbfsMount> _mounts = [];
    private readonly HugetlbPools _pools;

    internal HugetlbfsMounts(HugetlbPools pools) => _pools = pools;

    /// <summary>Every mount.</summary>
    public IReadOnlyList<HugetlbfsMount> Mounts => _mounts;

    /// <summary>mount -t hugetlbfs -o pagesize=SIZE none PATH.</summary>
    /// <exception cref="GupSimException">Thrown when the size is not an hstate of the machine or the path is taken.</exception>
    public HugetlbfsMount Mount(string path, ulong? pageSize)
    {
        var h = pageSize is ulong s
            ? _pools.Find(s) ?? throw new GupSimException($"hugetlbfs: unsupported page size {ByteSize.Format(s)} (this machine has {string.Join(", ", _pools.Hstates)})")
            : _pools.Default ?? throw new GupSimException("hugetlbfs: this machine has no huge page sizes");
        string norm = Normalize(path);
        if (_mounts.Any(m => m.Path == norm)) throw new GupSimException($"hugetlbfs: {norm} is already mounted");
        var mount = new HugetlbfsMount(norm, h);
        _mounts.Add(mount);
        return mount;
    }

    /// <summary>Resolves "/mnt/huge/file" to its mount and file name, creating the file (O_CREAT, as gup_test opens it).</summary>
    /// <exception cref="GupSimException">Thrown when no hugetlbfs mount holds the path.</exception>
    public HugetlbfsInode OpenOrCreate(string path)
    {
        string norm = Normalize(path);
        var mount = _mounts.Where(m => norm.StartsWith(m.Path + "/", StringComparison.Ordinal)).OrderByDescending(m => m.Path.Length).FirstOrDefault()
            ?? throw new GupSimException($"{path}: not on a hugetlbfs mount (mounted: {(_mounts.Count == 0 ? "none" : string.Join(", ", _mounts.Select(m => m.Path)))})");
        string name = norm[(mount.Path.Length + 1)..];
        if (name.Length == 0 || name.Contains('/')) throw new GupSimException($"{path}: hugetlbfs files live directly under the mount point");
        return mount.OpenOrCreate(name);
    }

    private static string Normalize(string path)
    {
        string p = path.Trim();
        if (!p.StartsWith('/')) throw new GupSimException($"{path}: give an absolute path");
        return p.Length > 1 ? p.TrimEnd('/') : p;
    }
}
