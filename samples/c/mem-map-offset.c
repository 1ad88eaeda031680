// SPDX-License-Identifier: GPL-2.0
/*
 * v2 2/2 of Joao Martins' "mm/hugetlb: refactor subpage recording" (2021-01-28), merged as 82e5d378b0e4 (v5.12):
 * follow_hugetlb_page() hands record_subpages_vmas() the first subpage mem_map_offset(page, pfn_offset), and that
 * fills pages[nr] = mem_map_offset(first, nr) ("switch from page++ to mem_map_offset()" in v2's changelog).
 * mem_map_offset() (mm/internal.h) is nth_page() only from MAX_ORDER_NR_PAGES on, base + offset below it, and its
 * base must be the maximally aligned head: the unaligned first subpage makes the run below MAX_ORDER_NR_PAGES go
 * wrong where it crosses a classic-SPARSEMEM section boundary.
 * The vmas[] half of record_subpages_vmas() is not a recorder's business in GupSim; it is left out.
 */
#include <gupsim/kernel.h>

/* follow_hugetlb_page(): record_subpages_vmas(mem_map_offset(page, pfn_offset), vma, refs, pages + i, ...); */
static struct page *hugetlb_first(struct page *head, unsigned long pfn_offset)
{
	return mem_map_offset(head, pfn_offset);
}

/* record_subpages_vmas() without vmas, in record_subpages()' shape: refs = (end - addr) >> PAGE_SHIFT. */
static int record_subpages(struct page *page, unsigned long addr,
			   unsigned long end, struct page **pages)
{
	int nr, refs = (end - addr) >> PAGE_SHIFT;

	for (nr = 0; nr < refs; nr++)
		pages[nr] = mem_map_offset(page, nr);

	return nr;
}

GUPSIM_RECORDER_FROM(record_subpages, hugetlb_first, "c-mem_map_offset");
