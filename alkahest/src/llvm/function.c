/*
 * One Wasm function to LLVM IR: the entry (registers, locals, the stack check), control flow,
 * variables and calls; the other instructions go to numeric.c, memory.c and simd.c.
 *
 * Locals are allocas that LLVM's mem2reg turns into SSA values. The operand stack holds LLVM
 * values. Each block's end is a basic block whose phis take the results from every branch to
 * it; a loop's header has phis for its parameters. Dead code (after br, return, unreachable)
 * is skipped up to the end of its block.
 */
#include <stdlib.h>
#include <string.h>

#include "llvm_tier.h"

void opt_fail(opt_function *f, int code, const char *detail)
{
    if (!f->m->error)
        f->m->error = alk_fail(&f->m->diag, code, f->offset, f->index, *detail ? ": %s" : "",
                               detail);
}

/* ---- Types -------------------------------------------------------------------------------- */

LLVMTypeRef opt_type(opt_module *m, alk_valtype type)
{
    switch (type) {
    case ALK_I32: return m->i32;
    case ALK_I64: return m->i64;
    case ALK_F32: return m->f32;
    case ALK_F64: return m->f64;
    case ALK_V128: return m->v128;
    default: return m->ptr;          /* funcref, externref */
    }
}

static LLVMTypeRef result_type(opt_module *m, const alk_functype *t)
{
    if (t->result_count == 0)
        return m->void_type;
    if (t->result_count == 1)
        return opt_type(m, t->results[0]);
    LLVMTypeRef *fields = malloc(t->result_count * sizeof *fields);
    if (!fields)
        return NULL;
    for (uint32_t i = 0; i < t->result_count; i++)
        fields[i] = opt_type(m, t->results[i]);
    LLVMTypeRef s = LLVMStructTypeInContext(m->context, fields, t->result_count, false);
    free(fields);
    return s;
}

/* (vmctx, params...) -> results: direct calls between this tier's functions. i32 parameters
 * are i32 (the convention leaves their upper bits alone); several results come back as a
 * struct, in registers or through a hidden pointer, as LLVM's C convention does it. */
LLVMTypeRef opt_internal_type(opt_module *m, uint32_t type_index)
{
    if (m->internal_types[type_index])
        return m->internal_types[type_index];
    const alk_functype *t = &m->wasm->types[type_index];
    LLVMTypeRef *params = malloc((t->param_count + 1) * sizeof *params);
    if (!params)
        return NULL;
    params[0] = m->ptr;
    for (uint32_t i = 0; i < t->param_count; i++)
        params[i + 1] = opt_type(m, t->params[i]);
    LLVMTypeRef type = LLVMFunctionType(result_type(m, t), params, t->param_count + 1, false);
    free(params);
    return m->internal_types[type_index] = type;
}

/* The instance ABI's view (docs/abi.md) for calls through a function reference, whose callee
 * may be the single pass's code: i32 arguments zero-extended to 64 bits. One result at most
 * (more go through the multi-result helper). */
LLVMTypeRef opt_foreign_type(opt_module *m, uint32_t type_index)
{
    if (m->foreign_types[type_index])
        return m->foreign_types[type_index];
    const alk_functype *t = &m->wasm->types[type_index];
    LLVMTypeRef *params = malloc((t->param_count + 1) * sizeof *params);
    if (!params)
        return NULL;
    params[0] = m->ptr;
    for (uint32_t i = 0; i < t->param_count; i++)
        params[i + 1] = t->params[i] == ALK_I32 ? m->i64 : opt_type(m, t->params[i]);
    LLVMTypeRef ret = t->result_count == 1 ? opt_type(m, t->results[0]) : m->void_type;
    LLVMTypeRef type = LLVMFunctionType(ret, params, t->param_count + 1, false);
    free(params);
    return m->foreign_types[type_index] = type;
}

static void add_string_attribute(opt_module *m, LLVMValueRef function, const char *key,
                                 const char *value)
{
    LLVMAttributeRef a = LLVMCreateStringAttribute(m->context, key, (unsigned)strlen(key), value,
                                                   (unsigned)strlen(value));
    LLVMAddAttributeAtIndex(function, LLVMAttributeFunctionIndex, a);
}

static void add_enum_attribute(opt_module *m, LLVMValueRef function, unsigned index,
                               const char *name)
{
    unsigned kind = LLVMGetEnumAttributeKindForName(name, strlen(name));
    LLVMAddAttributeAtIndex(function, index, LLVMCreateEnumAttribute(m->context, kind, 0));
}

/* Every function of this tier: its frame chain kept (backtraces walk rbp), no red zone (the
 * kernel takes interrupts on the module's stack), the stack probe for large frames, no
 * library calls invented by the optimizer (none could be linked), no unwind tables. */
static void set_function_attributes(opt_module *m, LLVMValueRef function)
{
    LLVMSetFunctionCallConv(function, m->target->calling_convention);
    add_string_attribute(m, function, "frame-pointer", "all");
    if (m->target->probe_call) {
        add_string_attribute(m, function, "probe-stack", PROBE_SYMBOL);
        char size[16];
        alk_snprintf(size, sizeof size, "%u", STACK_PROBE_SIZE);
        add_string_attribute(m, function, "stack-probe-size", size);
    }
    add_string_attribute(m, function, "no-builtins", "");
    add_string_attribute(m, function, "disable-tail-calls", "true");
    add_string_attribute(m, function, "target-cpu", m->target->cpu);
    if (*m->target->features)
        add_string_attribute(m, function, "target-features", m->target->features);
    /* Guard mode: not while the optimizer runs, so that the calls marking where an access may
     * fault stay calls that may unwind (InstCombine marks every call in a nounwind function
     * nounwind); opt_keep_finish adds it (memory.c) */
    if (!opt_keeps_loads(m))
        opt_add_nounwind(m, function);
    add_enum_attribute(m, function, LLVMAttributeFunctionIndex, "noredzone");
}

