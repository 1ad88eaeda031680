using GupSim.Arch;
using GupSim.Core;
using GupSim.Gup;
using GupSim.Memory;
using GupSim.Mm;
using GupSim.Pages;

namespace GupSim.Selftests;

/// <summary>
/// The PIN_LONGTERM_TEST ioctls of the gup_test module (mm/gup_test.h; the number is the ioctl's nr in
/// <c>_IOW('g', 7, struct pin_longterm_test)</c>, <c>_IO('g', 8)</c>, <c>_IOW('g', 9, __u64)</c>).
/// </summary>
public enum PinLongtermTestCmd
{
    /// <summary>PIN_LONGTERM_TEST_START: pin a range long-term and keep the pins.</summary>
    Start = 7,
    /// <summary>PIN_LONGTERM_TEST_STOP: unpin what START pinned.</summary>
    Stop = 8,
    /// <summary>PIN_LONGTERM_TEST_READ: copy the pinned pages to a user buffer.</summary>
    Read = 9,
}

/// <summary>struct pin_longterm_test (mm/gup_test.h): <c>__u64 addr; __u64 size; __u32 flags;</c>.</summary>
public struct PinLongtermTestArgs
{
    /// <summary>addr: the user address (page aligned).</summary>
    public ulong Addr;
    /// <summary>size: bytes (page aligned, not 0).</summary>
    public ulong Size;
    /// <summary>flags: <see cref="PinLongtermTest.FlagUseWrite"/> | <see cref="PinLongtermTest.FlagUseFast"/>.</summary>
    public uint Flags;
}

/// <summary>
/// The long-term pin test of the gup_test module (mm/gup_test.c: <c>pin_longterm_test_ioctl()</c>,
/// <c>pin_longterm_test_start()</c>, <c>pin_longterm_test_stop()</c>, <c>pin_longterm_test_read()</c>, and
/// <c>gup_test_release()</c>, which stops a test the process left running). David Hildenbrand added it in
/// c77369b437f9 "mm/gup_test: start/stop/read functionality for PIN LONGTERM test" (the anon COW selftest series,
/// autumn 2022, merged for v6.1); before v6.1 <c>gup_test_ioctl()</c> does not know the three commands and returns
/// −EINVAL, as for any unknown ioctl, which is what every method here then returns. The module itself (debugfs
/// <c>/sys/kernel/debug/gup_test</c>) exists from v5.11 (<see cref="GupTestSince"/>; gup_benchmark before).
/// </summary>
/// <remarks>
/// One test at a time per module (the kernel keeps the pages in statics under <c>pin_longterm_test_mutex</c>).
/// READ copies each pinned page's data (<see cref="Memory.PageContents"/>) to user memory as copy_to_user() does, so a
/// caller can compare what the pins hold with what its mapping reads.
/// </remarks>
public sealed class PinLongtermTest
{
    /// <summary>PIN_LONGTERM_TEST_FLAG_USE_WRITE: FOLL_WRITE.</summary>
    public const uint FlagUseWrite = 1;
    /// <summary>PIN_LONGTERM_TEST_FLAG_USE_FAST: pin_user_pages_fast() instead of pin_user_pages().</summary>
    public const uint FlagUseFast = 2;

    private readonly Machine _m;
    private readonly Lock _mutex = new();
    private PagePtr[]? _pages;
    private long _nrPages;

    /// <summary>The module on <paramref name="machine"/>, pinning with <paramref name="strategy"/> (null: the version's own code).</summary>
    public PinLongtermTest(Machine machine, GupStrategy? strategy = null)
    {
        ArgumentNullException.ThrowIfNull(machine);
        _m = machine;
        Gup = new GetUserPages(machine, strategy);
    }

    /// <summary>v6.1: the first release with PIN_LONGTERM_TEST_START/STOP/READ.</summary>
    public static KernelVersion Since => KernelVersion.V6_1;

    /// <summary>v5.11: gup_benchmark became gup_test (debugfs file <c>gup_test</c>); before, opening it fails.</summary>
    public static KernelVersion GupTestSince => KernelVersion.V5_11;

