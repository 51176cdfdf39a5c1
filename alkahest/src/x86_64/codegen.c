/*
 * The x86-64 back end's driver: lays out each function's frame, walks its body once with
 * alk_read_instr, and hands every instruction to the file that knows it (control.c, memory.c,
 * integer.c, float.c; variables, select and drop are here).
 */
#include "codegen.h"

static void local_get(codegen *g, uint32_t local)
{
    cg_push(g, (value){ .loc = LOC_LOCAL, .type = g->locals[local].type, .local = local });
}

static void local_set(codegen *g, uint32_t local, bool tee)
{
    value v = cg_pop(g);
    if (v.loc == LOC_LOCAL && v.local == local) {
        if (tee)
            cg_push(g, v);
        return;
    }
    cg_spill_local_refs(g, local);
    int pinned = cg_local_reg(g, local);
    if (pinned >= 0) {
        cg_load_into(g, v, pinned);
        cg_free(g, v);
        if (tee)
            cg_push(g, (value){ .loc = LOC_LOCAL, .type = v.type, .local = local });
        return;
    }
    x64_mem at = cg_local(g, local);
    if (cg_is_float(v.type) && v.loc == LOC_REG) {
        x64_movs_store(g->code, v.type == ALK_F32 ? 4 : 8, at, v.reg);
    } else if (v.loc == LOC_REG) {
        x64_store(g->code, 8, at, (x64_reg)v.reg);
    } else {
        cg_store_to(g, v, at);
    }
    if (tee) {
        if (v.loc == LOC_SLOT) {
            cg_push(g, (value){ .loc = LOC_LOCAL, .type = v.type, .local = local });
            return;
        }
        cg_push(g, v);
    } else {
        cg_free(g, v);
    }
}

static void select_op(codegen *g)
{
    alk_code *c = g->code;
    value cond = cg_pop(g), b = cg_pop(g), a = cg_pop(g);
    if (cond.loc == LOC_CONST) {
        cg_free(g, cond.bits ? b : a);
        value keep = cond.bits ? a : b;
        if (keep.loc == LOC_SLOT) {
            int reg = cg_into_reg(g, keep);
            keep = (value){ .loc = LOC_REG, .type = keep.type, .reg = (uint8_t)reg };
        }
        cg_push(g, keep);
        return;
    }
    /* Operands into registers with moves only, so that a compare's flags survive; else test. */
    x64_cond keep_a;
    int flag = -1;
    if (cond.loc != LOC_FLAGS)
        flag = cg_into_reg(g, cond);
    int dst = cg_into_reg(g, a);
    int src = cg_into_reg(g, b);
    if (cond.loc == LOC_FLAGS) {
        keep_a = (x64_cond)cond.reg;
    } else {
        x64_test_rr(c, 4, (x64_reg)flag, (x64_reg)flag);
        keep_a = CC_NE;
    }
    if (cg_is_float(a.type)) {
        uint32_t keep = alk_code_new_label(c);
        x64_jcc(c, keep_a, keep);
        x64_movaps(c, dst, src);
        alk_code_bind(c, keep);
    } else {
        x64_cmov(c, x64_invert(keep_a), cg_width(a.type), (x64_reg)dst, (x64_reg)src);
    }
    if (flag >= 0)
        cg_free(g, (value){ .loc = LOC_REG, .type = ALK_I32, .reg = (uint8_t)flag });
    cg_free(g, (value){ .loc = LOC_REG, .type = b.type, .reg = (uint8_t)src });
    cg_push_reg(g, a.type, dst);
}

/* Which instructions consume a compare's flags directly. */
static bool uses_flags(alk_opcode op)
{
    return op == ALK_OP_BR_IF || op == ALK_OP_IF || op == ALK_OP_SELECT ||
           op == ALK_OP_SELECT_T || op == ALK_OP_I32_EQZ;
}