/* nounwind: no unwind tables (nothing unwinds through the module's code but the trap
 * handler, which walks frame pointers) */
void opt_add_nounwind(opt_module *m, LLVMValueRef function)
{
    add_enum_attribute(m, function, LLVMAttributeFunctionIndex, "nounwind");
}

static void function_name(char *buf, size_t size, char prefix, uint32_t defined)
{
    alk_snprintf(buf, size, "%c%u", prefix, defined);
}

/* The LLVM function of defined function `defined`, declared when first needed (it may live in
 * another chunk: link.c resolves the call). */
LLVMValueRef opt_function_value(opt_module *m, uint32_t defined)
{
    if (m->functions[defined])
        return m->functions[defined];
    const alk_function *fn = &m->wasm->functions[m->wasm->imported_function_count + defined];
    char name[24];
    function_name(name, sizeof name, 'w', defined);
    LLVMValueRef function = LLVMAddFunction(m->module, name, opt_internal_type(m, fn->type_index));
    set_function_attributes(m, function);
    LLVMSetVisibility(function, LLVMHiddenVisibility);   /* so dso_local: calls are direct */
    return m->functions[defined] = function;
}

/* ---- Small helpers -------------------------------------------------------------------------- */

LLVMValueRef opt_const_i32(opt_module *m, uint32_t value)
{
    return LLVMConstInt(m->i32, value, false);
}

LLVMValueRef opt_const_i64(opt_module *m, uint64_t value)
{
    return LLVMConstInt(m->i64, value, false);
}

LLVMValueRef opt_offset(opt_function *f, LLVMValueRef base, uint64_t offset)
{
    if (offset == 0)
        return base;
    LLVMValueRef index = opt_const_i64(f->m, offset);
    return LLVMBuildGEP2(f->m->builder, f->m->i8, base, &index, 1, "");
}

static void set_tbaa(opt_module *m, LLVMValueRef access, int tbaa)
{
    LLVMSetMetadata(access, m->tbaa_kind, m->tbaa[tbaa]);
}

LLVMValueRef opt_load(opt_function *f, LLVMTypeRef type, LLVMValueRef pointer, int tbaa,
                      bool invariant)
{
    LLVMValueRef load = LLVMBuildLoad2(f->m->builder, type, pointer, "");
    LLVMSetAlignment(load, 1);
    set_tbaa(f->m, load, tbaa);
    if (invariant)
        LLVMSetMetadata(load, f->m->invariant_kind, LLVMMDNodeInContext(f->m->context, NULL, 0));
    return load;
}

void opt_store(opt_function *f, LLVMValueRef value, LLVMValueRef pointer, int tbaa)
{
    LLVMValueRef store = LLVMBuildStore(f->m->builder, value, pointer);
    LLVMSetAlignment(store, 1);
    set_tbaa(f->m, store, tbaa);
}

LLVMValueRef opt_intrinsic(opt_function *f, const char *name, LLVMTypeRef *overloads,
                           unsigned overload_count, LLVMValueRef *args, unsigned arg_count)
{
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    LLVMValueRef fn = LLVMGetIntrinsicDeclaration(f->m->module, id, overloads, overload_count);
    LLVMTypeRef type = LLVMIntrinsicGetType(f->m->context, id, overloads, overload_count);
    return LLVMBuildCall2(f->m->builder, type, fn, args, arg_count, "");
}

static LLVMValueRef read_register(opt_function *f, LLVMValueRef name)
{
    LLVMValueRef arg = LLVMMetadataAsValue(f->m->context, LLVMValueAsMetadata(name));
    LLVMTypeRef overload = f->m->i64;
    return opt_intrinsic(f, "llvm.read_register", &overload, 1, &arg, 1);
}

/* A register's value as LLVM cannot tie to the register: LLVM holds that a call preserves r14
 * and r15 (the C convention says so) and would read them again after a foreign call, which does
 * not; so a function that makes such calls takes its copies this way at entry. */
static LLVMValueRef copy_register(opt_function *f, const char *code)
{
    opt_module *m = f->m;
    LLVMTypeRef type = LLVMFunctionType(m->i64, NULL, 0, false);
    LLVMValueRef asm_value = LLVMGetInlineAsm(type, (char *)code, strlen(code), "=r", 2, true,
                                              false, LLVMInlineAsmDialectATT, false);
    return LLVMBuildCall2(m->builder, type, asm_value, NULL, 0, "");
}

/* After a call that may have entered another instance (which sets r15/r14 for itself and
 * leaves them so, docs/abi.md): this function's own again, at once. An inline asm, not
 * llvm.write_register: LLVM takes the C convention's word that a call preserves r14/r15 (and
 * would drop the write as a no-op), and would schedule a write_register after later loads; the
 * asm declares both registers and all memory clobbered, so nothing that reads memory (nothing
 * that may fault) comes between the call and it. */
void opt_restore_registers(opt_function *f)
{
    opt_module *m = f->m;
    const char *code = m->target->restore, *constraints = m->target->restore_constraints;
    LLVMTypeRef type = LLVMFunctionType(m->void_type, &m->i64, 1, false);
    LLVMValueRef restore = LLVMGetInlineAsm(type, (char *)code, strlen(code),
                                            (char *)constraints, strlen(constraints), true,
                                            false, LLVMInlineAsmDialectATT, false);
    LLVMBuildCall2(m->builder, type, restore, &f->vmctx_bits, 1, "");
}

/* ---- The operand stack ------------------------------------------------------------------------ */

void opt_push(opt_function *f, LLVMValueRef value)
{
    if (f->height == f->stack_capacity) {
        uint32_t capacity = f->stack_capacity ? 2 * f->stack_capacity : 64;
        LLVMValueRef *fresh = realloc(f->stack, capacity * sizeof *fresh);
        if (!fresh) {
            opt_fail(f, ALK_E_OUT_OF_MEMORY, "");
            return;
        }
        f->stack = fresh;
        f->stack_capacity = capacity;
    }
    f->stack[f->height++] = value;
}

