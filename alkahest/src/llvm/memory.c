/*
 * Memory accesses, the memory and table instructions, globals and references.
 *
 * An access's address is memory_base (r14) + zext(index) + offset, computed in 64 bits: at
 * most 8 GiB past the base, inside the guard reservation. In checked mode the access's end is
 * compared with vmctx->memory_size first and the branch goes to the trap; LLVM may merge or
 * drop checks that a dominating check implies (the adds are nuw: a 32-bit index plus two
 * 32-bit constants cannot wrap 64 bits). Accesses are `align 1` (Wasm's alignment is a hint)
 * and never `inbounds`, `nonnull` or `dereferenceable`, so LLVM never speculates them
 * (docs/opt-tier.md).
 */
#include <stdlib.h>
#include <string.h>

#include "llvm_tier.h"

#define FAULT_POINT "alkahest.may_fault"

LLVMValueRef opt_address(opt_function *f, LLVMValueRef index, uint32_t offset, uint32_t width)
{
    opt_module *m = f->m;
    LLVMBuilderRef b = m->builder;
    LLVMValueRef wide = LLVMBuildZExt(b, index, m->i64, "");
    LLVMValueRef address = wide;
    if (offset) {
        address = LLVMBuildAdd(b, wide, opt_const_i64(m, offset), "");
        LLVMSetNUW(address, true);
    }
    if (m->options->bounds == ALK_BOUNDS_CHECKED) {
        LLVMValueRef end = LLVMBuildAdd(b, wide, opt_const_i64(m, (uint64_t)offset + width), "");
        LLVMSetNUW(end, true);
        LLVMValueRef size = opt_load(f, m->i64, opt_offset(f, f->vmctx, ALK_VMCTX_MEMORY_SIZE),
                                     TBAA_MEMORY_SIZE, false);
        opt_trap_if(f, LLVMBuildICmp(b, LLVMIntUGT, end, size, ""), ALK_TRAP_MEMORY_OUT_OF_BOUNDS);
    }
    return LLVMBuildGEP2(b, m->i8, f->memory_base, &address, 1, "");
}

/* Guard mode: the load's fault is its bounds check, so the load must happen even when LLVM
 * finds its value unused (it would delete it), or used only in part (it would narrow it), or
 * only on some paths (it would sink it). Every loaded value, all its bits, is added into the
 * function's `keep` locals, which its returns and trap calls consume (docs/opt-tier.md). An
 * add, not a xor: x ^ x folds to 0 and would free two loads of the same address. Integers go
 * into the i64 `keep`; floats and v128 values into the <2 x i64> `keep_vector` (a float in
 * lane 0 of a vector whose other lanes are zero: all its bits, and no move out of its xmm
 * register, which costs more than the add inside a loop). */
static void keep_loaded(opt_function *f, LLVMValueRef v)
{
    opt_module *m = f->m;
    LLVMBuilderRef b = m->builder;
    LLVMTypeRef type = LLVMTypeOf(v);
    if (type == m->v128 || type == m->f32 || type == m->f64) {
        LLVMValueRef lanes = v;
        if (type != m->v128) {
            LLVMTypeRef vector = type == m->f32 ? m->f32x4 : m->f64x2;
            unsigned n = type == m->f32 ? 4 : 2;
            LLVMValueRef one = LLVMBuildInsertElement(b, LLVMGetPoison(vector), v,
                                                      opt_const_i32(m, 0), "");
            LLVMValueRef splat = LLVMBuildShuffleVector(
                b, one, LLVMGetPoison(vector),
                LLVMConstNull(LLVMVectorType(m->i32, n)), "");
            lanes = LLVMBuildBitCast(b, splat, m->v128, "");
        }
        LLVMValueRef sum = LLVMBuildLoad2(b, m->v128, f->keep_vector, "");
        LLVMBuildStore(b, LLVMBuildAdd(b, sum, lanes, ""), f->keep_vector);
        return;
    }
    LLVMValueRef bits;
    if (LLVMGetTypeKind(type) == LLVMVectorTypeKind)
        bits = LLVMBuildBitCast(b, v, LLVMIntTypeInContext(m->context, 64), "");
    else
        bits = type == m->i64 ? v : LLVMBuildZExt(b, v, m->i64, "");
    LLVMValueRef sum = LLVMBuildLoad2(b, m->i64, f->keep, "");
    LLVMBuildStore(b, LLVMBuildAdd(b, sum, bits, ""), f->keep);
}

