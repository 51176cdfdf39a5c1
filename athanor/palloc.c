/*
 * Physical page allocator: one bit per 4 KiB page from address 0 up to the
 * end of the highest usable range; 1 = in use or never available.
 *
 * Never available (the exclusions, page-rounded outward, sorted, disjoint):
 * page 0, the kernel image, the boot loader's structures, every module,
 * every non-usable memory-map range, and the bitmap itself. Under UEFI,
 * modules and loader structures may sit anywhere, low memory included;
 * they are excluded wherever they are.
 *
 * The bitmap is placed in the first usable gap below 4 GiB (the boot map
 * covers it). Allocation is next-fit from a hint that frees pull back down,
 * so memory is handed out lowest first; that keeps the page tables built
 * before the final map is live inside the boot map.
 */
#include "kernel.h"

#define PAGE_SHIFT      12
#define BITS_PER_WORD   64
#define EXCLUSIONS_MAX  (ATH_MEM_RANGES_MAX + ATH_MODULES_MAX + ATH_BOOT_RESERVED_MAX + 4)
#define BOOT_MAP_END    (4ull << 30)

static uint64_t *bitmap;
static size_t page_count;       /* pages the bitmap covers: [0, page_count) */
static size_t free_pages;
static size_t total_pages;
static size_t hint;             /* no free page below this index */

static struct ath_range exclusions[EXCLUSIONS_MAX];
static unsigned exclusion_count;

static bool bit_get(size_t page) { return bitmap[page / BITS_PER_WORD] >> (page % BITS_PER_WORD) & 1; }
static void bit_set(size_t page) { bitmap[page / BITS_PER_WORD] |= 1ull << (page % BITS_PER_WORD); }
static void bit_clear(size_t page) { bitmap[page / BITS_PER_WORD] &= ~(1ull << (page % BITS_PER_WORD)); }

/* Sets pages [first, first + count) to value, whole words at a time. */
static void bits_fill(size_t first, size_t count, bool value)
{
    size_t end = ATH_MIN(first + count, page_count);
    size_t p = first;
    while (p < end && p % BITS_PER_WORD)
        value ? bit_set(p++) : bit_clear(p++);
    for (; p + BITS_PER_WORD <= end; p += BITS_PER_WORD)
        bitmap[p / BITS_PER_WORD] = value ? ~0ull : 0;
    while (p < end)
        value ? bit_set(p++) : bit_clear(p++);
}

static void exclude(uint64_t start, uint64_t size)
{
    if (size == 0)
        return;
    if (exclusion_count == EXCLUSIONS_MAX)
        ath_panic("allocator exclusion list full");
    uint64_t lo = ATH_ALIGN_DOWN(start, ATH_PAGE_SIZE);
    uint64_t hi = start + size < start ? UINT64_MAX & ~(uint64_t)(ATH_PAGE_SIZE - 1)
                                       : ATH_ALIGN_UP(start + size, ATH_PAGE_SIZE);
    exclusions[exclusion_count++] = (struct ath_range){ lo, hi - lo };
}

/* Sorts the exclusions by start and merges overlapping or touching ones,
 * so that lookups can stop at the first range past an address. */
static void exclusions_normalise(void)
{
    for (unsigned i = 1; i < exclusion_count; i++) {
        struct ath_range r = exclusions[i];
        unsigned j = i;
        for (; j > 0 && exclusions[j - 1].start > r.start; j--)
            exclusions[j] = exclusions[j - 1];
        exclusions[j] = r;
    }
    unsigned out = 0;
    for (unsigned i = 0; i < exclusion_count; i++) {
        struct ath_range *last = out ? &exclusions[out - 1] : NULL;
        if (last && exclusions[i].start <= last->start + last->size) {
            uint64_t end = ATH_MAX(last->start + last->size, exclusions[i].start + exclusions[i].size);
            last->size = end - last->start;
        } else {
            exclusions[out++] = exclusions[i];
        }
    }
    exclusion_count = out;
}

bool ath_page_is_excluded(uint64_t start, uint64_t size)
{
    for (unsigned i = 0; i < exclusion_count && exclusions[i].start < start + size; i++)
        if (start < exclusions[i].start + exclusions[i].size)
            return true;
    return false;
}

const struct ath_range *ath_page_exclusions(unsigned *count)
{
    *count = exclusion_count;
    return exclusions;
}

/* The first page-aligned address in a usable range below 4 GiB where size
 * bytes touch no exclusion; 0 if there is none. */
static uint64_t find_gap(const struct ath_boot_info *info, uint64_t size)
{
    for (unsigned i = 0; i < info->mem_count; i++) {
        const struct ath_mem_range *r = &info->mem[i];
        if (r->type != ATH_MEM_USABLE)
            continue;
        uint64_t lo = ATH_ALIGN_UP(r->start, ATH_PAGE_SIZE);
        uint64_t hi = ATH_MIN(ATH_ALIGN_DOWN(r->start + r->size, ATH_PAGE_SIZE), BOOT_MAP_END);
        for (unsigned j = 0; j < exclusion_count && lo + size <= hi; j++) {
            const struct ath_range *x = &exclusions[j];
            if (x->start < lo + size && lo < x->start + x->size)
                lo = x->start + x->size;
        }
        if (lo + size <= hi)
            return lo;
    }
    return 0;
}

