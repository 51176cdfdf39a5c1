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
    uint32_t at;        /* the call's field (x86-64: the rel32; A64: the bl), from the chunk's start */
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
