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
    bool optimized;                    /* by the optimizing tier (the object's flags say so) */
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
extern const alk_backend alk_aarch64_backend;   /* aarch64/codegen.c */

/* The back end for a target (ALK_TARGET_HOST: the machine this compiler was built for), or
 * NULL when there is none (compile.c). */
const alk_backend *alk_backend_for(alk_target target);

/* ---- Helpers shared by the single-pass back ends ------------------------------------------ */

/* compile.c: ALK_E_UNSUPPORTED_INSTRUCTION when the module declares v128 values anywhere (a
 * type, a global, a local), for back ends without SIMD: a v128 parameter would otherwise be
 * taken for an integer. Its instructions are refused as each back end meets them. */
int alk_check_no_v128(const alk_module *module, alk_diag *diag);

/* locals.c: one walk over a function's body before its prologue, for what a single-pass back
 * end must know up front: the locals used most, weighted by the loops around each use (it
 * keeps them in registers; only locals used more than once are listed, heaviest first), and
 * the stack its calls need below its frame. */
#define ALK_HOT_LOCALS_MAX 16
typedef struct alk_scan_limits {
    uint32_t hot_integers, hot_floats;      /* how many of each class the back end can pin */
    uint32_t integer_arguments, float_arguments; /* parameters its calls pass in registers */
} alk_scan_limits;

typedef struct alk_function_scan {
    uint32_t integers[ALK_HOT_LOCALS_MAX];  /* hot i32, i64 and reference locals */
    uint32_t floats[ALK_HOT_LOCALS_MAX];    /* hot f32, f64 locals */
    uint32_t integer_count, float_count;
    /* bytes of the largest call's stack arguments plus its results past the first, 8 each */
    uint32_t call_area;
} alk_function_scan;

/* Scratch memory reused from function to function by one task; zero-initialise it, free it
 * with alk_local_weights_free. */
typedef struct alk_local_weights {
    const alk_allocator *allocator;
    uint32_t *weights;
    uint32_t weight_capacity;
    uint8_t *nesting;
    uint32_t nesting_capacity;
} alk_local_weights;

/* Scans function `index` (in the function space; defined, validated) into *out. ALK_OK, or
 * ALK_E_OUT_OF_MEMORY. */
int alk_scan_function(const alk_module *module, uint32_t index, const alk_scan_limits *limits,
                      alk_local_weights *scratch, alk_function_scan *out);
void alk_local_weights_free(alk_local_weights *scratch);

/* lines.c: the map from machine code back to Wasm instructions of one chunk, when the module
 * has source lines (alk_compile_options.source_lines), and the trap sites of the function being
 * compiled (a stub per trapping instruction, so that a trap names its line). Positions are
 * offsets in the chunk's code. Each function returns false when out of memory. */
typedef struct alk_lines alk_lines;
alk_lines *alk_lines_new(const alk_allocator *allocator);
void alk_lines_free(alk_lines *lines);
/* The code of the instruction at module offset `wasm` starts at `position` (ascending). */
bool alk_lines_mark(alk_lines *lines, uint32_t position, uint32_t wasm);
/* The label of the instruction's stub of trap `kind`, or 0 when it has none yet. */
uint32_t alk_lines_site(const alk_lines *lines, uint32_t kind, uint32_t wasm);
bool alk_lines_add_site(alk_lines *lines, uint32_t label, uint32_t kind, uint32_t wasm);
/* The function's sites, for emitting their stubs at its end; then cleared. */
uint32_t alk_lines_site_count(const alk_lines *lines);
void alk_lines_site_at(const alk_lines *lines, uint32_t i, uint32_t *label, uint32_t *kind,
                       uint32_t *wasm);
void alk_lines_clear_sites(alk_lines *lines);
/* Forgets the marks at or after `position` and the sites (a function compiled again). */
void alk_lines_truncate(alk_lines *lines, uint32_t position);
/* The chunk's marks, code offsets moved by `base`, appended to out (from the allocator). */
bool alk_lines_append(const alk_lines *lines, uint32_t base, alk_pc **out, uint32_t *count,
                      const alk_allocator *allocator);

/* object.c */
int alk_object_write(const alk_compiled *compiled, uint8_t **out, size_t *size, alk_diag *diag);

#endif
