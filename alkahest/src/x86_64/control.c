/*
 * Control flow, calls and the function frame: prologue, blocks, branches (with the canonical-slot
 * rule of codegen.h), return, direct/imported/indirect calls, builtins and trap stubs.
 */
#include "codegen.h"

/* ---- Frame ------------------------------------------------------------------------------------ */

/* A stack entry as a value that knows its slot (for loads that do not pop it). */
static value peek(codegen *g, uint32_t depth)
{
    value v = *cg_top(g, depth);
    v.position = g->stack.height - 1 - depth;
    return v;
}

void cg_prologue(codegen *g)
{
    alk_code *c = g->code;
    x64_push(c, RBP);
    x64_mov_rr(c, 8, RBP, RSP);
    /* lea rax, [rsp - frame] (disp32 always, patched once the frame size is known); the limit
     * is checked before rsp moves, so rsp is never below the limit at an instruction boundary
     * (docs/abi.md, "Stack limit"): a frame of any size traps with nothing written below it. */
    alk_code_byte(c, 0x48);
    alk_code_byte(c, 0x8D);
    alk_code_byte(c, 0x84);
    alk_code_byte(c, 0x24);
    g->frame_patch = alk_code_position(c);
    alk_code_u32(c, 0);
    x64_alu_rm(c, ALU_CMP, 8, RAX, x64_at(R15, ALK_VMCTX_STACK_LIMIT));
    x64_jcc(c, CC_B, cg_trap_label(g, ALK_TRAP_STACK_EXHAUSTED));
    x64_mov_rr(c, 8, RSP, RAX);
    /* The caller's rbx/r12/r13, when this function keeps locals in them. */
    for (int i = 0; i < g->pinned_gprs && i < PINNED_CALLEE_SAVED; i++)
        x64_store(c, 8, x64_at(RBP, -16 - 8 * i), x64_pinned_gprs[i]);

    /* Parameters, in two phases because a pin may be an argument register (r9): first every
     * register argument moves to a pin that is not one, or to its slot; then the other pinned
     * parameters load from their slots (the caller's, for those passed on the stack). */
    int gprs = 0, xmms = 0;
    for (uint32_t i = 0; i < g->type->param_count; i++) {
        alk_valtype t = g->type->params[i];
        int size = t == ALK_F32 ? 4 : 8;
        int pinned = cg_local_reg(g, i);
        if (alk_is_float(t)) {
            int from = xmms < ARG_XMM_COUNT ? xmms++ : -1;
            if (pinned >= 0 && from >= 0)
                x64_movaps(c, pinned, from);    /* xmm8.. are never argument registers */
            else if (from >= 0)
                x64_movs_store(c, size, cg_local(g, i), from);
        } else {
            int from = gprs < ARG_GPR_COUNT ? (int)x64_arg_gprs[gprs++] : -1;
            bool direct = pinned >= 0 && pinned != R8 && pinned != R9;
            if (from >= 0 && direct)
                x64_mov_rr(c, 8, (x64_reg)pinned, (x64_reg)from);
            else if (from >= 0)
                x64_store(c, 8, cg_local(g, i), (x64_reg)from);
        }
    }
    gprs = xmms = 0;
    for (uint32_t i = 0; i < g->type->param_count; i++) {
        alk_valtype t = g->type->params[i];
        int pinned = cg_local_reg(g, i);
        bool in_register = alk_is_float(t) ? xmms++ < ARG_XMM_COUNT : gprs++ < ARG_GPR_COUNT;
        if (pinned < 0)
            continue;
        if (alk_is_float(t)) {
            if (!in_register)
                x64_movs_load(c, t == ALK_F32 ? 4 : 8, pinned, cg_local(g, i));
        } else if (!in_register || pinned == R8 || pinned == R9) {
            /* an i32 must arrive zero-extended: load 4 bytes */
            x64_load(c, cg_width(t), (x64_reg)pinned, cg_local(g, i), cg_width(t), false);
        }
    }
    /* Declared locals start at zero: their slots (consecutive, below the parameters' slots)
     * and their registers. */
    uint32_t first = g->type->param_count, count = g->local_count - first;
    if (count == 0)
        return;
    for (uint32_t i = first; i < g->local_count; i++) {
        int pinned = cg_local_reg(g, i);
        if (pinned >= 0 && alk_is_float(g->locals[i].type))
            x64_sse_logic(c, SSE_XOR, pinned, pinned);
        else if (pinned >= 0)
            x64_alu_rr(c, ALU_XOR, 4, (x64_reg)pinned, (x64_reg)pinned);
    }
    x64_alu_rr(c, ALU_XOR, 4, RAX, RAX);
    if (count <= 8) {
        for (uint32_t i = first; i < g->local_count; i++)
            if (cg_local_reg(g, i) < 0)
                x64_store(c, 8, cg_local(g, i), RAX);
    } else {
        x64_lea(c, 8, RDI, cg_local(g, g->local_count - 1));
        x64_mov_ri(c, 4, RCX, count);
        alk_code_byte(c, 0xF3);              /* rep stosq */
        alk_code_byte(c, 0x48);
        alk_code_byte(c, 0xAB);
    }
}

