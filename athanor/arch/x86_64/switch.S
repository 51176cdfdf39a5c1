/*
 * Task context switch (kernel.h, "Context switch").
 *
 *   void ath_arch_switch(uint64_t *save, uint64_t next)
 *       pushes the System V callee-saved registers, stores rsp in *save, loads rsp = next, pops
 *       the registers saved there and returns into whatever called ath_arch_switch on that
 *       stack (or, for a fresh stack, into task_entry).
 *
 * A saved context, lowest address first (what `next` points to):
 *
 *   r15 r14 r13 r12 rbx rbp | return address
 *
 * General registers only: a switch happens at a call boundary, and compiled code keeps nothing
 * in vector registers across calls (docs/abi.md). A task preempted by an interrupt switches
 * from inside the interrupt entry, which saved its vector state (fxsave) on its own stack.
 */
    .intel_syntax noprefix
    .text

    .globl ath_arch_switch
    .type ath_arch_switch, @function
ath_arch_switch:
    push rbp
    push rbx
    push r12
    push r13
    push r14
    push r15
    mov [rdi], rsp
    mov rsp, rsi
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbx
    pop rbp
    ret

/* The first return of a fresh context (ath_arch_stack_init): r12 = arg, r13 = entry. The entry
 * must not return. rsp is 16-byte aligned here, so the call leaves the callee aligned. */
    .globl ath_arch_task_entry
    .type ath_arch_task_entry, @function
ath_arch_task_entry:
    xor ebp, ebp                    /* ends the frame-pointer chain for backtraces */
    mov rdi, r12
    call r13
    ud2

    .section .note.GNU-stack,"",@progbits
