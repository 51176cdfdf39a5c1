/*
 * x86-64 CPU setup: the kernel GDT with a TSS (for the IST stacks), the
 * IDT for the 32 exception vectors, FPU/SSE for compiled Wasm code, and a
 * masked legacy PIC. Also ath_arch_init, ath_arch_exit and the stack table.
 */
#include "kernel.h"
#include "x86.h"

/* 64-bit TSS: only the IST pointers matter (no ring 3, so no rsp0). */
struct x86_tss {
    uint32_t reserved0;
    uint64_t rsp[3];
    uint64_t reserved1;
    uint64_t ist[7];
    uint64_t reserved2;
    uint16_t reserved3;
    uint16_t iomap_base;
} __attribute__((packed));

/*
 * IDT gate (16 bytes):
 *   offset 15..0 | selector | ist (bits 2..0) | type_attr | offset 31..16 | offset 63..32 | 0
 * type_attr 0x8e: present, DPL 0, 64-bit interrupt gate (clears IF).
 */
struct x86_idt_gate {
    uint16_t offset_low;
    uint16_t selector;
    uint8_t ist;
    uint8_t type_attr;
    uint16_t offset_mid;
    uint32_t offset_high;
    uint32_t reserved;
} __attribute__((packed));

struct x86_table_pointer {
    uint16_t limit;
    uint64_t base;
} __attribute__((packed));

/* An exception stack with its guard page, page aligned so that vm.c can
 * unmap the guard. */
struct x86_ist_stack {
    uint8_t guard[ATH_PAGE_SIZE];
    uint8_t stack[ATH_IST_STACK_SIZE];
} __attribute__((aligned(ATH_PAGE_SIZE)));

extern const uint64_t x86_trap_vectors[32];   /* vectors.S */
extern char ath_boot_stack_guard[], ath_boot_stack_bottom[], ath_boot_stack_top[];   /* boot.S */

static struct x86_ist_stack ist_double_fault, ist_page_fault, ist_nmi_mce, ist_exception,
                            ist_interrupt;
static struct x86_tss tss __attribute__((aligned(16)));
static struct x86_idt_gate idt[256] __attribute__((aligned(16)));

/* GDT: null, code 0x08, data 0x10, TSS 0x18 (two slots). Writable: ltr
 * sets the busy bit in the TSS descriptor. */
static uint64_t gdt[5] __attribute__((aligned(16))) = {
    0,
    0x00209b0000000000ull,      /* 64-bit code, present, accessed */
    0x0000930000000000ull,      /* data, writable, present, accessed */
    0, 0,
};

static struct ath_kstack kstacks[6];

uint64_t x86_kernel_stack_bottom, x86_kernel_stack_top;

void ath_arch_use_kernel_stack(const struct ath_kstack *k)
{
    if (!k)
        k = &kstacks[0];
    x86_kernel_stack_bottom = k->bottom;
    x86_kernel_stack_top = k->top;
}

static uintptr_t stack_top(struct x86_ist_stack *s) { return (uintptr_t)(s->stack + sizeof s->stack); }

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

static void gdt_load(void)
{
    uint64_t base = (uintptr_t)&tss;
    uint64_t limit = sizeof tss - 1;

    /* 16-byte TSS descriptor: type 0x9 (available 64-bit TSS), present. */
    gdt[3] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ull << 40) |
             (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
    gdt[4] = base >> 32;

    struct x86_table_pointer p = { sizeof gdt - 1, (uintptr_t)gdt };
    __asm__ volatile(
        "lgdt %0\n\t"
        "pushq %1\n\t"
        "leaq 1f(%%rip), %%rax\n\t"
        "pushq %%rax\n\t"
        "lretq\n"
        "1:\n\t"
        "movw %w2, %%ax\n\t"
        "movw %%ax, %%ds\n\t"
        "movw %%ax, %%es\n\t"
        "movw %%ax, %%ss\n\t"
        "xorw %%ax, %%ax\n\t"
        "movw %%ax, %%fs\n\t"
        "movw %%ax, %%gs\n\t"
        "movw %w3, %%ax\n\t"
        "ltr %%ax\n\t"
        : : "m"(p), "i"(X86_SEL_CODE), "i"(X86_SEL_DATA), "i"(X86_SEL_TSS) : "rax", "memory");
}

