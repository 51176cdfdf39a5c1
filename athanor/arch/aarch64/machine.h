/*
 * AArch64 types that the public API (athanor.h) exposes: the trap frame a fault hook sees and
 * the jump buffer of ath_setjmp. Portable code uses the ath_trap_* accessors instead of the
 * fields.
 */
#ifndef ATH_MACHINE_H
#define ATH_MACHINE_H

#include <stdint.h>

#define ATH_ARCH_NAME "aarch64"
/* The same machine as objects and images name it (formats/object.toml's target). */
#define ATH_ARCH_OBJECT_TARGET ALK_OBJ_TARGET_AARCH64
/* AAPCS64 (docs/abi.md): x0 (the vmctx)..x7; v0..v7. */
#define ATH_ARCH_INTEGER_ARGUMENT_REGISTERS 8
#define ATH_ARCH_FLOAT_ARGUMENT_REGISTERS   8
/* The CPU's random number instructions, as messages name them (ath_arch_random_source). */
#define ATH_ARCH_RANDOM_INSTRUCTIONS "RNDR"
/* Whether acpi.c may scan the PC BIOS area for the RSDP. */
#define ATH_ARCH_BIOS_AREA 0
/* Whether an integer division by zero traps (sdiv/udiv by zero gives 0). */
#define ATH_ARCH_DIVIDE_TRAPS 0
/* Whether a live entry changing its address, size or memory type goes through an invalid one
 * (break-before-make): without FEAT_BBM (arch/pagetable.c). */
#define ATH_ARCH_BREAK_BEFORE_MAKE 1

/*
 * What vectors.S stores on exception entry, lowest address first (320 bytes, a multiple of
 * 16 as sp must be). The layout is shared with vectors.S (frame.inc's
 * offsets): change both together.
 *
 *   frame ->  x0 .. x30
 *             sp       the interrupted stack pointer (SP_EL0 or SP_EL1, as it was)
 *             pc       ELR_EL1
 *             pstate   SPSR_EL1
 *             esr      ESR_EL1 (synchronous exceptions; 0 for interrupts)
 *             far      FAR_EL1 (aborts; else 0)
 *             source   which vector: 0 synchronous, 1 IRQ, 2 FIQ, 3 SError, plus 4 * the
 *                      origin (0: EL1 on SP_EL0, 1: EL1 on SP_EL1, 2: EL0 64-bit, 3: EL0 32-bit)
 *             fp_record  {x29, pc}: a frame record, so a backtrace from the handler goes on
 *                      into the interrupted code
 *
 * A fault hook may change x0..x30, sp and pc; the rest must stay as they are.
 */
struct ath_trap_frame {
    uint64_t x[31];
    uint64_t sp;
    uint64_t pc;
    uint64_t pstate;
    uint64_t esr;
    uint64_t far;
    uint64_t source;
    uint64_t fp_record[2];      /* x29 and pc again: the frame record backtraces follow */
    uint64_t pad;
};

/* ath_setjmp's buffer (jump.S depends on this order): x19..x28, x29 (frame), x30 (return),
 * sp, and SPSel (which stack pointer sp was). */
struct ath_jmp_buf {
    uint64_t x19_x28[10], fp, lr, sp, spsel;
};

#endif
