/*
 * The Raspberry Pi 3's interrupt controllers and its power-off (BCM2837: a BCM2836-style local
 * controller per chip, the BCM2835's controller for the peripherals), for QEMU -M raspi3b and
 * the board. One CPU (core 0) takes every interrupt.
 *
 *   BCM2836 local controller (device tree "brcm,bcm2836-l1-intc", 0x40000000):
 *     0x0c  GPU interrupt routing       bits 1:0 the core the GPU's IRQ goes to (0)
 *     0x40  core 0 timer control        bit n: the generic timer's interrupt n as an IRQ
 *                                       (0 CNTPS, 1 CNTPNS: EL1's physical, 2 CNTHP, 3 CNTV)
 *     0x60  core 0 IRQ source           bit n: local interrupt n pending (8: the GPU's)
 *   BCM2835 controller ("brcm,bcm2836-armctrl-ic", 0x3f00b200):
 *     0x00  basic pending               bits 7:0 ARM interrupts 0..7
 *     0x04, 0x08  pending 1, 2          GPU interrupts 0..31, 32..63
 *     0x10, 0x14, 0x18  enable 1, 2, basic     (write 1 to enable)
 *     0x1c, 0x20, 0x24  disable 1, 2, basic    (write 1 to disable)
 *
 * Every source is level-triggered: ending an interrupt is the device's (or the timer's
 * re-arm's) business, so end does nothing. Pending bits are read through the enables this file
 * set, so a masked source is never acknowledged.
 *
 * Power: the BCM2835 PM block's watchdog ("brcm,bcm2835-pm-wdt", 0x3f100000) resets the SoC
 * (QEMU -no-reboot exits then); before it, the reset status register's partition field is set
 * to 63, which the Pi firmware takes as "halt" rather than boot again.
 */
#include "aarch64.h"

#define LOCAL_GPU_ROUTING   0x0c
#define LOCAL_TIMER_CONTROL 0x40
#define LOCAL_MAILBOX_CONTROL 0x50
#define LOCAL_IRQ_SOURCE    0x60
#define LOCAL_SOURCE_GPU    8
#define LOCAL_TIMERS        4

#define ARMCTRL_PENDING_BASIC 0x00
#define ARMCTRL_PENDING_1     0x04
#define ARMCTRL_ENABLE_1      0x10
#define ARMCTRL_ENABLE_BASIC  0x18
#define ARMCTRL_DISABLE_1     0x1c
#define ARMCTRL_DISABLE_BASIC 0x24

#define PM_RSTC             0x1c
#define PM_RSTS             0x20
#define PM_WDOG             0x24
#define PM_PASSWORD         0x5a000000u
#define PM_RSTC_WRCFG_MASK  0x30u
#define PM_RSTC_FULL_RESET  0x20u
#define PM_RSTS_HALT        0x555u     /* partition 63, its bits spread over 0, 2, .. 10 */
#define PM_WDOG_TICKS       10         /* about 150 us */

static uintptr_t local, armctrl;
static uint32_t local_timers;           /* the generic timers' enables */
static uint32_t gpu_enabled[2], arm_enabled;

static void bcm_init(void)
{
    const struct aarch64_machine *m = &aarch64_machine;
    aarch64_map_device(m->bcm_local, BCM_LOCAL_SIZE);
    aarch64_map_device(m->bcm_armctrl, BCM_ARMCTRL_SIZE);
    local = m->bcm_local;
    armctrl = m->bcm_armctrl;
    mmio_write32(armctrl + ARMCTRL_DISABLE_1, 0xffffffffu);
    mmio_write32(armctrl + ARMCTRL_DISABLE_1 + 4, 0xffffffffu);
    mmio_write32(armctrl + ARMCTRL_DISABLE_BASIC, 0xffffffffu);
    mmio_write32(local + LOCAL_TIMER_CONTROL, 0);
    mmio_write32(local + LOCAL_MAILBOX_CONTROL, 0);
    mmio_write32(local + LOCAL_GPU_ROUTING, 0);         /* IRQ and FIQ to core 0 */
}

/* Only the generic timers among the local interrupts can be switched here; the GPU's is always
 * on (its sources are switched at the BCM2835). */
