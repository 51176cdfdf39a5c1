/*
 * Floating-point instructions and conversions, SSE2 only (no SSE4.1 roundss/roundsd: QEMU's
 * qemu64 CPU lacks them). NaNs: x86 propagates the first NaN operand quietened, or produces the
 * default NaN, which is what the spec's nondeterministic NaN rules allow (canonical in, canonical
 * out). Constants are built in the scratch registers (r11 -> xmm15), so code needs no data.
 */
#include "codegen.h"

static int fsize(alk_valtype type) { return type == ALK_F32 ? 4 : 8; }

static uint64_t sign_mask(int size) { return size == 4 ? 0x80000000u : 0x8000000000000000ull; }

/* xmm15 := the bit pattern */
static void scratch_constant(codegen *g, int size, uint64_t bits)
{
    if (bits == 0) {
        x64_sse_logic(g->code, SSE_XOR, SCRATCH_XMM, SCRATCH_XMM);
        return;
    }
    x64_mov_ri(g->code, size, SCRATCH_GPR, bits);
    x64_movq_to_xmm(g->code, size, SCRATCH_XMM, SCRATCH_GPR);
}

/* Bit patterns of the constants used below, as (f32, f64): the core does no float math itself,
 * so it can also be built for the kernel without SSE. */
static uint64_t pick(int size, uint32_t f32, uint64_t f64) { return size == 4 ? f32 : f64; }
#define ONE(size)          pick(size, 0x3f800000u, 0x3ff0000000000000ull)
#define MANTISSA(size)     pick(size, 0x4b000000u, 0x4330000000000000ull)   /* 2^23, 2^52 */
#define MINUS_ONE(size)    pick(size, 0xbf800000u, 0xbff0000000000000ull)
#define TWO_POW_31(size)   pick(size, 0x4f000000u, 0x41e0000000000000ull)
#define TWO_POW_32(size)   pick(size, 0x4f800000u, 0x41f0000000000000ull)
#define MINUS_TWO_POW_31(size) pick(size, 0xcf000000u, 0xc1e0000000000000ull)
#define MINUS_TWO_POW_31_MINUS_ONE 0xc1e0000000200000ull                    /* f64 only */
#define TWO_POW_63(size)   pick(size, 0x5f000000u, 0x43e0000000000000ull)
#define TWO_POW_64(size)   pick(size, 0x5f800000u, 0x43f0000000000000ull)
#define MINUS_TWO_POW_63(size) pick(size, 0xdf000000u, 0xc3e0000000000000ull)

static void release(codegen *g, alk_valtype type, int reg)
{
    cg_free(g, (value){ .loc = LOC_REG, .type = type, .reg = (uint8_t)reg });
}

static void binary(codegen *g, alk_valtype type, uint8_t opcode)
{
    value rhs = cg_pop(g), lhs = cg_pop(g);
    int dst = cg_into_reg(g, lhs);
    uint8_t prefix = type == ALK_F32 ? SSE_SINGLE : SSE_DOUBLE;
    if (rhs.loc == LOC_SLOT) {
        x64_sse_rm(g->code, SSE(prefix, opcode), dst, cg_slot(g, rhs.position));
    } else if (rhs.loc == LOC_LOCAL && cg_local_reg(g, rhs.local) >= 0) {
        x64_sse_rr(g->code, SSE(prefix, opcode), dst, cg_local_reg(g, rhs.local));
    } else if (rhs.loc == LOC_LOCAL) {
        x64_sse_rm(g->code, SSE(prefix, opcode), dst, cg_local(g, rhs.local));
    } else {
        int src = cg_into_reg(g, rhs);
        x64_sse_rr(g->code, SSE(prefix, opcode), dst, src);
        release(g, type, src);
    }
    cg_push_reg(g, type, dst);
}

