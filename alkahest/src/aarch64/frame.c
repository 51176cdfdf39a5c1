/*
 * The operand stack and registers of the single-pass AArch64 code generator: where each value
 * lives, how it gets into a register, and spilling to canonical slots (codegen.h explains the
 * frame). Slots and locals hold 8 bytes: a general register's whole x (an i32 zero-extended),
 * an FP register's d (an f32 in the low 4 bytes).
 */
#include "codegen.h"

/* Allocation order: registers no call needs in particular first, the argument registers last
 * (x0 last of all: results arrive there). x16/x17 scratch, x18 the platform's, x19..x28
 * pinned, x29/x30 the frame record. */
static const uint8_t allocatable_gprs[] = { 9, 10, 11, 12, 13, 14, 15, 8, 7, 6, 5, 4, 3, 2, 1, 0 };
#define ALLOCATABLE_GPR_COUNT (sizeof allocatable_gprs / sizeof allocatable_gprs[0])
/* v16..v30 (caller-saved), then the argument registers; v8..v15 pin locals, v31 is scratch. */
static const uint8_t allocatable_fprs[] = { 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28,
                                            29, 30, 7, 6, 5, 4, 3, 2, 1, 0 };
#define ALLOCATABLE_FPR_COUNT (sizeof allocatable_fprs / sizeof allocatable_fprs[0])

bool arm_is_wide(alk_valtype type)
{
    return type != ALK_I32 && type != ALK_F32;
}

int arm_fsize(alk_valtype type)
{
    return type == ALK_F32 ? 4 : 8;
}

void arm_fail(codegen *g, int code, uint32_t offset, const char *detail)
{
    if (!g->error)
        g->error = alk_fail(g->diag, code, offset, g->function, *detail ? ": %s" : "", detail);
}

int32_t arm_slot_offset(const codegen *g, uint32_t position)
{
    return (int32_t)(g->slots_base + 8 * position);
}

void arm_push_reg(codegen *g, alk_valtype type, int reg)
{
    arm_push(g, (value){ .loc = LOC_REG, .type = type, .reg = (uint8_t)reg });
}

void arm_push_const(codegen *g, alk_valtype type, uint64_t bits)
{
    if (type == ALK_I32 || type == ALK_F32)
        bits = (uint32_t)bits;
    arm_push(g, (value){ .loc = LOC_CONST, .type = type, .bits = bits });
}

void arm_load_local(codegen *g, uint32_t local, int reg)
{
    const local_info *l = &g->locals[local];
    if (alk_is_float(l->type))
        a64_fload(g->code, arm_fsize(l->type), reg, l->base, l->offset);
    else
        a64_load(g->code, arm_is_wide(l->type), reg, l->base, l->offset,
                 arm_is_wide(l->type) ? 8 : 4, false);
}

void arm_store_local(codegen *g, uint32_t local, int reg)
{
    const local_info *l = &g->locals[local];
    if (alk_is_float(l->type))
        a64_fstore(g->code, 8, reg, l->base, l->offset);
    else
        a64_store(g->code, 8, reg, l->base, l->offset);
}

void arm_store_to(codegen *g, value v, int base, int32_t offset)
{
    alk_code *c = g->code;
    switch (v.loc) {
    case LOC_REG:
        if (alk_is_float(v.type))
            a64_fstore(c, 8, v.reg, base, offset);
        else
            a64_store(c, 8, v.reg, base, offset);
        return;
    case LOC_CONST:
        if (v.bits == 0) {
            a64_store(c, 8, A64_ZR, base, offset);
        } else {
            a64_mov_imm(c, true, SCRATCH_GPR, v.bits);
            a64_store(c, 8, SCRATCH_GPR, base, offset);
        }
        return;
    case LOC_LOCAL: {
        int pinned = arm_local_reg(g, v.local);
        if (pinned >= 0 && alk_is_float(v.type)) {
            a64_fstore(c, 8, pinned, base, offset);
        } else if (pinned >= 0) {
            a64_store(c, 8, pinned, base, offset);
        } else {
            const local_info *l = &g->locals[v.local];
            a64_load(c, true, SCRATCH_GPR, l->base, l->offset, 8, false);
            a64_store(c, 8, SCRATCH_GPR, base, offset);
        }
        return;
    }
    case LOC_SLOT:
        a64_load(c, true, SCRATCH_GPR, A64_SP, arm_slot_offset(g, v.position), 8, false);
        a64_store(c, 8, SCRATCH_GPR, base, offset);
        return;
    case LOC_FLAGS:
        a64_cset(c, SCRATCH_GPR, (a64_cond)v.reg);
        a64_store(c, 8, SCRATCH_GPR, base, offset);
        return;
    }
}

