/*
 * The optimizing tier's driver: splits the defined functions into chunks of about CHUNK_BYTES
 * of Wasm code (in index order, so the split depends on the module only), compiles each chunk
 * in an LLVM context of its own on one of `options->parallelism` workers, and links the
 * chunks' objects (link.c). The output is the same byte for byte whatever the parallelism:
 * each chunk's IR, passes and code generation see only the chunk.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llvm-c/Analysis.h>
#include <llvm-c/Support.h>
#include <llvm-c/Transforms/PassBuilder.h>

#include "llvm_tier.h"

const opt_target opt_x86_64 = {
    .id = ALK_TARGET_X86_64,
    .triple = "x86_64-unknown-linux-gnu",
    .cpu = "x86-64",                /* the baseline: SSE2 (the object's CPU-feature bits stay 0) */
    .features = "",
    .vmctx_register = "r15",
    .memory_register = "r14",
    .calling_convention = 107,      /* graalcc: the C convention with r14 and r15 reserved */
    .probe_call = true,
    .copy_vmctx = "movq %r15, $0",
    .restore = "movq $0, %r15\n\tmovq (%r15), %r14",
    .restore_constraints = "r,~{r14},~{r15},~{memory}",
    .argument_gprs = 5,             /* rsi rdx rcx r8 r9 */
};

/* AArch64: the C convention (AAPCS64) with x27 (memory base) and x28 (vmctx) reserved by target
 * features, as LLVM allows for any of x1..x28: never allocated, never saved by a prologue, and
 * readable by llvm.read_register. x18 (the platform register, docs/abi.md) is reserved too, and
 * so is x26, the single pass's pinned memory size, which this tier does not use (it reloads the
 * size from the vmctx, as on x86-64): AAPCS64 has it callee-saved, but a single-pass function
 * of another instance, reached through a function reference, sets it for itself and leaves it
 * so (docs/abi.md), so LLVM may not keep a value there across any call. The baseline is generic
 * ARMv8.0-A with NEON (cortex-a53 runs it): the object's CPU-feature bits stay 0. */
const opt_target opt_aarch64 = {
    .id = ALK_TARGET_AARCH64,
    .triple = "aarch64-unknown-linux-gnu",
    .cpu = "generic",
    .features = "+v8a,+neon,+fp-armv8,+reserve-x18,+reserve-x26,+reserve-x27,+reserve-x28",
    .vmctx_register = "x28",
    .memory_register = "x27",
    .calling_convention = 0,        /* C: the features keep LLVM off x27/x28 */
    .probe_call = false,            /* LLVM's AArch64 has no probe call: link.c bounds frames */
    .copy_vmctx = "mov $0, x28",
    .restore = "mov x28, $0\n\tldr x27, [x28]",
    /* x27/x28 not declared clobbered: AArch64's prologue would then save and restore them
     * (reserved or not), and the asm writes back just what LLVM holds they contain */
    .restore_constraints = "r,~{memory}",
    .argument_gprs = 7,             /* x1..x7 */
};

/* The optimization pipeline; ALKAHEST_OPT_PASSES overrides it (for experiments). */
#define PASSES "default<O2>"

static pthread_once_t llvm_once = PTHREAD_ONCE_INIT;

static void initialise_llvm(void)
{
    LLVMInitializeX86TargetInfo();
    LLVMInitializeX86Target();
    LLVMInitializeX86TargetMC();
    LLVMInitializeX86AsmPrinter();
    LLVMInitializeX86AsmParser();      /* the stubs (link.c) are assembled from text */
    LLVMInitializeAArch64TargetInfo();
    LLVMInitializeAArch64Target();
    LLVMInitializeAArch64TargetMC();
    LLVMInitializeAArch64AsmPrinter();
    LLVMInitializeAArch64AsmParser();
    /* Outgoing stack arguments stored into the frame reserved by the prologue, never pushed:
     * so every byte a function's calls take below rsp is part of the frame that the stack check
     * (or the probe) has checked (docs/opt-tier.md, "Stack"). */
    /* No SLP vectorizer (the pipeline option alone does not keep it from running): LLVM 19's
     * measures the distance between two loads in an int, so loads 2^32 bytes apart (an index
     * near 2^32 plus an offset, which Wasm allows and guard mode must fault on) look like one
     * and the faulting one is dropped (docs/opt-tier.md; fuzz seed 100150). */
    const char *args[16] = { "alkahest", "-no-x86-call-frame-opt", "-vectorize-slp=false" };
    int count = 3;
    /* ALKAHEST_LLVM_ARGS: more LLVM options, space-separated (for experiments, such as
     * -opt-bisect-limit=N to find the pass that breaks a function) */
    static char extra[1024];
    const char *more = getenv("ALKAHEST_LLVM_ARGS");
    if (more && strlen(more) >= sizeof extra)
        fprintf(stderr, "alkahest: ALKAHEST_LLVM_ARGS ignored: longer than %zu characters\n",
                sizeof extra - 1);
    else if (more) {
        strcpy(extra, more);
        for (char *word = strtok(extra, " "); word && count < 16; word = strtok(NULL, " "))
            args[count++] = word;
    }
    LLVMParseCommandLineOptions(count, args, NULL);
}

