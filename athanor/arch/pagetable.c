/*
 * The page tables both ports share the shape of: four levels of 512 entries, 4 KiB pages, 2 MiB
 * large pages (x86-64's PML4/PDPT/PD/PT; AArch64's 4 KiB granule with 48-bit addresses), one
 * set for the whole kernel (one address space). Tables are reached through the identity map,
 * so a table's physical address is also a pointer to it. Each port gives the encoding of an
 * entry and its TLB and cache maintenance in arch/<arch>/pte.h, and loads the tables itself
 * (its paging.c: ath_arch_paging_begin and _activate around ath_pagetable_begin and _live).
 *
 *   level 3 (512 GiB per entry) -> 2 (1 GiB) -> 1 (2 MiB) -> 0 (4 KiB)
 *
 * 2 MiB pages are used when a mapping covers a whole aligned 2 MiB with one permission and is
 * not owned (and, where the port needs break-before-make, is device memory: large_allowed); a
 * 2 MiB page is split into 512 4 KiB pages when part of it changes. Owned frames
 * (allocated by ath_vm_map_fresh) are always 4 KiB and are freed when unmapped. Tables left
 * empty by an unmap are freed. No 1 GiB pages.
 *
 * TLB: one CPU and no global pages, so invalidating each changed address (pte_invalidate) is
 * the whole shootdown; it also drops the cached walks, which makes freeing a table after
 * clearing its parent entry safe. A table entry replaced by a leaf may have left translations
 * for any address under it: then everything is invalidated (pte_invalidate_all).
 *
 * Break-before-make: AArch64 without FEAT_BBM forbids replacing a valid entry by another that
 * maps a different address, has another size (block <-> table) or another memory type while
 * the old one may be cached (pte_needs_break says when). replace() then writes an invalid
 * entry, invalidates, and writes the new one, with interrupts off; in between, whatever the
 * entry mapped is unmapped, so replace() refuses (a panic, never a silent fault) to break a
 * range holding the entry itself, its own code or its stack. QEMU does not check this;
 * hardware may return wrong translations or a TLB conflict abort without it. x86 needs none.
 */
#include "kernel.h"
#include "pte.h"

#define ENTRIES     512
#define LARGE_MASK  ((uint64_t)ATH_LARGE_PAGE_SIZE - 1)

static pte_t *root;
static bool live;       /* root is the tables the CPU walks */
static uint64_t page_table_breaks;  /* entries replaced through an invalid one */

static uint64_t level_span(int level) { return (uint64_t)ATH_PAGE_SIZE << (9 * level); }
static unsigned index_at(uintptr_t va, int level) { return (va >> (12 + 9 * level)) & (ENTRIES - 1); }
static pte_t *table_of(pte_t e) { return (pte_t *)(uintptr_t)pte_address(e); }
static uintptr_t next_boundary(uintptr_t va, int level) { return ATH_ALIGN_DOWN(va, level_span(level)) + level_span(level); }

static void invalidate(uintptr_t va)
{
    if (live)
        pte_invalidate(va);
}

/* The TLB entries that *e (at level, mapping va), now old, may have left behind. */
static void forget(pte_t old, uintptr_t va, int level)
{
    if (!live || !pte_present(old))
        return;
    if (level > 0 && !pte_is_large(old))
        pte_invalidate_all();           /* a table: any address under it */
    else
        pte_invalidate(va);             /* a leaf: one entry, whatever its size */
}

static bool within(uintptr_t p, uintptr_t base, uint64_t span) { return p - base < span; }

/* *e (at level, mapping va) becomes new, through an invalid entry when the port needs one. */
static void replace(pte_t *e, pte_t new, uintptr_t va, int level)
{
    pte_t old = *e;
    if (live && pte_needs_break(old, new, level)) {
        uint64_t span = level_span(level);
        uintptr_t base = ATH_ALIGN_DOWN(va, span);
        uintptr_t stack = (uintptr_t)__builtin_frame_address(0);
        if (within((uintptr_t)e, base, span) || within((uintptr_t)&replace, base, span) ||
            within(stack, base, span) || within(stack - ATH_PAGE_SIZE, base, span))
            ath_panic("break-before-make of 0x%lx (%lu KiB) would unmap the page tables, "
                      "their code or the stack in use", base, (unsigned long)(span >> 10));
        uint64_t state = ath_arch_irq_save();
        *e = 0;
        forget(old, va, level);
        *e = new;
        ath_arch_irq_restore(state);
        page_table_breaks++;
        return;
    }
    *e = new;
    forget(old, va, level);
}

static pte_t *table_alloc(void)
{
    uint64_t phys = ath_page_alloc();
    if (!phys)
        return NULL;
    if (!live && phys + ATH_PAGE_SIZE > PTE_BOOT_MAP_END)
        ath_panic("page table page 0x%lx is outside the boot map", phys);
    memset((void *)(uintptr_t)phys, 0, ATH_PAGE_SIZE);
    return (pte_t *)(uintptr_t)phys;
}

