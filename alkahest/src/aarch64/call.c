/*
 * Calls: direct, imported (through the function-reference array) and indirect, and calls to
 * the runtime's builtins. Arguments go straight into the registers of docs/abi.md (x1..x7,
 * v0..v7, then the stack); values that must survive the call go to their slots (or stay:
 * constants, lazy locals, pinned locals, which are callee-saved).
 */
#include "codegen.h"

/* Operand registers do not survive calls: values below the arguments that live in one go to
 * their slots. Constants and lazy locals stay as they are. */
static void spill_registers_below(codegen *g, uint32_t base)
{
    for (uint32_t i = 0; i < base; i++)
        if (g->stack.values[i].loc == LOC_REG || g->stack.values[i].loc == LOC_FLAGS)
            arm_spill_entry(g, i);
}

/* Puts the top param_count values where the callee expects them and returns the bytes of
 * stack arguments. An argument whose register is another argument's target goes through its
 * slot; every other one moves straight into place. Never touches x8 (call_indirect's). */
static uint32_t place_arguments(codegen *g, const alk_functype *type)
{
    uint32_t n = type->param_count, base = g->stack.height - n;
    spill_registers_below(g, base);
    uint32_t gprs = 0, fprs = 0, stack = 0, gpr_targets = 0, fpr_targets = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (alk_is_float(type->params[i]) && fprs < ARG_FPR_COUNT)
            fpr_targets |= 1u << fprs++;
        else if (!alk_is_float(type->params[i]) && gprs < ARG_GPR_COUNT)
            gpr_targets |= 1u << (1 + gprs++);
    }
    /* Stack arguments first: they only use the scratch register. */
    gprs = fprs = 0;
    for (uint32_t i = 0; i < n; i++) {
        alk_valtype t = type->params[i];
        bool in_register = alk_is_float(t) ? fprs++ < ARG_FPR_COUNT : gprs++ < ARG_GPR_COUNT;
        if (in_register)
            continue;
        value v = *arm_top(g, n - 1 - i);
        v.position = base + i;
        arm_store_to(g, v, A64_SP, (int32_t)(8 * stack++));  /* all 8 bytes (docs/abi.md) */
    }
    /* A register argument sitting in another argument's target register moves to its slot. */
    gprs = fprs = 0;
    for (uint32_t i = 0; i < n; i++) {
        alk_valtype t = type->params[i];
        value *v = arm_top(g, n - 1 - i);
        int target = -1;
        if (alk_is_float(t) && fprs < ARG_FPR_COUNT)
            target = (int)fprs++;
        else if (!alk_is_float(t) && gprs < ARG_GPR_COUNT)
            target = 1 + (int)gprs++;
        if (target < 0 || v->loc != LOC_REG || v->reg == target)
            continue;
        uint32_t targets = alk_is_float(t) ? fpr_targets : gpr_targets;
        if (targets & (1u << v->reg))
            arm_spill_entry(g, base + i);
    }
    gprs = fprs = 0;
    for (uint32_t i = 0; i < n; i++) {
        alk_valtype t = type->params[i];
        value v = *arm_top(g, n - 1 - i);
        v.position = base + i;
        if (alk_is_float(t) && fprs < ARG_FPR_COUNT)
            arm_load_into(g, v, (int)fprs++);
        else if (!alk_is_float(t) && gprs < ARG_GPR_COUNT)
            arm_load_into(g, v, 1 + (int)gprs++);
    }
    return 8 * stack;
}

static void take_results(codegen *g, const alk_functype *type, uint32_t stack_bytes)
{
    uint32_t base = g->stack.height - type->param_count;
    for (uint32_t i = 0; i < base; i++)
        if (g->stack.values[i].loc == LOC_REG || g->stack.values[i].loc == LOC_FLAGS)
            arm_fail(g, ALK_E_INTERNAL, 0, "value in a register across a call");
    for (uint32_t i = base; i < g->stack.height; i++)
        arm_free(g, g->stack.values[i]);
    g->stack.height = base;
    for (uint32_t i = 0; i < type->result_count; i++) {
        alk_valtype t = type->results[i];
        if (i == 0) {
            if (alk_is_float(t))
                g->fpr_used |= 1u;
            else
                g->gpr_used |= 1u;
            arm_push_reg(g, t, 0);
            continue;
        }
        a64_load(g->code, true, SCRATCH_GPR, A64_SP, (int32_t)(stack_bytes + 8 * (i - 1)), 8,
                 false);
        a64_store(g->code, 8, SCRATCH_GPR, A64_SP, arm_slot_offset(g, g->stack.height));
        arm_push(g, (value){ .loc = LOC_SLOT, .type = t });
    }
}

/* After any call the memory may have grown: checked mode reloads its bound. */
static void after_call(codegen *g)
{
    if (g->checked)
        a64_load(g->code, true, REG_MEMORY_SIZE, REG_VMCTX, ALK_VMCTX_MEMORY_SIZE, 8, false);
}

/* Calls through a function reference may enter another instance, which sets x28/x27/x26 for
 * itself, and may reach a C function, whose i32 result is defined in w0 only. i32 values
 * must be zero-extended (checked-mode addressing adds the whole register). */
static void before_foreign_call(codegen *g)
{
    a64_store(g->code, 8, REG_VMCTX, A64_FP, -8);
}

