/*
 * Floating-point instructions and conversions. A64 has an instruction for almost every one:
 * fmin/fmax follow the spec (NaN if either is, -0 below +0), frint* round, fcvtz* saturate as
 * trunc_sat wants, scvtf/ucvtf convert every integer width. NaNs: A64 propagates the first NaN
 * operand quietened, or produces the default NaN, which the spec's nondeterministic NaN rules
 * allow (canonical in, canonical out). neg, abs and copysign touch only the sign bit.
 * Constants come from fmov #imm8 or through x16, so the code needs no data.
 */
#include "codegen.h"

/* Bit patterns of the constants used below, as (f32, f64): the core does no float math itself,
 * so it can also be built for a kernel without an FPU in use. */
static uint64_t pick(int size, uint32_t f32, uint64_t f64) { return size == 4 ? f32 : f64; }
#define MINUS_ONE(size)    pick(size, 0xbf800000u, 0xbff0000000000000ull)
#define TWO_POW_31(size)   pick(size, 0x4f000000u, 0x41e0000000000000ull)
#define TWO_POW_32(size)   pick(size, 0x4f800000u, 0x41f0000000000000ull)
#define MINUS_TWO_POW_31(size) pick(size, 0xcf000000u, 0xc1e0000000000000ull)
#define MINUS_TWO_POW_31_MINUS_ONE 0xc1e0000000200000ull                    /* f64 only */
#define TWO_POW_63(size)   pick(size, 0x5f000000u, 0x43e0000000000000ull)
#define TWO_POW_64(size)   pick(size, 0x5f800000u, 0x43f0000000000000ull)
#define MINUS_TWO_POW_63(size) pick(size, 0xdf000000u, 0xc3e0000000000000ull)

/* Two popped float operands in registers for reading and a register for the result. */
static void float_operands(codegen *g, value lhs, value rhs, int *a, int *b, int *dst)
{
    bool a_owned, b_owned;
    *a = arm_read_reg(g, lhs, &a_owned);
    *b = arm_read_reg(g, rhs, &b_owned);
    *dst = arm_take_hint(g, true);
    if (*dst >= 0) {
        if (a_owned)
            arm_free_reg(g, lhs.type, *a);
        if (b_owned)
            arm_free_reg(g, rhs.type, *b);
    } else if (a_owned) {
        *dst = *a;
        if (b_owned)
            arm_free_reg(g, rhs.type, *b);
    } else if (b_owned) {
        *dst = *b;
    } else {
        *dst = arm_alloc_fpr(g);
    }
}

static void binary(codegen *g, alk_valtype type, a64_fop2_op op)
{
    value rhs = arm_pop(g), lhs = arm_pop(g);
    int a, b, dst;
    float_operands(g, lhs, rhs, &a, &b, &dst);
    a64_fop2(g->code, arm_fsize(type), op, dst, a, b);
    arm_push_reg(g, type, dst);
}

/* One popped operand in a register, and the register for the result: the hint, its own, or
 * a fresh one. */
static int float_operand(codegen *g, value v, int *dst)
{
    bool owned;
    int src = arm_read_reg(g, v, &owned);
    *dst = arm_take_hint(g, true);
    if (*dst < 0)
        *dst = owned ? src : arm_alloc_fpr(g);
    else if (owned)
        arm_free_reg(g, v.type, src);
    return src;
}

static void unary(codegen *g, alk_valtype type, a64_fop1_op op)
{
    value v = arm_pop(g);
    int dst, src = float_operand(g, v, &dst);
    a64_fop1(g->code, arm_fsize(type), op, dst, src);
    arm_push_reg(g, type, dst);
}

/* The magnitude of the first, the sign of the second, in general registers. */
static void copysign(codegen *g, alk_valtype type)
{
    alk_code *c = g->code;
    int size = arm_fsize(type);
    value sign = arm_pop(g), magnitude = arm_pop(g);
    int a, b, dst;
    float_operands(g, magnitude, sign, &a, &b, &dst);
    a64_fmov_from_fp(c, size, SCRATCH_GPR, a);
    a64_fmov_from_fp(c, size, SCRATCH2_GPR, b);
    a64_bfxil_low(c, size == 8, SCRATCH2_GPR, SCRATCH_GPR, (unsigned)(8 * size - 1));
    a64_fmov_to_fp(c, size, dst, SCRATCH2_GPR);
    arm_push_reg(g, type, dst);
}

/* fcmp leaves unordered as C and V set: each condition below is false for NaN but `ne`. */
static void compare(codegen *g, alk_valtype type, alk_opcode op)
{
    static const a64_cond conds[] = { A64_EQ, A64_NE, A64_MI, A64_GT, A64_LS, A64_GE };
    value rhs = arm_pop(g), lhs = arm_pop(g);
    bool a_owned, b_owned;
    int a = arm_read_reg(g, lhs, &a_owned);
    int b = arm_read_reg(g, rhs, &b_owned);
    a64_fcmp(g->code, arm_fsize(type), a, b);
    if (a_owned)
        arm_free_reg(g, type, a);
    if (b_owned)
        arm_free_reg(g, type, b);
    int kind = (int)(op - (type == ALK_F32 ? ALK_OP_F32_EQ : ALK_OP_F64_EQ)); /* eq ne lt gt le ge */
    arm_push_flags(g, conds[kind]);
}