static bool table_empty(const pte_t *t)
{
    for (unsigned i = 0; i < ENTRIES; i++)
        if (pte_present(t[i]))
            return false;
    return true;
}

/* A leaf entry goes away: free its frame if the mapping owned it. */
static void release_leaf(pte_t e)
{
    if (pte_present(e) && pte_owned(e))
        ath_page_free(pte_address(e));
}

/* Frees a page table (level 0) and the frames it owns. Its parent entry
 * has been replaced and invalidated already. */
static void drop_page_table(pte_t *pt)
{
    for (unsigned i = 0; i < ENTRIES; i++)
        release_leaf(pt[i]);
    ath_page_free((uintptr_t)pt);
}

/* Replaces the 2 MiB page in *pde (mapping va) with 512 4 KiB pages of the
 * same frames and permissions. */
static bool split_large(pte_t *pde, uintptr_t va)
{
    pte_t *pt = table_alloc();
    if (!pt)
        return false;
    for (unsigned i = 0; i < ENTRIES; i++)
        pt[i] = pte_split(*pde, i);
    pte_publish();
    replace(pde, pte_table((uintptr_t)pt), va, 1);
    return true;
}

/* The entry for va at level target (1: PD entry, 0: PT entry), creating
 * missing tables and splitting a 2 MiB page on the way down to level 0.
 * NULL when out of memory. */
static pte_t *walk_create(uintptr_t va, int target)
{
    pte_t *table = root;
    for (int level = 3; level > target; level--) {
        pte_t *e = &table[index_at(va, level)];
        if (!pte_present(*e)) {
            pte_t *t = table_alloc();
            if (!t)
                return NULL;
            pte_publish();
            *e = pte_table((uintptr_t)t);
        } else if (pte_is_large(*e)) {
            if (level != 1)
                ath_panic("1 GiB page at 0x%lx", va);
            if (!split_large(e, va))
                return NULL;
        }
        table = table_of(*e);
    }
    return &table[index_at(va, target)];
}

/* The leaf entry mapping va in the tables at top, and its level, or NULL. */
static pte_t *walk_find_in(pte_t *top, uintptr_t va, int *level)
{
    pte_t *table = top;
    for (int l = 3; l >= 0; l--) {
        pte_t *e = &table[index_at(va, l)];
        if (!pte_present(*e))
            return NULL;
        if (l == 0 || pte_is_large(*e)) {
            *level = l;
            return e;
        }
        table = table_of(*e);
    }
    return NULL;
}

/* The same in the tables being edited. */
static pte_t *walk_find(uintptr_t va, int *level)
{
    return walk_find_in(root, va, level);
}

void ath_pagetable_begin(void)
{
    root = table_alloc();
    if (!root)
        ath_panic("no page for the root page table");
    live = false;
}

uintptr_t ath_pagetable_root(void)
{
    return (uintptr_t)root;
}

void ath_pagetable_live(void)
{
    live = true;
}

uint64_t ath_pagetable_breaks(void)
{
    return page_table_breaks;
}

/* Whether a mapping may use 2 MiB pages. Never for owned frames. A port that needs
 * break-before-make maps normal memory with 4 KiB pages only: changing the permissions of part
 * of a 2 MiB page (module code made read+execute, the image made read-only) would split it
 * live, and the block being broken may hold the page tables, the code or the stack doing it
 * (Linux on arm64 maps its linear map page by page for the same reason). Device memory, which
 * the kernel never splits, keeps its 2 MiB pages. */
static bool large_allowed(unsigned flags, bool owned)
{
    return !owned && (!ATH_ARCH_BREAK_BEFORE_MAKE || (flags & ATH_VM_NOCACHE));
}

int ath_arch_map(uintptr_t virt, uint64_t phys, size_t size, unsigned flags, bool owned)
{
    uintptr_t va = virt, end = virt + size;
    uint64_t pa = phys;
    while (va < end) {
        if (large_allowed(flags, owned) && !(va & LARGE_MASK) && !(pa & LARGE_MASK) &&
            end - va >= ATH_LARGE_PAGE_SIZE) {
            pte_t *pde = walk_create(va, 1);
            if (!pde)
                return ATH_ERR_NOMEM;
            pte_t old = *pde;
            replace(pde, pte_large(pa, flags), va, 1);
            if (pte_present(old) && !pte_is_large(old))
                drop_page_table(table_of(old));
            va += ATH_LARGE_PAGE_SIZE;
            pa += ATH_LARGE_PAGE_SIZE;
        } else {
            /* One walk per table, not per page (RAM page by page on a large machine). */
            pte_t *pte = walk_create(va, 0);
            if (!pte)
                return ATH_ERR_NOMEM;
            do {
                pte_t old = *pte;
                replace(pte, pte_page(pa, flags, owned), va, 0);
                if (pte_address(old) != pa)
                    release_leaf(old);
                pte++;
                va += ATH_PAGE_SIZE;
                pa += ATH_PAGE_SIZE;
            } while (va < end && (va & LARGE_MASK));
        }
    }
    if (live)
        pte_mapped(virt, size, flags);
    return ATH_OK;
}

