using System.Globalization;
using GupSim.Core;

namespace GupSim.Memory;

/// <summary>
/// The memblock reservations setup_arch() makes before sparse_init() (arch/x86/kernel/setup.c,
/// arch/arm64/kernel/setup.c + arch/arm64/mm/init.c, arch/riscv/mm/init.c, ...), in the arch's order, so that the
/// top-down allocations of sparse_init() and later leave gaps exactly where a real boot has them. Figures and choices
/// are in docs/architecture.md, "memblock and sparse_init (mm/memblock.c, mm/sparse.c)".
/// </summary>
internal sealed class SetupArch
{
    private const ulong K = 1UL << 10, M = 1UL << 20, G = 1UL << 30;

    /// <summary>
    /// sizeof(pg_data_t) rounded as x86 alloc_node_data() rounds it (roundup(sizeof(pg_data_t), PAGE_SIZE)):
    /// 0x2a000 bytes, from an Ubuntu 5.12.11-generic x86_64 boot log ("NODE_DATA(0) allocated [mem
    /// 0x81ffd6000-0x81fffffff]", NR_CPUS 8192, NODES_SHIFT 10). The size depends on the configuration; GupSim uses
    /// this one figure for every version and for arm64 (arch_numa.c setup_node_data()).
    /// </summary>
    public const ulong NodeDataBytes = 0x2a000;

    /// <summary>
    /// INIT_PGT_BUF_SIZE (arch/x86/mm/init.c): 12 pages of early page tables carved from the brk with
    /// CONFIG_RANDOMIZE_MEMORY (distribution kernels), the part of the brk reserve_brk() reserves in GupSim.
    /// </summary>
    public const ulong X86PgtBufBytes = 12 * 4096;

    /// <summary>
    /// real_mode_size_needed() as x86_64 boot logs of the 4.x/5.x era print it ("Base memory trampoline at [...]
    /// 99000 size 24576"): 24 KiB, found top-down below 1 MiB.
    /// </summary>
    public const ulong X86TrampolineBytes = 24 * K;

    /// <summary>CONFIG_X86_RESERVE_LOW default: 64 KiB (trim_low_memory_range()).</summary>
    public const ulong X86ReserveLowBytes = 64 * K;

    /// <summary>
    /// reserve_bios_regions() (arch/x86/kernel/ebda.c): the EBDA start (BIOS data area word 0x40e) rounded down to a
    /// page, to 1 MiB. SeaBIOS (QEMU) puts the EBDA at 0x9fc00, so the reservation starts at 0x9f000, which is also
    /// BIOS_START_MAX, what the kernel takes when the BIOS gives no sane value.
    /// </summary>
    public const ulong X86BiosStart = 0x9f000;

    /// <summary>The size QEMU gives the device tree it builds for its virt machines (create_device_tree(): FDT_MAX_SIZE, 1 MiB).</summary>
    public const ulong QemuFdtBytes = 1 * M;

    private readonly Machine _m;
    private readonly Memblock _mb;
    private readonly Dictionary<int, ulong> _nodeData = [];

    public SetupArch(Machine m)
    {
        _m = m;
        _mb = m.Memblock;
    }

    /// <summary>Where the kernel image starts, after <see cref="ReserveEarly"/>.</summary>
    public ulong ImageStart { get; private set; }

    /// <summary>Where the reserved kernel image ends.</summary>
    public ulong ImageEnd { get; private set; }

    /// <summary>__pa(NODE_DATA(nid)): the node's pg_data_t, or, without NUMA node data, the kernel image (contig_page_data is in .data).</summary>
    public ulong PgdatPhys(int nid) => _nodeData.TryGetValue(nid, out ulong p) ? p : ImageStart;

    private string ArchName => _m.Arch.KernelArch;

    private bool X86 => ArchName == "x86";

    private bool X86_64 => X86 && _m.Arch.BitsPerLong == 64;

    /// <summary>Whether the arch's distribution kernels are built with CONFIG_NUMA and allocate node data in setup_arch (x86_64, arm64).</summary>
    private bool AllocatesNodeData => X86_64 || ArchName == "arm64";

    /// <summary>
    /// Everything up to and including the NUMA node data: for x86, setup_arch() from memblock_reserve(_text) to
    /// initmem_init(); for arm64, arm64_memblock_init() and arm64_numa_init(); elsewhere the image, the initrd and the
    /// FDT where the arch has one. Firmware reservations from a machine file come first (they are in
    /// memblock.reserved, or not memory at all, before the kernel runs).
    /// </summary>
    public void ReserveEarly()
    {
        foreach (var r in _m.Spec.Ram.Reserved)
            _mb.MemblockReserve(r.Range.Start, r.Range.Bytes, $"firmware: {r.Name} ({r.Source})");
        ReserveKernelImage();
        if (X86) ReserveX86Early();
        else
        {
            ReserveInitrd();
            ReserveFdt();
        }
        if (AllocatesNodeData) AllocNodeData();
    }

