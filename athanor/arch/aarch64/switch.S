/*
 * ath_arch_switch(uint64_t *save, uint64_t next) and ath_arch_stack_init (arch.h).
 *
 * A context is the callee-saved registers pushed on its own stack; the saved value is that
 * stack pointer with bit 0 set when it is SP_EL1 (a task switched away from inside an
 * exception handler or a kernel call: EL1h) and clear for SP_EL0 (kernel code: EL1t). Resuming
 * an EL1t context first points SP_EL1 at the kernel stack ath_arch_use_kernel_stack chose, so
 * that its exceptions are taken there.
 *
 *   sp ->  x19 x20 ... x28 x29 x30   (96 bytes)
 */
    .text
    .globl ath_arch_switch
ath_arch_switch:
    sub sp, sp, #96
    stp x19, x20, [sp, #0]
    stp x21, x22, [sp, #16]
    stp x23, x24, [sp, #32]
    stp x25, x26, [sp, #48]
    stp x27, x28, [sp, #64]
    stp x29, x30, [sp, #80]
    mov x2, sp
    mrs x3, spsel
    orr x2, x2, x3
    str x2, [x0]
    and x2, x1, #~1
    tbnz x1, #0, 1f
    /* EL1t: SP_EL1 to the chosen kernel stack's top, then sp is SP_EL0. */
    ldr x3, =aarch64_kernel_stack_top
    ldr x3, [x3]
    msr spsel, #1
    mov sp, x3
    msr spsel, #0
    b 2f
1:  msr spsel, #1
2:  mov sp, x2
    ldp x19, x20, [sp, #0]
    ldp x21, x22, [sp, #16]
    ldp x23, x24, [sp, #32]
    ldp x25, x26, [sp, #48]
    ldp x27, x28, [sp, #64]
    ldp x29, x30, [sp, #80]
    add sp, sp, #96
    ret

/* A fresh context (EL1t) whose first switch "returns" into start with entry and arg in x19
 * and x20. The entry must not return. */
    .globl ath_arch_stack_init
ath_arch_stack_init:
    and x0, x0, #~15
    sub x0, x0, #96
    stp x1, x2, [x0, #0]        /* x19 = entry, x20 = arg */
    stp xzr, xzr, [x0, #16]
    stp xzr, xzr, [x0, #32]
    stp xzr, xzr, [x0, #48]
    stp xzr, xzr, [x0, #64]
    adr x3, start
    stp xzr, x3, [x0, #80]      /* x29 = 0 ends backtraces, x30 = start */
    ret

start:
    mov x0, x20
    blr x19
    udf #0

    .section .note.GNU-stack, "", %progbits
