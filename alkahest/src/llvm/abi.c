/*
 * Where the instance ABI (docs/abi.md) asks more than LLVM's C convention gives: functions with
 * several results. The first result travels in rax/xmm0, the others in a return area that the
 * caller reserves just above its stack arguments, 8 bytes per result (16 for a v128).
 *
 *  - A function of this tier with several results returns a struct internally (direct calls
 *    between this tier's functions); its ABI entry is an adapter that calls it and spreads the
 *    struct: result 0 returned, the others stored at rbp + 16 + (stack argument bytes).
 *  - A call through a function reference with several results goes through link.c's helper
 *    stub, which copies a buffer laid out here into the registers and the stack, calls, and
 *    copies rax, xmm0 and the return area back:
 *
 *        words 0..4     rsi rdx rcx r8 r9
 *        words 5..20    xmm0..xmm7, 16 bytes each
 *        word 21        bytes of stack arguments (a multiple of 16)
 *        word 22        bytes of the return area (a multiple of 8)
 *        word 23        rax (out)
 *        words 24..25   xmm0 (out)
 *        word 26...     the stack arguments, then the return area (in and out)
 *
 * x86-64 System V: integers and references in the five argument registers after rdi, floats
 * and v128 in xmm0..xmm7, the rest on the stack in order, 8 bytes each, a v128 16-aligned.
 *
 * AArch64 (AAPCS64) the same with seven integer registers after x0 (x1..x7) and v0..v7: so the
 * buffer's words are one more integer register's worth of bytes apart from there on
 * (buffer_layout), and the adapter finds its caller's stack arguments at the stack pointer it
 * was entered with (llvm.sponentry: AArch64's frame record does not sit right below them).
 */
#include <stdlib.h>

#include "llvm_tier.h"

/* The helper's buffer: offsets for a target with `gprs` integer argument registers after the
 * vmctx's. x86-64 (5): 40, 168, 176, 184, 192, 208; AArch64 (7): 56, 184, 192, 200, 208, 224
 * (link.c's stubs use these numbers). */
typedef struct buffer_layout {
    uint32_t vectors, stack_bytes, area_bytes, gpr_out, vector_out, stack;
} buffer_layout;

static buffer_layout layout_for(const opt_target *target)
{
    uint32_t vectors = 8 * target->argument_gprs;
    return (buffer_layout){ vectors, vectors + 128, vectors + 136, vectors + 144, vectors + 152,
                            vectors + 168 };
}

typedef struct placement {
    int32_t gpr;      /* argument register index, or -1 */
    int32_t xmm;
    uint32_t stack;   /* offset in the stack arguments when neither */
} placement;

static bool is_vector_class(alk_valtype t)
{
    return t == ALK_F32 || t == ALK_F64 || t == ALK_V128;
}

/* Places each parameter; returns the bytes of stack arguments, a multiple of 16. */
static uint32_t place_parameters(const alk_functype *t, uint32_t gpr_count, placement *out)
{
    uint32_t gprs = 0, xmms = 0, stack = 0;
    for (uint32_t i = 0; i < t->param_count; i++) {
        alk_valtype p = t->params[i];
        out[i] = (placement){ -1, -1, 0 };
        if (is_vector_class(p) && xmms < 8) {
            out[i].xmm = (int32_t)xmms++;
        } else if (!is_vector_class(p) && gprs < gpr_count) {
            out[i].gpr = (int32_t)gprs++;
        } else {
            if (p == ALK_V128)
                stack = (stack + 15) & ~15u;
            out[i].stack = stack;
            stack += p == ALK_V128 ? 16 : 8;
        }
    }
    return (stack + 15) & ~15u;
}

/* Offsets of results 1.. in the return area; returns its size. */
static uint32_t place_results(const alk_functype *t, uint32_t *offsets)
{
    uint32_t at = 0;
    for (uint32_t i = 1; i < t->result_count; i++) {
        offsets[i] = at;
        at += t->results[i] == ALK_V128 ? 16 : 8;
    }
    return at;
}

