using System.Globalization;

namespace GupSim.Core;

/// <summary>Parsing of the plain numbers users type (pfns, counts): decimal or <c>0x</c> hex.</summary>
public static class Numbers
{
    /// <summary>Parses a decimal or 0x-hex number.</summary>
    /// <exception cref="GupSimException">Thrown with a one-line message naming <paramref name="what"/>.</exception>
    public static ulong ParseUInt64(string text, string what)
    {
        string t = text.Trim();
        bool ok = t.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? ulong.TryParse(t.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong v)
            : ulong.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out v);
        if (!ok) throw new GupSimException($"{what}: '{text}' is not a number (decimal or 0x hex)");
        return v;
    }
}
