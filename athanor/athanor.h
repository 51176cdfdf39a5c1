/*
 * Athanor public kernel API: what the appliance loader (appliance.c and
 * whatever it grows into) and the crypto code may call.
 *
 * Model: one address space, ring 0 only, one CPU. Physical RAM is
 * identity-mapped (virtual == physical), so a physical address returned by
 * the page allocator can be dereferenced directly. Interrupts are off until
 * the appliance's tasks start (docs/runtime.md); interrupt handlers then
 * touch only the scheduler's and the devices' state, never what is declared
 * here. Nothing here takes locks: kernel code is never preempted.
 *
 * Two error channels (STYLE.md): calls that can fail for a reason the caller
 * can handle return an enum ath_error (0 = ATH_OK, negative = error); a
 * broken invariant (W^X, a double free, a misaligned argument) is a bug in
 * the caller and panics with file and line.
 */
#ifndef ATHANOR_H
#define ATHANOR_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "param.h"
#include "exit_protocol.h"
#include "machine.h"   /* arch/<arch>/machine.h: struct ath_trap_frame, struct ath_jmp_buf */

#define ATH_NORETURN    __attribute__((noreturn))
#define ATH_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* ---- Ending the appliance (exit.c) -------------------------------------
 * The exit protocol (enum ath_failure, the exit values, the last line) is formats/exit.toml,
 * generated into exit_protocol.h; docs/boot.md has the table. */
/* Ends the appliance with exit code code & 0xff (as POSIX exit does). */
ATH_NORETURN void ath_exit(int code);
/* Ends with a kernel failure status; prints "[athanor] failed: <what>". */
ATH_NORETURN void ath_fail(enum ath_failure failure);
const char *ath_failure_name(enum ath_failure failure);