    /// <summary>
    /// memblock_reserve(__pa_symbol(_text), __end_of_kernel_reserve − _text): where the arch loads the image if that
    /// is RAM, else at the start of RAM (the profile's KernelImageBytes).
    /// </summary>
    private void ReserveKernelImage()
    {
        var arch = _m.Arch;
        ulong image = _m.IsRam(arch.KernelImageStart) ? arch.KernelImageStart : _mb.StartOfDram;
        ulong end = image + arch.KernelImageBytes;
        foreach (var r in _mb.Memory)
            if (image >= r.Base && image < r.End) end = Math.Min(end, r.End);
        ImageStart = image;
        ImageEnd = end;
        _mb.MemblockReserve(image, end - image, "kernel image (text, rodata, data, bss)");
    }

    /// <summary>
    /// arch/x86/kernel/setup.c setup_arch(), v5.11 order: page 0 (L1TF), early_reserve_initrd(), the brk
    /// (reserve_brk(): the early page-table buffer), reserve_bios_regions() (EBDA to 1 MiB), reserve_real_mode() (the
    /// trampoline, top-down below 1 MiB; with crashkernel= on the command line crash_reserve_low_1M() takes the whole
    /// first 1 MiB), trim_low_memory_range() (the low 64 KiB), from v5.13 the whole first 1 MiB, then
    /// init_mem_mapping() (direct-map page tables: from the brk buffer while it lasts) and
    /// memblock_set_current_limit(get_max_mapped()). No EFI memmap, setup_data, EFI boot services or MP table
    /// reservations: GupSim's PC boots through a legacy BIOS (SeaBIOS) without setup_data.
    /// </summary>
    private void ReserveX86Early()
    {
        var v = _m.Version;
        _mb.MemblockReserve(0, _m.Arch.PageSize, "page 0 (L1TF)");
        ReserveInitrd();
        _mb.MemblockReserve(ImageEnd, X86PgtBufBytes, "brk (early page tables, INIT_PGT_BUF_SIZE)");
        _mb.MemblockReserve(X86BiosStart, M - X86BiosStart, "BIOS regions: EBDA to 1 MiB (reserve_bios_regions)");
        if (_mb.MemblockFindInRangeNode(X86TrampolineBytes, _m.Arch.PageSize, 0, M, Memblock.NumaNoNode, out ulong tramp))
            _mb.MemblockReserve(tramp, X86TrampolineBytes, "real mode trampoline (reserve_real_mode)");
        else _m.Log("No sub-1M memory is available for the trampoline");
        if (_m.Spec.Crashkernel is not null && !v.X86ReservesFirstMegabyte)
        {
            _mb.MemblockReserve(0, M, "low 1 MiB for crashkernel (crash_reserve_low_1M)");
            _m.Log("Reserving the low 1M of memory for crashkernel");
        }
        _mb.MemblockReserve(0, X86ReserveLowBytes, "low 64 KiB (trim_low_memory_range, X86_RESERVE_LOW)");
        if (v.X86ReservesFirstMegabyte) _mb.MemblockReserve(0, M, "first 1 MiB (f1d4d47c5851)");
        ulong tables = X86DirectMapTablePages() * _m.Arch.PageSize;
        if (tables > X86PgtBufBytes)
        {
            ulong extra = tables - X86PgtBufBytes;
            if (!_mb.MemblockPhysAllocRange(extra, _m.Arch.PageSize, 0, _mb.EndOfDram, "direct-map page tables (alloc_low_pages)", out _))
                throw new GupSimException("init_mem_mapping: no memory for the direct map's page tables");
        }
    }

    /// <summary>
    /// The page-table pages init_mem_mapping() needs for the direct map with 1 GiB pages (X86_FEATURE_GBPAGES): one
    /// PUD page per 512 GiB, a PMD and a PTE page for the first 2 MiB (4 KiB pages below 1 MiB and up to the first 2
    /// MiB boundary), and a PMD (PTE) page for each GiB (2 MiB) that a RAM range starts or ends inside of.
    /// </summary>
    private ulong X86DirectMapTablePages()
    {
        ulong end = _mb.EndOfDram;
        ulong puds = (end + (512 * G) - 1) / (512 * G);
        var pmdGiB = new HashSet<ulong> { 0 };
        var pte2M = new HashSet<ulong> { 0 };
        foreach (var r in _mb.Memory)
            foreach (ulong edge in new[] { r.Base, r.End })
            {
                if (edge % G != 0) pmdGiB.Add(edge / G);
                if (edge % (2 * M) != 0) pte2M.Add(edge / (2 * M));
            }
        return puds + (ulong)pmdGiB.Count + (ulong)pte2M.Count;
    }

