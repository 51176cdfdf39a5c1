/*
 * The AArch64 back end's driver: lays out each function's frame, walks its body once with
 * alk_read_instr, and hands every instruction to the file that knows its group (control.c
 * and call.c, memory.c, integer.c, float.c; variables, select and drop are here). Then the
 * chunks are laid end to end and direct calls patched.
 */
#include "codegen.h"

static void local_get(codegen *g, uint32_t local)
{
    arm_push(g, (value){ .loc = LOC_LOCAL, .type = g->locals[local].type, .local = local });
}

static void local_set(codegen *g, uint32_t local, bool tee)
{
    value v = arm_pop(g);
    if (v.loc == LOC_LOCAL && v.local == local) {
        if (tee)
            arm_push(g, v);
        return;
    }
    arm_spill_local_refs(g, local);
    int pinned = arm_local_reg(g, local);
    if (pinned >= 0) {
        arm_load_into(g, v, pinned);
        arm_free(g, v);
        if (tee)
            arm_push(g, (value){ .loc = LOC_LOCAL, .type = v.type, .local = local });
        return;
    }
    const local_info *l = &g->locals[local];
    arm_store_to(g, v, l->base, l->offset);
    if (tee) {
        if (v.loc == LOC_REG || v.loc == LOC_CONST) {
            arm_push(g, v);
            return;
        }
        arm_push(g, (value){ .loc = LOC_LOCAL, .type = v.type, .local = local });
    } else {
        arm_free(g, v);
    }
}

static void select_op(codegen *g)
{
    alk_code *c = g->code;
    value cond = arm_pop(g), b = arm_pop(g), a = arm_pop(g);
    if (cond.loc == LOC_CONST) {
        arm_free(g, cond.bits ? b : a);
        value keep = cond.bits ? a : b;
        if (keep.loc == LOC_SLOT) {
            int reg = arm_into_reg(g, keep);
            keep = (value){ .loc = LOC_REG, .type = keep.type, .reg = (uint8_t)reg };
        }
        arm_push(g, keep);
        return;
    }
    /* Operands into registers with moves and loads only, so that a compare's flags survive;
     * else a compare of the condition with zero. */
    a64_cond keep_a = A64_NE;
    bool cond_owned = false, a_owned, b_owned;
    int flag = -1;
    if (cond.loc != LOC_FLAGS)
        flag = arm_read_reg(g, cond, &cond_owned);
    int ra = arm_read_reg(g, a, &a_owned);
    int rb = arm_read_reg(g, b, &b_owned);
    if (cond.loc == LOC_FLAGS)
        keep_a = (a64_cond)cond.reg;
    else
        a64_cmp_imm(c, false, flag, 0);
    int dst;
    bool is_float = alk_is_float(a.type);
    if (a_owned) {
        dst = ra;
        if (b_owned)
            arm_free_reg(g, b.type, rb);
    } else if (b_owned) {
        dst = rb;
    } else {
        dst = is_float ? arm_alloc_fpr(g) : arm_alloc_gpr(g);   /* moves only: flags survive */
    }
    if (is_float)
        a64_fcsel(c, arm_fsize(a.type), keep_a, dst, ra, rb);
    else
        a64_csel(c, arm_is_wide(a.type), keep_a, dst, ra, rb);
    if (cond_owned)
        arm_free_reg(g, ALK_I32, flag);
    arm_push_reg(g, a.type, dst);
}

/* Which instructions consume a compare's flags directly (local.set: cset into the local). */
static bool uses_flags(alk_opcode op)
{
    return op == ALK_OP_BR_IF || op == ALK_OP_IF || op == ALK_OP_SELECT ||
           op == ALK_OP_SELECT_T || op == ALK_OP_I32_EQZ || op == ALK_OP_LOCAL_SET ||
           op == ALK_OP_LOCAL_TEE;
}

/* A LEB128 u32 at p (validated bytes, up to end). */
static uint32_t peek_u32(const uint8_t *p, const uint8_t *end)
{
    uint32_t value = 0;
    for (int i = 0, shift = 0; i < 5 && p + i < end; i++, shift += 7) {
        value |= (uint32_t)(p[i] & 0x7f) << shift;
        if (!(p[i] & 0x80))
            break;
    }
    return value;
}