static bool variable_instr(codegen *g, const alk_instr *in)
{
    switch (in->op) {
    case ALK_OP_LOCAL_GET: local_get(g, in->imm.index); return true;
    case ALK_OP_LOCAL_SET: local_set(g, in->imm.index, false); return true;
    case ALK_OP_LOCAL_TEE: local_set(g, in->imm.index, true); return true;
    case ALK_OP_DROP: cg_free(g, cg_pop(g)); return true;
    case ALK_OP_SELECT:
    case ALK_OP_SELECT_T: select_op(g); return true;
    default: return false;
    }
}

/* The hottest locals (locals.c: loop-weighted use counts) get the registers: integers rbx,
 * r12, r13, r10, r9 in that order, floats xmm8.. */
static bool choose_pinned_locals(codegen *g, uint32_t index)
{
    static const alk_scan_limits limits = { PINNED_GPR_COUNT, PINNED_XMM_COUNT, ARG_GPR_COUNT,
                                            ARG_XMM_COUNT };
    alk_function_scan hot;
    int error = alk_scan_function(g->module, index, &limits, g->weights, &hot);
    if (error) {
        cg_fail(g, error, g->module->functions[index].body_offset, "");
        return false;
    }
    for (uint32_t k = 0; k < hot.integer_count; k++) {
        uint32_t local = hot.integers[k];
        if (local < g->local_count && g->pinned_gprs < PINNED_GPR_COUNT)
            g->locals[local].reg = (uint8_t)x64_pinned_gprs[g->pinned_gprs++];
    }
    for (uint32_t k = 0; k < hot.float_count; k++) {
        uint32_t local = hot.floats[k];
        int reg = PINNED_XMM_FIRST + (int)k;
        if (local < g->local_count && k < PINNED_XMM_COUNT) {
            g->locals[local].reg = (uint8_t)reg;
            g->pinned_xmms |= 1u << reg;
        }
    }
    return true;
}

/* The file that compiles each group of instructions (opcodes.def's group column); none for
 * SIMD yet. */
typedef bool (*instr_handler)(codegen *g, const alk_instr *in);
static const instr_handler handlers[ALK_GROUP_COUNT] = {
    [ALK_GROUP_CONTROL] = cg_control_instr,
    [ALK_GROUP_REFERENCE] = cg_memory_instr,
    [ALK_GROUP_PARAMETRIC] = variable_instr,
    [ALK_GROUP_LOCAL] = variable_instr,
    [ALK_GROUP_GLOBAL] = cg_memory_instr,
    [ALK_GROUP_TABLE] = cg_memory_instr,
    [ALK_GROUP_MEMORY] = cg_memory_instr,
    [ALK_GROUP_INTEGER] = cg_integer_instr,
    [ALK_GROUP_FLOAT] = cg_float_instr,
};

/* Frame slots for parameters passed in registers and for declared locals; parameters passed
 * on the stack stay in the caller's frame. Then the hottest locals get registers. */
static bool lay_out_locals(codegen *g, uint32_t index)
{
    const alk_function *function = &g->module->functions[index];
    const alk_allocator *a = &g->module->allocator;
    g->local_count = g->type->param_count + function->local_count;
    g->locals = a->alloc(a->user, (g->local_count ? g->local_count : 1) * sizeof *g->locals);
    if (!g->locals) {
        cg_fail(g, ALK_E_OUT_OF_MEMORY, function->body_offset, "");
        return false;
    }
    int32_t below = -FRAME_LOCALS_BASE;
    uint32_t gprs = 0, xmms = 0, stack = 0;
    for (uint32_t i = 0; i < g->type->param_count; i++) {
        alk_valtype t = g->type->params[i];
        g->locals[i].type = t;
        g->locals[i].reg = X64_NO_REG;
        bool in_register = cg_is_float(t) ? xmms++ < ARG_XMM_COUNT : gprs++ < ARG_GPR_COUNT;
        if (in_register) {
            g->locals[i].offset = below;
            below -= 8;
        } else {
            g->locals[i].offset = (int32_t)(16 + 8 * stack++);
        }
    }
    g->stack_param_bytes = 8 * stack;
    uint32_t local = g->type->param_count;
    for (uint32_t i = 0; i < function->local_group_count; i++) {
        for (uint32_t k = 0; k < function->local_groups[i].count; k++) {
            g->locals[local].type = function->local_groups[i].type;
            g->locals[local].reg = X64_NO_REG;
            g->locals[local].offset = below;
            below -= 8;
            local++;
        }
    }
    g->slots_base = (uint32_t)(-below - 8);
    g->pinned_gprs = 0;
    g->pinned_xmms = 0;
    return choose_pinned_locals(g, index);
}

