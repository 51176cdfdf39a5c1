/*
 * The back-end interface: what compile.c (the driver) hands a back end, what a back end gives
 * back (alk_compiled), and what object.c serialises from it. Shared by every producer of
 * machine code: the single-pass back ends (x86_64/, aarch64/) and any other tier.
 *
 * A back end is one function, alk_backend.compile:
 *
 *     int compile(const alk_module *module, const alk_compile_options *options,
 *                 alk_compiled *out, alk_diag *diag);
 *
 *   requires  module validated (module->validated), out->target / module / layout / bounds /
 *             source_lines filled by the driver (alk_layout_compute), every other field zero;
 *   returns   ALK_OK with out->code (code_size bytes, a multiple of ALK_OBJ_CODE_ALIGN, padded
 *             with the target's trap instruction) and out->functions (one per defined
 *             function: its external entry and size) from the module's allocator, and, when
 *             options->source_lines is set, out->pcs; or an ALK_E* code with diag filled and
 *             nothing allocated. The driver frees code, functions and pcs.
 *
 * The code it produces follows docs/abi.md for its target: each function's external entry
 * takes the callee's vmctx first and establishes the pinned registers; calls between functions
 * are position-independent; memory accesses are confined per out->bounds; traps go through
 * vmctx->trap_handler with the codes of ALK_TRAPS (alkahest_abi.h).
 */
#ifndef ALK_COMPILE_H
#define ALK_COMPILE_H

#include "alk_internal.h"
#include "alkahest_abi.h"

/* Where each variable part of the vmctx sits (docs/abi.md). */
typedef struct alk_layout {
    uint32_t type_ids;
    uint32_t function_refs;
    uint32_t tables;
    uint32_t globals;
    uint32_t size;
} alk_layout;

typedef struct alk_compiled_function {
    uint32_t offset;      /* external entry, from the start of the code */
    uint32_t size;
} alk_compiled_function;

/* Where the machine code of a Wasm instruction starts: code offset -> module byte offset. */
typedef struct alk_pc {
    uint32_t code;
    uint32_t wasm;
} alk_pc;

typedef struct alk_compiled {
    alk_target target;                 /* the back end's: what the object's header records */
    const alk_module *module;
    alk_layout layout;
    alk_bounds_mode bounds;
    uint8_t *code;                     /* from the module's allocator */
    uint32_t code_size;
    alk_compiled_function *functions;  /* defined functions only */
    const alk_source_lines *source_lines; /* options->source_lines */
    alk_pc *pcs;                       /* with source lines: ascending code offsets */
    uint32_t pc_count;
} alk_compiled;

static inline uint32_t alk_layout_function_ref(const alk_layout *layout, uint32_t function)
{
    return layout->function_refs + function * ALK_FUNCREF_SIZE;
}
static inline uint32_t alk_layout_table(const alk_layout *layout, uint32_t table)
{
    return layout->tables + table * 8;
}
static inline uint32_t alk_layout_global(const alk_layout *layout, uint32_t global)
{
    return layout->globals + global * ALK_GLOBAL_SLOT_SIZE;
}
static inline uint32_t alk_layout_type_id(const alk_layout *layout, uint32_t type)
{
    return layout->type_ids + type * 4;
}

void alk_layout_compute(const alk_module *module, alk_layout *layout);

/* ---- Back ends -------------------------------------------------------------------------- */
typedef struct alk_backend {
    alk_target target;      /* ALK_TARGET_X86_64, ... (the object header's target) */
    const char *name;       /* "x86_64": as --target spells it */
    int (*compile)(const alk_module *module, const alk_compile_options *options,
                   alk_compiled *out, alk_diag *diag);
} alk_backend;

extern const alk_backend alk_x86_64_backend;    /* x86_64/codegen.c */

/* The back end for a target (ALK_TARGET_HOST: the machine this compiler was built for), or
 * NULL when there is none (compile.c). */
const alk_backend *alk_backend_for(alk_target target);

/* ---- Helpers shared by the single-pass back ends ------------------------------------------ */

/* compile.c: ALK_E_UNSUPPORTED_INSTRUCTION when the module declares v128 values anywhere (a
 * type, a global, a local), for back ends without SIMD: a v128 parameter would otherwise be
 * taken for an integer. Its instructions are refused as each back end meets them. */
int alk_check_no_v128(const alk_module *module, alk_diag *diag);

/* locals.c: the locals a function uses most, weighted by the loops around each use; a back end
 * keeps them in registers. Only locals used more than once are listed, heaviest first. */
#define ALK_HOT_LOCALS_MAX 16
typedef struct alk_hot_locals {
    uint32_t integers[ALK_HOT_LOCALS_MAX];  /* i32, i64 and references */
    uint32_t floats[ALK_HOT_LOCALS_MAX];    /* f32, f64 */
    uint32_t integer_count, float_count;
} alk_hot_locals;

/* Scratch memory reused from function to function by one task; zero-initialise it, free it
 * with alk_local_weights_free. */
typedef struct alk_local_weights {
    const alk_allocator *allocator;
    uint32_t *weights;
    uint32_t weight_capacity;
    uint8_t *nesting;
    uint32_t nesting_capacity;
} alk_local_weights;

/* Up to max_integers integer-class and max_floats float locals of function `index` (in the
 * function space; defined, validated) into *out. ALK_OK, or ALK_E_OUT_OF_MEMORY. */
int alk_hot_locals_find(const alk_module *module, uint32_t index, uint32_t max_integers,
                        uint32_t max_floats, alk_local_weights *scratch, alk_hot_locals *out);
void alk_local_weights_free(alk_local_weights *scratch);

/* object.c */
int alk_object_write(const alk_compiled *compiled, uint8_t **out, size_t *size, alk_diag *diag);

#endif
