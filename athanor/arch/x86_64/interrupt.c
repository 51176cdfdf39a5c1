/*
 * x86-64 interrupts and time: the two 8259 PICs (device lines 0..15 on vectors 32..47), the
 * PIT as the scheduler's tick (line 0), the local APIC left in virtual-wire mode so that the
 * PICs reach the CPU (its timer unused, its spurious vector 255), the I/O APICs for PCI
 * devices' INTx lines and the local APIC for their MSI-X messages (device sources 16.. on
 * vectors 48..95), the TSC as the clock (calibrated against PIT channel 0 at boot), port I/O
 * and RDRAND/RDSEED.
 *
 * Line 0 (the tick) and line 2 (the cascade) are the kernel's; every other line starts masked
 * and is unmasked only while a driver waits for it (device.c). A device interrupt is masked
 * and acknowledged here before the kernel sees it, so it cannot fire again until the driver
 * asks for the next one: a legacy line at the PIC, an I/O APIC input at the I/O APIC (then the
 * local APIC's EOI); an MSI-X vector is masked at the device by device.c (the local APIC's EOI
 * here). Every I/O APIC input starts masked; the PICs stay the legacy lines' path (virtual
 * wire), so an ISA line is never routed through both.
 */
#include "kernel.h"
#include "x86.h"

#define PIC1_COMMAND 0x20
#define PIC1_DATA    0x21
#define PIC2_COMMAND 0xa0
#define PIC2_DATA    0xa1
#define PIC_EOI      0x20
#define PIC_READ_ISR 0x0b
#define IRQ_BASE     32
#define IRQ_LINES    16
#define CASCADE_LINE 2
#define SPURIOUS_VECTOR 255

#define PIT_HZ       1193182u
#define PIT_CHANNEL0 0x40
#define PIT_COMMAND  0x43
#define CALIBRATION_HZ 50        /* calibrate over 1/50 s */

/* Local APIC registers (offsets in its 4 KiB page). */
#define LAPIC_TPR    0x080
#define LAPIC_SVR    0x0f0
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_LVT_LINT0 0x350
#define LAPIC_LVT_LINT1 0x360
#define LAPIC_SVR_ENABLE 0x100
#define LAPIC_MASKED     0x10000
#define LAPIC_EXTINT     0x700
#define LAPIC_NMI        0x400
#define LAPIC_ID         0x020
#define LAPIC_EOI        0x0b0
#define MSI_ADDRESS      0xfee00000u     /* MSI messages: the local APIC's window */

/* Device sources 16.. on vectors 48..95 (interrupts.S has a stub for each). */
#define DEVICE_VECTOR_BASE 48
#define DEVICE_SOURCES   (ATH_IRQ_SOURCES - IRQ_LINES)
_Static_assert(IRQ_LINES == ATH_IRQ_LEGACY_LINES && DEVICE_VECTOR_BASE + DEVICE_SOURCES <= 96,
               "interrupts.S has stubs for vectors 32..95");

/* I/O APIC registers: IOREGSEL at 0, IOWIN at 0x10; version at 1 (bits 16-23: the last input),
 * then two 32-bit registers per redirection entry from 0x10:
 *
 *   63..56 destination | 16 masked | 15 level | 14 remote IRR | 13 active low |
 *   11 logical | 10..8 delivery mode (0 fixed) | 7..0 vector                     */
#define IOAPIC_VERSION   0x01
#define IOAPIC_ENTRY(n)  (0x10 + 2 * (n))
#define IOAPIC_MASKED    (1u << 16)
#define IOAPIC_LEVEL     (1u << 15)
#define IOAPIC_LOW       (1u << 13)
#define IOAPIC_DEFAULT_ADDRESS 0xfec00000u

extern const uint64_t x86_irq_vectors[IRQ_LINES + DEVICE_SOURCES + 1];   /* interrupts.S */

