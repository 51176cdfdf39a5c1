/*
 * AArch64 page tables, 4 KiB granule, 48-bit addresses through TTBR0_EL1: one set for the whole
 * kernel (one address space). Tables are reached through the identity map, so a table's
 * physical address is also a pointer to it. The same shape as x86-64's (levels numbered the
 * same way, so the two files read side by side):
 *
 *   level 3 L0 (512 GiB per entry) -> 2 L1 (1 GiB) -> 1 L2 (2 MiB) -> 0 L3 (4 KiB)
 *
 * 2 MiB blocks are used when a mapping covers a whole aligned 2 MiB with one permission and is
 * not owned; a block is split into 512 4 KiB pages when part of it changes. Owned frames
 * (PTE_OWNED, allocated by ath_vm_map_fresh) are always 4 KiB and are freed when unmapped.
 * Tables left empty by an unmap are freed. No 1 GiB blocks.
 *
 * Descriptor bits used (leaf):
 *
 *   0 valid  1 page (level 0) / table (levels 1-3), 0 for a 2 MiB block  4:2 MAIR index
 *   7 AP[2] read-only  9:8 shareability  10 access flag  47:12 address
 *   53 PXN  54 UXN  55 owned (software)
 *
 * W^X twice over: vm.c refuses writable+executable before asking, and SCTLR_EL1.WXN (set when
 * the tables go live) makes every writable page non-executable in hardware.
 *
 * TLB: one CPU, so TLBI VAAE1 of each changed address (then DSB, ISB) is the whole
 * shootdown; it also drops cached walks, which makes freeing a table after clearing its
 * parent entry safe. Entries are replaced in place, without break-before-make: QEMU does not
 * need it, hardware does (a later step, with the Raspberry Pi). Code made executable has its
 * data cache lines cleaned and the instruction cache invalidated (ath_arch_protect/map).
 */
#include "aarch64.h"

typedef uint64_t pte_t;

#define ENTRIES     512
#define PTE_VALID   (1ull << 0)
#define PTE_PAGE    (1ull << 1)     /* level 0: a page; levels 1-3: a table (clear: a block) */
#define PTE_DEVICE  (1ull << 2)     /* MAIR index 1: device nGnRE (boot.S's MAIR_EL1) */
#define PTE_RDONLY  (1ull << 7)
#define PTE_SH_INNER (3ull << 8)
#define PTE_AF      (1ull << 10)
#define PTE_PXN     (1ull << 53)
#define PTE_UXN     (1ull << 54)
#define PTE_OWNED   (1ull << 55)
#define PTE_ADDR    0x0000fffffffff000ull
#define TABLE_BITS  (PTE_VALID | PTE_PAGE)   /* non-leaf: the leaf decides */
#define LARGE_MASK  ((uint64_t)ATH_LARGE_PAGE_SIZE - 1)
#define BOOT_MAP_END (4ull << 30)              /* what boot.S maps */

/* A valid entry at level 1..3 that maps (a 2 MiB block) rather than points to a table. */
static bool is_block(pte_t e) { return (e & PTE_VALID) && !(e & PTE_PAGE); }

#define SCTLR_WXN   (1ull << 19)

static pte_t *root;
static bool live;       /* root is in CR3 */

static uint64_t level_span(int level) { return (uint64_t)ATH_PAGE_SIZE << (9 * level); }
static unsigned index_at(uintptr_t va, int level) { return (va >> (12 + 9 * level)) & (ENTRIES - 1); }
static pte_t *table_of(pte_t e) { return (pte_t *)(uintptr_t)(e & PTE_ADDR); }
static uintptr_t next_boundary(uintptr_t va, int level) { return ATH_ALIGN_DOWN(va, level_span(level)) + level_span(level); }

/* A leaf's bits but for its type (PTE_PAGE at level 0). */
static pte_t leaf_bits(unsigned flags)
{
    pte_t bits = PTE_VALID | PTE_AF | PTE_UXN;
    if (!(flags & ATH_VM_WRITE))
        bits |= PTE_RDONLY;
    if (!(flags & ATH_VM_EXEC))
        bits |= PTE_PXN;
    if (flags & ATH_VM_NOCACHE)
        bits |= PTE_DEVICE | PTE_PXN;
    else
        bits |= PTE_SH_INNER;
    return bits;
}

static unsigned flags_of(pte_t e)
{
    unsigned flags = ATH_VM_READ;
    if (!(e & PTE_RDONLY))
        flags |= ATH_VM_WRITE;
    if (!(e & PTE_PXN))
        flags |= ATH_VM_EXEC;
    if (e & PTE_DEVICE)
        flags |= ATH_VM_NOCACHE;
    return flags;
}

static void invalidate(uintptr_t va)
{
    if (live)
        __asm__ volatile("dsb ishst\n\ttlbi vaae1is, %0\n\tdsb ish\n\tisb"
                         : : "r"((uint64_t)va >> 12) : "memory");
}

static pte_t *table_alloc(void)
{
    uint64_t phys = ath_page_alloc();
    if (!phys)
        return NULL;
    if (!live && phys + ATH_PAGE_SIZE > BOOT_MAP_END)
        ath_panic("page table page 0x%lx is outside the boot map", phys);
    memset((void *)(uintptr_t)phys, 0, ATH_PAGE_SIZE);
    return (pte_t *)(uintptr_t)phys;
}

static bool table_empty(const pte_t *t)
{
    for (unsigned i = 0; i < ENTRIES; i++)
        if (t[i] & PTE_VALID)
            return false;
    return true;
}

