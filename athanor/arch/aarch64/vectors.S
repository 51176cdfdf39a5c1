/*
 * The exception vector table (VBAR_EL1) and the entry and exit paths: every exception saves a
 * struct ath_trap_frame (machine.h, frame.inc) on SP_EL1 and calls ath_trap (synchronous,
 * FIQ, SError) or ath_arch_irq (IRQ). Kernel and module code run on SP_EL0 (EL1t), so those
 * are taken on SP_EL1, a kernel stack, never the interrupted one; exceptions inside an
 * exception handler or a kernel call (EL1h) go on below. An IRQ also saves the FP/SIMD
 * registers (q0..q31, FPCR, FPSR: 528 bytes below the frame): the tick may switch to another
 * task, and compiled code keeps values in them.
 *
 * On the way out the frame's sp is the stack pointer resumed: SP_EL0 for EL1t, or SP_EL1 for
 * EL1h when a fault hook moved it (ath_arch_trap_redirect); that path clobbers x16, which
 * only a function's entry is resumed at.
 *
 * An exception taken on SP_EL1 (from EL1h) with less than 4 KiB of it left would fault again
 * storing its frame, and again, for ever: the entry compares sp with TPIDR_EL0, which
 * ath_arch_use_kernel_stack keeps at the bottom of the stack SP_EL1 is on plus 4 KiB, and
 * below it moves to the overflow stack (source SOURCE_OVERFLOW, the interrupted sp in
 * TPIDRRO_EL0) to report and panic. TPIDR_EL1 holds x0 meanwhile. Neither compiled code nor
 * the kernel uses these registers otherwise.
 */
#include "frame.inc"

#define FP_SIZE 528

    .macro vector source
    .balign 0x80
    sub sp, sp, #FRAME_SIZE
    stp x0, x1, [sp]
    mov x0, #\source
    b exception_entry
    .endm

    .macro vector_on_sp_el1 source
    .balign 0x80
    msr tpidr_el1, x0
    mrs x0, tpidr_el0
    cmp sp, x0
    b.lo stack_overflow
    mrs x0, tpidr_el1
    sub sp, sp, #FRAME_SIZE
    stp x0, x1, [sp]
    mov x0, #\source
    b exception_entry
    .endm

    .text
    .balign 2048
    .globl ath_arch_vectors
ath_arch_vectors:
    vector 0                    /* EL1 on SP_EL0: synchronous */
    vector 1                    /*                IRQ */
    vector 2                    /*                FIQ */
    vector 3                    /*                SError */
    vector_on_sp_el1 4          /* EL1 on SP_EL1 */
    vector_on_sp_el1 5
    vector_on_sp_el1 6
    vector_on_sp_el1 7
    vector 8                    /* EL0, AArch64: never used */
    vector 9
    vector 10
    vector 11
    vector 12                   /* EL0, AArch32: never used */
    vector 13
    vector 14
    vector 15

stack_overflow:
    mov x0, sp
    msr tpidrro_el0, x0
    ldr x0, =ath_overflow_stack_top
    mov sp, x0
    sub sp, sp, #FRAME_SIZE
    mrs x0, tpidr_el1
    stp x0, x1, [sp]
    mov x0, #SOURCE_OVERFLOW
    /* on into exception_entry */