/* The area starts right after the stack arguments as the callee sees them: their bytes before
 * the final rounding to 16 are what the caller laid out, so a callee finds result 1 right
 * after its last stack argument. */
static uint32_t stack_argument_end(const alk_functype *t, const placement *p)
{
    uint32_t end = 0;
    for (uint32_t i = 0; i < t->param_count; i++)
        if (p[i].gpr < 0 && p[i].xmm < 0)
            end = p[i].stack + (t->params[i] == ALK_V128 ? 16 : 8);
    return end;
}

void opt_build_adapter(opt_module *m, uint32_t defined)
{
    const alk_module *w = m->wasm;
    uint32_t index = w->imported_function_count + defined;
    const alk_functype *t = &w->types[w->functions[index].type_index];
    placement *p = malloc((t->param_count + 1) * sizeof *p);
    uint32_t *offsets = malloc(t->result_count * sizeof *offsets);
    LLVMValueRef *args = malloc((t->param_count + 1) * sizeof *args);
    LLVMTypeRef *params = malloc((t->param_count + 1) * sizeof *params);
    if (!p || !offsets || !args || !params) {
        m->error = alk_fail(&m->diag, ALK_E_OUT_OF_MEMORY, 0, index, "");
        goto done;
    }
    place_parameters(t, m->target->argument_gprs, p);
    place_results(t, offsets);
    uint32_t area = stack_argument_end(t, p);

    char name[24];
    alk_snprintf(name, sizeof name, "x%u", defined);
    params[0] = m->ptr;
    for (uint32_t i = 0; i < t->param_count; i++)
        params[i + 1] = opt_type(m, t->params[i]);
    LLVMTypeRef type = LLVMFunctionType(opt_type(m, t->results[0]), params, t->param_count + 1,
                                        false);
    LLVMValueRef adapter = LLVMAddFunction(m->module, name, type);
    LLVMValueRef internal = opt_function_value(m, defined);
    /* the same attributes as every function of the tier */
    unsigned count = LLVMGetAttributeCountAtIndex(internal, LLVMAttributeFunctionIndex);
    LLVMAttributeRef *attributes = malloc((count ? count : 1) * sizeof *attributes);
    if (!attributes) {
        m->error = alk_fail(&m->diag, ALK_E_OUT_OF_MEMORY, 0, index, "");
        goto done;
    }
    LLVMGetAttributesAtIndex(internal, LLVMAttributeFunctionIndex, attributes);
    for (unsigned i = 0; i < count; i++)
        LLVMAddAttributeAtIndex(adapter, LLVMAttributeFunctionIndex, attributes[i]);
    free(attributes);
    LLVMSetFunctionCallConv(adapter, m->target->calling_convention);
    LLVMSetVisibility(adapter, LLVMHiddenVisibility);
    alk_snprintf(name, sizeof name, ".text.x%u", defined);
    LLVMSetSection(adapter, name);
    m->adapters[defined] = adapter;

    opt_function state = { .m = m, .wasm = w, .index = index, .type = t, .function = adapter,
                           .foreign_calls = false };
    opt_function *f = &state;
    LLVMBuilderRef b = m->builder;
    LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(m->context, adapter, "entry"));
    opt_read_registers(f);
    args[0] = LLVMGetPoison(m->ptr);
    for (uint32_t i = 0; i < t->param_count; i++)
        args[i + 1] = LLVMGetParam(adapter, i + 1);
    LLVMValueRef result = LLVMBuildCall2(b, opt_internal_type(m, w->functions[index].type_index),
                                         internal, args, t->param_count + 1, "");
    LLVMSetInstructionCallConv(result, m->target->calling_convention);
    LLVMValueRef arguments;
    if (m->target->id == ALK_TARGET_AARCH64) {
        /* sp at entry: the first stack argument */
        arguments = opt_intrinsic(f, "llvm.sponentry", &m->ptr, 1, NULL, 0);
    } else {
        /* [rbp] saved rbp, [rbp+8] return address, [rbp+16] the first stack argument */
        LLVMValueRef zero = opt_const_i32(m, 0);
        LLVMTypeRef overload = m->ptr;
        LLVMValueRef frame = opt_intrinsic(f, "llvm.frameaddress", &overload, 1, &zero, 1);
        arguments = opt_offset(f, frame, 16);
    }
    for (uint32_t i = 1; i < t->result_count; i++)
        opt_store(f, LLVMBuildExtractValue(b, result, i, ""),
                  opt_offset(f, arguments, area + offsets[i]), TBAA_CONTEXT);
    LLVMBuildRet(b, LLVMBuildExtractValue(b, result, 0, ""));
