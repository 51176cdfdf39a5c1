/*
 * The records the entry trampoline (enter_x86_64.S) reads and writes, as offsets it can use:
 * invoke.c's alk_call and alkahest_runtime.h's alk_entry_frame, each checked against its C
 * layout by a _Static_assert in invoke.c. Macros only: the assembly includes this file.
 */
#ifndef ALK_ENTER_H
#define ALK_ENTER_H

/* alk_call */
#define ALK_CALL_CODE           0      /* the function's external entry */
#define ALK_CALL_VMCTX          8
#define ALK_CALL_GPRS           16     /* 5 x u64: rsi rdx rcx r8 r9 */
#define ALK_CALL_XMMS           56     /* 8 x 16 bytes: xmm0..xmm7 */
#define ALK_CALL_STACK          184    /* const u64 *: the stack arguments */
#define ALK_CALL_STACK_COUNT    192    /* words of them (a v128 16-aligned: two) */
#define ALK_CALL_EXTRA_RESULTS  200    /* words of the results past the first (the return area) */
#define ALK_CALL_RAX            208    /* out: the first integer result */
#define ALK_CALL_XMM0           216    /* out: the first float or vector result, 16 bytes */
#define ALK_CALL_EXTRA_OUT      232    /* u64 *: where the extra results go */

/* alk_entry_frame: what a trap restores */
#define ALK_FRAME_RBX           0
#define ALK_FRAME_RBP           8
#define ALK_FRAME_R12           16
#define ALK_FRAME_R13           24
#define ALK_FRAME_R14           32
#define ALK_FRAME_R15           40
#define ALK_FRAME_RSP           48
#define ALK_FRAME_RIP           56

#endif