exception_entry:
    stp x2, x3, [sp, #FRAME_X(2)]
    stp x4, x5, [sp, #FRAME_X(4)]
    stp x6, x7, [sp, #FRAME_X(6)]
    stp x8, x9, [sp, #FRAME_X(8)]
    stp x10, x11, [sp, #FRAME_X(10)]
    stp x12, x13, [sp, #FRAME_X(12)]
    stp x14, x15, [sp, #FRAME_X(14)]
    stp x16, x17, [sp, #FRAME_X(16)]
    stp x18, x19, [sp, #FRAME_X(18)]
    stp x20, x21, [sp, #FRAME_X(20)]
    stp x22, x23, [sp, #FRAME_X(22)]
    stp x24, x25, [sp, #FRAME_X(24)]
    stp x26, x27, [sp, #FRAME_X(26)]
    stp x28, x29, [sp, #FRAME_X(28)]
    str x30, [sp, #FRAME_X(30)]
    str x0, [sp, #FRAME_SOURCE]
    tst x0, #12                 /* from EL1 on SP_EL0? */
    b.ne 1f
    mrs x2, sp_el0
    b 2f
1:  add x2, sp, #FRAME_SIZE
2:  str x2, [sp, #FRAME_SP]
    mrs x2, elr_el1
    mrs x3, spsr_el1
    stp x2, x3, [sp, #FRAME_PC]
    mrs x2, esr_el1
    mrs x3, far_el1
    and x4, x0, #3
    cbz x4, 3f                  /* ESR and FAR mean something for synchronous exceptions */
    mov x2, #0
    mov x3, #0
3:  stp x2, x3, [sp, #FRAME_ESR]
    /* A frame record so that backtraces go on into the interrupted code. */
    ldr x2, [sp, #FRAME_PC]
    stp x29, x2, [sp, #FRAME_FP_RECORD]
    add x29, sp, #FRAME_FP_RECORD

    cmp x4, #1
    b.eq irq
    mov x0, sp
    bl ath_trap
    b exception_exit

irq:
    sub sp, sp, #FP_SIZE
    stp q0, q1, [sp, #0]
    stp q2, q3, [sp, #32]
    stp q4, q5, [sp, #64]
    stp q6, q7, [sp, #96]
    stp q8, q9, [sp, #128]
    stp q10, q11, [sp, #160]
    stp q12, q13, [sp, #192]
    stp q14, q15, [sp, #224]
    stp q16, q17, [sp, #256]
    stp q18, q19, [sp, #288]
    stp q20, q21, [sp, #320]
    stp q22, q23, [sp, #352]
    stp q24, q25, [sp, #384]
    stp q26, q27, [sp, #416]
    stp q28, q29, [sp, #448]
    stp q30, q31, [sp, #480]
    mrs x2, fpcr
    mrs x3, fpsr
    add x4, sp, #512
    stp x2, x3, [x4]
    add x0, sp, #FP_SIZE
    bl ath_arch_irq
    ldp q0, q1, [sp, #0]
    ldp q2, q3, [sp, #32]
    ldp q4, q5, [sp, #64]
    ldp q6, q7, [sp, #96]
    ldp q8, q9, [sp, #128]
    ldp q10, q11, [sp, #160]
    ldp q12, q13, [sp, #192]
    ldp q14, q15, [sp, #224]
    ldp q16, q17, [sp, #256]
    ldp q18, q19, [sp, #288]
    ldp q20, q21, [sp, #320]
    ldp q22, q23, [sp, #352]
    ldp q24, q25, [sp, #384]
    ldp q26, q27, [sp, #416]
    ldp q28, q29, [sp, #448]
    ldp q30, q31, [sp, #480]
    add x4, sp, #512
    ldp x2, x3, [x4]
    msr fpcr, x2
    msr fpsr, x3
    add sp, sp, #FP_SIZE

exception_exit:
    ldp x2, x3, [sp, #FRAME_PC]
    msr elr_el1, x2
    msr spsr_el1, x3
    ldr x4, [sp, #FRAME_SP]
    tst x3, #1                  /* resuming on SP_EL1 (EL1h)? */
    b.ne 1f
    msr sp_el0, x4
1:  ldp x2, x3, [sp, #FRAME_X(2)]
    ldp x4, x5, [sp, #FRAME_X(4)]
    ldp x6, x7, [sp, #FRAME_X(6)]
    ldp x8, x9, [sp, #FRAME_X(8)]
    ldp x10, x11, [sp, #FRAME_X(10)]
    ldp x12, x13, [sp, #FRAME_X(12)]
    ldp x14, x15, [sp, #FRAME_X(14)]
    ldp x16, x17, [sp, #FRAME_X(16)]
    ldp x18, x19, [sp, #FRAME_X(18)]
    ldp x20, x21, [sp, #FRAME_X(20)]
    ldp x22, x23, [sp, #FRAME_X(22)]
    ldp x24, x25, [sp, #FRAME_X(24)]
    ldp x26, x27, [sp, #FRAME_X(26)]
    ldp x28, x29, [sp, #FRAME_X(28)]
    ldr x30, [sp, #FRAME_X(30)]
    /* EL1h with a moved stack pointer: x16 carries it (see above). */
    ldr x0, [sp, #FRAME_PSTATE]
    tbz x0, #0, 2f
    ldr x0, [sp, #FRAME_SP]
    add x1, sp, #FRAME_SIZE
    cmp x0, x1
    b.eq 2f
    mov x16, x0
    ldp x0, x1, [sp]
    mov sp, x16
    eret
2:  ldp x0, x1, [sp]
    add sp, sp, #FRAME_SIZE
    eret

    .section .note.GNU-stack, "", %progbits