typedef struct chunk {
    const opt_target *target;
    const alk_module *module;
    const alk_compile_options *options;
    const alk_layout *layout;
    uint32_t first, end;            /* defined functions */
    uint8_t *elf;
    size_t elf_size;
    int error;
    alk_diag diag;
} chunk;

static LLVMValueRef md_string(LLVMContextRef c, const char *s)
{
    return LLVMMDStringInContext(c, s, (unsigned)strlen(s));
}

static void set_up_module(opt_module *m)
{
    LLVMContextRef c = m->context;
    m->void_type = LLVMVoidTypeInContext(c);
    m->i1 = LLVMInt1TypeInContext(c);
    m->i8 = LLVMInt8TypeInContext(c);
    m->i16 = LLVMInt16TypeInContext(c);
    m->i32 = LLVMInt32TypeInContext(c);
    m->i64 = LLVMInt64TypeInContext(c);
    m->i128 = LLVMInt128TypeInContext(c);
    m->f32 = LLVMFloatTypeInContext(c);
    m->f64 = LLVMDoubleTypeInContext(c);
    m->ptr = LLVMPointerTypeInContext(c, 0);
    m->v128 = LLVMVectorType(m->i64, 2);
    m->i8x16 = LLVMVectorType(m->i8, 16);
    m->i16x8 = LLVMVectorType(m->i16, 8);
    m->i32x4 = LLVMVectorType(m->i32, 4);
    m->i64x2 = m->v128;
    m->f32x4 = LLVMVectorType(m->f32, 4);
    m->f64x2 = LLVMVectorType(m->f64, 2);
    m->tbaa_kind = LLVMGetMDKindIDInContext(c, "tbaa", 4);
    m->invariant_kind = LLVMGetMDKindIDInContext(c, "invariant.load", 14);
    m->prof_kind = LLVMGetMDKindIDInContext(c, "prof", 4);
    /* TBAA: a root, one scalar type per class, an access tag per type */
    LLVMValueRef root_name = md_string(c, "alkahest");
    LLVMValueRef root = LLVMMDNodeInContext(c, &root_name, 1);
    static const char *const names[TBAA_COUNT] = { "memory", "memory size", "global", "table",
                                                   "context" };
    for (int i = 0; i < TBAA_COUNT; i++) {
        LLVMValueRef type_fields[3] = { md_string(c, names[i]), root,
                                        LLVMConstInt(m->i64, 0, false) };
        LLVMValueRef type = LLVMMDNodeInContext(c, type_fields, 3);
        LLVMValueRef tag_fields[3] = { type, type, LLVMConstInt(m->i64, 0, false) };
        m->tbaa[i] = LLVMMDNodeInContext(c, tag_fields, 3);
    }
    LLVMValueRef weights[3] = { md_string(c, "branch_weights"), LLVMConstInt(m->i32, 1, false),
                                LLVMConstInt(m->i32, 1u << 20, false) };
    m->cold_weights = LLVMMDNodeInContext(c, weights, 3);
    LLVMValueRef name = md_string(c, m->target->vmctx_register);
    m->reg_vmctx = LLVMMDNodeInContext(c, &name, 1);
    name = md_string(c, m->target->memory_register);
    m->reg_memory = LLVMMDNodeInContext(c, &name, 1);
}

static LLVMTargetMachineRef target_machine(const opt_target *target, char **error)
{
    LLVMTargetRef t;
    if (LLVMGetTargetFromTriple(target->triple, &t, error))
        return NULL;
    return LLVMCreateTargetMachine(t, target->triple, target->cpu, target->features,
                                   LLVMCodeGenLevelAggressive, LLVMRelocPIC, LLVMCodeModelSmall);
}

