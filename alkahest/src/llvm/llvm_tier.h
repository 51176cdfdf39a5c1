/*
 * The optimizing tier: Wasm -> LLVM IR (LLVM-C of Debian's llvm-19-dev) -> LLVM's optimizer and
 * code generator -> the same alk_compiled (code, function offsets) the single pass produces,
 * written to the same object format, run through the same instance ABI (docs/abi.md).
 * docs/opt-tier.md explains the design and lists every LLVM construct a module could drive into
 * undefined behaviour, with the rule this tier follows for it.
 *
 * The tier is built into its own shared object (build/alkahest-opt.so, linked with libLLVM) that
 * the CLI loads for `-O`, so the core and the single pass still build and start without LLVM.
 *
 * Pipeline, per chunk of functions (driver.c), each chunk on a worker thread in a context of its
 * own: function.c builds the IR of every function (numeric.c, memory.c, simd.c its
 * instructions), LLVM optimizes it and emits an ELF relocatable object in memory; link.c then
 * lays every chunk's functions end to end behind their external entries and resolves the
 * PC-relative relocations, refusing any other kind (the object format has no relocations).
 *
 * Register rules (x86-64): every function uses LLVM's "graalcc" calling convention (cc 107), which
 * is the C convention with r14 and r15 reserved: LLVM never allocates them, so r15 holds the
 * vmctx and r14 the memory base in every instruction of the function, as in the single pass,
 * and the embedders' fault paths that read r15 work unchanged. The IR reads them with
 * llvm.read_register once at entry and writes them back after a call that may enter another
 * instance. AArch64: the C convention with x28 (vmctx), x27 (memory base), x26 and x18 reserved by
 * target features (opt_aarch64 in driver.c; docs/opt-tier.md, "AArch64").
 */
#ifndef ALK_LLVM_TIER_H
#define ALK_LLVM_TIER_H

#include <llvm-c/Core.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>

#include "../compile.h"

/* Stack-limit rule (docs/opt-tier.md, "Stack"): a frame of STACK_PROBE_SIZE bytes or more calls
 * the probe before rsp moves; every call enters through a check, before the callee's prologue,
 * that rsp >= stack_limit + STACK_MARGIN (link.c). The margin covers the largest unprobed frame
 * plus the pushes of a prologue (rbp, the callee-saved registers) and the probe's return address. */
#define STACK_PROBE_SIZE 2048
#define STACK_MARGIN (STACK_PROBE_SIZE + 128)

/* The symbol LLVM's prologue calls for a large frame, resolved by link.c to its stub. */
#define PROBE_SYMBOL "alk.probe"
/* The helper that calls a function reference with more than one result (link.c's stub). */
#define MULTI_CALL_SYMBOL "alk.call_multi"

/* Functions are compiled in chunks of about this many bytes of Wasm code, whatever the number
 * of threads: so the output is the same byte for byte on any machine. */
#define CHUNK_BYTES (96 * 1024)

/* AArch64 (docs/opt-tier.md, "AArch64"): no probe; link.c reads each function's frame size off
 * its code and the internal entry checks sp - (frame + A64_STACK_MARGIN) against the limit.
 * The margin covers the 16 bytes the stack-trap stub pushes and the multi-result helper's
 * saves (it checks the rest itself). */
#define A64_STACK_MARGIN 128

typedef struct opt_target {
    alk_target id;                  /* ALK_TARGET_X86_64 or ALK_TARGET_AARCH64 */
    const char *triple;
    const char *cpu;
    const char *features;
    const char *vmctx_register;     /* register names for llvm.read_register */
    const char *memory_register;
    unsigned calling_convention;    /* of every Wasm function */
    bool probe_call;                /* large frames call PROBE_SYMBOL ("probe-stack") */
    const char *copy_vmctx;         /* inline asm: $0 := the vmctx register */
    const char *restore;            /* inline asm: the vmctx register := $0, memory base := [it] */
    const char *restore_constraints;
    uint32_t argument_gprs;         /* integer argument registers after the vmctx's */
} opt_target;

extern const opt_target opt_x86_64;
extern const opt_target opt_aarch64;

/* TBAA access classes: linear memory never overlaps the embedder's structures, and the
 * structures named here never overlap each other (docs/opt-tier.md, "Aliasing"). */
enum {
    TBAA_MEMORY,        /* linear memory */
    TBAA_MEMORY_SIZE,   /* vmctx->memory_size */
    TBAA_GLOBAL,        /* a global's slot (ours or, for an imported mutable one, the exporter's) */
    TBAA_TABLE,         /* a table record and its entries */
    TBAA_CONTEXT,       /* the rest of the vmctx and what it points to */
    TBAA_COUNT
};

