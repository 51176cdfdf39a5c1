/*
 * The Arm Generic Interrupt Controller, v2 (memory-mapped CPU interface) or v3 (system
 * register CPU interface, a redistributor per CPU), as the device tree says. One CPU: every
 * shared interrupt is routed to it; priorities all equal; level or edge as the caller says.
 *
 * The interrupt sources above it (arch.h) are irq.c's, over this file's aarch64_gic_ops.
 */
#include "aarch64.h"

/* Distributor (both versions). */
#define GICD_CTLR       0x0000
#define GICD_TYPER      0x0004
#define GICD_IGROUPR    0x0080
#define GICD_ISENABLER  0x0100
#define GICD_ICENABLER  0x0180
#define GICD_ICPENDR    0x0280
#define GICD_IPRIORITYR 0x0400
#define GICD_ITARGETSR  0x0800
#define GICD_ICFGR      0x0c00
#define GICD_IROUTER    0x6000          /* v3: 8 bytes per interrupt */
#define GICD_CTLR_V2_ENABLE 1u
#define GICD_CTLR_V3_ARE_GROUPS 0x13u   /* affinity routing, groups 0 and 1 (one security state) */
/* v2 CPU interface. */
#define GICC_CTLR       0x0000
#define GICC_PMR        0x0004
#define GICC_IAR        0x000c
#define GICC_EOIR       0x0010
/* v3 redistributor: RD_base then SGI_base 64 KiB above. */
#define GICR_WAKER      0x0014
#define GICR_SGI        0x10000
#define GICR_WAKER_SLEEP    (1u << 1)
#define GICR_WAKER_ASLEEP   (1u << 2)
#define PRIORITY        0xa0u

static uintptr_t dist, cpu, redist_sgi;
static unsigned version, lines;

/* The register block that holds interrupt irq's per-interrupt bits: v3's redistributor for
 * SGIs and PPIs, else the distributor. */
static uintptr_t bank(uint32_t irq) { return version == 3 && irq < GIC_SPI_BASE ? redist_sgi : dist; }

static void gic_enable(uint32_t irq, bool level)
{
    uintptr_t b = bank(irq);
    uint32_t cfg = mmio_read32(b + GICD_ICFGR + 4 * (irq / 16));
    uint32_t bit = 2u << (2 * (irq % 16));      /* 1: edge-triggered */
    if (irq >= GIC_PPI_BASE)                    /* SGIs' configuration is fixed */
        mmio_write32(b + GICD_ICFGR + 4 * (irq / 16), level ? cfg & ~bit : cfg | bit);
    mmio_write32(b + GICD_ISENABLER + 4 * (irq / 32), 1u << (irq % 32));
}

static void gic_disable(uint32_t irq)
{
    mmio_write32(bank(irq) + GICD_ICENABLER + 4 * (irq / 32), 1u << (irq % 32));
}

static uint32_t gic_acknowledge(void)
{
    if (version == 3) {
        uint64_t irq = sysreg_read(s3_0_c12_c12_0);     /* ICC_IAR1_EL1 */
        dsb(sy);
        return (uint32_t)irq & 0xffffff;
    }
    return mmio_read32(cpu + GICC_IAR) & 0x3ff;
}

static void gic_end(uint32_t irq)
{
    if (version == 3) {
        sysreg_write(s3_0_c12_c12_1, irq);             /* ICC_EOIR1_EL1 */
        isb();
    } else {
        mmio_write32(cpu + GICC_EOIR, irq);
    }
}

static void redistributor_wake(void)
{
    uintptr_t rd = aarch64_machine.gic_redist;
    mmio_write32(rd + GICR_WAKER, mmio_read32(rd + GICR_WAKER) & ~GICR_WAKER_SLEEP);
    for (unsigned i = 0; i < 1000000 && (mmio_read32(rd + GICR_WAKER) & GICR_WAKER_ASLEEP); i++)
        ;
    redist_sgi = rd + GICR_SGI;
    mmio_write32(redist_sgi + GICD_IGROUPR, 0xffffffffu);    /* SGIs and PPIs: group 1 */
    mmio_write32(redist_sgi + GICD_ICENABLER, 0xffffffffu);
    for (unsigned i = 0; i < 32; i += 4)
        mmio_write32(redist_sgi + GICD_IPRIORITYR + i, PRIORITY * 0x01010101u);
}

static void gic_init(void)
{
    const struct aarch64_machine *m = &aarch64_machine;
    version = m->gic_version;
    aarch64_map_device(m->gic_dist, m->gic_dist_size);
    dist = m->gic_dist;
    mmio_write32(dist + GICD_CTLR, 0);
    lines = 32 * ((mmio_read32(dist + GICD_TYPER) & 0x1f) + 1);
    lines = ATH_MIN(lines, 1020u);
    for (unsigned i = GIC_SPI_BASE; i < lines; i += 32) {
        mmio_write32(dist + GICD_ICENABLER + i / 8, 0xffffffffu);
        mmio_write32(dist + GICD_ICPENDR + i / 8, 0xffffffffu);
        mmio_write32(dist + GICD_IGROUPR + i / 8, version == 3 ? 0xffffffffu : 0);
    }
    for (unsigned i = GIC_SPI_BASE; i < lines; i += 4)
        mmio_write32(dist + GICD_IPRIORITYR + i, PRIORITY * 0x01010101u);

    if (version == 2) {
        for (unsigned i = GIC_SPI_BASE; i < lines; i += 4)
            mmio_write32(dist + GICD_ITARGETSR + i, 0x01010101u);    /* CPU 0 */
        mmio_write32(dist + GICD_ICENABLER, 0xffffffffu);
        for (unsigned i = 0; i < 32; i += 4)
            mmio_write32(dist + GICD_IPRIORITYR + i, PRIORITY * 0x01010101u);
        mmio_write32(dist + GICD_CTLR, GICD_CTLR_V2_ENABLE);
        aarch64_map_device(m->gic_cpu, m->gic_cpu_size);
        cpu = m->gic_cpu;
        mmio_write32(cpu + GICC_PMR, 0xff);
        mmio_write32(cpu + GICC_CTLR, 1);
    } else {
        /* The redistributor region may be large (one frame pair per CPU): map CPU 0's. */
        aarch64_map_device(m->gic_redist, 2 * 0x10000);
        mmio_write32(dist + GICD_CTLR, GICD_CTLR_V3_ARE_GROUPS);
        for (unsigned i = GIC_SPI_BASE; i < lines; i++)
            mmio_write64(dist + GICD_IROUTER + 8 * i, 0);           /* affinity 0.0.0.0 */
        redistributor_wake();
        sysreg_write(s3_0_c12_c12_5, sysreg_read(s3_0_c12_c12_5) | 1);   /* ICC_SRE_EL1.SRE */
        isb();
        sysreg_write(s3_0_c4_c6_0, 0xff);                         /* ICC_PMR_EL1 */
        sysreg_write(s3_0_c12_c12_7, 1);                          /* ICC_IGRPEN1_EL1 */
        isb();
    }
}

static unsigned gic_lines(void)
{
    return lines;
}

const struct aarch64_intc_ops aarch64_gic_ops = {
    gic_init, gic_enable, gic_disable, gic_acknowledge, gic_end, gic_lines, GIC_SPI_BASE,
};
