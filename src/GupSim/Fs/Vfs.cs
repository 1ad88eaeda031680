using GupSim.Core;
using GupSim.Hugetlb;

namespace GupSim.Fs;

/// <summary>
/// The machine's files: mounts with 4 KiB page caches (tmpfs, ext4, xfs, btrfs, other), the hugetlbfs mounts of
/// <see cref="HugetlbPools.Mounts"/>, /dev/zero, memfd_create() (mm/memfd.c) and O_TMPFILE, unlink, and the kernel's
/// internal shmem mount (shm_mnt) behind memfd and shared anonymous memory. A new machine has ext4 on "/" and tmpfs
/// on "/dev/shm"; <c>/tmp</c> is therefore ext4 unless tmpfs is mounted there. Directories are names only: the
/// usual ones of a fresh system (<see cref="StandardDirectories"/>), every mount point with its parents, and what
/// <see cref="Mkdir"/> makes; a path whose directory is none of these gets ENOENT from open(2), as on Linux.
/// </summary>
public sealed class Vfs
{
    private readonly Machine _m;
    private readonly List<VfsMount> _mounts = [];
    private readonly Dictionary<ulong, PageCacheInode> _byMapping = [];
    private readonly VfsMount _shmMnt = new(FsType.Tmpfs, "<shm_mnt>", isInternal: true);

    private readonly HashSet<string> _directories = [];

    /// <summary>
    /// The directories a fresh machine has: the FHS ones a selftest run touches, and the build directory of the mm
    /// selftests that run_vmtests.sh and gup_longterm run from (<see cref="Selftests.GupLongtermOptions.DefaultTestDirectory"/>).
    /// </summary>
    public static IReadOnlyList<string> StandardDirectories { get; } =
        ["/", "/dev", "/dev/shm", "/tmp", "/mnt", "/root", "/home", "/etc", "/proc", "/sys", "/run", "/var", "/var/tmp", "/usr",
            Selftests.GupLongtermOptions.DefaultTestDirectory];

    internal Vfs(Machine machine)
    {
        _m = machine;
        foreach (string d in StandardDirectories) AddDirectoryAndParents(d);
        Objects = new KernelObjects(machine);
        Mount(FsType.Ext4, "/");
        Mount(FsType.Tmpfs, "/dev/shm");
    }

    /// <summary>The slab caches of address_space (inode) and anon_vma objects.</summary>
    public KernelObjects Objects { get; }
    /// <summary>/dev/zero.</summary>
    public DevZeroInode DevZero { get; } = new();
    /// <summary>The mounts with base-page page caches, in mount order.</summary>
    public IReadOnlyList<VfsMount> Mounts => _mounts;
    /// <summary>Inodes alive now (linked or referenced) with a base-page page cache, by page->mapping value.</summary>
    public IReadOnlyCollection<PageCacheInode> LiveInodes
    {
        get
        {
            lock (_byMapping) return [.. _byMapping.Values];
        }
    }

    /// <summary>
    /// mount -t TYPE none PATH. A mount point that is already mounted is replaced when it holds no files (so "/" may
    /// become xfs); hugetlbfs goes to <see cref="MountHugetlbfs"/>.
    /// </summary>
    /// <exception cref="GupSimException">Thrown when the path is taken by a mount with files, or for hugetlbfs.</exception>
    public VfsMount Mount(FsType type, string path)
    {
        if (type == FsType.Hugetlbfs) throw new GupSimException("mount: hugetlbfs mounts take a page size: use MountHugetlbfs");
        string norm = VfsPaths.Normalize(path);
        int i = _mounts.FindIndex(m => m.Path == norm);
        var mount = new VfsMount(type, norm);
        AddDirectoryAndParents(norm);
        if (i >= 0)
        {
            if (_mounts[i].Files.Count > 0) throw new GupSimException($"mount: {norm} is already mounted ({_mounts[i].Type.Name()}) and has files");
            _mounts[i] = mount;
        }
        else _mounts.Add(mount);
        return mount;
    }

    /// <summary>mount -t hugetlbfs -o pagesize=SIZE none PATH (see <see cref="HugetlbfsMounts.Mount"/>).</summary>
    public HugetlbfsMount MountHugetlbfs(string path, ulong? pageSize = null) => _m.Hugetlb.Mounts.Mount(path, pageSize);

    /// <summary>The filesystem <paramref name="path"/> lies on (the longest mount point above it).</summary>
    public FsType FsTypeOf(string path)
    {
        var (mount, huge, _) = Resolve(VfsPaths.Normalize(path));
        return huge is not null ? FsType.Hugetlbfs : mount!.Type;
    }

    private (VfsMount? Mount, HugetlbfsMount? Huge, string Name) Resolve(string norm)
    {
        var mount = _mounts.Where(m => VfsPaths.IsUnder(norm, m.Path)).OrderByDescending(m => m.Path.Length).FirstOrDefault();
        var huge = _m.Hugetlb.Mounts.Mounts.Where(m => VfsPaths.IsUnder(norm, m.Path)).OrderByDescending(m => m.Path.Length).FirstOrDefault();
        if (huge is not null && (mount is null || huge.Path.Length > mount.Path.Length))
            return (null, huge, VfsPaths.Relative(norm, huge.Path));
        if (mount is null) throw new GupSimException($"{norm}: no filesystem is mounted there");
        return (mount, null, VfsPaths.Relative(norm, mount.Path));
    }