LLVMValueRef opt_pop(opt_function *f)
{
    if (f->height == 0) {
        opt_fail(f, ALK_E_INTERNAL, "operand stack underflow");
        return LLVMGetUndef(f->m->i32);
    }
    return f->stack[--f->height];
}

LLVMValueRef opt_top(opt_function *f, uint32_t depth)
{
    return f->stack[f->height - 1 - depth];
}

/* ---- Traps ------------------------------------------------------------------------------------- */

/* The function's block that calls the trap handler with `code`: the handler's caller is this
 * function's frame (rbp) and its return address lies in this function, as docs/abi.md asks. */
static LLVMBasicBlockRef trap_block(opt_function *f, uint32_t code)
{
    if (f->traps[code])
        return f->traps[code];
    opt_module *m = f->m;
    LLVMBasicBlockRef here = LLVMGetInsertBlock(m->builder);
    LLVMBasicBlockRef block = LLVMAppendBasicBlockInContext(m->context, f->function, "trap");
    LLVMPositionBuilderAtEnd(m->builder, block);
    LLVMValueRef handler = opt_load(f, m->ptr, opt_offset(f, f->vmctx, ALK_VMCTX_TRAP_HANDLER),
                                    TBAA_CONTEXT, true);
    /* guard mode: the loads before the trap happen before it (keep_loaded in memory.c) */
    opt_consume_keep(f);
    LLVMTypeRef params[2] = { m->ptr, m->i32 };
    LLVMValueRef args[2] = { f->vmctx, opt_const_i32(m, code) };
    LLVMTypeRef type = LLVMFunctionType(m->void_type, params, 2, false);
    LLVMValueRef call = LLVMBuildCall2(m->builder, type, handler, args, 2, "");
    unsigned noreturn = LLVMGetEnumAttributeKindForName("noreturn", 8);
    unsigned cold = LLVMGetEnumAttributeKindForName("cold", 4);
    LLVMAddCallSiteAttribute(call, LLVMAttributeFunctionIndex,
                             LLVMCreateEnumAttribute(m->context, noreturn, 0));
    LLVMAddCallSiteAttribute(call, LLVMAttributeFunctionIndex,
                             LLVMCreateEnumAttribute(m->context, cold, 0));
    LLVMBuildUnreachable(m->builder);
    LLVMPositionBuilderAtEnd(m->builder, here);
    return f->traps[code] = block;
}

void opt_trap_if(opt_function *f, LLVMValueRef condition, uint32_t code)
{
    opt_module *m = f->m;
    LLVMBasicBlockRef trap = trap_block(f, code);
    LLVMBasicBlockRef next = LLVMAppendBasicBlockInContext(m->context, f->function, "");
    LLVMValueRef br = LLVMBuildCondBr(m->builder, condition, trap, next);
    LLVMSetMetadata(br, m->prof_kind, m->cold_weights);
    LLVMPositionBuilderAtEnd(m->builder, next);
}

void opt_trap_now(opt_function *f, uint32_t code)
{
    LLVMBuildBr(f->m->builder, trap_block(f, code));
}

/* ---- Calls ------------------------------------------------------------------------------------- */

LLVMValueRef opt_call_builtin(opt_function *f, int index, LLVMValueRef *args, unsigned count,
                              bool returns_i32)
{
    opt_module *m = f->m;
    LLVMValueRef table = opt_load(f, m->ptr, opt_offset(f, f->vmctx, ALK_VMCTX_BUILTINS),
                                  TBAA_CONTEXT, true);
    LLVMValueRef fn = opt_load(f, m->ptr, opt_offset(f, table, 8u * (unsigned)index),
                               TBAA_CONTEXT, true);
    LLVMTypeRef params[8];
    LLVMValueRef values[8];
    params[0] = m->ptr;
    values[0] = f->vmctx;
    for (unsigned i = 0; i < count; i++) {
        LLVMValueRef v = args[i];
        /* integers zero-extended to 64 bits, as the single pass passes them */
        if (LLVMTypeOf(v) == m->i32)
            v = LLVMBuildZExt(m->builder, v, m->i64, "");
        params[i + 1] = LLVMTypeOf(v);
        values[i + 1] = v;
    }
    LLVMTypeRef type = LLVMFunctionType(returns_i32 ? m->i32 : m->void_type, params, count + 1,
                                        false);
    return LLVMBuildCall2(m->builder, type, fn, values, count + 1, "");
}

/* Pops the arguments of type t into args[1..] (args[0] is left for the vmctx). */
static LLVMValueRef *pop_arguments(opt_function *f, const alk_functype *t)
{
    LLVMValueRef *args = malloc((t->param_count + 1) * sizeof *args);
    if (!args) {
        opt_fail(f, ALK_E_OUT_OF_MEMORY, "");
        return NULL;
    }
    for (uint32_t i = t->param_count; i > 0; i--)
        args[i] = opt_pop(f);
    return args;
}

static void push_results(opt_function *f, const alk_functype *t, LLVMValueRef result)
{
    if (t->result_count == 1) {
        opt_push(f, result);
    } else if (t->result_count > 1) {
        for (uint32_t i = 0; i < t->result_count; i++)
            opt_push(f, LLVMBuildExtractValue(f->m->builder, result, i, ""));
    }
}

/* A call through a function reference `ref` (an import's record or a table entry): the
 * callee's vmctx from the record, i32 arguments zero-extended; this function's registers
 * restored after it. */
