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
    if (alk_is_float(v.type) && v.loc == LOC_REG) {
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
    if (alk_is_float(a.type)) {
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
        bool in_register = alk_is_float(t) ? xmms++ < ARG_XMM_COUNT : gprs++ < ARG_GPR_COUNT;
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
    g->locals = NULL;
    alk_stacks_free(&g->stack, &g->controls);
}

static int compile_function(codegen *g, uint32_t index)
{
    const alk_module *m = g->module;
    const alk_function *function = &m->functions[index];
    g->function = index;
    g->type = &m->types[function->type_index];
    g->stack.height = g->stack.max_height = 0;
    g->controls.count = 0;
    g->gpr_used = g->xmm_used = 0;
    g->outgoing_max = 0;
    g->controls.dead_depth = 0;
    alk_traps_begin_function(&g->traps);
    if (!lay_out_locals(g, index))
        return g->error;
    /* caller-saved pins are never operand registers in this function */
    for (int i = PINNED_CALLEE_SAVED; i < g->pinned_gprs; i++)
        g->gpr_used |= 1u << x64_pinned_gprs[i];
    g->unpinned_count = 0;

    /* the prologue: the function's first line */
    alk_traps_mark(&g->traps, g->code, function->code_offset);
    cg_begin_function(g);
    cg_prologue(g);
    alk_reader reader = { m->bytes, m->bytes + function->code_offset, m->bytes + function->body_end };
    while (g->controls.count > 0 && !g->error && !g->code->failed) {
        alk_instr in;
        int code = alk_read_instr(&reader, &in, g->diag);
        if (code) {
            g->error = code;
            break;
        }
        alk_traps_mark(&g->traps, g->code, in.offset);
        if (g->controls.entries[g->controls.count - 1].unreachable) {
            cg_control_instr(g, &in);       /* skips dead code, sees its end */
            continue;
        }
        if (g->stack.height && alk_operand_top(&g->stack, 0)->loc == LOC_FLAGS &&
            !uses_flags(in.op))
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
        alk_traps_emit_stubs(&g->traps, g->code, g->chunk->target);
        /* at most ~8.4 MB by the decoder's limits (locals, operand stack, parameters) */
        uint32_t frame = cg_frame_size(g);
        if (frame > ALK_MAX_FRAME_SIZE)
            cg_fail(g, ALK_E_INTERNAL, function->body_offset, "frame larger than 1 GiB");
        alk_code_patch_u32(g->code, g->frame_patch, (uint32_t)-(int32_t)frame);
    }
    release(g);
    return g->error;
}

/* ---- Chunks (../singlepass.c): the functions of one, then the direct calls between them ----- */

/* The internal entry follows the external one's two instructions (below). */
#define INTERNAL_ENTRY_OFFSET 6

void cg_emit_direct_call(codegen *g, uint32_t function)
{
    alk_code_byte(g->code, 0xE8);
    alk_chunk_add_call(g->chunk, alk_code_position(g->code), function);
    alk_code_u32(g->code, 0);
}

static void compile_chunk(alk_chunk *k)
{
    codegen g = { .code = &k->code, .module = k->module, .options = k->options,
                  .layout = k->layout, .diag = &k->diag, .weights = &k->weights, .chunk = k,
                  .stack = { .allocator = &k->module->allocator },
                  .controls = { .allocator = &k->module->allocator },
                  .traps = { .lines = k->lines } };
    for (uint32_t i = k->first; i < k->end && !k->error; i++) {
        uint32_t start = alk_chunk_start_function(k, i);
        /* external entry: establish the pinned registers, then the internal entry */
        x64_mov_rr(&k->code, 8, R15, RDI);
        x64_load(&k->code, 8, R14, x64_at(R15, ALK_VMCTX_MEMORY_BASE), 8, false);
        if (alk_chunk_entry_done(k, start))
            k->error = compile_function(&g, k->module->imported_function_count + i);
    }
    if (!k->error && !x64_resolve(&k->code) && !k->code.failed)
        k->error = alk_fail(&k->diag, ALK_E_INTERNAL, 0, ALK_NO_FUNCTION, ": unbound label");
}

/* call rel32: the field is relative to the end of the instruction. */
static void patch_call(uint8_t *code, uint32_t at, uint32_t target)
{
    uint32_t rel = target - (at + 4);
    for (int b = 0; b < 4; b++)
        code[at + b] = (uint8_t)(rel >> (8 * b));
}

static const alk_singlepass x86_64_singlepass = {
    .compile_chunk = compile_chunk,
    .patch_call = patch_call,
    .emit_trap_stub = cg_emit_trap_stub,
    .fill = 0xCC,                   /* int3 */
    .code_per_wasm_byte = 3,        /* about 2-3 bytes of machine code per byte of Wasm code */
    .internal_entry = INTERNAL_ENTRY_OFFSET,
    .max_code = 1u << 30,
    .too_large = ": more than 1 GiB of code",
};

static int x86_64_compile(const alk_module *module, const alk_compile_options *options,
                          alk_compiled *out, alk_diag *diag)
{
    return alk_singlepass_compile(&x86_64_singlepass, module, options, out, diag);
}

const alk_backend alk_x86_64_backend = { ALK_TARGET_X86_64, "x86_64", x86_64_compile };