    /// <summary>
    /// early_reserve_initrd() / the FDT's linux,initrd-start: the initrd where the boot loader put it. Without an
    /// address: on x86 the highest page-aligned spot below the boot protocol's initrd_addr_max (0x7fffffff, so below
    /// 2 GiB), as GRUB places it; elsewhere the highest page-aligned spot in RAM, as the EFI stub's top-down
    /// allocation places it.
    /// </summary>
    private void ReserveInitrd()
    {
        if (_m.Spec.Initrd is not { } initrd) return;
        ulong page = _m.Arch.PageSize;
        ulong size = (initrd.Bytes + page - 1) & ~(page - 1);
        ulong addr;
        if (initrd.Address is ulong a)
        {
            if (!_m.IsRam(a) || !_m.IsRam(a + initrd.Bytes - 1))
                throw new GupSimException(string.Create(CultureInfo.InvariantCulture, $"--initrd {ByteSize.Format(initrd.Bytes)}@0x{a:x}: the initrd is not inside RAM: give an address in RAM, or leave @ADDR out for the boot loader's place"));
            addr = a & ~(page - 1);
            size = ((a + initrd.Bytes + page - 1) & ~(page - 1)) - addr;
        }
        else if (!_mb.MemblockFindInRangeNode(size, page, X86 ? M : 0, X86 ? 2 * G : Memblock.AllocAccessible, Memblock.NumaNoNode, out addr))
            throw new GupSimException($"--initrd {ByteSize.Format(initrd.Bytes)}: no free RAM {(X86 ? "below 2 GiB (initrd_addr_max) " : "")}holds it: give a smaller size");
        _mb.MemblockReserve(addr, size, "initrd (early_reserve_initrd)");
    }

    /// <summary>
    /// early_init_fdt_reserve_self(): the device tree QEMU's virt machine builds (1 MiB): arm64 at the start of RAM
    /// (hw/arm/boot.c, below a kernel loaded 2 MiB in), riscv at the top of RAM below 3 GiB aligned down to 2 MiB
    /// (hw/riscv/boot.c riscv_load_fdt()). Other arches: no FDT reservation (ppc64's flattened tree, s390, sh, armhf
    /// and i386 are not modelled).
    /// </summary>
    private void ReserveFdt()
    {
        ulong fdt;
        if (ArchName == "arm64") fdt = _mb.StartOfDram;
        else if (ArchName == "riscv")
        {
            ulong top = Math.Min(_mb.EndOfDram, 3 * G);
            if (top < _mb.StartOfDram + 2 * QemuFdtBytes) return;
            fdt = (top - QemuFdtBytes) & ~(2 * M - 1);
        }
        else return;
        if (!_m.IsRam(fdt)) return;
        _mb.MemblockReserve(fdt, QemuFdtBytes, "device tree (early_init_fdt_reserve_self)");
    }

    /// <summary>
    /// x86 alloc_node_data() (arch/x86/mm/numa.c) / arm64 setup_node_data(): memblock_phys_alloc_try_nid(nd_size,
    /// SMP_CACHE_BYTES, nid) for each node with memory, top-down on the node, so at the top of its RAM.
    /// </summary>
    private void AllocNodeData()
    {
        foreach (var n in _m.Spec.Ram.Nodes.OrderBy(n => n.Nid))
        {
            bool has = false;
            foreach (var r in _mb.Memory) has |= r.Nid == n.Nid;
            if (!has) continue;
            if (!_mb.MemblockPhysAllocTryNid(NodeDataBytes, 64, n.Nid, $"NODE_DATA({n.Nid}) (pg_data_t)", out ulong nd))
                throw new GupSimException($"Cannot find {NodeDataBytes} bytes in any node (initial node: {n.Nid})");
            _nodeData[n.Nid] = nd;
            _m.Log(string.Create(CultureInfo.InvariantCulture, $"NODE_DATA({n.Nid}) allocated [mem 0x{nd:x8}-0x{nd + NodeDataBytes - 1:x8}]"));
        }
    }