static void chunk_fail(chunk *k, int code, const char *what, const char *detail)
{
    k->error = alk_fail(&k->diag, code, 0, ALK_NO_FUNCTION, ": %s%s%.120s", what,
                        detail ? ": " : "", detail ? detail : "");
}

/* Runs an LLVM pass pipeline over the chunk's module (the SLP vectorizer always off:
 * initialise_llvm says why); false, with the chunk failed, if LLVM refused it. */
static bool run_passes(chunk *k, LLVMModuleRef module, const char *passes,
                       LLVMTargetMachineRef machine)
{
    LLVMPassBuilderOptionsRef options = LLVMCreatePassBuilderOptions();
    LLVMPassBuilderOptionsSetSLPVectorization(options, 0);
    LLVMErrorRef failed = LLVMRunPasses(module, passes, machine, options);
    LLVMDisposePassBuilderOptions(options);
    if (!failed)
        return true;
    char *text = LLVMGetErrorMessage(failed);
    chunk_fail(k, ALK_E_INTERNAL, "LLVM passes", text);
    LLVMDisposeErrorMessage(text);
    return false;
}

static void compile_chunk(chunk *k)
{
    const opt_target *target = k->target;
    char *message = NULL;
    LLVMTargetMachineRef machine = target_machine(target, &message);
    if (!machine) {
        chunk_fail(k, ALK_E_INTERNAL, "no LLVM target", message);
        LLVMDisposeMessage(message);
        return;
    }
    const alk_module *w = k->module;
    uint32_t defined = w->function_count - w->imported_function_count;
    opt_module m = { .wasm = w, .options = k->options, .layout = k->layout, .target = target };
    m.context = LLVMContextCreate();
    m.module = LLVMModuleCreateWithNameInContext("chunk", m.context);
    LLVMSetTarget(m.module, target->triple);
    LLVMTargetDataRef data = LLVMCreateTargetDataLayout(machine);
    LLVMSetModuleDataLayout(m.module, data);
    m.builder = LLVMCreateBuilderInContext(m.context);
    m.entry_builder = LLVMCreateBuilderInContext(m.context);
    m.functions = calloc(defined ? defined : 1, sizeof *m.functions);
    m.adapters = calloc(defined ? defined : 1, sizeof *m.adapters);
    m.internal_types = calloc(w->type_count ? w->type_count : 1, sizeof *m.internal_types);
    m.foreign_types = calloc(w->type_count ? w->type_count : 1, sizeof *m.foreign_types);
    if (!m.functions || !m.adapters || !m.internal_types || !m.foreign_types) {
        chunk_fail(k, ALK_E_OUT_OF_MEMORY, "", NULL);
        goto done;
    }
    set_up_module(&m);
    for (uint32_t i = k->first; i < k->end && !m.error; i++)
        opt_compile_function(&m, w->imported_function_count + i);
    if (m.error) {
        k->error = m.error;
        k->diag = m.diag;
        goto done;
    }
    if (LLVMVerifyModule(m.module, LLVMReturnStatusAction, &message)) {
        chunk_fail(k, ALK_E_INTERNAL, "invalid IR", message);
        LLVMDisposeMessage(message);
        goto done;
    }
    LLVMDisposeMessage(message);
    const char *passes = getenv("ALKAHEST_OPT_PASSES");
    if (!run_passes(k, m.module, passes && *passes ? passes : PASSES, machine))
        goto done;
    if (opt_check_inlined(&m)) {
        k->error = m.error;
        k->diag = m.diag;
        goto done;
    }
    if (opt_keeps_loads(&m) && opt_keep_finish(&m) &&
        !run_passes(k, m.module, "function(adce)", machine))
        goto done;
    if (getenv("ALKAHEST_OPT_DUMP_IR"))
        LLVMDumpModule(m.module);
    LLVMMemoryBufferRef buffer = NULL;
    if (LLVMTargetMachineEmitToMemoryBuffer(machine, m.module, LLVMObjectFile, &message, &buffer)) {
        chunk_fail(k, ALK_E_INTERNAL, "LLVM code generation", message);
        LLVMDisposeMessage(message);
        goto done;
    }
    k->elf_size = LLVMGetBufferSize(buffer);
    k->elf = malloc(k->elf_size ? k->elf_size : 1);
    if (k->elf)
        memcpy(k->elf, LLVMGetBufferStart(buffer), k->elf_size);
    else
        chunk_fail(k, ALK_E_OUT_OF_MEMORY, "", NULL);
    LLVMDisposeMemoryBuffer(buffer);
done:
    free(m.functions);
    free(m.adapters);
    free(m.internal_types);
    free(m.foreign_types);
    LLVMDisposeBuilder(m.builder);
    LLVMDisposeBuilder(m.entry_builder);
    LLVMDisposeModule(m.module);
    LLVMDisposeTargetData(data);
    LLVMContextDispose(m.context);
    LLVMDisposeTargetMachine(machine);
}