static uint16_t line_mask = 0xffff;        /* 1 = masked, as the PICs see it */
static uint64_t cycles_per_second;
static volatile uint32_t *lapic;           /* NULL: no local APIC enabled */
static uint32_t lapic_id;

static struct ioapic {
    volatile uint32_t *base;
    uint32_t gsi_base, inputs;
} ioapics[4];
static unsigned ioapic_count;
/* The I/O APIC input of each device source routed to one (ioapic == NULL: none). */
static struct { struct ioapic *ioapic; uint32_t input, low; } routes[DEVICE_SOURCES];

/* ---- Programmable interrupt controllers ------------------------------------------------------ */
static void pic_write_mask(void)
{
    x86_outb(PIC1_DATA, (uint8_t)line_mask);
    x86_outb(PIC2_DATA, (uint8_t)(line_mask >> 8));
}

static void pic_init(void)
{
    x86_outb(PIC1_COMMAND, 0x11);           /* ICW1: edge triggered, cascade, ICW4 follows */
    x86_outb(PIC2_COMMAND, 0x11);
    x86_outb(PIC1_DATA, IRQ_BASE);          /* ICW2: vector base */
    x86_outb(PIC2_DATA, IRQ_BASE + 8);
    x86_outb(PIC1_DATA, 1u << CASCADE_LINE); /* ICW3: slave on line 2 */
    x86_outb(PIC2_DATA, CASCADE_LINE);
    x86_outb(PIC1_DATA, 0x01);              /* ICW4: 8086 mode */
    x86_outb(PIC2_DATA, 0x01);
    line_mask = (uint16_t)~(1u << CASCADE_LINE);   /* every line masked but the cascade */
    pic_write_mask();
}

static void pic_eoi(unsigned line)
{
    if (line >= 8)
        x86_outb(PIC2_COMMAND, PIC_EOI);
    x86_outb(PIC1_COMMAND, PIC_EOI);
}

static uint16_t pic_in_service(void)
{
    x86_outb(PIC1_COMMAND, PIC_READ_ISR);
    x86_outb(PIC2_COMMAND, PIC_READ_ISR);
    return (uint16_t)(x86_inb(PIC1_COMMAND) | x86_inb(PIC2_COMMAND) << 8);
}

static void ioapic_write(const struct ioapic *a, uint32_t reg, uint32_t value)
{
    a->base[0] = reg;
    a->base[4] = value;
}

static uint32_t ioapic_read(const struct ioapic *a, uint32_t reg)
{
    a->base[0] = reg;
    return a->base[4];
}

/* Interrupts off. */
static void route_mask(unsigned source, bool masked)
{
    unsigned d = source - IRQ_LINES;
    if (source < IRQ_LINES || d >= DEVICE_SOURCES || !routes[d].ioapic)
        ath_panic("masking device source %u, which no I/O APIC input raises", source);
    ioapic_write(routes[d].ioapic, IOAPIC_ENTRY(routes[d].input), routes[d].low |
                 (masked ? IOAPIC_MASKED : 0));
}

void ath_arch_irq_mask(unsigned source)
{
    uint64_t state = ath_arch_irq_save();
    if (source >= IRQ_LINES) {
        route_mask(source, true);
    } else {
        if (source == CASCADE_LINE)
            ath_panic("masking interrupt line %u", source);
        line_mask |= (uint16_t)(1u << source);
        pic_write_mask();
    }
    ath_arch_irq_restore(state);
}

void ath_arch_irq_unmask(unsigned source)
{
    uint64_t state = ath_arch_irq_save();
    if (source >= IRQ_LINES) {
        route_mask(source, false);
    } else {
        if (source == CASCADE_LINE)
            ath_panic("unmasking interrupt line %u", source);
        line_mask &= (uint16_t)~(1u << source);
        pic_write_mask();
    }
    ath_arch_irq_restore(state);
}