/* Frees tables under table (at level, mapping from table_base) that cover
 * part of [start, end) and hold nothing. Returns whether table is now
 * empty. Level-0 tables have no children. */
static bool prune(pte_t *table, int level, uintptr_t table_base, uintptr_t start, uintptr_t end)
{
    if (level == 0)
        return table_empty(table);
    uint64_t span = level_span(level);
    for (unsigned i = 0; i < ENTRIES; i++) {
        uintptr_t lo = table_base + i * span, hi = lo + span;
        if (hi <= start || lo >= end)
            continue;
        pte_t e = table[i];
        if (!pte_present(e) || pte_is_large(e))
            continue;
        pte_t *child = table_of(e);
        if (prune(child, level - 1, lo, start, end)) {
            table[i] = 0;
            invalidate(lo);
            ath_page_free((uintptr_t)child);
        }
    }
    return table_empty(table);
}

int ath_arch_unmap(uintptr_t virt, size_t size)
{
    uintptr_t va = virt, end = virt + size;
    if (size == 0)
        return ATH_OK;
    /* Only a 2 MiB page holding the first or the last page of the range,
     * and not wholly inside it, needs splitting (a page's worth of memory). */
    unsigned splits = 0;
    int level_head, level_tail;
    bool head_large = walk_find(virt, &level_head) && level_head == 1;
    bool tail_large = walk_find(end - 1, &level_tail) && level_tail == 1;
    if (head_large && ((virt & LARGE_MASK) || end - virt < ATH_LARGE_PAGE_SIZE))
        splits++;
    if (tail_large && (end & LARGE_MASK) &&
        ATH_ALIGN_DOWN(end - 1, ATH_LARGE_PAGE_SIZE) != ATH_ALIGN_DOWN(virt, ATH_LARGE_PAGE_SIZE))
        splits++;
    if (ath_page_free_count() < splits)
        return ATH_ERR_NOMEM;
    while (va < end) {
        pte_t *table = root, *e = NULL;
        int level = 3;
        for (;;) {
            e = &table[index_at(va, level)];
            if (!pte_present(*e))
                break;
            if (level == 0)
                break;
            if (pte_is_large(*e)) {
                if (level != 1)
                    ath_panic("1 GiB page at 0x%lx", va);
                if (!(va & LARGE_MASK) && end - va >= ATH_LARGE_PAGE_SIZE)
                    break;
                if (!split_large(e, va))
                    return ATH_ERR_NOMEM;
            }
            table = table_of(*e);
            level--;
        }
        if (pte_present(*e)) {
            pte_t old = *e;
            *e = 0;
            invalidate(va);
            release_leaf(old);
        }
        va = next_boundary(va, level);
    }
    prune(root, 3, 0, virt, end);
    return ATH_OK;
}

int ath_arch_protect(uintptr_t virt, size_t size, unsigned flags)
{
    uintptr_t end = virt + size;
    unsigned splits = 0;
    int level;

    /* Check everything before changing anything. */
    for (uintptr_t va = virt; va < end; ) {
        if (!walk_find(va, &level))
            return ATH_ERR_NOT_MAPPED;
        if (level == 1) {
            if ((va & LARGE_MASK) || end - va < ATH_LARGE_PAGE_SIZE)
                splits++;
            va = ATH_MIN(end, next_boundary(va, 1));
        } else {
            va += ATH_PAGE_SIZE;
        }
    }
    if (ath_page_free_count() < splits)
        return ATH_ERR_NOMEM;

    for (uintptr_t va = virt; va < end; ) {
        pte_t *e = walk_find(va, &level);
        if (level == 1 && ((va & LARGE_MASK) || end - va < ATH_LARGE_PAGE_SIZE)) {
            if (!split_large(e, va))
                return ATH_ERR_NOMEM;   /* cannot happen: counted above */
            e = walk_find(va, &level);
        }
        replace(e, pte_protect(*e, flags, level), va, level);
        va += level_span(level);
    }
    if (live)
        pte_mapped(virt, size, flags);
    return ATH_OK;
}

bool ath_arch_take_dirty(uintptr_t virt)
{
    int level;
    pte_t *e = walk_find(virt, &level);
    if (!e || level != 0 || !pte_take_dirty(e))
        return false;
    invalidate(virt);           /* the next write walks the tables again and sets it */
    return true;
}

/* Answers for the live tables (CR3), so that the exception handler can ask
 * before the final tables exist. */
bool ath_arch_translate(uintptr_t virt, uint64_t *phys, unsigned *flags, size_t *page_size)
{
    int level;
    pte_t *e = walk_find_in((pte_t *)(uintptr_t)pte_live_root(), virt, &level);
    if (!e)
        return false;
    uint64_t span = level_span(level);
    *phys = (pte_address(*e) & ~(span - 1)) + (virt & (span - 1));
    *flags = pte_flags(*e);
    *page_size = span;
    return true;
}
