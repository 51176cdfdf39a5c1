/*
 * Entry stubs for hardware interrupts: vectors 32..47 (the two 8259 PICs, remapped) and 255
 * (the local APIC's spurious vector). Each builds the same struct ath_trap_frame as an
 * exception (machine.h) and calls x86_interrupt(frame) (interrupt.c).
 *
 * Unlike exceptions, an interrupt may arrive while compiled Wasm code runs and may switch to
 * another task before returning, so the entry also saves the SSE state (fxsave, 512 bytes,
 * 16-byte aligned) below the frame and restores it last. Interrupts stay off (interrupt gates)
 * until iretq restores the interrupted rflags.
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

    .irp n, 32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,255
    IRQ_VECTOR \n
    .endr

irq_common:
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
x86_irq_vectors:            /* 32..47, then 255 */
    .irp n, 32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,255
    .quad irq_vector_\n
    .endr

    .section .note.GNU-stack, "", @progbits
