/*
 * Control flow and the function frame: prologue, blocks, branches (with the canonical-slot
 * rule of codegen.h), br_table, return and trap stubs.
 */
#include "codegen.h"

/* ---- Frame ------------------------------------------------------------------------------------ */

/* A stack entry as a value that knows its slot (for loads that do not pop it). */
static value peek(codegen *g, uint32_t depth)
{
    value v = *arm_top(g, depth);
    v.position = g->stack.height - 1 - depth;
    return v;
}

/* Where the k-th saved register (pinned x19.., then d8..) lives, below the vmctx's slot. */
static int32_t saved_offset(uint32_t k)
{
    return -16 - 8 * (int32_t)k;
}

/* Pairs with stp/ldp (the higher-numbered register at the lower address), an odd one alone. */
static void save_or_restore_file(codegen *g, bool restore, bool fp, int first, int count,
                                 uint32_t k)
{
    alk_code *c = g->code;
    int i = 0;
    for (; i + 1 < count; i += 2, k += 2) {
        if (restore)
            a64_ldp(c, fp, first + i + 1, first + i, A64_FP, saved_offset(k + 1), false);
        else
            a64_stp(c, fp, first + i + 1, first + i, A64_FP, saved_offset(k + 1), false);
    }
    if (i < count) {
        if (fp && restore)
            a64_fload(c, 8, first + i, A64_FP, saved_offset(k));
        else if (fp)
            a64_fstore(c, 8, first + i, A64_FP, saved_offset(k));
        else if (restore)
            a64_load(c, true, first + i, A64_FP, saved_offset(k), 8, false);
        else
            a64_store(c, 8, first + i, A64_FP, saved_offset(k));
    }
}

static void save_or_restore(codegen *g, bool restore)
{
    save_or_restore_file(g, restore, false, PINNED_GPR_FIRST, g->pinned_gprs, 0);
    save_or_restore_file(g, restore, true, PINNED_FPR_FIRST, g->pinned_fprs, g->pinned_gprs);
}

void arm_prologue(codegen *g)
{
    alk_code *c = g->code;
    a64_stp(c, false, A64_FP, A64_LR, A64_SP, -16, true);
    a64_mov_sp(c, A64_FP, A64_SP);
    /* x16 := sp - frame (sub #low; sub #high, lsl 12, a nop when high is 0: patched once the
     * frame size is known, below 16 MiB); the limit is checked before sp moves, so sp is never
     * below the limit at an instruction boundary (docs/abi.md, "Stack limit"): a frame of any
     * size traps with nothing written below it. */
    g->frame_patch = alk_code_position(c);
    a64_addsub_imm(c, true, A64_SUB, false, SCRATCH_GPR, A64_SP, 0, false);
    a64_addsub_imm(c, true, A64_SUB, false, SCRATCH_GPR, SCRATCH_GPR, 0, true);
    a64_load(c, true, SCRATCH2_GPR, REG_VMCTX, ALK_VMCTX_STACK_LIMIT, 8, false);
    a64_cmp(c, true, SCRATCH_GPR, SCRATCH2_GPR);
    arm_branch_if(g, A64_LO, arm_trap_label(g, ALK_TRAP_STACK_EXHAUSTED));
    a64_mov_sp(c, A64_SP, SCRATCH_GPR);
    save_or_restore(g, false);

    /* Parameters: into their pinned registers (never argument registers) or their slots;
     * pinned ones passed on the stack are loaded from the caller's frame. */
    int gprs = 0, fprs = 0;
    for (uint32_t i = 0; i < g->type->param_count; i++) {
        alk_valtype t = g->type->params[i];
        int pinned = arm_local_reg(g, i);
        int from = alk_is_float(t) ? (fprs < ARG_FPR_COUNT ? fprs++ : -1)
                                  : (gprs < ARG_GPR_COUNT ? 1 + gprs++ : -1);
        if (from >= 0 && pinned >= 0) {
            if (alk_is_float(t))
                a64_fop1(c, 8, A64_FMOV, pinned, from);
            else
                a64_mov(c, true, pinned, from);
        } else if (from >= 0) {
            arm_store_local(g, i, from);
        } else if (pinned >= 0) {
            arm_load_local(g, i, pinned);    /* an i32 loads 4 bytes: zero-extended */
        }
    }
    /* Declared locals start at zero: their registers, and their slots (consecutive, after the
     * register parameters' slots). */
    uint32_t first = g->type->param_count, count = g->local_count - first;
    if (count == 0)
        return;
    for (uint32_t i = first; i < g->local_count; i++) {
        int pinned = arm_local_reg(g, i);
        if (pinned >= 0 && alk_is_float(g->locals[i].type))
            a64_fmov_to_fp(c, 8, pinned, A64_ZR);
        else if (pinned >= 0)
            a64_mov_imm(c, true, pinned, 0);
    }
    int32_t start = g->locals[first].offset;
    if (count <= 8) {
        for (uint32_t i = 0; i < count; i++)
            if (arm_local_reg(g, first + i) < 0)
                a64_store(c, 8, A64_ZR, A64_SP, start + 8 * (int32_t)i);
        return;
    }
    uint32_t loop = alk_code_new_label(c);
    a64_add_const(c, true, SCRATCH_GPR, A64_SP, start);
    a64_mov_imm(c, true, SCRATCH2_GPR, count / 2);
    alk_code_bind(c, loop);
    a64_zero_pair_post(c, SCRATCH_GPR);
    a64_addsub_imm(c, true, A64_SUB, true, SCRATCH2_GPR, SCRATCH2_GPR, 1, false);
    a64_bcond(c, A64_NE, loop);
    if (count % 2)
        a64_store(c, 8, A64_ZR, SCRATCH_GPR, 0);
}