/* ---- I/O APICs and MSI: device sources ------------------------------------------------------ */
static void ioapics_init(void)
{
    const struct ath_acpi *acpi = ath_acpi();
    unsigned count = acpi->ioapic_count;
    for (unsigned i = 0; i < (count ? count : 1) && i < ATH_ARRAY_SIZE(ioapics); i++) {
        uint32_t address = count ? acpi->ioapics[i].address : IOAPIC_DEFAULT_ADDRESS;
        if (address % ATH_PAGE_SIZE ||
            ath_vm_map(address, address, ATH_PAGE_SIZE,
                       ATH_VM_READ | ATH_VM_WRITE | ATH_VM_NOCACHE) != ATH_OK)
            continue;
        struct ioapic *a = &ioapics[ioapic_count];
        a->base = (volatile uint32_t *)(uintptr_t)address;
        a->gsi_base = count ? acpi->ioapics[i].gsi_base : 0;
        uint32_t version = ioapic_read(a, IOAPIC_VERSION);
        if (version == 0xffffffffu)
            continue;                       /* nothing answers there */
        a->inputs = ((version >> 16) & 0xff) + 1;
        for (uint32_t n = 0; n < a->inputs; n++) {
            ioapic_write(a, IOAPIC_ENTRY(n) + 1, 0);
            ioapic_write(a, IOAPIC_ENTRY(n), IOAPIC_MASKED);
        }
        ioapic_count++;
    }
}

bool ath_arch_irq_route_gsi(unsigned source, unsigned gsi, bool active_high)
{
    unsigned d = source - IRQ_LINES;
    if (source < IRQ_LINES || d >= DEVICE_SOURCES || !lapic)
        return false;
    for (unsigned i = 0; i < ioapic_count; i++) {
        struct ioapic *a = &ioapics[i];
        if (gsi < a->gsi_base || gsi - a->gsi_base >= a->inputs)
            continue;
        /* A PCI line is level-triggered and active low, unless an ACPI override of the ISA
         * line it is wired to says otherwise (QEMU's say level, active high); a platform
         * device's (virtio-mmio) is level-triggered, active high. */
        uint32_t bits = IOAPIC_LEVEL | (active_high ? 0 : IOAPIC_LOW);
        const struct ath_acpi *acpi = ath_acpi();
        for (unsigned isa = 0; isa < 16; isa++) {
            const struct ath_acpi_override *o = &acpi->isa[isa];
            if (!o->present || o->gsi != gsi)
                continue;
            if ((o->flags & 3) == 1)
                bits &= ~IOAPIC_LOW;
            if ((o->flags >> 2 & 3) == 1)
                bits &= ~IOAPIC_LEVEL;
        }
        uint64_t state = ath_arch_irq_save();
        routes[d].ioapic = a;
        routes[d].input = gsi - a->gsi_base;
        routes[d].low = bits | (DEVICE_VECTOR_BASE + d);
        ioapic_write(a, IOAPIC_ENTRY(routes[d].input) + 1, lapic_id << 24);
        ioapic_write(a, IOAPIC_ENTRY(routes[d].input), routes[d].low | IOAPIC_MASKED);
        ath_arch_irq_restore(state);
        return true;
    }
    return false;
}

void ath_arch_msi_message(unsigned source, uint64_t *address, uint32_t *data)
{
    /* Fixed delivery, edge, physical destination: the boot CPU's local APIC. */
    *address = MSI_ADDRESS | (uint64_t)lapic_id << 12;
    *data = DEVICE_VECTOR_BASE + (source - IRQ_LINES);
}

