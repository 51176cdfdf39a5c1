/*
 * Kernel call entries (kcall.c): what compiled code calls instead of a kernel function.
 *
 *   ath_arch_kcall_stubs + 64 * N    entry of kernel call N
 *
 * An entry moves from the module's stack to the running task's kernel stack
 * (x86_kernel_stack_top: empty whenever module code runs), copies the call's stack arguments,
 * calls ath_kcalls[N].target with the argument registers untouched (rdi = the caller's
 * vmctx, docs/abi.md), and returns to the module on its own stack with the result in
 * rax/xmm0. It clobbers only rax, r10 and r11, which no argument uses and compiled code never
 * keeps across a call. rsp moves between the two stacks in single instructions, so an
 * interrupt anywhere in here finds it on one of them (interrupts.S). The kernel stack then
 * holds, from its top:
 *
 *   top - 8    the module's rsp at the call ([it] is the module's return address:
 *              ath_kcall_return_address)
 *   below      padding to 16 bytes, the stack arguments, the return address into here
 *
 * (the exit reads the saved rsp through r11, never with rsp at the top: an interrupt there
 * would take its frame at the top, over it, as interrupts.S goes on below an rsp already on
 * the kernel stack). struct ath_kcall (kcall.c) is { target, stack_words }, 16 bytes.
 */
#include "param.h"

    .intel_syntax noprefix
    .text

    .balign 64
    .globl ath_arch_kcall_stubs
ath_arch_kcall_stubs:
    .set index, 0
    .rept ATH_KCALLS_MAX
    .balign 64
    /* No stack arguments (almost every kernel function): the target straight from its slot. */
    cmp qword ptr [rip + ath_kcalls + 16 * index + 8], 0
    jne 1f
    mov rax, rsp
    mov rsp, [rip + x86_kernel_stack_top]
    push rax                        /* the module's rsp */
    sub rsp, 8                      /* rsp 16-aligned at the call */
    call [rip + ath_kcalls + 16 * index]
    mov r11, [rip + x86_kernel_stack_top]
    mov rsp, [r11 - 8]
    ret
1:  mov r11d, index
    jmp kcall_with_stack_arguments
    .set index, index + 1
    .endr

kcall_with_stack_arguments:
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
1:  push qword ptr [rax + 8 * r11]  /* the last stack argument first; [rax] is the return address */
    dec r11
    jnz 1b
    call r10
    /* Not through rsp = top: an interrupt there would take its frame at the top, over the
     * saved rsp (interrupts.S goes on below an rsp on the kernel stack). */
    mov r11, [rip + x86_kernel_stack_top]
    mov rsp, [r11 - 8]
    ret

    .section .note.GNU-stack,"",@progbits