void x86_idt_set(unsigned vector, uint64_t handler, unsigned ist)
{
    struct x86_idt_gate *g = &idt[vector];
    g->offset_low = handler & 0xffff;
    g->selector = X86_SEL_CODE;
    g->ist = ist;
    g->type_attr = 0x8e;
    g->offset_mid = (handler >> 16) & 0xffff;
    g->offset_high = handler >> 32;
    g->reserved = 0;
}

/*
 * Every exception and interrupt is taken on an IST stack, never on the interrupted one: module
 * code's stack is not the kernel's to push on (docs/runtime.md, "Stacks"), and a kernel stack
 * that overflowed cannot take a frame either. Double fault, page fault (a kernel stack overflow
 * is a page fault on its guard page), NMI and machine check have stacks of their own; every
 * other exception shares one. An IST stack restarts at its top on every entry, so an exception
 * inside the handler of one on the same stack overwrites the outer frame: ath_trap treats any
 * nested exception as fatal, so nothing needs that frame again. Interrupts leave their IST
 * stack at once for the right kernel stack (interrupts.S), because they may switch tasks.
 */
static void idt_load(void)
{
    tss.ist[X86_IST_DOUBLE_FAULT - 1] = stack_top(&ist_double_fault);
    tss.ist[X86_IST_PAGE_FAULT - 1] = stack_top(&ist_page_fault);
    tss.ist[X86_IST_NMI_MCE - 1] = stack_top(&ist_nmi_mce);
    tss.ist[X86_IST_EXCEPTION - 1] = stack_top(&ist_exception);
    tss.ist[X86_IST_INTERRUPT - 1] = stack_top(&ist_interrupt);
    tss.iomap_base = sizeof tss;    /* no I/O permission bitmap */

    for (unsigned v = 0; v < 32; v++) {
        unsigned ist = X86_IST_EXCEPTION;
        if (v == 8)
            ist = X86_IST_DOUBLE_FAULT;
        else if (v == 14)
            ist = X86_IST_PAGE_FAULT;
        else if (v == 2 || v == 18)
            ist = X86_IST_NMI_MCE;
        x86_idt_set(v, x86_trap_vectors[v], ist);
    }
    struct x86_table_pointer p = { sizeof idt - 1, (uintptr_t)idt };
    __asm__ volatile("lidt %0" : : "m"(p));
}

/* SSE for compiled Wasm code: CR0.MP set, EM and TS clear, NE for native
 * x87 errors; CR4.OSFXSR (fxsave, SSE instructions) and OSXMMEXCPT (#XM
 * instead of #UD on unmasked SIMD FP exceptions). */
static bool sse_enable(void)
{
    uint32_t a, b, c, d;
    x86_cpuid(1, &a, &b, &c, &d);
    if (!(d & (1u << 25)) || !(d & (1u << 26)) || !(d & (1u << 24)))   /* SSE, SSE2, FXSR */
        return false;
    uint64_t cr0 = x86_read_cr0();
    cr0 &= ~(X86_CR0_EM | X86_CR0_TS);
    cr0 |= X86_CR0_MP | X86_CR0_NE;
    x86_write_cr0(cr0);
    x86_write_cr4(x86_read_cr4() | X86_CR4_OSFXSR | X86_CR4_OSXMMEXCPT);
    uint32_t mxcsr = 0x1f80;    /* all SIMD exceptions masked, round to nearest */
    __asm__ volatile("fninit\n\tldmxcsr %0" : : "m"(mxcsr));
    return true;
}

/* The 8259 PICs stay masked: interrupts are off and, under BIOS, IRQ 0..7
 * would arrive on the exception vectors 8..15. */