/* ---- Local APIC: virtual wire, so that the PICs' interrupts reach the CPU -------------------- */
static void lapic_virtual_wire(void)
{
    uint32_t a, b, c, d;
    x86_cpuid(1, &a, &b, &c, &d);
    if (!(d & (1u << 9)))                   /* no local APIC: the PICs are wired directly */
        return;
    uint64_t msr = x86_rdmsr(X86_MSR_APIC_BASE);
    if (!(msr & X86_APIC_BASE_ENABLE))      /* globally disabled: the PICs are wired directly */
        return;
    uintptr_t base = msr & X86_PTE_ADDR;
    if (ath_vm_map(base, base, ATH_PAGE_SIZE, ATH_VM_READ | ATH_VM_WRITE | ATH_VM_NOCACHE)) {
        ath_kprintf("[athanor] boot error: cannot map the local APIC\n");
        ath_fail(ATH_FAIL_BOOT);
    }
    lapic = (volatile uint32_t *)base;
    lapic_id = lapic[LAPIC_ID / 4] >> 24;
    lapic[LAPIC_LVT_TIMER / 4] = LAPIC_MASKED;
    lapic[LAPIC_LVT_LINT0 / 4] = LAPIC_EXTINT;
    lapic[LAPIC_LVT_LINT1 / 4] = LAPIC_NMI;
    lapic[LAPIC_TPR / 4] = 0;
    lapic[LAPIC_SVR / 4] = LAPIC_SVR_ENABLE | SPURIOUS_VECTOR;
}

/* ---- Time ----------------------------------------------------------------------------------- */
/* PIT channel 0's current count (the latch command freezes it for the two reads). */
static uint16_t pit_count(void)
{
    x86_outb(PIT_COMMAND, 0x00);            /* latch channel 0 */
    uint8_t low = x86_inb(PIT_CHANNEL0);
    return (uint16_t)(low | x86_inb(PIT_CHANNEL0) << 8);
}

/* TSC cycles in 1/CALIBRATION_HZ s, timed by PIT channel 0 counting down (mode 2, from 65535,
 * interrupts off), read back through its latch: unlike channel 2, whose gate and output are
 * port 0x61's, it needs nothing beyond the PIT itself (QEMU's microvm has no port 0x61). */
static uint64_t calibrate_cycles(void)
{
    uint32_t target = PIT_HZ / CALIBRATION_HZ, elapsed = 0;
    x86_outb(PIT_COMMAND, 0x34);            /* channel 0, low then high byte, mode 2 */
    x86_outb(PIT_CHANNEL0, 0xff);
    x86_outb(PIT_CHANNEL0, 0xff);
    uint16_t previous = pit_count();
    uint64_t start = x86_rdtsc();
    for (uint64_t reads = 0; elapsed < target; reads++) {
        uint16_t now = pit_count();
        elapsed += (uint16_t)(previous - now);      /* counts down; a reload wraps */
        previous = now;
        if (reads > 100000000ull) {
            ath_kprintf("[athanor] boot error: PIT channel 0 does not count\n");
            ath_fail(ATH_FAIL_BOOT);
        }
    }
    return (x86_rdtsc() - start) * PIT_HZ / elapsed;
}

uint64_t ath_arch_cycles(void)
{
    return x86_rdtsc();
}

uint64_t ath_arch_cycles_per_second(void)
{
    return cycles_per_second;
}

static void pit_start(unsigned hz)
{
    uint32_t divisor = PIT_HZ / hz;
    x86_outb(PIT_COMMAND, 0x34);            /* channel 0, low then high byte, rate generator */
    x86_outb(PIT_CHANNEL0, (uint8_t)divisor);
    x86_outb(PIT_CHANNEL0, (uint8_t)(divisor >> 8));
}

/* ---- Interrupt storms (athanor.storm: docs/runtime.md) -------------------------------------------
 * The tick every few microseconds, at a fixed or a random interval, so that tests hit the
 * windows of a few instructions where an interrupt could find a stack or a task half-way. A
 * random interval re-arms the PIT in one-shot mode (mode 0) at every tick. */
static struct {
    uint32_t min_count, max_count;          /* PIT counts; 0: no storm */
    uint64_t state;                         /* xorshift64 */
} storm;