    /// <summary>
    /// open(PATH, O_RDWR | (create ? O_CREAT : 0)): the file on its mount ("/dev/zero" is /dev/zero, paths under a
    /// hugetlbfs mount are hugetlbfs files). A new file has size 0.
    /// </summary>
    /// <exception cref="GupSimException">Thrown, as <c>PATH: strerror</c>, where <see cref="TryOpen"/> returns an errno; and for a relative path.</exception>
    public OpenFile Open(string path, bool create = true)
    {
        int rc = TryOpen(path, create, out var file);
        if (rc < 0)
            throw new GupSimException($"{VfsPaths.Normalize(path)}: {ErrnoText.Strerror(rc)} (the simulated machine has {string.Join(", ", StandardDirectories.Take(5))}, the mount points and what mkdir made)");
        return file!;
    }

    /// <summary>
    /// open(2) with O_RDWR (and O_CREAT when <paramref name="create"/>): 0 and the open file, or the errno path_openat()
    /// gives: −ENOENT when the path's directory does not exist (or, without O_CREAT, the file), −ENOTDIR when a
    /// component is a file, −EISDIR when the path is a directory (O_RDWR on a directory).
    /// </summary>
    /// <exception cref="GupSimException">Thrown when the path is not absolute (GupSim has no working directory).</exception>
    public int TryOpen(string path, bool create, out OpenFile? file)
    {
        file = null;
        string norm = VfsPaths.Normalize(path);
        if (norm == "/dev/zero")
        {
            file = new OpenFile(_m, DevZero);
            return 0;
        }
        if (IsDirectory(norm)) return -(int)Errno.EISDIR;
        string parent = VfsPaths.Parent(norm);
        if (!IsDirectory(parent)) return Exists(parent) ? -(int)Errno.ENOTDIR : -(int)Errno.ENOENT;
        var (mount, huge, name) = Resolve(norm);
        if (huge is not null)
        {
            if (!create && !huge.Files.ContainsKey(name)) return -(int)Errno.ENOENT;
            file = new OpenFile(_m, huge.OpenOrCreate(name));
            return 0;
        }
        PageCacheInode inode;
        lock (_byMapping)
        {
            if (!mount!.TryGet(name, out inode))
            {
                if (!create) return -(int)Errno.ENOENT;
                inode = NewInode(mount, name, linked: true);
                mount.Link(inode);
            }
        }
        file = new OpenFile(_m, inode);
        return 0;
    }

    /// <summary>mkdir(PATH): 0, −EEXIST (a directory or file is there), −ENOENT (the parent does not exist), −ENOTDIR (the parent is a file).</summary>
    /// <exception cref="GupSimException">Thrown when the path is not absolute.</exception>
    public int Mkdir(string path)
    {
        string norm = VfsPaths.Normalize(path);
        if (Exists(norm)) return -(int)Errno.EEXIST;
        string parent = VfsPaths.Parent(norm);
        if (!IsDirectory(parent)) return Exists(parent) ? -(int)Errno.ENOTDIR : -(int)Errno.ENOENT;
        lock (_directories) _directories.Add(norm);
        return 0;
    }

    /// <summary>Whether <paramref name="path"/> is a directory: a standard one, a mount point or a parent of one, or made by <see cref="Mkdir"/>.</summary>
    public bool IsDirectory(string path)
    {
        string norm = VfsPaths.Normalize(path);
        lock (_directories)
            if (_directories.Contains(norm)) return true;
        foreach (var h in _m.Hugetlb.Mounts.Mounts)
            if (h.Path == norm || VfsPaths.IsUnder(h.Path, norm)) return true;
        return false;
    }

    /// <summary>Whether a directory or a linked file is at <paramref name="norm"/>.</summary>
    private bool Exists(string norm)
    {
        if (norm == "/dev/zero" || IsDirectory(norm)) return true;
        var mount = _mounts.Where(m => VfsPaths.IsUnder(norm, m.Path)).OrderByDescending(m => m.Path.Length).FirstOrDefault();
        var huge = _m.Hugetlb.Mounts.Mounts.Where(m => VfsPaths.IsUnder(norm, m.Path)).OrderByDescending(m => m.Path.Length).FirstOrDefault();
        if (huge is not null && (mount is null || huge.Path.Length > mount.Path.Length)) return huge.Files.ContainsKey(VfsPaths.Relative(norm, huge.Path));
        lock (_byMapping) return mount is not null && mount.TryGet(VfsPaths.Relative(norm, mount.Path), out _);
    }

    private void AddDirectoryAndParents(string norm)
    {
        lock (_directories)
            for (string d = norm; _directories.Add(d) && d != "/"; d = VfsPaths.Parent(d)) { }
    }

