using System.IO.Compression;

namespace GupSim.Core;

/// <summary>
/// Files on the host that GupSim reads or writes (a kernel .config, a /proc/iomem copy, a scenario script, a
/// --strategy-assembly, a --plot file), with every failure turned into the one-line error the system would give:
/// <c>PATH: No such file or directory (what to do next)</c>, the errno's strerror(3) text, never .NET's wording.
/// </summary>
public static class HostFile
{
    /// <summary>
    /// The errno behind a failed host file access, as open(2)/read(2)/write(2) would have set it. .NET raises
    /// FileNotFoundException and DirectoryNotFoundException for ENOENT (and ENOTDIR), UnauthorizedAccessException for
    /// EACCES and EPERM, PathTooLongException for ENAMETOOLONG, and an IOException carrying the raw errno as its
    /// HResult for the rest; a path that is a directory is EISDIR.
    /// </summary>
    public static Errno ErrnoOf(Exception e, string? path = null)
    {
        ArgumentNullException.ThrowIfNull(e);
        if (path is not null && Directory.Exists(path)) return Errno.EISDIR;
        return e switch
        {
            FileNotFoundException or DirectoryNotFoundException => Errno.ENOENT,
            UnauthorizedAccessException => Errno.EACCES,
            PathTooLongException => Errno.ENAMETOOLONG,
            BadImageFormatException => Errno.ENOEXEC,
            FileLoadException { InnerException: { } inner } => ErrnoOf(inner),
            IOException io when io.HResult is > 0 and < 4096 && Enum.IsDefined((Errno)io.HResult) => (Errno)io.HResult,
            _ => Errno.EIO,
        };
    }

    /// <summary>The one-line error: <c>PATH: strerror (advice)</c>.</summary>
    public static GupSimException Error(string path, Errno errno, string advice) =>
        new($"{path}: {ErrnoText.Strerror((int)errno)} ({advice})");

    /// <summary>The one-line error for a .NET exception from accessing <paramref name="path"/>.</summary>
    public static GupSimException Error(string path, Exception e, string advice) =>
        new($"{path}: {ErrnoText.Strerror((int)ErrnoOf(e, path))} ({advice})", e);

    /// <summary>Whether <paramref name="e"/> is what the runtime throws for a failed file access.</summary>
    public static bool IsFileError(Exception e) => e is IOException or UnauthorizedAccessException;

    /// <summary>
    /// The bytes of a file, decompressed when they start with the gzip magic 1f 8b (as /proc/config.gz does), so a
    /// file is read the same whatever it is called.
    /// </summary>
    /// <param name="path">The file; the message names it as given.</param>
    /// <param name="advice">What to do next, for the error's parentheses.</param>
    /// <exception cref="GupSimException">Thrown when the path is missing, a directory, unreadable, or a broken gzip stream.</exception>
    public static byte[] ReadAllBytes(string path, string advice)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (Directory.Exists(path)) throw Error(path, Errno.EISDIR, advice);
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (IsFileError(e) || e is ArgumentException)
        {
            throw Error(path, e, advice);
        }
        if (bytes.Length < 2 || bytes[0] != 0x1f || bytes[1] != 0x8b) return bytes;
        try
        {
            using var gz = new GZipStream(new MemoryStream(bytes), CompressionMode.Decompress);
            using var plain = new MemoryStream();
            gz.CopyTo(plain);
            return plain.ToArray();
        }
        catch (InvalidDataException)
        {
            throw new GupSimException($"{path}: not in gzip format: the file starts like gzip (1f 8b) but does not decompress ({advice})");
        }
    }

    /// <summary>The text of a file (UTF-8), gzip or not; see <see cref="ReadAllBytes"/>.</summary>
    /// <exception cref="GupSimException">Thrown as <see cref="ReadAllBytes"/> does.</exception>
    public static string ReadAllText(string path, string advice)
    {
        byte[] bytes = ReadAllBytes(path, advice);
        return new System.Text.UTF8Encoding(false).GetString(bytes).TrimStart('\uFEFF');
    }

    /// <summary>
    /// Checks that <paramref name="path"/> can be created or overwritten now, before a long run rather than after it:
    /// not a directory, in a folder that exists, and writable (a probe file is created next to it and removed; an
    /// existing file is opened for writing and left as it was).
    /// </summary>
    /// <param name="path">The file.</param>
    /// <param name="advice">What to do next, for the error's parentheses.</param>
    /// <param name="label">How the message names the file (default: the path; "--plot FILE").</param>
    /// <exception cref="GupSimException">Thrown with the errno the later write would get.</exception>
    public static void CheckWritable(string path, string advice, string? label = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        label ??= path;
        if (Directory.Exists(path)) throw Error(label, Errno.EISDIR, advice);
        string full = Path.GetFullPath(path);
        string? dir = Path.GetDirectoryName(full);
        if (dir is not null && !Directory.Exists(dir))
            throw Error(label, File.Exists(dir) ? Errno.ENOTDIR : Errno.ENOENT, advice);
        try
        {
            if (File.Exists(full))
            {
                using (new FileStream(full, FileMode.Open, FileAccess.Write, FileShare.ReadWrite)) { }
                return;
            }
            using (new FileStream(full, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose)) { }
        }
        catch (Exception e) when (IsFileError(e))
        {
            throw Error(label, e, advice);
        }
    }
}