/* min/max with the spec's rules: NaN if either is NaN, and -0 < +0. */
static void min_max(codegen *g, alk_valtype type, bool is_min)
{
    alk_code *c = g->code;
    int size = fsize(type);
    uint8_t prefix = size == 4 ? SSE_SINGLE : SSE_DOUBLE;
    value rhs = cg_pop(g), lhs = cg_pop(g);
    int dst = cg_into_reg(g, lhs);
    int src = cg_into_reg(g, rhs);
    uint32_t nan = alk_code_new_label(c), ordinary = alk_code_new_label(c);
    uint32_t done = alk_code_new_label(c);
    x64_ucomis(c, size, dst, src);
    x64_jcc(c, CC_P, nan);
    x64_jcc(c, CC_NE, ordinary);
    /* equal: only the signs of zeros can differ */
    x64_sse_logic(c, is_min ? SSE_OR : SSE_AND, dst, src);
    x64_jmp(c, done);
    alk_code_bind(c, nan);
    x64_sse_rr(c, SSE(prefix, SSE_OP_ADD), dst, src);  /* a quiet NaN from the NaN operand */
    x64_jmp(c, done);
    alk_code_bind(c, ordinary);
    x64_sse_rr(c, SSE(prefix, is_min ? SSE_OP_MIN : SSE_OP_MAX), dst, src);
    alk_code_bind(c, done);
    release(g, type, src);
    cg_push_reg(g, type, dst);
}

static void sign_op(codegen *g, alk_valtype type, alk_opcode op)
{
    int size = fsize(type);
    value v = cg_pop(g);
    int reg = cg_into_reg(g, v);
    bool is_abs = op == ALK_OP_F32_ABS || op == ALK_OP_F64_ABS;
    scratch_constant(g, size, is_abs ? ~sign_mask(size) & (size == 4 ? UINT32_MAX : UINT64_MAX)
                                     : sign_mask(size));
    x64_sse_logic(g->code, is_abs ? SSE_AND : SSE_XOR, reg, SCRATCH_XMM);
    cg_push_reg(g, type, reg);
}

static void copysign(codegen *g, alk_valtype type)
{
    int size = fsize(type);
    value sign = cg_pop(g), magnitude = cg_pop(g);
    int dst = cg_into_reg(g, magnitude);
    int src = cg_into_reg(g, sign);
    scratch_constant(g, size, sign_mask(size));
    x64_sse_logic(g->code, SSE_AND, src, SCRATCH_XMM);     /* sign of the second */
    x64_sse_logic(g->code, SSE_ANDN, SCRATCH_XMM, dst);    /* magnitude of the first */
    x64_sse_logic(g->code, SSE_OR, src, SCRATCH_XMM);
    x64_movaps(g->code, dst, src);
    release(g, type, src);
    cg_push_reg(g, type, dst);
}

/* ceil, floor, trunc, nearest. For |x| < 2^mantissa the integral part fits a 64-bit integer
 * (trunc/floor/ceil convert there and back) or the 2^mantissa trick rounds it to nearest-even;
 * larger values, infinities and NaNs are already integral (NaN quietened by adding zero).
 * The result takes the sign of x, which fixes -0 and (-1, 0) cases. */
static void round_op(codegen *g, alk_valtype type, alk_opcode op)
{
    alk_code *c = g->code;
    int size = fsize(type);
    uint8_t prefix = size == 4 ? SSE_SINGLE : SSE_DOUBLE;
    value v = cg_pop(g);
    int x = cg_into_reg(g, v);
    int t = cg_alloc_xmm(g);
    uint32_t big = alk_code_new_label(c), done = alk_code_new_label(c);

    x64_movaps(c, t, x);
    scratch_constant(g, size, ~sign_mask(size) & (size == 4 ? UINT32_MAX : UINT64_MAX));
    x64_sse_logic(c, SSE_AND, t, SCRATCH_XMM);                     /* t = |x| */
    scratch_constant(g, size, MANTISSA(size));
    x64_ucomis(c, size, SCRATCH_XMM, t);
    x64_jcc(c, CC_BE, big);                                        /* |x| >= limit, or NaN */
    bool nearest = op == ALK_OP_F32_NEAREST || op == ALK_OP_F64_NEAREST;
    if (nearest) {
        x64_sse_rr(c, SSE(prefix, SSE_OP_ADD), t, SCRATCH_XMM);
        x64_sse_rr(c, SSE(prefix, SSE_OP_SUB), t, SCRATCH_XMM);     /* t = round(|x|) */
    } else {
        x64_cvtts2si(c, size, 8, SCRATCH_GPR, x);
        x64_sse_logic(c, SSE_XOR, t, t);
        x64_cvtsi2s(c, size, t, 8, SCRATCH_GPR);                    /* t = trunc(x) */
        bool is_floor = op == ALK_OP_F32_FLOOR || op == ALK_OP_F64_FLOOR;
        bool is_ceil = op == ALK_OP_F32_CEIL || op == ALK_OP_F64_CEIL;
        if (is_floor || is_ceil) {
            uint32_t exact = alk_code_new_label(c);
            if (is_floor)
                x64_ucomis(c, size, x, t);    /* x < t ? */
            else
                x64_ucomis(c, size, t, x);    /* t < x ? */
            x64_jcc(c, CC_AE, exact);
            scratch_constant(g, size, ONE(size));
            x64_sse_rr(c, SSE(prefix, is_floor ? SSE_OP_SUB : SSE_OP_ADD), t, SCRATCH_XMM);
            alk_code_bind(c, exact);
        }
        scratch_constant(g, size, ~sign_mask(size) & (size == 4 ? UINT32_MAX : UINT64_MAX));
        x64_sse_logic(c, SSE_AND, t, SCRATCH_XMM);                 /* |t| */
    }
    scratch_constant(g, size, sign_mask(size));
    x64_sse_logic(c, SSE_AND, x, SCRATCH_XMM);                     /* sign of x */
    x64_sse_logic(c, SSE_OR, x, t);
    x64_jmp(c, done);
    alk_code_bind(c, big);
    scratch_constant(g, size, 0);
    x64_sse_rr(c, SSE(prefix, SSE_OP_ADD), x, SCRATCH_XMM);
    alk_code_bind(c, done);
    release(g, type, t);
    cg_push_reg(g, type, x);
}