/* Float -> integer. Trapping: NaN is invalid; the operand must be above `low` (or equal when
 * low_inclusive) and below `high` for the truncation to fit. Saturating: fcvtz* as it is. */
static void truncate(codegen *g, alk_valtype from, alk_valtype to, bool is_signed, bool saturate)
{
    alk_code *c = g->code;
    int size = arm_fsize(from);
    bool wide = to == ALK_I64;
    value v = arm_pop(g);
    bool owned;
    int x = arm_read_reg(g, v, &owned);
    int dst = arm_alloc_gpr(g);
    if (!saturate) {
        uint64_t low, high;
        bool low_inclusive;
        if (!wide) {
            high = is_signed ? TWO_POW_31(size) : TWO_POW_32(size);
            if (!is_signed) { low = MINUS_ONE(size); low_inclusive = false; }
            else if (size == 4) { low = MINUS_TWO_POW_31(size); low_inclusive = true; }
            else { low = MINUS_TWO_POW_31_MINUS_ONE; low_inclusive = false; }
        } else {
            high = is_signed ? TWO_POW_63(size) : TWO_POW_64(size);
            if (!is_signed) { low = MINUS_ONE(size); low_inclusive = false; }
            else { low = MINUS_TWO_POW_63(size); low_inclusive = true; }
        }
        a64_fcmp(c, size, x, x);
        arm_branch_if(g, A64_VS, arm_trap_label(g, ALK_TRAP_INVALID_CONVERSION));
        a64_fmov_bits(c, size, SCRATCH_FPR, low);
        a64_fcmp(c, size, x, SCRATCH_FPR);
        arm_branch_if(g, low_inclusive ? A64_MI : A64_LS,
                     arm_trap_label(g, ALK_TRAP_INTEGER_OVERFLOW));
        a64_fmov_bits(c, size, SCRATCH_FPR, high);
        a64_fcmp(c, size, x, SCRATCH_FPR);
        arm_branch_if(g, A64_GE, arm_trap_label(g, ALK_TRAP_INTEGER_OVERFLOW));
    }
    a64_fp_to_int(c, size, wide, is_signed, dst, x);
    if (owned)
        arm_free_reg(g, from, x);
    arm_push_reg(g, to, dst);
}

/* Integer -> float, rounding to nearest once. */
static void convert(codegen *g, alk_valtype from, alk_valtype to, bool is_signed)
{
    value v = arm_pop(g);
    bool owned;
    int src = arm_read_reg(g, v, &owned);
    int dst = arm_take_hint(g, true);
    if (dst < 0)
        dst = arm_alloc_fpr(g);
    a64_int_to_fp(g->code, arm_fsize(to), from == ALK_I64, is_signed, dst, src);
    if (owned)
        arm_free_reg(g, from, src);
    arm_push_reg(g, to, dst);
}

static void reinterpret(codegen *g, alk_valtype to)
{
    value v = arm_pop(g);
    if (v.loc == LOC_CONST) {
        arm_push_const(g, to, v.bits);
        return;
    }
    int size = arm_is_wide(to) ? 8 : 4;
    bool owned;
    int src = arm_read_reg(g, v, &owned);
    int dst;
    if (alk_is_float(to)) {
        dst = arm_alloc_fpr(g);
        a64_fmov_to_fp(g->code, size, dst, src);
    } else {
        dst = arm_alloc_gpr(g);
        a64_fmov_from_fp(g->code, size, dst, src);
    }
    if (owned)
        arm_free_reg(g, v.type, src);
    arm_push_reg(g, to, dst);
}

static void demote_promote(codegen *g, alk_valtype to)
{
    value v = arm_pop(g);
    int dst, src = float_operand(g, v, &dst);
    a64_fop1(g->code, to == ALK_F32 ? 8 : 4, to == ALK_F32 ? A64_FCVT_TO_S : A64_FCVT_TO_D, dst,
             src);
    arm_push_reg(g, to, dst);
}