static uint32_t storm_count(void)
{
    if (storm.min_count == storm.max_count)
        return storm.min_count;
    storm.state ^= storm.state << 13;
    storm.state ^= storm.state >> 7;
    storm.state ^= storm.state << 17;
    return storm.min_count + (uint32_t)(storm.state % (storm.max_count - storm.min_count + 1));
}

static void storm_arm(void)
{
    uint32_t count = storm_count();
    x86_outb(PIT_COMMAND, 0x30);            /* channel 0, low then high byte, one-shot */
    x86_outb(PIT_CHANNEL0, (uint8_t)count);
    x86_outb(PIT_CHANNEL0, (uint8_t)(count >> 8));
}

void ath_arch_tick_storm(unsigned min_us, unsigned max_us)
{
    storm.min_count = (uint32_t)((uint64_t)min_us * PIT_HZ / 1000000);
    storm.max_count = (uint32_t)((uint64_t)max_us * PIT_HZ / 1000000);
    storm.state = x86_rdtsc() | 1;
    if (storm.min_count == storm.max_count) {
        x86_outb(PIT_COMMAND, 0x34);        /* a fixed interval: the rate generator */
        x86_outb(PIT_CHANNEL0, (uint8_t)storm.min_count);
        x86_outb(PIT_CHANNEL0, (uint8_t)(storm.min_count >> 8));
    } else {
        storm_arm();
    }
}

void ath_arch_interrupts_init(unsigned tick_hz)
{
    for (unsigned i = 0; i < IRQ_LINES + DEVICE_SOURCES; i++)
        x86_idt_set(IRQ_BASE + i, x86_irq_vectors[i], X86_IST_INTERRUPT);
    x86_idt_set(SPURIOUS_VECTOR, x86_irq_vectors[IRQ_LINES + DEVICE_SOURCES], X86_IST_INTERRUPT);
    pic_init();
    lapic_virtual_wire();
    if (lapic)
        ioapics_init();
    cycles_per_second = calibrate_cycles();
    if (cycles_per_second < 1000000)
        ath_panic("cycle counter runs at %lu Hz", (unsigned long)cycles_per_second);
    pit_start(tick_hz);
    ath_arch_irq_unmask(0);
}

/* ---- Dispatch -------------------------------------------------------------------------------- */
void x86_interrupt(struct ath_trap_frame *frame)
{
    if (frame->vector == SPURIOUS_VECTOR)
        return;                             /* the local APIC's: no acknowledgement */
    if (frame->vector >= DEVICE_VECTOR_BASE) {
        unsigned d = (unsigned)frame->vector - DEVICE_VECTOR_BASE;
        if (routes[d].ioapic)               /* a level input: masked before the EOI */
            ioapic_write(routes[d].ioapic, IOAPIC_ENTRY(routes[d].input),
                         routes[d].low | IOAPIC_MASKED);
        lapic[LAPIC_EOI / 4] = 0;
        ath_device_interrupt(IRQ_LINES + d, frame);
        return;
    }
    unsigned line = (unsigned)frame->vector - IRQ_BASE;
    /* Lines 7 and 15 also carry the PICs' spurious interrupts: not in service, no EOI from us
     * (a spurious 15 still needs the master's EOI for the cascade). */
    if ((line == 7 || line == 15) && !(pic_in_service() & (1u << line))) {
        if (line == 15)
            x86_outb(PIC1_COMMAND, PIC_EOI);
        return;
    }
    if (line == 0) {
        if (storm.min_count != storm.max_count)
            storm_arm();
        pic_eoi(0);
        ath_sched_tick(frame);
        return;
    }
    line_mask |= (uint16_t)(1u << line);
    pic_write_mask();
    pic_eoi(line);
    ath_device_interrupt(line, frame);
}

uint64_t ath_arch_irq_save(void)
{
    uint64_t flags;
    __asm__ volatile("pushfq\n\tpopq %0\n\tcli" : "=r"(flags) : : "memory");
    return flags & X86_RFLAGS_IF;
}