void arm_spill_entry(codegen *g, uint32_t position)
{
    value *v = &g->stack.values[position];
    if (v->loc == LOC_SLOT)
        return;
    value copy = *v;
    copy.position = position;
    arm_store_to(g, copy, A64_SP, arm_slot_offset(g, position));
    arm_free(g, *v);
    v->loc = LOC_SLOT;
}

void arm_spill_all(codegen *g)
{
    for (uint32_t i = 0; i < g->stack.height; i++)
        arm_spill_entry(g, i);
}

void arm_spill_local_refs(codegen *g, uint32_t local)
{
    for (uint32_t i = 0; i < g->stack.height; i++)
        if (g->stack.values[i].loc == LOC_LOCAL && g->stack.values[i].local == local)
            arm_spill_entry(g, i);
}

void arm_free_reg(codegen *g, alk_valtype type, int reg)
{
    if (alk_is_float(type))
        g->fpr_used &= ~(1u << reg);
    else
        g->gpr_used &= ~(1u << reg);
}

void arm_free(codegen *g, value v)
{
    if (v.loc == LOC_REG)
        arm_free_reg(g, v.type, v.reg);
}

/* Spills the deepest stack entry held in a register of the wanted file; false if none. */
static bool spill_one(codegen *g, bool want_float)
{
    for (uint32_t i = 0; i < g->stack.height; i++) {
        value *v = &g->stack.values[i];
        if (v->loc == LOC_REG && alk_is_float(v->type) == want_float) {
            arm_spill_entry(g, i);
            return true;
        }
    }
    return false;
}

int arm_alloc_gpr(codegen *g)
{
    for (;;) {
        for (unsigned i = 0; i < ALLOCATABLE_GPR_COUNT; i++) {
            int r = allocatable_gprs[i];
            if (!(g->gpr_used & (1u << r))) {
                g->gpr_used |= 1u << r;
                return r;
            }
        }
        if (!spill_one(g, false)) {
            arm_fail(g, ALK_E_INTERNAL, 0, "out of registers");
            return 0;
        }
    }
}

int arm_alloc_fpr(codegen *g)
{
    for (;;) {
        for (unsigned i = 0; i < ALLOCATABLE_FPR_COUNT; i++) {
            int r = allocatable_fprs[i];
            if (!(g->fpr_used & (1u << r))) {
                g->fpr_used |= 1u << r;
                return r;
            }
        }
        if (!spill_one(g, true)) {
            arm_fail(g, ALK_E_INTERNAL, 0, "out of registers");
            return 0;
        }
    }
}

int arm_take_hint(codegen *g, bool want_float)
{
    int reg = g->hint_reg;
    if (reg < 0 || g->hint_float != want_float)
        return -1;
    g->hint_reg = -1;
    if (g->hint_local != UINT32_MAX) {
        arm_spill_local_refs(g, g->hint_local);
        return reg;
    }
    uint32_t *used = want_float ? &g->fpr_used : &g->gpr_used;
    if (*used & (1u << reg))
        return -1;                  /* taken since: the operands needed it */
    *used |= 1u << reg;
    return reg;
}

void arm_claim_gpr(codegen *g, int reg)
{
    if (g->gpr_used & (1u << reg)) {
        bool moved = false;
        for (uint32_t i = 0; i < g->stack.height && !moved; i++) {
            value *v = &g->stack.values[i];
            if (v->loc == LOC_REG && !alk_is_float(v->type) && v->reg == reg) {
                int fresh = arm_alloc_gpr(g);   /* reg is still marked, so never returned */
                a64_mov(g->code, true, fresh, reg);
                v->reg = (uint8_t)fresh;
                moved = true;
            }
        }
        if (!moved) {
            arm_fail(g, ALK_E_INTERNAL, 0, "claiming a register in use");
            return;
        }
    }
    g->gpr_used |= 1u << reg;
}

