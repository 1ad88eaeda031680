using GupSim.Core;

namespace GupSim.Fs;

/// <summary>A mounted filesystem with 4 KiB page cache pages (hugetlbfs mounts are <see cref="Hugetlb.HugetlbfsMount"/>).</summary>
public sealed class VfsMount
{
    private readonly Dictionary<string, PageCacheInode> _files = [];

    internal VfsMount(FsType type, string path, bool isInternal = false)
    {
        Type = type;
        Path = path;
        IsInternal = isInternal;
    }

    /// <summary>The filesystem type.</summary>
    public FsType Type { get; }
    /// <summary>Mount point ("&lt;shm_mnt&gt;" for the kernel-internal shmem mount).</summary>
    public string Path { get; }
    /// <summary>The kernel-internal mount (shm_mnt) behind memfd and shared anonymous memory.</summary>
    public bool IsInternal { get; }
    /// <summary>Linked files by name (relative to the mount point).</summary>
    public IReadOnlyDictionary<string, PageCacheInode> Files => _files;

    internal bool TryGet(string name, out PageCacheInode inode) => _files.TryGetValue(name, out inode!);
    internal void Link(PageCacheInode inode) => _files[inode.Name] = inode;
    internal bool Unlink(string name) => _files.Remove(name);

    public override string ToString() => $"{Type.Name()} on {Path}";
}

/// <summary>Path helpers shared by the VFS and hugetlbfs.</summary>
public static class VfsPaths
{
    /// <summary>An absolute path without a trailing slash ("/" stays "/").</summary>
    /// <exception cref="GupSimException">Thrown when the path is not absolute.</exception>
    public static string Normalize(string path)
    {
        string p = path.Trim();
        if (!p.StartsWith('/')) throw new GupSimException($"{path}: give an absolute path");
        while (p.Contains("//", StringComparison.Ordinal)) p = p.Replace("//", "/", StringComparison.Ordinal);
        return p.Length > 1 ? p.TrimEnd('/') : p;
    }

    /// <summary>Whether <paramref name="path"/> lies strictly below the mount point <paramref name="mount"/>.</summary>
    public static bool IsUnder(string path, string mount) =>
        mount == "/" ? path.Length > 1 : path.StartsWith(mount + "/", StringComparison.Ordinal);

    /// <summary>The name of <paramref name="path"/> relative to <paramref name="mount"/>.</summary>
    public static string Relative(string path, string mount) => mount == "/" ? path[1..] : path[(mount.Length + 1)..];

    /// <summary>The directory holding <paramref name="norm"/> (a normalized path): "/mnt" for "/mnt/huge", "/" for "/tmp" and "/".</summary>
    public static string Parent(string norm)
    {
        ArgumentNullException.ThrowIfNull(norm);
        int slash = norm.LastIndexOf('/');
        return slash <= 0 ? "/" : norm[..slash];
    }

    /// <summary>mount + "/" + name.</summary>
    public static string Join(string mount, string name) => mount == "/" ? "/" + name : mount + "/" + name;
}
