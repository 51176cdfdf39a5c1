/*
 * x86-64 types that the public API (athanor.h) exposes: the trap frame a
 * fault hook sees and the jump buffer of ath_setjmp. Code that wants to stay
 * portable uses the ath_trap_* accessors instead of the fields.
 */
#ifndef ATH_MACHINE_H
#define ATH_MACHINE_H

#include <stdint.h>

#define ATH_ARCH_NAME "x86_64"
/* The same machine as objects and images name it (formats/object.toml's target). */
#define ATH_ARCH_OBJECT_TARGET ALK_OBJ_TARGET_X86_64
/* System V (docs/abi.md): rdi (the vmctx), rsi, rdx, rcx, r8, r9; xmm0..xmm7. */
#define ATH_ARCH_INTEGER_ARGUMENT_REGISTERS 6
#define ATH_ARCH_FLOAT_ARGUMENT_REGISTERS   8
/* The CPU's random number instructions, as messages name them (ath_arch_random_source). */
#define ATH_ARCH_RANDOM_INSTRUCTIONS "RDRAND or RDSEED"
/* Whether acpi.c may scan the PC BIOS area for the RSDP. */
#define ATH_ARCH_BIOS_AREA 1
/* Whether an integer division by zero traps (divide error (#DE)). */
#define ATH_ARCH_DIVIDE_TRAPS 1
/* Whether a live entry changing its address, size or memory type goes through an invalid one
 * (break-before-make): x86 replaces present entries in place. */
#define ATH_ARCH_BREAK_BEFORE_MAKE 0

/*
 * What vectors.S pushes on exception entry, lowest address first. The
 * layout is shared with vectors.S: change both together.
 *
 *   frame ->  r15 r14 r13 r12 r11 r10 r9 r8 rbp rdi rsi rdx rcx rbx rax
 *             cr2      (filled by ath_trap for page faults, else 0)
 *             vector   (0..31)
 *             error    (the CPU's error code, or 0 if the vector has none)
 *             rip cs rflags rsp ss   (pushed by the CPU)
 *
 * A fault hook may change the general registers, rip and rsp; the rest must
 * stay as they are.
 */
struct ath_trap_frame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
    uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t cr2;
    uint64_t vector;
    uint64_t error;
    uint64_t rip, cs, rflags, rsp, ss;
};

/* ath_setjmp's buffer (jump.S depends on this order). */
struct ath_jmp_buf {
    uint64_t rbx, rbp, r12, r13, r14, r15, rsp, rip;
};

#endif
