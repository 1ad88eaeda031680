// SPDX-License-Identifier: GPL-2.0
/*
 * c228afb11ac6 ("mm: gup: fix record_subpages() on SPARSEMEM without VMEMMAP", v5.18): gup-fast's first subpage by
 * nth_page() from pmd_page(orig), and record_subpages() by nth_page() from it. nth_page() is page + n where the
 * memmap is virtually contiguous and pfn_to_page(page_to_pfn(page) + n) on classic SPARSEMEM, so it is right on
 * every memory model.
 */
#include <gupsim/kernel.h>

/* gup_huge_pmd(): page = nth_page(pmd_page(orig), (addr & ~PMD_MASK) >> PAGE_SHIFT); */
static struct page *gup_huge_first(struct page *head, unsigned long offset)
{
	return nth_page(head, offset);
}

static int record_subpages(struct page *page, unsigned long addr,
			   unsigned long end, struct page **pages)
{
	int nr;

	for (nr = 0; addr != end; nr++, addr += PAGE_SIZE)
		pages[nr] = nth_page(page, nr);

	return nr;
}

GUPSIM_RECORDER_FROM(record_subpages, gup_huge_first, "c-nth_page");
