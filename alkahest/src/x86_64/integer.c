/*
 * Integer instructions (i32 and i64). i32 values are kept zero-extended in 64-bit registers: every
 * 32-bit operation clears the upper half, and the memory addressing of guard mode relies on it.
 * Only baseline x86-64 is used: no LZCNT/TZCNT/POPCNT (QEMU's qemu64 CPU lacks them).
 */
#include "codegen.h"

static bool fits_imm32(const value *v, int w)
{
    if (v->loc != LOC_CONST)
        return false;
    if (w == 4)
        return true;
    return (int64_t)v->bits >= INT32_MIN && (int64_t)v->bits <= INT32_MAX;
}

/* dst := dst (op) rhs, with rhs as an immediate, a memory operand or a register, whichever
 * it already is. */
static void alu_operand(codegen *g, x64_alu alu, int w, x64_reg dst, value rhs)
{
    if (fits_imm32(&rhs, w)) {
        x64_alu_ri(g->code, alu, w, dst, (int32_t)rhs.bits);
    } else if (rhs.loc == LOC_SLOT) {
        x64_alu_rm(g->code, alu, w, dst, cg_slot(g, rhs.position));
    } else if (rhs.loc == LOC_LOCAL && cg_local_reg(g, rhs.local) >= 0) {
        x64_alu_rr(g->code, alu, w, dst, (x64_reg)cg_local_reg(g, rhs.local));
    } else if (rhs.loc == LOC_LOCAL) {
        x64_alu_rm(g->code, alu, w, dst, cg_local(g, rhs.local));
    } else {
        int src = cg_into_reg(g, rhs);
        x64_alu_rr(g->code, alu, w, dst, (x64_reg)src);
        cg_free(g, (value){ .loc = LOC_REG, .type = rhs.type, .reg = (uint8_t)src });
    }
}

/* dst := lhs (op) rhs for the two-operand ALU forms. */
static void binary_alu(codegen *g, alk_opcode op, x64_alu alu, alk_valtype type)
{
    int w = cg_width(type);
    value rhs = cg_pop(g), lhs = cg_pop(g);
    uint64_t folded;
    if (lhs.loc == LOC_CONST && rhs.loc == LOC_CONST &&
        alk_fold_binary(op, w == 8, lhs.bits, rhs.bits, &folded)) {
        cg_push_const(g, type, folded);
        return;
    }
    /* pinned local + constant: one lea into a fresh register, the local stays as it is */
    if ((alu == ALU_ADD || alu == ALU_SUB) && fits_imm32(&rhs, w) && lhs.loc == LOC_LOCAL &&
        cg_local_reg(g, lhs.local) >= 0 && (int32_t)rhs.bits != INT32_MIN) {
        int32_t imm = alu == ALU_ADD ? (int32_t)rhs.bits : -(int32_t)rhs.bits;
        int dst = cg_alloc_gpr(g);
        x64_lea(g->code, w, (x64_reg)dst, x64_at((x64_reg)cg_local_reg(g, lhs.local), imm));
        cg_push_reg(g, type, dst);
        return;
    }
    int dst = cg_into_reg(g, lhs);
    alu_operand(g, alu, w, (x64_reg)dst, rhs);
    cg_push_reg(g, type, dst);
}

static void multiply(codegen *g, alk_opcode op, alk_valtype type)
{
    int w = cg_width(type);
    value rhs = cg_pop(g), lhs = cg_pop(g);
    uint64_t folded;
    if (lhs.loc == LOC_CONST && rhs.loc == LOC_CONST &&
        alk_fold_binary(op, w == 8, lhs.bits, rhs.bits, &folded)) {
        cg_push_const(g, type, folded);
        return;
    }
    int dst = cg_into_reg(g, lhs);
    if (fits_imm32(&rhs, w)) {
        x64_imul_rri(g->code, w, (x64_reg)dst, (x64_reg)dst, (int32_t)rhs.bits);
    } else {
        int src = cg_into_reg(g, rhs);
        x64_imul_rr(g->code, w, (x64_reg)dst, (x64_reg)src);
        cg_free(g, (value){ .loc = LOC_REG, .type = type, .reg = (uint8_t)src });
    }
    cg_push_reg(g, type, dst);
}

