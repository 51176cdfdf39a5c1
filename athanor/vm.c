/*
 * Virtual memory policy: the boot-time map, argument checks (alignment,
 * W^X) for every change, and reservations of address space above physical
 * memory for guard-page linear memories. The page tables themselves are
 * the arch's (arch/<arch>/paging.c).
 *
 * Address space after ath_vm_init (identity below the window):
 *
 *   0 .. 4 KiB               unmapped (null pointer guard)
 *   usable RAM, modules      READ|WRITE, no exec
 *   kernel .text             READ|EXEC
 *   kernel .rodata           READ
 *   kernel .data, .bss       READ|WRITE, no exec; stack guard pages unmapped
 *   everything else below    unmapped (reserved, ACPI, MMIO: ath_vm_map it)
 *   window base .. 128 TiB   reservations (ath_vm_reserve), unmapped until
 *                            ath_vm_map_fresh
 */
#include "kernel.h"

struct reservation {
    uintptr_t base;
    size_t size;
};

static uintptr_t window_base;
static struct reservation reservations[ATH_VM_RESERVATIONS_MAX];   /* sorted by base */
static unsigned reservation_count;

#define ALL_FLAGS (ATH_VM_READ | ATH_VM_WRITE | ATH_VM_EXEC | ATH_VM_NOCACHE)

static void check_flags(unsigned flags, const char *what)
{
    if ((flags & ATH_VM_WRITE) && (flags & ATH_VM_EXEC))
        ath_panic("W^X violation: %s asked for a writable and executable mapping (flags 0x%x)", what, flags);
    if (flags & ~ALL_FLAGS)
        ath_panic("%s: unknown mapping flags 0x%x", what, flags);
    if (!(flags & ATH_VM_READ))
        ath_panic("%s: mapping flags 0x%x lack ATH_VM_READ", what, flags);
}

static void check_range(uintptr_t virt, size_t size, const char *what)
{
    if ((virt | size) & (ATH_PAGE_SIZE - 1))
        ath_panic("%s: range 0x%lx+0x%zx is not page aligned", what, virt, size);
    if (virt + size < virt || virt + size > ATH_VM_WINDOW_END)
        ath_panic("%s: range 0x%lx+0x%zx leaves the address space", what, virt, size);
}

static void map_or_fail(uint64_t start, uint64_t end, unsigned flags)
{
    int err = ath_arch_map(start, start, end - start, flags, false);
    if (err) {
        ath_kprintf("[athanor] boot error: mapping [0x%lx, 0x%lx): %s\n", start, end, ath_error_name(err));
        ath_fail(ATH_FAIL_BOOT);
    }
}

static void protect_or_fail(uintptr_t start, uintptr_t end, unsigned flags)
{
    int err = ath_arch_protect(start, end - start, flags);
    if (err)
        ath_panic("protecting [0x%lx, 0x%lx): %s", start, end, ath_error_name(err));
}

static void unmap_or_fail(uintptr_t start, size_t size)
{
    int err = ath_arch_unmap(start, size);
    if (err)
        ath_panic("unmapping [0x%lx, 0x%lx): %s", start, start + size, ath_error_name(err));
}

