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

/* Interrupt numbers as the GIC counts them: SGIs 0..15, PPIs 16..31, SPIs from 32. */
#define GIC_PPI_BASE 16
#define GIC_SPI_BASE 32

/* The machine, as the device tree describes it (0: absent). */
struct aarch64_machine {
    char model[64];                     /* the root's compatible, e.g. "linux,dummy-virt" */
    uint64_t uart_base, uart_size;      /* PL011 ("arm,pl011") */
    uint32_t uart_irq;
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

/* gic.c: the interrupt controller. */
void aarch64_gic_init(void);
void aarch64_gic_enable(uint32_t irq, bool level);
void aarch64_gic_disable(uint32_t irq);
/* The interrupt being signalled (1023 and up: none), acknowledged; then end it. */
uint32_t aarch64_gic_acknowledge(void);
void aarch64_gic_end(uint32_t irq);

/* timer.c: the generic timer. */
void aarch64_timer_init(unsigned tick_hz);
void aarch64_timer_interrupt(void);

/* cpu.c */
extern uint64_t aarch64_kernel_stack_top;   /* SP_EL1 while module or kernel code runs */

#endif