uint32_t arm_frame_size(codegen *g)
{
    uint64_t size = (uint64_t)g->slots_base + 8ull * g->stack.max_height + g->save_bytes;
    size = (size + 15) & ~15ull;
    return size > UINT32_MAX ? UINT32_MAX : (uint32_t)size;
}

void arm_patch_frame_size(codegen *g, uint32_t frame)
{
    alk_code *c = g->code;
    alk_code_patch_u32(c, g->frame_patch,
                       alk_code_read_u32(c, g->frame_patch) | (frame & 0xfff) << 10);
    alk_code_patch_u32(c, g->frame_patch + 4, frame >> 12
                       ? alk_code_read_u32(c, g->frame_patch + 4) | (frame >> 12) << 10
                       : 0xD503201Fu);                      /* nop */
}

void arm_emit_trap_stub(alk_code *c, enum alk_trap kind)
{
    a64_mov(c, true, 0, REG_VMCTX);
    a64_mov_imm(c, false, 1, (uint32_t)kind);
    a64_load(c, true, SCRATCH_GPR, REG_VMCTX, ALK_VMCTX_TRAP_HANDLER, 8, false);
    a64_blr(c, SCRATCH_GPR);
    a64_udf(c);
}

/* ---- Returning ------------------------------------------------------------------------------ */

/* Results go to x0/v0 (the first) and the caller's return area (the rest); the operand stack
 * is read, not changed. */
static void emit_return(codegen *g)
{
    alk_code *c = g->code;
    uint32_t n = g->type->result_count;
    for (uint32_t i = 1; i < n; i++)
        arm_store_to(g, peek(g, n - 1 - i), A64_FP,
                    (int32_t)(16 + g->stack_param_bytes + 8 * (i - 1)));
    if (n > 0)
        arm_load_into(g, peek(g, n - 1), 0);
    save_or_restore(g, true);
    a64_mov_sp(c, A64_SP, A64_FP);
    a64_ldp(c, false, A64_FP, A64_LR, A64_SP, 16, true);
    a64_ret(c);
}

/* ---- Blocks ---------------------------------------------------------------------------------- */

static control *push_control(codegen *g, control_kind kind, const alk_instr *in)
{
    control *f = alk_control_push(&g->controls, g->module, g->type, kind, in, g->stack.height);
    if (!f)
        arm_fail(g, ALK_E_OUT_OF_MEMORY, in ? in->offset : 0, "");
    return f;
}

void arm_begin_function(codegen *g)
{
    control *f = push_control(g, CTRL_FUNCTION, NULL);
    if (f)
        f->height = 0;
}

/* Resets the operand stack to `height` entries plus the block's results: in slots, or the
 * one result in its register. */
static void reset_stack_to_results(codegen *g, uint32_t height, const control *f)
{
    for (uint32_t i = 0; i < g->stack.height; i++)
        arm_free(g, g->stack.values[i]);
    g->stack.height = height;
    if (alk_result_in_register(f)) {
        if (alk_is_float(f->results[0]))
            g->fpr_used |= 1u;
        else
            g->gpr_used |= 1u;
        arm_push_reg(g, f->results[0], 0);
        return;
    }
    for (uint32_t i = 0; i < f->result_count; i++)
        arm_push(g, (value){ .loc = LOC_SLOT, .type = f->results[i] });
}

static void reset_stack(codegen *g, uint32_t height, uint32_t count, const alk_valtype *types)
{
    for (uint32_t i = 0; i < g->stack.height; i++)
        arm_free(g, g->stack.values[i]);
    g->stack.height = height;
    for (uint32_t i = 0; i < count; i++)
        arm_push(g, (value){ .loc = LOC_SLOT, .type = types[i] });
}