void ath_vm_init(const struct ath_boot_info *info)
{
    /* Everything mapped READ|WRITE: usable RAM (pages wholly inside),
     * modules and the kernel (pages touched), sorted and merged so that
     * 2 MiB pages span range boundaries. */
    struct ath_range ranges[ATH_MEM_RANGES_MAX + ATH_MODULES_MAX + 1];
    unsigned n = 0;
    for (unsigned i = 0; i < info->mem_count; i++) {
        const struct ath_mem_range *r = &info->mem[i];
        uint64_t lo = ATH_ALIGN_UP(r->start, ATH_PAGE_SIZE);
        uint64_t hi = ATH_ALIGN_DOWN(r->start + r->size, ATH_PAGE_SIZE);
        if (r->type == ATH_MEM_USABLE && hi > lo)
            ranges[n++] = (struct ath_range){ lo, hi - lo };
    }
    for (unsigned i = 0; i < info->module_count; i++) {
        const struct ath_boot_module *m = &info->modules[i];
        uint64_t lo = ATH_ALIGN_DOWN(m->start, ATH_PAGE_SIZE);
        uint64_t hi = ATH_ALIGN_UP(m->start + m->size, ATH_PAGE_SIZE);
        if (hi > lo)
            ranges[n++] = (struct ath_range){ lo, hi - lo };
    }
    ranges[n++] = (struct ath_range){ (uintptr_t)__kernel_start, (uintptr_t)__kernel_end - (uintptr_t)__kernel_start };

    for (unsigned i = 1; i < n; i++) {
        struct ath_range r = ranges[i];
        unsigned j = i;
        for (; j > 0 && ranges[j - 1].start > r.start; j--)
            ranges[j] = ranges[j - 1];
        ranges[j] = r;
    }

    ath_arch_paging_begin();
    uint64_t cur_lo = ranges[0].start, cur_hi = ranges[0].start + ranges[0].size;
    for (unsigned i = 1; i < n; i++) {
        if (ranges[i].start <= cur_hi) {
            cur_hi = ATH_MAX(cur_hi, ranges[i].start + ranges[i].size);
            continue;
        }
        map_or_fail(cur_lo, cur_hi, ATH_VM_READ | ATH_VM_WRITE);
        cur_lo = ranges[i].start;
        cur_hi = ranges[i].start + ranges[i].size;
    }
    map_or_fail(cur_lo, cur_hi, ATH_VM_READ | ATH_VM_WRITE);

    protect_or_fail((uintptr_t)__kernel_start, (uintptr_t)__text_end, ATH_VM_READ | ATH_VM_EXEC);
    protect_or_fail((uintptr_t)__rodata_start, (uintptr_t)__rodata_end, ATH_VM_READ);
    unmap_or_fail(0, ATH_PAGE_SIZE);
    unsigned count;
    const struct ath_kstack *k = ath_arch_kstacks(&count);
    for (unsigned i = 0; i < count; i++)
        unmap_or_fail(k[i].guard, ATH_PAGE_SIZE);
    ath_arch_paging_activate();

    window_base = ATH_MAX(ATH_VM_WINDOW_MIN_BASE, ATH_ALIGN_UP(info->phys_end, 1ull << 30));
}

uintptr_t ath_vm_window_base(void)
{
    return window_base;
}

int ath_vm_map(uintptr_t virt, uint64_t phys, size_t size, unsigned flags)
{
    check_flags(flags, "ath_vm_map");
    check_range(virt, size, "ath_vm_map");
    if (phys & (ATH_PAGE_SIZE - 1))
        ath_panic("ath_vm_map: physical address 0x%lx is not page aligned", phys);
    if (phys + size < phys || phys + size > (1ull << 52))
        return ATH_ERR_INVALID;
    return ath_arch_map(virt, phys, size, flags, false);
}

int ath_vm_unmap(uintptr_t virt, size_t size)
{
    check_range(virt, size, "ath_vm_unmap");
    return ath_arch_unmap(virt, size);
}

int ath_vm_protect(uintptr_t virt, size_t size, unsigned flags)
{
    check_flags(flags, "ath_vm_protect");
    check_range(virt, size, "ath_vm_protect");
    return ath_arch_protect(virt, size, flags);
}

bool ath_vm_query(uintptr_t virt, uint64_t *phys, unsigned *flags)
{
    size_t page_size;
    return ath_arch_translate(virt, phys, flags, &page_size);
}

int ath_vm_swap_page(uintptr_t virt, uint64_t phys, bool owned, uint64_t *previous)
{
    check_range(virt, ATH_PAGE_SIZE, "ath_vm_swap_page");
    if (phys & (ATH_PAGE_SIZE - 1))
        ath_panic("ath_vm_swap_page: physical address 0x%lx is not page aligned", phys);
    uint64_t old;
    unsigned flags;
    size_t page_size;
    if (!ath_arch_translate(virt, &old, &flags, &page_size) || page_size != ATH_PAGE_SIZE)
        return ATH_ERR_NOT_MAPPED;
    /* The same frame again, not owned: the old entry's frame is kept (same address), and the
     * second map then replaces an entry that owns nothing. */
    int err = ath_arch_map(virt, old, ATH_PAGE_SIZE, flags, false);
    if (!err)
        err = ath_arch_map(virt, phys, ATH_PAGE_SIZE, flags, owned);
    if (!err)
        *previous = old;
    return err;
}

