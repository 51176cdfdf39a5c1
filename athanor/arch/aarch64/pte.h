/*
 * AArch64 page table entries (4 KiB granule, stage 1, EL1), for the shared walker
 * (arch/pagetable.c). Descriptor bits used:
 *
 *   0 valid  1 page (level 0) / table (levels 1-3); clear at level 1: a 2 MiB block
 *   4:2 MAIR index (0 normal write-back, 1 device nGnRE: boot.S's MAIR_EL1)
 *   7 AP[2] read-only  9:8 shareability  10 access flag  47:12 address
 *   53 PXN  54 UXN  55 owned (software)
 *
 * Tables: valid|table (the leaf decides).
 */
#ifndef ATH_PTE_H
#define ATH_PTE_H

#include "aarch64.h"

typedef uint64_t pte_t;

#define PTE_BOOT_MAP_END (4ull << 30)       /* what boot.S maps: table pages until live */

#define PTE_VALID    (1ull << 0)
#define PTE_PAGE     (1ull << 1)
#define PTE_DEVICE   (1ull << 2)
#define PTE_ATTR     (7ull << 2)        /* the MAIR index */
#define PTE_RDONLY   (1ull << 7)
#define PTE_SH_INNER (3ull << 8)
#define PTE_AF       (1ull << 10)
#define PTE_PXN      (1ull << 53)
#define PTE_UXN      (1ull << 54)
#define PTE_OWNED    (1ull << 55)
#define PTE_ADDR     0x0000fffffffff000ull

/* A leaf's bits but for its type (PTE_PAGE at level 0). */
static inline pte_t leaf_bits(unsigned flags)
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

static inline bool pte_present(pte_t e) { return e & PTE_VALID; }
/* Only asked of entries at levels 1-3, where a valid entry without PTE_PAGE is a block. */
static inline bool pte_is_large(pte_t e) { return (e & PTE_VALID) && !(e & PTE_PAGE); }
static inline bool pte_owned(pte_t e) { return e & PTE_OWNED; }
static inline uint64_t pte_address(pte_t e) { return e & PTE_ADDR; }
static inline pte_t pte_table(uint64_t phys) { return phys | PTE_VALID | PTE_PAGE; }
static inline pte_t pte_page(uint64_t pa, unsigned flags, bool owned)
{
    return pa | leaf_bits(flags) | PTE_PAGE | (owned ? PTE_OWNED : 0);
}
static inline pte_t pte_large(uint64_t pa, unsigned flags) { return pa | leaf_bits(flags); }
static inline pte_t pte_split(pte_t large, unsigned index)
{
    uint64_t base = large & PTE_ADDR & ~((uint64_t)ATH_LARGE_PAGE_SIZE - 1);
    return (base + (uint64_t)index * ATH_PAGE_SIZE) | (large & ~PTE_ADDR) | PTE_PAGE;
}
static inline pte_t pte_protect(pte_t e, unsigned flags, int level)
{
    (void)level;                        /* the type bit is kept as it is */
    return (e & (PTE_ADDR | PTE_OWNED | PTE_PAGE)) | leaf_bits(flags);
}
static inline unsigned pte_flags(pte_t e)
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
/* No hardware dirty bit before ARMv8.1 (FEAT_HAFDBS; cortex-a53 and a72 lack it): every 4 KiB
 * page counts as written, which costs its reuse a clear and nothing else. */
static inline bool pte_take_dirty(pte_t *e) { (void)e; return true; }
static inline void pte_invalidate(uintptr_t va)
{
    __asm__ volatile("dsb ishst\n\ttlbi vaae1is, %0\n\tdsb ish\n\tisb" : : "r"((uint64_t)va >> 12) : "memory");
}
/* Every cached translation, walks included. */
static inline void pte_invalidate_all(void)
{
    __asm__ volatile("dsb ishst\n\ttlbi vmalle1is\n\tdsb ish\n\tisb" : : : "memory");
}
/* Whether replacing the valid entry old by new needs break-before-make (Arm ARM D8.14, without
 * FEAT_BBM, which cortex-a53 and a72 lack): a new output address, a block becoming a table or
 * the reverse, or another memory type or shareability. Permissions (AP, PXN, UXN) and the
 * software bit may change in place. */
static inline bool pte_needs_break(pte_t old, pte_t new, int level)
{
    if (!(old & PTE_VALID) || !(new & PTE_VALID))
        return false;
    if (level > 0 && ((old ^ new) & PTE_PAGE))
        return true;                    /* block <-> table */
    if ((old ^ new) & PTE_ADDR)
        return true;
    bool table = level > 0 && (old & PTE_PAGE);
    return !table && ((old ^ new) & (PTE_ATTR | PTE_SH_INNER));
}
/* A new table's zeroed entries reach the walker before the entry that points at it. */
static inline void pte_publish(void) { dsb(ishst); }
/* Code about to run from [va, va + size): its bytes reach the instruction side. */
static inline void pte_mapped(uintptr_t va, size_t size, unsigned flags)
{
    if (!(flags & ATH_VM_EXEC))
        return;
    for (uintptr_t p = va; p < va + size; p += 64)
        __asm__ volatile("dc cvau, %0" : : "r"(p) : "memory");
    __asm__ volatile("dsb ish\n\tic iallu\n\tdsb ish\n\tisb" : : : "memory");
}
static inline uint64_t pte_live_root(void) { return sysreg_read(ttbr0_el1) & PTE_ADDR; }

#endif