/* A compare only reads its operands: a pinned local or a slot is compared in place. */
static void compare(codegen *g, x64_cond cc, alk_valtype type)
{
    int w = cg_width(type);
    value rhs = cg_pop(g), lhs = cg_pop(g);
    if ((lhs.loc == LOC_LOCAL && cg_local_reg(g, lhs.local) < 0) || lhs.loc == LOC_SLOT) {
        if (fits_imm32(&rhs, w)) {
            x64_mem at = lhs.loc == LOC_LOCAL ? cg_local(g, lhs.local) : cg_slot(g, lhs.position);
            x64_alu_mi(g->code, ALU_CMP, w, at, (int32_t)rhs.bits);
            cg_push_flags(g, cc);
            return;
        }
    }
    bool borrowed = lhs.loc == LOC_LOCAL && cg_local_reg(g, lhs.local) >= 0;
    int dst = borrowed ? cg_local_reg(g, lhs.local) : cg_into_reg(g, lhs);
    alu_operand(g, ALU_CMP, w, (x64_reg)dst, rhs);
    if (!borrowed)
        cg_free(g, (value){ .loc = LOC_REG, .type = type, .reg = (uint8_t)dst });
    cg_push_flags(g, cc);
}

static void eqz(codegen *g, alk_valtype type)
{
    value v = cg_pop(g);
    if (v.loc == LOC_FLAGS) {
        cg_push_flags(g, x64_invert((x64_cond)v.reg));
        return;
    }
    int reg = cg_into_reg(g, v);
    x64_test_rr(g->code, cg_width(type), (x64_reg)reg, (x64_reg)reg);
    cg_free(g, (value){ .loc = LOC_REG, .type = type, .reg = (uint8_t)reg });
    cg_push_flags(g, CC_E);
}

static void shift(codegen *g, alk_opcode op, x64_shift kind, alk_valtype type)
{
    int w = cg_width(type);
    value *count_entry = cg_top(g, 0);
    if (count_entry->loc == LOC_CONST) {
        value count = cg_pop(g), lhs = cg_pop(g);
        uint64_t folded;
        if (lhs.loc == LOC_CONST && alk_fold_binary(op, w == 8, lhs.bits, count.bits, &folded)) {
            cg_push_const(g, type, folded);
            return;
        }
        int dst = cg_into_reg(g, lhs);
        uint8_t n = (uint8_t)(count.bits & (uint64_t)(w * 8 - 1));
        if (n)
            x64_shift_ri(g->code, kind, w, (x64_reg)dst, n);
        else if (w == 4)
            x64_mov_rr(g->code, 4, (x64_reg)dst, (x64_reg)dst);
        cg_push_reg(g, type, dst);
        return;
    }
    cg_claim_gpr(g, RCX);
    value count = cg_pop(g), lhs = cg_pop(g);
    cg_load_into(g, count, RCX);
    cg_free(g, count);
    int dst = cg_into_reg(g, lhs);
    x64_shift_cl(g->code, kind, w, (x64_reg)dst);
    cg_release_gpr(g, RCX);
    cg_push_reg(g, type, dst);
}

/* div and rem: rax:rdx by a register, with the traps of the spec. */
static void divide(codegen *g, alk_valtype type, bool is_signed, bool remainder)
{
    alk_code *c = g->code;
    int w = cg_width(type);
    cg_claim_gpr(g, RAX);
    cg_claim_gpr(g, RDX);
    value rhs = cg_pop(g), lhs = cg_pop(g);
    bool known_divisor = rhs.loc == LOC_CONST;
    uint64_t divisor = rhs.bits & (w == 8 ? UINT64_MAX : UINT32_MAX);
    int src = cg_into_reg(g, rhs);
    cg_load_into(g, lhs, RAX);
    cg_free(g, lhs);
    uint32_t done = 0;
    if (!known_divisor || divisor == 0) {
        x64_test_rr(c, w, (x64_reg)src, (x64_reg)src);
        x64_jcc(c, CC_E, cg_trap_label(g, ALK_TRAP_DIVIDE_BY_ZERO));
    }
    bool minus_one_possible = is_signed && (!known_divisor ||
                                            divisor == (w == 8 ? UINT64_MAX : UINT32_MAX));
    if (minus_one_possible) {
        uint32_t normal = alk_code_new_label(c);
        x64_alu_ri(c, ALU_CMP, w, (x64_reg)src, -1);
        x64_jcc(c, CC_NE, normal);
        if (remainder) {
            /* x rem -1 is 0, and INT_MIN rem -1 must not reach idiv (#DE) */
            done = alk_code_new_label(c);
            x64_alu_rr(c, ALU_XOR, 4, RDX, RDX);
            x64_jmp(c, done);
        } else {
            if (w == 8) {
                x64_mov_ri(c, 8, SCRATCH_GPR, (uint64_t)INT64_MIN);
                x64_alu_rr(c, ALU_CMP, 8, RAX, SCRATCH_GPR);
            } else {
                x64_alu_ri(c, ALU_CMP, 4, RAX, INT32_MIN);
            }
            x64_jcc(c, CC_E, cg_trap_label(g, ALK_TRAP_INTEGER_OVERFLOW));
        }
        alk_code_bind(c, normal);
    }
    if (is_signed) {
        x64_cdq(c, w);
        x64_unary_r(c, UNARY_IDIV, w, (x64_reg)src);
    } else {
        x64_alu_rr(c, ALU_XOR, 4, RDX, RDX);
        x64_unary_r(c, UNARY_DIV, w, (x64_reg)src);
    }
    if (done)
        alk_code_bind(c, done);
    cg_free(g, (value){ .loc = LOC_REG, .type = type, .reg = (uint8_t)src });
    if (remainder) {
        cg_release_gpr(g, RAX);
        cg_push_reg(g, type, RDX);
    } else {
        cg_release_gpr(g, RDX);
        cg_push_reg(g, type, RAX);
    }
}

