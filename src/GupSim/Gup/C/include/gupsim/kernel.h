/*
 * gupsim/kernel.h - what a record_subpages() pasted from a patch needs, on GupSim's simulated kernel.
 *
 * GupSim compiles a --strategy-c FILE.c against this header once per machine geometry, with
 *   -DGUPSIM_STRUCT_PAGE_SIZE=64|32 -DGUPSIM_PAGE_SHIFT=.. -DGUPSIM_PMD_SHIFT=.. -DGUPSIM_PUD_SHIFT=..
 *   -DGUPSIM_SECTION_SIZE_BITS=.. -DGUPSIM_BITS_PER_LONG=..
 * and loads the shared object it makes. A struct page * here is the SIMULATED kernel virtual address of a struct
 * page (0xffffea..., or a 32-bit address on a 32-bit arch): page++ and page + n are the kernel's own pointer
 * arithmetic on it, but no struct page lives at that address in this process. Only the helpers below read struct
 * pages: each calls back into the simulated kernel of the running version (pfn_to_page() walks its mem_section
 * table, compound_head() reads its page->compound_head, ...), so a helper behaves as that version's does (two are
 * replayed where the version no longer has them: nth_page() on v6.18+ is the pfn round trip it was, mem_map_offset()
 * on v6.1+ is v5.11's; the kernel of those versions would not build such a patch), and a bad
 * pointer makes the simulated kernel oops, as it would, instead of crashing GupSim. Member access (page->flags)
 * does not compile. Copying a whole struct page (*page) still compiles and reads host memory at the simulated
 * address: it crashes GupSim, so do not.
 *
 * The file defines one recorder in the shape of gup-fast's record_subpages() of v5.11-v6.9 (mm/gup.c; v6.10 added
 * a size argument and moved the offset into it, v6.18 removed it: a patch of those shapes is rewritten to this one):
 *   static int record_subpages(struct page *page, unsigned long addr, unsigned long end, struct page **pages);
 * filling pages[0 .. (end - addr) >> PAGE_SHIFT) from the first subpage 'page' and returning how many it filled
 * (gup-fast before v6.18 grabs and counts that many; the slow path's record step returns nothing, so there the
 * caller counts every entry), and says so with
 *   GUPSIM_RECORDER(record_subpages, "name");
 * The first subpage is computed by the caller as the running kernel version's caller computes it (gup-fast's
 * pmd_page(orig) + offset or nth_page(pmd_page(orig), offset); follow_hugetlb_page()'s mem_map_offset(page,
 * pfn_offset) or nth_page(page, pfn_offset)). A patch that also changed that line gives it too:
 *   static struct page *first_subpage(struct page *head, unsigned long offset) { return nth_page(head, offset); }
 *   GUPSIM_RECORDER_FROM(record_subpages, first_subpage, "name");
 * This header is GupSim's own; it declares no kernel code.
 */
#ifndef GUPSIM_KERNEL_H
#define GUPSIM_KERNEL_H

#if !defined(GUPSIM_STRUCT_PAGE_SIZE) || !defined(GUPSIM_PAGE_SHIFT) || !defined(GUPSIM_PMD_SHIFT) || \
    !defined(GUPSIM_PUD_SHIFT) || !defined(GUPSIM_SECTION_SIZE_BITS) || !defined(GUPSIM_BITS_PER_LONG)
#error "gupsim/kernel.h: GupSim compiles this file itself (gupsim --strategy-c FILE.c): it passes the machine's geometry"
#endif

#define GUPSIM_ABI_VERSION 3

/* sizeof(struct page) of the arch; no member can be named. */
struct page { unsigned char __gupsim_not_host_memory[GUPSIM_STRUCT_PAGE_SIZE]; };
/* A folio starts with its head page (&folio->page); folio_page() and page_folio() convert. */
struct folio { unsigned char __gupsim_not_host_memory[GUPSIM_STRUCT_PAGE_SIZE]; };
#pragma GCC poison __gupsim_not_host_memory

/* ---- the machine's geometry (arch/.../include/asm/page*.h, pgtable*.h, sparsemem.h) ---- */
#define PAGE_SHIFT        GUPSIM_PAGE_SHIFT
#define PAGE_SIZE         (1UL << PAGE_SHIFT)
#define PAGE_MASK         (~(PAGE_SIZE - 1))
#define PMD_SHIFT         GUPSIM_PMD_SHIFT
#define PMD_SIZE          (1UL << PMD_SHIFT)
#define PMD_MASK          (~(PMD_SIZE - 1))
#define PUD_SHIFT         GUPSIM_PUD_SHIFT
#define PUD_SIZE          (1UL << PUD_SHIFT)
#define PUD_MASK          (~(PUD_SIZE - 1))
#define BITS_PER_LONG     GUPSIM_BITS_PER_LONG
#define SECTION_SIZE_BITS GUPSIM_SECTION_SIZE_BITS
#define PFN_SECTION_SHIFT (SECTION_SIZE_BITS - PAGE_SHIFT)
#define PAGES_PER_SECTION (1UL << PFN_SECTION_SHIFT)
#define PAGE_SECTION_MASK (~(PAGES_PER_SECTION - 1))
#define pfn_to_section_nr(pfn) ((unsigned long)(pfn) >> PFN_SECTION_SHIFT)
#define section_nr_to_pfn(sec) ((unsigned long)(sec) << PFN_SECTION_SHIFT)

