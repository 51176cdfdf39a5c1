/*
 * Kernel call entries (kcall.c, arch.h): what compiled code calls instead of a kernel function.
 *
 *   ath_arch_kcall_stubs + 64 * N    entry of kernel call N
 *
 * Module code runs on SP_EL0 (EL1t), with SP_EL1 at the top of the running task's kernel stack
 * (empty: aarch64_kernel_stack_top). An entry selects SP_EL1 (one instruction: an interrupt
 * before or after it finds sp on one stack or the other), saves the module's sp and return
 * address at the top, copies the call's stack arguments, calls ath_kcalls[N].target with the
 * argument registers untouched (x0 = the caller's vmctx, docs/abi.md), then puts SP_EL1 back
 * at the top, SP_EL0 back to the module's sp (a task switch while the call blocked loaded
 * another task's) and returns on the module's stack. It clobbers x9..x17, which compiled code
 * never keeps across a call. The kernel stack then holds, from its top:
 *
 *   top - 8    the return address into the module (ath_arch_kcall_return_address)
 *   top - 16   the module's sp at the call
 *   below      the stack arguments, 16-byte aligned
 *
 * struct ath_kcall (kcall.c) is { target, stack_words }, 16 bytes.
 */
#include "param.h"

    .text
    .balign 64
    .globl ath_arch_kcall_stubs
ath_arch_kcall_stubs:
    .set index, 0
    .rept ATH_KCALLS_MAX
    .balign 64
    msr spsel, #1
    mov x16, #index
    b kcall
    .set index, index + 1
    .endr

kcall:
    mrs x17, sp_el0
    stp x17, x30, [sp, #-16]!
    adrp x9, ath_kcalls
    add x9, x9, :lo12:ath_kcalls
    add x9, x9, x16, lsl #4
    ldp x10, x11, [x9]              /* target, stack words */
    cbz x11, 2f
    add x12, x11, #1
    and x12, x12, #~1
    sub sp, sp, x12, lsl #3
    mov x13, #0
1:  ldr x14, [x17, x13, lsl #3]
    str x14, [sp, x13, lsl #3]
    add x13, x13, #1
    cmp x13, x11
    b.lo 1b
2:  blr x10
    adrp x9, aarch64_kernel_stack_top
    ldr x9, [x9, :lo12:aarch64_kernel_stack_top]
    ldp x17, x30, [x9, #-16]
    mov sp, x9
    msr sp_el0, x17
    msr spsel, #0
    ret

    .section .note.GNU-stack, "", %progbits