static void count_bits(codegen *g, alk_opcode op, alk_valtype type)
{
    alk_code *c = g->code;
    int w = cg_width(type);
    int bits = w * 8;
    value v = cg_pop(g);
    int src = cg_into_reg(g, v);
    int dst = cg_alloc_gpr(g);
    switch (op) {
    case ALK_OP_I32_CLZ:
    case ALK_OP_I64_CLZ:
        /* bsr gives the index of the highest set bit; for 0 use 2*bits-1 so that the final
         * xor with bits-1 yields bits. */
        x64_bsr(c, w, (x64_reg)dst, (x64_reg)src);
        x64_mov_ri(c, 4, SCRATCH_GPR, (uint64_t)(2 * bits - 1));
        x64_cmov(c, CC_E, w, (x64_reg)dst, SCRATCH_GPR);
        x64_alu_ri(c, ALU_XOR, w, (x64_reg)dst, bits - 1);
        break;
    case ALK_OP_I32_CTZ:
    case ALK_OP_I64_CTZ:
        x64_bsf(c, w, (x64_reg)dst, (x64_reg)src);
        x64_mov_ri(c, 4, SCRATCH_GPR, (uint64_t)bits);
        x64_cmov(c, CC_E, w, (x64_reg)dst, SCRATCH_GPR);
        break;
    default: {
        /* popcnt without POPCNT: the classic SWAR reduction */
        uint64_t m1 = 0x5555555555555555ull, m2 = 0x3333333333333333ull,
                 m4 = 0x0f0f0f0f0f0f0f0full, h01 = 0x0101010101010101ull;
        x64_mov_rr(c, 8, (x64_reg)dst, (x64_reg)src);
        x64_shift_ri(c, SHIFT_SHR, w, (x64_reg)dst, 1);
        x64_mov_ri(c, w, SCRATCH_GPR, m1);
        x64_alu_rr(c, ALU_AND, w, (x64_reg)dst, SCRATCH_GPR);
        x64_alu_rr(c, ALU_SUB, w, (x64_reg)src, (x64_reg)dst);      /* x - ((x>>1)&m1) */
        x64_mov_rr(c, 8, (x64_reg)dst, (x64_reg)src);
        x64_mov_ri(c, w, SCRATCH_GPR, m2);
        x64_alu_rr(c, ALU_AND, w, (x64_reg)dst, SCRATCH_GPR);
        x64_shift_ri(c, SHIFT_SHR, w, (x64_reg)src, 2);
        x64_alu_rr(c, ALU_AND, w, (x64_reg)src, SCRATCH_GPR);
        x64_alu_rr(c, ALU_ADD, w, (x64_reg)dst, (x64_reg)src);      /* pairs summed in nibbles */
        x64_mov_rr(c, 8, (x64_reg)src, (x64_reg)dst);
        x64_shift_ri(c, SHIFT_SHR, w, (x64_reg)src, 4);
        x64_alu_rr(c, ALU_ADD, w, (x64_reg)dst, (x64_reg)src);
        x64_mov_ri(c, w, SCRATCH_GPR, m4);
        x64_alu_rr(c, ALU_AND, w, (x64_reg)dst, SCRATCH_GPR);       /* bytes hold their counts */
        x64_mov_ri(c, w, SCRATCH_GPR, h01);
        x64_imul_rr(c, w, (x64_reg)dst, SCRATCH_GPR);
        x64_shift_ri(c, SHIFT_SHR, w, (x64_reg)dst, (uint8_t)(bits - 8));
        break;
    }
    }
    cg_free(g, (value){ .loc = LOC_REG, .type = type, .reg = (uint8_t)src });
    cg_push_reg(g, type, dst);
}

static void extend(codegen *g, alk_valtype to, int from_size, bool sign)
{
    value v = cg_pop(g);
    if (v.loc == LOC_CONST) {
        uint64_t x = v.bits;
        if (sign) {
            if (from_size == 1) x = (uint64_t)(int64_t)(int8_t)x;
            else if (from_size == 2) x = (uint64_t)(int64_t)(int16_t)x;
            else x = (uint64_t)(int64_t)(int32_t)x;
        } else if (from_size == 4) {
            x = (uint32_t)x;
        }
        cg_push_const(g, to, x);
        return;
    }
    int reg = cg_into_reg(g, v);
    if (sign)
        x64_movsx_rr(g->code, cg_width(to), (x64_reg)reg, (x64_reg)reg, from_size);
    else
        x64_mov_rr(g->code, 4, (x64_reg)reg, (x64_reg)reg);  /* clears the upper half */
    cg_push_reg(g, to, reg);
}