/* ---- compiler.h, minmax.h, bug.h ---- */
#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define READ_ONCE(x) (*(const volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, val) do { *(volatile __typeof__(x) *)&(x) = (val); } while (0)
#define min(x, y) ({ __typeof__(x) __gs_x = (x); __typeof__(y) __gs_y = (y); __gs_x < __gs_y ? __gs_x : __gs_y; })
#define max(x, y) ({ __typeof__(x) __gs_x = (x); __typeof__(y) __gs_y = (y); __gs_x > __gs_y ? __gs_x : __gs_y; })
#define min3(x, y, z) min((__typeof__(x))min(x, y), z)
#define min_t(type, x, y) min((type)(x), (type)(y))

/* The simulated kernel, handed in by GupSim when it loads the file (gupsim_ops, GupSim.Gup.C.KernelHelpers). */
struct gupsim_ops {
	unsigned int abi;
	unsigned int struct_page_size;
	struct page *(*pfn_to_page)(unsigned long pfn);
	unsigned long (*page_to_pfn)(const struct page *page);
	struct page *(*nth_page)(const struct page *page, unsigned long n);
	struct page *(*mem_map_offset)(struct page *base, int offset);
	struct page *(*compound_head)(const struct page *page);
	int (*page_head)(const struct page *page);
	int (*page_tail)(const struct page *page);
	unsigned long (*compound_nr)(const struct page *page);
	unsigned int (*compound_order)(const struct page *page);
	struct page *(*folio_page)(const struct folio *folio, unsigned long n);
	int (*pfn_valid)(unsigned long pfn);
	void (*warn)(const char *file, int line, int once);
};
static const struct gupsim_ops *__gupsim_ops_table;

/*
 * Every use of __gupsim_ops that the compiler keeps defines the exported symbol gupsim_calls_back once in the object
 * (the assembler's .ifndef makes the second and later uses no-ops). GupSim calls an object without it (page++,
 * page + n: address arithmetic only) with no managed-to-native transition, which such code cannot call back through.
 * The helpers below are the way into the simulated kernel; code that names __gupsim_ops itself is marked the same way.
 */
#define __GUPSIM_CALLS_BACK() __asm__(                                           \
	".ifndef gupsim_calls_back\n\t"                                            \
	".pushsection .rodata.gupsim_calls_back,\"a\"\n\t"                        \
	".globl gupsim_calls_back\n"                                                \
	"gupsim_calls_back: .byte 1\n\t"                                            \
	".popsection\n\t"                                                          \
	".endif")
#define __gupsim_ops ({ __GUPSIM_CALLS_BACK(); __gupsim_ops_table; })

/* ---- mm.h, page-flags.h, memory_model.h, mm/internal.h: each a call into the running version ---- */
static inline struct page *pfn_to_page(unsigned long pfn) { return __gupsim_ops->pfn_to_page(pfn); }
static inline unsigned long page_to_pfn(const struct page *page) { return __gupsim_ops->page_to_pfn(page); }
static inline int pfn_valid(unsigned long pfn) { return __gupsim_ops->pfn_valid(pfn); }
static inline struct page *nth_page(const struct page *page, unsigned long n) { return __gupsim_ops->nth_page(page, n); }
static inline struct page *mem_map_offset(struct page *base, int offset) { return __gupsim_ops->mem_map_offset(base, offset); }
static inline struct page *compound_head(const struct page *page) { return __gupsim_ops->compound_head(page); }
static inline int PageHead(const struct page *page) { return __gupsim_ops->page_head(page); }
static inline int PageTail(const struct page *page) { return __gupsim_ops->page_tail(page); }
static inline int PageCompound(const struct page *page) { return PageHead(page) || PageTail(page); }
static inline unsigned long compound_nr(const struct page *page) { return __gupsim_ops->compound_nr(page); }
static inline unsigned int compound_order(const struct page *page) { return __gupsim_ops->compound_order(page); }
static inline unsigned long page_size(const struct page *page) { return PAGE_SIZE << compound_order(page); }
static inline struct folio *page_folio(const struct page *page) { return (struct folio *)compound_head(page); }
static inline struct page *folio_page(const struct folio *folio, unsigned long n) { return __gupsim_ops->folio_page(folio, n); }

/* WARN_ON_ONCE's "once" is per simulated machine, as each booted kernel has its own __warned flags. */
#define WARN_ON_ONCE(condition) ({                                              \
	int __gs_ret = !!(condition);                                               \
	if (unlikely(__gs_ret)) { __gupsim_ops->warn(__FILE__, __LINE__, 1); } \
	unlikely(__gs_ret);                                                         \
})
#define WARN_ON(condition) ({                                                   \
	int __gs_ret = !!(condition);                                               \
	if (unlikely(__gs_ret)) { __gupsim_ops->warn(__FILE__, __LINE__, 0); } \
	unlikely(__gs_ret);                                                         \
})

/* ---- the recorder's descriptor: one per file, read by GupSim.Gup.C.CRecorder ---- */
typedef int (*gupsim_record_fn)(struct page *page, unsigned long addr, unsigned long end, struct page **pages);
typedef struct page *(*gupsim_first_fn)(struct page *head, unsigned long offset);
struct gupsim_recorder {
	unsigned int abi;
	unsigned int struct_page_size;
	const char *name;
	gupsim_record_fn record;
	gupsim_first_fn first;
	const struct gupsim_ops **ops;
};

#define GUPSIM_RECORDER_FROM(fn, first_fn, recorder_name)                                   \
	__attribute__((visibility("default"), used)) const struct gupsim_recorder gupsim_recorder = { \
		GUPSIM_ABI_VERSION, GUPSIM_STRUCT_PAGE_SIZE, recorder_name, fn, first_fn, &__gupsim_ops_table }
#define GUPSIM_RECORDER(fn, recorder_name) GUPSIM_RECORDER_FROM(fn, (gupsim_first_fn)0, recorder_name)

#endif /* GUPSIM_KERNEL_H */
