using System.Globalization;
using System.Runtime.CompilerServices;
using GupSim.Arch;
using GupSim.Core;

namespace GupSim.Gup;

public sealed partial class GetUserPages
{
    /// <summary>
    /// v6.3 (Jason Gunthorpe, "mm/gup: simplify the external interface functions and consolidate invariants"):
    /// every GUP entry point checks its arguments in is_valid_gup_args() (mm/gup.c), among them
    /// <c>WARN_ON_ONCE((gup_flags &amp; (FOLL_GET | FOLL_PIN)) &amp;&amp; !pages)</c> → −EINVAL.
    /// </summary>
    internal static bool HasIsValidGupArgs(KernelVersion v) => v >= KernelVersion.FromNumbers(6, 3);

    /// <summary>
    /// v5.19 (Yury Norov, "mm/gup: fix comments to pin_user_pages_*()"): pin_user_pages_fast(), pin_user_pages(),
    /// pin_user_pages_remote() and pin_user_pages_unlocked() gain <c>if (WARN_ON_ONCE(!pages)) return -EINVAL;</c>
    /// (pin_user_pages_fast_only() returns 0). get_user_pages*() are not checked until is_valid_gup_args().
    /// </summary>
    internal static bool PinChecksPagesArray(KernelVersion v) => v >= KernelVersion.FromNumbers(5, 19);

    /// <summary>
    /// The pages[] argument checks of <paramref name="function"/>, before anything is taken. A C# span cannot be
    /// NULL: an empty span with <paramref name="nrPages"/> &gt; 0 stands for <c>pages == NULL</c> (with
    /// nr_pages ≤ 0 it is a valid array of no entries, and nothing is checked).
    /// <list type="bullet">
    /// <item>Empty with FOLL_GET/FOLL_PIN, where the version checks (is_valid_gup_args() from v6.3; the pin_* entry
    /// points from v5.19): WARN_ON_ONCE into the kernel log, then −EINVAL (0 for pin_user_pages_fast_only(), i.e.
    /// FOLL_FAST_ONLY, before v6.3).</item>
    /// <item>Empty where the version has no check (pin_* before v5.19, get_* before v6.3): the kernel would store
    /// through NULL in gup-fast (an oops) or, in __get_user_pages(), trip <c>VM_BUG_ON(!!pages != !!(gup_flags &amp;
    /// (FOLL_GET | FOLL_PIN)))</c> with CONFIG_DEBUG_VM and otherwise keep references it never hands back. GupSim
    /// refuses with −EINVAL and one "gupsim:" line in the kernel log saying so; nothing is taken.</item>
    /// <item>Shorter than <paramref name="nrPages"/> (any version): the kernel cannot see an array's length and would
    /// write past its end; GupSim refuses with −EINVAL and one "gupsim:" line before taking anything.</item>
    /// </list>
    /// </summary>
    /// <returns>True when the call may go on; else false with <paramref name="ret"/> the value the entry point returns.</returns>
    private bool CheckPagesArgument(string function, long nrPages, FollFlags flags, int pagesLength, bool pin, out long ret)
    {
        ret = -(int)Errno.EINVAL;
        if (nrPages <= 0 || (flags & (FollFlags.Get | FollFlags.Pin)) == 0) return true;
        var v = _m.Version;
        if (pagesLength == 0)
        {
            if (HasIsValidGupArgs(v))
            {
                WarnOnOnce("is_valid_gup_args", function); // inlined into the entry point, which %pS names
                return false;
            }
            if (pin && PinChecksPagesArray(v))
            {
                WarnOnOnce(function, function);
                if ((flags & FollFlags.FastOnly) != 0) ret = 0;
                return false;
            }
            _m.Log(string.Create(CultureInfo.InvariantCulture,
                $"gupsim: {function}: pages is NULL with {(pin ? "FOLL_PIN" : "FOLL_GET")} and v{v} does not check it (the kernel would store through NULL or keep references it cannot return): refused with -EINVAL, nothing taken"));
            return false;
        }
        if (pagesLength < nrPages)
        {
            _m.Log(string.Create(CultureInfo.InvariantCulture,
                $"gupsim: {function}: pages[] holds {pagesLength} entries for nr_pages {nrPages} (the kernel would write past the array): refused with -EINVAL, nothing taken"));
            return false;
        }
        return true;
    }

    /// <summary>
    /// The gup_flags checks of an entry point, before anything is taken, each a WARN_ON_ONCE() and −EINVAL:
    /// <list type="bullet">
    /// <item>From v6.3, is_valid_gup_args() (mm/gup.c; inlined, so the warning names the entry point): internal flags
    /// from the caller (FOLL_PIN, FOLL_TRIED, FOLL_REMOTE, FOLL_FAST_ONLY), then with the entry point's own flags
    /// (<paramref name="toSet"/>) FOLL_GET together with FOLL_PIN, and FOLL_LONGTERM without FOLL_PIN.</item>
    /// <item>Before, each entry point's own: pin_user_pages*() <c>WARN_ON_ONCE(gup_flags &amp; FOLL_GET)</c>;
    /// get_user_pages*() and get_user_pages_fast() is_valid_gup_flags(): FOLL_PIN, FOLL_LONGTERM. (The fast paths'
    /// allow-list comes after, in internal_get_user_pages_fast(): <see cref="FastFlagsValid"/>.)</item>
    /// </list>
    /// </summary>
    private bool GupFlagsValid(string function, FollFlags caller, FollFlags toSet)
    {
        if (HasIsValidGupArgs(_m.Version))
        {
            var all = caller | toSet;
            bool bad = (caller & (FollFlags.Pin | FollFlags.Tried | FollFlags.Remote | FollFlags.FastOnly)) != 0
                || (all & (FollFlags.Get | FollFlags.Pin)) == (FollFlags.Get | FollFlags.Pin)
                || ((all & FollFlags.Longterm) != 0 && (all & FollFlags.Pin) == 0);
            if (bad) WarnOnOnce("is_valid_gup_args", function);
            return !bad;
        }
        FollFlags refused = (toSet & FollFlags.Pin) != 0 ? FollFlags.Get : FollFlags.Pin | FollFlags.Longterm;
        if ((caller & refused) == 0) return true;
        WarnOnOnce(function, function);
        return false;
    }

    /// <summary>
    /// WARN_ON_ONCE() at <paramref name="site"/> (<see cref="Machine.WarnOnce"/>): "WARNING: CPU: 0 PID: 1 at mm/gup.c
    /// &lt;function&gt;" the first time (the kernel also prints the line number and symbol offset, which GupSim does not
    /// carry per release).
    /// </summary>
    private void WarnOnOnce(string site, string function, string file = "mm/gup.c")
    {
        _m.WarnOnce(site, "WARNING: CPU: 0 PID: 1 at " + file + " " + function);
    }
}