/* Before an edge into a label: every entry in its slot, except the top one when the label
 * takes it in a register (it moves there as the edge is taken). */
static void spill_for_edge(codegen *g, const control *target)
{
    uint32_t keep = target->kind != CTRL_FUNCTION && alk_result_in_register(target) ? 1 : 0;
    for (uint32_t i = 0; i + keep < g->stack.height; i++)
        arm_spill_entry(g, i);
}

/* After spill_all: the top `arity` values move down to the target's slots. */
static void move_branch_values(codegen *g, const control *target)
{
    uint32_t n = alk_branch_arity(target);
    uint32_t from = g->stack.height - n, to = target->height;
    if (from == to)
        return;
    for (uint32_t i = 0; i < n; i++) {
        a64_load(g->code, true, SCRATCH_GPR, A64_SP, arm_slot_offset(g, from + i), 8, false);
        a64_store(g->code, 8, SCRATCH_GPR, A64_SP, arm_slot_offset(g, to + i));
    }
}

/* Emits the jump (or return) of a branch to `target`; everything already in slots. */
static void emit_branch(codegen *g, control *target)
{
    if (target->kind == CTRL_FUNCTION) {
        emit_return(g);
        return;
    }
    if (alk_result_in_register(target))
        arm_load_into(g, peek(g, 0), 0);
    else
        move_branch_values(g, target);
    if (target->kind != CTRL_LOOP)
        target->targeted = true;
    a64_b(g->code, target->label);
}

static void mark_unreachable(codegen *g)
{
    reset_stack(g, g->controls.entries[g->controls.count - 1].height, 0, NULL);
    g->controls.entries[g->controls.count - 1].unreachable = true;
}

static void emit_br_table(codegen *g, const alk_instr *in)
{
    alk_code *c = g->code;
    value index = arm_pop(g);
    int reg = arm_into_reg(g, index);
    arm_spill_all(g);
    uint32_t count = in->imm.br_table.target_count;

    /* Out-of-range indices select the default entry (entry `count`). */
    a64_mov_imm(c, false, SCRATCH_GPR, count);
    a64_cmp(c, false, reg, SCRATCH_GPR);
    a64_csel(c, false, A64_LO, reg, reg, SCRATCH_GPR);
    uint32_t table = alk_code_new_label(c);
    a64_adr(c, SCRATCH_GPR, table);
    a64_load_word_entry(c, SCRATCH2_GPR, SCRATCH_GPR, reg);
    a64_addsub(c, true, A64_ADD, false, SCRATCH_GPR, SCRATCH_GPR, SCRATCH2_GPR);
    a64_br(c, SCRATCH_GPR);
    arm_free_reg(g, ALK_I32, reg);

    /* The table: one 32-bit offset from its start per entry, then one stub per entry that
     * needs value moves or returns. Stub labels are allocated consecutively in the first pass
     * (stub_base + 1, + 2, ...) and bound in the same order in the second. */
    alk_code_bind(c, table);
    uint32_t stub_base = 0;
    uint32_t depth;
    for (alk_br_table_walk w = alk_br_table_begin(in); alk_br_table_next(&w, &depth);) {
        control *target = alk_control_at(&g->controls, depth);
        if (alk_branch_needs_moves(target, g->stack.height) || target->kind == CTRL_FUNCTION) {
            if (!stub_base)
                stub_base = alk_code_new_label(c);
            a64_label_delta(c, alk_code_new_label(c), table);
        } else {
            if (target->kind != CTRL_LOOP)
                target->targeted = true;
            a64_label_delta(c, target->label, table);
        }
    }
    if (stub_base) {
        uint32_t label = stub_base;
        for (alk_br_table_walk w = alk_br_table_begin(in); alk_br_table_next(&w, &depth);) {
            control *target = alk_control_at(&g->controls, depth);
            if (alk_branch_needs_moves(target, g->stack.height) || target->kind == CTRL_FUNCTION) {
                alk_code_bind(c, ++label);
                emit_branch(g, target);
            }
        }
    }
    mark_unreachable(g);
}

static void end_block(codegen *g)
{
    control *f = &g->controls.entries[g->controls.count - 1];
    bool reachable = !f->unreachable;
    if (f->kind == CTRL_FUNCTION) {
        if (reachable)
            emit_return(g);
        g->controls.count--;
        return;
    }
    /* Nothing branches to a loop's end, nor to the end of a block nobody targets: their values
     * stay where they are. */
    if (f->kind == CTRL_LOOP || (!f->targeted && f->kind != CTRL_IF)) {
        control saved;
        alk_control_pop(&g->controls, &saved);
        if (!reachable) {
            reset_stack(g, saved.height, 0, NULL);
            g->controls.entries[g->controls.count - 1].unreachable = true;
        }
        return;
    }
    if (reachable) {
        spill_for_edge(g, f);
        if (alk_result_in_register(f))
            arm_load_into(g, peek(g, 0), 0);
    }
    if (f->kind == CTRL_IF)
        alk_code_bind(g->code, f->else_label);   /* if without else: params pass through */
    alk_code_bind(g->code, f->label);
    control saved;
    alk_control_pop(&g->controls, &saved);
    reset_stack_to_results(g, saved.height, &saved);
}

