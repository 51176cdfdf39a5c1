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
 * The offsets of alk_call and alk_entry_frame are enter.h's (checked against the C layouts in
 * invoke.c).
 */
#include "enter.h"

    .intel_syntax noprefix
    .text

    .globl alk_enter
    .type alk_enter, @function
alk_enter:
    mov [rdi + ALK_FRAME_RBX], rbx
    mov [rdi + ALK_FRAME_RBP], rbp
    mov [rdi + ALK_FRAME_R12], r12
    mov [rdi + ALK_FRAME_R13], r13
    mov [rdi + ALK_FRAME_R14], r14
    mov [rdi + ALK_FRAME_R15], r15
    mov [rdi + ALK_FRAME_RSP], rsp             /* points at our return address */
    mov rax, [rsp]
    mov [rdi + ALK_FRAME_RIP], rax

    push rbp
    mov rbp, rsp
    push rsi                        /* [rbp-8]: the call */
    push rdi                        /* [rbp-16]: the frame */

    /* outgoing area: stack arguments, then the return area, 16-byte aligned */
    mov rcx, [rsi + ALK_CALL_STACK_COUNT]
    add rcx, [rsi + ALK_CALL_EXTRA_RESULTS]
    shl rcx, 3
    add rcx, 15
    and rcx, -16
    sub rsp, rcx

    mov rcx, [rsi + ALK_CALL_STACK_COUNT]
    mov r8, [rsi + ALK_CALL_STACK]
    xor r9, r9
1:  cmp r9, rcx
    jae 2f
    mov rax, [r8 + r9 * 8]
    mov [rsp + r9 * 8], rax
    inc r9
    jmp 1b
2:
    mov r11, rsi
    movdqu xmm0, [r11 + ALK_CALL_FPRS]
    movdqu xmm1, [r11 + ALK_CALL_FPRS + 16]
    movdqu xmm2, [r11 + ALK_CALL_FPRS + 32]
    movdqu xmm3, [r11 + ALK_CALL_FPRS + 48]
    movdqu xmm4, [r11 + ALK_CALL_FPRS + 64]
    movdqu xmm5, [r11 + ALK_CALL_FPRS + 80]
    movdqu xmm6, [r11 + ALK_CALL_FPRS + 96]
    movdqu xmm7, [r11 + ALK_CALL_FPRS + 112]
    mov rdi, [r11 + ALK_CALL_VMCTX]
    mov rsi, [r11 + ALK_CALL_GPRS]
    mov rdx, [r11 + ALK_CALL_GPRS + 8]
    mov rcx, [r11 + ALK_CALL_GPRS + 16]
    mov r8, [r11 + ALK_CALL_GPRS + 24]
    mov r9, [r11 + ALK_CALL_GPRS + 32]
    call [r11 + ALK_CALL_CODE]

    mov r11, [rbp - 8]
    mov [r11 + ALK_CALL_INT_RESULT], rax
    movdqu [r11 + ALK_CALL_FLOAT_RESULT], xmm0
    /* extra results sit above the stack arguments */
    mov rcx, [r11 + ALK_CALL_EXTRA_RESULTS]
    mov r8, [r11 + ALK_CALL_EXTRA_OUT]
    mov r10, [r11 + ALK_CALL_STACK_COUNT]
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
    mov rbx, [rdi + ALK_FRAME_RBX]
    mov r12, [rdi + ALK_FRAME_R12]
    mov r13, [rdi + ALK_FRAME_R13]
    mov r14, [rdi + ALK_FRAME_R14]
    mov r15, [rdi + ALK_FRAME_R15]
    mov rsp, rbp
    pop rbp
    xor eax, eax
    ret

    .globl alk_unwind
    .type alk_unwind, @function
alk_unwind:
    mov rbx, [rdi + ALK_FRAME_RBX]
    mov rbp, [rdi + ALK_FRAME_RBP]
    mov r12, [rdi + ALK_FRAME_R12]
    mov r13, [rdi + ALK_FRAME_R13]
    mov r14, [rdi + ALK_FRAME_R14]
    mov r15, [rdi + ALK_FRAME_R15]
    mov rsp, [rdi + ALK_FRAME_RSP]
    mov eax, esi
    ret

    .section .note.GNU-stack,"",@progbits
