/*
 * The operand stack and registers of the single-pass code generator: where each value lives,
 * how it gets into a register, and spilling to canonical slots (codegen.h explains the frame).
 */
#include "codegen.h"

const x64_reg x64_arg_gprs[ARG_GPR_COUNT] = { RSI, RDX, RCX, R8, R9 };

const x64_reg x64_pinned_gprs[PINNED_GPR_COUNT] = { RBX, R12, R13, R10, R9 };

/* Allocation order: registers that no instruction or call needs in particular come first.
 * rbx, r12 and r13 are for pinned locals only; r10, r9 and xmm8..xmm13 when a function pins
 * locals in them (their gpr_used/pinned_xmms bits are then set for the whole function). */
static const x64_reg allocatable_gprs[] = { R10, R9, R8, RDI, RSI, RAX, RDX, RCX };
#define ALLOCATABLE_GPR_COUNT (sizeof allocatable_gprs / sizeof allocatable_gprs[0])
#define ALLOCATABLE_XMM_COUNT 15   /* xmm0..xmm14; xmm15 is scratch */

int cg_width(alk_valtype type)
{
    return type == ALK_I32 || type == ALK_F32 ? 4 : 8;
}

void cg_fail(codegen *g, int code, uint32_t offset, const char *detail)
{
    if (!g->error)
        g->error = alk_fail(g->diag, code, offset, g->function, *detail ? ": %s" : "", detail);
}

x64_mem cg_slot(codegen *g, uint32_t position)
{
    return x64_at(RBP, -(int32_t)(g->slots_base + 8 * (position + 1)));
}

x64_mem cg_local(codegen *g, uint32_t local)
{
    return x64_at(RBP, g->locals[local].offset);
}

void cg_push_reg(codegen *g, alk_valtype type, int reg)
{
    cg_push(g, (value){ .loc = LOC_REG, .type = type, .reg = (uint8_t)reg });
}

void cg_push_const(codegen *g, alk_valtype type, uint64_t bits)
{
    if (type == ALK_I32 || type == ALK_F32)
        bits = (uint32_t)bits;
    cg_push(g, (value){ .loc = LOC_CONST, .type = type, .bits = bits });
}

static void store_reg(codegen *g, alk_valtype type, int reg, x64_mem dst)
{
    if (alk_is_float(type))
        x64_movs_store(g->code, type == ALK_F32 ? 4 : 8, dst, reg);
    else
        x64_store(g->code, 8, dst, (x64_reg)reg);
}

void cg_spill_entry(codegen *g, uint32_t position)
{
    value *v = &g->stack.values[position];
    x64_mem slot = cg_slot(g, position);
    switch (v->loc) {
    case LOC_SLOT:
        return;
    case LOC_REG:
        store_reg(g, v->type, v->reg, slot);
        cg_free(g, *v);
        break;
    case LOC_CONST:
        /* 32-bit values are kept zero-extended in all 8 bytes of a slot, like in registers */
        if ((int64_t)v->bits >= INT32_MIN && (int64_t)v->bits <= INT32_MAX &&
            !(cg_width(v->type) == 4 && v->bits > INT32_MAX)) {
            x64_store_imm(g->code, 8, slot, (int32_t)v->bits);
        } else {
            x64_mov_ri(g->code, 8, SCRATCH_GPR, v->bits);
            x64_store(g->code, 8, slot, SCRATCH_GPR);
        }
        break;
    case LOC_LOCAL: {
        int pinned = cg_local_reg(g, v->local);
        if (pinned >= 0 && alk_is_float(v->type)) {
            x64_movs_store(g->code, v->type == ALK_F32 ? 4 : 8, slot, pinned);
        } else if (pinned >= 0) {
            x64_store(g->code, 8, slot, (x64_reg)pinned);
        } else {
            x64_load(g->code, 8, SCRATCH_GPR, cg_local(g, v->local), cg_width(v->type), false);
            x64_store(g->code, 8, slot, SCRATCH_GPR);
        }
        break;
    }
    case LOC_FLAGS:
        x64_setcc(g->code, (x64_cond)v->reg, SCRATCH_GPR);
        x64_movzx8_rr(g->code, SCRATCH_GPR, SCRATCH_GPR);
        x64_store(g->code, 8, slot, SCRATCH_GPR);
        break;
    }
    v->loc = LOC_SLOT;
}