/* An i32 condition, popped: the flags of a compare just before (compare and branch fused),
 * or a register (tested by cbz/cbnz). */
typedef struct condition {
    bool flags;
    a64_cond cc;
    int reg;
} condition;

/* Pops the condition and spills the stack, as every edge to a label needs (stores only: the
 * flags and the condition's register survive). */
static condition pop_condition(codegen *g)
{
    value cond = arm_pop(g);
    if (cond.loc == LOC_FLAGS) {
        arm_spill_all(g);
        return (condition){ true, (a64_cond)cond.reg, 0 };
    }
    bool owned;
    int reg = arm_read_reg(g, cond, &owned);
    if (owned)
        arm_free_reg(g, ALK_I32, reg);       /* spills use x16 only: reg survives */
    arm_spill_all(g);
    return (condition){ false, A64_AL, reg };
}

/* Branches to `label` when the condition is non-zero (zero, when `when_zero`). */
static void branch_on(codegen *g, condition cond, bool when_zero, uint32_t label)
{
    if (cond.flags)
        arm_branch_if(g, when_zero ? a64_invert(cond.cc) : cond.cc, label);
    else
        arm_branch_zero(g, false, !when_zero, cond.reg, label);
}

bool arm_control_instr(codegen *g, const alk_instr *in)
{
    alk_code *c = g->code;
    if (alk_control_skip_dead(&g->controls, in))
        return true;
    switch (in->op) {
    case ALK_OP_NOP:
        return true;
    case ALK_OP_UNREACHABLE:
        a64_b(c, arm_trap_label(g, ALK_TRAP_UNREACHABLE));
        mark_unreachable(g);
        return true;
    case ALK_OP_BLOCK: {
        control *f = push_control(g, CTRL_BLOCK, in);
        if (f)
            f->label = alk_code_new_label(c);
        return true;
    }
    case ALK_OP_LOOP: {
        arm_spill_all(g);
        control *f = push_control(g, CTRL_LOOP, in);
        if (f) {
            f->label = alk_code_new_label(c);
            alk_code_bind(c, f->label);
        }
        return true;
    }
    case ALK_OP_IF: {
        uint32_t else_label = alk_code_new_label(c);
        branch_on(g, pop_condition(g), true, else_label);
        control *f = push_control(g, CTRL_IF, in);
        if (!f)
            return true;
        f->label = alk_code_new_label(c);
        f->else_label = else_label;
        return true;
    }
    case ALK_OP_ELSE: {
        control *f = &g->controls.entries[g->controls.count - 1];
        if (!f->unreachable) {
            spill_for_edge(g, f);
            if (alk_result_in_register(f))
                arm_load_into(g, peek(g, 0), 0);
            a64_b(c, f->label);
            f->targeted = true;
        }
        alk_code_bind(c, f->else_label);
        f->kind = CTRL_ELSE;
        f->unreachable = false;
        reset_stack(g, f->height, f->param_count, f->params);
        return true;
    }
    case ALK_OP_END:
        end_block(g);
        return true;
    case ALK_OP_BR: {
        control *target = alk_control_at(&g->controls, in->imm.index);
        if (target->kind == CTRL_FUNCTION)
            arm_spill_all(g);
        else
            spill_for_edge(g, target);
        emit_branch(g, target);
        mark_unreachable(g);
        return true;
    }
    case ALK_OP_BR_IF: {
        control *target = alk_control_at(&g->controls, in->imm.index);
        condition cond = pop_condition(g);
        if (alk_branch_needs_moves(target, g->stack.height) || target->kind == CTRL_FUNCTION) {
            uint32_t skip = alk_code_new_label(c);
            branch_on(g, cond, true, skip);
            emit_branch(g, target);
            alk_code_bind(c, skip);
        } else {
            if (target->kind != CTRL_LOOP)
                target->targeted = true;
            branch_on(g, cond, false, target->label);
        }
        return true;
    }
    case ALK_OP_BR_TABLE:
        emit_br_table(g, in);
        return true;
    case ALK_OP_RETURN:
        emit_return(g);
        mark_unreachable(g);
        return true;
    default:
        return arm_call_instr(g, in);
    }
}
