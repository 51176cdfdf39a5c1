/*
 * The Alkahest runtime core: what an embedder needs to run compiled objects. Freestanding C11
 * like the compiler core, shared by the hosted runtime (alkahest run/spec, Linux) and the Athanor
 * kernel; the embedder supplies memory, type ids and the trap path through alk_platform.
 *
 *   alk_object_open()   check an object's layout and get a view of it (no copying)
 *   alk_instantiate()   vmctx, memory, tables, globals, imports, element and data segments
 *   alk_invoke()        call a function through the entry trampoline; traps come back as codes
 */
#ifndef ALKAHEST_RUNTIME_H
#define ALKAHEST_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alkahest_abi.h"

/* ---- Value types in signature strings ("ii:I": alkahest_abi.h's ALK_VALUE_TYPES) ---------- */

/* "i32" for 'i', ..., or "?" for a letter that is none. */
static inline const char *alk_letter_name(char letter)
{
    switch (letter) {
#define ALK_LETTER_NAME(type, code, l, name, is_float, bytes) case l: return name;
        ALK_VALUE_TYPES(ALK_LETTER_NAME)
#undef ALK_LETTER_NAME
    default: return "?";
    }
}

/* The letter of a value type's name ("i32": 'i'), or 0. */
static inline char alk_letter_of_name(const char *name)
{
#define ALK_LETTER_OF(type, code, l, text, is_float, bytes) \
    for (const char *a = name, *b = text;; a++, b++) { if (*a != *b) break; if (!*a) return l; }
    ALK_VALUE_TYPES(ALK_LETTER_OF)
#undef ALK_LETTER_OF
    return 0;
}

/* The letter of a binary value-type encoding (0x7f: 'i'), or 0. */
static inline char alk_letter_of_code(uint8_t code)
{
    switch (code) {
#define ALK_LETTER_CODE(type, c, l, name, is_float, bytes) case c: return l;
        ALK_VALUE_TYPES(ALK_LETTER_CODE)
#undef ALK_LETTER_CODE
    default: return 0;
    }
}

/* Passed in SSE registers (f32, f64). */
static inline bool alk_letter_is_float(char letter)
{
    switch (letter) {
#define ALK_LETTER_FLOAT(type, code, l, name, is_float, bytes) case l: return is_float;
        ALK_VALUE_TYPES(ALK_LETTER_FLOAT)
#undef ALK_LETTER_FLOAT
    default: return false;
    }
}

/* Passed in a floating-point register: f32, f64 and v128 (System V's SSE class, AAPCS64's
 * SIMD and floating-point registers). */
static inline bool alk_letter_in_fpr(char letter)
{
    return alk_letter_is_float(letter) || letter == ALK_LETTER_V128;
}

/* 64-bit words a value of that type takes in alk_invoke's arrays: two for a v128 (low half
 * first), one for the others. */
static inline unsigned alk_letter_words(char letter)
{
    return letter == ALK_LETTER_V128 ? 2 : 1;
}

/* Bytes of a value of that type (a 32-bit value is zero-extended in a 64-bit slot). */
static inline unsigned alk_letter_bytes(char letter)
{
    switch (letter) {
#define ALK_LETTER_BYTES(type, code, l, name, is_float, bytes) case l: return bytes;
        ALK_VALUE_TYPES(ALK_LETTER_BYTES)
#undef ALK_LETTER_BYTES
    default: return 0;
    }
}

/* ---- Objects (docs/object-format.md) ------------------------------------------------------- */

/* enum alk_section_id (ALK_SECTION_TYPES, ...) and every record's layout: */
#include "alkahest_object_format.h"

typedef struct alk_section_view {
    const uint8_t *data;
    uint32_t size;
    uint32_t count;
} alk_section_view;

typedef struct alk_object {
    const uint8_t *bytes;
    size_t size;
    uint32_t flags;                 /* bit 0: guard bounds */
    uint32_t target;                /* ALK_OBJ_TARGET_*: the runtime's own once opened */
    uint32_t vmctx_size;
    uint32_t function_count, imported_function_count;
    uint32_t start;                 /* UINT32_MAX: none */
    uint32_t vmctx_type_ids, vmctx_function_refs, vmctx_tables, vmctx_globals;
    uint32_t wasm_code_size;
    alk_section_view sections[ALK_SECTION_LIMIT];
} alk_object;

typedef struct alk_str {
    const char *bytes;
    uint32_t length;
} alk_str;

typedef struct alk_constant {
    uint8_t kind;                   /* alk_const_kind order: i32 i64 f32 f64 v128 null func global */
    uint8_t type;
    uint32_t index;
    uint64_t bits[2];
} alk_constant;

