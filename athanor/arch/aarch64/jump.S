/*
 * ath_setjmp / ath_longjmp (athanor.h): the AAPCS64 callee-saved general registers, the frame
 * pointer, the return address, sp and which stack pointer it was (SPSel), in
 * struct ath_jmp_buf's order (machine.h).
 */
    .text
    .globl ath_setjmp
ath_setjmp:
    stp x19, x20, [x0, #0]
    stp x21, x22, [x0, #16]
    stp x23, x24, [x0, #32]
    stp x25, x26, [x0, #48]
    stp x27, x28, [x0, #64]
    stp x29, x30, [x0, #80]
    mov x1, sp
    mrs x2, spsel
    stp x1, x2, [x0, #96]
    mov w0, #0
    ret

    .globl ath_longjmp
ath_longjmp:
    ldp x19, x20, [x0, #0]
    ldp x21, x22, [x0, #16]
    ldp x23, x24, [x0, #32]
    ldp x25, x26, [x0, #48]
    ldp x27, x28, [x0, #64]
    ldp x29, x30, [x0, #80]
    ldp x2, x3, [x0, #96]
    cbz x3, 1f
    msr spsel, #1
    b 2f
1:  msr spsel, #0
2:  mov sp, x2
    cmp w1, #0
    csinc w0, w1, wzr, ne       /* 0 becomes 1 */
    ret

/* ath_arch_unwind(entry, code) (arch.h): a trap path runs on SP_EL1 (a kernel call's entry or a
 * redirected fault selected it); leave it as a kernel call's return would, SP_EL1 back at the
 * top of the task's kernel stack and SP_EL0 selected, then alk_unwind restores the entry
 * frame's sp (on SP_EL0, the task's stack). alk_unwind needs no stack; an interrupt in
 * between is taken on SP_EL1 from its top, as from module code. */
    .globl ath_arch_unwind
ath_arch_unwind:
    mrs x9, spsel
    cbz x9, 1f
    adrp x10, aarch64_kernel_stack_top
    ldr x10, [x10, :lo12:aarch64_kernel_stack_top]
    mov sp, x10
    msr spsel, #0
1:  b alk_unwind

    .section .note.GNU-stack, "", %progbits