static void compare(codegen *g, alk_valtype type, alk_opcode op)
{
    alk_code *c = g->code;
    int size = fsize(type);
    value rhs = cg_pop(g), lhs = cg_pop(g);
    int a = cg_into_reg(g, lhs);
    int b = cg_into_reg(g, rhs);
    int kind = (op - (type == ALK_F32 ? ALK_OP_F32_EQ : ALK_OP_F64_EQ)); /* eq ne lt gt le ge */
    if (kind >= 2) {
        /* "above" conditions are false when unordered, as the spec wants: flags suffice */
        bool swap = kind == 2 || kind == 4;           /* lt, le: b above a */
        x64_ucomis(c, size, swap ? b : a, swap ? a : b);
        release(g, type, a);
        release(g, type, b);
        cg_push_flags(g, kind <= 3 ? CC_A : CC_AE);
        return;
    }
    int dst = cg_alloc_gpr(g);
    x64_alu_rr(c, ALU_XOR, 4, (x64_reg)dst, (x64_reg)dst);
    x64_alu_rr(c, ALU_XOR, 4, SCRATCH_GPR, SCRATCH_GPR);
    x64_ucomis(c, size, a, b);
    if (kind == 0) {         /* eq: ordered and equal */
        x64_setcc(c, CC_E, (x64_reg)dst);
        x64_setcc(c, CC_NP, SCRATCH_GPR);
        x64_alu_rr(c, ALU_AND, 4, (x64_reg)dst, SCRATCH_GPR);
    } else {                 /* ne: unordered or different */
        x64_setcc(c, CC_NE, (x64_reg)dst);
        x64_setcc(c, CC_P, SCRATCH_GPR);
        x64_alu_rr(c, ALU_OR, 4, (x64_reg)dst, SCRATCH_GPR);
    }
    release(g, type, a);
    release(g, type, b);
    cg_push_reg(g, ALK_I32, dst);
}

/* Float -> integer. Bounds: the operand must be above `low` (or equal when low_inclusive) and
 * below `high` for the truncation to fit; NaN is invalid. Trapping, or saturating. */
