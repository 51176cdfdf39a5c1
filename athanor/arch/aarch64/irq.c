/*
 * Interrupt sources (arch.h) over the machine's interrupt controller: a GIC (gic.c) or the
 * Raspberry Pi's BCM2836 local and BCM2835 controllers (bcm2836.c), whichever the device tree
 * names, both numbered as aarch64.h draws it.
 *
 * The timer's tick is the arch's own; a device source is a shared interrupt (32 and up: the
 * device tree's number plus 32) bound to a source by ath_arch_irq_route_gsi; a legacy line N
 * (0..15, an irq:N grant) is the controller's legacy_base + N: on a GIC the device tree's
 * shared interrupt N (virt's PL011 is irq:1), on the Pi GPU interrupt 48 + N (its PL011 is
 * irq:9; aarch64.h). ath_arch_irq masks the source's interrupt and ends it before calling
 * ath_device_interrupt, as the I/O APIC path does on x86-64.
 */
#include "aarch64.h"

static const struct aarch64_intc_ops *intc;
static unsigned lines;
static uint32_t source_irq[ATH_IRQ_SOURCES];    /* 0: none */

void aarch64_map_device(uint64_t base, uint64_t size)
{
    if (!base)
        return;
    uint64_t lo = ATH_ALIGN_DOWN(base, ATH_PAGE_SIZE), hi = ATH_ALIGN_UP(base + size, ATH_PAGE_SIZE);
    int err = ath_vm_map(lo, lo, hi - lo, ATH_VM_READ | ATH_VM_WRITE | ATH_VM_NOCACHE);
    if (err)
        ath_panic("mapping the device at 0x%lx: %s", (unsigned long)base, ath_error_name(err));
}

void aarch64_irq_enable(uint32_t irq, bool level)
{
    intc->enable(irq, level);
}

void ath_arch_interrupts_init(unsigned tick_hz)
{
    switch (aarch64_machine.intc) {
    case AARCH64_INTC_GIC:
        intc = &aarch64_gic_ops;
        break;
    case AARCH64_INTC_BCM2836:
        intc = &aarch64_bcm2836_ops;
        break;
    default:
        ath_kprintf("[athanor] boot error: the device tree names no interrupt controller this "
                    "kernel drives (GICv2, GICv3, or the BCM2836 local and BCM2835 pair)\n");
        ath_fail(ATH_FAIL_BOOT);
    }
    intc->init();
    lines = intc->lines();
    for (unsigned n = 0; n < ATH_IRQ_LEGACY_LINES && intc->legacy_base + n < lines; n++)
        source_irq[n] = intc->legacy_base + n;
    aarch64_timer_init(tick_hz);
}

bool ath_arch_irq_route_gsi(unsigned source, unsigned gsi, bool active_high)
{
    (void)active_high;
    if (source >= ATH_IRQ_SOURCES || gsi < GIC_SPI_BASE || gsi >= lines)
        return false;
    source_irq[source] = gsi;
    intc->disable(gsi);
    return true;
}

void ath_arch_irq_mask(unsigned source)
{
    if (source < ATH_IRQ_SOURCES && source_irq[source])
        intc->disable(source_irq[source]);
}

void ath_arch_irq_unmask(unsigned source)
{
    if (source < ATH_IRQ_SOURCES && source_irq[source])
        intc->enable(source_irq[source], true);
}

void ath_arch_irq(struct ath_trap_frame *frame)
{
    uint32_t irq = intc->acknowledge();
    if (irq >= lines)
        return;                 /* spurious */
    if (irq == aarch64_machine.timer_irq) {
        aarch64_timer_interrupt();
        intc->end(irq);
        ath_sched_tick(frame);
        return;
    }
    for (unsigned source = 0; source < ATH_IRQ_SOURCES; source++) {
        if (source_irq[source] == irq) {
            intc->disable(irq);
            intc->end(irq);
            ath_device_interrupt(source, frame);
            return;
        }
    }
    /* Nobody's: keep it from coming back. */
    intc->disable(irq);
    intc->end(irq);
}