done:
    free(p);
    free(offsets);
    free(args);
    free(params);
}

/* args[0] is the callee's vmctx, args[1..] the Wasm arguments (i32 already zero-extended). */
void opt_call_multi(opt_function *f, const alk_functype *t, LLVMValueRef code, LLVMValueRef *args)
{
    opt_module *m = f->m;
    LLVMBuilderRef b = m->builder;
    placement *p = malloc((t->param_count + 1) * sizeof *p);
    uint32_t *offsets = malloc(t->result_count * sizeof *offsets);
    if (!p || !offsets) {
        free(p);
        free(offsets);
        opt_fail(f, ALK_E_OUT_OF_MEMORY, "");
        return;
    }
    buffer_layout L = layout_for(m->target);
    uint32_t stack = place_parameters(t, m->target->argument_gprs, p);
    uint32_t area_start = stack_argument_end(t, p);
    uint32_t area = place_results(t, offsets);
    /* the helper copies stack + area bytes: keep the area where the callee expects it */
    uint32_t copied = area_start + area;
    stack = copied > stack ? (copied + 15) & ~15u : stack;
    uint32_t size = L.stack + stack + 16;
    /* the buffer lives in the entry block's frame: LLVM sizes the frame, the probe checks it */
    LLVMBuilderRef eb = m->entry_builder;
    LLVMBasicBlockRef entry = LLVMGetEntryBasicBlock(f->function);
    LLVMPositionBuilderBefore(eb, LLVMGetFirstInstruction(entry));
    LLVMValueRef buffer = LLVMBuildArrayAlloca(eb, m->i8, opt_const_i32(m, size), "");
    LLVMSetAlignment(buffer, 16);
    for (uint32_t i = 0; i < t->param_count; i++) {
        uint32_t at = p[i].gpr >= 0 ? 8u * (uint32_t)p[i].gpr
                      : p[i].xmm >= 0 ? L.vectors + 16u * (uint32_t)p[i].xmm
                                      : L.stack + p[i].stack;
        opt_store(f, args[i + 1], opt_offset(f, buffer, at), TBAA_CONTEXT);
    }
    opt_store(f, opt_const_i64(m, stack), opt_offset(f, buffer, L.stack_bytes), TBAA_CONTEXT);
    opt_store(f, opt_const_i64(m, 0), opt_offset(f, buffer, L.area_bytes), TBAA_CONTEXT);
    if (!m->multi_call) {
        LLVMTypeRef params[3] = { m->ptr, m->ptr, m->ptr };
        LLVMTypeRef type = LLVMFunctionType(m->void_type, params, 3, false);
        m->multi_call = LLVMAddFunction(m->module, MULTI_CALL_SYMBOL, type);
        LLVMSetVisibility(m->multi_call, LLVMHiddenVisibility);
    }
    LLVMValueRef call_args[3] = { code, args[0], buffer };
    LLVMBuildCall2(b, LLVMGlobalGetValueType(m->multi_call), m->multi_call, call_args, 3, "");
    opt_restore_registers(f);
    for (uint32_t i = 0; i < t->result_count; i++) {
        alk_valtype r = t->results[i];
        uint32_t at = i > 0 ? L.stack + area_start + offsets[i]
                    : is_vector_class(r) ? L.vector_out : L.gpr_out;
        opt_push(f, opt_load(f, opt_type(m, r), opt_offset(f, buffer, at), TBAA_CONTEXT, false));
    }
    free(p);
    free(offsets);
}