bool cg_integer_instr(codegen *g, const alk_instr *in)
{
    alk_opcode op = in->op;
    switch (op) {
    case ALK_OP_I32_CONST: cg_push_const(g, ALK_I32, (uint32_t)in->imm.i32); return true;
    case ALK_OP_I64_CONST: cg_push_const(g, ALK_I64, (uint64_t)in->imm.i64); return true;

    case ALK_OP_I32_EQZ: eqz(g, ALK_I32); return true;
    case ALK_OP_I64_EQZ: eqz(g, ALK_I64); return true;
#define COMPARE(T, W)                                                           \
    case ALK_OP_##T##_EQ:   compare(g, CC_E, W); return true;                   \
    case ALK_OP_##T##_NE:   compare(g, CC_NE, W); return true;                  \
    case ALK_OP_##T##_LT_S: compare(g, CC_L, W); return true;                   \
    case ALK_OP_##T##_LT_U: compare(g, CC_B, W); return true;                   \
    case ALK_OP_##T##_GT_S: compare(g, CC_G, W); return true;                   \
    case ALK_OP_##T##_GT_U: compare(g, CC_A, W); return true;                   \
    case ALK_OP_##T##_LE_S: compare(g, CC_LE, W); return true;                  \
    case ALK_OP_##T##_LE_U: compare(g, CC_BE, W); return true;                  \
    case ALK_OP_##T##_GE_S: compare(g, CC_GE, W); return true;                  \
    case ALK_OP_##T##_GE_U: compare(g, CC_AE, W); return true;
    COMPARE(I32, ALK_I32)
    COMPARE(I64, ALK_I64)
#undef COMPARE

#define ARITH(T, W)                                                                        \
    case ALK_OP_##T##_ADD:   binary_alu(g, op, ALU_ADD, W); return true;                   \
    case ALK_OP_##T##_SUB:   binary_alu(g, op, ALU_SUB, W); return true;                   \
    case ALK_OP_##T##_AND:   binary_alu(g, op, ALU_AND, W); return true;                   \
    case ALK_OP_##T##_OR:    binary_alu(g, op, ALU_OR, W); return true;                    \
    case ALK_OP_##T##_XOR:   binary_alu(g, op, ALU_XOR, W); return true;                   \
    case ALK_OP_##T##_MUL:   multiply(g, op, W); return true;                              \
    case ALK_OP_##T##_DIV_S: divide(g, W, true, false); return true;                       \
    case ALK_OP_##T##_DIV_U: divide(g, W, false, false); return true;                      \
    case ALK_OP_##T##_REM_S: divide(g, W, true, true); return true;                        \
    case ALK_OP_##T##_REM_U: divide(g, W, false, true); return true;                       \
    case ALK_OP_##T##_SHL:   shift(g, op, SHIFT_SHL, W); return true;                      \
    case ALK_OP_##T##_SHR_S: shift(g, op, SHIFT_SAR, W); return true;                      \
    case ALK_OP_##T##_SHR_U: shift(g, op, SHIFT_SHR, W); return true;                      \
    case ALK_OP_##T##_ROTL:  shift(g, op, SHIFT_ROL, W); return true;                      \
    case ALK_OP_##T##_ROTR:  shift(g, op, SHIFT_ROR, W); return true;                      \
    case ALK_OP_##T##_CLZ:                                                                 \
    case ALK_OP_##T##_CTZ:                                                                 \
    case ALK_OP_##T##_POPCNT: count_bits(g, op, W); return true;
    ARITH(I32, ALK_I32)
    ARITH(I64, ALK_I64)
#undef ARITH

    case ALK_OP_I32_WRAP_I64:      extend(g, ALK_I32, 4, false); return true;
    case ALK_OP_I64_EXTEND_I32_S:  extend(g, ALK_I64, 4, true); return true;
    case ALK_OP_I64_EXTEND_I32_U:  extend(g, ALK_I64, 4, false); return true;
    case ALK_OP_I32_EXTEND8_S:     extend(g, ALK_I32, 1, true); return true;
    case ALK_OP_I32_EXTEND16_S:    extend(g, ALK_I32, 2, true); return true;
    case ALK_OP_I64_EXTEND8_S:     extend(g, ALK_I64, 1, true); return true;
    case ALK_OP_I64_EXTEND16_S:    extend(g, ALK_I64, 2, true); return true;
    case ALK_OP_I64_EXTEND32_S:    extend(g, ALK_I64, 4, true); return true;
    default:
        return false;
    }
}