void cg_spill_all(codegen *g)
{
    for (uint32_t i = 0; i < g->stack.height; i++)
        cg_spill_entry(g, i);
}

void cg_spill_local_refs(codegen *g, uint32_t local)
{
    for (uint32_t i = 0; i < g->stack.height; i++)
        if (g->stack.values[i].loc == LOC_LOCAL && g->stack.values[i].local == local)
            cg_spill_entry(g, i);
}

void cg_free(codegen *g, value v)
{
    if (v.loc != LOC_REG)
        return;
    if (alk_is_float(v.type))
        g->xmm_used &= ~(1u << v.reg);
    else
        g->gpr_used &= ~(1u << v.reg);
}

/* Spills the deepest stack entry held in a register of the wanted file; false if none. */
static bool spill_one(codegen *g, bool want_float)
{
    for (uint32_t i = 0; i < g->stack.height; i++) {
        value *v = &g->stack.values[i];
        if (v->loc == LOC_REG && alk_is_float(v->type) == want_float) {
            cg_spill_entry(g, i);
            return true;
        }
    }
    return false;
}

int cg_alloc_gpr(codegen *g)
{
    for (;;) {
        for (unsigned i = 0; i < ALLOCATABLE_GPR_COUNT; i++) {
            x64_reg r = allocatable_gprs[i];
            if (!(g->gpr_used & (1u << r))) {
                g->gpr_used |= 1u << r;
                return r;
            }
        }
        if (!spill_one(g, false)) {
            cg_fail(g, ALK_E_INTERNAL, 0, "out of registers");
            return RAX;
        }
    }
}

int cg_alloc_xmm(codegen *g)
{
    for (;;) {
        for (int r = 0; r < ALLOCATABLE_XMM_COUNT; r++) {
            if (!((g->xmm_used | g->pinned_xmms) & (1u << r))) {
                g->xmm_used |= 1u << r;
                return r;
            }
        }
        if (!spill_one(g, true)) {
            cg_fail(g, ALK_E_INTERNAL, 0, "out of registers");
            return 0;
        }
    }
}

void cg_claim_gpr(codegen *g, x64_reg reg)
{
    if (g->gpr_used & (1u << reg)) {
        bool moved = false;
        for (uint32_t i = 0; i < g->stack.height && !moved; i++) {
            value *v = &g->stack.values[i];
            if (v->loc == LOC_REG && !alk_is_float(v->type) && v->reg == reg) {
                int fresh = cg_alloc_gpr(g);   /* reg is still marked, so never returned */
                x64_mov_rr(g->code, 8, (x64_reg)fresh, reg);
                v->reg = (uint8_t)fresh;
                moved = true;
            }
        }
        if (!moved) {
            /* Held by a value the caller popped: claims must come before pops. */
            cg_fail(g, ALK_E_INTERNAL, 0, "claiming a register in use");
            return;
        }
    }
    g->gpr_used |= 1u << reg;
}

void cg_release_gpr(codegen *g, x64_reg reg)
{
    g->gpr_used &= ~(1u << reg);
}

void cg_load_into(codegen *g, value v, int reg)
{
    alk_code *c = g->code;
    if (alk_is_float(v.type)) {
        int size = v.type == ALK_F32 ? 4 : 8;
        switch (v.loc) {
        case LOC_REG:
            if (v.reg != reg)
                x64_movaps(c, reg, v.reg);
            break;
        case LOC_CONST:
            if (v.bits == 0) {
                x64_sse_logic(c, SSE_XOR, reg, reg);
            } else {
                x64_mov_ri(c, size, SCRATCH_GPR, v.bits);
                x64_movq_to_xmm(c, size, reg, SCRATCH_GPR);
            }
            break;
        case LOC_SLOT:
            x64_movs_load(c, size, reg, cg_slot(g, v.position));
            break;
        case LOC_LOCAL:
            if (cg_local_reg(g, v.local) >= 0) {
                if (cg_local_reg(g, v.local) != reg)
                    x64_movaps(c, reg, cg_local_reg(g, v.local));
            } else {
                x64_movs_load(c, size, reg, cg_local(g, v.local));
            }
            break;
        }
        return;
    }
    int w = cg_width(v.type);
    switch (v.loc) {
    case LOC_REG:
        if (v.reg != reg)
            x64_mov_rr(c, 8, (x64_reg)reg, (x64_reg)v.reg);
        break;
    case LOC_CONST:
        x64_mov_ri_keep_flags(c, w, (x64_reg)reg, v.bits);
        break;
    case LOC_SLOT:
        x64_load(c, w, (x64_reg)reg, cg_slot(g, v.position), w, false);
        break;
    case LOC_LOCAL:
        if (cg_local_reg(g, v.local) >= 0) {
            if (cg_local_reg(g, v.local) != reg)
                x64_mov_rr(c, w, (x64_reg)reg, (x64_reg)cg_local_reg(g, v.local));
        } else {
            x64_load(c, w, (x64_reg)reg, cg_local(g, v.local), w, false);
        }
        break;
    case LOC_FLAGS:
        x64_setcc(c, (x64_cond)v.reg, (x64_reg)reg);
        x64_movzx8_rr(c, (x64_reg)reg, (x64_reg)reg);
        break;
    }
}