typedef struct work {
    chunk *chunks;
    unsigned count;
    unsigned next;                  /* taken with __atomic_fetch_add */
} work;

/* A worker: takes the next chunk until none is left. */
static void worker(void *argument)
{
    work *w = argument;
    for (;;) {
        unsigned i = __atomic_fetch_add(&w->next, 1, __ATOMIC_RELAXED);
        if (i >= w->count)
            return;
        compile_chunk(&w->chunks[i]);
    }
}

int alk_llvm_compile(const alk_module *module, const alk_compile_options *options,
                     alk_compiled *out, alk_diag *diag)
{
    alk_target id = options->target;
    if (id == ALK_TARGET_HOST)
#if defined(__aarch64__)
        id = ALK_TARGET_AARCH64;
#else
        id = ALK_TARGET_X86_64;
#endif
    const opt_target *target = id == ALK_TARGET_X86_64 ? &opt_x86_64
                             : id == ALK_TARGET_AARCH64 ? &opt_aarch64 : NULL;
    if (!target)
        return alk_fail(diag, ALK_E_UNSUPPORTED_TARGET, 0, ALK_NO_FUNCTION,
                        ": the optimizing tier compiles for x86_64 and aarch64");
    pthread_once(&llvm_once, initialise_llvm);
    uint32_t defined = module->function_count - module->imported_function_count;
    /* chunks by Wasm size, in index order */
    unsigned capacity = 1;
    for (uint32_t i = 0, bytes = 0; i < defined; i++) {
        const alk_function *fn = &module->functions[module->imported_function_count + i];
        bytes += fn->body_end - fn->body_offset;
        if (bytes >= CHUNK_BYTES) {
            capacity++;
            bytes = 0;
        }
    }
    chunk *chunks = calloc(capacity, sizeof *chunks);
    if (!chunks)
        return alk_fail(diag, ALK_E_OUT_OF_MEMORY, 0, ALK_NO_FUNCTION, "");
    unsigned count = 0;
    uint32_t first = 0, bytes = 0;
    for (uint32_t i = 0; i < defined; i++) {
        const alk_function *fn = &module->functions[module->imported_function_count + i];
        bytes += fn->body_end - fn->body_offset;
        if (bytes >= CHUNK_BYTES || i + 1 == defined) {
            chunks[count++] = (chunk){ .first = first, .end = i + 1 };
            first = i + 1;
            bytes = 0;
        }
    }
    for (unsigned c = 0; c < count; c++) {
        chunks[c].target = target;
        chunks[c].module = module;
        chunks[c].options = options;
        chunks[c].layout = &out->layout;
    }
    work w = { chunks, count, 0 };
    unsigned workers = options->run_parallel && options->parallelism > 1 ? options->parallelism : 1;
    if (workers > count)
        workers = count ? count : 1;
    if (workers > 1) {
        void *arguments[16];
        if (workers > 16)
            workers = 16;
        for (unsigned i = 0; i < workers; i++)
            arguments[i] = &w;
        options->run_parallel(options->parallel_user, worker, arguments, workers);
    } else {
        worker(&w);
    }
    int error = 0;
    for (unsigned c = 0; c < count && !error; c++) {
        if (chunks[c].error) {
            error = chunks[c].error;
            *diag = chunks[c].diag;
        }
    }
    if (!error) {
        opt_chunk_object *objects = calloc(count ? count : 1, sizeof *objects);
        if (!objects) {
            error = alk_fail(diag, ALK_E_OUT_OF_MEMORY, 0, ALK_NO_FUNCTION, "");
        } else {
            for (unsigned c = 0; c < count; c++)
                objects[c] = (opt_chunk_object){ chunks[c].first, chunks[c].end, chunks[c].elf,
                                                 chunks[c].elf_size };
            error = opt_link(target, module, objects, count, out, diag);
            free(objects);
        }
    }
    for (unsigned c = 0; c < count; c++)
        free(chunks[c].elf);
    free(chunks);
    return error;
}