static void call_reference(opt_function *f, uint32_t type_index, LLVMValueRef ref, bool invariant)
{
    opt_module *m = f->m;
    const alk_functype *t = &m->wasm->types[type_index];
    LLVMValueRef code = opt_load(f, m->ptr, opt_offset(f, ref, ALK_FUNCREF_CODE), TBAA_TABLE,
                                 invariant);
    LLVMValueRef vmctx = opt_load(f, m->ptr, opt_offset(f, ref, ALK_FUNCREF_VMCTX), TBAA_TABLE,
                                  invariant);
    LLVMValueRef *args = pop_arguments(f, t);
    if (!args)
        return;
    args[0] = vmctx;
    for (uint32_t i = 0; i < t->param_count; i++)
        if (t->params[i] == ALK_I32)
            args[i + 1] = LLVMBuildZExt(m->builder, args[i + 1], m->i64, "");
    LLVMValueRef result;
    if (t->result_count <= 1) {
        result = LLVMBuildCall2(m->builder, opt_foreign_type(m, type_index), code, args,
                                t->param_count + 1, "");
        opt_restore_registers(f);
        if (t->result_count == 1)
            opt_push(f, result);
    } else {
        /* the helper lays out the callee's stack arguments and return area (abi.c) */
        opt_call_multi(f, t, code, args);
    }
    free(args);
}

static void call(opt_function *f, uint32_t function)
{
    opt_module *m = f->m;
    const alk_module *w = m->wasm;
    uint32_t type_index = w->functions[function].type_index;
    if (function < w->imported_function_count) {
        LLVMValueRef ref = opt_offset(f, f->vmctx, alk_layout_function_ref(m->layout, function));
        call_reference(f, type_index, ref, true);
        return;
    }
    const alk_functype *t = &w->types[type_index];
    LLVMValueRef *args = pop_arguments(f, t);
    if (!args)
        return;
    args[0] = LLVMGetPoison(m->ptr);        /* the callee reads r15, not its first argument */
    LLVMValueRef callee = function == f->index && f->self_callee
                              ? f->self_callee
                              : opt_function_value(m, function - w->imported_function_count);
    LLVMValueRef result = LLVMBuildCall2(m->builder, opt_internal_type(m, type_index), callee,
                                         args, t->param_count + 1, "");
    LLVMSetInstructionCallConv(result, m->target->calling_convention);
    push_results(f, t, result);
    free(args);
}

/* call_indirect: the table bound, a null entry, then the signature, each its own trap. */
static void call_indirect(opt_function *f, uint32_t type_index, uint32_t table)
{
    opt_module *m = f->m;
    LLVMBuilderRef b = m->builder;
    LLVMValueRef index = opt_pop(f);
    LLVMValueRef record = opt_load(f, m->ptr,
                                   opt_offset(f, f->vmctx, alk_layout_table(m->layout, table)),
                                   TBAA_CONTEXT, true);
    LLVMValueRef size = opt_load(f, m->i32, opt_offset(f, record, ALK_TABLE_SIZE), TBAA_TABLE,
                                 false);
    opt_trap_if(f, LLVMBuildICmp(b, LLVMIntUGE, index, size, ""), ALK_TRAP_UNDEFINED_ELEMENT);
    LLVMValueRef entries = opt_load(f, m->ptr, opt_offset(f, record, ALK_TABLE_ENTRIES),
                                    TBAA_TABLE, false);
    LLVMValueRef scaled = LLVMBuildShl(b, LLVMBuildZExt(b, index, m->i64, ""),
                                       opt_const_i64(m, 3), "");
    LLVMValueRef slot = LLVMBuildGEP2(b, m->i8, entries, &scaled, 1, "");
    LLVMValueRef ref = opt_load(f, m->ptr, slot, TBAA_TABLE, false);
    opt_trap_if(f, LLVMBuildIsNull(b, ref, ""), ALK_TRAP_UNINITIALIZED_ELEMENT);
    LLVMValueRef id = opt_load(f, m->i32, opt_offset(f, ref, ALK_FUNCREF_TYPE_ID), TBAA_TABLE,
                               false);
    LLVMValueRef want = opt_load(f, m->i32,
                                 opt_offset(f, f->vmctx, alk_layout_type_id(m->layout, type_index)),
                                 TBAA_CONTEXT, true);
    opt_trap_if(f, LLVMBuildICmp(b, LLVMIntNE, id, want, ""), ALK_TRAP_SIGNATURE_MISMATCH);
    call_reference(f, type_index, ref, false);
}

/* ---- Control flow ------------------------------------------------------------------------------ */

static opt_control *control_push(opt_function *f)
{
    if (f->control_count == f->control_capacity) {
        uint32_t capacity = f->control_capacity ? 2 * f->control_capacity : 16;
        opt_control *fresh = realloc(f->controls, capacity * sizeof *fresh);
        if (!fresh) {
            opt_fail(f, ALK_E_OUT_OF_MEMORY, "");
            return NULL;
        }
        f->controls = fresh;
        f->control_capacity = capacity;
    }
    opt_control *c = &f->controls[f->control_count++];
    memset(c, 0, sizeof *c);
    return c;
}

static void control_free(opt_control *c)
{
    free(c->end_phis);
    free(c->header_phis);
    free(c->if_params);
}

/* Phis at the start of `block`, one per type. */
static LLVMValueRef *make_phis(opt_function *f, LLVMBasicBlockRef block, uint32_t count,
                               const alk_valtype *types)
{
    LLVMValueRef *phis = malloc((count ? count : 1) * sizeof *phis);
    if (!phis) {
        opt_fail(f, ALK_E_OUT_OF_MEMORY, "");
        return NULL;
    }
    LLVMBuilderRef b = f->m->entry_builder;
    LLVMValueRef first = LLVMGetFirstInstruction(block);
    if (first)
        LLVMPositionBuilderBefore(b, first);
    else
        LLVMPositionBuilderAtEnd(b, block);
    for (uint32_t i = 0; i < count; i++)
        phis[i] = LLVMBuildPhi(b, opt_type(f->m, types[i]), "");
    return phis;
}

