using System.Globalization;

namespace GupSim.Debug;

/// <summary>How crash's <c>mkstring()</c> (crash-utility tools.c) justifies a field: the flags it is called with.</summary>
[Flags]
public enum MkFlags
{
    /// <summary>No justification: the text as it is.</summary>
    None = 0,
    /// <summary>LJUST: pad on the right.</summary>
    LJust = 1,
    /// <summary>RJUST: pad on the left.</summary>
    RJust = 2,
    /// <summary>CENTER: pad both sides; an odd extra space goes right (LJUST or none) or left (RJUST).</summary>
    Center = 4,
}

/// <summary>
/// crash's text helpers (crash-utility tools.c): <c>mkstring()</c>, <c>pad_line()</c>, and the widths it prints
/// addresses in (<c>VADDR_PRLEN</c>, <c>PADDR_PRLEN</c>), so the crash views keep crash's own columns.
/// </summary>
public static class CrashFormat
{
    /// <summary>
    /// mkstring(): <paramref name="text"/> justified in <paramref name="size"/> columns; text already as wide or wider
    /// comes back as it is.
    /// </summary>
    public static string MkString(string text, int size, MkFlags flags)
    {
        ArgumentNullException.ThrowIfNull(text);
        int extra = size - text.Length;
        if (extra <= 0) return text;
        if ((flags & MkFlags.Center) != 0)
        {
            int left = extra / 2, right = extra / 2;
            if (extra % 2 != 0)
            {
                if ((flags & MkFlags.RJust) != 0 && (flags & MkFlags.LJust) == 0) left++;
                else right++;
            }
            return new string(' ', left) + text + new string(' ', right);
        }
        if ((flags & MkFlags.LJust) != 0) return text + new string(' ', extra);
        if ((flags & MkFlags.RJust) != 0) return new string(' ', extra) + text;
        return text;
    }

    /// <summary>mkstring() with LONG_HEX: <c>%lx</c> of <paramref name="value"/>, then justified.</summary>
    public static string MkHex(ulong value, int size, MkFlags flags) =>
        MkString(value.ToString("x", CultureInfo.InvariantCulture), size, flags);

    /// <summary>mkstring() with LONG_DEC: <c>%lu</c> of <paramref name="value"/>, then justified.</summary>
    public static string MkDec(ulong value, int size, MkFlags flags) =>
        MkString(value.ToString(CultureInfo.InvariantCulture), size, flags);

    /// <summary>pad_line(): <paramref name="count"/> copies of <paramref name="c"/>.</summary>
    public static string PadLine(int count, char c) => new(c, count);

    /// <summary>VADDR_PRLEN (crash defs.h): 16 columns for a 64-bit kernel address, 8 for a 32-bit one.</summary>
    public static int VaddrPrlen(Machine m)
    {
        ArgumentNullException.ThrowIfNull(m);
        return m.Arch.WordBytes == 8 ? 16 : 8;
    }

    /// <summary>
    /// PADDR_PRLEN (crash memory.c vm_init(): <c>vt->paddr_prlen</c>): the hex digits of the highest physical address
    /// the machine has, <c>MAX(max_mapnr × PAGESIZE(), memory_size())</c>; here the end of the last node's span.
    /// </summary>
    public static int PaddrPrlen(Machine m)
    {
        ArgumentNullException.ThrowIfNull(m);
        ulong endPfn = 0;
        foreach (var n in m.Nodes) endPfn = Math.Max(endPfn, n.EndPfn);
        ulong top = endPfn << m.Arch.PageShift;
        return top.ToString("x", CultureInfo.InvariantCulture).Length;
    }
}