void cg_push_flags(codegen *g, x64_cond cc)
{
    cg_push(g, (value){ .loc = LOC_FLAGS, .type = ALK_I32, .reg = (uint8_t)cc });
}

void cg_settle_flags(codegen *g)
{
    if (g->stack.height == 0 || g->stack.values[g->stack.height - 1].loc != LOC_FLAGS)
        return;
    value v = cg_pop(g);
    int reg = cg_alloc_gpr(g);          /* may spill: stores only, the flags survive */
    cg_load_into(g, v, reg);
    cg_push_reg(g, ALK_I32, reg);
}

int cg_into_reg(codegen *g, value v)
{
    if (v.loc == LOC_REG)
        return v.reg;
    int reg = alk_is_float(v.type) ? cg_alloc_xmm(g) : cg_alloc_gpr(g);
    cg_load_into(g, v, reg);
    return reg;
}

void cg_store_to(codegen *g, value v, x64_mem dst)
{
    int size = cg_width(v.type);
    if (v.loc == LOC_CONST && !alk_is_float(v.type)) {
        if (size == 4 || ((int64_t)v.bits >= INT32_MIN && (int64_t)v.bits <= INT32_MAX)) {
            x64_store_imm(g->code, size, dst, (int32_t)v.bits);
            return;
        }
    }
    if (v.loc == LOC_LOCAL && cg_local_reg(g, v.local) >= 0) {
        v.loc = LOC_REG;
        v.reg = (uint8_t)cg_local_reg(g, v.local);
    }
    if (v.loc == LOC_REG) {
        if (alk_is_float(v.type))
            x64_movs_store(g->code, size, dst, v.reg);
        else
            x64_store(g->code, size, dst, (x64_reg)v.reg);
        return;
    }
    /* Bits are bits: move through the scratch register whatever the type. */
    value scratch = v;
    scratch.type = size == 4 ? ALK_I32 : ALK_I64;
    cg_load_into(g, scratch, SCRATCH_GPR);
    x64_store(g->code, size, dst, SCRATCH_GPR);
}

void cg_unpin_for_call(codegen *g)
{
    g->unpinned_count = 0;
    for (uint32_t i = 0; i < g->local_count; i++) {
        int reg = g->locals[i].reg;
        if (reg == X64_NO_REG)
            continue;
        bool is_float = alk_is_float(g->locals[i].type);
        if (!is_float && (reg == RBX || reg == R12 || reg == R13))
            continue;                       /* callee-saved: survives the call */
        if (is_float)
            x64_movs_store(g->code, 8, cg_local(g, i), reg);
        else
            x64_store(g->code, 8, cg_local(g, i), (x64_reg)reg);
        g->locals[i].reg = X64_NO_REG;
        g->unpinned[g->unpinned_count++] = i | (uint32_t)reg << 24;
    }
}

void cg_repin_after_call(codegen *g)
{
    for (uint32_t k = 0; k < g->unpinned_count; k++) {
        uint32_t i = g->unpinned[k] & 0xffffff;
        int reg = (int)(g->unpinned[k] >> 24);
        g->locals[i].reg = (uint8_t)reg;
        if (alk_is_float(g->locals[i].type))
            x64_movs_load(g->code, 8, reg, cg_local(g, i));
        else
            x64_load(g->code, 8, (x64_reg)reg, cg_local(g, i), 8, false);
    }
    g->unpinned_count = 0;
}
