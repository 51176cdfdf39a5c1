/*
 * The single-pass x86-64 code generator: state shared by its files.
 *
 * One walk over each validated function body emits machine code directly, keeping an abstract
 * operand stack whose entries live in registers, as constants, as lazy references to locals, or
 * in their canonical spill slot (the frame slot of that stack position). The rule that keeps
 * control flow simple: at every label (block end, loop header, else) every stack entry is in its
 * canonical slot, so each edge into a label first spills the whole stack (see spill_all).
 *
 * Frame, growing down from rbp (docs/abi.md):
 *     [rbp+16 ...]   incoming stack arguments, then the caller's return area
 *     [rbp+8]        return address;  [rbp] saved rbp
 *     [rbp-8]        the vmctx (r15), stored before calls that may change r15
 *     [rbp-16..-32]  the caller's rbx, r12, r13 when this function pins locals in them
 *     [rbp-40-8i]    local i (parameters passed in registers and declared locals)
 *     below          canonical slot of operand-stack position s: [rbp - slots_base - 8(s+1)]
 *     [rsp ...]      outgoing stack arguments and return areas of calls
 *
 * Hot locals (by a pre-pass that counts uses, weighted by loop depth) live in registers for the
 * whole function: integers in rbx, r12, r13 (callee-saved, so they survive calls), then r10, r9,
 * floats in xmm8..xmm13 (those caller-saved ones go to their frame slot around each call and
 * come back after it). A pinned local's register is its home; LOC_LOCAL entries read it lazily
 * like any local.
 */
#ifndef ALK_X64_CODEGEN_H
#define ALK_X64_CODEGEN_H

#include "asm.h"
#include "../singlepass.h"

#define SCRATCH_GPR R11       /* never allocated: free for any sequence */
#define SCRATCH_XMM 15
#define ARG_GPR_COUNT 5
#define ARG_XMM_COUNT 8
extern const x64_reg x64_arg_gprs[ARG_GPR_COUNT];

typedef struct local_info {
    alk_valtype type;
    int32_t offset;        /* from rbp */
    uint8_t reg;           /* pinned register (GPR or XMM by type), or X64_NO_REG */
} local_info;

#define PINNED_GPR_COUNT 5      /* rbx r12 r13 (callee-saved), then r10 r9 (caller-saved) */
#define PINNED_CALLEE_SAVED 3
#define PINNED_XMM_FIRST 8
#define PINNED_XMM_COUNT 6
#define FRAME_LOCALS_BASE 40   /* bytes below rbp where local 0's slot starts (see above) */
extern const x64_reg x64_pinned_gprs[PINNED_GPR_COUNT];

typedef struct codegen {
    alk_code *code;
    const alk_module *module;
    const alk_compile_options *options;
    const alk_layout *layout;
    alk_diag *diag;
    uint32_t function;             /* index in the function space */
    const alk_functype *type;

    local_info *locals;
    uint32_t local_count;
    uint32_t slots_base;           /* bytes below rbp where operand slots start */

    alk_operand_stack stack;
    alk_control_stack controls;

    uint32_t gpr_used;             /* bit per register holding a stack value */
    uint32_t xmm_used;
    uint32_t outgoing_max;         /* bytes of the largest outgoing argument + return area */
    uint32_t stack_param_bytes;    /* incoming stack arguments of this function */
    uint32_t frame_patch;          /* position of the frame-size displacement in the prologue */
    alk_chunk *chunk;              /* the functions compiled with this one (../singlepass.h) */
    uint8_t pinned_gprs;           /* how many of x64_pinned_gprs hold locals (saved in prologue) */
    uint32_t pinned_xmms;          /* bit per xmm register holding a local */
    uint32_t unpinned[PINNED_GPR_COUNT + 8]; /* locals unpinned around the current call */
    uint32_t unpinned_count;
    int error;                     /* first error (ALK_E*), or 0 */
    alk_traps traps;               /* trap stub labels and line marks (../traps.c) */
    alk_local_weights *weights;    /* the chunk's scratch for choosing hot locals */
} codegen;

