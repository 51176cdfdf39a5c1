/*
 * The architecture boundary: everything a port (arch/<arch>/) provides, and the only place the
 * core kernel learns about the machine. No core file names a register or an instruction; a new
 * port (RISC-V, ...) is a folder implementing this list, plus:
 *
 *   arch/<arch>/machine.h  struct ath_trap_frame and struct ath_jmp_buf (athanor.h exposes
 *                          them to fault hooks, which use the ath_trap_* accessors only), and
 *                          the constants below marked "machine.h"
 *   arch/<arch>/kernel.ld  the linker script, with kernel.h's section symbols
 *   athanor.h's ath_trap_kind/pc/sp/fault_address/fault_was_write/resume_longjmp,
 *   ath_setjmp/ath_longjmp and the ath_fault_hook variable (arch/<arch>/trap.c, jump.S)
 *   the kernel-call entries (ath_arch_kcall_stubs, below) and the runtime's entry trampoline
 *   (alkahest/runtime/enter_<arch>.S)
 *
 * machine.h constants:
 *   ATH_ARCH_NAME                      "x86_64", "aarch64": what boot messages and images say
 *   ATH_ARCH_OBJECT_TARGET             ALK_OBJ_TARGET_X86_64, ...: the machine as objects and
 *                                      images record it (formats/object.toml's target)
 *   ATH_ARCH_INTEGER_ARGUMENT_REGISTERS   integer-class arguments the C convention of compiled
 *   ATH_ARCH_FLOAT_ARGUMENT_REGISTERS     code (docs/abi.md) passes in registers (the vmctx is one)
 *   ATH_ARCH_DIVIDE_TRAPS              1 if an integer division by zero traps (x86-64), else 0
 *   ATH_ARCH_RANDOM_INSTRUCTIONS       "RDRAND or RDSEED", "RNDR": for messages
 *   ATH_ARCH_BIOS_AREA                 1 if firmware may leave ACPI's RSDP in the PC BIOS area
 *                                      (0xe0000..0xfffff) for acpi.c to scan (x86-64), else 0
 *
 * docs/ports.md walks through the list and what each port does for each entry.
 */
#ifndef ATH_ARCH_H
#define ATH_ARCH_H

#include "athanor.h"

/* A kernel stack: [guard, guard + page) is left unmapped, the stack itself
 * is [bottom, top). */
struct ath_kstack {
    const char *name;
    uintptr_t guard, bottom, top;
};

/* ---- Boot entry and early console ---------------------------------------------------------
 * The port's entry (boot.S) sets up a stack and whatever paging the CPU needs to run C, and
 * calls ath_main(magic, info_addr) with interrupts off, RAM identity-mapped. */
void ath_main(uint32_t magic, uintptr_t info_addr);
/* Console, descriptor tables or exception vectors, FPU/SIMD, quiet interrupt controllers.
 * First thing ath_main calls. */
void ath_arch_init(void);
void ath_arch_console_putc(char c);
/* A byte received on the console, if one is waiting (never blocks). */
bool ath_arch_console_getc(char *c);
/* Fills info from the boot loader's handover (magic, info address: multiboot on x86-64, the
 * device tree on AArch64); on failure returns false with *error set to a static message. */
bool ath_arch_boot_info(uint32_t magic, uintptr_t info_addr, struct ath_boot_info *info,
                        const char **error);
/* The kernel stacks (boot stack, exception stacks). */
const struct ath_kstack *ath_arch_kstacks(unsigned *count);

/* ---- Power off and reset (exit.c decides which, docs/boot.md) ----------------------------------
 * QEMU's isa-debug-exit with v (QEMU exits with status v << 1 | 1); returns where the machine
 * has no such device (AArch64: never one). ath_arch_exit: that, then the architecture's power
 * off, then halt (for a fault while panicking). */
void ath_arch_debug_exit(unsigned value);
ATH_NORETURN void ath_arch_exit(unsigned value);
/* Reset the machine by the means the architecture has (x86: 0xcf9, the i8042, a triple fault;
 * AArch64: PSCI SYSTEM_RESET). */
ATH_NORETURN void ath_arch_reset(void);
/* The architecture's own way to stop a virtual machine when the firmware (ACPI) gives none:
 * x86: the i8042's reset pulse, which Firecracker takes as the end of the VM; AArch64: PSCI
 * SYSTEM_OFF. Returns if it does not work. */
void ath_arch_power_off(void);
ATH_NORETURN void ath_arch_halt(void);

/* ---- Interrupt controller and timer (arch/<arch>/interrupt.c) ------------------------------
 * Kernel C code runs with interrupts on while a task runs and off in the scheduler; module
 * code always runs with them on (docs/runtime.md). interrupts_init sets up the interrupt
 * controllers and the tick timer (tick_hz), calibrates the cycle counter and returns with
 * interrupts still off. The arch calls back ath_sched_tick() for every tick and
 * ath_device_interrupt() for every device line, after masking that line and acknowledging the
 * controller, with interrupts off. */