/* One chunk of functions: an LLVM context and module of its own. */
typedef struct opt_module {
    const alk_module *wasm;
    const alk_compile_options *options;
    const alk_layout *layout;
    const opt_target *target;       /* opt_x86_64 or opt_aarch64 */
    LLVMContextRef context;
    LLVMModuleRef module;
    LLVMBuilderRef builder;
    LLVMBuilderRef entry_builder;   /* allocas and phis */

    LLVMTypeRef void_type, i1, i8, i16, i32, i64, i128, f32, f64, ptr;
    LLVMTypeRef v128;               /* <2 x i64>: how v128 values are carried */
    LLVMTypeRef i8x16, i16x8, i32x4, i64x2, f32x4, f64x2;
    LLVMValueRef *functions;        /* by defined function index: the LLVM function, or NULL */
    LLVMValueRef *adapters;         /* multi-result functions defined here: the ABI entry */
    LLVMTypeRef *internal_types;    /* by type index, NULL until needed */
    LLVMTypeRef *foreign_types;     /* by type index: calls through a function reference */
    LLVMValueRef tbaa[TBAA_COUNT];
    unsigned tbaa_kind, invariant_kind, prof_kind;
    LLVMValueRef reg_vmctx, reg_memory;     /* register-name metadata */
    LLVMValueRef cold_weights;      /* branch weights: the first edge almost never taken */
    LLVMValueRef multi_call;        /* the helper's declaration, when used */
    int error;
    alk_diag diag;
} opt_module;

typedef enum opt_control_kind {
    OPT_FUNCTION, OPT_BLOCK, OPT_LOOP, OPT_IF, OPT_ELSE
} opt_control_kind;

typedef struct opt_control {
    opt_control_kind kind;
    uint32_t height;                /* operand stack height below the parameters */
    uint32_t param_count, result_count;
    const alk_valtype *params, *results;
    LLVMBasicBlockRef end;          /* where the block continues; its phis take the results */
    LLVMValueRef *end_phis;
    uint32_t end_edges;             /* branches into `end` so far */
    LLVMBasicBlockRef header;       /* loop: the branch target; its phis take the parameters */
    LLVMValueRef *header_phis;
    LLVMBasicBlockRef else_block;   /* if: the false edge's target, until `else` */
    LLVMValueRef *if_params;        /* if: the parameters again, for the else branch */
    bool unreachable;               /* the rest of this block is dead code */
} opt_control;

/* One function's IR generation. */
typedef struct opt_function {
    opt_module *m;
    const alk_module *wasm;
    uint32_t index;                 /* in the function space */
    const alk_functype *type;
    LLVMValueRef function;
    LLVMValueRef self_callee;       /* where the body's calls to itself go (NULL: itself) */
    LLVMValueRef vmctx;             /* ptr: r15 */
    LLVMValueRef vmctx_bits;        /* i64: r15 */
    LLVMValueRef memory_base;       /* ptr: r14 */
    LLVMValueRef memory_bits;       /* i64: r14 */
    bool foreign_calls;             /* calls through function references: r15/r14 restored */
    LLVMValueRef keep;              /* guard mode: alloca i64, every loaded value added in */
    LLVMValueRef keep_vector;       /* guard mode: alloca <2 x i64>, where float and v128 loads
                                     * are added (no move out of the xmm registers) */
    LLVMValueRef *locals;           /* allocas */
    alk_valtype *local_types;
    uint32_t local_count;
    LLVMValueRef *stack;
    uint32_t height, stack_capacity;
    opt_control *controls;
    uint32_t control_count, control_capacity;
    uint32_t dead_depth;            /* blocks opened inside dead code */
    LLVMBasicBlockRef traps[ALK_TRAP_LIMIT];
    uint32_t offset;                /* of the instruction being compiled, for diagnostics */
} opt_function;

/* ---- function.c ---------------------------------------------------------------------------- */
LLVMTypeRef opt_type(opt_module *m, alk_valtype type);
LLVMTypeRef opt_internal_type(opt_module *m, uint32_t type_index);
LLVMTypeRef opt_foreign_type(opt_module *m, uint32_t type_index);
LLVMValueRef opt_function_value(opt_module *m, uint32_t defined_index);
int opt_compile_function(opt_module *m, uint32_t function_index);
int opt_check_inlined(opt_module *m);
void opt_fail(opt_function *f, int code, const char *detail);

void opt_push(opt_function *f, LLVMValueRef value);
LLVMValueRef opt_pop(opt_function *f);
LLVMValueRef opt_top(opt_function *f, uint32_t depth);

