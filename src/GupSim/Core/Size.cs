using System.Globalization;

namespace GupSim.Core;

/// <summary>Parses and prints byte sizes with binary suffixes (K, M, G, T, P), as the kernel command line's memparse() does.</summary>
public static class ByteSize
{
    /// <summary>Models memparse() (lib/cmdline.c): a number (decimal or 0x hex) with an optional K/M/G/T/P/E suffix, binary units; a trailing "B" or "iB" is accepted.</summary>
    /// <exception cref="GupSimException">Thrown when <paramref name="text"/> is not such a number.</exception>
    public static ulong Parse(string text)
    {
        if (!TryParse(text, out ulong value))
            throw new GupSimException($"'{text}' is not a size: use a number with an optional K, M, G, T or P suffix, e.g. 16G");
        return value;
    }

    /// <summary>Like <see cref="Parse"/>, returning false instead of throwing.</summary>
    public static bool TryParse(string text, out ulong value)
    {
        value = 0;
        string s = text.Trim();
        if (s.Length == 0) return false;
        bool isHex = s.StartsWith("0x", StringComparison.OrdinalIgnoreCase);
        if (!isHex && s.EndsWith("iB", StringComparison.OrdinalIgnoreCase)) s = s[..^2];
        else if (!isHex && s.Length > 1 && (s[^1] == 'B' || s[^1] == 'b') && char.IsLetter(s[^2])) s = s[..^1];
        int shift = 0;
        char last = char.ToUpperInvariant(s[^1]);
        int suffix = "KMGTPE".IndexOf(last);
        bool hex = s.StartsWith("0x", StringComparison.OrdinalIgnoreCase);
        if (suffix >= 0 && !(hex && last is 'E'))
        {
            shift = 10 * (suffix + 1);
            s = s[..^1];
        }
        if (s.Length == 0) return false;
        ulong n;
        if (hex)
        {
            if (!ulong.TryParse(s.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out n)) return false;
        }
        else if (!ulong.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out n)) return false;
        if (shift > 0 && n > (ulong.MaxValue >> shift)) return false;
        value = n << shift;
        return true;
    }

    /// <summary>Prints a size with the largest binary suffix that divides it exactly (e.g. 1G, 128M, 4K, 1536).</summary>
    public static string Format(ulong bytes)
    {
        if (bytes == 0) return "0";
        string[] suffixes = ["", "K", "M", "G", "T", "P", "E"];
        int i = 0;
        while (i < suffixes.Length - 1 && bytes % 1024 == 0)
        {
            bytes /= 1024;
            i++;
        }
        return bytes.ToString(CultureInfo.InvariantCulture) + suffixes[i];
    }
}
