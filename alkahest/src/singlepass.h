/*
 * What the single-pass back ends (x86_64/, aarch64/) share beyond the back-end interface of
 * compile.h: the driver that splits a module's functions into chunks, compiles the chunks
 * (maybe in parallel), lays them end to end and patches the direct calls between them.
 *
 * A single-pass target describes itself with an alk_singlepass and makes its alk_backend's
 * compile call alk_singlepass_compile. Its compile_chunk compiles the chunk's functions in
 * order into chunk->code:
 *
 *     for (uint32_t i = chunk->first; i < chunk->end && !chunk->error; i++) {
 *         uint32_t start = alk_chunk_start_function(chunk, i);
 *         ...the external entry, exactly `internal_entry` bytes, then the function...
 *     }
 *
 * recording every direct call with alk_chunk_add_call and leaving every label resolved; on
 * failure it sets chunk->error and chunk->diag. The driver then pads and links.
 */
#ifndef ALK_SINGLEPASS_H
#define ALK_SINGLEPASS_H

#include "code.h"
#include "compile.h"

typedef struct alk_singlepass alk_singlepass;

/* A direct call to a defined function, patched once every function's place is known. */
typedef struct alk_call_fixup {
    uint32_t at;        /* its field (x86-64: the rel32; A64: the bl), from the chunk's start */
    uint32_t callee;    /* function index */
} alk_call_fixup;

/* Consecutive defined functions compiled by one task. */
typedef struct alk_chunk {
    const alk_singlepass *target;
    const alk_module *module;
    const alk_compile_options *options;
    const alk_layout *layout;
    uint32_t first, end;            /* defined functions [first, end) */
    alk_code code;
    uint32_t *starts;               /* external entry of each, within the chunk */
    alk_call_fixup *calls;
    uint32_t call_count, call_capacity;
    alk_lines *lines;               /* with source lines only */
    alk_local_weights weights;      /* the scan's scratch (locals.c) */
    int error;
    alk_diag diag;
} alk_chunk;

struct alk_singlepass {
    /* Compiles the chunk's functions (above). */
    void (*compile_chunk)(alk_chunk *chunk);
    /* One trap stub's body, at its bound label: calls vmctx->trap_handler(vmctx, kind) and
     * never returns (docs/abi.md). */
    void (*emit_trap_stub)(alk_code *code, enum alk_trap kind);
    /* Writes into `code` (the whole module's) the direct call recorded at `at` so that it
     * reaches `target` (a function's internal entry). */
    void (*patch_call)(uint8_t *code, uint32_t at, uint32_t target);
    uint8_t fill;                   /* the byte that pads code: the trap instruction's */
    uint8_t code_per_wasm_byte;     /* a generous estimate, for one allocation per chunk */
    uint32_t internal_entry;        /* the internal entry's offset from the external one */
    uint32_t max_code;              /* bytes of code, at most (the reach of a direct call) */
    const char *too_large;          /* the ALK-E... detail when the code is larger */
};

/* compile.h's alk_backend.compile for a single-pass target. */
int alk_singlepass_compile(const alk_singlepass *target, const alk_module *module,
                           const alk_compile_options *options, alk_compiled *out, alk_diag *diag);

/* Begins defined function `i` of the chunk: pads the code to 16 bytes and records the start
 * of its external entry, which it returns. */
uint32_t alk_chunk_start_function(alk_chunk *chunk, uint32_t i);
/* After the external entry: false (chunk->error set) unless it took internal_entry bytes. */
bool alk_chunk_entry_done(alk_chunk *chunk, uint32_t start);
/* Records a direct call whose field is at `at`; on allocation failure marks the code failed. */
void alk_chunk_add_call(alk_chunk *chunk, uint32_t at, uint32_t callee);

/* ---- Values -------------------------------------------------------------------------------- */

/* f32 and f64 live in FP registers, everything else in general ones. */
static inline bool alk_is_float(alk_valtype type)
{
    return type == ALK_F32 || type == ALK_F64;
}

/* stacks.c: folds a binary integer operation on two constants (i32 when !wide; 32-bit values
 * zero-extended). False when it is not folded (one that may trap, or not a simple one). */
bool alk_fold_binary(alk_opcode op, bool wide, uint64_t a, uint64_t b, uint64_t *out);

/* ---- The operand stack and the control stack (stacks.c) ------------------------------------
 *
 * Each back end walks a body once keeping an abstract operand stack whose entries live in
 * registers, as constants, as lazy references to locals, as the flags of a compare, or in
 * their canonical slot (the frame slot of that stack position); at every label every entry is
 * in its canonical slot. What a register number or a condition code means is the target's. */
typedef enum loc_kind {
    LOC_SLOT,   /* in the canonical slot of its stack position */
    LOC_REG,    /* in a register (general for integers and references, FP for floats) */
    LOC_CONST,  /* a constant, not yet materialised */
    LOC_LOCAL,  /* the current value of a local, not yet read */
    LOC_FLAGS,  /* an i32 0/1 that is the condition `reg` (the target's condition code) of the
                   flags just set by a compare: only ever the top entry, and settled into a
                   register before any instruction that is not its consumer */
} loc_kind;

typedef struct value {
    uint8_t loc;
    alk_valtype type;
    uint8_t reg;
    uint32_t local;
    uint32_t position; /* stack position it was popped from (where its slot is) */
    uint64_t bits;    /* LOC_CONST: i32 zero-extended, i64, f32/f64 bit patterns, refs 0 */
} value;

typedef enum control_kind { CTRL_FUNCTION, CTRL_BLOCK, CTRL_LOOP, CTRL_IF, CTRL_ELSE } control_kind;

