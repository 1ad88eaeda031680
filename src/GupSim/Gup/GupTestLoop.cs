using GupSim.Mm;
using GupSim.Pages;

namespace GupSim.Gup;

/// <summary>Which GUP entry point <see cref="GupTestLoop"/> calls (mm/gup.c; gup_test's GUP_FAST / GUP_BASIC / PIN_FAST / PIN_BASIC commands).</summary>
/// <param name="Pin">FOLL_PIN (pin_user_pages*) rather than FOLL_GET (get_user_pages*).</param>
/// <param name="Fast">The gup-fast entry point (*_fast) rather than the slow path (*_remote on the caller's mm).</param>
/// <param name="Flags">The caller's gup_flags (FOLL_WRITE, FOLL_LONGTERM).</param>
public readonly record struct GupEntryPoint(bool Pin, bool Fast, FollFlags Flags);

/// <summary>What one <see cref="GupTestLoop.Get"/> loop did.</summary>
/// <param name="Done">Entries taken (pages[0, Done) hold references or pins).</param>
/// <param name="Error">The negative errno of the call that ended the loop with nothing taken, or 0.</param>
public readonly record struct GupLoopResult(long Done, long Error);

/// <summary>
/// gup_test's get loop and release (mm/gup_test.c <c>__gup_test_ioctl()</c>: calls of <c>nr_pages_per_call</c> pages
/// until the range is done, a call fails or a call comes up short; <c>put_back_pages()</c>: <c>unpin_user_pages()</c>
/// for pins, <c>put_page()</c> per entry for FOLL_GET). The one copy the scenario runner (<c>pin</c>/<c>get</c>,
/// <c>unpin</c>/<c>put</c>) and the check engine share. No allocation: the caller owns pages[].
/// </summary>
public static class GupTestLoop
{
    /// <summary>
    /// GUPs <paramref name="total"/> pages from <paramref name="start"/> in calls of <paramref name="batch"/> pages
    /// (≤ 0: one call) into <paramref name="pages"/>, through <paramref name="entry"/>.
    /// </summary>
    /// <exception cref="ArgumentException">Thrown when <paramref name="pages"/> is shorter than <paramref name="total"/>.</exception>
    public static GupLoopResult Get(GetUserPages gup, MmStruct mm, GupEntryPoint entry, ulong start, long total, long batch, Span<PagePtr> pages)
    {
        ArgumentNullException.ThrowIfNull(gup);
        ArgumentNullException.ThrowIfNull(mm);
        if (pages.Length < total) throw new ArgumentException("pages[] is shorter than the range", nameof(pages));
        if (batch <= 0) batch = total;
        int shift = mm.Machine.Arch.PageShift;
        long done = 0;
        while (done < total)
        {
            long n = Math.Min(batch, total - done);
            var span = pages.Slice((int)done, (int)n);
            ulong addr = start + ((ulong)done << shift);
            long got = (entry.Pin, entry.Fast) switch
            {
                (true, true) => gup.PinUserPagesFast(mm, addr, n, entry.Flags, span),
                (true, false) => gup.PinUserPagesRemote(mm, addr, n, entry.Flags, span),
                (false, true) => gup.GetUserPagesFast(mm, addr, n, entry.Flags, span),
                _ => gup.GetUserPagesRemote(mm, addr, n, entry.Flags, span),
            };
            if (got < 0) return new GupLoopResult(done, got);
            done += got;
            if (got != n) break;
        }
        return new GupLoopResult(done, 0);
    }

    /// <summary>
    /// put_back_pages(): <c>unpin_user_pages()</c> over pins, <c>put_page()</c> per entry otherwise. <paramref name="right"/>
    /// (the oracle's right struct pages, or empty when every entry was right) lets the model judge stray stores.
    /// </summary>
    public static void PutBack(Machine machine, bool pin, ReadOnlySpan<PagePtr> pages, ReadOnlySpan<PagePtr> right)
    {
        ArgumentNullException.ThrowIfNull(machine);
        if (pin) machine.Grab.UnpinUserPages(pages, right);
        else machine.Grab.PutPages(pages, right);
    }
}
