using System.Globalization;
using GupSim.Core;

namespace GupSim.Pages;

/// <summary>
/// A <c>struct page *</c>: the simulated kernel virtual address of a struct page. Nothing guarantees that a
/// struct page really lives there; <see cref="Machine.Describe(PagePtr)"/> says what does.
/// </summary>
/// <remarks>
/// Immutable 8-byte value type, the size of the kernel's pointer, so a <c>pages[]</c> array of these costs what the
/// kernel's does. Pointer arithmetic needs sizeof(struct page), which depends on the arch, so it is spelled with
/// the stride: <see cref="Add"/> is the kernel's <c>page + n</c>. The default value is the NULL pointer.
/// </remarks>
public readonly struct PagePtr : IEquatable<PagePtr>, IComparable<PagePtr>
{
    private PagePtr(ulong address) => Address = address;

    /// <summary>The kernel virtual address.</summary>
    public ulong Address { get; }

    /// <summary>NULL.</summary>
    public static PagePtr Null => default;

    /// <summary>Whether this is NULL.</summary>
    public bool IsNull => Address == 0;

    /// <summary>A pointer to the given kernel virtual address.</summary>
    public static PagePtr FromAddress(ulong address) => new(address);

    /// <summary>A pointer to the given kernel virtual address.</summary>
    public static PagePtr FromVa(KernelVa va) => new(va.Value);

    /// <summary>The address as a <see cref="KernelVa"/>.</summary>
    public KernelVa Va => KernelVa.FromUInt64(Address);

    /// <summary>The kernel's <c>page + n</c>: n × sizeof(struct page) bytes further (n may be negative); wraps as C does.</summary>
    public PagePtr Add(long n, int structPageSize) => new(unchecked(Address + (ulong)(n * structPageSize)));

    /// <summary>The kernel's <c>a - b</c> for two <c>struct page *</c>: the byte difference divided by sizeof(struct page), rounded toward minus infinity as a shift does.</summary>
    public static long Difference(PagePtr a, PagePtr b, int structPageSize) =>
        unchecked((long)(a.Address - b.Address)) >> System.Numerics.BitOperations.Log2((uint)structPageSize);

    public static bool operator ==(PagePtr a, PagePtr b) => a.Address == b.Address;
    public static bool operator !=(PagePtr a, PagePtr b) => a.Address != b.Address;
    public bool Equals(PagePtr other) => Address == other.Address;
    public override bool Equals(object? obj) => obj is PagePtr other && Equals(other);
    public override int GetHashCode() => Address.GetHashCode();
    public int CompareTo(PagePtr other) => Address.CompareTo(other.Address);

    /// <summary>"0xffffea0000040000".</summary>
    public override string ToString() => "0x" + Address.ToString("x", CultureInfo.InvariantCulture);
}