/* Guard mode: everything loaded so far, as one i64 (the keep locals' lanes added). */
LLVMValueRef opt_keep_value(opt_function *f)
{
    opt_module *m = f->m;
    LLVMBuilderRef b = m->builder;
    LLVMValueRef vector = LLVMBuildLoad2(b, m->v128, f->keep_vector, "");
    LLVMValueRef sum = LLVMBuildAdd(b, LLVMBuildLoad2(b, m->i64, f->keep, ""),
                                    LLVMBuildExtractElement(b, vector, opt_const_i32(m, 0), ""),
                                    "");
    return LLVMBuildAdd(b, sum, LLVMBuildExtractElement(b, vector, opt_const_i32(m, 1), ""), "");
}

/* Guard mode needs the keep rule; ALKAHEST_OPT_KEEP=none turns it off (unsafe: to measure
 * what it costs). */
bool opt_keeps_loads(const opt_module *m)
{
    const char *keep = getenv("ALKAHEST_OPT_KEEP");
    return m->options->bounds == ALK_BOUNDS_GUARD && !(keep && !strcmp(keep, "none"));
}

LLVMTypeRef opt_keep_sink_type(opt_module *m)
{
    return LLVMFunctionType(m->void_type, &m->i64, 1, false);
}

/* LLVM uniques inline asm values by type, text and constraints: so every call of this one is a
 * keep sink, and opt_keep_finish finds them by the callee. */
LLVMValueRef opt_keep_sink(opt_module *m)
{
    return LLVMGetInlineAsm(opt_keep_sink_type(m), "", 0, "r", 1, true, false,
                            LLVMInlineAsmDialectATT, false);
}

/* Whether a load reads linear memory, as far as this tier can tell after LLVM's passes: every
 * load that does not carry the tag of one of the embedder's own classes (a pass that merged
 * or rebuilt a load may have dropped or changed its tag: such a load counts as linear memory). */
static bool may_read_linear_memory(opt_module *m, LLVMValueRef load)
{
    LLVMValueRef tag = LLVMGetMetadata(load, m->tbaa_kind);
    for (int i = 0; i < TBAA_COUNT; i++)
        if (i != TBAA_MEMORY && tag == m->tbaa[i])
            return false;
    return true;
}

/* Guard mode, once LLVM's optimization pipeline has run with the sums in place (keep_loaded):
 * each Wasm load that must fault is still in the IR, at its full width, on every path that
 * performs it. What follows (ADCE, then the code generator) may no longer delete, narrow,
 * move or merge a load: each becomes volatile, and the sums, whose only purpose was to say so
 * to the optimizer, are deleted with their sinks. Every store becomes volatile too (linear
 * memory's, globals', tables'), so that the code generator keeps each where the fault points had
 * it, in order with the faulting loads: volatile accesses are never reordered with one another,
 * whatever alias analysis a target's DAG combiner or schedulers use; the fault points go, and
 * the functions are nounwind again (docs/opt-tier.md, "Bounds"). */
bool opt_keep_finish(opt_module *m)
{
    LLVMValueRef sink = opt_keep_sink(m);
    LLVMValueRef fault = LLVMGetNamedFunction(m->module, FAULT_POINT);
    bool deleted = false;
    for (LLVMValueRef fn = LLVMGetFirstFunction(m->module); fn; fn = LLVMGetNextFunction(fn)) {
        if (fn != fault && LLVMGetFirstBasicBlock(fn))
            opt_add_nounwind(m, fn);
        for (LLVMBasicBlockRef bb = LLVMGetFirstBasicBlock(fn); bb; bb = LLVMGetNextBasicBlock(bb)) {
            LLVMValueRef in = LLVMGetFirstInstruction(bb);
            while (in) {
                LLVMValueRef next = LLVMGetNextInstruction(in);
                LLVMOpcode op = LLVMGetInstructionOpcode(in);
                if (op == LLVMStore || (op == LLVMLoad && may_read_linear_memory(m, in))) {
                    LLVMSetVolatile(in, true);
                } else if (op == LLVMCall && LLVMGetCalledValue(in) == sink) {
                    LLVMInstructionEraseFromParent(in);
                    deleted = true;
                } else if (op == LLVMCall && fault && LLVMGetCalledValue(in) == fault) {
                    LLVMInstructionEraseFromParent(in);
                }
                in = next;
            }
        }
    }
    if (fault)
        LLVMDeleteFunction(fault);
    return deleted;
}