static void release(codegen *g)
{
    const alk_allocator *a = &g->module->allocator;
    a->free(a->user, g->locals);
    a->free(a->user, g->stack);
    a->free(a->user, g->controls);
    g->locals = NULL;
    g->stack = NULL;
    g->controls = NULL;
    g->stack_capacity = g->control_capacity = 0;
}

static int compile_function(codegen *g, uint32_t index)
{
    const alk_module *m = g->module;
    const alk_function *function = &m->functions[index];
    g->function = index;
    g->type = &m->types[function->type_index];
    g->height = g->max_height = 0;
    g->control_count = 0;
    g->gpr_used = g->xmm_used = 0;
    g->outgoing_max = 0;
    g->dead_depth = 0;
    alk_memset(g->trap_labels, 0, sizeof g->trap_labels);
    if (!lay_out_locals(g, index))
        return g->error;
    /* caller-saved pins are never operand registers in this function */
    for (int i = PINNED_CALLEE_SAVED; i < g->pinned_gprs; i++)
        g->gpr_used |= 1u << x64_pinned_gprs[i];
    g->unpinned_count = 0;

    cg_mark(g, function->code_offset);  /* the prologue: the function's first line */
    cg_begin_function(g);
    cg_prologue(g);
    alk_reader reader = { m->bytes, m->bytes + function->code_offset, m->bytes + function->body_end };
    while (g->control_count > 0 && !g->error && !g->code->failed) {
        alk_instr in;
        int code = alk_read_instr(&reader, &in, g->diag);
        if (code) {
            g->error = code;
            break;
        }
        cg_mark(g, in.offset);
        if (g->controls[g->control_count - 1].unreachable) {
            cg_control_instr(g, &in);       /* skips dead code, sees its end */
            continue;
        }
        if (g->height && g->stack[g->height - 1].loc == LOC_FLAGS && !uses_flags(in.op))
            cg_settle_flags(g);
        instr_handler handler = handlers[alk_opcode_infos[in.op].group];
        if (handler && handler(g, &in))
            continue;
        g->error = alk_fail(g->diag, ALK_E_UNSUPPORTED_INSTRUCTION, in.offset, index,
                            alk_opcode_infos[in.op].prefix == 0xFD ? ": %s (SIMD, v128)" : ": %s",
                            alk_opcode_text(in.op));
    }
    if (!g->error && g->code->failed)
        g->error = alk_fail(g->diag, ALK_E_OUT_OF_MEMORY, function->body_offset, index, "");
    if (!g->error) {
        cg_emit_trap_stubs(g);
        /* at most ~8.4 MB by the decoder's limits (locals, operand stack, parameters) */
        uint32_t frame = cg_frame_size(g);
        if (frame > ALK_MAX_FRAME_SIZE)
            cg_fail(g, ALK_E_INTERNAL, function->body_offset, "frame larger than 1 GiB");
        alk_code_patch_u32(g->code, g->frame_patch, (uint32_t)-(int32_t)frame);
    }
    release(g);
    return g->error;
}

/* ---- Chunks: functions compiled independently (maybe in parallel), then linked ------------ */

typedef struct call_fixup {
    uint32_t at;        /* the rel32 field, from the start of the chunk */
    uint32_t callee;    /* function index */
} call_fixup;

typedef struct chunk {
    const alk_module *module;
    const alk_compile_options *options;
    const alk_layout *layout;
    uint32_t first, end;            /* defined functions [first, end) */
    alk_code code;
    uint32_t *starts;               /* external entry of each, within the chunk */
    call_fixup *calls;
    uint32_t call_count;
    alk_lines *lines;               /* with source lines only */
    alk_local_weights weights;
    int error;
    alk_diag diag;
} chunk;

