/*
 * Module-level compilation state shared by compile.c (driver), the target's code generator and
 * object.c (serialisation).
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

/* x86_64/codegen.c: compiles every defined function into one code buffer. */
int alk_x64_compile(const alk_module *module, const alk_compile_options *options,
                    alk_compiled *out, alk_diag *diag);

/* object.c */
int alk_object_write(const alk_compiled *compiled, uint8_t **out, size_t *size, alk_diag *diag);

#endif
