/*
 * Calls: direct, imported (through the function-reference array) and indirect, and calls to
 * the runtime's builtins; arguments go straight into the registers of docs/abi.md, values that
 * must survive the call go to their slots (or stay: constants, lazy locals, callee-saved pins).
 */
#include "codegen.h"

/* Registers do not survive calls (except the pinned rbx/r12/r13): values below the arguments
 * that live in one go to their slots. Constants and lazy locals stay as they are. */
static void spill_registers_below(codegen *g, uint32_t base)
{
    for (uint32_t i = 0; i < base; i++)
        if (g->stack.values[i].loc == LOC_REG)
            cg_spill_entry(g, i);
}

/* Puts the top param_count values where the callee expects them (docs/abi.md) and returns the
 * bytes of stack arguments. An argument whose register is another argument's target goes
 * through its slot; every other one moves straight into place. */
static uint32_t place_arguments(codegen *g, const alk_functype *type)
{
    alk_code *c = g->code;
    uint32_t n = type->param_count, base = g->stack.height - n;
    spill_registers_below(g, base);
    uint32_t gprs = 0, xmms = 0, stack = 0, gpr_targets = 0, xmm_targets = 0;
    for (uint32_t i = 0; i < n; i++) {
        alk_valtype t = type->params[i];
        if (alk_is_float(t) && xmms < ARG_XMM_COUNT)
            xmm_targets |= 1u << xmms++;
        else if (!alk_is_float(t) && gprs < ARG_GPR_COUNT)
            gpr_targets |= 1u << x64_arg_gprs[gprs++];
    }
    /* Stack arguments first: they only use the scratch register. */
    gprs = xmms = 0;
    for (uint32_t i = 0; i < n; i++) {
        alk_valtype t = type->params[i];
        bool in_register = alk_is_float(t) ? xmms++ < ARG_XMM_COUNT : gprs++ < ARG_GPR_COUNT;
        if (in_register)
            continue;
        value v = *cg_top(g, n - 1 - i);
        v.position = base + i;
        x64_mem at = x64_at(RSP, (int32_t)(8 * stack++));
        if (alk_is_float(t) && (v.loc == LOC_REG ||
                               (v.loc == LOC_LOCAL && cg_local_reg(g, v.local) >= 0))) {
            x64_movs_store(c, 8, at, v.loc == LOC_REG ? v.reg : cg_local_reg(g, v.local));
            continue;
        }
        /* all 8 bytes, an i32 zero-extended (docs/abi.md) */
        value bits = v;
        if (alk_is_float(t))
            bits.type = t == ALK_F32 ? ALK_I32 : ALK_I64;
        if (bits.loc == LOC_LOCAL && alk_is_float(t)) {
            x64_load(c, 8, SCRATCH_GPR, cg_local(g, v.local), cg_width(t), false);
        } else {
            cg_load_into(g, bits, SCRATCH_GPR);
        }
        x64_store(c, 8, at, SCRATCH_GPR);
    }
    /* A register argument sitting in another argument's target register moves to its slot. */
    gprs = xmms = 0;
    for (uint32_t i = 0; i < n; i++) {
        alk_valtype t = type->params[i];
        value *v = cg_top(g, n - 1 - i);
        int target = -1;
        if (alk_is_float(t) && xmms < ARG_XMM_COUNT)
            target = (int)xmms++;
        else if (!alk_is_float(t) && gprs < ARG_GPR_COUNT)
            target = x64_arg_gprs[gprs++];
        if (target < 0 || v->loc != LOC_REG || v->reg == target)
            continue;
        uint32_t targets = alk_is_float(t) ? xmm_targets : gpr_targets;
        if (targets & (1u << v->reg))
            cg_spill_entry(g, base + i);
    }
    gprs = xmms = 0;
    for (uint32_t i = 0; i < n; i++) {
        alk_valtype t = type->params[i];
        value v = *cg_top(g, n - 1 - i);
        v.position = base + i;
        if (alk_is_float(t) && xmms < ARG_XMM_COUNT)
            cg_load_into(g, v, (int)xmms++);
        else if (!alk_is_float(t) && gprs < ARG_GPR_COUNT)
            cg_load_into(g, v, x64_arg_gprs[gprs++]);
    }
    uint32_t extra_results = type->result_count > 1 ? type->result_count - 1 : 0;
    uint32_t outgoing = 8 * (stack + extra_results);
    if (outgoing > g->outgoing_max)
        g->outgoing_max = outgoing;
    return 8 * stack;
}

static void take_results(codegen *g, const alk_functype *type, uint32_t stack_bytes)
{
    uint32_t base = g->stack.height - type->param_count;
    for (uint32_t i = 0; i < base; i++)
        if (g->stack.values[i].loc == LOC_REG || g->stack.values[i].loc == LOC_FLAGS)
            cg_fail(g, ALK_E_INTERNAL, 0, ": value in a register across a call");
    for (uint32_t i = base; i < g->stack.height; i++)
        cg_free(g, g->stack.values[i]);
    g->stack.height = base;
    cg_repin_after_call(g);
    for (uint32_t i = 0; i < type->result_count; i++) {
        alk_valtype t = type->results[i];
        if (i == 0) {
            if (alk_is_float(t)) {
                g->xmm_used |= 1u;
                cg_push_reg(g, t, 0);
            } else {
                g->gpr_used |= 1u << RAX;
                cg_push_reg(g, t, RAX);
            }
            continue;
        }
        x64_load(g->code, 8, SCRATCH_GPR, x64_at(RSP, (int32_t)(stack_bytes + 8 * (i - 1))), 8,
                 false);
        x64_store(g->code, 8, cg_slot(g, g->stack.height), SCRATCH_GPR);
        cg_push(g, (value){ .loc = LOC_SLOT, .type = t });
    }
}