/* Adds the top `count` stack values as incoming values of `phis` from the current block. */
static void add_incoming(opt_function *f, LLVMValueRef *phis, uint32_t count)
{
    LLVMBasicBlockRef from = LLVMGetInsertBlock(f->m->builder);
    for (uint32_t i = 0; i < count; i++) {
        LLVMValueRef v = opt_top(f, count - 1 - i);
        LLVMAddIncoming(phis[i], &v, &from, 1);
    }
}

/* value_types[t] == t: a one-result block's type list (controls move when their array grows,
 * so a block cannot point into itself). */
static const alk_valtype value_types[256] = {
    [ALK_I32] = ALK_I32, [ALK_I64] = ALK_I64, [ALK_F32] = ALK_F32, [ALK_F64] = ALK_F64,
    [ALK_V128] = ALK_V128, [ALK_FUNCREF] = ALK_FUNCREF, [ALK_EXTERNREF] = ALK_EXTERNREF,
};

static void block_signature(opt_function *f, const alk_instr *in, opt_control *c)
{
    c->param_count = c->result_count = 0;
    if (in->imm.block.kind == ALK_BLOCK_VALUE) {
        c->results = &value_types[in->imm.block.value_type];
        c->result_count = 1;
    } else if (in->imm.block.kind == ALK_BLOCK_TYPE) {
        const alk_functype *t = &f->wasm->types[in->imm.block.type_index];
        c->params = t->params;
        c->param_count = t->param_count;
        c->results = t->results;
        c->result_count = t->result_count;
    }
}

/* Marks the rest of the innermost block dead; its values are gone. */
static void set_unreachable(opt_function *f)
{
    opt_control *c = &f->controls[f->control_count - 1];
    c->unreachable = true;
    f->height = c->height;
}

/* The branch target of label `depth`: its block and the phis that take the branch's values. */
static void branch_to(opt_function *f, uint32_t depth)
{
    opt_control *c = &f->controls[f->control_count - 1 - depth];
    if (c->kind == OPT_LOOP) {
        add_incoming(f, c->header_phis, c->param_count);
    } else {
        add_incoming(f, c->end_phis, c->result_count);
        c->end_edges++;
    }
}

static LLVMBasicBlockRef target_block(opt_function *f, uint32_t depth)
{
    opt_control *c = &f->controls[f->control_count - 1 - depth];
    return c->kind == OPT_LOOP ? c->header : c->end;
}

static void begin_block(opt_function *f, const alk_instr *in, opt_control_kind kind)
{
    opt_module *m = f->m;
    opt_control probe;
    block_signature(f, in, &probe);
    LLVMValueRef condition = kind == OPT_IF ? opt_pop(f) : NULL;
    opt_control *c = control_push(f);
    if (!c)
        return;
    *c = probe;
    c->kind = kind;
    c->height = f->height - c->param_count;
    c->end = LLVMAppendBasicBlockInContext(m->context, f->function, "end");
    c->end_phis = make_phis(f, c->end, c->result_count, c->results);
    if (kind == OPT_LOOP) {
        c->header = LLVMAppendBasicBlockInContext(m->context, f->function, "loop");
        c->header_phis = make_phis(f, c->header, c->param_count, c->params);
        add_incoming(f, c->header_phis, c->param_count);
        LLVMBuildBr(m->builder, c->header);
        LLVMPositionBuilderAtEnd(m->builder, c->header);
        f->height = c->height;
        for (uint32_t i = 0; i < c->param_count; i++)
            opt_push(f, c->header_phis[i]);
    } else if (kind == OPT_IF) {
        LLVMBasicBlockRef then = LLVMAppendBasicBlockInContext(m->context, f->function, "then");
        c->else_block = LLVMAppendBasicBlockInContext(m->context, f->function, "else");
        LLVMValueRef truth = LLVMBuildICmp(m->builder, LLVMIntNE, condition, opt_const_i32(m, 0), "");
        LLVMBuildCondBr(m->builder, truth, then, c->else_block);
        c->if_params = malloc((c->param_count ? c->param_count : 1) * sizeof *c->if_params);
        if (!c->if_params) {
            opt_fail(f, ALK_E_OUT_OF_MEMORY, "");
            return;
        }
        for (uint32_t i = 0; i < c->param_count; i++)
            c->if_params[i] = opt_top(f, c->param_count - 1 - i);
        LLVMPositionBuilderAtEnd(m->builder, then);
    }
}

static void else_instr(opt_function *f)
{
    opt_module *m = f->m;
    opt_control *c = &f->controls[f->control_count - 1];
    if (!c->unreachable) {
        branch_to(f, 0);
        LLVMBuildBr(m->builder, c->end);
    }
    c->kind = OPT_ELSE;
    c->unreachable = false;
    f->height = c->height;
    for (uint32_t i = 0; i < c->param_count; i++)
        opt_push(f, c->if_params[i]);
    LLVMPositionBuilderAtEnd(m->builder, c->else_block);
    c->else_block = NULL;
}

static void return_instr(opt_function *f);