/* Where the instruction after the reader's position wants the value the current one pushes
 * (codegen.h, hint_reg): a peek at its bytes, the body being validated. Only the cases where
 * it consumes exactly the top value as it is. */
static void hint_next(codegen *g, const alk_reader *reader)
{
    g->hint_reg = -1;
    g->hint_local = UINT32_MAX;
    const uint8_t *p = reader->cursor;
    if (reader->end - p < 1)
        return;
    if (p[0] == 0x21 || p[0] == 0x22) {                 /* local.set, local.tee */
        uint32_t index = peek_u32(p + 1, reader->end);
        if (index < g->local_count && arm_local_reg(g, index) >= 0) {
            g->hint_reg = arm_local_reg(g, index);
            g->hint_float = alk_is_float(g->locals[index].type);
            g->hint_local = index;
        }
    } else if (p[0] == 0x10) {                          /* call: its last parameter */
        uint32_t function = peek_u32(p + 1, reader->end);
        if (function >= g->module->function_count)
            return;
        const alk_functype *type = alk_function_type(g->module, function);
        if (type->param_count == 0)
            return;
        bool is_float = alk_is_float(type->params[type->param_count - 1]);
        uint32_t before = 0;
        for (uint32_t i = 0; i + 1 < type->param_count; i++)
            before += alk_is_float(type->params[i]) == is_float;
        if (before < (is_float ? ARG_FPR_COUNT : ARG_GPR_COUNT)) {
            g->hint_reg = is_float ? (int)before : 1 + (int)before;
            g->hint_float = is_float;
        }
    } else if ((p[0] == 0x0b && g->controls.count == 1) || p[0] == 0x0f) {
        /* the function's end or return, with one result: x0 or v0 */
        if (g->type->result_count == 1) {
            g->hint_reg = 0;
            g->hint_float = alk_is_float(g->type->results[0]);
        }
    }
}

static bool variable_instr(codegen *g, const alk_instr *in)
{
    switch (in->op) {
    case ALK_OP_LOCAL_GET: local_get(g, in->imm.index); return true;
    case ALK_OP_LOCAL_SET: local_set(g, in->imm.index, false); return true;
    case ALK_OP_LOCAL_TEE: local_set(g, in->imm.index, true); return true;
    case ALK_OP_DROP: arm_free(g, arm_pop(g)); return true;
    case ALK_OP_SELECT:
    case ALK_OP_SELECT_T: select_op(g); return true;
    default: return false;
    }
}

/* The file that compiles each group of instructions (opcodes.def's group column); none for
 * SIMD yet. */
typedef bool (*instr_handler)(codegen *g, const alk_instr *in);
static const instr_handler handlers[ALK_GROUP_COUNT] = {
    [ALK_GROUP_CONTROL] = arm_control_instr,
    [ALK_GROUP_REFERENCE] = arm_memory_instr,
    [ALK_GROUP_PARAMETRIC] = variable_instr,
    [ALK_GROUP_LOCAL] = variable_instr,
    [ALK_GROUP_GLOBAL] = arm_memory_instr,
    [ALK_GROUP_TABLE] = arm_memory_instr,
    [ALK_GROUP_MEMORY] = arm_memory_instr,
    [ALK_GROUP_INTEGER] = arm_integer_instr,
    [ALK_GROUP_FLOAT] = arm_float_instr,
};

/* Frame offsets for parameters passed in registers and for declared locals (from sp, above
 * the call area); parameters passed on the stack stay in the caller's frame. The hottest
 * locals (locals.c) get x19.. and d8.. */