void arm_release_gpr(codegen *g, int reg)
{
    g->gpr_used &= ~(1u << reg);
}

void arm_load_into(codegen *g, value v, int reg)
{
    alk_code *c = g->code;
    if (alk_is_float(v.type)) {
        int size = arm_fsize(v.type);
        switch (v.loc) {
        case LOC_REG:
            if (v.reg != reg)
                a64_fop1(c, 8, A64_FMOV, reg, v.reg);
            break;
        case LOC_CONST:
            a64_fmov_bits(c, size, reg, v.bits);
            break;
        case LOC_SLOT:
            a64_fload(c, size, reg, A64_SP, arm_slot_offset(g, v.position));
            break;
        case LOC_LOCAL:
            if (arm_local_reg(g, v.local) >= 0) {
                if (arm_local_reg(g, v.local) != reg)
                    a64_fop1(c, 8, A64_FMOV, reg, arm_local_reg(g, v.local));
            } else {
                arm_load_local(g, v.local, reg);
            }
            break;
        case LOC_FLAGS:
            break;      /* never: flags are i32 */
        }
        return;
    }
    bool wide = arm_is_wide(v.type);
    switch (v.loc) {
    case LOC_REG:
        if (v.reg != reg)
            a64_mov(c, true, reg, v.reg);
        break;
    case LOC_CONST:
        a64_mov_imm(c, wide, reg, v.bits);
        break;
    case LOC_SLOT:
        a64_load(c, wide, reg, A64_SP, arm_slot_offset(g, v.position), wide ? 8 : 4, false);
        break;
    case LOC_LOCAL:
        if (arm_local_reg(g, v.local) >= 0) {
            if (arm_local_reg(g, v.local) != reg)
                a64_mov(c, true, reg, arm_local_reg(g, v.local));
        } else {
            arm_load_local(g, v.local, reg);
        }
        break;
    case LOC_FLAGS:
        a64_cset(c, reg, (a64_cond)v.reg);
        break;
    }
}

void arm_push_flags(codegen *g, a64_cond cond)
{
    arm_push(g, (value){ .loc = LOC_FLAGS, .type = ALK_I32, .reg = (uint8_t)cond });
}

void arm_settle_flags(codegen *g)
{
    if (g->stack.height == 0 || g->stack.values[g->stack.height - 1].loc != LOC_FLAGS)
        return;
    value v = arm_pop(g);
    int reg = arm_alloc_gpr(g);          /* may spill: stores only, the flags survive */
    arm_load_into(g, v, reg);
    arm_push_reg(g, ALK_I32, reg);
}

int arm_into_reg(codegen *g, value v)
{
    if (v.loc == LOC_REG)
        return v.reg;
    int reg = alk_is_float(v.type) ? arm_alloc_fpr(g) : arm_alloc_gpr(g);
    arm_load_into(g, v, reg);
    return reg;
}

int arm_read_reg(codegen *g, value v, bool *owned)
{
    if (v.loc == LOC_LOCAL && arm_local_reg(g, v.local) >= 0) {
        *owned = false;
        return arm_local_reg(g, v.local);
    }
    *owned = true;
    return arm_into_reg(g, v);
}

void arm_branch_if(codegen *g, a64_cond cond, uint32_t label)
{
    if (!g->far_branches) {
        a64_bcond(g->code, cond, label);
        return;
    }
    uint32_t skip = alk_code_new_label(g->code);
    a64_bcond(g->code, a64_invert(cond), skip);
    a64_b(g->code, label);
    alk_code_bind(g->code, skip);
}

void arm_branch_zero(codegen *g, bool wide, bool nonzero, int reg, uint32_t label)
{
    if (!g->far_branches) {
        a64_cbz(g->code, wide, nonzero, reg, label);
        return;
    }
    uint32_t skip = alk_code_new_label(g->code);
    a64_cbz(g->code, wide, !nonzero, reg, skip);
    a64_b(g->code, label);
    alk_code_bind(g->code, skip);
}