/* A leaf entry goes away: free its frame if the mapping owned it. */
static void release_leaf(pte_t e)
{
    if ((e & PTE_VALID) && (e & PTE_OWNED))
        ath_page_free(e & PTE_ADDR);
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
    uint64_t base = *pde & PTE_ADDR & ~LARGE_MASK;
    pte_t bits = *pde & ~PTE_ADDR;
    for (unsigned i = 0; i < ENTRIES; i++)
        pt[i] = (base + (uint64_t)i * ATH_PAGE_SIZE) | bits | PTE_PAGE;
    dsb(ishst);
    *pde = (uintptr_t)pt | TABLE_BITS;
    invalidate(ATH_ALIGN_DOWN(va, ATH_LARGE_PAGE_SIZE));
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
        if (!(*e & PTE_VALID)) {
            pte_t *t = table_alloc();
            if (!t)
                return NULL;
            *e = (uintptr_t)t | TABLE_BITS;
        } else if (is_block(*e)) {
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
        if (!(*e & PTE_VALID))
            return NULL;
        if (l == 0 || is_block(*e)) {
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

void ath_arch_paging_begin(void)
{
    root = table_alloc();
    if (!root)
        ath_panic("no page for the root page table");
    live = false;
    /* The console stays reachable through the switch (device memory, no execute). */
    uint64_t uart = ATH_ALIGN_DOWN(aarch64_machine.uart_base, ATH_PAGE_SIZE);
    if (uart && ath_arch_map(uart, uart, ATH_PAGE_SIZE, ATH_VM_READ | ATH_VM_WRITE | ATH_VM_NOCACHE, false))
        ath_panic("no page to map the UART");
}

void ath_arch_paging_activate(void)
{
    dsb(ishst);
    sysreg_write(ttbr0_el1, (uintptr_t)root);
    isb();
    __asm__ volatile("tlbi vmalle1\n\tdsb nsh\n\tisb" : : : "memory");
    sysreg_write(sctlr_el1, sysreg_read(sctlr_el1) | SCTLR_WXN);
    isb();
    __asm__ volatile("tlbi vmalle1\n\tdsb nsh\n\tisb" : : : "memory");
    live = true;
}

/* Code about to run from [va, va + size): its bytes reach the instruction side. */
static void sync_code(uintptr_t va, size_t size)
{
    for (uintptr_t p = va; p < va + size; p += 64)
        __asm__ volatile("dc cvau, %0" : : "r"(p) : "memory");
    __asm__ volatile("dsb ish\n\tic iallu\n\tdsb ish\n\tisb" : : : "memory");
}

int ath_arch_map(uintptr_t virt, uint64_t phys, size_t size, unsigned flags, bool owned)
{
    pte_t bits = leaf_bits(flags) | (owned ? PTE_OWNED : 0);
    uintptr_t va = virt, end = virt + size;
    uint64_t pa = phys;
    while (va < end) {
        if (!owned && !(va & LARGE_MASK) && !(pa & LARGE_MASK) && end - va >= ATH_LARGE_PAGE_SIZE) {
            pte_t *pde = walk_create(va, 1);
            if (!pde)
                return ATH_ERR_NOMEM;
            pte_t old = *pde;
            *pde = pa | bits;
            invalidate(va);
            if ((old & PTE_VALID) && !is_block(old))
                drop_page_table(table_of(old));
            va += ATH_LARGE_PAGE_SIZE;
            pa += ATH_LARGE_PAGE_SIZE;
        } else {
            pte_t *pte = walk_create(va, 0);
            if (!pte)
                return ATH_ERR_NOMEM;
            pte_t old = *pte;
            *pte = pa | bits | PTE_PAGE;
            invalidate(va);
            if ((old & PTE_ADDR) != pa)
                release_leaf(old);
            va += ATH_PAGE_SIZE;
            pa += ATH_PAGE_SIZE;
        }
    }
    if (live && (flags & ATH_VM_EXEC))
        sync_code(virt, size);
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
        if (!(e & PTE_VALID) || is_block(e))
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
            if (!(*e & PTE_VALID))
                break;
            if (level == 0)
                break;
            if (is_block(*e)) {
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
        if (*e & PTE_VALID) {
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

    pte_t bits = leaf_bits(flags);
    for (uintptr_t va = virt; va < end; ) {
        pte_t *e = walk_find(va, &level);
        if (level == 1 && ((va & LARGE_MASK) || end - va < ATH_LARGE_PAGE_SIZE)) {
            if (!split_large(e, va))
                return ATH_ERR_NOMEM;   /* cannot happen: counted above */
            e = walk_find(va, &level);
        }
        pte_t keep = PTE_ADDR | PTE_OWNED | PTE_PAGE;
        *e = (*e & keep) | bits;
        invalidate(va);
        va += level_span(level);
    }
    if (live && (flags & ATH_VM_EXEC))
        sync_code(virt, size);
    return ATH_OK;
}

bool ath_arch_take_dirty(uintptr_t virt)
{
    int level;
    pte_t *e = walk_find(virt, &level);
    /* No hardware dirty bit before ARMv8.1 (FEAT_HAFDBS; cortex-a53 and a72 lack it): every
     * 4 KiB page counts as written, which costs its reuse a clear and nothing else. */
    return e && level == 0;
}

/* Answers for the live tables (CR3), so that the exception handler can ask
 * before the final tables exist. */
bool ath_arch_translate(uintptr_t virt, uint64_t *phys, unsigned *flags, size_t *page_size)
{
    int level;
    pte_t *e = walk_find_in((pte_t *)(uintptr_t)(sysreg_read(ttbr0_el1) & PTE_ADDR), virt, &level);
    if (!e)
        return false;
    uint64_t span = level_span(level);
    *phys = (*e & PTE_ADDR & ~(span - 1)) + (virt & (span - 1));
    *flags = flags_of(*e);
    *page_size = span;
    return true;
}
