namespace GupSim.Core;

/// <summary>One result of <see cref="Getopt"/>: an option character and its argument, or '?' for an error.</summary>
/// <param name="Option">The option character, or '?' when the option was unknown or lacked its argument.</param>
/// <param name="Argument">optarg: the option's argument, or null.</param>
/// <param name="Error">For '?': the message glibc's getopt prints on stderr.</param>
public readonly record struct GetoptResult(char Option, string? Argument, string? Error);

/// <summary>
/// getopt(3) as glibc implements it for short options, so that the kernel selftests' command lines parse exactly as
/// they do on Linux: bundled flags (<c>-HL</c>), arguments attached or in the next word (<c>-n512</c>, <c>-n -1</c>:
/// the next word is taken even when it starts with '-'), <c>--</c> ending the options, and GNU permutation (operands
/// anywhere on the line are collected and handed back after the options, as optind then points at them).
/// </summary>
public static class Getopt
{
    /// <summary>Parses <paramref name="args"/> (argv without argv[0]) against <paramref name="optstring"/>.</summary>
    /// <param name="program">argv[0], used in the error messages ("prog: invalid option -- 'x'").</param>
    /// <param name="args">The words after the program name.</param>
    /// <param name="optstring">getopt's option string: each character an option, a following ':' for a required argument.</param>
    /// <param name="operands">The non-option words, in order (what argv[optind..] holds after the loop).</param>
    /// <returns>The options in the order getopt returns them.</returns>
    public static List<GetoptResult> Parse(string program, IReadOnlyList<string> args, string optstring, out List<string> operands)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(optstring);
        var results = new List<GetoptResult>();
        operands = [];
        for (int i = 0; i < args.Count; i++)
        {
            string word = args[i];
            if (word == "--")
            {
                for (i++; i < args.Count; i++) operands.Add(args[i]);
                break;
            }
            if (word.Length < 2 || word[0] != '-')
            {
                operands.Add(word); // GNU permutation: an operand, the scan goes on
                continue;
            }
            for (int j = 1; j < word.Length; j++)
            {
                char c = word[j];
                int at = c == ':' ? -1 : optstring.IndexOf(c, StringComparison.Ordinal);
                if (at < 0)
                {
                    results.Add(new GetoptResult('?', null, $"{program}: invalid option -- '{c}'"));
                    continue;
                }
                bool takesArgument = at + 1 < optstring.Length && optstring[at + 1] == ':';
                if (!takesArgument)
                {
                    results.Add(new GetoptResult(c, null, null));
                    continue;
                }
                if (j + 1 < word.Length)
                {
                    results.Add(new GetoptResult(c, word[(j + 1)..], null));
                }
                else if (i + 1 < args.Count)
                {
                    results.Add(new GetoptResult(c, args[++i], null));
                }
                else
                {
                    results.Add(new GetoptResult('?', null, $"{program}: option requires an argument -- '{c}'"));
                }
                break;
            }
        }
        return results;
    }
}

/// <summary>The C library's number conversions, with their exact semantics (no error: they stop at the first character that does not fit).</summary>
public static class CLib
{
    /// <summary>atoi(3): optional whitespace and sign, then decimal digits; 0 when there are none; wraps to 32 bits like glibc's (int)strtol.</summary>
    public static int Atoi(string text) => unchecked((int)Strtol(text, 10));

    /// <summary>
    /// strtol(3) on a 64-bit long: base 0 accepts "0x" hex, a leading "0" octal, else decimal; saturates at
    /// long.MinValue/MaxValue as strtol does on overflow.
    /// </summary>
    public static long Strtol(string text, int numberBase)
    {
        ArgumentNullException.ThrowIfNull(text);
        int i = 0;
        while (i < text.Length && char.IsWhiteSpace(text[i])) i++;
        bool negative = false;
        if (i < text.Length && (text[i] == '+' || text[i] == '-'))
        {
            negative = text[i] == '-';
            i++;
        }
        if ((numberBase == 0 || numberBase == 16) && i + 2 < text.Length
            && text[i] == '0' && (text[i + 1] == 'x' || text[i + 1] == 'X') && Digit(text[i + 2]) < 16)
        {
            numberBase = 16;
            i += 2;
        }
        else if (numberBase == 0)
        {
            numberBase = i < text.Length && text[i] == '0' ? 8 : 10;
        }
        ulong value = 0;
        bool overflow = false;
        for (; i < text.Length; i++)
        {
            int d = Digit(text[i]);
            if (d >= numberBase) break;
            if (value > (ulong.MaxValue - (ulong)d) / (ulong)numberBase) overflow = true;
            else value = value * (ulong)numberBase + (ulong)d;
        }
        if (negative)
            return overflow || value > (ulong)long.MaxValue + 1 ? long.MinValue : unchecked(-(long)value);
        return overflow || value > long.MaxValue ? long.MaxValue : (long)value;
    }

    private static int Digit(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'z' => c - 'a' + 10,
        >= 'A' and <= 'Z' => c - 'A' + 10,
        _ => 99,
    };
}