void ath_arch_interrupts_init(unsigned tick_hz);
/* The tick every min_us..max_us microseconds (a random interval each time when they differ)
 * instead of tick_hz: the interrupt-storm mode of tests. 2 <= min_us <= max_us <= 50000. */
void ath_arch_tick_storm(unsigned min_us, unsigned max_us);
/* Masks or unmasks an interrupt source: a legacy line (0..15: x86's ISA lines; AArch64's
 * device-tree shared interrupts 0..15), or a device source routed to an I/O APIC input or a
 * GIC shared interrupt (ath_arch_irq_route_gsi). MSI sources are masked at the device (pci.c). */
void ath_arch_irq_mask(unsigned source);
void ath_arch_irq_unmask(unsigned source);
/* Routes global system interrupt `gsi` (x86: an I/O APIC input, a PCI function's INTx as the
 * firmware wired it; AArch64: a GIC shared interrupt, the device tree's number + 32) to device
 * source `source` (16..ATH_IRQ_SOURCES-1), masked, level-triggered unless ACPI says otherwise,
 * active high or low (the GIC takes only high: the device tree's interrupt map says how a
 * low line reaches it). False when the controller has no such input. */
bool ath_arch_irq_route_gsi(unsigned source, unsigned gsi, bool active_high);
/* The message (address, data) a device writes to raise device source `source` (MSI, MSI-X). */
void ath_arch_msi_message(unsigned source, uint64_t *address, uint32_t *data);
uint64_t ath_arch_irq_save(void);           /* interrupts off; returns the previous state */
void ath_arch_irq_restore(uint64_t state);
void ath_arch_irq_enable(void);
/* Halts until an interrupt has been taken; call with interrupts off, returns with them off. */
void ath_arch_idle(void);

/* Called by the arch with interrupts off (task.c, device.c). */
void ath_sched_tick(struct ath_trap_frame *frame);
/* Ticks taken since the tick started (task.c). */
uint64_t ath_sched_ticks(void);
/* An interrupt source fired: a legacy line (masked and acknowledged by the arch), or a device
 * source (an I/O APIC input masked, the local APIC acknowledged; an MSI not masked yet). */
void ath_device_interrupt(unsigned source, struct ath_trap_frame *frame);

/* ---- Cycle counter and clocks ------------------------------------------------------------- */
/* A cycle counter that never goes back, and its calibrated rate. */
uint64_t ath_arch_cycles(void);
uint64_t ath_arch_cycles_per_second(void);
/* The wall clock (a real-time clock chip), in seconds since 1970-01-01 00:00 UTC; 0 if the
 * machine has none that reads sensibly. Slow (port I/O, waits out an update): read it once. */
uint64_t ath_arch_wall_clock(void);

/* ---- Context switch and stacks (arch/<arch>/switch.S) -------------------------------------- */
/* The kernel stack code entered from module code runs on (kernel calls, interrupts, faults):
 * the running task's; NULL: the boot stack, the scheduler's. Interrupts off. */
void ath_arch_use_kernel_stack(const struct ath_kstack *stack);
/* Saves the callee-saved registers on the current stack, stores the stack pointer in *save,
 * loads next and returns into what it saved. Only general registers: a switch happens at a
 * call boundary, where compiled code keeps no value in vector registers (docs/abi.md); a
 * preempted task's vector state is on its stack, saved by the interrupt entry. stack_init
 * prepares a fresh stack whose first switch runs entry(arg). */
void ath_arch_switch(uint64_t *save, uint64_t next);
uint64_t ath_arch_stack_init(uintptr_t top, void (*entry)(void *), void *arg);

/* Adds v to *p and returns the old value in one instruction (or with interrupts off): atomic
 * with respect to interrupts on this CPU (not to other CPUs; there are none), and much cheaper
 * than a locked one under emulation. */
uint64_t ath_arch_fetch_add_local(uint64_t *p, uint64_t v);

/* ---- Kernel calls (arch/<arch>/kcall.S) -----------------------------------------------------
 * ath_arch_kcall_stubs + ATH_ARCH_KCALL_STUB_SIZE * N is the entry of kernel call N (kcall.c):
 * it moves to the running task's kernel stack, calls ath_kcalls[N].target with the caller's
 * arguments (copying ath_kcalls[N].stack_words words of stack arguments) and returns to the
 * module on its own stack. */
extern const uint8_t ath_arch_kcall_stubs[];
#define ATH_ARCH_KCALL_STUB_SIZE 64
/* Inside a kernel call: the return address into module code that its entry saved at the top
 * of the kernel stack ending at kstack_top, or 0 when the module's stack pointer it saved is
 * not in [stack_bottom, stack_top) (the call did not come from module code). */
