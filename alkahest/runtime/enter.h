/*
 * The records the entry trampolines (enter_x86_64.S, enter_aarch64.S) read and write, as
 * offsets they can use: invoke.c's alk_call and alkahest_runtime.h's alk_entry_frame, each
 * checked against its C layout by a _Static_assert in invoke.c. Macros only: the assembly
 * includes this file.
 */
#ifndef ALK_ENTER_H
#define ALK_ENTER_H

/* alk_call (the same layout on both targets) */
#define ALK_CALL_CODE           0      /* the function's external entry */
#define ALK_CALL_VMCTX          8
#define ALK_CALL_FPRS           16     /* 8 x 16 bytes: xmm0..xmm7, q0..q7 (16-aligned for ldp q) */
#define ALK_CALL_GPRS           144    /* 7 x u64: x86-64 uses the first 5 (rsi rdx rcx r8 r9),
                                          AArch64 all 7 (x1..x7) */
#define ALK_CALL_STACK          200    /* const u64 *: the stack arguments */
#define ALK_CALL_STACK_COUNT    208    /* words of them (a v128 16-aligned: two) */
#define ALK_CALL_EXTRA_RESULTS  216    /* words of the results past the first (the return area) */
#define ALK_CALL_FLOAT_RESULT   224    /* out: the first float or vector result (xmm0, q0), 16 bytes */
#define ALK_CALL_INT_RESULT     240    /* out: the first integer result (rax, x0) */
#define ALK_CALL_EXTRA_OUT      248    /* u64 *: where the extra results go */

/* alk_entry_frame: what a trap restores */
#if defined(__aarch64__)
#define ALK_FRAME_X19           0      /* x19..x28, 10 x u64 */
#define ALK_FRAME_X29           80
#define ALK_FRAME_X30           88     /* the return address into alk_enter's caller */
#define ALK_FRAME_SP            96
#define ALK_FRAME_D8            104    /* d8..d15, 8 x u64 */
#define ALK_FRAME_WORDS         21
#define ALK_FRAME_SP_WORD       12
#else
#define ALK_FRAME_RBX           0
#define ALK_FRAME_RBP           8
#define ALK_FRAME_R12           16
#define ALK_FRAME_R13           24
#define ALK_FRAME_R14           32
#define ALK_FRAME_R15           40
#define ALK_FRAME_RSP           48
#define ALK_FRAME_RIP           56
#define ALK_FRAME_WORDS         8
#define ALK_FRAME_SP_WORD       6
#endif

#endif