/* Prints "[athanor] panic: FILE:LINE: message" and fails with ATH_FAIL_PANIC. */
#define ath_panic(...) ath_panic_at(__FILE__, __LINE__, __VA_ARGS__)
#define ath_assert(cond) \
    do { if (!(cond)) ath_panic("assertion failed: %s", #cond); } while (0)
ATH_NORETURN void ath_panic_at(const char *file, int line, const char *fmt, ...) ATH_PRINTF(3, 4);

/* ---- Console (kprintf.c) ------------------------------------------------
 * Formats: %s %c %d %i %u %x %X %p %%, length l ll z, flags '-' and '0',
 * width (digits or *), precision (.N or .*: digits for integers, maximum
 * length for %s). Output goes to the serial console (COM1 on x86). */
void ath_kprintf(const char *fmt, ...) ATH_PRINTF(1, 2);
void ath_vkprintf(const char *fmt, va_list ap);
/* Like C's snprintf: always NUL-terminates when size > 0 and returns the
 * length the full output would have had. */
int ath_snprintf(char *buf, size_t size, const char *fmt, ...) ATH_PRINTF(3, 4);
int ath_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
void ath_console_write(const char *s, size_t n);

/* ---- Errors ------------------------------------------------------------- */
enum ath_error {
    ATH_OK             = 0,
    ATH_ERR_INVALID    = -1,  /* argument out of range or not allowed here */
    ATH_ERR_NOMEM      = -2,  /* no physical memory left */
    ATH_ERR_NOT_MAPPED = -3,  /* part of the range is not mapped */
    ATH_ERR_MAPPED     = -4,  /* part of the range is already mapped */
    ATH_ERR_FULL       = -5,  /* a fixed-size kernel table is full */
    ATH_ERR_NOT_FOUND  = -6,  /* no such reservation or region */
};
const char *ath_error_name(int error);

/* ---- Boot information (filled by arch code from multiboot1 or 2) -------- */
enum ath_boot_protocol { ATH_BOOT_MULTIBOOT1 = 1, ATH_BOOT_MULTIBOOT2 = 2, ATH_BOOT_PVH = 3 };

enum ath_mem_type {
    ATH_MEM_USABLE       = 1,
    ATH_MEM_RESERVED     = 2,
    ATH_MEM_ACPI_RECLAIM = 3,
    ATH_MEM_ACPI_NVS     = 4,
    ATH_MEM_BAD          = 5,
};

struct ath_range {              /* [start, start + size) */
    uint64_t start;
    uint64_t size;
};

struct ath_mem_range {
    uint64_t start;
    uint64_t size;
    enum ath_mem_type type;
};

struct ath_boot_module {
    uint64_t start;             /* physical (== virtual) address */
    uint64_t size;              /* bytes */
    char string[ATH_MODULE_STRING_MAX];   /* the boot loader's module string, truncated */
};

/*
 * Everything the kernel needs from the boot loader, copied out of the
 * multiboot structures before the page allocator goes live. The memory map
 * is sorted by start, adjacent ranges of one type are merged; ranges may
 * still overlap (the allocator treats non-usable as winning).
 */
struct ath_boot_info {
    enum ath_boot_protocol protocol;
    char cmdline[ATH_CMDLINE_MAX];
    char bootloader[ATH_BOOTLOADER_NAME_MAX];

    struct ath_mem_range mem[ATH_MEM_RANGES_MAX];
    unsigned mem_count;
    uint64_t usable_bytes;      /* sum of usable ranges */
    uint64_t phys_end;          /* end of the highest range of any type */

    struct ath_boot_module modules[ATH_MODULES_MAX];
    unsigned module_count;

    /* Memory the boot loader's structures occupy (multiboot info, memory
     * map, strings): never handed out by the page allocator. */
    struct ath_range reserved[ATH_BOOT_RESERVED_MAX];
    unsigned reserved_count;

    /* Copy of the ACPI RSDP if the boot loader passed one (multiboot2
     * under UEFI does; BIOS users scan 0xe0000..0xfffff themselves). */
    uint8_t acpi_rsdp[36];
    unsigned acpi_rsdp_size;    /* 0: none, 20: ACPI 1.0, 36: ACPI 2.0+ */
};

const char *ath_boot_protocol_name(enum ath_boot_protocol protocol);

/* Implemented by the loader (appliance.c). Must not return: it ends the
 * appliance with ath_exit() or ath_fail(). */
void ath_appliance_boot(const struct ath_boot_info *info);

/* ---- Kernel command line (cmdline.c) ------------------------------------
 * Words separated by spaces; "key=value" or a bare "key" (value ""). The
 * first word QEMU/GRUB pass (the kernel path) is a bare key like any other. */
const char *ath_cmdline_get(const char *key);   /* NULL if absent */
/* The n-th (from 0) word with that key, in command-line order (a key given several times, such
 * as virtio_mmio.device); NULL past the last. */
const char *ath_cmdline_get_nth(const char *key, unsigned n);

/* ---- Physical pages (palloc.c) ------------------------------------------
 * 4 KiB pages of usable RAM, never: page 0, the kernel image, the boot
 * loader's structures, a module, a reserved/ACPI/bad range. Pages come back
 * uninitialised. 0 is the failure value (page 0 is never handed out). */
uint64_t ath_page_alloc(void);
uint64_t ath_page_alloc_contiguous(size_t count);   /* count pages, first page address */
void ath_page_free(uint64_t phys);
void ath_page_free_contiguous(uint64_t phys, size_t count);
size_t ath_page_free_count(void);
size_t ath_page_total_count(void);                   /* pages the allocator manages */
/* True if [start, start + size) touches memory the allocator never hands out. */
bool ath_page_is_excluded(uint64_t start, uint64_t size);

/* ---- Virtual memory (vm.c) ----------------------------------------------
 * Flags for a mapping. READ is required for any mapping. W^X: EXEC with
 * WRITE panics. NOCACHE makes the mapping uncached (MMIO).
 * After boot: usable RAM and modules are mapped READ|WRITE, the kernel's
 * .text READ|EXEC, .rodata READ, page 0 and stack guard pages unmapped.
 * All calls take page-aligned addresses and sizes (misalignment panics) and
 * invalidate the TLB for what they change. */
enum {
    ATH_VM_READ    = 1u << 0,
    ATH_VM_WRITE   = 1u << 1,
    ATH_VM_EXEC    = 1u << 2,
    ATH_VM_NOCACHE = 1u << 3,
};

/* Maps [virt, virt+size) to [phys, phys+size), replacing what was there
 * (pages that ath_vm_map_fresh allocated are freed). On ATH_ERR_NOMEM the
 * range may be partly mapped: unmap it. */
int ath_vm_map(uintptr_t virt, uint64_t phys, size_t size, unsigned flags);
/* Unmaps whatever is mapped in the range (holes are fine); frees pages
 * that ath_vm_map_fresh allocated. */
int ath_vm_unmap(uintptr_t virt, size_t size);
/* Changes the permissions of a fully mapped range (else ATH_ERR_NOT_MAPPED,
 * nothing changed). */
int ath_vm_protect(uintptr_t virt, size_t size, unsigned flags);
/* Replaces the 4 KiB page mapping virt (which must be one) by phys, with the same flags, owned
 * (freed when unmapped) or not, and returns the frame it mapped in *previous, never freed:
 * the caller keeps it. ATH_ERR_NOT_MAPPED if virt is not a 4 KiB page. */
int ath_vm_swap_page(uintptr_t virt, uint64_t phys, bool owned, uint64_t *previous);
/* The mapping of one address: true and *phys, *flags if mapped. */
bool ath_vm_query(uintptr_t virt, uint64_t *phys, unsigned *flags);

/* Reserves size bytes (rounded up to 2 MiB) of address space above all
 * physical memory, nothing mapped, 2 MiB aligned, at least 2 MiB of unmapped
 * gap to the next reservation. Returns the base, or 0 if out of space. */
uintptr_t ath_vm_reserve(size_t size);
/* Backs [virt, virt+size), inside one reservation and not mapped yet, with
 * fresh zeroed pages. All or nothing: ATH_ERR_NOMEM leaves nothing mapped. */
int ath_vm_map_fresh(uintptr_t virt, size_t size, unsigned flags);
/* Unmaps and frees everything in the reservation starting at base and
 * returns the address space. */
int ath_vm_release(uintptr_t base);
/* The reservation containing addr: true and its [*base, *base + *size). */
bool ath_vm_reservation_of(uintptr_t addr, uintptr_t *base, size_t *size);

/* ---- Faults (fault.c, arch/<arch>/trap.c) -------------------------------
 * Code regions name ranges of executable memory (each module's code) so
 * that an exception report says "in module NAME". The name is copied. */
struct ath_code_region {
    uintptr_t start, end;       /* [start, end) */
    char name[ATH_CODE_REGION_NAME_MAX];
};
int ath_code_region_add(uintptr_t start, uintptr_t end, const char *name);
int ath_code_region_remove(uintptr_t start);
const struct ath_code_region *ath_code_region_find(uintptr_t addr);   /* NULL if none */

/*
 * Called first for every exception except NMI, double fault and machine
 * check, before anything is printed. Returning true resumes execution with
 * the (possibly modified) frame: the hook may change the PC, the stack
 * pointer and any general register, e.g. with ath_trap_resume_longjmp().
 * Returning false reports the exception and fails with ATH_FAIL_PANIC.
 * The hook runs on the exception's stack (an IST stack for page faults) with
 * interrupts off; an exception inside the hook is a nested exception and
 * panics. Set it to NULL to remove it.
 */
extern bool (*ath_fault_hook)(struct ath_trap_frame *frame);

enum ath_trap_kind {
    ATH_TRAP_DIVIDE,            /* integer divide by zero or overflow */
    ATH_TRAP_INVALID_OPCODE,    /* ud2: what compiled code uses for explicit traps */
    ATH_TRAP_PAGE_FAULT,
    ATH_TRAP_PROTECTION,        /* general protection, stack segment */
    ATH_TRAP_BREAKPOINT,
    ATH_TRAP_FLOATING_POINT,    /* x87 or SIMD floating-point exception */
    ATH_TRAP_OTHER,
};

/* Arch-neutral views of a trap frame (arch/<arch>/trap.c). */
enum ath_trap_kind ath_trap_kind(const struct ath_trap_frame *frame);
uintptr_t ath_trap_pc(const struct ath_trap_frame *frame);
uintptr_t ath_trap_sp(const struct ath_trap_frame *frame);
uintptr_t ath_trap_fault_address(const struct ath_trap_frame *frame);  /* page faults; else 0 */
bool ath_trap_fault_was_write(const struct ath_trap_frame *frame);
/* Rewrites the frame so that resuming it returns value from the
 * ath_setjmp() that filled buf (value 0 becomes 1, as with longjmp). */
void ath_trap_resume_longjmp(struct ath_trap_frame *frame, const struct ath_jmp_buf *buf, int value);

/* setjmp/longjmp for kernel code (arch/<arch>/jump.S). Saves only the
 * callee-saved general registers, the stack pointer and the PC. */
int ath_setjmp(struct ath_jmp_buf *buf) __attribute__((returns_twice));
ATH_NORETURN void ath_longjmp(const struct ath_jmp_buf *buf, int value);

/* ---- Kernel image ------------------------------------------------------- */
extern const unsigned char ath_signing_pubkey[32];   /* build/pubkey.c, from PUBKEY= */

/* ---- Freestanding C library (lib.c) ------------------------------------- */
void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
size_t strnlen(const char *s, size_t max);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);
/* Copies at most size-1 bytes and NUL-terminates (size > 0); returns strlen(src). */
size_t ath_strlcpy(char *dst, const char *src, size_t size);
/* Parses a decimal or 0x-prefixed hexadecimal unsigned number, all of s. */
bool ath_parse_u64(const char *s, uint64_t *out);

#endif
