/*
 * x86-64 page table entries, for the shared walker (arch/pagetable.c). Leaves: P, W, NX, PCD|PWT
 * for ATH_VM_NOCACHE, PS at level 1 for a 2 MiB page, bit 9 (available to software) for a frame
 * the mapping owns. Tables: P|W (the leaf decides).
 */
#ifndef ATH_PTE_H
#define ATH_PTE_H

#include "x86.h"

typedef uint64_t pte_t;

#define PTE_BOOT_MAP_END (4ull << 30)       /* what boot.S maps: table pages until live */

static inline pte_t leaf_bits(unsigned flags)
{
    pte_t bits = X86_PTE_P;
    if (flags & ATH_VM_WRITE)
        bits |= X86_PTE_W;
    if (!(flags & ATH_VM_EXEC))
        bits |= X86_PTE_NX;
    if (flags & ATH_VM_NOCACHE)
        bits |= X86_PTE_PCD | X86_PTE_PWT;
    return bits;
}

static inline bool pte_present(pte_t e) { return e & X86_PTE_P; }
static inline bool pte_is_large(pte_t e) { return (e & X86_PTE_P) && (e & X86_PTE_PS); }
static inline bool pte_owned(pte_t e) { return e & X86_PTE_OWNED; }
static inline uint64_t pte_address(pte_t e) { return e & X86_PTE_ADDR; }
static inline pte_t pte_table(uint64_t phys) { return phys | X86_PTE_P | X86_PTE_W; }
static inline pte_t pte_page(uint64_t pa, unsigned flags, bool owned)
{
    return pa | leaf_bits(flags) | (owned ? X86_PTE_OWNED : 0);
}
static inline pte_t pte_large(uint64_t pa, unsigned flags) { return pa | leaf_bits(flags) | X86_PTE_PS; }
/* The 4 KiB page `index` of a 2 MiB page, with its permissions. */
static inline pte_t pte_split(pte_t large, unsigned index)
{
    uint64_t base = large & X86_PTE_ADDR & ~((uint64_t)ATH_LARGE_PAGE_SIZE - 1);
    return (base + (uint64_t)index * ATH_PAGE_SIZE) | (large & ~(X86_PTE_ADDR | X86_PTE_PS));
}
/* New permissions for a leaf at level 0 or 1, its frame and ownership kept. */
static inline pte_t pte_protect(pte_t e, unsigned flags, int level)
{
    pte_t keep = X86_PTE_ADDR | X86_PTE_OWNED | (level == 1 ? X86_PTE_PS : 0);
    return (e & keep) | leaf_bits(flags);
}
static inline unsigned pte_flags(pte_t e)
{
    unsigned flags = ATH_VM_READ;
    if (e & X86_PTE_W)
        flags |= ATH_VM_WRITE;
    if (!(e & X86_PTE_NX))
        flags |= ATH_VM_EXEC;
    if (e & X86_PTE_PCD)
        flags |= ATH_VM_NOCACHE;
    return flags;
}
/* The CPU's dirty bit: whether it was set, clearing it. */
static inline bool pte_take_dirty(pte_t *e)
{
    bool dirty = *e & X86_PTE_DIRTY;
    *e &= ~X86_PTE_DIRTY;
    return dirty;
}
static inline void pte_invalidate(uintptr_t va) { x86_invlpg(va); }
/* Every cached translation (no global pages: reloading CR3 drops them all). */
static inline void pte_invalidate_all(void) { x86_write_cr3(x86_read_cr3()); }
/* x86 lets a present entry be replaced by another in place, whatever changes (the SDM asks
 * only for the invalidation that follows). */
static inline bool pte_needs_break(pte_t old, pte_t new, int level) { (void)old; (void)new; (void)level; return false; }
static inline void pte_publish(void) {}       /* stores reach the page walker in order */
static inline void pte_mapped(uintptr_t va, size_t size, unsigned flags) { (void)va; (void)size; (void)flags; }
static inline uint64_t pte_live_root(void) { return x86_read_cr3() & X86_PTE_ADDR; }

#endif
