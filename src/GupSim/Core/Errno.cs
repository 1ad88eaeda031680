namespace GupSim.Core;

/// <summary>Linux errno values (include/uapi/asm-generic/errno-base.h, errno.h) that GupSim's kernel paths return, negated as the kernel returns them.</summary>
public enum Errno
{
    EPERM = 1,
    ENOENT = 2,
    EINTR = 4,
    EIO = 5,
    ENOEXEC = 8,
    EBADF = 9,
    EAGAIN = 11,
    ENOMEM = 12,
    EACCES = 13,
    EFAULT = 14,
    EBUSY = 16,
    EEXIST = 17,
    ENOTDIR = 20,
    EISDIR = 21,
    EINVAL = 22,
    ENOSPC = 28,
    EROFS = 30,
    ERANGE = 34,
    ENAMETOOLONG = 36,
    EOPNOTSUPP = 95,
    EHWPOISON = 133,
}

/// <summary>strerror(3) texts (glibc) for <see cref="Errno"/>.</summary>
public static class ErrnoText
{
    /// <summary>strerror(errno) for a positive or negated errno.</summary>
    public static string Strerror(int errno) => (Errno)Math.Abs(errno) switch
    {
        Errno.EPERM => "Operation not permitted",
        Errno.ENOENT => "No such file or directory",
        Errno.EINTR => "Interrupted system call",
        Errno.EIO => "Input/output error",
        Errno.EAGAIN => "Resource temporarily unavailable",
        Errno.ENOMEM => "Cannot allocate memory",
        Errno.ENOEXEC => "Exec format error",
        Errno.EACCES => "Permission denied",
        Errno.EFAULT => "Bad address",
        Errno.EBUSY => "Device or resource busy",
        Errno.EEXIST => "File exists",
        Errno.ENOTDIR => "Not a directory",
        Errno.EISDIR => "Is a directory",
        Errno.EINVAL => "Invalid argument",
        Errno.ENOSPC => "No space left on device",
        Errno.EROFS => "Read-only file system",
        Errno.ERANGE => "Numerical result out of range",
        Errno.ENAMETOOLONG => "File name too long",
        Errno.EOPNOTSUPP => "Operation not supported",
        Errno.EHWPOISON => "Memory page has hardware error",
        _ => "Unknown error " + Math.Abs(errno).ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}