void ath_arch_irq_restore(uint64_t state)
{
    if (state & X86_RFLAGS_IF)
        __asm__ volatile("sti" : : : "memory");
}

void ath_arch_irq_enable(void)
{
    __asm__ volatile("sti" : : : "memory");
}

void ath_arch_idle(void)
{
    /* sti takes effect after the next instruction: no interrupt slips in before hlt. */
    __asm__ volatile("sti\n\thlt\n\tcli" : : : "memory");
}

/* ---- Tasks' first context --------------------------------------------------------------------- */
extern char ath_arch_task_entry[];          /* switch.S */

uint64_t ath_arch_stack_init(uintptr_t top, void (*entry)(void *), void *arg)
{
    /* switch.S pops r15 r14 r13 r12 rbx rbp, then returns into task_entry with rsp 16-aligned */
    uint64_t *sp = (uint64_t *)(ATH_ALIGN_DOWN(top, 16) - 9 * 8);
    sp[0] = 0;                              /* r15 */
    sp[1] = 0;                              /* r14 */
    sp[2] = (uint64_t)(uintptr_t)entry;     /* r13 */
    sp[3] = (uint64_t)(uintptr_t)arg;       /* r12 */
    sp[4] = 0;                              /* rbx */
    sp[5] = 0;                              /* rbp */
    sp[6] = (uint64_t)(uintptr_t)ath_arch_task_entry;
    sp[7] = 0;
    sp[8] = 0;
    return (uint64_t)(uintptr_t)sp;
}

uint64_t ath_arch_fetch_add_local(uint64_t *p, uint64_t v)
{
    __asm__ volatile("xaddq %0, %1" : "+r"(v), "+m"(*p) : : "memory");
    return v;
}

/* ---- Ports and random numbers --------------------------------------------------------------- */
uint32_t ath_arch_port_in(uint16_t port, unsigned width)
{
    uint32_t value;
    if (width == 1) {
        uint8_t v;
        __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
        value = v;
    } else if (width == 2) {
        uint16_t v;
        __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
        value = v;
    } else {
        __asm__ volatile("inl %1, %0" : "=a"(value) : "Nd"(port));
    }
    return value;
}

void ath_arch_port_out(uint16_t port, unsigned width, uint32_t value)
{
    if (width == 1)
        __asm__ volatile("outb %0, %1" : : "a"((uint8_t)value), "Nd"(port));
    else if (width == 2)
        __asm__ volatile("outw %0, %1" : : "a"((uint16_t)value), "Nd"(port));
    else
        __asm__ volatile("outl %0, %1" : : "a"(value), "Nd"(port));
}

static int random_kind = -1;                /* -1 unknown, 0 none, 1 RDRAND, 2 RDSEED */

const char *ath_arch_random_source(void)
{
    if (random_kind < 0) {
        uint32_t a, b, c, d;
        x86_cpuid(1, &a, &b, &c, &d);
        bool rdrand = c & (1u << 30);
        x86_cpuid(0, &a, &b, &c, &d);
        bool rdseed = false;
        if (a >= 7) {
            x86_cpuid_sub(7, 0, &a, &b, &c, &d);
            rdseed = b & (1u << 18);
        }
        random_kind = rdrand ? 1 : rdseed ? 2 : 0;
    }
    return random_kind == 1 ? "RDRAND" : random_kind == 2 ? "RDSEED" : NULL;
}

bool ath_arch_random64(uint64_t *out)
{
    if (!ath_arch_random_source())
        return false;
    for (int attempt = 0; attempt < 64; attempt++) {
        uint8_t ok;
        if (random_kind == 1)
            __asm__ volatile("rdrand %0\n\tsetc %1" : "=r"(*out), "=qm"(ok));
        else
            __asm__ volatile("rdseed %0\n\tsetc %1" : "=r"(*out), "=qm"(ok));
        if (ok)
            return true;
        x86_pause();
    }
    return false;
}