/* Guard mode: the point where an access may fault, for LLVM's optimizer. LLVM's model has no
 * faulting load or store: to it, an access to a location no other access aliases may be moved
 * past, or have moved past it, any store to another location, and a store before it that a later
 * store overwrites is dead. But a Wasm trap ends the function there, and what was stored before
 * it, and only that, stays in memory and globals for whoever reads them next (the embedder, the
 * next call into the instance). So each access is preceded by a call that, to LLVM, may not
 * return and may unwind, and touches no memory it can see: no store moves across it either way
 * (LICM does not promote a store in a loop that holds one, DSE keeps a store it follows, no pass
 * sinks or hoists a store over it), while loads still merge and forward across it.
 * opt_keep_finish deletes these calls, once the accesses themselves are volatile, which keeps
 * their order in the code generator (fuzz seeds 112153, 113064). */
static LLVMValueRef fault_point(opt_module *m, LLVMTypeRef *type)
{
    *type = LLVMFunctionType(m->void_type, NULL, 0, false);
    LLVMValueRef fn = LLVMGetNamedFunction(m->module, FAULT_POINT);
    if (fn)
        return fn;
    fn = LLVMAddFunction(m->module, FAULT_POINT, *type);
    /* memory(inaccessiblemem: readwrite): ModRef (3) at InaccessibleMem's position (bits 2-3);
     * neither nounwind nor willreturn */
    const char *name = "memory";
    unsigned kind = LLVMGetEnumAttributeKindForName(name, strlen(name));
    LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
                            LLVMCreateEnumAttribute(m->context, kind, 3u << 2));
    return fn;
}

static void may_fault(opt_function *f)
{
    if (!f->keep)
        return;
    LLVMTypeRef type;
    LLVMValueRef fn = fault_point(f->m, &type);
    LLVMBuildCall2(f->m->builder, type, fn, NULL, 0, "");
}

LLVMValueRef opt_memory_load(opt_function *f, LLVMTypeRef type, LLVMValueRef address)
{
    may_fault(f);
    LLVMValueRef v = opt_load(f, type, address, TBAA_MEMORY, false);
    if (f->keep)
        keep_loaded(f, v);
    return v;
}

void opt_memory_store(opt_function *f, LLVMValueRef value, LLVMValueRef address)
{
    may_fault(f);
    opt_store(f, value, address, TBAA_MEMORY);
}

/* A load of `width` bytes, extended to `type` (sign or zero) when narrower. */
static void load(opt_function *f, const alk_instr *in, alk_valtype type, unsigned width,
                 bool is_signed)
{
    opt_module *m = f->m;
    LLVMTypeRef wasm_type = opt_type(m, type);
    LLVMValueRef address = opt_address(f, opt_pop(f), in->imm.memarg.offset, width);
    bool narrow = (type == ALK_I32 && width < 4) || (type == ALK_I64 && width < 8);
    LLVMTypeRef access = narrow ? LLVMIntTypeInContext(m->context, 8 * width) : wasm_type;
    LLVMValueRef v = opt_memory_load(f, access, address);
    if (narrow)
        v = is_signed ? LLVMBuildSExt(m->builder, v, wasm_type, "")
                      : LLVMBuildZExt(m->builder, v, wasm_type, "");
    opt_push(f, v);
}

static void store(opt_function *f, const alk_instr *in, unsigned width)
{
    opt_module *m = f->m;
    LLVMValueRef value = opt_pop(f);
    LLVMValueRef address = opt_address(f, opt_pop(f), in->imm.memarg.offset, width);
    LLVMTypeRef type = LLVMTypeOf(value);
    if (LLVMGetTypeKind(type) == LLVMIntegerTypeKind && LLVMGetIntTypeWidth(type) > 8 * width)
        value = LLVMBuildTrunc(m->builder, value, LLVMIntTypeInContext(m->context, 8 * width), "");
    opt_memory_store(f, value, address);
}

/* Where global `index` lives: its slot, or for an imported mutable global the exporter's slot
 * that ours points to (docs/abi.md). */
