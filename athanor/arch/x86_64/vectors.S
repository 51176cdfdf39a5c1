/*
 * Exception entry stubs for vectors 0..31. Each pushes a zero error code
 * when the CPU does not push one, then its vector number, and jumps to
 * trap_common, which completes struct ath_trap_frame (machine.h) and calls
 * ath_trap(frame). If ath_trap returns (a fault hook resumed), the frame,
 * possibly edited, is restored and iretq resumes it.
 *
 * The CPU aligns the stack to 16 bytes before pushing its frame; the stub
 * re-aligns anyway before the call, so an edited frame cannot misalign it.
 */
#include "frame.inc"

    .text
    .code64

.macro VECTOR n
    .balign 16
vector_\n:
    .if (\n == 8) || (\n == 10) || (\n == 11) || (\n == 12) || (\n == 13) || (\n == 14) || (\n == 17) || (\n == 21) || (\n == 29) || (\n == 30)
    .else
    pushq $0
    .endif
    pushq $\n
    jmp trap_common
.endm

    VECTOR 0
    VECTOR 1
    VECTOR 2
    VECTOR 3
    VECTOR 4
    VECTOR 5
    VECTOR 6
    VECTOR 7
    VECTOR 8
    VECTOR 9
    VECTOR 10
    VECTOR 11
    VECTOR 12
    VECTOR 13
    VECTOR 14
    VECTOR 15
    VECTOR 16
    VECTOR 17
    VECTOR 18
    VECTOR 19
    VECTOR 20
    VECTOR 21
    VECTOR 22
    VECTOR 23
    VECTOR 24
    VECTOR 25
    VECTOR 26
    VECTOR 27
    VECTOR 28
    VECTOR 29
    VECTOR 30
    VECTOR 31

trap_common:
    pushq $0                /* cr2 */
    PUSH_GENERAL_REGISTERS
    cld
    movq %rsp, %rdi
    movq %rsp, %rbx         /* callee-saved: survives the call */
    andq $-16, %rsp
    call ath_trap
    movq %rbx, %rsp
    POP_GENERAL_REGISTERS
    addq $24, %rsp          /* cr2, vector, error */
    iretq

    .section .rodata
    .balign 8
    .globl x86_trap_vectors
x86_trap_vectors:
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    .quad vector_\n
    .endr

    .section .note.GNU-stack, "", @progbits
