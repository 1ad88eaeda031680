using System.Globalization;

namespace GupSim.Core;

/// <summary>Parsing of the plain numbers users type (pfns, counts): decimal or <c>0x</c> hex.</summary>
public static class Numbers
{
    /// <summary>Parses a decimal or 0x-hex number.</summary>
    /// <exception cref="GupSimException">Thrown with a one-line message naming <paramref name="what"/>.</exception>
    public static ulong ParseUInt64(string text, string what)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (!TryParseUInt64(text, out ulong v)) throw new GupSimException(NotANumber(what, text));
        return v;
    }

    /// <summary>Like <see cref="ParseUInt64"/>, returning false instead of throwing.</summary>
    public static bool TryParseUInt64(string? text, out ulong value)
    {
        value = 0;
        if (text is null) return false;
        string t = text.Trim();
        return t.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? ulong.TryParse(t.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value)
            : ulong.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out value);
    }

    /// <summary>The one-line message for a value that is not a number: <c>WHAT: 'TEXT' is not a number (use a decimal or 0x… value)</c>.</summary>
    public static string NotANumber(string what, string text) => $"{what}: '{text}' is not a number (use a decimal or 0x… value)";
}