/* The internal entry follows the external one's two instructions (below). */
#define INTERNAL_ENTRY_OFFSET 6

void cg_emit_direct_call(codegen *g, uint32_t function)
{
    if (g->call_count == g->call_capacity) {
        uint32_t capacity = g->call_capacity ? g->call_capacity * 2 : 64;
        call_fixup *fresh = g->module->allocator.alloc(g->module->allocator.user,
                                                       capacity * sizeof *fresh);
        if (!fresh) {
            g->code->failed = true;
            return;
        }
        if (g->calls) {
            alk_memcpy(fresh, g->calls, g->call_count * sizeof *fresh);
            g->module->allocator.free(g->module->allocator.user, g->calls);
        }
        g->calls = fresh;
        g->call_capacity = capacity;
    }
    alk_code_byte(g->code, 0xE8);
    g->calls[g->call_count++] = (call_fixup){ alk_code_position(g->code), function };
    alk_code_u32(g->code, 0);
}

static void compile_chunk(void *argument)
{
    chunk *k = argument;
    const alk_module *module = k->module;
    const alk_allocator *a = &module->allocator;
    alk_code_init(&k->code, a);
    codegen g = { .code = &k->code, .module = module, .options = k->options, .layout = k->layout,
                  .diag = &k->diag, .weights = &k->weights };
    if (k->options->source_lines && !(g.lines = k->lines = alk_lines_new(a))) {
        k->error = alk_fail(&k->diag, ALK_E_OUT_OF_MEMORY, 0, ALK_NO_FUNCTION, "");
        return;
    }
    uint32_t count = k->end - k->first;
    k->starts = a->alloc(a->user, (count ? count : 1) * sizeof *k->starts);
    if (!k->starts) {
        k->error = alk_fail(&k->diag, ALK_E_OUT_OF_MEMORY, 0, ALK_NO_FUNCTION, "");
        return;
    }
    uint64_t bytes = 0;
    for (uint32_t i = k->first; i < k->end; i++) {
        const alk_function *f = &module->functions[module->imported_function_count + i];
        bytes += f->body_end - f->body_offset;
    }
    /* about 2-3 bytes of machine code per byte of Wasm code: one allocation, not log2(n) */
    uint64_t estimate = 3 * bytes + 4096;
    alk_code_reserve(&k->code, estimate > (1u << 30) ? (1u << 30) : (uint32_t)estimate);
    for (uint32_t i = k->first; i < k->end && !k->error; i++) {
        alk_code_align(&k->code, 16, 0xCC);
        k->starts[i - k->first] = alk_code_position(&k->code);
        /* external entry: establish the pinned registers, then the internal entry */
        x64_mov_rr(&k->code, 8, R15, RDI);
        x64_load(&k->code, 8, R14, x64_at(R15, ALK_VMCTX_MEMORY_BASE), 8, false);
        if (alk_code_position(&k->code) - k->starts[i - k->first] != INTERNAL_ENTRY_OFFSET)
            k->error = alk_fail(&k->diag, ALK_E_INTERNAL, 0, ALK_NO_FUNCTION, ": entry size");
        if (!k->error)
            k->error = compile_function(&g, module->imported_function_count + i);
    }
    alk_code_align(&k->code, 16, 0xCC);
    if (!k->error && !x64_resolve(&k->code))
        k->error = k->code.failed ? alk_fail(&k->diag, ALK_E_OUT_OF_MEMORY, 0, ALK_NO_FUNCTION, "")
                                  : alk_fail(&k->diag, ALK_E_INTERNAL, 0, ALK_NO_FUNCTION,
                                             ": unbound label");
    k->calls = g.calls;
    k->call_count = g.call_count;
}

static void free_chunk(chunk *k)
{
    const alk_allocator *a = &k->module->allocator;
    alk_code_free(&k->code);
    a->free(a->user, k->starts);
    a->free(a->user, k->calls);
    alk_lines_free(k->lines);
    alk_local_weights_free(&k->weights);
}