typedef struct alk_object_import {
    uint8_t kind, value_type, is_mutable, has_max;
    alk_str module, field;
    uint32_t index;                 /* function: type index */
    uint32_t min, max;
} alk_object_import;

typedef struct alk_object_function { uint32_t type_index, offset, size; alk_str name; } alk_object_function;
typedef struct alk_object_export { alk_str name; uint32_t kind, index; } alk_object_export;
typedef struct alk_object_table { uint8_t element, has_max, imported; uint32_t min, max; } alk_object_table;
typedef struct alk_object_global { uint8_t type, is_mutable, imported; alk_constant init; } alk_object_global;
typedef struct alk_object_element {
    uint32_t mode, table;
    alk_constant offset;
    uint32_t first_item, item_count;
} alk_object_element;
typedef struct alk_object_data {
    uint32_t mode, memory;
    alk_constant offset;
    const uint8_t *bytes;
    uint32_t size;
} alk_object_data;
typedef struct alk_object_memory { uint32_t min, max; bool has_max, imported; } alk_object_memory;

/* Checks the header and that every section and record table lies inside the bytes, and that
 * the code is for the machine this runtime runs on. Returns NULL, or a message saying what is
 * wrong ("compiled for aarch64, this runtime runs x86_64 code"). The bytes must outlive the
 * view. */
const char *alk_object_open(alk_object *object, const void *bytes, size_t size);
/* The same without the target check: for tools that read objects of any target (inspect). */
const char *alk_object_read(alk_object *object, const void *bytes, size_t size);
/* "x86_64", "aarch64", or "unknown". */
const char *alk_object_target_name(uint32_t target);

alk_str alk_object_string(const alk_object *object, uint32_t offset);
alk_str alk_object_type(const alk_object *object, uint32_t type_index);  /* "ii:I" */
uint32_t alk_object_count(const alk_object *object, int section);
alk_object_import alk_object_import_at(const alk_object *object, uint32_t index);
alk_object_function alk_object_function_at(const alk_object *object, uint32_t defined_index);
alk_object_export alk_object_export_at(const alk_object *object, uint32_t index);
alk_object_table alk_object_table_at(const alk_object *object, uint32_t index);
alk_object_global alk_object_global_at(const alk_object *object, uint32_t index);
alk_object_element alk_object_element_at(const alk_object *object, uint32_t index);
alk_constant alk_object_item_at(const alk_object *object, uint32_t index);
alk_object_data alk_object_data_at(const alk_object *object, uint32_t index);
bool alk_object_memory_of(const alk_object *object, alk_object_memory *out);
/* Index of the export named NAME of the given kind, or -1. */
int64_t alk_object_find_export(const alk_object *object, const char *name, uint32_t length,
                               uint32_t kind);
/* Type index of function `function` (imports included), or UINT32_MAX. */
uint32_t alk_object_function_type(const alk_object *object, uint32_t function);

/* ---- Backtraces (backtrace.c) -------------------------------------------------------------- */

/* What a place in an object's code is: its function and, when the object has a `lines` section
 * (a module built with DWARF line information), its Wasm offset, source file and line. */
typedef struct alk_frame_info {
    uint32_t function;              /* index in the function space; UINT32_MAX: in no function */
    alk_str name;                   /* the name section's, else an export's, else empty */
    uint32_t function_offset;       /* bytes from the function's external entry */
    uint32_t wasm_offset;           /* in the Wasm code section (DWARF's), UINT32_MAX: unknown */
    alk_str file;                   /* empty: unknown */
    uint32_t line;                  /* 0: unknown */
} alk_frame_info;

/* The function's name: from the name section, else the first export of it, else empty. */
alk_str alk_object_function_name(const alk_object *object, uint32_t function);

/* Describes code offset `code_offset` (an instruction's own address, not a return address).
 * False when it lies in no function (a stub between functions). */
bool alk_frame_describe(const alk_object *object, uint32_t code_offset, alk_frame_info *out);

/* Frame `depth` as one line of text: "#0 divide at div.c:5 (wasm 0x1a2)", or "#1 outer+0x3c"
 * without line information, "#2 function 7+0x10" without a name. Returns the length
 * (truncated to size - 1, always terminated). Hosted runtime and kernel print the same. */
uint32_t alk_frame_format(const alk_frame_info *frame, uint32_t depth, char *out, uint32_t size);