    /// <summary>
    /// reserve_crashkernel(). x86 (arch/x86/kernel/setup.c, v5.11): without @OFFSET, memblock_phys_alloc_range(size,
    /// CRASH_ALIGN 16 MiB, 16 MiB, CRASH_ADDR_LOW_MAX) — below 4 GiB on x86_64, 512 MiB on i386 — then, unless
    /// that fit or with ",high", up to CRASH_ADDR_HIGH_MAX (64 TiB; i386 512 MiB); with @OFFSET exactly there (1 MiB
    /// aligned) or "memory is in use"; a reservation above 4 GiB also takes 256 MiB below 4 GiB
    /// (reserve_crashkernel_low()). arm64 (arch/arm64/mm/init.c): memblock_find_in_range(0, the DMA limit, size,
    /// 2 MiB), or at @OFFSET if free; ",high" from v5.19 above the DMA limit plus 128 MiB low.
    /// </summary>
    /// <exception cref="GupSimException">Thrown on arches whose reserve_crashkernel() GupSim does not model.</exception>
    public void ReserveCrashkernel()
    {
        if (_m.Spec.Crashkernel is not { } ck) return;
        ulong size = ck.Bytes;
        string sys = string.Create(CultureInfo.InvariantCulture, $"(System RAM: {_mb.PhysMemSize >> 20}MB)");
        if (X86)
        {
            ulong lowMax = X86_64 ? 4 * G : 512 * M, highMax = X86_64 ? 64UL << 40 : 512 * M;
            ulong crashBase;
            if (ck.Offset is not ulong at)
            {
                crashBase = 0;
                if (!(!ck.High && _mb.MemblockPhysAllocRange(size, 16 * M, 16 * M, lowMax, "crashkernel", out crashBase))
                    && !_mb.MemblockPhysAllocRange(size, 16 * M, 16 * M, highMax, "crashkernel", out crashBase))
                {
                    CrashFailed("crashkernel reservation failed - No suitable area found.");
                    return;
                }
            }
            else if (!_mb.MemblockPhysAllocRange(size, M, at, at + size, "crashkernel", out crashBase) || crashBase != at)
            {
                if (crashBase != 0) _mb.MemblockFree(crashBase, size);
                CrashFailed("crashkernel reservation failed - memory is in use.");
                return;
            }
            if (crashBase >= 4 * G && X86_64 && !ReserveCrashkernelLow(256 * M, 16 * M, 4 * G))
            {
                _mb.MemblockFree(crashBase, size);
                return;
            }
            _m.Log(string.Create(CultureInfo.InvariantCulture, $"Reserving {size >> 20}MB of memory at {crashBase >> 20}MB for crashkernel {sys}"));
            return;
        }
        if (ArchName == "arm64")
        {
            if (ck.High && !_m.Version.Arm64CrashkernelHigh)
            {
                CrashFailed("crashkernel: unrecognized char: ,");
                return;
            }
            ulong dmaLimit = Math.Min(_m.Arch.Zones[0].EndBytes, _mb.EndOfDram);
            ulong crashBase;
            if (ck.Offset is ulong at)
            {
                if (!_m.IsRam(at) || !_m.IsRam(at + size - 1) || _mb.IsReserved(at, at + size))
                {
                    CrashFailed("cannot reserve crashkernel: region is overlapping with memory or in use");
                    return;
                }
                crashBase = at;
                _mb.MemblockReserve(at, size, "crashkernel");
            }
            else if (!_mb.MemblockPhysAllocRange(size, 2 * M, 0, ck.High ? _mb.EndOfDram : dmaLimit, "crashkernel", out crashBase))
            {
                CrashFailed("cannot allocate crashkernel (size:0x" + size.ToString("x", CultureInfo.InvariantCulture) + ")");
                return;
            }
            if (ck.High && crashBase >= dmaLimit && !ReserveCrashkernelLow(128 * M, 2 * M, dmaLimit))
            {
                _mb.MemblockFree(crashBase, size);
                return;
            }
            _m.Log(string.Create(CultureInfo.InvariantCulture, $"crashkernel reserved: 0x{crashBase:x16} - 0x{crashBase + size:x16} ({size >> 20} MB)"));
            return;
        }
        throw new GupSimException($"--crashkernel: {_m.Arch.Name}'s reserve_crashkernel() is not modelled (x86 and arm64 are): leave --crashkernel out");
    }

    /// <summary>reserve_crashkernel_low(): the low part of a ",high" (or above-4-GiB) reservation.</summary>
    private bool ReserveCrashkernelLow(ulong lowSize, ulong align, ulong lowMax)
    {
        if (_mb.MemblockPhysAllocRange(lowSize, align, 0, lowMax, "crashkernel low", out ulong low))
        {
            _m.Log(string.Create(CultureInfo.InvariantCulture, $"Reserving {lowSize >> 20}MB of memory at {low >> 20}MB for crashkernel low memory"));
            return true;
        }
        CrashFailed(string.Create(CultureInfo.InvariantCulture, $"Cannot reserve {lowSize >> 20}MB crashkernel low memory, please try smaller size."));
        return false;
    }

    private void CrashFailed(string kernelLine)
    {
        _m.Log(kernelLine);
        _m.Warn($"--crashkernel: {kernelLine} (booting without it; give a smaller size or another offset)");
    }
}