static void pic_mask(void)
{
    x86_outb(0x21, 0xff);
    x86_outb(0xa1, 0xff);
}

void x86_cpu_init(void)
{
    kstack_set(&kstacks[0], "boot stack", (uintptr_t)ath_boot_stack_guard, (uintptr_t)ath_boot_stack_top);
    kstack_set(&kstacks[1], "double-fault IST stack", (uintptr_t)ist_double_fault.guard, stack_top(&ist_double_fault));
    kstack_set(&kstacks[2], "page-fault IST stack", (uintptr_t)ist_page_fault.guard, stack_top(&ist_page_fault));
    kstack_set(&kstacks[3], "NMI/machine-check IST stack", (uintptr_t)ist_nmi_mce.guard, stack_top(&ist_nmi_mce));
    kstack_set(&kstacks[4], "exception IST stack", (uintptr_t)ist_exception.guard, stack_top(&ist_exception));
    kstack_set(&kstacks[5], "interrupt IST stack", (uintptr_t)ist_interrupt.guard, stack_top(&ist_interrupt));
    ath_arch_use_kernel_stack(NULL);
    gdt_load();
    idt_load();
    pic_mask();
    if (!sse_enable()) {
        ath_kprintf("[athanor] boot error: this CPU lacks SSE2 or FXSR\n");
        ath_fail(ATH_FAIL_BOOT);
    }
}

void ath_arch_init(void)
{
    x86_serial_init();
    x86_cpu_init();
}

/* QEMU's fw_cfg device answers "QEMU" to its signature selector: only there does the kernel
 * write to the isa-debug-exit port (which no real machine has). */
#define FW_CFG_SELECTOR 0x510
#define FW_CFG_DATA     0x511

static bool on_qemu(void)
{
    static int known = -1;
    if (known < 0) {
        x86_outw(FW_CFG_SELECTOR, 0);
        char signature[4];
        for (int i = 0; i < 4; i++)
            signature[i] = (char)x86_inb(FW_CFG_DATA);
        known = !memcmp(signature, "QEMU", 4);
    }
    return known;
}

/* isa-debug-exit: QEMU exits with (value << 1) | 1. The console is flushed first so that QEMU
 * has passed on every byte before it exits. Returns where there is no such device. */
void ath_arch_debug_exit(unsigned value)
{
    x86_serial_flush();
    if (on_qemu())
        x86_outb(X86_DEBUG_EXIT_PORT, (uint8_t)value);
}

void ath_arch_exit(unsigned value)
{
    ath_arch_debug_exit(value);
    ath_arch_halt();
}

#define RESET_CONTROL_PORT 0xcf9     /* PIIX/ICH: 0x06 = full reset */
#define I8042_COMMAND_PORT 0x64      /* 0xfe: pulse the CPU reset line */

/* The i8042's reset pulse: a reboot on a PC, the end of the VM on Firecracker (which has no
 * other way out). Nothing happens where there is no i8042 (its status port reads 0xff). */
static void i8042_reset(void)
{
    if (x86_inb(I8042_COMMAND_PORT) == 0xff)
        return;
    for (int i = 0; i < 100000 && (x86_inb(I8042_COMMAND_PORT) & 2); i++)
        ;
    x86_outb(I8042_COMMAND_PORT, 0xfe);
}

void ath_arch_power_off(void)
{
    i8042_reset();
}

void ath_arch_reset(void)
{
    x86_outb(RESET_CONTROL_PORT, 0x02);
    x86_outb(RESET_CONTROL_PORT, 0x06);
    i8042_reset();
    /* A triple fault: no IDT, then an exception. */
    static const struct { uint16_t limit; uint64_t base; } __attribute__((packed)) none = { 0, 0 };
    __asm__ volatile("lidt %0\n\tint3" : : "m"(none));
    ath_arch_halt();
}

void ath_arch_halt(void)
{
    for (;;)
        __asm__ volatile("cli\n\thlt");
}