/* Walks the Wasm frames of a trap (docs/abi.md: every compiled function keeps an rbp chain),
 * innermost first, calling visit() with each frame's code offset, ready for
 * alk_frame_describe(): frame 0 where it trapped, then the call instruction of each caller.
 * pc: the trap handler's return address (a trap stub's call, or the faulting instruction that
 * a fault handler made it return to); rbp: the trapping function's frame pointer, as it was
 * when the handler was entered. When pc lies outside the code (a host function called from
 * Wasm trapped), the walk starts at the first caller in the code, at most a few frames up, and
 * from_host says so. Frame pointers are read only inside [stack_low, stack_high), 8-aligned
 * and strictly ascending, and the walk stops at the first return address outside the code
 * (the entry trampoline) or after max_frames. Returns the number of frames visited. */
typedef void (*alk_frame_visitor)(void *user, uint32_t depth, uint32_t code_offset,
                                  bool from_host);
uint32_t alk_backtrace(const alk_object *object, const void *code, uintptr_t pc, uintptr_t rbp,
                       uintptr_t stack_low, uintptr_t stack_high, uint32_t max_frames,
                       alk_frame_visitor visit, void *user);

/* ---- Instances --------------------------------------------------------------------------------- */

struct alk_instance;

typedef struct alk_memory {
    uint8_t *base;
    uint64_t size;                  /* bytes accessible now */
    uint64_t reserved;              /* bytes of address space behind base */
    uint32_t max_pages;             /* the declared maximum, capped by the embedder */
    bool has_max;                   /* the module declared a maximum (import matching) */
    uint32_t declared_max;
    bool guard;
    void **users;                   /* vmctx of every instance using it: their memory_size */
    uint32_t user_count, user_capacity;
    void *platform_data;            /* the creating instance's `user` when memory_map is
                                       called; the platform may keep or replace it */
} alk_memory;

typedef struct alk_table {           /* layout fixed by ALK_TABLE_* */
    uint64_t *entries;
    uint32_t size;
    uint32_t max;
    uint32_t capacity;
    uint8_t element;
    bool has_max;
    uint64_t *growing;              /* table.grow's new entries while it copies (freed with
                                       the table if the grow never finishes) */
} alk_table;

typedef struct alk_function_ref {    /* layout fixed by ALK_FUNCREF_* */
    const void *code;
    void *vmctx;
    uint32_t type_id;
    uint32_t reserved[3];
} alk_function_ref;

/* What an import is bound to. */
typedef struct alk_extern {
    uint8_t kind;                   /* 0 function, 1 table, 2 memory, 3 global */
    union {
        alk_function_ref function;  /* vmctx NULL: the importer's own (host functions) */
        alk_table *table;
        alk_memory *memory;
        struct {
            uint8_t *slot;          /* 16-byte value slot of the exporter (or the host) */
            uint8_t type, is_mutable;
        } global;
    } as;
} alk_extern;

/* Bytes (or table entries times 8) a bulk builtin handles between two calls of
 * alk_platform.preempt. */
#define ALK_RT_CHUNK (64u * 1024u)

typedef struct alk_platform {
    void *(*alloc)(void *user, size_t size);
    void (*free)(void *user, void *ptr);
    /* Reserve `reserve` bytes of address space (never moved), accessible and zeroed up to
     * `size`; fill memory->base and platform_data. Nonzero on failure. */
    int (*memory_map)(void *user, alk_memory *memory, uint64_t reserve, uint64_t size);
    /* Make [old size, new_size) accessible and zeroed. Nonzero on failure (grow fails). */
    int (*memory_grow)(void *user, alk_memory *memory, uint64_t new_size);
    void (*memory_unmap)(void *user, alk_memory *memory);
    /* The canonical id of a signature ("ii:I"): equal strings, equal ids; never 0xFFFFFFFF. */
    uint32_t (*type_id)(void *user, const char *signature, uint32_t length);
    /* Unwinds to the current entry frame; never returns. The runtime's own C code (builtins)
     * calls it when an operation traps. */
    void (*trap)(void *vmctx, uint32_t code);
    void *user;
    /* What compiled code calls: vmctx->trap_handler and vmctx->builtins. NULL: `trap` and
     * alk_builtins themselves. An embedder that runs its own code on another stack than Wasm
     * code (the kernel: docs/runtime.md) passes entry points that switch to it. */
    const void *trap_entry;
    const void *const *builtin_entries;
    /* Called by long operations (bulk memory and table builtins) between chunks of
     * ALK_RT_CHUNK bytes or entries, where they hold nothing: an embedder may let other work
     * run there. NULL: never. */
    void (*preempt)(void *user);
} alk_platform;

