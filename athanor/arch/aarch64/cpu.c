/*
 * The CPU and the machine around it: the stacks, the early console, interrupt masking,
 * power-off through PSCI, and the machine-specific odds and ends of arch.h.
 */
#include "aarch64.h"
#include "frame.inc"

extern char ath_boot_stack_guard[], ath_boot_stack_top[];
extern char ath_exception_stack_guard[], ath_exception_stack_top[];
extern char ath_overflow_stack_guard[], ath_overflow_stack_top[];

uintptr_t aarch64_boot_dtb;             /* boot.S: x0 at entry */
uint64_t aarch64_boot_el;               /* boot.S: the exception level it was entered at */
uint64_t aarch64_kernel_stack_top;      /* the stack exceptions from EL1t are taken on */

static struct ath_kstack kstacks[3];

static void kstack_set(struct ath_kstack *k, const char *name, uintptr_t guard, uintptr_t top)
{
    k->name = name;
    k->guard = guard;
    k->bottom = guard + ATH_PAGE_SIZE;
    k->top = top;
}

const struct ath_kstack *ath_arch_kstacks(unsigned *count)
{
    *count = ATH_ARRAY_SIZE(kstacks);
    return kstacks;
}

/* Records the stack and, when running on SP_EL0 (interrupts off, so nothing is on SP_EL1),
 * points SP_EL1 at its top now; on SP_EL1 the next switch to an EL1t context does
 * (switch.S). TPIDR_EL0 gets the lowest sp an exception may be taken at on it (vectors.S). */
void ath_arch_use_kernel_stack(const struct ath_kstack *k)
{
    if (!k)
        k = &kstacks[1];
    aarch64_kernel_stack_top = k->top;
    sysreg_write(tpidr_el0, k->bottom + STACK_MARGIN);
    if (sysreg_read(spsel) == 0)
        __asm__ volatile("msr spsel, #1\n\tmov sp, %0\n\tmsr spsel, #0" : : "r"(k->top) : "memory");
}

void ath_arch_init(void)
{
    kstack_set(&kstacks[0], "boot stack", (uintptr_t)ath_boot_stack_guard, (uintptr_t)ath_boot_stack_top);
    kstack_set(&kstacks[1], "exception stack", (uintptr_t)ath_exception_stack_guard,
               (uintptr_t)ath_exception_stack_top);
    kstack_set(&kstacks[2], "overflow stack", (uintptr_t)ath_overflow_stack_guard,
               (uintptr_t)ath_overflow_stack_top);
    ath_arch_use_kernel_stack(NULL);
    /* The console first, so that a bad device tree can be reported (if it names a UART). */
    aarch64_fdt_early_console(aarch64_boot_dtb);
    aarch64_pl011_init(aarch64_machine.uart_base);
}

extern char __kernel_start[], __kernel_end[];

/* Whether [address, address + 8) is usable RAM outside the kernel: a spin-table slot the
 * kernel may write (the device tree is the loader's; its addresses are still checked). */
static bool spin_slot_ok(const struct ath_boot_info *info, uint64_t address)
{
    if (address & 7 || (address + 8 > (uintptr_t)__kernel_start && address < (uintptr_t)__kernel_end))
        return false;
    for (unsigned i = 0; i < info->mem_count; i++)
        if (info->mem[i].type == ATH_MEM_USABLE && address >= info->mem[i].start &&
            address - info->mem[i].start + 8 <= info->mem[i].size)
            return true;
    return false;
}

/* Cores held in a spin table (the Pi's: QEMU's loader or the firmware's stub spins them on
 * WFE, which under QEMU's TCG is a busy loop taking host time from core 0) are released into
 * aarch64_secondary_park, where they halt. Before the final page tables: the slots are in
 * page 0, which the kernel leaves unmapped. Returns how many. */
