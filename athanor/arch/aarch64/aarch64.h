/*
 * AArch64 internals shared by the files of arch/aarch64/: system registers, barriers, and what
 * the device tree said about the machine (fdt.c fills it before anything else needs it).
 */
#ifndef ATH_AARCH64_H
#define ATH_AARCH64_H

#include "kernel.h"

#define sysreg_read(name) ({ uint64_t v_; __asm__ volatile("mrs %0, " #name : "=r"(v_)); v_; })
#define sysreg_write(name, v) __asm__ volatile("msr " #name ", %0" : : "r"((uint64_t)(v)) : "memory")
#define isb()        __asm__ volatile("isb" : : : "memory")
#define dsb(scope)   __asm__ volatile("dsb " #scope : : : "memory")

static inline uint32_t mmio_read32(uintptr_t addr) { uint32_t v = *(volatile uint32_t *)addr; dsb(ld); return v; }
static inline void mmio_write32(uintptr_t addr, uint32_t v) { dsb(st); *(volatile uint32_t *)addr = v; }
static inline uint64_t mmio_read64(uintptr_t addr) { uint64_t v = *(volatile uint64_t *)addr; dsb(ld); return v; }
static inline void mmio_write64(uintptr_t addr, uint64_t v) { dsb(st); *(volatile uint64_t *)addr = v; }

/* Interrupt numbers as the GIC counts them: SGIs 0..15, PPIs 16..31, SPIs from 32. A device
 * tree's shared interrupt N (an irq:N grant) is 32 + N. */
#define GIC_PPI_BASE 16
#define GIC_SPI_BASE 32
/* The Raspberry Pi's controllers (bcm2836.c) in the same shape: a core's local interrupts
 * (BCM2836 local controller: 0..3 the generic timers, 4..7 mailboxes, 8 the GPU's, 9 the PMU,
 * 10 AXI, 11 the local timer) at 16.., the BCM2835's GPU interrupts 0..63 (the device tree's
 * banks 1 and 2) at 32.., its ARM interrupts 0..7 (bank 0) at 96... The 16 legacy lines (irq:N)
 * are GPU interrupts 48..63 there (BCM_LEGACY_BASE), where the peripherals an ARM driver owns
 * are: GPIO 49..52 (irq:1..4), I2C 53, SPI 54, PCM 55, SDHOST 56, the PL011 57 (irq:9), SDIO 62. */
#define BCM_LOCAL_BASE   16
#define BCM_LOCAL_LINES  12
#define BCM_GPU_BASE     32
#define BCM_GPU_LINES    64
#define BCM_ARM_BASE     96
#define BCM_ARM_LINES    8
#define BCM_LINES        (BCM_ARM_BASE + BCM_ARM_LINES)
#define BCM_LEGACY_BASE  (BCM_GPU_BASE + 48)
/* The least of each window the kernel touches (its registers' extent). */
#define BCM_LOCAL_SIZE   0x100
#define BCM_ARMCTRL_SIZE 0x28
#define BCM_PM_SIZE      0x28

enum aarch64_intc { AARCH64_INTC_GIC = 1, AARCH64_INTC_BCM2836 };
#define AARCH64_SPIN_CPUS_MAX 8        /* spin-table cpus the kernel parks (the Pi has 4) */

/* The machine, as the device tree describes it (0: absent). */
struct aarch64_machine {
    char model[64];                     /* the root's compatible, e.g. "linux,dummy-virt" */
    uint64_t uart_base, uart_size;      /* PL011 ("arm,pl011") */
    uint32_t uart_irq;
    enum aarch64_intc intc;             /* which interrupt controller: a GIC or the Pi's pair */
    uint64_t bcm_local;                 /* BCM2836 local controller ("brcm,bcm2836-l1-intc") */
    uint64_t bcm_armctrl;               /* BCM2835 controller ("brcm,bcm2836-armctrl-ic") */
    uint64_t bcm_pm;                    /* BCM2835 PM watchdog ("brcm,bcm2835-pm-wdt") */
    bool timer_node;                    /* the tree has a generic timer node */
    struct { uint64_t mpidr, release; } spin_cpus[AARCH64_SPIN_CPUS_MAX];
    unsigned spin_cpu_count;            /* cpus with enable-method "spin-table" */
    unsigned gic_version;               /* 2 or 3 */
    uint64_t gic_dist, gic_dist_size;   /* distributor */
    uint64_t gic_cpu, gic_cpu_size;     /* GICv2 CPU interface */
    uint64_t gic_redist, gic_redist_size;   /* GICv3 redistributors */
    uint32_t timer_irq;                 /* EL1 physical timer (a PPI, GIC numbering) */
    bool psci_hvc;                      /* PSCI calls through HVC (else SMC) */
    bool psci;
    uint64_t rtc_base;                  /* PL031 ("arm,pl031") */
    struct ath_arch_mmio_device virtio_mmio[ATH_VIRTIO_MMIO_MAX];   /* "virtio,mmio" */
    unsigned virtio_mmio_count;
};
extern struct aarch64_machine aarch64_machine;

/* fdt.c: reads the device tree blob at dtb (bounded: every offset and length checked against
 * the blob's own sizes, at most ATH_FDT_SIZE_MAX bytes) into *info and aarch64_machine. */
bool aarch64_fdt_read(uintptr_t dtb, struct ath_boot_info *info, const char **error);
/* Finds the PL011 in the device tree blob before anything else (the early console). */
void aarch64_fdt_early_console(uintptr_t dtb);

/* pl011.c */
void aarch64_pl011_init(uint64_t base);

/* trap.c, vectors.S */
void ath_trap(struct ath_trap_frame *frame);
void ath_arch_irq(struct ath_trap_frame *frame);
extern char ath_arch_vectors[];

/* The interrupt controller, in the numbering above: gic.c's or bcm2836.c's, as the device
 * tree says (irq.c dispatches). lines: the numbers it has (0 .. lines - 1); acknowledge returns
 * the interrupt being signalled, or lines and up for none. */
struct aarch64_intc_ops {
    void (*init)(void);
    void (*enable)(uint32_t irq, bool level);
    void (*disable)(uint32_t irq);
    uint32_t (*acknowledge)(void);
    void (*end)(uint32_t irq);
    unsigned (*lines)(void);
    uint32_t legacy_base;               /* legacy line N (irq:N) is interrupt legacy_base + N */
};
extern const struct aarch64_intc_ops aarch64_gic_ops, aarch64_bcm2836_ops;
void aarch64_irq_enable(uint32_t irq, bool level);
/* Maps a controller's registers as device memory (panics if it cannot). */
void aarch64_map_device(uint64_t base, uint64_t size);

/* bcm2836.c: a reset through the BCM2835 PM watchdog (halt: the firmware halts rather than
 * boots again; QEMU under -no-reboot exits); returns only if there is none or it did not come. */
bool aarch64_bcm2835_reset(bool halt);

/* timer.c: the generic timer. */
void aarch64_timer_init(unsigned tick_hz);
void aarch64_timer_interrupt(void);

/* cpu.c */
extern uint64_t aarch64_kernel_stack_top;   /* SP_EL1 while module or kernel code runs */
/* boot.S: where a secondary core released from its spin table stops for good (MMU off,
 * interrupts masked, WFI: a halted core, not one spinning). */
extern char aarch64_secondary_park[];

#endif
