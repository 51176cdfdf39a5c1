/*
 * x86-64 internals: port I/O, control registers, MSRs, descriptor and page
 * table bits. Only arch/x86_64/ includes this file.
 */
#ifndef ATH_X86_H
#define ATH_X86_H

#include <stdint.h>

#include "machine.h"

/* Segment selectors of the kernel GDT (cpu.c; boot.S uses the same values). */
#define X86_SEL_CODE   0x08
#define X86_SEL_DATA   0x10
#define X86_SEL_TSS    0x18

/* IST slots (1-based as in the IDT gate). */
#define X86_IST_DOUBLE_FAULT 1
#define X86_IST_PAGE_FAULT   2
#define X86_IST_NMI_MCE      3
#define X86_IST_EXCEPTION    4    /* every other exception */
#define X86_IST_INTERRUPT    5    /* device interrupts and the tick (interrupts.S moves off it) */

#define X86_CR0_PE  (1ull << 0)
#define X86_CR0_MP  (1ull << 1)
#define X86_CR0_EM  (1ull << 2)
#define X86_CR0_TS  (1ull << 3)
#define X86_CR0_NE  (1ull << 5)
#define X86_CR0_WP  (1ull << 16)
#define X86_CR0_PG  (1ull << 31)

#define X86_CR4_PAE        (1ull << 5)
#define X86_CR4_OSFXSR     (1ull << 9)
#define X86_CR4_OSXMMEXCPT (1ull << 10)

#define X86_RFLAGS_DF      (1ull << 10)

#define X86_MSR_APIC_BASE 0x1bu
#define X86_APIC_BASE_ENABLE (1ull << 11)
#define X86_RFLAGS_IF      (1ull << 9)
#define X86_MSR_EFER   0xc0000080u
#define X86_EFER_LME   (1ull << 8)
#define X86_EFER_NXE   (1ull << 11)

/*
 * Page table entry, any level (4-level paging):
 *
 *   63  62..52  51........12  11..9  8  7   6  5  4   3   2  1  0
 *   NX  ignored  address       AVL   G  PS  D  A  PCD PWT U  W  P
 *
 * PS marks a 2 MiB page in a page-directory entry. AVL bit 9 is ours:
 * the frame belongs to the mapping (allocated by ath_vm_map_fresh) and is
 * freed when the mapping goes away.
 */
#define X86_PTE_P      (1ull << 0)
#define X86_PTE_W      (1ull << 1)
#define X86_PTE_PWT    (1ull << 3)
#define X86_PTE_PCD    (1ull << 4)
#define X86_PTE_DIRTY  (1ull << 6)
#define X86_PTE_PS     (1ull << 7)
#define X86_PTE_OWNED  (1ull << 9)
#define X86_PTE_NX     (1ull << 63)
#define X86_PTE_ADDR   0x000ffffffffff000ull

/* Page fault error code bits. */
#define X86_PF_PRESENT (1u << 0)
#define X86_PF_WRITE   (1u << 1)
#define X86_PF_USER    (1u << 2)
#define X86_PF_RSVD    (1u << 3)
#define X86_PF_FETCH   (1u << 4)

#define X86_DEBUG_EXIT_PORT 0xf4

static inline void x86_outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline uint8_t x86_inb(uint16_t port) { uint8_t v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline void x86_outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port)); }
static inline void x86_pause(void) { __asm__ volatile("pause"); }

static inline uint64_t x86_read_cr0(void) { uint64_t v; __asm__ volatile("mov %%cr0, %0" : "=r"(v)); return v; }
static inline uint64_t x86_read_cr2(void) { uint64_t v; __asm__ volatile("mov %%cr2, %0" : "=r"(v)); return v; }
static inline uint64_t x86_read_cr3(void) { uint64_t v; __asm__ volatile("mov %%cr3, %0" : "=r"(v)); return v; }
static inline uint64_t x86_read_cr4(void) { uint64_t v; __asm__ volatile("mov %%cr4, %0" : "=r"(v)); return v; }
static inline void x86_write_cr0(uint64_t v) { __asm__ volatile("mov %0, %%cr0" : : "r"(v) : "memory"); }
static inline void x86_write_cr3(uint64_t v) { __asm__ volatile("mov %0, %%cr3" : : "r"(v) : "memory"); }
static inline void x86_write_cr4(uint64_t v) { __asm__ volatile("mov %0, %%cr4" : : "r"(v) : "memory"); }
static inline void x86_invlpg(uintptr_t va) { __asm__ volatile("invlpg (%0)" : : "r"(va) : "memory"); }

static inline uint64_t x86_rdmsr(uint32_t msr)
{
    uint32_t lo, hi;
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return (uint64_t)hi << 32 | lo;
}
static inline uint64_t x86_rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (uint64_t)hi << 32 | lo;
}
static inline void x86_cpuid_sub(uint32_t leaf, uint32_t sub, uint32_t *a, uint32_t *b, uint32_t *c, uint32_t *d)
{
    __asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(sub));
}

static inline void x86_cpuid(uint32_t leaf, uint32_t *a, uint32_t *b, uint32_t *c, uint32_t *d)
{
    __asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(0));
}

/* cpu.c */
void x86_cpu_init(void);
/* The kernel stack that code entered from a module runs on (interrupts.S, kcall.S): the
 * running task's, or the boot stack in the scheduler (ath_arch_use_kernel_stack). */
extern uint64_t x86_kernel_stack_bottom, x86_kernel_stack_top;
/* An interrupt gate (clears IF) for vector, on IST slot ist (0: the current stack). */
void x86_idt_set(unsigned vector, uint64_t handler, unsigned ist);
/* serial.c */
void x86_serial_init(void);
void x86_serial_flush(void);
/* trap.c: vectors.S calls ath_trap */
void ath_trap(struct ath_trap_frame *frame);
/* interrupt.c: interrupts.S calls x86_interrupt for vectors 32..47 and 255 */
void x86_interrupt(struct ath_trap_frame *frame);

#endif
