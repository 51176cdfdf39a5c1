/*
 * The entry trampoline between C and compiled Wasm on AArch64 (docs/abi.md).
 *
 *   uint32_t alk_enter(alk_entry_frame *frame, alk_call *call)
 *       saves the AAPCS64 callee-saved registers (x19..x28, d8..d15), x29, x30 and sp in
 *       *frame, calls call->code with the registers and stack arguments of *call, stores the
 *       results back into *call, and returns 0.
 *   void alk_unwind(alk_entry_frame *frame, uint32_t code)
 *       restores what alk_enter saved and makes that alk_enter return `code` (a trap).
 *
 * The offsets of alk_call and alk_entry_frame are enter.h's (checked against the C layouts in
 * invoke.c).
 */
#include "enter.h"

    .text

    .globl alk_enter
    .type alk_enter, %function
    .p2align 2
alk_enter:
    stp x19, x20, [x0, #ALK_FRAME_X19]
    stp x21, x22, [x0, #ALK_FRAME_X19 + 16]
    stp x23, x24, [x0, #ALK_FRAME_X19 + 32]
    stp x25, x26, [x0, #ALK_FRAME_X19 + 48]
    stp x27, x28, [x0, #ALK_FRAME_X19 + 64]
    stp x29, x30, [x0, #ALK_FRAME_X29]          /* x30: our return address */
    mov x9, sp
    str x9, [x0, #ALK_FRAME_SP]
    stp d8, d9, [x0, #ALK_FRAME_D8]
    stp d10, d11, [x0, #ALK_FRAME_D8 + 16]
    stp d12, d13, [x0, #ALK_FRAME_D8 + 32]
    stp d14, d15, [x0, #ALK_FRAME_D8 + 48]

    stp x29, x30, [sp, #-32]!
    mov x29, sp
    stp x1, x0, [x29, #16]                      /* [x29+16]: the call, [x29+24]: the frame */

    /* outgoing area: stack arguments, then the return area, 16-byte aligned */
    ldr x9, [x1, #ALK_CALL_STACK_COUNT]
    ldr x10, [x1, #ALK_CALL_EXTRA_RESULTS]
    add x10, x9, x10
    lsl x10, x10, #3
    add x10, x10, #15
    and x10, x10, #~15
    sub sp, sp, x10

    ldr x11, [x1, #ALK_CALL_STACK]
    mov x12, #0
1:  cmp x12, x9
    b.hs 2f
    ldr x13, [x11, x12, lsl #3]
    str x13, [sp, x12, lsl #3]
    add x12, x12, #1
    b 1b
2:
    mov x16, x1
    ldp q0, q1, [x16, #ALK_CALL_FPRS]
    ldp q2, q3, [x16, #ALK_CALL_FPRS + 32]
    ldp q4, q5, [x16, #ALK_CALL_FPRS + 64]
    ldp q6, q7, [x16, #ALK_CALL_FPRS + 96]
    ldr x0, [x16, #ALK_CALL_VMCTX]
    ldp x1, x2, [x16, #ALK_CALL_GPRS]
    ldp x3, x4, [x16, #ALK_CALL_GPRS + 16]
    ldp x5, x6, [x16, #ALK_CALL_GPRS + 32]
    ldr x7, [x16, #ALK_CALL_GPRS + 48]
    ldr x17, [x16, #ALK_CALL_CODE]
    blr x17

    ldr x16, [x29, #16]
    str x0, [x16, #ALK_CALL_INT_RESULT]
    str q0, [x16, #ALK_CALL_FLOAT_RESULT]
    /* extra results sit above the stack arguments */
    ldr x9, [x16, #ALK_CALL_EXTRA_RESULTS]
    ldr x10, [x16, #ALK_CALL_EXTRA_OUT]
    ldr x11, [x16, #ALK_CALL_STACK_COUNT]
    add x11, sp, x11, lsl #3
    mov x12, #0
3:  cmp x12, x9
    b.hs 4f
    ldr x13, [x11, x12, lsl #3]
    str x13, [x10, x12, lsl #3]
    add x12, x12, #1
    b 3b
4:
    /* Wasm code may have clobbered x26..x28 (pinned to its instance): restore them all */
    ldr x0, [x29, #24]
    ldp x19, x20, [x0, #ALK_FRAME_X19]
    ldp x21, x22, [x0, #ALK_FRAME_X19 + 16]
    ldp x23, x24, [x0, #ALK_FRAME_X19 + 32]
    ldp x25, x26, [x0, #ALK_FRAME_X19 + 48]
    ldp x27, x28, [x0, #ALK_FRAME_X19 + 64]
    ldp d8, d9, [x0, #ALK_FRAME_D8]
    ldp d10, d11, [x0, #ALK_FRAME_D8 + 16]
    ldp d12, d13, [x0, #ALK_FRAME_D8 + 32]
    ldp d14, d15, [x0, #ALK_FRAME_D8 + 48]
    mov sp, x29
    ldp x29, x30, [sp], #32
    mov w0, #0
    ret
    .size alk_enter, . - alk_enter

    .globl alk_unwind
    .type alk_unwind, %function
    .p2align 2
alk_unwind:
    ldp x19, x20, [x0, #ALK_FRAME_X19]
    ldp x21, x22, [x0, #ALK_FRAME_X19 + 16]
    ldp x23, x24, [x0, #ALK_FRAME_X19 + 32]
    ldp x25, x26, [x0, #ALK_FRAME_X19 + 48]
    ldp x27, x28, [x0, #ALK_FRAME_X19 + 64]
    ldp x29, x30, [x0, #ALK_FRAME_X29]
    ldp d8, d9, [x0, #ALK_FRAME_D8]
    ldp d10, d11, [x0, #ALK_FRAME_D8 + 16]
    ldp d12, d13, [x0, #ALK_FRAME_D8 + 32]
    ldp d14, d15, [x0, #ALK_FRAME_D8 + 48]
    ldr x9, [x0, #ALK_FRAME_SP]
    mov sp, x9
    mov w0, w1
    ret                                         /* from alk_enter, to its caller */
    .size alk_unwind, . - alk_unwind

    .section .note.GNU-stack,"",%progbits
