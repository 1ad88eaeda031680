using System.Globalization;

namespace GupSim.Core;

/// <summary>
/// A page frame number: a physical address shifted right by PAGE_SHIFT (kernel <c>unsigned long pfn</c>).
/// </summary>
/// <remarks>The default value is pfn 0. Immutable value type; equality and ordering are by number.</remarks>
public readonly struct Pfn : IEquatable<Pfn>, IComparable<Pfn>
{
    private Pfn(ulong value) => Value = value;

    /// <summary>The frame number.</summary>
    public ulong Value { get; }

    /// <summary>Makes a pfn from its number.</summary>
    public static Pfn FromUInt64(ulong value) => new(value);

    /// <summary>Models PHYS_PFN(): the frame that holds <paramref name="addr"/>.</summary>
    public static Pfn FromPhysAddr(PhysAddr addr, int pageShift) => new(addr.Value >> pageShift);

    /// <summary>Models PFN_PHYS(): the physical address of the first byte of this frame.</summary>
    public PhysAddr ToPhysAddr(int pageShift) => PhysAddr.FromUInt64(Value << pageShift);

    public static Pfn operator +(Pfn pfn, ulong n) => new(pfn.Value + n);
    public static Pfn operator -(Pfn pfn, ulong n) => new(pfn.Value - n);
    public static ulong operator -(Pfn a, Pfn b) => a.Value - b.Value;
    public static bool operator ==(Pfn a, Pfn b) => a.Value == b.Value;
    public static bool operator !=(Pfn a, Pfn b) => a.Value != b.Value;
    public static bool operator <(Pfn a, Pfn b) => a.Value < b.Value;
    public static bool operator >(Pfn a, Pfn b) => a.Value > b.Value;
    public static bool operator <=(Pfn a, Pfn b) => a.Value <= b.Value;
    public static bool operator >=(Pfn a, Pfn b) => a.Value >= b.Value;

    public bool Equals(Pfn other) => Value == other.Value;
    public override bool Equals(object? obj) => obj is Pfn other && Equals(other);
    public override int GetHashCode() => Value.GetHashCode();
    public int CompareTo(Pfn other) => Value.CompareTo(other.Value);

    /// <summary>Formats as the kernel prints pfns in dump_page: <c>0x</c> and lower-case hex.</summary>
    public override string ToString() => "0x" + Value.ToString("x", CultureInfo.InvariantCulture);
}

/// <summary>A physical address in bytes (kernel <c>phys_addr_t</c>).</summary>
/// <remarks>The default value is address 0. Immutable value type.</remarks>
public readonly struct PhysAddr : IEquatable<PhysAddr>, IComparable<PhysAddr>
{
    private PhysAddr(ulong value) => Value = value;

    /// <summary>The address in bytes.</summary>
    public ulong Value { get; }

    /// <summary>Makes a physical address from a byte count.</summary>
    public static PhysAddr FromUInt64(ulong value) => new(value);

    public static PhysAddr operator +(PhysAddr a, ulong bytes) => new(a.Value + bytes);
    public static PhysAddr operator -(PhysAddr a, ulong bytes) => new(a.Value - bytes);
    public static ulong operator -(PhysAddr a, PhysAddr b) => a.Value - b.Value;
    public static bool operator ==(PhysAddr a, PhysAddr b) => a.Value == b.Value;
    public static bool operator !=(PhysAddr a, PhysAddr b) => a.Value != b.Value;
    public static bool operator <(PhysAddr a, PhysAddr b) => a.Value < b.Value;
    public static bool operator >(PhysAddr a, PhysAddr b) => a.Value > b.Value;
    public static bool operator <=(PhysAddr a, PhysAddr b) => a.Value <= b.Value;
    public static bool operator >=(PhysAddr a, PhysAddr b) => a.Value >= b.Value;

    public bool Equals(PhysAddr other) => Value == other.Value;
    public override bool Equals(object? obj) => obj is PhysAddr other && Equals(other);
    public override int GetHashCode() => Value.GetHashCode();
    public int CompareTo(PhysAddr other) => Value.CompareTo(other.Value);

    /// <summary>Formats as <c>/proc/iomem</c> does when read as root: lower-case hex, at least 8 digits.</summary>
    public override string ToString() => Value.ToString("x8", CultureInfo.InvariantCulture);
}

/// <summary>A simulated kernel virtual address (kernel <c>unsigned long</c> / <c>void *</c>).</summary>
/// <remarks>The default value is the NULL pointer. Immutable value type.</remarks>
public readonly struct KernelVa : IEquatable<KernelVa>, IComparable<KernelVa>
{
    private KernelVa(ulong value) => Value = value;

    /// <summary>The address.</summary>
    public ulong Value { get; }

    /// <summary>The NULL pointer.</summary>
    public static KernelVa Null => default;

    /// <summary>Makes an address from its numeric value.</summary>
    public static KernelVa FromUInt64(ulong value) => new(value);

    public static KernelVa operator +(KernelVa a, ulong bytes) => new(a.Value + bytes);
    public static KernelVa operator -(KernelVa a, ulong bytes) => new(a.Value - bytes);
    public static ulong operator -(KernelVa a, KernelVa b) => a.Value - b.Value;
    public static bool operator ==(KernelVa a, KernelVa b) => a.Value == b.Value;
    public static bool operator !=(KernelVa a, KernelVa b) => a.Value != b.Value;
    public static bool operator <(KernelVa a, KernelVa b) => a.Value < b.Value;
    public static bool operator >(KernelVa a, KernelVa b) => a.Value > b.Value;
    public static bool operator <=(KernelVa a, KernelVa b) => a.Value <= b.Value;
    public static bool operator >=(KernelVa a, KernelVa b) => a.Value >= b.Value;

    public bool Equals(KernelVa other) => Value == other.Value;
    public override bool Equals(object? obj) => obj is KernelVa other && Equals(other);
    public override int GetHashCode() => Value.GetHashCode();
    public int CompareTo(KernelVa other) => Value.CompareTo(other.Value);

    /// <summary>Formats as the kernel's <c>%px</c>: 16 lower-case hex digits (8 on a 32-bit machine are shown by callers).</summary>
    public override string ToString() => "0x" + Value.ToString("x16", CultureInfo.InvariantCulture);
}
