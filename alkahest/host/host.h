/*
 * The hosted (Linux) embedding of the runtime core: linear memories in mmap reservations,
 * code mapped read+execute, guard-page faults turned into traps, and the spectest host module.
 * Used by `alkahest run` and `alkahest spec`.
 */
#ifndef ALK_HOST_H
#define ALK_HOST_H

#include <stdio.h>

#include "alkahest.h"
#include "alkahest_runtime.h"

typedef struct alk_host_module {
    alk_object object;
    uint8_t *object_bytes;      /* owned */
    size_t object_size;
    void *code;                 /* mapped read+execute */
    size_t code_mapping;
} alk_host_module;

/* The platform hooks for alk_instantiate on Linux. */
extern const alk_platform alk_host_platform;

/* Installs the fault handler and computes the stack limit; call once. */
void alk_host_init(void);
/* Decodes, validates and compiles Wasm bytes (or takes an object's bytes, "ALKO...", as they
 * are), then maps the code. Returns ALK_OK or a diagnostic code. */
int alk_host_load(const uint8_t *wasm, size_t size, alk_bounds_mode bounds, alk_host_module *out,
                  alk_diag *diag);
void alk_host_unload(alk_host_module *module);
/* Calls a function; returns 0 or a trap code. Sets the stack limit, keeps nesting right. */
uint32_t alk_host_invoke(alk_instance *instance, uint32_t function, const uint64_t *args,
                         uint64_t *results);
uint32_t alk_host_invoke_ref(const alk_function_ref *ref, const char *signature, uint32_t length,
                             const uint64_t *args, uint64_t *results);
/* Called by host functions (imports) to raise a trap in the calling Wasm code. */
_Noreturn void alk_host_trap(void *vmctx, uint32_t code);
const char *alk_host_trap_message(uint32_t code);
/* Applies the stack limit to a fresh instance. */
void alk_host_prepare(alk_instance *instance);

/* The Wasm frames of the last trap on this thread (alk_backtrace, walked at the trap, before
 * the stack unwound), and printing them one per line, "  #0 divide at div.c:5 (wasm 0x1a2)". */
#define ALK_HOST_BACKTRACE_MAX 64
typedef struct alk_host_trap_site {
    const alk_object *object;
    uint32_t frames[ALK_HOST_BACKTRACE_MAX];   /* code offsets, innermost first */
    uint32_t frame_count;
    bool from_host;                            /* frame 0 called a host function that trapped */
} alk_host_trap_site;
const alk_host_trap_site *alk_host_last_trap(void);
void alk_host_print_backtrace(FILE *out, const alk_host_trap_site *site);

/* WASI preview1 on Linux (wasi_host.c): binds ("wasi_snapshot_preview1", field). */
struct alk_wasi_platform;
extern const struct alk_wasi_platform alk_host_wasi_platform;
bool alk_host_wasi_resolve(const char *field, uint32_t length, uint32_t kind, alk_extern *out);

/* The spectest module: binds imports named ("spectest", field); false if unknown. */
bool alk_spectest_resolve(const char *field, uint32_t length, uint32_t kind, alk_extern *out);

#endif