static unsigned park_secondaries(const struct ath_boot_info *info)
{
    uint64_t self = sysreg_read(mpidr_el1) & 0xffffff;
    unsigned parked = 0;
    for (unsigned i = 0; i < aarch64_machine.spin_cpu_count; i++) {
        uint64_t slot = aarch64_machine.spin_cpus[i].release;
        if (aarch64_machine.spin_cpus[i].mpidr == self || !spin_slot_ok(info, slot))
            continue;
        *(volatile uint64_t *)slot = (uintptr_t)aarch64_secondary_park;
        /* The core reads the slot with its MMU and caches off: clean it to memory. */
        __asm__ volatile("dc civac, %0\n\tdsb sy\n\tsev" : : "r"(slot) : "memory");
        parked++;
    }
    return parked;
}

bool ath_arch_boot_info(uint32_t magic, uintptr_t info_addr, struct ath_boot_info *info,
                        const char **error)
{
    (void)magic;
    if (!aarch64_fdt_read(info_addr, info, error))
        return false;
    unsigned parked = park_secondaries(info);
    /* Who handed over, as much as we know: the machine, the level it entered us at, and the
     * cores it held that the kernel parked. */
    ath_snprintf(info->bootloader, sizeof info->bootloader, "%s, entered at EL%lu%s",
                 aarch64_machine.model, (unsigned long)aarch64_boot_el,
                 parked ? ", secondary cores parked" : "");
    aarch64_pl011_init(aarch64_machine.uart_base);
    return true;
}

/* ---- Power ------------------------------------------------------------------------------------ */
#define PSCI_SYSTEM_OFF   0x84000008u
#define PSCI_SYSTEM_RESET 0x84000009u

/* A PSCI call through the conduit the device tree names; returns if there is none (or the
 * call fails). */
static void psci_call(uint32_t function)
{
    if (!aarch64_machine.psci)
        return;
    register uint64_t x0 __asm__("x0") = function;
    if (aarch64_machine.psci_hvc)
        __asm__ volatile("hvc #0" : "+r"(x0) : : "x1", "x2", "x3", "memory");
    else
        __asm__ volatile("smc #0" : "+r"(x0) : : "x1", "x2", "x3", "memory");
}

/* No debug-exit device: the exit value is in the console's last line (exit.c). */
void ath_arch_debug_exit(unsigned value)
{
    (void)value;
}

/* PSCI where the device tree has it (virt); else the BCM2835 PM watchdog (the Raspberry Pi:
 * no power switch, a reset into a firmware that halts). */
void ath_arch_power_off(void)
{
    psci_call(PSCI_SYSTEM_OFF);
    aarch64_bcm2835_reset(true);
}

void ath_arch_reset(void)
{
    psci_call(PSCI_SYSTEM_RESET);
    aarch64_bcm2835_reset(false);
    ath_arch_halt();
}

void ath_arch_exit(unsigned value)
{
    (void)value;
    ath_arch_power_off();
    ath_arch_halt();
}

bool ath_arch_mmio_kept(uint64_t first, uint64_t last, uint64_t *kept_first, uint64_t *kept_last)
{
    const struct aarch64_machine *m = &aarch64_machine;
    const uint64_t kept[][2] = { { m->gic_dist, m->gic_dist_size }, { m->gic_cpu, m->gic_cpu_size },
                                 { m->gic_redist, m->gic_redist_size },
                                 { m->bcm_local, m->bcm_local ? BCM_LOCAL_SIZE : 0 },
                                 { m->bcm_armctrl, m->bcm_armctrl ? BCM_ARMCTRL_SIZE : 0 },
                                 { m->bcm_pm, m->bcm_pm ? BCM_PM_SIZE : 0 } };
    for (unsigned i = 0; i < ATH_ARRAY_SIZE(kept); i++) {
        if (!kept[i][1])
            continue;
        uint64_t end = kept[i][0] + kept[i][1] - 1;
        if (first <= end && kept[i][0] <= last) {
            *kept_first = kept[i][0];
            *kept_last = end;
            return true;
        }
    }
    return false;
}