static void truncate(codegen *g, alk_valtype from, alk_valtype to, bool is_signed, bool saturate)
{
    alk_code *c = g->code;
    int size = fsize(from);
    int w = cg_width(to);
    uint64_t low, high;
    bool low_inclusive;
    if (w == 4) {
        high = is_signed ? TWO_POW_31(size) : TWO_POW_32(size);
        if (!is_signed) { low = MINUS_ONE(size); low_inclusive = false; }
        else if (size == 4) { low = MINUS_TWO_POW_31(size); low_inclusive = true; }
        else { low = MINUS_TWO_POW_31_MINUS_ONE; low_inclusive = false; }
    } else {
        high = is_signed ? TWO_POW_63(size) : TWO_POW_64(size);
        if (!is_signed) { low = MINUS_ONE(size); low_inclusive = false; }
        else { low = MINUS_TWO_POW_63(size); low_inclusive = true; }
    }
    value v = cg_pop(g);
    int x = cg_into_reg(g, v);
    int dst = cg_alloc_gpr(g);
    uint32_t done = alk_code_new_label(c);
    x64_cond below = low_inclusive ? CC_B : CC_BE;

    if (saturate) {
        uint64_t min = is_signed ? (w == 4 ? 0x80000000u : 0x8000000000000000ull) : 0;
        uint64_t max = is_signed ? (w == 4 ? 0x7fffffffu : 0x7fffffffffffffffull)
                                 : (w == 4 ? 0xffffffffu : UINT64_MAX);
        x64_alu_rr(c, ALU_XOR, 4, (x64_reg)dst, (x64_reg)dst);
        x64_ucomis(c, size, x, x);
        x64_jcc(c, CC_P, done);                                   /* NaN -> 0 */
        x64_mov_ri(c, w, (x64_reg)dst, min);
        scratch_constant(g, size, low);
        x64_ucomis(c, size, x, SCRATCH_XMM);
        x64_jcc(c, below, done);
        x64_mov_ri(c, w, (x64_reg)dst, max);
        scratch_constant(g, size, high);
        x64_ucomis(c, size, x, SCRATCH_XMM);
        x64_jcc(c, CC_AE, done);
    } else {
        scratch_constant(g, size, low);
        x64_ucomis(c, size, x, SCRATCH_XMM);
        x64_jcc(c, CC_P, cg_trap_label(g, ALK_TRAP_INVALID_CONVERSION));
        x64_jcc(c, below, cg_trap_label(g, ALK_TRAP_INTEGER_OVERFLOW));
        scratch_constant(g, size, high);
        x64_ucomis(c, size, x, SCRATCH_XMM);
        x64_jcc(c, CC_AE, cg_trap_label(g, ALK_TRAP_INTEGER_OVERFLOW));
    }
    if (w == 8 && !is_signed) {
        /* values at or above 2^63: subtract 2^63, convert, set the top bit */
        uint32_t small = alk_code_new_label(c);
        scratch_constant(g, size, TWO_POW_63(size));
        x64_ucomis(c, size, x, SCRATCH_XMM);
        x64_jcc(c, CC_B, small);
        x64_sse_rr(c, SSE(size == 4 ? SSE_SINGLE : SSE_DOUBLE, SSE_OP_SUB), x, SCRATCH_XMM);
        x64_cvtts2si(c, size, 8, (x64_reg)dst, x);
        x64_mov_ri(c, 8, SCRATCH_GPR, 0x8000000000000000ull);
        x64_alu_rr(c, ALU_XOR, 8, (x64_reg)dst, SCRATCH_GPR);
        x64_jmp(c, done);
        alk_code_bind(c, small);
        x64_cvtts2si(c, size, 8, (x64_reg)dst, x);
    } else if (w == 4 && !is_signed) {
        x64_cvtts2si(c, size, 8, (x64_reg)dst, x);
        x64_mov_rr(c, 4, (x64_reg)dst, (x64_reg)dst);
    } else {
        x64_cvtts2si(c, size, w, (x64_reg)dst, x);
    }
    alk_code_bind(c, done);
    release(g, from, x);
    cg_push_reg(g, to, dst);
}

/* Integer -> float, rounding to nearest once. */
static void convert(codegen *g, alk_valtype from, alk_valtype to, bool is_signed)
{
    alk_code *c = g->code;
    int size = fsize(to);
    value v = cg_pop(g);
    int src = cg_into_reg(g, v);
    int dst = cg_alloc_xmm(g);
    x64_sse_logic(c, SSE_XOR, dst, dst);
    if (from == ALK_I32) {
        /* i32 unsigned is zero-extended already: a 64-bit signed conversion is exact */
        x64_cvtsi2s(c, size, dst, is_signed ? 4 : 8, (x64_reg)src);
    } else if (is_signed) {
        x64_cvtsi2s(c, size, dst, 8, (x64_reg)src);
    } else {
        uint32_t negative = alk_code_new_label(c), done = alk_code_new_label(c);
        x64_test_rr(c, 8, (x64_reg)src, (x64_reg)src);
        x64_jcc(c, CC_S, negative);
        x64_cvtsi2s(c, size, dst, 8, (x64_reg)src);
        x64_jmp(c, done);
        alk_code_bind(c, negative);
        /* halve keeping the low bit (so rounding stays right), convert, double */
        x64_mov_rr(c, 8, SCRATCH_GPR, (x64_reg)src);
        x64_shift_ri(c, SHIFT_SHR, 8, SCRATCH_GPR, 1);
        x64_alu_ri(c, ALU_AND, 4, (x64_reg)src, 1);
        x64_alu_rr(c, ALU_OR, 8, SCRATCH_GPR, (x64_reg)src);
        x64_cvtsi2s(c, size, dst, 8, SCRATCH_GPR);
        x64_sse_rr(c, SSE(size == 4 ? SSE_SINGLE : SSE_DOUBLE, SSE_OP_ADD), dst, dst);
        alk_code_bind(c, done);
    }
    cg_free(g, (value){ .loc = LOC_REG, .type = from, .reg = (uint8_t)src });
    cg_push_reg(g, to, dst);
}

