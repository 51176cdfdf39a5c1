/*
 * The single-pass AArch64 code generator: state shared by its files.
 *
 * The same scheme as the x86-64 back end (x86_64/codegen.h): one walk over each validated body
 * emits machine code directly, keeping an abstract operand stack whose entries live in
 * registers, as constants, as lazy references to locals, as the flags of a compare, or in their
 * canonical slot; at every label every entry is in its canonical slot.
 *
 * Frame, addressed from sp upward (positive offsets, which A64's loads encode in one
 * instruction) except for what a function saves, below its frame record:
 *
 *     [x29+16 ...]            incoming stack arguments, then the caller's return area
 *     [x29+8] lr, [x29] x29   the frame record (the chain backtraces walk)
 *     [x29-8]                 the vmctx (x28), stored before calls that may change x28
 *     [x29-16-8k]             the caller's x19.. and d8.. that this function pins locals in
 *     ...                     (padding to 16 bytes)
 *     [sp + slots + 8s]       canonical slot of operand-stack position s
 *     [sp + locals + 8i]      local i (parameters passed in registers and declared locals)
 *     [sp ...]                outgoing stack arguments and return areas of calls (call_area
 *                             bytes, known before the prologue from alk_scan_function)
 *
 * The frame's size (patched into the prologue at the end) is the only thing unknown while the
 * body is compiled; every slot and local has its offset from sp from the start.
 *
 * Registers (docs/abi.md, "AArch64"): x28 the vmctx, x27 the memory base, x26 the memory size
 * (checked mode's bound), all three pinned and reloaded after calls that may change them;
 * x16 and x17 scratch; x18 never touched (the platform's); x19..x25 and d8..d15 the hottest
 * locals (callee-saved in AAPCS64, so they survive every call); the rest hold operands.
 */
#ifndef ALK_A64_CODEGEN_H
#define ALK_A64_CODEGEN_H

#include "asm.h"
#include "../singlepass.h"

#define REG_VMCTX 28
#define REG_MEMORY_BASE 27
#define REG_MEMORY_SIZE 26
#define SCRATCH_GPR A64_X16       /* clobbered by asm.c's long forms: free for any sequence */
#define SCRATCH2_GPR A64_X17      /* free for sequences that do not call a long form between */
#define SCRATCH_FPR 31
#define ARG_GPR_COUNT 7           /* x1..x7 (x0 is the callee's vmctx) */
#define ARG_FPR_COUNT 8           /* v0..v7 */
#define PINNED_GPR_FIRST 19       /* x19..x25 */
#define PINNED_GPR_COUNT 7
#define PINNED_FPR_FIRST 8        /* d8..d15 */
#define PINNED_FPR_COUNT 8
#define CALL_TARGET_GPR 8         /* call_indirect's function reference: never an argument */

typedef struct local_info {
    alk_valtype type;
    uint8_t base;          /* A64_SP, or A64_FP for parameters passed on the stack */
    int32_t offset;        /* from base */
    uint8_t reg;           /* pinned register (general or FP by type), or A64_NO_REG */
} local_info;

typedef struct codegen {
    alk_code *code;
    const alk_module *module;
    const alk_compile_options *options;
    const alk_layout *layout;
    alk_diag *diag;
    uint32_t function;             /* index in the function space */
    const alk_functype *type;
    bool checked;                  /* bounds mode checked: x26 holds the memory size */
    bool far_branches;             /* conditional branches over an unconditional one (bodies
                                      whose code may pass b.cond's +-1 MiB) */

    local_info *locals;
    uint32_t local_count;
    uint32_t call_area;            /* bytes at sp for outgoing stack arguments and results */
    uint32_t slots_base;           /* sp offset of operand slot 0 */
    uint32_t save_bytes;           /* below x29: the vmctx and the saved registers */

    alk_operand_stack stack;
    alk_control_stack controls;

    uint32_t gpr_used;             /* bit per register holding a stack value */
    uint32_t fpr_used;
    uint32_t stack_param_bytes;    /* incoming stack arguments of this function */
    uint32_t frame_patch;          /* position of the prologue's movz/movk of the frame size */
    alk_chunk *chunk;              /* the functions compiled with this one (../singlepass.h) */
    uint8_t pinned_gprs;           /* x19.. holding locals (saved in the prologue) */
    uint8_t pinned_fprs;           /* d8.. holding locals */
    int error;                     /* first error (ALK_E*), or 0 */
    alk_traps traps;               /* trap stub labels and line marks (../traps.c) */
    alk_local_weights *weights;    /* the chunk's scratch for the scan */
    /* Where the next instruction wants the value the current one pushes (-1: nowhere in
     * particular): the register of the pinned local it sets (local.set/tee: hint_local), the
     * argument register of a call's last parameter, x0/v0 for the function's result. */
    int hint_reg;
    bool hint_float;
    uint32_t hint_local;   /* UINT32_MAX: not a local */
} codegen;

