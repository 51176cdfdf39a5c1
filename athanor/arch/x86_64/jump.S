/*
 * ath_setjmp / ath_longjmp: non-local return inside the kernel, and the
 * target of ath_trap_resume_longjmp. struct ath_jmp_buf (machine.h):
 *   0 rbx, 8 rbp, 16 r12, 24 r13, 32 r14, 40 r15, 48 rsp, 56 rip
 * Only the System V callee-saved registers are kept; SSE state is not
 * (kernel C code never uses SSE).
 */
    .text
    .code64

    .globl ath_setjmp
ath_setjmp:                 /* int ath_setjmp(struct ath_jmp_buf *buf) */
    movq %rbx, 0(%rdi)
    movq %rbp, 8(%rdi)
    movq %r12, 16(%rdi)
    movq %r13, 24(%rdi)
    movq %r14, 32(%rdi)
    movq %r15, 40(%rdi)
    leaq 8(%rsp), %rax      /* the stack pointer after our return */
    movq %rax, 48(%rdi)
    movq (%rsp), %rax       /* the return address */
    movq %rax, 56(%rdi)
    xorl %eax, %eax
    ret

    .globl ath_longjmp
ath_longjmp:                /* void ath_longjmp(const struct ath_jmp_buf *buf, int value) */
    movl %esi, %eax
    testl %eax, %eax
    jnz 1f
    movl $1, %eax
1:  movq 0(%rdi), %rbx
    movq 8(%rdi), %rbp
    movq 16(%rdi), %r12
    movq 24(%rdi), %r13
    movq 32(%rdi), %r14
    movq 40(%rdi), %r15
    movq 48(%rdi), %rsp
    jmpq *56(%rdi)

/* ath_arch_unwind(entry, code) (arch.h): the kernel stack needs no leaving (the next entry
 * takes its top from the TSS): alk_unwind loads the entry frame's rsp. */
    .globl ath_arch_unwind
ath_arch_unwind:
    jmp alk_unwind

    .section .note.GNU-stack, "", @progbits