uint32_t cg_frame_size(codegen *g)
{
    uint32_t size = g->slots_base + 8 * g->stack.max_height + g->outgoing_max;
    return (size + 15) & ~15u;
}

void cg_emit_trap_stub(alk_code *c, enum alk_trap kind)
{
    x64_mov_rr(c, 8, RDI, R15);
    x64_mov_ri(c, 4, RSI, (uint32_t)kind);
    x64_call_mem(c, x64_at(R15, ALK_VMCTX_TRAP_HANDLER));
    x64_ud2(c);
}

/* ---- Returning ------------------------------------------------------------------------------ */

/* Results go to rax/xmm0 (the first) and the caller's return area (the rest); the operand
 * stack is read, not changed. */
static void emit_return(codegen *g)
{
    uint32_t n = g->type->result_count;
    for (uint32_t i = 1; i < n; i++) {
        value v = peek(g, n - 1 - i);
        cg_store_to(g, v, x64_at(RBP, (int32_t)(16 + g->stack_param_bytes + 8 * (i - 1))));
    }
    if (n > 0) {
        value v = peek(g, n - 1);
        cg_load_into(g, v, alk_is_float(v.type) ? 0 : RAX);
    }
    for (int i = 0; i < g->pinned_gprs && i < PINNED_CALLEE_SAVED; i++)
        x64_load(g->code, 8, x64_pinned_gprs[i], x64_at(RBP, -16 - 8 * i), 8, false);
    x64_leave(g->code);
    x64_ret(g->code);
}

/* ---- Blocks ---------------------------------------------------------------------------------- */

static control *push_control(codegen *g, control_kind kind, const alk_instr *in)
{
    control *f = alk_control_push(&g->controls, g->module, g->type, kind, in, g->stack.height);
    if (!f)
        cg_fail(g, ALK_E_OUT_OF_MEMORY, in ? in->offset : 0, "");
    return f;
}

void cg_begin_function(codegen *g)
{
    control *f = push_control(g, CTRL_FUNCTION, NULL);
    if (f)
        f->height = 0;
}

/* Resets the operand stack to `height` entries plus `count` values of `types` in slots. */
static int result_register(const control *f)
{
    return alk_is_float(f->results[0]) ? 0 : RAX;
}

/* Resets the operand stack to `height` entries plus the block's values: in slots, or the one
 * result in its register. */
static void reset_stack_to(codegen *g, uint32_t height, const control *f, bool results)
{
    for (uint32_t i = 0; i < g->stack.height; i++)
        cg_free(g, g->stack.values[i]);
    g->stack.height = height;
    uint32_t count = results ? f->result_count : f->param_count;
    const alk_valtype *types = results ? f->results : f->params;
    if (results && alk_result_in_register(f)) {
        int reg = result_register(f);
        if (alk_is_float(types[0]))
            g->xmm_used |= 1u << reg;
        else
            g->gpr_used |= 1u << reg;
        cg_push_reg(g, types[0], reg);
        return;
    }
    for (uint32_t i = 0; i < count; i++)
        cg_push(g, (value){ .loc = LOC_SLOT, .type = types[i] });
}

static void reset_stack(codegen *g, uint32_t height, uint32_t count, const alk_valtype *types)
{
    for (uint32_t i = 0; i < g->stack.height; i++)
        cg_free(g, g->stack.values[i]);
    g->stack.height = height;
    for (uint32_t i = 0; i < count; i++)
        cg_push(g, (value){ .loc = LOC_SLOT, .type = types[i] });
}