/* Calls through a function reference may enter another instance, which sets r15/r14 for
 * itself, and may reach a C function, whose i32 result is defined in eax only. i32 values
 * must be zero-extended (guard-mode addressing uses the whole register). */
static void before_foreign_call(codegen *g)
{
    x64_store(g->code, 8, x64_at(RBP, -8), R15);
}

static void after_foreign_call(codegen *g, const alk_functype *type)
{
    x64_load(g->code, 8, R15, x64_at(RBP, -8), 8, false);
    x64_load(g->code, 8, R14, x64_at(R15, ALK_VMCTX_MEMORY_BASE), 8, false);
    if (type->result_count > 0 && type->results[0] == ALK_I32)
        x64_mov_rr(g->code, 4, RAX, RAX);
}

void cg_call(codegen *g, uint32_t function)
{
    const alk_functype *type = alk_function_type(g->module, function);
    cg_unpin_for_call(g);
    uint32_t stack_bytes = place_arguments(g, type);
    if (function < g->module->imported_function_count) {
        int32_t record = (int32_t)alk_layout_function_ref(g->layout, function);
        before_foreign_call(g);
        x64_load(g->code, 8, RDI, x64_at(R15, record + ALK_FUNCREF_VMCTX), 8, false);
        x64_call_mem(g->code, x64_at(R15, record + ALK_FUNCREF_CODE));
        after_foreign_call(g, type);
    } else {
        cg_emit_direct_call(g, function);
    }
    take_results(g, type, stack_bytes);
}

/* The function reference is found and checked first (in r10, claimed for the call), then
 * the arguments move into place as for a direct call. */
void cg_call_indirect(codegen *g, uint32_t type_index, uint32_t table)
{
    alk_code *c = g->code;
    const alk_functype *type = &g->module->types[type_index];
    cg_claim_gpr(g, RAX);                   /* the function reference; never an argument */
    value index = cg_pop(g);
    int reg = cg_into_reg(g, index);
    x64_load(c, 8, RAX, x64_at(R15, (int32_t)alk_layout_table(g->layout, table)), 8, false);
    x64_alu_rm(c, ALU_CMP, 4, (x64_reg)reg, x64_at(RAX, ALK_TABLE_SIZE));
    x64_jcc(c, CC_AE, cg_trap_label(g, ALK_TRAP_UNDEFINED_ELEMENT));
    x64_load(c, 8, RAX, x64_at(RAX, ALK_TABLE_ENTRIES), 8, false);
    x64_load(c, 8, RAX, x64_at_index(RAX, (x64_reg)reg, 8, 0), 8, false);
    cg_free(g, (value){ .loc = LOC_REG, .type = ALK_I32, .reg = (uint8_t)reg });
    x64_test_rr(c, 8, RAX, RAX);
    x64_jcc(c, CC_E, cg_trap_label(g, ALK_TRAP_UNINITIALIZED_ELEMENT));
    x64_load(c, 4, SCRATCH_GPR, x64_at(R15, (int32_t)alk_layout_type_id(g->layout, type_index)),
             4, false);
    x64_alu_rm(c, ALU_CMP, 4, SCRATCH_GPR, x64_at(RAX, ALK_FUNCREF_TYPE_ID));
    x64_jcc(c, CC_NE, cg_trap_label(g, ALK_TRAP_SIGNATURE_MISMATCH));
    cg_unpin_for_call(g);
    uint32_t stack_bytes = place_arguments(g, type);   /* never touches rax */
    before_foreign_call(g);
    x64_load(c, 8, RDI, x64_at(RAX, ALK_FUNCREF_VMCTX), 8, false);
    x64_call_mem(c, x64_at(RAX, ALK_FUNCREF_CODE));
    after_foreign_call(g, type);
    cg_release_gpr(g, RAX);
    take_results(g, type, stack_bytes);
}

void cg_call_builtin(codegen *g, int index, const value *args, int arg_count,
                     alk_valtype result_type)
{
    alk_code *c = g->code;
    /* Arguments were popped: park those in registers in their slots; registers below too. */
    for (int i = 0; i < arg_count; i++) {
        value v = args[i];
        if (v.loc == LOC_REG) {
            cg_store_to(g, v, cg_slot(g, v.position));
            cg_free(g, v);
        }
    }
    spill_registers_below(g, g->stack.height);
    cg_unpin_for_call(g);
    for (int i = 0; i < arg_count; i++) {
        /* builtins take integers only: rsi, rdx, rcx, r8, r9 */
        value v = args[i];
        if (v.loc == LOC_REG)
            v.loc = LOC_SLOT;
        cg_load_into(g, v, x64_arg_gprs[i]);
    }
    x64_mov_rr(c, 8, RDI, R15);
    x64_load(c, 8, RAX, x64_at(R15, ALK_VMCTX_BUILTINS), 8, false);
    x64_call_mem(c, x64_at(RAX, 8 * index));
    cg_repin_after_call(g);
    if (result_type == ALK_I32)
        x64_mov_rr(c, 4, RAX, RAX);     /* a C int32_t result is defined in eax only */
    if (result_type) {
        g->gpr_used |= 1u << RAX;
        cg_push_reg(g, result_type, RAX);
    }
}
