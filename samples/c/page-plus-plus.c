// SPDX-License-Identifier: GPL-2.0
/*
 * v5.11's gup-fast record_subpages() (mm/gup.c), and its caller's line in gup_huge_pmd()/gup_huge_pud(): the first
 * subpage is pmd_page(orig) plus the offset into the huge page, and every later one is page++. Right wherever the
 * huge page's struct pages are one virtually contiguous run (SPARSEMEM_VMEMMAP, FLATMEM); wrong past a section
 * boundary on classic SPARSEMEM, where each section's memmap is its own allocation.
 *
 *   gupsim gup-test --strategy-c samples/c/page-plus-plus.c ...
 */
#include <gupsim/kernel.h>

/* gup_huge_pmd(): page = pmd_page(orig) + ((addr & ~PMD_MASK) >> PAGE_SHIFT); */
static struct page *gup_huge_first(struct page *head, unsigned long offset)
{
	return head + offset;
}

static int record_subpages(struct page *page, unsigned long addr,
			   unsigned long end, struct page **pages)
{
	int nr;

	for (nr = 0; addr != end; addr += PAGE_SIZE)
		pages[nr++] = page++;

	return nr;
}

GUPSIM_RECORDER_FROM(record_subpages, gup_huge_first, "c-page++");