static void bcm_enable(uint32_t irq, bool level)
{
    (void)level;
    if (irq >= BCM_LOCAL_BASE && irq < BCM_LOCAL_BASE + LOCAL_TIMERS) {
        local_timers |= 1u << (irq - BCM_LOCAL_BASE);
        mmio_write32(local + LOCAL_TIMER_CONTROL, local_timers);
    } else if (irq >= BCM_GPU_BASE && irq < BCM_GPU_BASE + BCM_GPU_LINES) {
        unsigned n = irq - BCM_GPU_BASE;
        gpu_enabled[n / 32] |= 1u << (n % 32);
        mmio_write32(armctrl + ARMCTRL_ENABLE_1 + 4 * (n / 32), 1u << (n % 32));
    } else if (irq >= BCM_ARM_BASE && irq < BCM_LINES) {
        arm_enabled |= 1u << (irq - BCM_ARM_BASE);
        mmio_write32(armctrl + ARMCTRL_ENABLE_BASIC, 1u << (irq - BCM_ARM_BASE));
    }
}

static void bcm_disable(uint32_t irq)
{
    if (irq >= BCM_LOCAL_BASE && irq < BCM_LOCAL_BASE + LOCAL_TIMERS) {
        local_timers &= ~(1u << (irq - BCM_LOCAL_BASE));
        mmio_write32(local + LOCAL_TIMER_CONTROL, local_timers);
    } else if (irq >= BCM_GPU_BASE && irq < BCM_GPU_BASE + BCM_GPU_LINES) {
        unsigned n = irq - BCM_GPU_BASE;
        gpu_enabled[n / 32] &= ~(1u << (n % 32));
        mmio_write32(armctrl + ARMCTRL_DISABLE_1 + 4 * (n / 32), 1u << (n % 32));
    } else if (irq >= BCM_ARM_BASE && irq < BCM_LINES) {
        arm_enabled &= ~(1u << (irq - BCM_ARM_BASE));
        mmio_write32(armctrl + ARMCTRL_DISABLE_BASIC, 1u << (irq - BCM_ARM_BASE));
    }
}

static unsigned lowest_bit(uint32_t v)
{
    return (unsigned)__builtin_ctz(v);
}

/* The timers first (the tick), then the peripherals in GPU order, then the ARM's own. */
static uint32_t bcm_acknowledge(void)
{
    uint32_t source = mmio_read32(local + LOCAL_IRQ_SOURCE);
    if (source & local_timers)
        return BCM_LOCAL_BASE + lowest_bit(source & local_timers);
    if (!(source & (1u << LOCAL_SOURCE_GPU)))
        return BCM_LINES;
    for (unsigned bank = 0; bank < 2; bank++) {
        uint32_t pending = mmio_read32(armctrl + ARMCTRL_PENDING_1 + 4 * bank) & gpu_enabled[bank];
        if (pending)
            return BCM_GPU_BASE + 32 * bank + lowest_bit(pending);
    }
    uint32_t basic = mmio_read32(armctrl + ARMCTRL_PENDING_BASIC) & arm_enabled & 0xff;
    return basic ? BCM_ARM_BASE + lowest_bit(basic) : BCM_LINES;
}

static void bcm_end(uint32_t irq)
{
    (void)irq;
}

static unsigned bcm_lines(void)
{
    return BCM_LINES;
}

const struct aarch64_intc_ops aarch64_bcm2836_ops = {
    bcm_init, bcm_enable, bcm_disable, bcm_acknowledge, bcm_end, bcm_lines, BCM_LEGACY_BASE,
};

/* The watchdog's full reset after PM_WDOG_TICKS; halt: tell the firmware not to boot again. */
bool aarch64_bcm2835_reset(bool halt)
{
    uintptr_t pm = aarch64_machine.bcm_pm;
    if (!pm)
        return false;
    if (halt)
        mmio_write32(pm + PM_RSTS, PM_PASSWORD | (mmio_read32(pm + PM_RSTS) & 0xffffffu) | PM_RSTS_HALT);
    mmio_write32(pm + PM_WDOG, PM_PASSWORD | PM_WDOG_TICKS);
    uint32_t rstc = mmio_read32(pm + PM_RSTC) & 0xffffffu & ~PM_RSTC_WRCFG_MASK;
    mmio_write32(pm + PM_RSTC, PM_PASSWORD | rstc | PM_RSTC_FULL_RESET);
    /* The reset comes within the watchdog's ticks; past a generous wait it did not. */
    uint64_t start = ath_arch_cycles(), wait = ath_arch_cycles_per_second() / 10;
    while (ath_arch_cycles() - start < wait)
        ;
    return false;
}