    /// <summary>open(DIR, O_TMPFILE | O_RDWR), as glibc's tmpfile() does in /tmp: an unlinked file on DIR's filesystem.</summary>
    /// <exception cref="GupSimException">Thrown when DIR lies on no mount or on hugetlbfs (which has no O_TMPFILE).</exception>
    public OpenFile OpenTmpfile(string directory = "/tmp")
    {
        string norm = VfsPaths.Normalize(directory);
        var mount = _mounts.Where(m => norm == m.Path || VfsPaths.IsUnder(norm, m.Path)).OrderByDescending(m => m.Path.Length).FirstOrDefault()
            ?? throw new GupSimException($"{norm}: no filesystem is mounted there");
        if (_m.Hugetlb.Mounts.Mounts.Any(h => (norm == h.Path || VfsPaths.IsUnder(norm, h.Path)) && h.Path.Length > mount.Path.Length))
            throw new GupSimException($"{norm}: hugetlbfs does not support O_TMPFILE");
        lock (_byMapping) return new OpenFile(_m, NewInode(mount, "#tmpfile", linked: false));
    }

    /// <summary>
    /// memfd_create(NAME, flags): an unlinked tmpfs file on shm_mnt, or with <paramref name="hugetlb"/> (MFD_HUGETLB,
    /// MFD_HUGE_* = <paramref name="hugePageSize"/>, default the default hstate) an unlinked hugetlbfs file
    /// (hugetlb_file_setup()). 0, or −EINVAL for a huge page size the machine does not have.
    /// </summary>
    public int MemfdCreate(string name, out OpenFile? file, bool hugetlb = false, ulong? hugePageSize = null)
    {
        file = null;
        string memfdName = "memfd:" + name;
        if (hugetlb)
        {
            var h = hugePageSize is ulong s ? _m.Hugetlb.Find(s) : _m.Hugetlb.Default;
            if (h is null) return -(int)Errno.EINVAL;
            var inode = HugetlbMountFor(h).CreateUnlinkedPublic(memfdName);
            file = new OpenFile(_m, inode);
            return 0;
        }
        if (hugePageSize is not null) return -(int)Errno.EINVAL;
        lock (_byMapping) file = new OpenFile(_m, NewInode(_shmMnt, memfdName, linked: false));
        return 0;
    }

    /// <summary>The hugetlbfs mount of <paramref name="h"/> (a user mount if there is one, else the internal one).</summary>
    internal static HugetlbfsMount HugetlbMountFor(Machine m, Hstate h) =>
        m.Hugetlb.Mounts.Mounts.FirstOrDefault(mt => mt.Hstate == h) ?? new HugetlbfsMount("<internal>", h, m);

    private HugetlbfsMount HugetlbMountFor(Hstate h) => HugetlbMountFor(_m, h);

    /// <summary>
    /// shmem_zero_setup() / shmem_kernel_file_setup("dev/zero", size): the unlinked shmem object behind a
    /// MAP_SHARED|MAP_ANONYMOUS mapping or a MAP_SHARED mapping of /dev/zero.
    /// </summary>
    internal PageCacheInode ShmemZeroSetup(ulong size)
    {
        lock (_byMapping)
        {
            var inode = NewInode(_shmMnt, "dev/zero", linked: false);
            inode.Size = size;
            return inode;
        }
    }

    /// <summary>unlink(PATH): drops the name; the inode goes when no file or mapping holds it. 0 or −ENOENT.</summary>
    /// <exception cref="GupSimException">Thrown when the path is not absolute or lies on no mount.</exception>
    public int Unlink(string path)
    {
        string norm = VfsPaths.Normalize(path);
        var (mount, huge, name) = Resolve(norm);
        if (huge is not null)
        {
            if (!huge.Unlink(name, out var hi)) return -(int)Errno.ENOENT;
            hi!.MaybeEvict(_m);
            return 0;
        }
        PageCacheInode inode;
        lock (_byMapping)
        {
            if (!mount!.TryGet(name, out inode)) return -(int)Errno.ENOENT;
            mount.Unlink(name);
            inode.Nlink = 0;
        }
        inode.MaybeEvict(_m);
        return 0;
    }

    /// <summary>The inode whose address_space is at <paramref name="mapping"/> (page->mapping of a page cache page), or null.</summary>
    public PageCacheInode? InodeOfMapping(ulong mapping)
    {
        lock (_byMapping) return _byMapping.TryGetValue(mapping, out var i) ? i : null;
    }

    /// <summary>shmem_mapping(): the address_space belongs to a tmpfs inode (its a_ops are shmem_aops).</summary>
    public bool IsShmemMapping(ulong mapping) => InodeOfMapping(mapping) is { } i && i.FsType.IsShmem();

    private PageCacheInode NewInode(VfsMount mount, string name, bool linked)
    {
        var inode = new PageCacheInode(_m, mount, name, linked, Objects.AllocInode(mount.Type));
        _byMapping[inode.MappingAddress] = inode;
        return inode;
    }

    /// <summary>destroy_inode(): the address_space object goes.</summary>
    internal void Forget(PageCacheInode inode)
    {
        lock (_byMapping) _byMapping.Remove(inode.MappingAddress);
        Objects.Free(inode.MappingAddress);
    }
}