static void after_foreign_call(codegen *g, const alk_functype *type)
{
    alk_code *c = g->code;
    a64_load(c, true, REG_VMCTX, A64_FP, -8, 8, false);
    a64_load(c, true, REG_MEMORY_BASE, REG_VMCTX, ALK_VMCTX_MEMORY_BASE, 8, false);
    after_call(g);
    if (type->result_count > 0 && type->results[0] == ALK_I32)
        a64_mov(c, false, 0, 0);
}

static void call(codegen *g, uint32_t function)
{
    alk_code *c = g->code;
    const alk_functype *type = alk_function_type(g->module, function);
    uint32_t stack_bytes = place_arguments(g, type);
    if (function < g->module->imported_function_count) {
        int32_t record = (int32_t)alk_layout_function_ref(g->layout, function);
        before_foreign_call(g);
        a64_load(c, true, 0, REG_VMCTX, record + ALK_FUNCREF_VMCTX, 8, false);
        a64_load(c, true, SCRATCH_GPR, REG_VMCTX, record + ALK_FUNCREF_CODE, 8, false);
        a64_blr(c, SCRATCH_GPR);
        after_foreign_call(g, type);
    } else {
        arm_emit_direct_call(g, function);
        after_call(g);
    }
    take_results(g, type, stack_bytes);
}

/* The function reference is found and checked first (in x8, claimed for the call), then the
 * arguments move into place as for a direct call. */
static void call_indirect(codegen *g, uint32_t type_index, uint32_t table)
{
    alk_code *c = g->code;
    const alk_functype *type = &g->module->types[type_index];
    const int ref = CALL_TARGET_GPR;
    arm_claim_gpr(g, ref);
    value index = arm_pop(g);
    bool owned;
    int reg = arm_read_reg(g, index, &owned);
    a64_load(c, true, ref, REG_VMCTX, (int32_t)alk_layout_table(g->layout, table), 8, false);
    a64_load(c, false, SCRATCH_GPR, ref, ALK_TABLE_SIZE, 4, false);
    a64_cmp(c, false, reg, SCRATCH_GPR);
    arm_branch_if(g, A64_HS, arm_trap_label(g, ALK_TRAP_UNDEFINED_ELEMENT));
    a64_load(c, true, ref, ref, ALK_TABLE_ENTRIES, 8, false);
    a64_load_entry(c, ref, ref, reg);
    if (owned)
        arm_free_reg(g, ALK_I32, reg);
    arm_branch_zero(g, true, false, ref, arm_trap_label(g, ALK_TRAP_UNINITIALIZED_ELEMENT));
    a64_load(c, false, SCRATCH_GPR, REG_VMCTX,
             (int32_t)alk_layout_type_id(g->layout, type_index), 4, false);
    a64_load(c, false, SCRATCH2_GPR, ref, ALK_FUNCREF_TYPE_ID, 4, false);
    a64_cmp(c, false, SCRATCH_GPR, SCRATCH2_GPR);
    arm_branch_if(g, A64_NE, arm_trap_label(g, ALK_TRAP_SIGNATURE_MISMATCH));
    uint32_t stack_bytes = place_arguments(g, type);   /* never touches x8 */
    before_foreign_call(g);
    a64_load(c, true, 0, ref, ALK_FUNCREF_VMCTX, 8, false);
    a64_load(c, true, SCRATCH_GPR, ref, ALK_FUNCREF_CODE, 8, false);
    a64_blr(c, SCRATCH_GPR);
    after_foreign_call(g, type);
    arm_release_gpr(g, ref);
    take_results(g, type, stack_bytes);
}

bool arm_call_instr(codegen *g, const alk_instr *in)
{
    switch (in->op) {
    case ALK_OP_CALL:
        call(g, in->imm.index);
        return true;
    case ALK_OP_CALL_INDIRECT:
        call_indirect(g, in->imm.call_indirect.type_index, in->imm.call_indirect.table);
        return true;
    default:
        return false;
    }
}

void arm_call_builtin(codegen *g, int index, const value *args, int arg_count,
                     alk_valtype result_type)
{
    alk_code *c = g->code;
    /* Arguments were popped: park those in registers in their slots; registers below too. */
    for (int i = 0; i < arg_count; i++) {
        value v = args[i];
        if (v.loc == LOC_REG || v.loc == LOC_FLAGS) {
            arm_store_to(g, v, A64_SP, arm_slot_offset(g, v.position));
            arm_free(g, v);
        }
    }
    spill_registers_below(g, g->stack.height);
    for (int i = 0; i < arg_count; i++) {
        /* builtins take integers only: x1..x5 */
        value v = args[i];
        if (v.loc == LOC_REG || v.loc == LOC_FLAGS)
            v.loc = LOC_SLOT;
        arm_load_into(g, v, 1 + i);
    }
    a64_mov(c, true, 0, REG_VMCTX);
    a64_load(c, true, SCRATCH_GPR, REG_VMCTX, ALK_VMCTX_BUILTINS, 8, false);
    a64_load(c, true, SCRATCH_GPR, SCRATCH_GPR, 8 * index, 8, false);
    a64_blr(c, SCRATCH_GPR);
    after_call(g);
    if (result_type == ALK_I32)
        a64_mov(c, false, 0, 0);        /* a C int32_t result is defined in w0 only */
    if (result_type) {
        g->gpr_used |= 1u;
        arm_push_reg(g, result_type, 0);
    }
}