/* Before an edge into a label: every entry in its slot, except the top one when the label
 * takes it in a register (it moves there as the edge is taken). */
static void spill_for_edge(codegen *g, const control *target)
{
    uint32_t keep = target->kind != CTRL_FUNCTION && alk_result_in_register(target) ? 1 : 0;
    for (uint32_t i = 0; i + keep < g->stack.height; i++)
        cg_spill_entry(g, i);
}

/* After spill_all: the top `arity` values move down to the target's slots. */
static void move_branch_values(codegen *g, const control *target)
{
    uint32_t n = alk_branch_arity(target);
    uint32_t from = g->stack.height - n, to = target->height;
    if (from == to)
        return;
    for (uint32_t i = 0; i < n; i++) {
        x64_load(g->code, 8, SCRATCH_GPR, cg_slot(g, from + i), 8, false);
        x64_store(g->code, 8, cg_slot(g, to + i), SCRATCH_GPR);
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
        cg_load_into(g, peek(g, 0), result_register(target));
    else
        move_branch_values(g, target);
    if (target->kind != CTRL_LOOP)
        target->targeted = true;
    x64_jmp(g->code, target->label);
}

static void mark_unreachable(codegen *g)
{
    reset_stack(g, g->controls.entries[g->controls.count - 1].height, 0, NULL);
    g->controls.entries[g->controls.count - 1].unreachable = true;
}

static void emit_br_table(codegen *g, const alk_instr *in)
{
    alk_code *c = g->code;
    value index = cg_pop(g);
    int reg = cg_into_reg(g, index);
    cg_spill_all(g);
    uint32_t count = in->imm.br_table.target_count;

    /* Out-of-range indices select the default entry (entry `count`). */
    x64_mov_ri(c, 4, SCRATCH_GPR, count);
    x64_alu_rr(c, ALU_CMP, 4, (x64_reg)reg, SCRATCH_GPR);
    x64_cmov(c, CC_AE, 4, (x64_reg)reg, SCRATCH_GPR);
    uint32_t table = alk_code_new_label(c);
    x64_lea(c, 8, SCRATCH_GPR, x64_at_label(table));
    x64_load(c, 8, (x64_reg)reg, x64_at_index(SCRATCH_GPR, (x64_reg)reg, 4, 0), 4, true);
    x64_alu_rr(c, ALU_ADD, 8, (x64_reg)reg, SCRATCH_GPR);
    x64_jmp_r(c, (x64_reg)reg);
    cg_free(g, (value){ .loc = LOC_REG, .type = ALK_I32, .reg = (uint8_t)reg });

    /* The table: one 32-bit offset per entry, then one stub per entry that needs value moves
     * or returns. */
    alk_code_align(c, 4, 0xCC);
    alk_code_bind(c, table);
    /* Stub labels are allocated consecutively in the first pass (stub_base + 1, + 2, ...) and
     * bound in the same order in the second. */
    uint32_t stub_base = 0;
    uint32_t depth;
    for (alk_br_table_walk w = alk_br_table_begin(in); alk_br_table_next(&w, &depth);) {
        control *target = alk_control_at(&g->controls, depth);
        if (alk_branch_needs_moves(target, g->stack.height) || target->kind == CTRL_FUNCTION) {
            if (!stub_base)
                stub_base = alk_code_new_label(c);
            x64_label_delta(c, alk_code_new_label(c), table);
        } else {
            if (target->kind != CTRL_LOOP)
                target->targeted = true;
            x64_label_delta(c, target->label, table);
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

static void end_block(codegen *g, const alk_instr *in)
{
    control *f = &g->controls.entries[g->controls.count - 1];
    bool reachable = !f->unreachable;
    if (f->kind == CTRL_FUNCTION) {
        if (reachable)
            emit_return(g);
        g->controls.count--;
        return;
    }
    (void)in;
    if (f->kind == CTRL_LOOP) {
        /* Nothing branches to a loop's end: it is reached by falling through only. */
        control saved;
        alk_control_pop(&g->controls, &saved);
        if (!reachable) {
            reset_stack(g, saved.height, 0, NULL);
            g->controls.entries[g->controls.count - 1].unreachable = true;
        }
        return;
    }
    bool has_false_path = f->kind == CTRL_IF;
    if (!f->targeted && !has_false_path) {
        /* A block nobody branches to: its values stay where they are. */
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
            cg_load_into(g, peek(g, 0), result_register(f));
    }
    if (has_false_path)
        alk_code_bind(g->code, f->else_label);   /* if without else: params pass through */
    alk_code_bind(g->code, f->label);
    control saved;
    alk_control_pop(&g->controls, &saved);
    reset_stack_to(g, saved.height, &saved, true);
}

/* Pops an i32 condition, spills the stack (as every edge to a label needs), and leaves the
 * flags so that the returned condition holds when the value is non-zero (or zero, when
 * `when_zero`). A compare just before is used as is (compare and branch fused). */
static x64_cond pop_condition(codegen *g, bool when_zero)
{
    value cond = cg_pop(g);
    if (cond.loc == LOC_FLAGS) {
        cg_spill_all(g);                    /* moves only: the compare's flags survive */
        return when_zero ? x64_invert((x64_cond)cond.reg) : (x64_cond)cond.reg;
    }
    int reg = cg_into_reg(g, cond);
    cg_free(g, (value){ .loc = LOC_REG, .type = ALK_I32, .reg = (uint8_t)reg });
    cg_spill_all(g);
    x64_test_rr(g->code, 4, (x64_reg)reg, (x64_reg)reg);
    return when_zero ? CC_E : CC_NE;
}

bool cg_control_instr(codegen *g, const alk_instr *in)
{
    alk_code *c = g->code;
    if (alk_control_skip_dead(&g->controls, in))
        return true;
    switch (in->op) {
    case ALK_OP_NOP:
        return true;
    case ALK_OP_UNREACHABLE:
        x64_jmp(c, cg_trap_label(g, ALK_TRAP_UNREACHABLE));
        mark_unreachable(g);
        return true;
    case ALK_OP_BLOCK: {
        control *f = push_control(g, CTRL_BLOCK, in);
        if (f)
            f->label = alk_code_new_label(c);
        return true;
    }
    case ALK_OP_LOOP: {
        cg_spill_all(g);
        control *f = push_control(g, CTRL_LOOP, in);
        if (f) {
            f->label = alk_code_new_label(c);
            alk_code_bind(c, f->label);
        }
        return true;
    }
    case ALK_OP_IF: {
        x64_cond jump_if_false = pop_condition(g, true);
        control *f = push_control(g, CTRL_IF, in);
        if (!f)
            return true;
        f->label = alk_code_new_label(c);
        f->else_label = alk_code_new_label(c);
        x64_jcc(c, jump_if_false, f->else_label);
        return true;
    }
    case ALK_OP_ELSE: {
        control *f = &g->controls.entries[g->controls.count - 1];
        if (!f->unreachable) {
            spill_for_edge(g, f);
            if (alk_result_in_register(f))
                cg_load_into(g, peek(g, 0), result_register(f));
            x64_jmp(c, f->label);
            f->targeted = true;
        }
        alk_code_bind(c, f->else_label);
        f->kind = CTRL_ELSE;
        f->unreachable = false;
        reset_stack(g, f->height, f->param_count, f->params);
        return true;
    }
    case ALK_OP_END:
        end_block(g, in);
        return true;
    case ALK_OP_BR: {
        control *target = alk_control_at(&g->controls, in->imm.index);
        if (target->kind == CTRL_FUNCTION)
            cg_spill_all(g);
        else
            spill_for_edge(g, target);
        emit_branch(g, target);
        mark_unreachable(g);
        return true;
    }
    case ALK_OP_BR_IF: {
        control *target = alk_control_at(&g->controls, in->imm.index);
        x64_cond taken = pop_condition(g, false);
        if (alk_branch_needs_moves(target, g->stack.height) || target->kind == CTRL_FUNCTION) {
            uint32_t skip = alk_code_new_label(c);
            x64_jcc(c, x64_invert(taken), skip);
            emit_branch(g, target);
            alk_code_bind(c, skip);
        } else {
            if (target->kind != CTRL_LOOP)
                target->targeted = true;
            x64_jcc(c, taken, target->label);
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
    case ALK_OP_CALL:
        cg_call(g, in->imm.index);
        return true;
    case ALK_OP_CALL_INDIRECT:
        cg_call_indirect(g, in->imm.call_indirect.type_index, in->imm.call_indirect.table);
        return true;
    default:
        return false;
    }
}