typedef struct alk_instance {
    const alk_object *object;
    const alk_platform *platform;
    uint8_t *vmctx;
    void *vmctx_allocation;
    const uint8_t *code;            /* where the object's code section is mapped (executable) */
    alk_memory *memory;
    bool owns_memory;
    alk_table **tables;             /* the vmctx's table-pointer array, for convenience */
    uint8_t *owned_tables;          /* 1 where this instance created table i */
    uint8_t *dropped_data;
    uint8_t *dropped_elements;
    uint32_t memory_limit_pages;
    void *user;                     /* the embedder's */
    struct alk_wasi *wasi;          /* WASI state, when the module imports WASI (alkahest_wasi.h) */
} alk_instance;

/* Why instantiation failed. */
enum alk_instantiate_status {
    ALK_INSTANTIATE_OK = 0,
    ALK_INSTANTIATE_LINK,           /* an import does not match (assert_unlinkable) */
    ALK_INSTANTIATE_RESOURCE,       /* out of memory, or a limit of the embedder */
    ALK_INSTANTIATE_TRAP,           /* a segment was out of bounds (assert_trap / uninstantiable) */
    ALK_INSTANTIATE_MALFORMED,      /* the object contradicts itself */
};

typedef struct alk_instantiate_result {
    int status;
    uint32_t trap_code;
    char message[128];
} alk_instantiate_result;

/* Builds an instance of `object` whose code is mapped at `code`. imports[i] binds import i.
 * memory_limit_pages caps the linear memory (0: the module's own maximum). Does not run the
 * start function (alk_invoke it). On failure everything allocated is released. */
alk_instantiate_result alk_instantiate(alk_instance *instance, const alk_object *object,
                                       const void *code, const alk_platform *platform,
                                       const alk_extern *imports, uint32_t memory_limit_pages,
                                       void *user);
void alk_instance_free(alk_instance *instance);

/* What alk_instantiate will ask memory_map for when it instantiates `object` with that
 * memory_limit_pages: the bytes to reserve and the initial size. False when the object
 * defines no memory. (An embedder may prepare the memory beforehand, at its own pace.) */
bool alk_memory_plan(const alk_object *object, uint32_t memory_limit_pages, uint64_t *reserve,
                     uint64_t *initial);

/* A table for an embedder to export (e.g. spectest's); NULL when out of memory. */
alk_table *alk_table_new(const alk_platform *platform, uint8_t element, uint32_t min, bool has_max,
                         uint32_t max);

/* What export `index` (an alk_object_export) is, for binding it as another module's import. */
alk_extern alk_instance_export(alk_instance *instance, uint32_t kind, uint32_t index);

/* ---- Calling in ------------------------------------------------------------------------------ */

/* Saved by the entry trampoline; alk_unwind returns to it. The callee-saved registers of the
 * C ABI, the stack pointer and the return address (runtime/enter.h has the offsets). */
#if defined(__aarch64__)
#define ALK_ENTRY_FRAME_WORDS 21    /* x19..x28 x29 x30 sp d8..d15 */
#define ALK_ENTRY_FRAME_SP 12
#else
#define ALK_ENTRY_FRAME_WORDS 8     /* rbx rbp r12 r13 r14 r15 rsp rip */
#define ALK_ENTRY_FRAME_SP 6
#endif
typedef struct alk_entry_frame {
    uint64_t registers[ALK_ENTRY_FRAME_WORDS];
} alk_entry_frame;

/* Calls function `function` (imports included) of the instance with args (one u64 per
 * parameter: i32 zero-extended, f32 in the low 32 bits; two for a v128, low half first) and
 * stores the results likewise.
 * The embedder must have set vmctx->stack_limit and made `frame` the one its trap handler
 * unwinds to. Returns 0, or the trap code. */
uint32_t alk_invoke(alk_instance *instance, uint32_t function, const uint64_t *args,
                    uint64_t *results, alk_entry_frame *frame);
/* Same, for a function reference record (e.g. from another instance). */
uint32_t alk_invoke_ref(const alk_function_ref *ref, const char *signature, uint32_t length,
                        const uint64_t *args, uint64_t *results, alk_entry_frame *frame);

/* Returns to the alk_invoke that saved `frame`, making it return `code`. */
_Noreturn void alk_unwind(alk_entry_frame *frame, uint32_t code);

/* The builtins table vmctx->builtins points to (docs/abi.md). */
extern const void *const alk_builtins[ALK_BUILTIN_COUNT];

static inline alk_instance *alk_instance_of(void *vmctx)
{
    return *(alk_instance **)((uint8_t *)vmctx + ALK_VMCTX_EMBEDDER);
}

#endif