void ath_page_alloc_init(const struct ath_boot_info *info)
{
    uint64_t limit = 0;
    for (unsigned i = 0; i < info->mem_count; i++)
        if (info->mem[i].type == ATH_MEM_USABLE)
            limit = ATH_MAX(limit, ATH_ALIGN_DOWN(info->mem[i].start + info->mem[i].size, ATH_PAGE_SIZE));
    page_count = limit >> PAGE_SHIFT;

    exclude(0, ATH_PAGE_SIZE);
    exclude((uintptr_t)__kernel_start, (uintptr_t)__kernel_end - (uintptr_t)__kernel_start);
    for (unsigned i = 0; i < info->reserved_count; i++)
        exclude(info->reserved[i].start, info->reserved[i].size);
    for (unsigned i = 0; i < info->module_count; i++)
        exclude(info->modules[i].start, info->modules[i].size);
    for (unsigned i = 0; i < info->mem_count; i++)
        if (info->mem[i].type != ATH_MEM_USABLE)
            exclude(info->mem[i].start, info->mem[i].size);
    exclusions_normalise();

    uint64_t bitmap_bytes = ATH_ALIGN_UP((page_count + BITS_PER_WORD - 1) / BITS_PER_WORD * 8, ATH_PAGE_SIZE);
    uint64_t at = find_gap(info, bitmap_bytes);
    if (!at) {
        ath_kprintf("[athanor] boot error: no room below 4 GiB for the page bitmap (%lu bytes)\n",
                    bitmap_bytes);
        ath_fail(ATH_FAIL_BOOT);
    }
    bitmap = (uint64_t *)(uintptr_t)at;
    exclude(at, bitmap_bytes);
    exclusions_normalise();

    memset(bitmap, 0xff, bitmap_bytes);     /* bits past page_count stay "in use" */
    for (unsigned i = 0; i < info->mem_count; i++) {
        const struct ath_mem_range *r = &info->mem[i];
        if (r->type != ATH_MEM_USABLE)
            continue;
        uint64_t lo = ATH_ALIGN_UP(r->start, ATH_PAGE_SIZE);
        uint64_t hi = ATH_ALIGN_DOWN(r->start + r->size, ATH_PAGE_SIZE);
        if (hi > lo)
            bits_fill(lo >> PAGE_SHIFT, (hi - lo) >> PAGE_SHIFT, false);
    }
    for (unsigned i = 0; i < exclusion_count; i++) {
        uint64_t first = exclusions[i].start >> PAGE_SHIFT;
        if (first < page_count)
            bits_fill(first, exclusions[i].size >> PAGE_SHIFT, true);
    }

    free_pages = 0;
    for (size_t w = 0; w < (page_count + BITS_PER_WORD - 1) / BITS_PER_WORD; w++)
        free_pages += BITS_PER_WORD - __builtin_popcountll(bitmap[w]);
    total_pages = free_pages;
    hint = 0;
    if (free_pages == 0) {
        ath_kprintf("[athanor] boot error: no free memory\n");
        ath_fail(ATH_FAIL_BOOT);
    }
}

/* The first free page at or after from, or page_count. */
static size_t find_free(size_t from)
{
    size_t p = from;
    while (p < page_count && p % BITS_PER_WORD) {
        if (!bit_get(p))
            return p;
        p++;
    }
    for (; p < page_count; p += BITS_PER_WORD) {
        uint64_t w = bitmap[p / BITS_PER_WORD];
        if (w != ~0ull) {
            size_t q = p + __builtin_ctzll(~w);
            return q < page_count ? q : page_count;
        }
    }
    return page_count;
}

uint64_t ath_page_alloc(void)
{
    size_t p = find_free(hint);
    if (p == page_count)
        return 0;
    bit_set(p);
    free_pages--;
    hint = p + 1;
    return (uint64_t)p << PAGE_SHIFT;
}

uint64_t ath_page_alloc_contiguous(size_t count)
{
    if (count == 0 || count > free_pages)
        return 0;
    size_t p = find_free(hint);
    while (p + count <= page_count) {
        size_t run = 1;
        while (run < count && !bit_get(p + run))
            run++;
        if (run == count) {
            for (size_t i = 0; i < count; i++)
                bit_set(p + i);
            free_pages -= count;
            if (p == hint)
                hint = p + count;
            return (uint64_t)p << PAGE_SHIFT;
        }
        p = find_free(p + run);
    }
    return 0;
}

void ath_page_free(uint64_t phys)
{
    size_t p = phys >> PAGE_SHIFT;
    if (phys & (ATH_PAGE_SIZE - 1))
        ath_panic("freeing unaligned page address 0x%lx", phys);
    if (p >= page_count || ath_page_is_excluded(phys, ATH_PAGE_SIZE))
        ath_panic("freeing page 0x%lx that the allocator never hands out", phys);
    if (!bit_get(p))
        ath_panic("double free of page 0x%lx", phys);
    bit_clear(p);
    free_pages++;
    if (p < hint)
        hint = p;
}

/* The checks of ath_page_free once for the whole run, then a bit per page. */
void ath_page_free_contiguous(uint64_t phys, size_t count)
{
    size_t first = phys >> PAGE_SHIFT;
    if (phys & (ATH_PAGE_SIZE - 1))
        ath_panic("freeing unaligned page address 0x%lx", phys);
    if (first + count > page_count || first + count < first ||
        ath_page_is_excluded(phys, (uint64_t)count * ATH_PAGE_SIZE))
        ath_panic("freeing pages 0x%lx+%zu that the allocator never hands out", phys, count);
    for (size_t p = first; p < first + count; p++) {
        if (!bit_get(p))
            ath_panic("double free of page 0x%lx", (uint64_t)p << PAGE_SHIFT);
        bit_clear(p);
    }
    free_pages += count;
    if (first < hint)
        hint = first;
}

size_t ath_page_free_count(void)
{
    return free_pages;
}

size_t ath_page_total_count(void)
{
    return total_pages;
}