static int x86_64_compile(const alk_module *module, const alk_compile_options *options,
                          alk_compiled *out, alk_diag *diag)
{
    int unsupported = alk_check_no_v128(module, diag);
    if (unsupported)
        return unsupported;
    const alk_allocator *a = &module->allocator;
    uint32_t defined = module->function_count - module->imported_function_count;
    uint32_t starts[ALK_MAX_PARTS + 1];
    unsigned chunks = alk_split_functions(module, options, starts);
    chunk parts[ALK_MAX_PARTS];
    void *arguments[ALK_MAX_PARTS];
    alk_memset(parts, 0, sizeof parts);
    for (unsigned c = 0; c < chunks; c++) {
        parts[c] = (chunk){ .module = module, .options = options, .layout = &out->layout,
                            .first = starts[c], .end = starts[c + 1] };
        arguments[c] = &parts[c];
    }
    if (chunks > 1)
        options->run_parallel(options->parallel_user, compile_chunk, arguments, chunks);
    else
        compile_chunk(&parts[0]);

    int error = 0;
    for (unsigned c = 0; c < chunks && !error; c++) {
        if (parts[c].error) {
            error = parts[c].error;
            *diag = parts[c].diag;
        }
    }
    /* Link: lay the chunks end to end, then patch every direct call. */
    uint32_t *base = NULL;
    uint8_t *code = NULL;
    uint64_t size = 0;
    if (!error) {
        base = a->alloc(a->user, chunks * sizeof *base);
        out->functions = a->alloc(a->user, (defined ? defined : 1) * sizeof *out->functions);
        for (unsigned c = 0; c < chunks; c++) {
            if (base)
                base[c] = (uint32_t)size;
            size += parts[c].code.size;
        }
        uint64_t mapped = (size + 4095) & ~4095ull;
        if (mapped > (1u << 30))
            error = alk_fail(diag, ALK_E_MODULE_TOO_LARGE, 0, ALK_NO_FUNCTION, ": more than 1 GiB of code");
        else if (!base || !out->functions || !(code = a->alloc(a->user, mapped ? mapped : 4096)))
            error = alk_fail(diag, ALK_E_OUT_OF_MEMORY, 0, ALK_NO_FUNCTION, "");
        else {
            alk_memset(code, 0xCC, mapped ? mapped : 4096);
            for (unsigned c = 0; c < chunks; c++) {
                chunk *k = &parts[c];
                alk_memcpy(code + base[c], k->code.bytes, k->code.size);
                for (uint32_t i = k->first; i < k->end; i++) {
                    uint32_t start = base[c] + k->starts[i - k->first];
                    uint32_t end = i + 1 < k->end ? base[c] + k->starts[i + 1 - k->first]
                                                  : base[c] + k->code.size;
                    out->functions[i] = (alk_compiled_function){ start, end - start };
                }
            }
            for (unsigned c = 0; c < chunks; c++) {
                chunk *k = &parts[c];
                for (uint32_t i = 0; i < k->call_count; i++) {
                    uint32_t at = base[c] + k->calls[i].at;
                    uint32_t target = out->functions[k->calls[i].callee -
                                                     module->imported_function_count].offset +
                                      INTERNAL_ENTRY_OFFSET;
                    uint32_t rel = target - (at + 4);
                    for (int b = 0; b < 4; b++)
                        code[at + b] = (uint8_t)(rel >> (8 * b));
                }
            }
            for (unsigned c = 0; c < chunks && !error; c++)
                if (!alk_lines_append(parts[c].lines, base[c], &out->pcs, &out->pc_count, a))
                    error = alk_fail(diag, ALK_E_OUT_OF_MEMORY, 0, ALK_NO_FUNCTION, "");
            size = mapped ? mapped : 4096;
        }
    }
    for (unsigned c = 0; c < chunks; c++)
        free_chunk(&parts[c]);
    a->free(a->user, base);
    if (error) {
        a->free(a->user, code);
        a->free(a->user, out->functions);
        out->functions = NULL;
        return error;
    }
    out->code = code;
    out->code_size = (uint32_t)size;
    return ALK_OK;
}

const alk_backend alk_x86_64_backend = { ALK_TARGET_X86_64, "x86_64", x86_64_compile };
