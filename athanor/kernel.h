/*
 * Athanor internal interfaces: what the kernel's own files call in each
 * other, grouped by file (xv6's defs.h). The public API is athanor.h; this
 * header adds the arch interface every arch/<arch>/ folder implements and
 * the boot-time entry points.
 */
#ifndef ATH_KERNEL_H
#define ATH_KERNEL_H

#include "athanor.h"

#define ATH_ALIGN_DOWN(x, a) ((x) & ~((uint64_t)(a) - 1))
#define ATH_ALIGN_UP(x, a)   ATH_ALIGN_DOWN((x) + (uint64_t)(a) - 1, (a))
#define ATH_ARRAY_SIZE(a)    (sizeof(a) / sizeof((a)[0]))
#define ATH_MIN(a, b)        ((a) < (b) ? (a) : (b))
#define ATH_MAX(a, b)        ((a) > (b) ? (a) : (b))

/* Linker script symbols (arch/<arch>/kernel.ld), all page aligned:
 * [kernel_start, text_end) code, [rodata_start, rodata_end) read-only data,
 * [data_start, kernel_end) data and bss. */
extern char __kernel_start[], __text_end[], __rodata_start[], __rodata_end[];
extern char __data_start[], __kernel_end[];

/* A kernel stack: [guard, guard + page) is left unmapped, the stack itself
 * is [bottom, top). */
struct ath_kstack {
    const char *name;
    uintptr_t guard, bottom, top;
};

/* ---- arch/<arch>: the interface each architecture provides ------------- */
/* Serial console, descriptor tables, exception vectors, FPU/SSE, quiet
 * interrupt controllers. First thing ath_main calls. */
void ath_arch_init(void);
void ath_arch_console_putc(char c);
/* Flushes the console and leaves the machine with exit value v (QEMU's
 * debug-exit device on x86); halts forever if that does not end it. */
ATH_NORETURN void ath_arch_exit(unsigned value);
ATH_NORETURN void ath_arch_halt(void);
/* Fills info from the boot loader's handover (magic, info address); on
 * failure returns false with *error set to a static message. */
bool ath_arch_boot_info(uint32_t magic, uintptr_t info_addr, struct ath_boot_info *info,
                        const char **error);
/* Runs fn(arg) with the stack pointer at top and stores its result (arch/<arch>/stack.S). */
void ath_arch_call_on_stack(uintptr_t top, uint32_t (*fn)(void *), void *arg, uint32_t *result);
/* The kernel stacks (boot stack, exception stacks). */
const struct ath_kstack *ath_arch_kstacks(unsigned *count);

/* Page tables. Callers (vm.c) have validated alignment and flags.
 * paging_begin starts an empty set of tables that the calls below edit
 * while the boot loader's identity map stays live; paging_activate loads
 * them. Until then table pages must come from memory the boot map covers. */
void ath_arch_paging_begin(void);
void ath_arch_paging_activate(void);
int ath_arch_map(uintptr_t virt, uint64_t phys, size_t size, unsigned flags, bool owned);
int ath_arch_unmap(uintptr_t virt, size_t size);
int ath_arch_protect(uintptr_t virt, size_t size, unsigned flags);
/* The mapping of virt: its physical address, ATH_VM_* flags and page size. */
bool ath_arch_translate(uintptr_t virt, uint64_t *phys, unsigned *flags, size_t *page_size);

/* ---- cmdline.c --------------------------------------------------------- */
void ath_cmdline_parse(const char *cmdline);

/* ---- exit.c ------------------------------------------------------------ */
bool ath_is_panicking(void);

/* ---- palloc.c ---------------------------------------------------------- */
/* Builds the allocator from the boot info; fails the boot if impossible. */
void ath_page_alloc_init(const struct ath_boot_info *info);
/* The ranges the allocator never hands out (for tests and fault reports). */
const struct ath_range *ath_page_exclusions(unsigned *count);

/* ---- vm.c -------------------------------------------------------------- */
/* Builds the final page tables: RAM, modules, kernel sections. */
void ath_vm_init(const struct ath_boot_info *info);
uintptr_t ath_vm_window_base(void);

/* ---- fault.c ----------------------------------------------------------- */
/* Prints " in module NAME+0xOFF", " in kernel" or nothing for addr. */
void ath_fault_describe_address(uintptr_t addr);
/* The kernel stack whose guard page holds addr, or NULL. */
const struct ath_kstack *ath_fault_guard_stack(uintptr_t addr);

/* ---- selftest.c -------------------------------------------------------- */
/* Runs the named in-kernel test; never returns. */
ATH_NORETURN void ath_selftest_run(const char *name, const struct ath_boot_info *info);

/* ---- main.c ------------------------------------------------------------ */
void ath_main(uint32_t magic, uintptr_t info_addr);

#endif
