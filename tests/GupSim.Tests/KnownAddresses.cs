using GupSim.Arch;
using GupSim.Memory;

namespace GupSim.Tests;

/// <summary>
/// The test side's own copy of each arch's kernel virtual address map, written as literals worked out from the
/// kernel's headers and documentation, and the independent "where does the struct page of pfn p live" oracle built on
/// them. Nothing here calls pfn_to_page, <see cref="Machine.PageAdd"/>, the flags layout or
/// <see cref="SectionInfo.MemmapVa"/>: VMEMMAP addresses come from the literal base alone, classic SPARSEMEM, FLATMEM
/// and DISCONTIGMEM ones from where boot placed the memmap in physical memory (the memblock record) seen through the
/// literal linear-map base.
/// </summary>
internal static class KnownAddresses
{
    /// <summary>sizeof(struct page) on a 64-bit kernel: flags, the 5-word union, _mapcount + _refcount, memcg_data (8 words).</summary>
    public const int StructPage64 = 64;

    /// <summary>sizeof(struct page) on a 32-bit kernel: the same 8 fields of 4 bytes each.</summary>
    public const int StructPage32 = 32;

    // x86_64 4-level: Documentation/x86/x86_64/mm.rst "ffffea0000000000 | ... | virtual memory map (vmemmap_base)", KASLR off.
    public const ulong X86_64Vmemmap = 0xffffea0000000000;

    // x86_64 5-level (LA57): the same table's "ffd4000000000000 | ... | virtual memory map (vmemmap_base)".
    public const ulong X86_64_5LevelVmemmap = 0xffd4000000000000;

    // x86_64 4-level: "ffff888000000000 | direct mapping of all physical memory (page_offset_base)".
    public const ulong X86_64PageOffset = 0xffff888000000000;

    // arm64, 48-bit VA, 4K pages: VMEMMAP_START = -(1 << (VA_BITS - VMEMMAP_SHIFT)), VMEMMAP_SHIFT = 12 - 6 → -(1 << 42).
    public const ulong Arm64_4kVmemmapStart = 0xfffffc0000000000;

    // arm64, 48-bit VA, 16K pages: VMEMMAP_SHIFT = 14 - 6 = 8 → -(1 << 40).
    public const ulong Arm64_16kVmemmapStart = 0xffffff0000000000;

    // arm64, 48-bit VA, 64K pages: VMEMMAP_SHIFT = 16 - 6 = 10 → -(1 << 38).
    public const ulong Arm64_64kVmemmapStart = 0xffffffc000000000;

    // arm64, 48-bit VA: PAGE_OFFSET = _PAGE_OFFSET(48) = -(1 << 48); __va(p) = (p - PHYS_OFFSET) | PAGE_OFFSET.
    public const ulong Arm64PageOffset = 0xffff000000000000;

    // ppc64 Book3S 64K: H_VMEMMAP_START / R_VMEMMAP_START = 0xc00c000000000000 (arch/powerpc/include/asm/book3s/64/{hash,radix}.h).
    public const ulong Ppc64Vmemmap = 0xc00c000000000000;

    // ppc64: PAGE_OFFSET = 0xc000000000000000 (arch/powerpc/include/asm/page.h, KERNELBASE).
    public const ulong Ppc64PageOffset = 0xc000000000000000;

    // riscv64 Sv39 (v6.1): Documentation/riscv/vm-layout.rst "ffffffc700000000 | -228 GB | ... | vmemmap", = VMEMMAP_START.
    // (v5.11's Sv39 map differs: PAGE_OFFSET 0xffffffe000000000, VMEMMAP_START = VMALLOC_START − 4 GiB = 0xffffffcf00000000;
    // GupSim uses the v6.1 map for every version, so only riscv64 rows on v6.1 pin this literal.)
    public const ulong Riscv64VmemmapStart = 0xffffffc700000000;