static void end_instr(opt_function *f)
{
    opt_module *m = f->m;
    opt_control *c = &f->controls[f->control_count - 1];
    if (c->kind == OPT_IF) {
        /* no else: the false edge carries the parameters through (params == results) */
        LLVMBasicBlockRef here = LLVMGetInsertBlock(m->builder);
        bool live = !c->unreachable;
        LLVMPositionBuilderAtEnd(m->builder, c->else_block);
        for (uint32_t i = 0; i < c->param_count; i++) {
            LLVMValueRef v = c->if_params[i];
            LLVMAddIncoming(c->end_phis[i], &v, &c->else_block, 1);
        }
        c->end_edges++;
        LLVMBuildBr(m->builder, c->end);
        LLVMPositionBuilderAtEnd(m->builder, here);
        c->unreachable = !live;
    }
    if (!c->unreachable) {
        if (c->kind == OPT_LOOP) {
            /* nothing branches to a loop's end: fall through with the values as they are */
            uint32_t results = c->result_count, height = c->height;
            LLVMValueRef *values = malloc((results ? results : 1) * sizeof *values);
            if (!values) {
                opt_fail(f, ALK_E_OUT_OF_MEMORY, "");
                return;
            }
            for (uint32_t i = 0; i < results; i++)
                values[i] = opt_top(f, results - 1 - i);
            LLVMDeleteBasicBlock(c->end);
            control_free(c);
            f->control_count--;
            f->height = height;
            for (uint32_t i = 0; i < results; i++)
                opt_push(f, values[i]);
            free(values);
            return;
        }
        branch_to(f, 0);
        LLVMBuildBr(m->builder, c->end);
    }
    uint32_t height = c->height, results = c->result_count;
    bool reached = c->end_edges > 0;
    opt_control_kind kind = c->kind;
    LLVMBasicBlockRef end = c->end;
    LLVMValueRef *phis = c->end_phis;
    c->end_phis = NULL;
    control_free(c);
    f->control_count--;
    f->height = height;
    if (!reached) {
        LLVMDeleteBasicBlock(end);      /* its phis go with it */
        free(phis);
        if (f->control_count)
            set_unreachable(f);
        return;
    }
    LLVMPositionBuilderAtEnd(m->builder, end);
    for (uint32_t i = 0; i < results; i++)
        opt_push(f, phis[i]);
    free(phis);
    if (kind == OPT_FUNCTION)
        return_instr(f);
}

/* Guard mode: what the function loaded so far is used, so LLVM keeps the loads (memory.c). */
void opt_consume_keep(opt_function *f)
{
    if (!f->keep)
        return;
    LLVMValueRef value = opt_keep_value(f);
    LLVMBuildCall2(f->m->builder, opt_keep_sink_type(f->m), opt_keep_sink(f->m), &value, 1, "");
}

static void return_instr(opt_function *f)
{
    opt_module *m = f->m;
    const alk_functype *t = f->type;
    opt_consume_keep(f);
    if (t->result_count == 0) {
        LLVMBuildRetVoid(m->builder);
    } else if (t->result_count == 1) {
        LLVMBuildRet(m->builder, opt_top(f, 0));
    } else {
        LLVMValueRef *values = malloc(t->result_count * sizeof *values);
        if (!values) {
            opt_fail(f, ALK_E_OUT_OF_MEMORY, "");
            return;
        }
        for (uint32_t i = 0; i < t->result_count; i++)
            values[i] = opt_top(f, t->result_count - 1 - i);
        LLVMBuildAggregateRet(m->builder, values, t->result_count);
        free(values);
    }
    if (f->control_count)
        set_unreachable(f);
}

static void br_table(opt_function *f, const alk_instr *in)
{
    opt_module *m = f->m;
    LLVMValueRef index = opt_pop(f);
    uint32_t count = in->imm.br_table.target_count;
    uint32_t *targets = malloc((count + 1) * sizeof *targets);
    if (!targets) {
        opt_fail(f, ALK_E_OUT_OF_MEMORY, "");
        return;
    }
    alk_reader r = in->imm.br_table.targets;
    for (uint32_t i = 0; i < count; i++)
        alk_read_u32(&r, &targets[i]);
    targets[count] = in->imm.br_table.default_target;
    /* a phi takes one incoming value per edge, repeated targets included */
    for (uint32_t i = 0; i <= count; i++)
        branch_to(f, targets[i]);
    LLVMValueRef sw = LLVMBuildSwitch(m->builder, index, target_block(f, targets[count]), count);
    for (uint32_t i = 0; i < count; i++)
        LLVMAddCase(sw, opt_const_i32(m, i), target_block(f, targets[i]));
    free(targets);
    set_unreachable(f);
}

/* Instructions inside dead code: only the nesting matters, to find where it ends. */
static void dead_instr(opt_function *f, const alk_instr *in)
{
    switch (in->op) {
    case ALK_OP_BLOCK:
    case ALK_OP_LOOP:
    case ALK_OP_IF:
        f->dead_depth++;
        break;
    case ALK_OP_ELSE:
        if (f->dead_depth == 0)
            else_instr(f);
        break;
    case ALK_OP_END:
        if (f->dead_depth > 0)
            f->dead_depth--;
        else
            end_instr(f);
        break;
    default:
        break;
    }
}

static bool control_instr(opt_function *f, const alk_instr *in)
{
    opt_module *m = f->m;
    switch (in->op) {
    case ALK_OP_NOP:
        return true;
    case ALK_OP_UNREACHABLE:
        opt_trap_now(f, ALK_TRAP_UNREACHABLE);
        set_unreachable(f);
        return true;
    case ALK_OP_BLOCK: begin_block(f, in, OPT_BLOCK); return true;
    case ALK_OP_LOOP: begin_block(f, in, OPT_LOOP); return true;
    case ALK_OP_IF: begin_block(f, in, OPT_IF); return true;
    case ALK_OP_ELSE: else_instr(f); return true;
    case ALK_OP_END: end_instr(f); return true;
    case ALK_OP_BR:
        branch_to(f, in->imm.index);
        LLVMBuildBr(m->builder, target_block(f, in->imm.index));
        set_unreachable(f);
        return true;
    case ALK_OP_BR_IF: {
        LLVMValueRef condition = opt_pop(f);
        LLVMValueRef truth = LLVMBuildICmp(m->builder, LLVMIntNE, condition, opt_const_i32(m, 0), "");
        LLVMBasicBlockRef next = LLVMAppendBasicBlockInContext(m->context, f->function, "");
        branch_to(f, in->imm.index);
        LLVMBuildCondBr(m->builder, truth, target_block(f, in->imm.index), next);
        LLVMPositionBuilderAtEnd(m->builder, next);
        return true;
    }
    case ALK_OP_BR_TABLE: br_table(f, in); return true;
    case ALK_OP_RETURN: return_instr(f); return true;
    case ALK_OP_CALL: call(f, in->imm.index); return true;
    case ALK_OP_CALL_INDIRECT:
        call_indirect(f, in->imm.call_indirect.type_index, in->imm.call_indirect.table);
        return true;
    default:
        return false;
    }
}