void ath_arch_halt(void)
{
    __asm__ volatile("msr daifset, #0xf");
    for (;;)
        __asm__ volatile("wfi");
}

/* ---- Interrupt masking -------------------------------------------------------------------------- */
uint64_t ath_arch_irq_save(void)
{
    uint64_t daif = sysreg_read(daif);
    __asm__ volatile("msr daifset, #2" : : : "memory");
    return daif;
}

void ath_arch_irq_restore(uint64_t state)
{
    sysreg_write(daif, state);
}

void ath_arch_irq_enable(void)
{
    __asm__ volatile("msr daifclr, #2" : : : "memory");
}

/* WFI wakes on a pending interrupt even while it is masked; unmasking then takes it. */
void ath_arch_idle(void)
{
    __asm__ volatile("dsb sy\n\twfi\n\tmsr daifclr, #2\n\tisb\n\tmsr daifset, #2" : : : "memory");
}

/* Interrupts off around a plain add: the one-CPU atomicity arch.h asks for. */
uint64_t ath_arch_fetch_add_local(uint64_t *p, uint64_t v)
{
    uint64_t state = ath_arch_irq_save();
    uint64_t old = *(volatile uint64_t *)p;
    *(volatile uint64_t *)p = old + v;
    ath_arch_irq_restore(state);
    return old;
}

/* ---- Machine-specific devices -------------------------------------------------------------------- */
uint32_t ath_arch_port_in(uint16_t port, unsigned width)
{
    (void)port;
    return width >= 4 ? 0xffffffffu : (1u << (8 * width)) - 1;
}

void ath_arch_port_out(uint16_t port, unsigned width, uint32_t value)
{
    (void)port;
    (void)width;
    (void)value;
}

/* RNDR (FEAT_RNG, ID_AA64ISAR0_EL1 bits 63:60): cortex-a53 and a72 lack it; QEMU's max has it. */
const char *ath_arch_random_source(void)
{
    return (sysreg_read(id_aa64isar0_el1) >> 60) ? "RNDR" : NULL;
}

bool ath_arch_random64(uint64_t *out)
{
    if (!ath_arch_random_source())
        return false;
    uint64_t value, ok;
    for (int i = 0; i < 10; i++) {
        /* RNDR is s3_3_c2_c4_0; NZCV.Z set means no value this time. */
        __asm__ volatile("mrs %0, s3_3_c2_c4_0\n\tcset %1, ne" : "=r"(value), "=r"(ok) : : "cc");
        if (ok) {
            *out = value;
            return true;
        }
    }
    return false;
}

/* The PL031 real-time clock counts seconds since 1970 in its data register. */
uint64_t ath_arch_wall_clock(void)
{
    if (!aarch64_machine.rtc_base)
        return 0;
    uint64_t page = ATH_ALIGN_DOWN(aarch64_machine.rtc_base, ATH_PAGE_SIZE);
    uint64_t phys;
    unsigned flags;
    if (!ath_vm_query(page, &phys, &flags) &&
        ath_vm_map(page, page, ATH_PAGE_SIZE, ATH_VM_READ | ATH_VM_WRITE | ATH_VM_NOCACHE) != ATH_OK)
        return 0;
    return mmio_read32(aarch64_machine.rtc_base);
}

/* MSI needs a GICv3 ITS or a GICv2m frame: not yet (PCI on AArch64 is a later step). */
void ath_arch_msi_message(unsigned source, uint64_t *address, uint32_t *data)
{
    (void)source;
    *address = 0;
    *data = 0;
}

unsigned ath_arch_virtio_mmio_devices(struct ath_arch_mmio_device *out, unsigned max)
{
    unsigned n = ATH_MIN(max, aarch64_machine.virtio_mmio_count);
    for (unsigned i = 0; i < n; i++)
        out[i] = aarch64_machine.virtio_mmio[i];
    return n;
}