    /// <summary>Whether kernel <paramref name="v"/> has the three ioctls.</summary>
    public static bool Exists(KernelVersion v) => v >= Since;

    /// <summary>The GUP entry points START calls.</summary>
    public GetUserPages Gup { get; }

    /// <summary>Pages START pinned and STOP has not released yet (pin_longterm_test_nr_pages).</summary>
    public long PinnedPages
    {
        get
        {
            lock (_mutex) return _nrPages;
        }
    }

    /// <summary>A copy of the pinned entries (pin_longterm_test_pages[0 .. nr_pages)), for GupSim's checks; empty when nothing is pinned.</summary>
    public PagePtr[] PinnedPagesSnapshot()
    {
        lock (_mutex) return _pages is null ? [] : _pages.AsSpan(0, (int)_nrPages).ToArray();
    }

    /// <summary>Whether a test is running (pin_longterm_test_pages != NULL).</summary>
    public bool IsStarted
    {
        get
        {
            lock (_mutex) return _pages is not null;
        }
    }

    /// <summary>
    /// gup_test_ioctl() for the three commands: 0 or a negative errno. <paramref name="args"/> is START's argument;
    /// <paramref name="userAddr"/> READ's. Before v6.1 every command is −EINVAL.
    /// </summary>
    public int Ioctl(MmStruct mm, PinLongtermTestCmd cmd, in PinLongtermTestArgs args = default, ulong userAddr = 0) => cmd switch
    {
        PinLongtermTestCmd.Start => Start(mm, args),
        PinLongtermTestCmd.Stop => Stop(),
        PinLongtermTestCmd.Read => Read(mm, userAddr),
        _ => -(int)Errno.EINVAL,
    };

    /// <summary>
    /// PIN_LONGTERM_TEST_START (pin_longterm_test_start()): −EINVAL when a test is already running, for unknown flags,
    /// an address or size that is not page aligned, a size above LONG_MAX or of zero pages; −ENOMEM when pages[]
    /// cannot be allocated. Then FOLL_LONGTERM (| FOLL_WRITE with USE_WRITE) pins through pin_user_pages_fast() (USE_FAST)
    /// or pin_user_pages() under the mmap lock, call after call until the range is pinned; the first error unpins
    /// everything pinned so far and is returned (−EFAULT for a shared writable ext4 mapping from v6.5, for example).
    /// </summary>
    /// <exception cref="KernelSoftLockup">Thrown when a pin call returns 0: the kernel's loop would never end.</exception>
    public int Start(MmStruct mm, in PinLongtermTestArgs args)
    {
        ArgumentNullException.ThrowIfNull(mm);
        if (!Exists(_m.Version)) return -(int)Errno.EINVAL;
        lock (_mutex)
        {
            if (_pages is not null) return -(int)Errno.EINVAL;
            if ((args.Flags & ~(FlagUseWrite | FlagUseFast)) != 0) return -(int)Errno.EINVAL;
            ulong pageSize = _m.Arch.PageSize;
            if (((args.Addr | args.Size) & (pageSize - 1)) != 0) return -(int)Errno.EINVAL;
            ulong longMax = _m.Arch.BitsPerLong == 64 ? long.MaxValue : (ulong)int.MaxValue;
            if (args.Size > longMax) return -(int)Errno.EINVAL;
            ulong nrPages = args.Size >> _m.Arch.PageShift;
            if (nrPages == 0) return -(int)Errno.EINVAL;
            // kvcalloc(nr_pages, sizeof(void *)): fails when the machine could not hold the array.
            ulong arrayBytes = nrPages * (ulong)_m.Arch.WordBytes;
            if (nrPages > int.MaxValue || arrayBytes >> _m.Arch.PageShift > _m.FreePagesTotal) return -(int)Errno.ENOMEM;

            var flags = FollFlags.Longterm | ((args.Flags & FlagUseWrite) != 0 ? FollFlags.Write : FollFlags.None);
            bool fast = (args.Flags & FlagUseFast) != 0;
            var pages = new PagePtr[nrPages];
            _pages = pages;
            _nrPages = 0;
            long total = (long)nrPages;
            int ret = 0;
            while (total - _nrPages > 0)
            {
                long remaining = total - _nrPages;
                ulong addr = args.Addr + ((ulong)_nrPages << _m.Arch.PageShift);
                var slice = pages.AsSpan((int)_nrPages, (int)remaining);
                long cur = fast
                    ? Gup.PinUserPagesFast(mm, addr, remaining, flags, slice)
                    : Gup.PinUserPagesRemote(mm, addr, remaining, flags, slice);
                if (cur < 0)
                {
                    StopLocked();
                    ret = (int)cur;
                    break;
                }
                if (cur == 0)
                {
                    StopLocked();
                    throw new KernelSoftLockup("pin_longterm_test_start", "pin_user_pages() pinned nothing and returned 0; the loop asks again forever");
                }
                _nrPages += cur;
            }
            return ret;
        }
    }