/* ---- Variables and parametric instructions ----------------------------------------------------- */

static bool variable_instr(opt_function *f, const alk_instr *in)
{
    LLVMBuilderRef b = f->m->builder;
    switch (in->op) {
    case ALK_OP_LOCAL_GET: {
        uint32_t i = in->imm.index;
        opt_push(f, LLVMBuildLoad2(b, opt_type(f->m, f->local_types[i]), f->locals[i], ""));
        return true;
    }
    case ALK_OP_LOCAL_SET:
        LLVMBuildStore(b, opt_pop(f), f->locals[in->imm.index]);
        return true;
    case ALK_OP_LOCAL_TEE:
        LLVMBuildStore(b, opt_top(f, 0), f->locals[in->imm.index]);
        return true;
    case ALK_OP_DROP:
        opt_pop(f);
        return true;
    case ALK_OP_SELECT:
    case ALK_OP_SELECT_T: {
        LLVMValueRef condition = opt_pop(f), second = opt_pop(f), first = opt_pop(f);
        LLVMValueRef truth = LLVMBuildICmp(b, LLVMIntNE, condition, opt_const_i32(f->m, 0), "");
        opt_push(f, LLVMBuildSelect(b, truth, first, second, ""));
        return true;
    }
    default:
        return false;
    }
}

/* ---- The function ------------------------------------------------------------------------------- */

static LLVMValueRef zero_of(opt_module *m, alk_valtype type)
{
    return LLVMConstNull(opt_type(m, type));
}

/* r15/r14 read once. The stack check is not here: it is the internal entry that link.c puts
 * before the code, so that only a real call checks, never code that LLVM inlined
 * (docs/opt-tier.md, "Stack"). */
void opt_read_registers(opt_function *f)
{
    opt_module *m = f->m;
    LLVMBuilderRef b = m->builder;
    if (f->foreign_calls) {
        /* the memory base from the vmctx: memory never moves, so an invariant load */
        f->vmctx_bits = copy_register(f, m->target->copy_vmctx);
        f->vmctx = LLVMBuildIntToPtr(b, f->vmctx_bits, m->ptr, "vmctx");
        f->memory_base = opt_load(f, m->ptr, f->vmctx, TBAA_CONTEXT, true);
        f->memory_bits = LLVMBuildPtrToInt(b, f->memory_base, m->i64, "");
    } else {
        f->vmctx_bits = read_register(f, m->reg_vmctx);
        f->memory_bits = read_register(f, m->reg_memory);
        f->vmctx = LLVMBuildIntToPtr(b, f->vmctx_bits, m->ptr, "vmctx");
        f->memory_base = LLVMBuildIntToPtr(b, f->memory_bits, m->ptr, "memory");
    }
}

/* Entry: the locals (allocas of the entry block, parameters stored, the others zero), then
 * the registers and the stack check. */
static bool begin_function(opt_function *f, const alk_function *fn)
{
    opt_module *m = f->m;
    LLVMBuilderRef b = m->builder;
    LLVMBasicBlockRef entry = LLVMAppendBasicBlockInContext(m->context, f->function, "entry");
    LLVMPositionBuilderAtEnd(b, entry);
    f->local_count = f->type->param_count + fn->local_count;
    f->locals = malloc((f->local_count ? f->local_count : 1) * sizeof *f->locals);
    f->local_types = malloc((f->local_count ? f->local_count : 1) * sizeof *f->local_types);
    if (!f->locals || !f->local_types) {
        opt_fail(f, ALK_E_OUT_OF_MEMORY, "");
        return false;
    }
    for (uint32_t i = 0; i < f->type->param_count; i++)
        f->local_types[i] = f->type->params[i];
    uint32_t local = f->type->param_count;
    for (uint32_t g = 0; g < fn->local_group_count; g++)
        for (uint32_t k = 0; k < fn->local_groups[g].count; k++)
            f->local_types[local++] = fn->local_groups[g].type;
    for (uint32_t i = 0; i < f->local_count; i++) {
        f->locals[i] = LLVMBuildAlloca(b, opt_type(m, f->local_types[i]), "");
        LLVMValueRef init = i < f->type->param_count ? LLVMGetParam(f->function, i + 1)
                                                     : zero_of(m, f->local_types[i]);
        LLVMBuildStore(b, init, f->locals[i]);
    }
    if (opt_keeps_loads(m)) {
        f->keep = LLVMBuildAlloca(b, m->i64, "keep");
        LLVMBuildStore(b, opt_const_i64(m, 0), f->keep);
        f->keep_vector = LLVMBuildAlloca(b, m->v128, "keep_vector");
        LLVMBuildStore(b, LLVMConstNull(m->v128), f->keep_vector);
    }
    opt_read_registers(f);

    opt_control *c = control_push(f);
    if (!c)
        return false;
    c->kind = OPT_FUNCTION;
    c->results = f->type->results;
    c->result_count = f->type->result_count;
    c->end = LLVMAppendBasicBlockInContext(m->context, f->function, "return");
    c->end_phis = make_phis(f, c->end, c->result_count, c->results);
    return c->end_phis != NULL;
}

/* Whether the body calls through a function reference (an import or call_indirect): a call
 * that may enter another instance, after which r15/r14 must be restored. */
