/*
 * The entry trampoline between C and compiled Wasm (docs/abi.md).
 *
 *   uint32_t alk_enter(alk_entry_frame *frame, alk_call *call)
 *       saves the System V callee-saved registers, rsp and the return address in *frame,
 *       calls call->code with the registers and stack arguments of *call, stores the results
 *       back into *call, and returns 0.
 *   void alk_unwind(alk_entry_frame *frame, uint32_t code)
 *       restores what alk_enter saved and makes that alk_enter return `code` (a trap).
 *
 * alk_call offsets (invoke.c): code 0, vmctx 8, gprs 16, xmms 56, stack 120, stack_count 128,
 * extra_results 136, rax 144, xmm0 152, extra_out 160.
 */
    .intel_syntax noprefix
    .text

    .globl alk_enter
    .type alk_enter, @function
alk_enter:
    mov [rdi + 0], rbx
    mov [rdi + 8], rbp
    mov [rdi + 16], r12
    mov [rdi + 24], r13
    mov [rdi + 32], r14
    mov [rdi + 40], r15
    mov [rdi + 48], rsp             /* points at our return address */
    mov rax, [rsp]
    mov [rdi + 56], rax

    push rbp
    mov rbp, rsp
    push rsi                        /* [rbp-8]: the call */
    push rdi                        /* [rbp-16]: the frame */

    /* outgoing area: stack arguments, then the return area, 16-byte aligned */
    mov rcx, [rsi + 128]
    add rcx, [rsi + 136]
    shl rcx, 3
    add rcx, 15
    and rcx, -16
    sub rsp, rcx

    mov rcx, [rsi + 128]
    mov r8, [rsi + 120]
    xor r9, r9
1:  cmp r9, rcx
    jae 2f
    mov rax, [r8 + r9 * 8]
    mov [rsp + r9 * 8], rax
    inc r9
    jmp 1b
2:
    mov r11, rsi
    movq xmm0, [r11 + 56]
    movq xmm1, [r11 + 64]
    movq xmm2, [r11 + 72]
    movq xmm3, [r11 + 80]
    movq xmm4, [r11 + 88]
    movq xmm5, [r11 + 96]
    movq xmm6, [r11 + 104]
    movq xmm7, [r11 + 112]
    mov rdi, [r11 + 8]
    mov rsi, [r11 + 16]
    mov rdx, [r11 + 24]
    mov rcx, [r11 + 32]
    mov r8, [r11 + 40]
    mov r9, [r11 + 48]
    call [r11 + 0]

    mov r11, [rbp - 8]
    mov [r11 + 144], rax
    movq [r11 + 152], xmm0
    /* extra results sit above the stack arguments */
    mov rcx, [r11 + 136]
    mov r8, [r11 + 160]
    mov r10, [r11 + 128]
    lea r10, [rsp + r10 * 8]
    xor r9, r9
3:  cmp r9, rcx
    jae 4f
    mov rax, [r10 + r9 * 8]
    mov [r8 + r9 * 8], rax
    inc r9
    jmp 3b
4:
    /* Wasm code may have clobbered every register: restore the callee-saved ones */
    mov rdi, [rbp - 16]
    mov rbx, [rdi + 0]
    mov r12, [rdi + 16]
    mov r13, [rdi + 24]
    mov r14, [rdi + 32]
    mov r15, [rdi + 40]
    mov rsp, rbp
    pop rbp
    xor eax, eax
    ret

    .globl alk_unwind
    .type alk_unwind, @function
alk_unwind:
    mov rbx, [rdi + 0]
    mov rbp, [rdi + 8]
    mov r12, [rdi + 16]
    mov r13, [rdi + 24]
    mov r14, [rdi + 32]
    mov r15, [rdi + 40]
    mov rsp, [rdi + 48]
    mov eax, esi
    ret

    .section .note.GNU-stack,"",@progbits
