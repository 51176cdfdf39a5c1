/*
 * The generic timer: the EL1 physical timer (CNTP) for the tick, its counter (CNTPCT) as the
 * cycle counter. The counter's rate is CNTFRQ_EL0, which firmware sets (62.5 MHz on QEMU
 * virt): nothing to calibrate. "Cycles" in the kernel are counter ticks here.
 */
#include "aarch64.h"

#define CNTP_CTL_ENABLE 1u

static uint64_t frequency;
static uint64_t interval;                   /* counter ticks per scheduler tick */
static struct {
    uint64_t min, max;                      /* counter ticks; 0: no storm */
    uint64_t state;                         /* xorshift64 */
} storm;

uint64_t ath_arch_cycles(void)
{
    isb();
    return sysreg_read(cntpct_el0);
}

uint64_t ath_arch_cycles_per_second(void)
{
    return frequency ? frequency : sysreg_read(cntfrq_el0);
}

static uint64_t next_interval(void)
{
    if (!storm.max)
        return interval;
    storm.state ^= storm.state << 13;
    storm.state ^= storm.state >> 7;
    storm.state ^= storm.state << 17;
    return storm.min + storm.state % (storm.max - storm.min + 1);
}

static void arm(void)
{
    sysreg_write(cntp_tval_el0, next_interval());
    sysreg_write(cntp_ctl_el0, CNTP_CTL_ENABLE);
    isb();
}

void aarch64_timer_interrupt(void)
{
    arm();
}

void aarch64_timer_init(unsigned tick_hz)
{
    frequency = sysreg_read(cntfrq_el0);
    if (frequency < 1000000)
        ath_panic("the generic timer runs at %lu Hz", (unsigned long)frequency);
    if (!aarch64_machine.timer_irq) {
        ath_kprintf("[athanor] boot error: the device tree names no generic timer\n");
        ath_fail(ATH_FAIL_BOOT);
    }
    interval = frequency / tick_hz;
    arm();
    aarch64_irq_enable(aarch64_machine.timer_irq, true);
}

void ath_arch_tick_storm(unsigned min_us, unsigned max_us)
{
    storm.min = (uint64_t)min_us * frequency / 1000000;
    storm.max = (uint64_t)max_us * frequency / 1000000;
    storm.state = ath_arch_cycles() | 1;
    arm();
}

void ath_arch_spin_on_unmapped_stack(uint64_t cycles)
{
    __asm__ volatile(
        "mov x9, sp\n\t"
        "mov x10, #0x800\n\t"            /* inside the unmapped page 0 */
        "mov sp, x10\n\t"
        "isb\n\t"
        "mrs x11, cntpct_el0\n\t"
        "msr daifclr, #2\n"
        "1:\n\t"
        "isb\n\t"
        "mrs x12, cntpct_el0\n\t"
        "sub x12, x12, x11\n\t"
        "cmp x12, %0\n\t"
        "b.lo 1b\n\t"
        "msr daifset, #2\n\t"
        "mov sp, x9\n\t"
        : : "r"(cycles) : "x9", "x10", "x11", "x12", "memory", "cc");
}