typedef struct control {
    control_kind kind;
    uint32_t label;        /* branch target: the loop header, or the end */
    uint32_t else_label;   /* if: where a false condition goes */
    uint32_t height;       /* operand stack height below the block's parameters */
    uint32_t param_count, result_count;
    const alk_valtype *params, *results;
    alk_valtype single;    /* storage for a one-result block type */
    bool unreachable;      /* the rest of this block is dead code */
    bool targeted;         /* some branch goes to its end label */
} control;

typedef struct alk_operand_stack {
    const alk_allocator *allocator;
    value *values;
    uint32_t height, max_height, capacity;
} alk_operand_stack;

bool alk_operand_stack_grow(alk_operand_stack *stack);
/* False when out of memory (the value is dropped). */
static inline bool alk_operand_push(alk_operand_stack *stack, value v)
{
    if (stack->height == stack->capacity && !alk_operand_stack_grow(stack))
        return false;
    stack->values[stack->height++] = v;
    if (stack->height > stack->max_height)
        stack->max_height = stack->height;
    return true;
}
/* Validation guarantees the operands are there. */
static inline value alk_operand_pop(alk_operand_stack *stack)
{
    value v = stack->values[--stack->height];
    v.position = stack->height;
    return v;
}
static inline value *alk_operand_top(alk_operand_stack *stack, uint32_t depth)   /* 0 = top */
{
    return &stack->values[stack->height - 1 - depth];
}

typedef struct alk_control_stack {
    const alk_allocator *allocator;
    control *entries;
    uint32_t count, capacity;
    uint32_t dead_depth;   /* blocks opened inside unreachable code */
} alk_control_stack;

/* Pushes a block of `kind` for the instruction `in` (block, loop, if), or with `in` NULL the
 * function's own, of type `function_type`; its parameters are the top of an operand stack of
 * `height` entries. NULL when out of memory. */
control *alk_control_push(alk_control_stack *stack, const alk_module *module,
                          const alk_functype *function_type, control_kind kind,
                          const alk_instr *in, uint32_t height);
/* Pops the innermost block into *saved (which must not move again: a one-value block type
 * lives in the entry itself, and the copy's `results` points at the copy's own). */
void alk_control_pop(alk_control_stack *stack, control *saved);
static inline control *alk_control_top(alk_control_stack *stack)
{
    return &stack->entries[stack->count - 1];
}
/* In an unreachable block, dead code is skipped: only nesting and the block's own else/end
 * count. True when `in` is skipped. */
bool alk_control_skip_dead(alk_control_stack *stack, const alk_instr *in);
/* A block with one result and no parameters merges its result in a register (the target's
 * first result register) rather than in its slot: every edge into its end leaves it there. */
static inline bool alk_result_in_register(const control *f)
{
    return (f->kind == CTRL_BLOCK || f->kind == CTRL_IF || f->kind == CTRL_ELSE) &&
           f->result_count == 1 && f->param_count == 0;
}
/* How many values a branch to `target` carries. */
static inline uint32_t alk_branch_arity(const control *target)
{
    return target->kind == CTRL_LOOP ? target->param_count : target->result_count;
}
/* The block a branch of label depth `depth` goes to (0: the innermost). */
static inline control *alk_control_at(alk_control_stack *stack, uint32_t depth)
{
    return &stack->entries[stack->count - 1 - depth];
}
/* Whether a branch to `target` from an operand stack of `height` entries (all in slots) moves
 * values on its way (into the block's result register, or down to its slots). */
static inline bool alk_branch_needs_moves(const control *target, uint32_t height)
{
    return target->kind != CTRL_FUNCTION &&
           (alk_result_in_register(target) || height - alk_branch_arity(target) != target->height);
}
/* br_table's targets in order, the default last:
 *     for (alk_br_table_walk w = alk_br_table_begin(in); alk_br_table_next(&w, &depth);) */
typedef struct alk_br_table_walk {
    alk_reader targets;
    uint32_t next, count, default_target;
} alk_br_table_walk;
static inline alk_br_table_walk alk_br_table_begin(const alk_instr *in)
{
    return (alk_br_table_walk){ in->imm.br_table.targets, 0, in->imm.br_table.target_count,
                                in->imm.br_table.default_target };
}
static inline bool alk_br_table_next(alk_br_table_walk *walk, uint32_t *depth)
{
    if (walk->next > walk->count)
        return false;
    *depth = 0;
    if (walk->next++ < walk->count)
        alk_read_u32(&walk->targets, depth);     /* validated: cannot fail */
    else
        *depth = walk->default_target;
    return true;
}
/* Frees both stacks' storage (after a function). */
void alk_stacks_free(alk_operand_stack *operands, alk_control_stack *controls);

/* ---- Traps (traps.c): the labels of a function's trap stubs, and its line marks --------- */
typedef struct alk_traps {
    alk_lines *lines;               /* the chunk's, with source lines; NULL without */
    uint32_t wasm_offset;           /* module byte offset of the instruction being compiled */
    uint32_t labels[ALK_TRAP_LIMIT];  /* without lines: by ALK_TRAP_* code (alkahest_abi.h) */
} alk_traps;

void alk_traps_begin_function(alk_traps *traps);
/* The instruction at module byte offset `wasm` starts at the code's position. */
void alk_traps_mark(alk_traps *traps, alk_code *code, uint32_t wasm);
/* The label a check of the instruction being compiled branches to when it traps with `kind`:
 * the function's stub of that kind, or with lines the instruction's own. */
uint32_t alk_traps_label(alk_traps *traps, alk_code *code, enum alk_trap kind);
/* At the end of a function: binds every label handed out to a stub of the target's. */
void alk_traps_emit_stubs(alk_traps *traps, alk_code *code, const alk_singlepass *target);

#endif