    // s390x: vmemmap is placed at boot (setup_kernel_memory_layout); GupSim fixes it at 64 TiB, 0x400000000000.
    public const ulong S390xVmemmap = 0x0000400000000000;

    // i386, armhf, sh: PAGE_OFFSET (3G/1G split on i386 and armhf; P1SEG 0x80000000 on sh).
    public const ulong I386PageOffset = 0xC0000000, ArmhfPageOffset = 0xC0000000, ShPageOffset = 0x80000000;

    /// <summary>
    /// VMEMMAP_START for the profile, from the literals above. Throws for arches without VMEMMAP: a test that asks
    /// for it there is wrong.
    /// </summary>
    public static ulong VmemmapStart(string arch) => arch switch
    {
        "x86_64" => X86_64Vmemmap,
        "x86_64-5level" => X86_64_5LevelVmemmap,
        "arm64-4k" => Arm64_4kVmemmapStart,
        "arm64-16k" => Arm64_16kVmemmapStart,
        "arm64-64k" => Arm64_64kVmemmapStart,
        "ppc64" or "ppc64-radix" => Ppc64Vmemmap,
        "riscv64" => Riscv64VmemmapStart,
        "s390x" => S390xVmemmap,
        _ => throw new ArgumentException($"{arch} has no vmemmap"),
    };

    /// <summary>
    /// The <c>vmemmap</c> symbol (the address pfn 0's struct page would have): VMEMMAP_START, less
    /// (memstart_addr &gt;&gt; PAGE_SHIFT) struct pages on arm64 and riscv (arch/{arm64,riscv}/include/asm/pgtable.h).
    /// </summary>
    /// <remarks>riscv subtracts phys_ram_base only from v6.8 ("riscv: Sparse-Memory/vmemmap out-of-bounds fix").</remarks>
    public static ulong VmemmapSymbol(string arch, KernelVersion v, ulong memstartPfn, int structPageSize = StructPage64) =>
        arch.StartsWith("arm64", StringComparison.Ordinal) || (arch == "riscv64" && v >= KernelVersion.FromNumbers(6, 8))
            ? VmemmapStart(arch) - memstartPfn * (ulong)structPageSize
            : VmemmapStart(arch);

    /// <summary>
    /// memstart_addr as the kernel computes it: the lowest RAM address, rounded down to ARM64_MEMSTART_ALIGN on
    /// arm64 (1 GiB with 4K pages, 32 MiB with 16K, 512 MiB with 64K: the PUD/PMD span that lets the linear map use
    /// block mappings), to the page on riscv; 0 where the linear map starts at physical 0.
    /// </summary>
    public static ulong MemstartAddr(string arch, ulong lowestRam) => arch switch
    {
        "arm64-4k" => lowestRam & ~((1UL << 30) - 1),
        "arm64-16k" => lowestRam & ~((32UL << 20) - 1),
        "arm64-64k" => lowestRam & ~((512UL << 20) - 1),
        "riscv64" or "armhf" or "armhf-lpae" => lowestRam & ~0xfffUL,
        _ => 0,
    };

    /// <summary>The literal PAGE_OFFSET of the profile.</summary>
    public static ulong PageOffset(string arch) => arch switch
    {
        "x86_64" => X86_64PageOffset,
        "x86_64-5level" => 0xff11000000000000, // mm.rst, 5-level: "ff11000000000000 | direct mapping of all physical memory"
        "riscv64" => 0xffffffd800000000, // vm-layout.rst, Sv39 (v6.1): "ffffffd800000000 | -160 GB | direct mapping of all physical memory"
        "arm64-4k" or "arm64-16k" or "arm64-64k" => Arm64PageOffset,
        "ppc64" or "ppc64-radix" => Ppc64PageOffset,
        "i386" or "i386-pae" => I386PageOffset,
        "armhf" or "armhf-lpae" => ArmhfPageOffset,
        "sh" => ShPageOffset,
        "s390x" => 0, // identity-mapped kernel
        _ => throw new ArgumentException($"no PAGE_OFFSET literal for {arch}"),
    };