/* frame.c: the operand stack, registers, spills, locals */
bool arm_is_wide(alk_valtype type);               /* i64, references: x registers */
int arm_fsize(alk_valtype type);                  /* f32 4, f64 8 */
/* The register a local is pinned to, or -1. */
static inline int arm_local_reg(const codegen *g, uint32_t local)
{
    return g->locals[local].reg == A64_NO_REG ? -1 : g->locals[local].reg;
}
int32_t arm_slot_offset(const codegen *g, uint32_t position);   /* from sp */
/* Records the first error: the code's summary, then ": detail" unless detail is "". */
void arm_fail(codegen *g, int code, uint32_t offset, const char *detail);
static inline void arm_push(codegen *g, value v)
{
    if (!alk_operand_push(&g->stack, v))
        arm_fail(g, ALK_E_OUT_OF_MEMORY, 0, "");
}
void arm_push_reg(codegen *g, alk_valtype type, int reg);
void arm_push_const(codegen *g, alk_valtype type, uint64_t bits);
static inline value arm_pop(codegen *g)
{
    return alk_operand_pop(&g->stack);
}
static inline value *arm_top(codegen *g, uint32_t depth)     /* 0 = top */
{
    return alk_operand_top(&g->stack, depth);
}
int arm_alloc_gpr(codegen *g);
int arm_alloc_fpr(codegen *g);
/* For an instruction whose one result is written by its last machine instruction (which may
 * also read the operands): the register the next instruction wants it in (g->hint_reg), when
 * that is of the class asked for and free (a pinned local's stacked references are spilled
 * first; an argument or result register is marked used), to compute the result straight
 * into; else -1. Used once. */
int arm_take_hint(codegen *g, bool want_float);
void arm_free(codegen *g, value v);             /* releases the register a popped value held */
void arm_free_reg(codegen *g, alk_valtype type, int reg);
/* Claims a specific general register: moves the stack value living there elsewhere and marks
 * it used (arm_release_gpr gives it back). Claim before popping. */
void arm_claim_gpr(codegen *g, int reg);
void arm_release_gpr(codegen *g, int reg);
/* Puts a popped value in a register it owns (fresh, or its own); returns the register. */
int arm_into_reg(codegen *g, value v);
/* A register holding a popped value for reading: a pinned local's own register (not owned:
 * *owned false), or one it owns. */
int arm_read_reg(codegen *g, value v, bool *owned);
/* Loads a value into the given register (which the caller owns or has reserved). */
void arm_load_into(codegen *g, value v, int reg);
/* Stores a value's 8 bytes (an i32 zero-extended, an f32 in the low 4) at [base + offset]. */
void arm_store_to(codegen *g, value v, int base, int32_t offset);
void arm_spill_entry(codegen *g, uint32_t position);
void arm_spill_all(codegen *g);    /* emits only moves and stores: keeps the flags */
void arm_push_flags(codegen *g, a64_cond cond);
void arm_settle_flags(codegen *g);
void arm_spill_local_refs(codegen *g, uint32_t local);
static inline uint32_t arm_trap_label(codegen *g, enum alk_trap kind)
{
    return alk_traps_label(&g->traps, g->code, kind);
}
/* Branches to `label` when the flags say `cond`: one b.cond, or in far_branches mode a
 * b.!cond over a b. */
void arm_branch_if(codegen *g, a64_cond cond, uint32_t label);
/* cbz/cbnz reg (w or x): likewise. */
void arm_branch_zero(codegen *g, bool wide, bool nonzero, int reg, uint32_t label);
/* Loads/stores a local's 8 bytes, or a general register's i32 zero-extended. */
void arm_load_local(codegen *g, uint32_t local, int reg);
void arm_store_local(codegen *g, uint32_t local, int reg);

/* codegen.c: a direct call to a defined function (bl patched at link time). */
void arm_emit_direct_call(codegen *g, uint32_t function);

/* control.c */
void arm_begin_function(codegen *g);
void arm_prologue(codegen *g);
uint32_t arm_frame_size(codegen *g);
void arm_patch_frame_size(codegen *g, uint32_t frame);
void arm_emit_trap_stub(alk_code *code, enum alk_trap kind);  /* alk_singlepass.emit_trap_stub */
bool arm_control_instr(codegen *g, const alk_instr *in);


/* call.c */
bool arm_call_instr(codegen *g, const alk_instr *in);
/* Calls builtin `index` of docs/abi.md with `arg_count` values (already popped into args)
 * after spilling the registers; pushes a result of `result_type` unless 0. */
void arm_call_builtin(codegen *g, int index, const value *args, int arg_count,
                     alk_valtype result_type);

/* memory.c, integer.c, float.c */
bool arm_memory_instr(codegen *g, const alk_instr *in);
bool arm_integer_instr(codegen *g, const alk_instr *in);
bool arm_float_instr(codegen *g, const alk_instr *in);

#endif
