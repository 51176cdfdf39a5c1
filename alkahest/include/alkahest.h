/*
 * Alkahest: an ahead-of-time WebAssembly 2.0 compiler for x86-64 and AArch64.
 *
 * Public interface. The core is freestanding C11: it never prints, never exits and allocates
 * only through the allocator it is given, so it can run hosted (the CLI, the Linux runtime)
 * and inside the Athanor kernel alike.
 *
 * Pipeline, one stage per file, driven from alk_build():
 *     decode (decode.c) -> validate (validate.c) -> compile (compile.c, a back end: x86_64/ or
 *     aarch64/) -> object (object.c)
 */
#ifndef ALKAHEST_H
#define ALKAHEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alkahest_object_format.h"

#define ALK_VERSION "0.1.0"

/* Allocation hook. alloc returns NULL on exhaustion (reported as ALK-E090); memory need not be
 * zeroed. free(NULL) must be accepted. */
typedef struct alk_allocator {
    void *(*alloc)(void *user, size_t size);
    void (*free)(void *user, void *ptr);
    void *user;
} alk_allocator;

/* A diagnostic: what went wrong and where. code is an ALK_E* value (docs/diagnostics.md);
 * offset is the byte offset in the Wasm binary; function is the function index the error is in,
 * or ALK_NO_FUNCTION. The message is in the specification's terms and never ends in a newline. */
#define ALK_NO_FUNCTION UINT32_MAX
typedef struct alk_diag {
    int code;
    uint32_t offset;
    uint32_t function;
    char function_name[64]; /* from the name section when known, else "" */
    char message[192];
} alk_diag;

/* Diagnostic codes: ALK_E_MAGIC_HEADER ... (generated from include/alkahest_diagnostics.def). */
enum {
    ALK_OK = 0,
#define ALK_DIAG(name, number, text) name = number,
#include "alkahest_diagnostics.def"
#undef ALK_DIAG
};

/* Stable name of a diagnostic code ("ALK-E012") and its one-line summary. */
const char *alk_diag_code_name(int code);
const char *alk_diag_summary(int code);
/* Formats "ALK-E012 at 0x1a2 in function 3 (name): message" into buf (always terminated). */
void alk_diag_format(const alk_diag *diag, char *buf, size_t size);

/* ---- Modules ------------------------------------------------------------------------------ */

typedef struct alk_module alk_module;

/* Decodes a binary module. The bytes must stay alive and unchanged as long as the module does
 * (names and function bodies point into them). Returns ALK_OK or a diagnostic code. */
int alk_decode(const uint8_t *bytes, size_t size, const alk_allocator *allocator,
               alk_module **out, alk_diag *diag);

/* Validates a decoded module against the WebAssembly 2.0 rules. */
int alk_validate(alk_module *module, alk_diag *diag);
/* The same, checking function bodies with the options' parallelism (alk_compile_options). */
struct alk_compile_options;
int alk_validate_with(alk_module *module, const struct alk_compile_options *options,
                      alk_diag *diag);

void alk_module_free(alk_module *module);

/* ---- Compilation --------------------------------------------------------------------------- */

typedef enum alk_bounds_mode {
    ALK_BOUNDS_CHECKED = 0, /* explicit checks against the current memory size */
    ALK_BOUNDS_GUARD = 1,   /* 8 GiB reservation with guard pages; faults become traps */
} alk_bounds_mode;

/* Source lines of the Wasm code, from a module's DWARF .debug_line (parsed by the embedder:
 * cli/dwarf.c). A row says that code from `address` (an offset in the Wasm code section, as
 * DWARF counts it) up to the next row's comes from line `line` (0: none, as after an end of
 * sequence) of files[file]. Rows are sorted by address. */
typedef struct alk_source_line {
    uint32_t address;
    uint32_t file;
    uint32_t line;
} alk_source_line;

typedef struct alk_source_lines {
    const alk_source_line *rows;
    uint32_t row_count;
    const char *const *files;       /* NUL-terminated names */
    uint32_t file_count;
} alk_source_lines;

/* The machine code is for: the values are those the object's header records (ELF's machine
 * numbers, formats/object.toml). ALK_TARGET_HOST: the machine the compiler itself was built
 * for. */
typedef enum alk_target {
    ALK_TARGET_HOST = 0,
    ALK_TARGET_X86_64 = ALK_OBJ_TARGET_X86_64,
    ALK_TARGET_AARCH64 = ALK_OBJ_TARGET_AARCH64,
} alk_target;

/* Which back end compiles: the single pass (milliseconds per module, the default) or the
 * optimizing tier (LLVM: near-native code, docs/opt-tier.md). Both write the same object format
 * and follow the same instance ABI. */
typedef enum alk_tier {
    ALK_TIER_BASELINE = 0,
    ALK_TIER_OPTIMIZED = 1,
} alk_tier;

struct alk_compile_options;
struct alk_compiled;
/* The optimizing tier's entry (alk_llvm_compile in build/alkahest-opt.so, which the CLI loads
 * on demand so that the core and the single pass need no LLVM): an alk_backend's compile
 * (src/compile.h) for every target it has. */
typedef int (*alk_optimizer)(const alk_module *module, const struct alk_compile_options *options,
                             struct alk_compiled *out, alk_diag *diag);

typedef struct alk_compile_options {
    alk_bounds_mode bounds;
    alk_target target;
    alk_tier tier;
    alk_optimizer optimizer;    /* needed for ALK_TIER_OPTIMIZED; else ALK-E104 */
    /* Optional: the object gets a `lines` section mapping its machine code back to these
     * source lines (docs/object-format.md), and every trapping instruction a stub of its own
     * so that a trap names its line. NULL: neither (the default, smaller code). */
    const alk_source_lines *source_lines;
    /* Optional parallelism: the compiler splits the functions into `parallelism` chunks and
     * asks run_parallel to run one task per chunk, possibly at the same time, returning when
     * all have finished. NULL (or parallelism <= 1): one chunk, compiled here. The output is the
     * same byte for byte whatever the parallelism. */
    unsigned parallelism;
    void (*run_parallel)(void *user, void (*task)(void *argument), void **arguments,
                         unsigned count);
    void *parallel_user;
} alk_compile_options;

/* Compiles a validated module and serialises the object (docs/object-format.md) into a buffer
 * from the module's allocator; *object_out is freed with that allocator's free. */
int alk_compile(const alk_module *module, const alk_compile_options *options,
                uint8_t **object_out, size_t *object_size, alk_diag *diag);

/* The whole pipeline on a Wasm binary: decode, validate, compile, write the object. */
int alk_build(const uint8_t *wasm, size_t wasm_size, const alk_compile_options *options,
              const alk_allocator *allocator, uint8_t **object_out, size_t *object_size,
              alk_diag *diag);

#endif
