/*
 * Entry stubs for hardware interrupts: vectors 32..47 (the two 8259 PICs, remapped), 48..95 (PCI
 * devices: I/O APIC lines and MSI-X messages, through the local APIC) and 255 (the local APIC's
 * spurious vector). Each builds the same struct ath_trap_frame as an
 * exception (machine.h) and calls x86_interrupt(frame) (interrupt.c).
 *
 * Every interrupt arrives on the interrupt IST stack (cpu.c), never on the interrupted one:
 * when it interrupts module code, that is the module's stack, where the kernel must push
 * nothing (docs/runtime.md, "Stacks"). The entry moves at once to the kernel stack of the
 * running task (x86_kernel_stack_*, the boot stack in the scheduler): below the interrupted
 * rsp when that was on this kernel stack already (a kernel function was interrupted), else at
 * its top (the module's code, or the task's bookkeeping on its own stack, was interrupted:
 * the kernel stack is empty then). So the frame lives on a stack that belongs to the task,
 * and the handler may switch tasks: the IST stack is free again before interrupts come back.
 *
 * Unlike exceptions, an interrupt may switch to another task before returning, so the entry
 * also saves the SSE state (fxsave, 512 bytes, 16-byte aligned) below the frame and restores
 * it last. Interrupts stay off (interrupt gates) until iretq restores the interrupted rflags.
 *
 *   frame ->  r15 .. rax | cr2 (0) | vector | error (0) | rip cs rflags rsp ss
 *             (below it: padding, then the 512-byte fxsave area at a 16-byte boundary)
 */
#include "frame.inc"

    .text
    .code64

.macro IRQ_VECTOR n
    .balign 16
irq_vector_\n:
    pushq $0                /* error */
    pushq $\n
    jmp irq_common
.endm

    .irp n, 32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,56,57,58,59,60,61,62,63,64,65,66,67,68,69,70,71,72,73,74,75,76,77,78,79,80,81,82,83,84,85,86,87,88,89,90,91,92,93,94,95,255
    IRQ_VECTOR \n
    .endr

irq_common:
    /* On the IST stack: vector error rip cs rflags rsp ss, then rax and rcx saved here. */
    pushq %rax
    pushq %rcx
    movq 56(%rsp), %rax     /* the interrupted rsp */
    cmpq x86_kernel_stack_bottom(%rip), %rax
    jb 1f
    cmpq x86_kernel_stack_top(%rip), %rax
    ja 1f
    andq $-16, %rax         /* on the kernel stack already: below it, aligned as the CPU would */
    jmp 2f
1:  movq x86_kernel_stack_top(%rip), %rax
2:  movq %rsp, %rcx
    movq %rax, %rsp
    pushq 64(%rcx)          /* ss */
    pushq 56(%rcx)          /* rsp */
    pushq 48(%rcx)          /* rflags */
    pushq 40(%rcx)          /* cs */
    pushq 32(%rcx)          /* rip */
    pushq 24(%rcx)          /* error */
    pushq 16(%rcx)          /* vector */
    movq 8(%rcx), %rax
    movq (%rcx), %rcx
    pushq $0                /* cr2 */
    PUSH_GENERAL_REGISTERS
    cld
    movq %rsp, %rbx         /* the frame; callee-saved, and kept across a task switch */
    subq $512, %rsp
    andq $-16, %rsp
    fxsave (%rsp)
    movq %rbx, %rdi
    call x86_interrupt
    fxrstor (%rsp)
    movq %rbx, %rsp
    POP_GENERAL_REGISTERS
    addq $24, %rsp          /* cr2, vector, error */
    iretq

    .section .rodata
    .balign 8
    .globl x86_irq_vectors
x86_irq_vectors:            /* 32..95, then 255 */
    .irp n, 32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,56,57,58,59,60,61,62,63,64,65,66,67,68,69,70,71,72,73,74,75,76,77,78,79,80,81,82,83,84,85,86,87,88,89,90,91,92,93,94,95,255
    .quad irq_vector_\n
    .endr

    .section .note.GNU-stack, "", @progbits
