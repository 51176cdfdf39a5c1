/*
 * void ath_arch_call_on_stack(uintptr_t top, uint32_t (*fn)(void *), void *arg, uint32_t *result)
 *
 * Runs fn(arg) with rsp = top (16-byte aligned) and stores its result; returns on the caller's
 * stack. Module code runs on such stacks, each with an unmapped guard page below it.
 */
    .intel_syntax noprefix
    .text
    .globl ath_arch_call_on_stack
    .type ath_arch_call_on_stack, @function
ath_arch_call_on_stack:
    push rbp
    mov rbp, rsp
    push rbx
    push rcx                        /* result pointer, at [rbp-16] */
    mov rsp, rdi
    mov rdi, rdx
    call rsi
    mov rcx, [rbp - 16]
    mov [rcx], eax
    lea rsp, [rbp - 8]
    pop rbx
    pop rbp
    ret

    .section .note.GNU-stack,"",@progbits