bool arm_float_instr(codegen *g, const alk_instr *in)
{
    alk_opcode op = in->op;
    switch (op) {
    case ALK_OP_F32_CONST: arm_push_const(g, ALK_F32, in->imm.f32_bits); return true;
    case ALK_OP_F64_CONST: arm_push_const(g, ALK_F64, in->imm.f64_bits); return true;
#define FLOAT_OPS(T, W)                                                                   \
    case ALK_OP_##T##_EQ: case ALK_OP_##T##_NE: case ALK_OP_##T##_LT:                     \
    case ALK_OP_##T##_GT: case ALK_OP_##T##_LE: case ALK_OP_##T##_GE:                     \
        compare(g, W, op); return true;                                                   \
    case ALK_OP_##T##_ADD: binary(g, W, A64_FADD); return true;                           \
    case ALK_OP_##T##_SUB: binary(g, W, A64_FSUB); return true;                           \
    case ALK_OP_##T##_MUL: binary(g, W, A64_FMUL); return true;                           \
    case ALK_OP_##T##_DIV: binary(g, W, A64_FDIV); return true;                           \
    case ALK_OP_##T##_MIN: binary(g, W, A64_FMIN); return true;                           \
    case ALK_OP_##T##_MAX: binary(g, W, A64_FMAX); return true;                           \
    case ALK_OP_##T##_ABS: unary(g, W, A64_FABS); return true;                            \
    case ALK_OP_##T##_NEG: unary(g, W, A64_FNEG); return true;                            \
    case ALK_OP_##T##_SQRT: unary(g, W, A64_FSQRT); return true;                          \
    case ALK_OP_##T##_CEIL: unary(g, W, A64_FRINTP); return true;                         \
    case ALK_OP_##T##_FLOOR: unary(g, W, A64_FRINTM); return true;                        \
    case ALK_OP_##T##_TRUNC: unary(g, W, A64_FRINTZ); return true;                        \
    case ALK_OP_##T##_NEAREST: unary(g, W, A64_FRINTN); return true;                      \
    case ALK_OP_##T##_COPYSIGN: copysign(g, W); return true;
    FLOAT_OPS(F32, ALK_F32)
    FLOAT_OPS(F64, ALK_F64)
#undef FLOAT_OPS
    case ALK_OP_I32_TRUNC_F32_S: truncate(g, ALK_F32, ALK_I32, true, false); return true;
    case ALK_OP_I32_TRUNC_F32_U: truncate(g, ALK_F32, ALK_I32, false, false); return true;
    case ALK_OP_I32_TRUNC_F64_S: truncate(g, ALK_F64, ALK_I32, true, false); return true;
    case ALK_OP_I32_TRUNC_F64_U: truncate(g, ALK_F64, ALK_I32, false, false); return true;
    case ALK_OP_I64_TRUNC_F32_S: truncate(g, ALK_F32, ALK_I64, true, false); return true;
    case ALK_OP_I64_TRUNC_F32_U: truncate(g, ALK_F32, ALK_I64, false, false); return true;
    case ALK_OP_I64_TRUNC_F64_S: truncate(g, ALK_F64, ALK_I64, true, false); return true;
    case ALK_OP_I64_TRUNC_F64_U: truncate(g, ALK_F64, ALK_I64, false, false); return true;
    case ALK_OP_I32_TRUNC_SAT_F32_S: truncate(g, ALK_F32, ALK_I32, true, true); return true;
    case ALK_OP_I32_TRUNC_SAT_F32_U: truncate(g, ALK_F32, ALK_I32, false, true); return true;
    case ALK_OP_I32_TRUNC_SAT_F64_S: truncate(g, ALK_F64, ALK_I32, true, true); return true;
    case ALK_OP_I32_TRUNC_SAT_F64_U: truncate(g, ALK_F64, ALK_I32, false, true); return true;
    case ALK_OP_I64_TRUNC_SAT_F32_S: truncate(g, ALK_F32, ALK_I64, true, true); return true;
    case ALK_OP_I64_TRUNC_SAT_F32_U: truncate(g, ALK_F32, ALK_I64, false, true); return true;
    case ALK_OP_I64_TRUNC_SAT_F64_S: truncate(g, ALK_F64, ALK_I64, true, true); return true;
    case ALK_OP_I64_TRUNC_SAT_F64_U: truncate(g, ALK_F64, ALK_I64, false, true); return true;
    case ALK_OP_F32_CONVERT_I32_S: convert(g, ALK_I32, ALK_F32, true); return true;
    case ALK_OP_F32_CONVERT_I32_U: convert(g, ALK_I32, ALK_F32, false); return true;
    case ALK_OP_F32_CONVERT_I64_S: convert(g, ALK_I64, ALK_F32, true); return true;
    case ALK_OP_F32_CONVERT_I64_U: convert(g, ALK_I64, ALK_F32, false); return true;
    case ALK_OP_F64_CONVERT_I32_S: convert(g, ALK_I32, ALK_F64, true); return true;
    case ALK_OP_F64_CONVERT_I32_U: convert(g, ALK_I32, ALK_F64, false); return true;
    case ALK_OP_F64_CONVERT_I64_S: convert(g, ALK_I64, ALK_F64, true); return true;
    case ALK_OP_F64_CONVERT_I64_U: convert(g, ALK_I64, ALK_F64, false); return true;
    case ALK_OP_F32_DEMOTE_F64: demote_promote(g, ALK_F32); return true;
    case ALK_OP_F64_PROMOTE_F32: demote_promote(g, ALK_F64); return true;
    case ALK_OP_I32_REINTERPRET_F32: reinterpret(g, ALK_I32); return true;
    case ALK_OP_I64_REINTERPRET_F64: reinterpret(g, ALK_I64); return true;
    case ALK_OP_F32_REINTERPRET_I32: reinterpret(g, ALK_F32); return true;
    case ALK_OP_F64_REINTERPRET_I64: reinterpret(g, ALK_F64); return true;
    default:
        return false;
    }
}