static LLVMValueRef global_address(opt_function *f, uint32_t index)
{
    opt_module *m = f->m;
    const alk_global *g = &m->wasm->globals[index];
    LLVMValueRef slot = opt_offset(f, f->vmctx, alk_layout_global(m->layout, index));
    if (index < m->wasm->imported_global_count && g->type.is_mutable)
        return opt_load(f, m->ptr, slot, TBAA_CONTEXT, true);
    return slot;
}

static LLVMValueRef table_record(opt_function *f, uint32_t table)
{
    opt_module *m = f->m;
    return opt_load(f, m->ptr, opt_offset(f, f->vmctx, alk_layout_table(m->layout, table)),
                    TBAA_CONTEXT, true);
}

/* table.get / table.set: the entry's address once the index is below the table's size. */
static LLVMValueRef table_entry(opt_function *f, uint32_t table, LLVMValueRef index)
{
    opt_module *m = f->m;
    LLVMBuilderRef b = m->builder;
    LLVMValueRef record = table_record(f, table);
    LLVMValueRef size = opt_load(f, m->i32, opt_offset(f, record, ALK_TABLE_SIZE), TBAA_TABLE, false);
    opt_trap_if(f, LLVMBuildICmp(b, LLVMIntUGE, index, size, ""), ALK_TRAP_TABLE_OUT_OF_BOUNDS);
    LLVMValueRef entries = opt_load(f, m->ptr, opt_offset(f, record, ALK_TABLE_ENTRIES),
                                    TBAA_TABLE, false);
    LLVMValueRef scaled = LLVMBuildShl(b, LLVMBuildZExt(b, index, m->i64, ""), opt_const_i64(m, 3), "");
    return LLVMBuildGEP2(b, m->i8, entries, &scaled, 1, "");
}

/* A builtin taking `immediate_count` immediates first, then `popped` operands. */
static void builtin(opt_function *f, int index, unsigned popped, unsigned immediate_count,
                    const uint32_t *immediates, bool returns_i32)
{
    LLVMValueRef args[6];
    unsigned n = 0;
    for (unsigned i = 0; i < immediate_count; i++)
        args[n++] = opt_const_i32(f->m, immediates[i]);
    for (unsigned i = popped; i > 0; i--)
        args[n + i - 1] = opt_pop(f);
    LLVMValueRef r = opt_call_builtin(f, index, args, n + popped, returns_i32);
    if (returns_i32)
        opt_push(f, r);
}