static bool lay_out_locals(codegen *g, uint32_t index)
{
    const alk_function *function = &g->module->functions[index];
    const alk_allocator *a = &g->module->allocator;
    static const alk_scan_limits limits = { PINNED_GPR_COUNT, PINNED_FPR_COUNT, ARG_GPR_COUNT,
                                            ARG_FPR_COUNT };
    alk_function_scan scan;
    int error = alk_scan_function(g->module, index, &limits, g->weights, &scan);
    if (error) {
        arm_fail(g, error, function->body_offset, "");
        return false;
    }
    g->local_count = g->type->param_count + function->local_count;
    g->locals = a->alloc(a->user, (g->local_count ? g->local_count : 1) * sizeof *g->locals);
    if (!g->locals) {
        arm_fail(g, ALK_E_OUT_OF_MEMORY, function->body_offset, "");
        return false;
    }
    g->call_area = scan.call_area;
    uint32_t in_frame = 0, gprs = 0, fprs = 0, stack = 0;
    for (uint32_t i = 0; i < g->type->param_count; i++) {
        alk_valtype t = g->type->params[i];
        local_info *l = &g->locals[i];
        *l = (local_info){ .type = t, .reg = A64_NO_REG };
        bool in_register = alk_is_float(t) ? fprs++ < ARG_FPR_COUNT : gprs++ < ARG_GPR_COUNT;
        if (in_register) {
            l->base = A64_SP;
            l->offset = (int32_t)(g->call_area + 8 * in_frame++);
        } else {
            l->base = A64_FP;
            l->offset = (int32_t)(16 + 8 * stack++);
        }
    }
    g->stack_param_bytes = 8 * stack;
    uint32_t local = g->type->param_count;
    for (uint32_t i = 0; i < function->local_group_count; i++) {
        for (uint32_t k = 0; k < function->local_groups[i].count; k++) {
            g->locals[local++] = (local_info){ .type = function->local_groups[i].type,
                                               .reg = A64_NO_REG, .base = A64_SP,
                                               .offset = (int32_t)(g->call_area + 8 * in_frame++) };
        }
    }
    g->slots_base = g->call_area + 8 * in_frame;
    g->pinned_gprs = g->pinned_fprs = 0;
    for (uint32_t k = 0; k < scan.integer_count && g->pinned_gprs < PINNED_GPR_COUNT; k++)
        g->locals[scan.integers[k]].reg = (uint8_t)(PINNED_GPR_FIRST + g->pinned_gprs++);
    for (uint32_t k = 0; k < scan.float_count && g->pinned_fprs < PINNED_FPR_COUNT; k++)
        g->locals[scan.floats[k]].reg = (uint8_t)(PINNED_FPR_FIRST + g->pinned_fprs++);
    g->save_bytes = 8 + 8 * ((uint32_t)g->pinned_gprs + g->pinned_fprs);
    return true;
}

static void release(codegen *g)
{
    const alk_allocator *a = &g->module->allocator;
    a->free(a->user, g->locals);
    g->locals = NULL;
    alk_stacks_free(&g->stack, &g->controls);
}

/* Bodies this large may give code past b.cond's reach (+-1 MiB): their conditional branches
 * jump over an unconditional one from the start. Smaller ones that still overflow (a hostile
 * br_table to blocks of many results) are compiled again in that mode. */
#define FAR_BRANCH_BODY (192u * 1024u)

static int compile_function(codegen *g, uint32_t index)
{
    const alk_module *m = g->module;
    const alk_function *function = &m->functions[index];
    g->function = index;
    g->type = &m->types[function->type_index];
    g->stack.height = g->stack.max_height = 0;
    g->controls.count = 0;
    g->gpr_used = g->fpr_used = 0;
    g->controls.dead_depth = 0;
    g->hint_reg = -1;
    alk_traps_begin_function(&g->traps);
    g->code->label_count = 1;           /* labels are the function's own */
    g->code->fixup_count = 0;
    if (!lay_out_locals(g, index))
        return g->error;

    /* the prologue: the function's first line */
    alk_traps_mark(&g->traps, g->code, function->code_offset);
    arm_begin_function(g);
    arm_prologue(g);
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
            arm_control_instr(g, &in);       /* skips dead code, sees its end */
            continue;
        }
        if (g->stack.height && alk_operand_top(&g->stack, 0)->loc == LOC_FLAGS &&
            !uses_flags(in.op))
            arm_settle_flags(g);
        hint_next(g, &reader);
        instr_handler handler = handlers[alk_opcode_infos[in.op].group];
        bool handled = handler && handler(g, &in);
        g->hint_reg = -1;
        if (handled)
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
        uint32_t frame = arm_frame_size(g);
        if (frame >= (1u << 24))
            arm_fail(g, ALK_E_INTERNAL, function->body_offset, "frame of 16 MiB or more");
        arm_patch_frame_size(g, frame);
    }
    if (!g->error && !a64_resolve(g->code) && !g->code->out_of_range)
        g->error = g->code->failed
            ? alk_fail(g->diag, ALK_E_OUT_OF_MEMORY, function->body_offset, index, "")
            : alk_fail(g->diag, ALK_E_INTERNAL, function->body_offset, index, ": unbound label");
    release(g);
    return g->error;
}