static bool makes_foreign_calls(const alk_module *w, const alk_function *fn)
{
    alk_reader reader = { w->bytes, w->bytes + fn->code_offset, w->bytes + fn->body_end };
    while (reader.cursor < reader.end) {
        alk_instr in;
        if (alk_read_instr(&reader, &in, NULL))
            return true;
        if (in.op == ALK_OP_CALL_INDIRECT ||
            (in.op == ALK_OP_CALL && in.imm.index < w->imported_function_count))
            return true;
    }
    return false;
}

/* How many times the body calls itself directly. */
static uint32_t self_calls(const alk_module *w, const alk_function *fn, uint32_t index)
{
    uint32_t count = 0;
    alk_reader reader = { w->bytes, w->bytes + fn->code_offset, w->bytes + fn->body_end };
    while (reader.cursor < reader.end) {
        alk_instr in;
        if (alk_read_instr(&reader, &in, NULL))
            return 0;
        if (in.op == ALK_OP_CALL && in.imm.index == index)
            count++;
    }
    return count;
}

/* Recursive inlining, as gcc does it: a small function that calls itself gets inline copies of
 * its own body, level 1 calling level 2 ... the last calling the function again, each copy
 * internal and alwaysinline; LLVM's inliner folds the chain into the function, which then
 * makes one real call (with its stack check) per RECURSION_LEVELS + 1 levels of the recursion.
 * The levels are as many as keep the copies' Wasm code under RECURSION_BUDGET bytes (a body
 * with k self-calls grows k-fold per level); opt_check_inlined (driver.c) makes sure no copy
 * is left standing, since a copy is entered without a stack check. */
#define RECURSION_LEVELS 10
#define RECURSION_BUDGET 512

static uint32_t recursion_levels(const alk_module *w, const alk_function *fn, uint32_t index)
{
    uint32_t calls = self_calls(w, fn, index);
    uint32_t size = fn->body_end - fn->body_offset;
    uint32_t levels = 0, copies = 1, total = 0;
    if (calls == 0)
        return 0;
    while (levels < RECURSION_LEVELS) {
        copies *= calls;
        total += copies * size;
        if (total > RECURSION_BUDGET)
            break;
        levels++;
    }
    return levels;
}

/* The IR of function `function_index` into `function`; its calls to itself go to
 * `self_callee` (NULL: to itself). */
static int compile_body(opt_module *m, uint32_t function_index, LLVMValueRef function,
                        LLVMValueRef self_callee)
{
    const alk_module *w = m->wasm;
    const alk_function *fn = &w->functions[function_index];
    opt_function state = { .m = m, .wasm = w, .index = function_index,
                           .type = &w->types[fn->type_index], .offset = fn->body_offset,
                           .function = function, .self_callee = self_callee };
    opt_function *f = &state;
    f->foreign_calls = makes_foreign_calls(w, fn);
    if (!begin_function(f, fn))
        goto done;
    alk_reader reader = { w->bytes, w->bytes + fn->code_offset, w->bytes + fn->body_end };
    while (f->control_count > 0 && !m->error) {
        alk_instr in;
        int code = alk_read_instr(&reader, &in, &m->diag);
        if (code) {
            m->error = code;
            break;
        }
        f->offset = in.offset;
        if (f->controls[f->control_count - 1].unreachable) {
            dead_instr(f, &in);
            continue;
        }
        if (variable_instr(f, &in) || opt_memory_instr(f, &in) || opt_numeric_instr(f, &in) ||
            control_instr(f, &in) || opt_simd_instr(f, &in))
            continue;
        opt_fail(f, ALK_E_UNSUPPORTED_INSTRUCTION, alk_opcode_text(in.op));
    }
done:
    for (uint32_t i = 0; i < f->control_count; i++)
        control_free(&f->controls[i]);
    free(f->controls);
    free(f->stack);
    free(f->locals);
    free(f->local_types);
    return m->error;
}

int opt_compile_function(opt_module *m, uint32_t function_index)
{
    const alk_module *w = m->wasm;
    const alk_function *fn = &w->functions[function_index];
    uint32_t defined = function_index - w->imported_function_count;
    LLVMValueRef function = opt_function_value(m, defined);
    char name[32];
    alk_snprintf(name, sizeof name, ".text.w%u", defined);
    LLVMSetSection(function, name);     /* link.c places each function on its own */
    /* the inline copies, last level first: level i calls level i + 1, the last the function */
    uint32_t levels = recursion_levels(w, fn, function_index);
    LLVMValueRef callee = NULL;
    for (uint32_t level = levels; level > 0 && !m->error; level--) {
        alk_snprintf(name, sizeof name, "w%u.%u", defined, level);
        LLVMValueRef copy = LLVMAddFunction(m->module, name, opt_internal_type(m, fn->type_index));
        set_function_attributes(m, copy);
        add_enum_attribute(m, copy, LLVMAttributeFunctionIndex, "alwaysinline");
        LLVMSetLinkage(copy, LLVMInternalLinkage);
        compile_body(m, function_index, copy, callee ? callee : function);
        callee = copy;
    }
    if (!m->error)
        compile_body(m, function_index, function, callee);
    if (!m->error && w->types[fn->type_index].result_count > 1)
        opt_build_adapter(m, defined);
    return m->error;
}

/* After LLVM's pipeline: every inline copy was inlined and deleted (recursion_levels). A copy
 * left standing would be called without a stack check, so it is an internal error. */
int opt_check_inlined(opt_module *m)
{
    for (LLVMValueRef fn = LLVMGetFirstFunction(m->module); fn; fn = LLVMGetNextFunction(fn)) {
        if (LLVMCountBasicBlocks(fn) && LLVMGetLinkage(fn) != LLVMExternalLinkage) {
            size_t length;
            const char *name = LLVMGetValueName2(fn, &length);
            return m->error = alk_fail(&m->diag, ALK_E_INTERNAL, 0, ALK_NO_FUNCTION,
                                       ": the inline copy %.40s was not inlined", name);
        }
    }
    return 0;
}
