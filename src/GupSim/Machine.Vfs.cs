namespace GupSim;

public sealed partial class Machine
{
    /// <summary>The machine's files and filesystems (created on first use: ext4 on "/", tmpfs on "/dev/shm").</summary>
    public Fs.Vfs Vfs
    {
        get
        {
            if (_vfs is null) Interlocked.CompareExchange(ref _vfs, new Fs.Vfs(this), null);
            return _vfs;
        }
    }
    private Fs.Vfs? _vfs;
}