/* ---- Chunks (../singlepass.c): the functions of one, then the direct calls between them ----- */

/* The internal entry follows the external one's three instructions (below). */
#define INTERNAL_ENTRY_OFFSET 12

void arm_emit_direct_call(codegen *g, uint32_t function)
{
    alk_chunk_add_call(g->chunk, alk_code_position(g->code), function);
    a64_bl_to(g->code, 0);
}

static void compile_chunk(alk_chunk *k)
{
    const alk_module *module = k->module;
    codegen g = { .code = &k->code, .module = module, .options = k->options, .layout = k->layout,
                  .diag = &k->diag, .weights = &k->weights, .chunk = k,
                  .stack = { .allocator = &k->module->allocator },
                  .controls = { .allocator = &k->module->allocator },
                  .traps = { .lines = k->lines },
                  .checked = k->options->bounds == ALK_BOUNDS_CHECKED };
    for (uint32_t i = k->first; i < k->end && !k->error; i++) {
        const alk_function *f = &module->functions[module->imported_function_count + i];
        uint32_t start = alk_chunk_start_function(k, i), calls = k->call_count;
        g.far_branches = f->body_end - f->code_offset > FAR_BRANCH_BODY;
        for (;;) {
            /* external entry: establish the pinned registers, then the internal entry */
            a64_mov(&k->code, true, REG_VMCTX, 0);
            a64_load(&k->code, true, REG_MEMORY_BASE, REG_VMCTX, ALK_VMCTX_MEMORY_BASE, 8, false);
            a64_load(&k->code, true, REG_MEMORY_SIZE, REG_VMCTX, ALK_VMCTX_MEMORY_SIZE, 8, false);
            if (alk_chunk_entry_done(k, start))
                k->error = compile_function(&g, module->imported_function_count + i);
            if (k->error || !k->code.out_of_range || g.far_branches)
                break;
            /* a branch out of b.cond's reach: this function again, with far branches */
            k->code.size = start;
            k->code.out_of_range = false;
            k->call_count = calls;
            if (g.traps.lines)
                alk_lines_truncate(g.traps.lines, start);
            g.far_branches = true;
        }
        if (!k->error && k->code.out_of_range)
            k->error = alk_fail(&k->diag, ALK_E_INTERNAL, f->body_offset,
                                module->imported_function_count + i, ": branch out of range");
    }
}

/* bl: imm26, in words, relative to the instruction itself. */
static void patch_call(uint8_t *code, uint32_t at, uint32_t target)
{
    int32_t words = (int32_t)(target - at) / 4;
    uint32_t bl = 0x94000000u | ((uint32_t)words & 0x3ffffff);
    for (int b = 0; b < 4; b++)
        code[at + b] = (uint8_t)(bl >> (8 * b));
}

static const alk_singlepass aarch64_singlepass = {
    .compile_chunk = compile_chunk,
    .patch_call = patch_call,
    .emit_trap_stub = arm_emit_trap_stub,
    .fill = 0,                      /* udf #0 is four zero bytes */
    .code_per_wasm_byte = 5,        /* about 4-5 bytes of machine code per byte of Wasm code */
    .internal_entry = INTERNAL_ENTRY_OFFSET,
    .max_code = 128u << 20,         /* bl reaches +-128 MiB: the whole code must be within it */
    .too_large = ": more than 128 MiB of code (the reach of a direct call)",
};

static int aarch64_compile(const alk_module *module, const alk_compile_options *options,
                           alk_compiled *out, alk_diag *diag)
{
    return alk_singlepass_compile(&aarch64_singlepass, module, options, out, diag);
}

const alk_backend alk_aarch64_backend = { ALK_TARGET_AARCH64, "aarch64", aarch64_compile };