static struct reservation *reservation_containing(uintptr_t addr)
{
    for (unsigned i = 0; i < reservation_count; i++)
        if (addr >= reservations[i].base && addr - reservations[i].base < reservations[i].size)
            return &reservations[i];
    return NULL;
}

bool ath_vm_reservation_of(uintptr_t addr, uintptr_t *base, size_t *size)
{
    const struct reservation *r = reservation_containing(addr);
    if (!r)
        return false;
    *base = r->base;
    *size = r->size;
    return true;
}

uintptr_t ath_vm_reserve(size_t size)
{
    if (size == 0 || size > ATH_VM_WINDOW_END || reservation_count == ATH_VM_RESERVATIONS_MAX)
        return 0;
    size = ATH_ALIGN_UP(size, ATH_VM_RESERVATION_ALIGN);
    uintptr_t candidate = window_base;
    unsigned i = 0;
    for (; i < reservation_count; i++) {
        if (candidate + size + ATH_VM_RESERVATION_GAP <= reservations[i].base)
            break;
        candidate = ATH_ALIGN_UP(reservations[i].base + reservations[i].size + ATH_VM_RESERVATION_GAP,
                                 ATH_VM_RESERVATION_ALIGN);
    }
    if (candidate + size > ATH_VM_WINDOW_END)
        return 0;
    memmove(&reservations[i + 1], &reservations[i], (reservation_count - i) * sizeof reservations[0]);
    reservations[i] = (struct reservation){ candidate, size };
    reservation_count++;
    return candidate;
}

int ath_vm_map_fresh(uintptr_t virt, size_t size, unsigned flags)
{
    check_flags(flags, "ath_vm_map_fresh");
    check_range(virt, size, "ath_vm_map_fresh");
    if (size == 0)
        return ATH_OK;
    const struct reservation *r = reservation_containing(virt);
    if (!r || virt + size - r->base > r->size)
        return ATH_ERR_INVALID;
    uint64_t phys;
    unsigned old_flags;
    for (uintptr_t va = virt; va < virt + size; va += ATH_PAGE_SIZE)
        if (ath_vm_query(va, &phys, &old_flags))
            return ATH_ERR_MAPPED;
    /* Frames plus the worst case of new tables (PT per 2 MiB, PD per 1 GiB,
     * PDPT per 512 GiB, each plus one for a range straddling boundaries). */
    size_t pages = size / ATH_PAGE_SIZE;
    size_t tables = size / ATH_LARGE_PAGE_SIZE + (size >> 30) + (size >> 39) + 6;
    if (ath_page_free_count() < pages + tables)
        return ATH_ERR_NOMEM;

    for (uintptr_t va = virt; va < virt + size; va += ATH_PAGE_SIZE) {
        uint64_t frame = ath_page_alloc();
        int err = frame ? ATH_OK : ATH_ERR_NOMEM;
        if (frame) {
            memset((void *)(uintptr_t)frame, 0, ATH_PAGE_SIZE);
            err = ath_arch_map(va, frame, ATH_PAGE_SIZE, flags, true);
            if (err)
                ath_page_free(frame);
        }
        if (err) {
            ath_arch_unmap(virt, va - virt);
            return err;
        }
    }
    return ATH_OK;
}

int ath_vm_release(uintptr_t base)
{
    for (unsigned i = 0; i < reservation_count; i++) {
        if (reservations[i].base != base)
            continue;
        int err = ath_arch_unmap(base, reservations[i].size);
        if (err)
            return err;
        memmove(&reservations[i], &reservations[i + 1], (reservation_count - i - 1) * sizeof reservations[0]);
        reservation_count--;
        return ATH_OK;
    }
    return ATH_ERR_NOT_FOUND;
}