/* Branches to the function's trap block for `code` when `condition` holds (rarely). */
void opt_trap_if(opt_function *f, LLVMValueRef condition, uint32_t code);
/* Calls the trap handler now: the block ends there. */
void opt_trap_now(opt_function *f, uint32_t code);

LLVMValueRef opt_const_i32(opt_module *m, uint32_t value);
LLVMValueRef opt_const_i64(opt_module *m, uint64_t value);
/* A byte offset from a pointer (a plain, wrapping getelementptr: never inbounds). */
LLVMValueRef opt_offset(opt_function *f, LLVMValueRef base, uint64_t offset);
/* Loads and stores of the embedder's structures, with their TBAA class; invariant marks a
 * location that never changes once the instance runs (docs/opt-tier.md). */
LLVMValueRef opt_load(opt_function *f, LLVMTypeRef type, LLVMValueRef pointer, int tbaa,
                      bool invariant);
void opt_store(opt_function *f, LLVMValueRef value, LLVMValueRef pointer, int tbaa);
LLVMValueRef opt_intrinsic(opt_function *f, const char *name, LLVMTypeRef *overloads,
                           unsigned overload_count, LLVMValueRef *args, unsigned arg_count);
/* Calls builtin `index` (docs/abi.md) with integer or pointer arguments. */
LLVMValueRef opt_call_builtin(opt_function *f, int index, LLVMValueRef *args, unsigned count,
                              bool returns_i32);
void opt_restore_registers(opt_function *f);
/* r15/r14 into f->vmctx/f->memory_base (every function's entry; link.c checks the stack). */
void opt_read_registers(opt_function *f);

/* ---- abi.c: functions with several results ---------------------------------------------------- */
void opt_build_adapter(opt_module *m, uint32_t defined);
void opt_call_multi(opt_function *f, const alk_functype *t, LLVMValueRef code, LLVMValueRef *args);

/* ---- numeric.c: integer and float instructions; false when `in` is not one ------------------ */
bool opt_numeric_instr(opt_function *f, const alk_instr *in);
LLVMValueRef opt_quiet_identity(opt_function *f, LLVMValueRef value);
LLVMValueRef opt_float_min_max(opt_function *f, LLVMValueRef a, LLVMValueRef b, bool is_max);
LLVMValueRef opt_float_round(opt_function *f, LLVMValueRef x, alk_opcode kind);

/* ---- memory.c: loads, stores, memory and table instructions, globals, references ----------- */
bool opt_memory_instr(opt_function *f, const alk_instr *in);
/* The address of an access of `width` bytes at index + offset, bounds-checked in checked mode. */
LLVMValueRef opt_address(opt_function *f, LLVMValueRef index, uint32_t offset, uint32_t width);
LLVMValueRef opt_memory_load(opt_function *f, LLVMTypeRef type, LLVMValueRef address);
LLVMValueRef opt_keep_value(opt_function *f);
/* Guard mode: the sink that consumes the keep locals at every return and trap (an empty asm
 * with side effects), and its type; opt_keep_finish replaces the sums after LLVM's pipeline. */
bool opt_keeps_loads(const opt_module *m);
LLVMValueRef opt_keep_sink(opt_module *m);
LLVMTypeRef opt_keep_sink_type(opt_module *m);
void opt_consume_keep(opt_function *f);
/* After the optimization pipeline: every load and store of linear memory volatile, the sinks
 * (and with them the sums) and the fault points deleted, every function nounwind again; true
 * when there was a sink to delete (then run ADCE). */
bool opt_keep_finish(opt_module *m);
void opt_add_nounwind(opt_module *m, LLVMValueRef function);
void opt_memory_store(opt_function *f, LLVMValueRef value, LLVMValueRef address);

/* ---- simd.c ------------------------------------------------------------------------------------ */
bool opt_simd_instr(opt_function *f, const alk_instr *in);

/* ---- link.c: from the chunks' ELF objects to one code buffer --------------------------------- */
typedef struct opt_chunk_object {
    uint32_t first, end;            /* defined functions [first, end) */
    const uint8_t *elf;
    size_t elf_size;
} opt_chunk_object;

int opt_link(const opt_target *target, const alk_module *module,
             const opt_chunk_object *chunks, unsigned chunk_count, alk_compiled *out,
             alk_diag *diag);

/* The entry point the CLI finds in alkahest-opt.so (compile.h's alk_optimizer). */
int alk_llvm_compile(const alk_module *module, const alk_compile_options *options,
                     alk_compiled *out, alk_diag *diag);

#endif