uintptr_t ath_arch_kcall_return_address(uintptr_t kstack_top, uintptr_t stack_bottom,
                                        uintptr_t stack_top);

/* ---- Traps: frame access and redirection (arch/<arch>/trap.c) ------------------------------ */
/* Unwinds the running task to its entry frame (alk_unwind, alkahest/runtime/enter_<arch>.S)
 * from a trap path on the task's kernel stack, leaving that stack as a kernel call's return
 * would (AArch64: SP_EL1 back at its top, SP_EL0 selected). jump.S. */
struct alk_entry_frame;
ATH_NORETURN void ath_arch_unwind(struct alk_entry_frame *entry, uint32_t code);
/* The register compiled code keeps its vmctx in (docs/abi.md), as the frame holds it. */
uintptr_t ath_arch_trap_vmctx(const struct ath_trap_frame *frame);
/* Rewrites the frame so that resuming it calls target(vmctx, code, pc) on the kernel stack
 * ending at kstack_top, laid out as a kernel call's entry leaves it (the interrupted stack
 * pointer saved at the top), with the frame's vmctx register and pc; nothing is written to the
 * interrupted stack. target never returns. */
void ath_arch_trap_redirect(struct ath_trap_frame *frame, uintptr_t kstack_top,
                            void (*target)(void *vmctx, uint32_t code, uintptr_t pc),
                            uint32_t code);
/* Whether [pc, end) starts with the instruction compiled code traps with explicitly (ud2 on
 * x86-64, udf on AArch64): a trap stub's call returns to one (docs/abi.md). */
bool ath_arch_is_trap_instruction(const uint8_t *pc, const uint8_t *end);
/* Fills [code, code + size) with that instruction (the self-tests' fake module). */
void ath_arch_fill_trap_instructions(uint8_t *code, size_t size);
/* With interrupts on and the stack pointer on an unmapped page (0x800, inside page 0), spins
 * for `cycles` cycles of ath_arch_cycles(), then restores both: every interrupt taken
 * meanwhile must be taken on a kernel stack (the self-test "interrupts"). */
void ath_arch_spin_on_unmapped_stack(uint64_t cycles);

/* ---- Paging and W^X (arch/pagetable.c, arch/<arch>/pte.h and paging.c) -----------------------
 * Callers (vm.c) have validated alignment and flags; the port must refuse a page both writable
 * and executable (vm.c panics before asking). paging_begin starts an empty set of tables that
 * the calls below edit while the boot loader's identity map stays live; paging_activate loads
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
/* arch/pagetable.c implements the calls above (but begin and activate) for ports with four
 * levels of 512 entries (x86-64, AArch64's 4 KiB granule, RISC-V Sv48), given the entries'
 * encoding in arch/<arch>/pte.h; the port's begin and activate call these. */
void ath_pagetable_begin(void);
uintptr_t ath_pagetable_root(void);
void ath_pagetable_live(void);
/* How many live entries were replaced through an invalid one (break-before-make; the
 * self-test counts them). */
uint64_t ath_pagetable_breaks(void);

/* ---- Platform devices ----------------------------------------------------------------------------
 * The virtio-mmio transports the firmware's description of the machine names (AArch64: the
 * device tree's "virtio,mmio" nodes; x86-64: none here, ACPI's come through acpi.c): fills up
 * to max entries, returns how many. gsi is what ath_arch_irq_route_gsi takes. */
struct ath_arch_mmio_device {
    uint64_t base, size;
    uint32_t gsi;
};
unsigned ath_arch_virtio_mmio_devices(struct ath_arch_mmio_device *out, unsigned max);
/* Whether [first, last] overlaps a device the port drives itself that the firmware placed
 * (AArch64: the GIC's distributor, CPU interface, redistributors): no driver's MMIO grant may
 * touch one (device.c refuses it at boot, naming *kept_first..*kept_last). Fixed addresses
 * (x86's APICs) are manifest/capabilities.toml's reserved ranges instead. */
bool ath_arch_mmio_kept(uint64_t first, uint64_t last, uint64_t *kept_first, uint64_t *kept_last);

/* ---- Machine-specific devices -----------------------------------------------------------------
 * Port I/O (width 1, 2 or 4 bytes; x86 only: other ports read all ones and ignore writes) and
 * the CPU's random number instruction. */
uint32_t ath_arch_port_in(uint16_t port, unsigned width);
void ath_arch_port_out(uint16_t port, unsigned width, uint32_t value);
/* Which instruction ath_arch_random64 uses ("RDRAND", "RDSEED", "RNDR"), or NULL if the CPU
 * has none. */
const char *ath_arch_random_source(void);
bool ath_arch_random64(uint64_t *out);

#endif