    /// <summary>__va(phys) from the literals: PAGE_OFFSET + (phys − memstart_addr) where the linear map starts at RAM.</summary>
    public static ulong LinearVa(string arch, ulong lowestRam, ulong phys) => PageOffset(arch) + phys - MemstartAddr(arch, lowestRam);

    /// <summary>The struct page of <paramref name="pfn"/> under VMEMMAP, from the literals: vmemmap + pfn × 64.</summary>
    public static ulong VmemmapPage(string arch, KernelVersion v, ulong lowestRam, ulong pfn, int pageShift) =>
        VmemmapSymbol(arch, v, MemstartAddr(arch, lowestRam) >> pageShift) + pfn * StructPage64;

    /// <summary>
    /// Where the struct page of <paramref name="pfn"/> lives, worked out from the placement only: the literal
    /// vmemmap base under VMEMMAP; otherwise the memmap array that covers the pfn, located by the physical address
    /// boot gave it (<see cref="MemmapArray.PhysStart"/>, the memblock allocation) through the literal linear map,
    /// plus (pfn − first pfn) × sizeof(struct page). Hot-added classic memmaps are not in the linear map (vmalloc or
    /// altmap); for those the array's recorded address is the placement.
    /// </summary>
    public static ulong StructPageVa(Machine m, ulong pfn)
    {
        ulong lowestRam = m.Memblock.Memory[0].Base;
        if (m.Model == MemoryModel.SparsememVmemmap) return VmemmapPage(m.Arch.Name, m.Version, lowestRam, pfn, m.Arch.PageShift);
        int sps = m.Arch.BitsPerLong == 64 ? StructPage64 : StructPage32;
        foreach (var a in m.Memory.Arrays)
        {
            if (pfn < a.FirstPfn || pfn >= a.FirstPfn + a.NrPages) continue;
            ulong baseVa = a.Kind == KernelVaKind.DirectMap ? LinearVa(m.Arch.Name, lowestRam, a.PhysStart) : a.VaStart;
            return baseVa + (pfn - a.FirstPfn) * (ulong)sps;
        }
        throw new ArgumentException($"pfn 0x{pfn:x} has no memmap on this machine");
    }

    /// <summary>The pfn whose struct page starts at <paramref name="va"/>, worked out as <see cref="StructPageVa"/> is; null when none does.</summary>
    public static ulong? OwnerPfn(Machine m, ulong va)
    {
        ulong lowestRam = m.Memblock.Memory[0].Base;
        if (m.Model == MemoryModel.SparsememVmemmap)
        {
            ulong vmemmap = VmemmapSymbol(m.Arch.Name, m.Version, MemstartAddr(m.Arch.Name, lowestRam) >> m.Arch.PageShift);
            if (va < vmemmap || (va - vmemmap) % StructPage64 != 0) return null;
            ulong pfn = (va - vmemmap) / StructPage64;
            ulong nr = pfn >> (m.Arch.SectionSizeBits - m.Arch.PageShift);
            foreach (var s in m.PresentSections)
                if (s.Nr == nr) return pfn; // the vmemmap slice of a present section is backed
            return null;
        }
        int sps = m.Arch.BitsPerLong == 64 ? StructPage64 : StructPage32;
        foreach (var a in m.Memory.Arrays)
        {
            ulong baseVa = a.Kind == KernelVaKind.DirectMap ? LinearVa(m.Arch.Name, lowestRam, a.PhysStart) : a.VaStart;
            if (va < baseVa || va >= baseVa + a.NrPages * (ulong)sps || (va - baseVa) % (ulong)sps != 0) continue;
            return a.FirstPfn + (va - baseVa) / (ulong)sps;
        }
        return null;
    }
}
