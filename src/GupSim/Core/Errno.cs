namespace GupSim.Core;

/// <summary>Linux errno values (include/uapi/asm-generic/errno-base.h, errno.h) that GupSim's kernel paths return, negated as the kernel returns them.</summary>
public enum Errno
{
    EPERM = 1,
    ENOENT = 2,
    EINTR = 4,
    EIO = 5,
    EBADF = 9,
    EAGAIN = 11,
    ENOMEM = 12,
    EFAULT = 14,
    EBUSY = 16,
    EEXIST = 17,
    EINVAL = 22,
    ENOSPC = 28,
    ERANGE = 34,
    EOPNOTSUPP = 95,
    EHWPOISON = 133,
}
