/*
 * Athanor internal interfaces: what the kernel's own files call in each
 * other, grouped by file (xv6's defs.h). The public API is athanor.h; the
 * interface every arch/<arch>/ folder implements is arch.h.
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

#include "arch.h"

/* ---- acpi.c ------------------------------------------------------------ */
/* What the kernel takes from ACPI (the MCFG and MADT tables); all zero when there is none. */
struct ath_acpi_override {             /* an ISA line wired to another I/O APIC input */
    bool present;
    uint32_t gsi;
    uint16_t flags;                    /* MPS INTI flags: bits 0-1 polarity, 2-3 trigger */
};
/* A Generic Address Structure: a register in memory (space 0) or I/O ports (space 1). */
enum { ATH_ACPI_SPACE_MEMORY = 0, ATH_ACPI_SPACE_IO = 1 };
struct ath_acpi_register {
    uint8_t space, bit_width, bit_offset, access_size;
    uint64_t address;                  /* 0: absent */
};
struct ath_acpi {
    bool searched;                     /* ath_acpi_init has run */
    bool found;                        /* an RSDP and a root table were found */
    /* FADT: how to power off and reset. */
    bool fadt;
    bool hardware_reduced;             /* no PM1 blocks: sleep_control instead */
    struct ath_acpi_register pm1a_control, pm1b_control, sleep_control, reset;
    uint8_t reset_value;
    uint32_t smi_command;              /* I/O port; 0: ACPI mode is always on */
    uint8_t acpi_enable;               /* written to smi_command to enter ACPI mode */
    bool s5;                           /* \_S5 found in the DSDT or an SSDT */
    uint8_t s5_type_a, s5_type_b;      /* SLP_TYPa and SLP_TYPb of \_S5 */
    /* virtio-mmio devices the DSDT declares (_HID "LNRO0005": QEMU microvm) */
    struct ath_acpi_virtio_mmio { uint64_t base; uint32_t size, gsi; } virtio_mmio[ATH_VIRTIO_MMIO_MAX];
    unsigned virtio_mmio_count;
    bool ecam;                         /* PCI configuration space, memory-mapped (segment 0) */
    uint64_t ecam_base;
    uint8_t ecam_bus_first, ecam_bus_last;
    struct { uint32_t address, gsi_base; } ioapics[4];
    unsigned ioapic_count;
    struct ath_acpi_override isa[16];
};
/* Reads the tables once (boot, before interrupts and PCI). */
void ath_acpi_init(const struct ath_boot_info *info);
const struct ath_acpi *ath_acpi(void);
/* Enter S5 (soft off) / reset through the FADT's registers. False when the firmware gives no
 * way; true when the request was written (the machine may still take a moment to stop). */
bool ath_acpi_power_off(void);
bool ath_acpi_reset(void);

/* ---- cmdline.c --------------------------------------------------------- */
void ath_cmdline_parse(const char *cmdline);

/* ---- exit.c ------------------------------------------------------------ */
bool ath_is_panicking(void);
/* Called once by ath_fail before a panic or appliance failure ends the run (trace.c sets it). */
extern void (*ath_failure_hook)(enum ath_failure failure);

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
/* The stack whose guard page holds addr (the kernel's own, or a task's), or NULL. */
const struct ath_kstack *ath_fault_guard_stack(uintptr_t addr);
/* Registers a task's stack for that question; stacks live as long as the kernel. */
void ath_fault_add_stack(const struct ath_kstack *stack);
/* True if the 8 bytes at addr can be read without faulting (mapped, aligned). */
bool ath_fault_readable_u64(uintptr_t addr);
/* Prints "[athanor]   backtrace: RET ..." along the frame-pointer chain from fp: each frame
 * record is {the caller's frame pointer, the return address} at fp, as both ports keep it
 * (x86-64's rbp, AArch64's x29); stops at an unreadable or non-increasing record. */
void ath_fault_print_backtrace(uintptr_t fp);
/* The name of the kernel or task stack the caller runs on ("an unknown stack"). */
const char *ath_fault_current_stack_name(void);

/* ---- selftest.c -------------------------------------------------------- */
/* Runs the named in-kernel test; never returns. */
ATH_NORETURN void ath_selftest_run(const char *name, const struct ath_boot_info *info);

#endif
