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

    .section .note.GNU-stack, "", %progbits