bool opt_memory_instr(opt_function *f, const alk_instr *in)
{
    opt_module *m = f->m;
    LLVMBuilderRef b = m->builder;
    switch (in->op) {
    case ALK_OP_I32_LOAD:     load(f, in, ALK_I32, 4, false); return true;
    case ALK_OP_I64_LOAD:     load(f, in, ALK_I64, 8, false); return true;
    case ALK_OP_F32_LOAD:     load(f, in, ALK_F32, 4, false); return true;
    case ALK_OP_F64_LOAD:     load(f, in, ALK_F64, 8, false); return true;
    case ALK_OP_I32_LOAD8_S:  load(f, in, ALK_I32, 1, true); return true;
    case ALK_OP_I32_LOAD8_U:  load(f, in, ALK_I32, 1, false); return true;
    case ALK_OP_I32_LOAD16_S: load(f, in, ALK_I32, 2, true); return true;
    case ALK_OP_I32_LOAD16_U: load(f, in, ALK_I32, 2, false); return true;
    case ALK_OP_I64_LOAD8_S:  load(f, in, ALK_I64, 1, true); return true;
    case ALK_OP_I64_LOAD8_U:  load(f, in, ALK_I64, 1, false); return true;
    case ALK_OP_I64_LOAD16_S: load(f, in, ALK_I64, 2, true); return true;
    case ALK_OP_I64_LOAD16_U: load(f, in, ALK_I64, 2, false); return true;
    case ALK_OP_I64_LOAD32_S: load(f, in, ALK_I64, 4, true); return true;
    case ALK_OP_I64_LOAD32_U: load(f, in, ALK_I64, 4, false); return true;
    case ALK_OP_I32_STORE:
    case ALK_OP_F32_STORE:
    case ALK_OP_I64_STORE32:  store(f, in, 4); return true;
    case ALK_OP_I64_STORE:
    case ALK_OP_F64_STORE:    store(f, in, 8); return true;
    case ALK_OP_I32_STORE8:
    case ALK_OP_I64_STORE8:   store(f, in, 1); return true;
    case ALK_OP_I32_STORE16:
    case ALK_OP_I64_STORE16:  store(f, in, 2); return true;
    case ALK_OP_MEMORY_SIZE: {
        LLVMValueRef size = opt_load(f, m->i64, opt_offset(f, f->vmctx, ALK_VMCTX_MEMORY_SIZE),
                                     TBAA_MEMORY_SIZE, false);
        opt_push(f, LLVMBuildTrunc(b, LLVMBuildLShr(b, size, opt_const_i64(m, 16), ""), m->i32, ""));
        return true;
    }
    case ALK_OP_MEMORY_GROW: builtin(f, ALK_BUILTIN_MEMORY_GROW, 1, 0, NULL, true); return true;
    case ALK_OP_MEMORY_FILL: builtin(f, ALK_BUILTIN_MEMORY_FILL, 3, 0, NULL, false); return true;
    case ALK_OP_MEMORY_COPY: builtin(f, ALK_BUILTIN_MEMORY_COPY, 3, 0, NULL, false); return true;
    case ALK_OP_MEMORY_INIT:
        builtin(f, ALK_BUILTIN_MEMORY_INIT, 3, 1, &in->imm.pair.first, false);
        return true;
    case ALK_OP_DATA_DROP: builtin(f, ALK_BUILTIN_DATA_DROP, 0, 1, &in->imm.index, false); return true;
    case ALK_OP_GLOBAL_GET: {
        const alk_global *g = &m->wasm->globals[in->imm.index];
        opt_push(f, opt_load(f, opt_type(m, g->type.type), global_address(f, in->imm.index),
                             TBAA_GLOBAL, !g->type.is_mutable));
        return true;
    }
    case ALK_OP_GLOBAL_SET:
        opt_store(f, opt_pop(f), global_address(f, in->imm.index), TBAA_GLOBAL);
        return true;
    case ALK_OP_TABLE_GET: {
        LLVMValueRef entry = table_entry(f, in->imm.index, opt_pop(f));
        opt_push(f, opt_load(f, m->ptr, entry, TBAA_TABLE, false));
        return true;
    }
    case ALK_OP_TABLE_SET: {
        LLVMValueRef value = opt_pop(f);
        LLVMValueRef entry = table_entry(f, in->imm.index, opt_pop(f));
        opt_store(f, value, entry, TBAA_TABLE);
        return true;
    }
    case ALK_OP_TABLE_SIZE:
        opt_push(f, opt_load(f, m->i32, opt_offset(f, table_record(f, in->imm.index), ALK_TABLE_SIZE),
                             TBAA_TABLE, false));
        return true;
    case ALK_OP_TABLE_GROW:
        builtin(f, ALK_BUILTIN_TABLE_GROW, 2, 1, &in->imm.index, true);
        return true;
    case ALK_OP_TABLE_FILL: builtin(f, ALK_BUILTIN_TABLE_FILL, 3, 1, &in->imm.index, false); return true;
    case ALK_OP_TABLE_COPY: {
        uint32_t tables[2] = { in->imm.pair.first, in->imm.pair.second };
        builtin(f, ALK_BUILTIN_TABLE_COPY, 3, 2, tables, false);
        return true;
    }
    case ALK_OP_TABLE_INIT: {
        /* binary order: elem index, then table index; the builtin takes (table, segment) */
        uint32_t operands[2] = { in->imm.pair.second, in->imm.pair.first };
        builtin(f, ALK_BUILTIN_TABLE_INIT, 3, 2, operands, false);
        return true;
    }
    case ALK_OP_ELEM_DROP: builtin(f, ALK_BUILTIN_ELEM_DROP, 0, 1, &in->imm.index, false); return true;
    case ALK_OP_REF_NULL:
        opt_push(f, LLVMConstNull(m->ptr));
        return true;
    case ALK_OP_REF_IS_NULL:
        opt_push(f, LLVMBuildZExt(b, LLVMBuildIsNull(b, opt_pop(f), ""), m->i32, ""));
        return true;
    case ALK_OP_REF_FUNC:
        opt_push(f, opt_offset(f, f->vmctx, alk_layout_function_ref(m->layout, in->imm.index)));
        return true;
    default:
        return false;
    }
}