/* frame.c: the operand stack, registers, spills, locals */
int cg_width(alk_valtype type);               /* 4 or 8: the GPR operation width */
x64_mem cg_slot(codegen *g, uint32_t position);
x64_mem cg_local(codegen *g, uint32_t local);   /* the local's frame slot */
/* The register a local is pinned to, or -1. */
static inline int cg_local_reg(const codegen *g, uint32_t local)
{
    return g->locals[local].reg == X64_NO_REG ? -1 : g->locals[local].reg;
}
/* Before a call (before its arguments are placed): locals pinned in caller-saved registers go
 * to their slots and count as unpinned; after it they are pinned and reloaded again. */
void cg_unpin_for_call(codegen *g);
void cg_repin_after_call(codegen *g);
/* Records the first error: the code's summary, then ": detail" unless detail is "". */
void cg_fail(codegen *g, int code, uint32_t offset, const char *detail);
static inline void cg_push(codegen *g, value v)
{
    if (!alk_operand_push(&g->stack, v))
        cg_fail(g, ALK_E_OUT_OF_MEMORY, 0, "");
}
void cg_push_reg(codegen *g, alk_valtype type, int reg);
void cg_push_const(codegen *g, alk_valtype type, uint64_t bits);
/* Validation guarantees the operands are there. */
static inline value cg_pop(codegen *g)
{
    return alk_operand_pop(&g->stack);
}
static inline value *cg_top(codegen *g, uint32_t depth)     /* 0 = top */
{
    return alk_operand_top(&g->stack, depth);
}
int cg_alloc_gpr(codegen *g);
int cg_alloc_xmm(codegen *g);
void cg_free(codegen *g, value v);             /* releases the register a popped value held */
/* Claims a specific register: moves the stack value living there elsewhere and marks it used
 * (cg_release_gpr gives it back). Only stack entries can be moved: claim before popping. */
void cg_claim_gpr(codegen *g, x64_reg reg);
void cg_release_gpr(codegen *g, x64_reg reg);
/* Puts a popped value in a register it owns (fresh, or its own); returns the register. */
int cg_into_reg(codegen *g, value v);
/* Loads a value into the given register (which the caller owns or has reserved). */
void cg_load_into(codegen *g, value v, int reg);
void cg_store_to(codegen *g, value v, x64_mem dst);
void cg_spill_entry(codegen *g, uint32_t position);
void cg_spill_all(codegen *g);    /* emits only moves: keeps the flags */
/* Pushes the result of a compare as the condition cc of the flags. */
void cg_push_flags(codegen *g, x64_cond cc);
/* Turns a LOC_FLAGS top entry into a register (before instructions that are not consumers). */
void cg_settle_flags(codegen *g);
void cg_spill_local_refs(codegen *g, uint32_t local);
static inline uint32_t cg_trap_label(codegen *g, enum alk_trap kind)
{
    return alk_traps_label(&g->traps, g->code, kind);
}

/* codegen.c: a direct call to a defined function (rel32 patched at link time). */
void cg_emit_direct_call(codegen *g, uint32_t function);

/* control.c */
void cg_begin_function(codegen *g);
void cg_prologue(codegen *g);
uint32_t cg_frame_size(codegen *g);
void cg_emit_trap_stub(alk_code *code, enum alk_trap kind);   /* alk_singlepass.emit_trap_stub */
bool cg_control_instr(codegen *g, const alk_instr *in);  /* false: not a control op */

/* call.c */
void cg_call(codegen *g, uint32_t function);
void cg_call_indirect(codegen *g, uint32_t type_index, uint32_t table);
/* Calls builtin `index` of docs/abi.md with `arg_count` values (already popped into args)
 * after spilling the registers; pushes a result of `result_type` unless 0. */
void cg_call_builtin(codegen *g, int index, const value *args, int arg_count,
                     alk_valtype result_type);

/* memory.c */
bool cg_memory_instr(codegen *g, const alk_instr *in);
/* integer.c, float.c */
bool cg_integer_instr(codegen *g, const alk_instr *in);
bool cg_float_instr(codegen *g, const alk_instr *in);

#endif
