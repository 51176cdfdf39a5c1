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
/* A byte received on the console, if one is waiting (never blocks). */
bool ath_arch_console_getc(char *c);
/* QEMU's isa-debug-exit with v (QEMU exits with status v << 1 | 1); returns where the machine
 * has no such device. ath_arch_exit: that, then halt (for a fault while panicking). */
void ath_arch_debug_exit(unsigned value);
ATH_NORETURN void ath_arch_exit(unsigned value);
/* Reset the machine by the means the architecture has (x86: 0xcf9, the i8042, a triple fault). */
ATH_NORETURN void ath_arch_reset(void);
/* The architecture's own way to stop a virtual machine when the firmware (ACPI) gives none:
 * x86: the i8042's reset pulse, which Firecracker takes as the end of the VM. Returns if it
 * does not work. */
void ath_arch_power_off(void);
ATH_NORETURN void ath_arch_halt(void);
/* Fills info from the boot loader's handover (magic, info address); on
 * failure returns false with *error set to a static message. */
bool ath_arch_boot_info(uint32_t magic, uintptr_t info_addr, struct ath_boot_info *info,
                        const char **error);
/* The kernel stacks (boot stack, exception stacks). */
const struct ath_kstack *ath_arch_kstacks(unsigned *count);

/* Interrupts (arch/<arch>/interrupt.c). Kernel C code runs with interrupts on while a task
 * runs and off in the scheduler; module code always runs with them on (docs/runtime.md).
 * interrupts_init sets up the interrupt controllers and the tick timer (tick_hz), calibrates
 * the cycle counter and returns with interrupts still off. The arch calls back
 * ath_sched_tick() for every tick and ath_device_interrupt() for every device line, after
 * masking that line and acknowledging the controller, with interrupts off. */
void ath_arch_interrupts_init(unsigned tick_hz);
/* The tick every min_us..max_us microseconds (a random interval each time when they differ)
 * instead of tick_hz: the interrupt-storm mode of tests. 2 <= min_us <= max_us <= 50000. */
void ath_arch_tick_storm(unsigned min_us, unsigned max_us);
/* Masks or unmasks an interrupt source: a legacy line (0..15), or a device source routed to an
 * I/O APIC input (ath_arch_irq_route_gsi). MSI sources are masked at the device (pci.c). */
void ath_arch_irq_mask(unsigned source);
void ath_arch_irq_unmask(unsigned source);
/* Routes global system interrupt `gsi` (an I/O APIC input: a PCI function's INTx, as the
 * firmware wired it) to device source `source` (16..ATH_IRQ_SOURCES-1), masked, level-triggered
 * unless ACPI says otherwise. False when no I/O APIC has that input. */
bool ath_arch_irq_route_gsi(unsigned source, unsigned gsi, bool active_high);
/* The message (address, data) a device writes to raise device source `source` (MSI, MSI-X). */
void ath_arch_msi_message(unsigned source, uint64_t *address, uint32_t *data);
uint64_t ath_arch_irq_save(void);           /* interrupts off; returns the previous state */
void ath_arch_irq_restore(uint64_t state);
void ath_arch_irq_enable(void);
/* Halts until an interrupt has been taken; call with interrupts off, returns with them off. */
void ath_arch_idle(void);

/* Time: a cycle counter that never goes back, and its calibrated rate. */
uint64_t ath_arch_cycles(void);
uint64_t ath_arch_cycles_per_second(void);
/* The wall clock (a real-time clock chip), in seconds since 1970-01-01 00:00 UTC; 0 if the
 * machine has none that reads sensibly. Slow (port I/O, waits out an update): read it once. */
uint64_t ath_arch_wall_clock(void);

/* The kernel stack code entered from module code runs on (kernel calls, interrupts, faults):
 * the running task's; NULL: the boot stack, the scheduler's. Interrupts off. */
void ath_arch_use_kernel_stack(const struct ath_kstack *stack);

/* Context switch (arch/<arch>/switch.S). Saves the callee-saved registers on the current stack,
 * stores the stack pointer in *save, loads next and returns into what it saved. Only general
 * registers: a switch happens at a call boundary, where compiled code keeps no value in vector
 * registers (docs/abi.md); a preempted task's vector state is on its stack, saved by the
 * interrupt entry. stack_init prepares a fresh stack whose first switch runs entry(arg). */
void ath_arch_switch(uint64_t *save, uint64_t next);
uint64_t ath_arch_stack_init(uintptr_t top, void (*entry)(void *), void *arg);

/* Adds v to *p and returns the old value in one instruction: atomic with respect to interrupts
 * on this CPU (not to other CPUs; there are none), and much cheaper than a locked one under
 * emulation. */
uint64_t ath_arch_fetch_add_local(uint64_t *p, uint64_t v);

/* Port I/O (width 1, 2 or 4 bytes) and the CPU's random number instruction. */
uint32_t ath_arch_port_in(uint16_t port, unsigned width);
void ath_arch_port_out(uint16_t port, unsigned width, uint32_t value);
/* Which instruction ath_arch_random64 uses ("RDRAND", "RDSEED"), or NULL if the CPU has none. */
const char *ath_arch_random_source(void);
bool ath_arch_random64(uint64_t *out);

/* Page tables. Callers (vm.c) have validated alignment and flags.
 * paging_begin starts an empty set of tables that the calls below edit
 * while the boot loader's identity map stays live; paging_activate loads
 * them. Until then table pages must come from memory the boot map covers. */
void ath_arch_paging_begin(void);
void ath_arch_paging_activate(void);
int ath_arch_map(uintptr_t virt, uint64_t phys, size_t size, unsigned flags, bool owned);
int ath_arch_unmap(uintptr_t virt, size_t size);
int ath_arch_protect(uintptr_t virt, size_t size, unsigned flags);
/* Whether the 4 KiB page at virt was written since the last call (the CPU's dirty bit), and
 * clears it. False for pages not mapped with 4 KiB pages. */
bool ath_arch_take_dirty(uintptr_t virt);
/* The mapping of virt: its physical address, ATH_VM_* flags and page size. */
bool ath_arch_translate(uintptr_t virt, uint64_t *phys, unsigned *flags, size_t *page_size);

/* Called by the arch with interrupts off (task.c, device.c). */
void ath_sched_tick(struct ath_trap_frame *frame);
/* Ticks taken since the tick started (task.c). */
uint64_t ath_sched_ticks(void);
/* An interrupt source fired: a legacy line (masked and acknowledged by the arch), or a device
 * source (an I/O APIC input masked, the local APIC acknowledged; an MSI not masked yet). */
void ath_device_interrupt(unsigned source, struct ath_trap_frame *frame);

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

/* ---- selftest.c -------------------------------------------------------- */
/* Runs the named in-kernel test; never returns. */
ATH_NORETURN void ath_selftest_run(const char *name, const struct ath_boot_info *info);

/* ---- main.c ------------------------------------------------------------ */
void ath_main(uint32_t magic, uintptr_t info_addr);

#endif