static void reinterpret(codegen *g, alk_valtype to)
{
    value v = cg_pop(g);
    if (v.loc == LOC_CONST) {
        cg_push_const(g, to, v.bits);
        return;
    }
    int w = cg_width(to);
    int src = cg_into_reg(g, v);
    if (alk_is_float(to)) {
        int dst = cg_alloc_xmm(g);
        x64_movq_to_xmm(g->code, w, dst, (x64_reg)src);
        cg_free(g, (value){ .loc = LOC_REG, .type = v.type, .reg = (uint8_t)src });
        cg_push_reg(g, to, dst);
    } else {
        int dst = cg_alloc_gpr(g);
        x64_movq_from_xmm(g->code, w, (x64_reg)dst, src);
        cg_free(g, (value){ .loc = LOC_REG, .type = v.type, .reg = (uint8_t)src });
        cg_push_reg(g, to, dst);
    }
}

static void demote_promote(codegen *g, alk_valtype to)
{
    value v = cg_pop(g);
    int reg = cg_into_reg(g, v);
    x64_cvts2s(g->code, fsize(to), reg, reg);
    cg_push_reg(g, to, reg);
}

bool cg_float_instr(codegen *g, const alk_instr *in)
{
    alk_opcode op = in->op;
    switch (op) {
    case ALK_OP_F32_CONST: cg_push_const(g, ALK_F32, in->imm.f32_bits); return true;
    case ALK_OP_F64_CONST: cg_push_const(g, ALK_F64, in->imm.f64_bits); return true;
#define FLOAT_OPS(T, W)                                                                   \
    case ALK_OP_##T##_EQ: case ALK_OP_##T##_NE: case ALK_OP_##T##_LT:                     \
    case ALK_OP_##T##_GT: case ALK_OP_##T##_LE: case ALK_OP_##T##_GE:                     \
        compare(g, W, op); return true;                                                   \
    case ALK_OP_##T##_ADD: binary(g, W, SSE_OP_ADD); return true;                         \
    case ALK_OP_##T##_SUB: binary(g, W, SSE_OP_SUB); return true;                         \
    case ALK_OP_##T##_MUL: binary(g, W, SSE_OP_MUL); return true;                         \
    case ALK_OP_##T##_DIV: binary(g, W, SSE_OP_DIV); return true;                         \
    case ALK_OP_##T##_MIN: min_max(g, W, true); return true;                              \
    case ALK_OP_##T##_MAX: min_max(g, W, false); return true;                             \
    case ALK_OP_##T##_ABS: case ALK_OP_##T##_NEG: sign_op(g, W, op); return true;         \
    case ALK_OP_##T##_COPYSIGN: copysign(g, W); return true;                              \
    case ALK_OP_##T##_CEIL: case ALK_OP_##T##_FLOOR: case ALK_OP_##T##_TRUNC:             \
    case ALK_OP_##T##_NEAREST: round_op(g, W, op); return true;                           \
    case ALK_OP_##T##_SQRT: {                                                             \
        value v = cg_pop(g);                                                              \
        int reg = cg_into_reg(g, v);                                                      \
        x64_sse_rr(g->code, SSE(W == ALK_F32 ? SSE_SINGLE : SSE_DOUBLE, SSE_OP_SQRT), reg, reg); \
        cg_push_reg(g, W, reg);                                                           \
        return true;                                                                      \
    }
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