    /// <summary>PIN_LONGTERM_TEST_STOP (pin_longterm_test_stop()): unpin_user_pages() of what START pinned; 0 (also when nothing runs).</summary>
    public int Stop()
    {
        if (!Exists(_m.Version)) return -(int)Errno.EINVAL;
        lock (_mutex) StopLocked();
        return 0;
    }

    /// <summary>
    /// PIN_LONGTERM_TEST_READ (pin_longterm_test_read()): −EINVAL when no test runs; else, for each pinned page in turn,
    /// copy_to_user(user_addr, kmap_local_page(pages[i]), PAGE_SIZE), user_addr advancing a page each time. The source
    /// is the page page_to_pfn(pages[i]) names (a pointer no RAM backs oopses, as the kmapped read would); the copy
    /// faults the destination in and −EFAULT ends it where a destination page cannot be written. A page-aligned
    /// destination takes the page's data whole; an unaligned one straddles two pages, each then holding bytes no single
    /// token names (an opaque token of its own).
    /// </summary>
    public int Read(MmStruct mm, ulong userAddr)
    {
        ArgumentNullException.ThrowIfNull(mm);
        if (!Exists(_m.Version)) return -(int)Errno.EINVAL;
        lock (_mutex)
        {
            if (_pages is null) return -(int)Errno.EINVAL;
            ulong pageSize = _m.Arch.PageSize;
            for (long i = 0; i < _nrPages; i++)
            {
                ulong token = KmapLocalPageData(_pages[i]);
                ulong offset = userAddr & (pageSize - 1), first = userAddr - offset, last = (userAddr + pageSize - 1) & ~(pageSize - 1);
                if (last < first) return -(int)Errno.EFAULT;
                for (ulong va = first; ; va += pageSize)
                {
                    ulong data = offset == 0 ? token : PageContents.Opaque(token ^ (va * 31) ^ offset);
                    if ((mm.UserWritePage(va, data) & VmFault.Error) != 0) return -(int)Errno.EFAULT;
                    if (va == last) break;
                }
                userAddr += pageSize;
            }
            return 0;
        }
    }

    // kmap_local_page(page) read whole: the data of the page page_to_pfn() names (page_address() on the direct map).
    private ulong KmapLocalPageData(PagePtr page)
    {
        ulong pfn = _m.PageToPfn(page).Value;
        if (!_m.Memory.IsRamPfn(pfn))
        {
            ulong va = _m.Memory.PhysToVirt(pfn << _m.Arch.PageShift);
            throw new KernelOops(KernelVa.FromUInt64(va), $"copy_to_user() from kmap_local_page({page}) = 0x{va:x}: no RAM there (pfn 0x{pfn:x})");
        }
        return _m.Memory.CopyablePageData(pfn);
    }

    /// <summary>gup_test_release(): closing the debugfs file stops a running test. Always 0.</summary>
    public int Release()
    {
        if (!Exists(_m.Version)) return 0;
        lock (_mutex) StopLocked();
        return 0;
    }

    private void StopLocked()
    {
        if (_pages is null) return;
        if (_nrPages > 0) _m.Grab.UnpinUserPages(_pages.AsSpan(0, (int)_nrPages));
        _pages = null;
        _nrPages = 0;
    }
}
