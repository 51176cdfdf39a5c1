/*
 * Kernel call entries (kcall.c): what compiled code calls instead of a kernel function.
 *
 *   ath_arch_kcall_stubs + 16 * N    entry of kernel call N: r11d = N, then kcall_common
 *
 * kcall_common moves from the module's stack to the running task's kernel stack
 * (x86_kernel_stack_top: empty whenever module code runs), copies the call's stack arguments,
 * calls ath_kcalls[N].target with the argument registers untouched (rdi = the caller's
 * vmctx, docs/abi.md), and returns to the module on its own stack with the result in
 * rax/xmm0. It clobbers only rax, r10 and r11, which no argument uses and compiled code never
 * keeps across a call. The kernel stack then holds, from its top:
 *
 *   top - 8    the module's rsp at the call ([it] is the module's return address:
 *              ath_kcall_return_address)
 *   below      padding to 16 bytes, the stack arguments, the return address into here
 *
 * struct ath_kcall (kcall.c) is { target, stack_words }, 16 bytes.
 */
#include "param.h"

    .intel_syntax noprefix
    .text

    .balign 16
    .globl ath_arch_kcall_stubs
ath_arch_kcall_stubs:
    .set index, 0
    .rept ATH_KCALLS_MAX
    .balign 16
    mov r11d, index
    jmp kcall_common
    .set index, index + 1
    .endr

kcall_common:
    mov rax, rsp
    mov rsp, [rip + x86_kernel_stack_top]
    push rax                        /* the module's rsp */
    shl r11, 4
    lea r10, [rip + ath_kcalls]
    add r10, r11
    mov r11, [r10 + 8]              /* stack words */
    mov r10, [r10]                  /* target */
    test r11, 1
    jnz 1f
    sub rsp, 8                      /* rsp 16-aligned at the call, whatever the count */
1:  test r11, r11
    jz 3f
2:  push qword ptr [rax + 8 * r11]  /* the last stack argument first; [rax] is the return address */
    dec r11
    jnz 2b
3:  call r10
    mov rsp, [rip + x86_kernel_stack_top]
    mov rsp, [rsp - 8]
    ret

    .section .note.GNU-stack,"",@progbits
