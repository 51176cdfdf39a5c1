/*
 * In-kernel self-tests (xv6's usertests): athanor.selftest=NAME[,NAME...]
 * on the kernel command line runs the named tests in order instead of the
 * appliance. Two kinds, as each entry's "expect" column says:
 *   - checks return normally; the runner prints "[athanor] selftest NAME: ok"
 *     and, after the last test, exits with code 0 (v = 8). A failed
 *     expectation panics (v = 3), so a check can never pass by accident.
 *   - faults provoke the fault or panic they are named after, which ends the
 *     run (v = 3); if it does not happen they exit with code 1.
 * tests/test_boot.py runs every entry and checks the output.
 */
#include "kernel.h"

typedef void test_fn(const struct ath_boot_info *info);

static const char *current;
static char detail[128];        /* what a check adds to its "ok" line */

#define expect(cond) \
    do { if (!(cond)) ath_panic("selftest %s: expectation failed: %s", current, #cond); } while (0)

/* Reached only when a provoked fault did not happen. */
static void not_reached(const char *what)
{
    ath_kprintf("[athanor] selftest %s: FAILED: %s did not fault\n", current, what);
    ath_exit(1);
}

static bool overlaps(uint64_t a, uint64_t a_size, uint64_t b, uint64_t b_size)
{
    return a < b + b_size && b < a + a_size;
}

/* ---- faults that must be reported and end the run ----------------------- */

static volatile uintptr_t null_address;       /* 0, out of the optimiser's sight */
static volatile int zero_divisor;
static volatile int dividend = 7;             /* gcc rewrites 1 / x without a division */
static volatile unsigned recursion_limit = ~0u;

static void test_pagefault(const struct ath_boot_info *info)
{
    (void)info;
    uintptr_t addr = ath_vm_window_base() + 0x5000;
    ath_kprintf("[athanor] selftest pagefault: reading unmapped address 0x%lx\n", addr);
    (void)*(volatile uint64_t *)addr;
    not_reached("reading an unmapped address");
}

static void test_nullderef(const struct ath_boot_info *info)
{
    (void)info;
    ath_kprintf("[athanor] selftest nullderef: reading through a null pointer\n");
    (void)*(volatile uint64_t *)null_address;
    not_reached("a null dereference");
}

static void test_wx(const struct ath_boot_info *info)
{
    (void)info;
    uint64_t page = ath_page_alloc();
    expect(page);
    ath_kprintf("[athanor] selftest wx: asking for 0x%lx writable and executable\n", page);
    ath_vm_protect(page, ATH_PAGE_SIZE, ATH_VM_READ | ATH_VM_WRITE | ATH_VM_EXEC);
    ath_kprintf("[athanor] selftest wx: FAILED: W^X not enforced\n");
    ath_exit(1);
}

static void test_codefault(const struct ath_boot_info *info)
{
    (void)info;
    uint64_t page = ath_page_alloc();
    expect(page);
    ath_arch_fill_trap_instructions((uint8_t *)(uintptr_t)page, ATH_PAGE_SIZE);
    expect(ath_vm_protect(page, ATH_PAGE_SIZE, ATH_VM_READ | ATH_VM_EXEC) == ATH_OK);
    expect(ath_code_region_add(page, page + ATH_PAGE_SIZE, "fakemod") == ATH_OK);
    ath_kprintf("[athanor] selftest codefault: calling fakemod at 0x%lx\n", page);
    ((void (*)(void))(uintptr_t)page)();
    not_reached("a trap instruction in fakemod");
}

static void test_divzero(const struct ath_boot_info *info)
{
    (void)info;
    if (!ATH_ARCH_DIVIDE_TRAPS) {
        ath_kprintf("[athanor] selftest divzero: skipped: integer division does not trap on %s\n",
                    ATH_ARCH_NAME);
        return;
    }
    ath_kprintf("[athanor] selftest divzero: dividing by zero\n");
    volatile int quotient = dividend / zero_divisor;
    (void)quotient;
    not_reached("a division by zero");
}

static unsigned recurse(unsigned depth)
{
    volatile char frame[512];
    frame[0] = (char)depth;
    if (depth >= recursion_limit)
        return 0;
    return recurse(depth + 1) + frame[0];
}

static void test_stackoverflow(const struct ath_boot_info *info)
{
    (void)info;
    unsigned count;
    const struct ath_kstack *k = ath_arch_kstacks(&count);
    ath_kprintf("[athanor] selftest stackoverflow: recursing into the guard page at 0x%lx\n", k[0].guard);
    recurse(0);
    not_reached("unbounded recursion");
}

/* A hook that faults itself: the second exception is nested. */
static bool faulting_hook(struct ath_trap_frame *frame)
{
    (void)frame;
    (void)*(volatile uint64_t *)null_address;
    return false;
}

static void test_nested(const struct ath_boot_info *info)
{
    (void)info;
    ath_fault_hook = faulting_hook;
    if (!ATH_ARCH_DIVIDE_TRAPS) {
        ath_kprintf("[athanor] selftest nested: a page fault with a fault hook that faults\n");
        (void)*(volatile uint64_t *)(ath_vm_window_base() + 0x5000);
        not_reached("reading an unmapped address");
    }
    ath_kprintf("[athanor] selftest nested: divide error with a fault hook that faults\n");
    volatile int quotient = dividend / zero_divisor;
    (void)quotient;
    not_reached("a division by zero");
}

/* A fault hook that recurses without end: the stack exceptions are handled on overflows. */
static bool recursing_hook(struct ath_trap_frame *frame)
{
    (void)frame;
    recurse(0);
    return false;
}

static void test_hookoverflow(const struct ath_boot_info *info)
{
    (void)info;
    ath_kprintf("[athanor] selftest hookoverflow: a page fault with a fault hook that recurses\n");
    ath_fault_hook = recursing_hook;
    (void)*(volatile uint64_t *)null_address;
    not_reached("a null dereference");
}

static void test_panic(const struct ath_boot_info *info)
{
    (void)info;
    ath_panic("selftest panic: panicking on request");
}

/* ---- allocator ----------------------------------------------------------- */

#define PAGE_TAG 0xa7a7a7a7a7a7a7a7ull

/* The page must be nothing the allocator may never hand out. */
static void expect_allocatable(const struct ath_boot_info *info, uint64_t p, size_t size)
{
    expect(p != 0 && (p & (ATH_PAGE_SIZE - 1)) == 0);
    expect(!overlaps(p, size, 0, ATH_PAGE_SIZE));
    expect(!overlaps(p, size, (uintptr_t)__kernel_start, (uintptr_t)__kernel_end - (uintptr_t)__kernel_start));
    for (unsigned i = 0; i < info->module_count; i++)
        expect(!overlaps(p, size, info->modules[i].start, info->modules[i].size));
    for (unsigned i = 0; i < info->reserved_count; i++)
        expect(!overlaps(p, size, info->reserved[i].start, info->reserved[i].size));
    for (unsigned i = 0; i < info->mem_count; i++)
        if (info->mem[i].type != ATH_MEM_USABLE)
            expect(!overlaps(p, size, info->mem[i].start, info->mem[i].size));
    expect(!ath_page_is_excluded(p, size));
}

static void test_alloc(const struct ath_boot_info *info)
{
    const size_t limit = 1u << 20;      /* 4 GiB of pages */
    size_t before = ath_page_free_count();
    uint64_t head = 0;
    size_t n = 0;

    /* Allocate until exhausted (or limit), chaining the pages through
     * their first word and tagging them with their own address. */
    for (; n < limit; n++) {
        uint64_t p = ath_page_alloc();
        if (!p)
            break;
        expect_allocatable(info, p, ATH_PAGE_SIZE);
        uint64_t *w = (uint64_t *)(uintptr_t)p;
        w[0] = head;
        w[1] = p ^ PAGE_TAG;
        head = p;
    }
    bool exhausted = n < limit;
    if (exhausted)
        expect(ath_page_free_count() == 0 && ath_page_alloc_contiguous(1) == 0);
    expect(ath_page_free_count() == before - n);

    /* A page handed out twice would have broken the chain into a cycle or
     * lost a tag. */
    size_t seen = 0;
    for (uint64_t p = head; p; p = ((uint64_t *)(uintptr_t)p)[0]) {
        expect(((uint64_t *)(uintptr_t)p)[1] == (p ^ PAGE_TAG));
        expect(++seen <= n);
    }
    expect(seen == n);
    for (uint64_t p = head; p; ) {
        uint64_t next = ((uint64_t *)(uintptr_t)p)[0];
        ath_page_free(p);
        p = next;
    }
    expect(ath_page_free_count() == before);

    const size_t run = 64;
    uint64_t c = ath_page_alloc_contiguous(run);
    expect(c);
    expect_allocatable(info, c, run * ATH_PAGE_SIZE);
    memset((void *)(uintptr_t)c, 0xa5, run * ATH_PAGE_SIZE);
    expect(ath_page_free_count() == before - run);
    expect(ath_page_alloc_contiguous(ath_page_total_count() + 1) == 0);
    uint64_t single = ath_page_alloc();
    expect(single && !overlaps(single, ATH_PAGE_SIZE, c, run * ATH_PAGE_SIZE));
    ath_page_free(single);
    ath_page_free_contiguous(c, run);
    expect(ath_page_free_count() == before);

    ath_snprintf(detail, sizeof detail, "%zu pages allocated%s, %zu free of %zu", n,
                 exhausted ? " until exhausted" : "", before, ath_page_total_count());
}

/* ---- paging ---------------------------------------------------------------- */

static struct ath_jmp_buf probe_jump;
static volatile unsigned hook_calls;
static volatile uintptr_t hook_address;
static volatile bool hook_write;
static volatile int hook_kind;

/* The fault hook as the loader will use it: record, then resume at a
 * known point instead of reporting. */
static bool probe_hook(struct ath_trap_frame *frame)
{
    hook_calls++;
    hook_kind = ath_trap_kind(frame);
    hook_address = ath_trap_fault_address(frame);
    hook_write = ath_trap_fault_was_write(frame);
    ath_trap_resume_longjmp(frame, &probe_jump, 1);
    return true;
}

/* Touches addr with the hook installed; true if that faulted. */
static __attribute__((noinline)) bool faults(uintptr_t addr, bool write)
{
    hook_calls = 0;
    ath_fault_hook = probe_hook;
    if (ath_setjmp(&probe_jump) == 0) {
        if (write)
            *(volatile uint64_t *)addr = 1;
        else
            (void)*(volatile uint64_t *)addr;
        ath_fault_hook = NULL;
        return false;
    }
    ath_fault_hook = NULL;
    return hook_calls == 1 && hook_kind == ATH_TRAP_PAGE_FAULT;
}

static unsigned flags_at(uintptr_t addr)
{
    uint64_t phys;
    unsigned flags;
    return ath_vm_query(addr, &phys, &flags) ? flags : 0;
}

static size_t page_size_at(uintptr_t addr)
{
    uint64_t phys;
    unsigned flags;
    size_t size;
    return ath_arch_translate(addr, &phys, &flags, &size) ? size : 0;
}

static uint64_t bss_probe;

/* An aligned 2 MiB of usable RAM clear of the kernel (so mapped as one
 * large page), or 0. */
static uintptr_t large_page_candidate(const struct ath_boot_info *info)
{
    for (unsigned i = 0; i < info->mem_count; i++) {
        const struct ath_mem_range *r = &info->mem[i];
        if (r->type != ATH_MEM_USABLE)
            continue;
        uint64_t lo = ATH_MAX(ATH_ALIGN_UP(r->start, ATH_LARGE_PAGE_SIZE),
                              ATH_ALIGN_UP((uintptr_t)__kernel_end, ATH_LARGE_PAGE_SIZE));
        if (lo + ATH_LARGE_PAGE_SIZE <= r->start + r->size)
            return lo;
    }
    return 0;
}

static void test_paging_boot_map(const struct ath_boot_info *info)
{
    const unsigned rw = ATH_VM_READ | ATH_VM_WRITE, rx = ATH_VM_READ | ATH_VM_EXEC;
    expect(flags_at(0) == 0);
    expect(flags_at((uintptr_t)ath_main) == rx);
    expect(flags_at((uintptr_t)__rodata_start) == ATH_VM_READ);
    expect(flags_at((uintptr_t)&bss_probe) == rw);
    expect(flags_at((uintptr_t)&null_address) == rw);
    unsigned count;
    const struct ath_kstack *k = ath_arch_kstacks(&count);
    for (unsigned i = 0; i < count; i++) {
        expect(flags_at(k[i].guard) == 0);
        expect(flags_at(k[i].bottom) == rw);
    }
    for (unsigned i = 0; i < info->module_count; i++)
        expect(flags_at(info->modules[i].start) == rw);

    expect(faults(0, false) && hook_address == 0 && !hook_write);
    expect(faults((uintptr_t)ath_main, true) && hook_address == (uintptr_t)ath_main && hook_write);
    expect(faults((uintptr_t)__rodata_start, true));
    expect(faults(k[0].guard, false));

    /* 2 MiB pages where permissions allow; split when a 4 KiB part changes. */
    uintptr_t big = large_page_candidate(info);
    expect(big != 0);
    /* (A port that needs break-before-make maps RAM with 4 KiB pages: nothing to split.) */
    expect(page_size_at(big) == (ATH_ARCH_BREAK_BEFORE_MAKE ? ATH_PAGE_SIZE : ATH_LARGE_PAGE_SIZE));
    expect(flags_at(big) == rw);
    uint64_t breaks = ath_pagetable_breaks();
    expect(ath_vm_protect(big + ATH_PAGE_SIZE, ATH_PAGE_SIZE, ATH_VM_READ) == ATH_OK);
    expect(page_size_at(big) == ATH_PAGE_SIZE && flags_at(big) == rw);
    expect(ath_pagetable_breaks() == breaks);
    expect(flags_at(big + ATH_PAGE_SIZE) == ATH_VM_READ);
    expect(faults(big + ATH_PAGE_SIZE, true) && hook_write);
    expect(!faults(big + ATH_PAGE_SIZE, false));
    expect(ath_vm_protect(big + ATH_PAGE_SIZE, ATH_PAGE_SIZE, rw) == ATH_OK);
    expect(!faults(big + ATH_PAGE_SIZE, true));
}

static void test_paging(const struct ath_boot_info *info)
{
    const unsigned rw = ATH_VM_READ | ATH_VM_WRITE;
    size_t free_at_start = ath_page_free_count();

    test_paging_boot_map(info);

    /* Reservations: above physical memory, aligned, apart, empty. */
    const size_t region_size = 16u << 20;
    uintptr_t r = ath_vm_reserve(region_size);
    uintptr_t r2 = ath_vm_reserve(ATH_PAGE_SIZE);
    expect(r >= ath_vm_window_base() && r >= info->phys_end && r % ATH_LARGE_PAGE_SIZE == 0);
    expect(r2 >= r + region_size + ATH_VM_RESERVATION_GAP);
    expect(flags_at(r) == 0 && flags_at(r + region_size - ATH_PAGE_SIZE) == 0);

    /* Fresh pages: zeroed, private, exactly where asked. */
    const size_t fresh = 64 * 1024;
    size_t before = ath_page_free_count();
    expect(ath_vm_map_fresh(r, fresh, rw) == ATH_OK);
    expect(ath_page_free_count() <= before - fresh / ATH_PAGE_SIZE);
    uint64_t *words = (uint64_t *)r;
    for (size_t i = 0; i < fresh / 8; i++)
        expect(words[i] == 0);
    for (size_t i = 0; i < fresh / 8; i++)
        words[i] = i * 0x9e3779b97f4a7c15ull;
    uint64_t phys;
    unsigned flags;
    expect(ath_vm_query(r + 8192, &phys, &flags) && flags == rw && phys < info->phys_end);
    expect(*(uint64_t *)(uintptr_t)phys == (8192 / 8) * 0x9e3779b97f4a7c15ull);
    expect(flags_at(r + fresh) == 0);
    expect(ath_vm_map_fresh(r + fresh - ATH_PAGE_SIZE, 2 * ATH_PAGE_SIZE, rw) == ATH_ERR_MAPPED);
    expect(ath_vm_map_fresh(r + region_size - ATH_PAGE_SIZE, 2 * ATH_PAGE_SIZE, rw) == ATH_ERR_INVALID);
    expect(ath_vm_map_fresh(ath_vm_window_base() - ATH_LARGE_PAGE_SIZE, ATH_PAGE_SIZE, rw) == ATH_ERR_INVALID);

    /* Protect: read-only refuses writes; read+exec is allowed (not W). */
    expect(ath_vm_protect(r, fresh, ATH_VM_READ) == ATH_OK);
    expect(flags_at(r) == ATH_VM_READ);
    expect(faults(r + 16, true) && hook_address == r + 16 && hook_write);
    expect(!faults(r + 16, false));
    expect(ath_vm_protect(r, ATH_PAGE_SIZE, ATH_VM_READ | ATH_VM_EXEC) == ATH_OK);
    expect(flags_at(r) == (ATH_VM_READ | ATH_VM_EXEC));
    expect(ath_vm_protect(r + fresh - ATH_PAGE_SIZE, 2 * ATH_PAGE_SIZE, ATH_VM_READ) == ATH_ERR_NOT_MAPPED);
    expect(flags_at(r + fresh - ATH_PAGE_SIZE) == ATH_VM_READ);
    expect(ath_vm_protect(r, fresh, rw) == ATH_OK);

    /* A guard page inside the reservation: the hook catches the fault,
     * records it and resumes here. */
    uintptr_t guard = r + region_size / 2;
    expect(faults(guard, false) && hook_address == guard && !hook_write);
    expect(faults(guard + 8, true) && hook_address == guard + 8 && hook_write);

    /* Unmap frees owned frames; an alias mapping does not own its frame. */
    size_t f = ath_page_free_count();
    expect(ath_vm_unmap(r + fresh / 2, fresh / 2) == ATH_OK);
    expect(ath_page_free_count() == f + fresh / 2 / ATH_PAGE_SIZE);
    expect(faults(r + fresh / 2, false));
    expect(!faults(r, false));
    expect(ath_vm_query(r, &phys, &flags));
    expect(ath_vm_map(r2, phys, ATH_PAGE_SIZE, ATH_VM_READ) == ATH_OK);
    expect(*(uint64_t *)(r2 + 8) == 0x9e3779b97f4a7c15ull);
    f = ath_page_free_count();
    expect(ath_vm_unmap(r2, ATH_PAGE_SIZE) == ATH_OK);
    expect(ath_page_free_count() >= f && ath_vm_query(r, &phys, &flags));
    expect(*(uint64_t *)(r + 8) == 0x9e3779b97f4a7c15ull);

    /* A table of 4 KiB pages replaced by one 2 MiB page (the port's call; vm.c never maps
     * over a mapping), through an invalid entry where the port needs it: no address under the
     * table keeps its old translation, not only the first, and the table's own frames return.
     * (A port that needs break-before-make makes 2 MiB pages of device memory only; RAM read
     * through such an alias of cached memory is not checked there.) */
    const unsigned alias = ATH_VM_READ | (ATH_ARCH_BREAK_BEFORE_MAKE ? ATH_VM_NOCACHE : 0);
    uintptr_t big = large_page_candidate(info);
    uintptr_t t = ath_vm_reserve(ATH_LARGE_PAGE_SIZE);
    expect(t % ATH_LARGE_PAGE_SIZE == 0);
    f = ath_page_free_count();
    expect(ath_vm_map_fresh(t, 2 * ATH_PAGE_SIZE, rw) == ATH_OK);
    volatile uint64_t *second = (volatile uint64_t *)(t + ATH_PAGE_SIZE);
    *second = 0x5eed5eed5eed5eedull;            /* its translation is now cached */
    expect(*second == 0x5eed5eed5eed5eedull);
    uint64_t wanted = *(volatile uint64_t *)(big + ATH_PAGE_SIZE);
    uint64_t breaks_before = ath_pagetable_breaks();
    expect(ath_arch_map(t, big, ATH_LARGE_PAGE_SIZE, alias, false) == ATH_OK);
    expect(page_size_at(t) == ATH_LARGE_PAGE_SIZE);
    uint64_t phys_second;
    unsigned flags_second;
    expect(ath_vm_query(t + ATH_PAGE_SIZE, &phys_second, &flags_second));
    expect(phys_second == big + ATH_PAGE_SIZE && flags_second == alias);
    if (!(alias & ATH_VM_NOCACHE))
        expect(*second == wanted);
    expect(ath_pagetable_breaks() == breaks_before + (ATH_ARCH_BREAK_BEFORE_MAKE ? 1 : 0));
    expect(ath_vm_release(t) == ATH_OK);
    expect(ath_page_free_count() == f);

    /* Release returns every frame and every table. */
    expect(ath_vm_release(r) == ATH_OK);
    expect(ath_vm_release(r2) == ATH_OK);
    expect(ath_vm_release(r) == ATH_ERR_NOT_FOUND);
    expect(flags_at(r) == 0);
    /* Only the table split off by test_paging_boot_map is still in use (none was split where
     * RAM has 4 KiB pages). */
    expect(ath_page_free_count() == free_at_start - (ATH_ARCH_BREAK_BEFORE_MAKE ? 0 : 1));
    expect(ath_vm_reserve(region_size) == r);    /* the space is reusable */

    ath_vm_release(r);
    ath_snprintf(detail, sizeof detail, "guard fault at 0x%lx caught by the hook", guard);
}

/* ---- interrupts never use the interrupted stack ----------------------------- */

/* With the stack pointer on an unmapped page (as a module's could be, were compiled code to
 * move it past its stack) and interrupts on, ticks come every few microseconds for 100 ms:
 * each must be taken on a kernel stack (x86-64: the interrupt IST stack, then the kernel stack,
 * interrupts.S; AArch64: SP_EL1), so none pushes a byte at the interrupted stack pointer.
 * Pushing there would fault with no stack to report it on (a triple fault on x86-64). */
static void test_interrupt_stack(const struct ath_boot_info *info)
{
    (void)info;
    static uint8_t scratch[16384] __attribute__((aligned(16)));
    const struct ath_kstack kernel_stack = {
        "selftest kernel stack", (uintptr_t)scratch - ATH_PAGE_SIZE, (uintptr_t)scratch,
        (uintptr_t)scratch + sizeof scratch,
    };
    ath_arch_interrupts_init(ATH_TICK_HZ);
    ath_arch_tick_storm(5, 40);
    ath_arch_use_kernel_stack(&kernel_stack);
    uint64_t before = ath_sched_ticks(), cycles = ath_arch_cycles_per_second() / 10;
    ath_arch_spin_on_unmapped_stack(cycles);
    ath_arch_use_kernel_stack(NULL);
    uint64_t taken = ath_sched_ticks() - before;
    expect(taken > 20);
    ath_snprintf(detail, sizeof detail, "%lu interrupts taken with the stack pointer at 0x800",
                 (unsigned long)taken);
}

/* ---- kernel-call entries and context switches -------------------------------------------------
 * The arch's own assembly, exercised without a module: kernel code calls a kernel-call entry
 * as compiled code does (the same C convention, vmctx first), with more arguments than the
 * convention passes in registers; the entry must run the target on the kernel stack that
 * ath_arch_use_kernel_stack chose, with every argument in place, and come back. */

static uint8_t scratch_stack[16384] __attribute__((aligned(16)));
static uintptr_t target_frame;

typedef uint64_t twelve_fn(void *, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t,
                           uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);

/* Each argument weighted by its position, so that a swapped or shifted one shows. */
static uint64_t twelve(void *vmctx, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5,
                       uint64_t a6, uint64_t a7, uint64_t a8, uint64_t a9, uint64_t a10, uint64_t a11,
                       uint64_t a12)
{
    target_frame = (uintptr_t)__builtin_frame_address(0);
    const uint64_t a[12] = { a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12 };
    uint64_t sum = (uintptr_t)vmctx;
    for (unsigned i = 0; i < 12; i++)
        sum = sum * 31 + a[i];
    return sum;
}

static uint64_t two(void *vmctx, uint64_t a1, uint64_t a2)
{
    return twelve(vmctx, a1, a2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
}

static void test_kcall(const struct ath_boot_info *info)
{
    (void)info;
    const struct ath_kstack stack = {
        "selftest kernel stack", (uintptr_t)scratch_stack - ATH_PAGE_SIZE, (uintptr_t)scratch_stack,
        (uintptr_t)scratch_stack + sizeof scratch_stack,
    };
    twelve_fn *entry = (twelve_fn *)ath_kcall_entry((const void *)twelve, "IIIIIIIIIIII");
    uint64_t (*entry_two)(void *, uint64_t, uint64_t) =
        (uint64_t (*)(void *, uint64_t, uint64_t))ath_kcall_entry((const void *)two, "II");
    void *vmctx = (void *)(uintptr_t)0x5eed;
    uint64_t state = ath_arch_irq_save();
    ath_arch_use_kernel_stack(&stack);
    uint64_t direct = twelve(vmctx, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0xfedcba9876543210ull);
    target_frame = 0;
    uint64_t via_entry = entry(vmctx, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0xfedcba9876543210ull);
    uintptr_t frame = target_frame;
    uint64_t via_entry_two = entry_two(vmctx, 7, 9);
    ath_arch_use_kernel_stack(NULL);
    ath_arch_irq_restore(state);
    expect(via_entry == direct);
    expect(frame >= stack.bottom && frame < stack.top);
    expect(via_entry_two == two(vmctx, 7, 9));
    ath_snprintf(detail, sizeof detail, "12 arguments through an entry, the target on the kernel stack");
}

static uint64_t switch_main_sp, switch_task_sp;
static volatile unsigned switch_steps;

static void switch_entry(void *arg)
{
    for (;;) {
        switch_steps += *(unsigned *)arg;
        ath_arch_switch(&switch_task_sp, switch_main_sp);
    }
}

/* A fresh context runs its entry on its own stack and switches back; twice, to show that a
 * context switched away from resumes where it was. */
static void test_switch(const struct ath_boot_info *info)
{
    (void)info;
    unsigned step = 5;
    uint64_t state = ath_arch_irq_save();
    switch_task_sp = ath_arch_stack_init((uintptr_t)scratch_stack + sizeof scratch_stack,
                                         switch_entry, &step);
    ath_arch_switch(&switch_main_sp, switch_task_sp);
    expect(switch_steps == 5);
    step = 7;
    ath_arch_switch(&switch_main_sp, switch_task_sp);
    ath_arch_irq_restore(state);
    expect(switch_steps == 12);
    ath_snprintf(detail, sizeof detail, "two switches into a fresh context and back");
}

/* A fault resumed as a call on a kernel stack (ath_arch_trap_redirect), as wasm.c resumes a
 * module's guard-page fault in its trap handler: the target must run on that stack with the
 * frame's vmctx register, the code and the faulting pc as its arguments. It longjmps back. */
static struct ath_jmp_buf redirect_jump;
static uintptr_t redirect_stack_top, redirect_fault_pc, redirect_vmctx;
static volatile uintptr_t seen_frame, seen_vmctx, seen_pc;
static volatile uint32_t seen_code;

static ATH_NORETURN void redirect_target(void *vmctx, uint32_t code, uintptr_t pc)
{
    seen_frame = (uintptr_t)__builtin_frame_address(0);
    seen_vmctx = (uintptr_t)vmctx;
    seen_code = code;
    seen_pc = pc;
    ath_longjmp(&redirect_jump, 1);
}

static bool redirecting_hook(struct ath_trap_frame *frame)
{
    ath_fault_hook = NULL;
    redirect_fault_pc = ath_trap_pc(frame);
    redirect_vmctx = ath_arch_trap_vmctx(frame);
    ath_arch_trap_redirect(frame, redirect_stack_top, redirect_target, 0x2a);
    return true;
}

static void test_redirect(const struct ath_boot_info *info)
{
    (void)info;
    const struct ath_kstack stack = {
        "selftest kernel stack", (uintptr_t)scratch_stack - ATH_PAGE_SIZE, (uintptr_t)scratch_stack,
        (uintptr_t)scratch_stack + sizeof scratch_stack,
    };
    redirect_stack_top = stack.top;
    uint64_t state = ath_arch_irq_save();
    ath_arch_use_kernel_stack(&stack);
    if (ath_setjmp(&redirect_jump) == 0) {
        ath_fault_hook = redirecting_hook;
        (void)*(volatile uint64_t *)null_address;
        ath_fault_hook = NULL;
        ath_arch_use_kernel_stack(NULL);
        ath_arch_irq_restore(state);
        not_reached("a null dereference");
    }
    ath_arch_use_kernel_stack(NULL);
    ath_arch_irq_restore(state);
    expect(seen_frame >= stack.bottom && seen_frame < stack.top);
    expect(seen_code == 0x2a && seen_pc == redirect_fault_pc && seen_vmctx == redirect_vmctx);
    ath_snprintf(detail, sizeof detail, "a fault at 0x%lx resumed as a call on the kernel stack",
                 (unsigned long)redirect_fault_pc);
}

/* ---- information and exit protocol ----------------------------------------- */

static uint32_t fnv1a(const uint8_t *p, uint64_t n)
{
    uint32_t h = 2166136261u;
    for (uint64_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

static const char *mem_type_name(enum ath_mem_type type)
{
    switch (type) {
    case ATH_MEM_USABLE: return "usable";
    case ATH_MEM_RESERVED: return "reserved";
    case ATH_MEM_ACPI_RECLAIM: return "acpi-reclaim";
    case ATH_MEM_ACPI_NVS: return "acpi-nvs";
    case ATH_MEM_BAD: return "bad";
    }
    return "?";
}

static void test_bootinfo(const struct ath_boot_info *info)
{
    ath_kprintf("[athanor] bootinfo: protocol %s, loader '%s'\n",
                ath_boot_protocol_name(info->protocol), info->bootloader);
    ath_kprintf("[athanor] bootinfo: cmdline '%s'\n", info->cmdline);
    for (unsigned i = 0; i < info->mem_count; i++)
        ath_kprintf("[athanor] bootinfo: mem [0x%012lx, 0x%012lx) %s\n", info->mem[i].start,
                    info->mem[i].start + info->mem[i].size, mem_type_name(info->mem[i].type));
    for (unsigned i = 0; i < info->reserved_count; i++)
        ath_kprintf("[athanor] bootinfo: loader structure [0x%lx, 0x%lx)\n", info->reserved[i].start,
                    info->reserved[i].start + info->reserved[i].size);
    for (unsigned i = 0; i < info->module_count; i++) {
        const struct ath_boot_module *m = &info->modules[i];
        ath_kprintf("[athanor] bootinfo: module %u start 0x%lx size %lu fnv1a 0x%08x string '%s'\n", i,
                    m->start, m->size, fnv1a((const uint8_t *)(uintptr_t)m->start, m->size), m->string);
    }
    if (info->acpi_rsdp_size)
        ath_kprintf("[athanor] bootinfo: acpi rsdp %u bytes, signature '%.8s'\n", info->acpi_rsdp_size,
                    (const char *)info->acpi_rsdp);
    ath_kprintf("[athanor] bootinfo: kernel [0x%lx, 0x%lx), %lu MiB usable, %zu of %zu pages free\n",
                (uintptr_t)__kernel_start, (uintptr_t)__kernel_end, info->usable_bytes >> 20,
                ath_page_free_count(), ath_page_total_count());
}

static void test_exit(const struct ath_boot_info *info)
{
    (void)info;
    const char *value = ath_cmdline_get("athanor.exit_code");
    uint64_t code = 0;
    if (value && !ath_parse_u64(value, &code))
        ath_panic("athanor.exit_code=%s is not a number", value);
    ath_kprintf("[athanor] selftest exit: exiting with code %lu\n", code);
    ath_exit((int)code);
}

/* ---- the table ------------------------------------------------------------- */

static const struct selftest {
    const char *name;
    test_fn *run;
    const char *expect;
} selftests[] = {
    { "pagefault",     test_pagefault,     "page fault on an unmapped address, panic status" },
    { "nullderef",     test_nullderef,     "page fault at address 0, panic status" },
    { "wx",            test_wx,            "W^X panic, panic status" },
    { "codefault",     test_codefault,     "invalid instruction in module fakemod, panic status" },
    { "divzero",       test_divzero,       "divide error, panic status (ok where division does not trap)" },
    { "stackoverflow", test_stackoverflow, "page fault on the kernel stack guard, reported from another stack" },
    { "nested",        test_nested,        "nested exception (a fault in the fault hook), panic status" },
    { "hookoverflow",  test_hookoverflow,  "the exception handler's stack overflows: reported, panic status" },
    { "panic",         test_panic,         "panic, panic status" },
    { "interrupts",    test_interrupt_stack, "ok: interrupts taken while the stack pointer is on an unmapped page" },
    { "kcall",         test_kcall,         "ok: a kernel-call entry moves to the kernel stack and keeps every argument" },
    { "switch",        test_switch,        "ok: context switches into a fresh stack and back" },
    { "redirect",      test_redirect,      "ok: a fault resumed as a call on a kernel stack with its vmctx, code and pc" },
    { "alloc",         test_alloc,         "ok" },
    { "paging",        test_paging,        "ok" },
    { "bootinfo",      test_bootinfo,      "ok, boot information printed" },
    { "exit",          test_exit,          "exit with athanor.exit_code=N (default 0)" },
};

#define RUN_MAX 16

static const struct selftest *find_selftest(const char *name, size_t length)
{
    for (unsigned i = 0; i < ATH_ARRAY_SIZE(selftests); i++)
        if (strlen(selftests[i].name) == length && strncmp(selftests[i].name, name, length) == 0)
            return &selftests[i];
    return NULL;
}

void ath_selftest_run(const char *names, const struct ath_boot_info *info)
{
    /* Resolve every name before running anything. */
    const struct selftest *run[RUN_MAX];
    unsigned count = 0;
    for (const char *p = names; ; ) {
        const char *comma = strchr(p, ',');
        size_t length = comma ? (size_t)(comma - p) : strlen(p);
        const struct selftest *t = find_selftest(p, length);
        if (!t || count == RUN_MAX) {
            ath_kprintf("[athanor] selftest: %s '%.*s'; known:", t ? "too many tests at" : "no test named",
                        (int)length, p);
            for (unsigned i = 0; i < ATH_ARRAY_SIZE(selftests); i++)
                ath_kprintf(" %s", selftests[i].name);
            ath_kprintf("\n");
            ath_fail(ATH_FAIL_BOOT);
        }
        run[count++] = t;
        if (!comma)
            break;
        p = comma + 1;
    }

    for (unsigned i = 0; i < count; i++) {
        current = run[i]->name;
        detail[0] = '\0';
        ath_kprintf("[athanor] selftest %s: expect %s\n", current, run[i]->expect);
        run[i]->run(info);
        ath_kprintf("[athanor] selftest %s: ok%s%s\n", current, detail[0] ? ", " : "", detail);
    }
    ath_exit(0);
}
