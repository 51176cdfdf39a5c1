/*
 * Integer instructions (i32 and i64). i32 values are kept zero-extended in 64-bit registers:
 * every w-register operation clears the upper half, and checked-mode addressing relies on it.
 * A64's operations take three registers, so an operand in a pinned local's register is read
 * where it is and the result goes to a register the value stack owns.
 */
#include "codegen.h"

/* Two popped operands in registers for reading, and the register the result goes to: one of
 * theirs that the stack owns, else a fresh one; the other owned one is released. */
typedef struct operands {
    int a, b, dst;
} operands;

static operands both_in_registers(codegen *g, value lhs, value rhs, alk_valtype type)
{
    bool a_owned, b_owned;
    operands o;
    o.a = arm_read_reg(g, lhs, &a_owned);
    o.b = arm_read_reg(g, rhs, &b_owned);
    o.dst = arm_take_hint(g, false);
    if (o.dst >= 0) {
        if (a_owned)
            arm_free_reg(g, type, o.a);
        if (b_owned && o.b != o.a)
            arm_free_reg(g, type, o.b);
    } else if (a_owned) {
        o.dst = o.a;
        if (b_owned)
            arm_free_reg(g, type, o.b);
    } else if (b_owned) {
        o.dst = o.b;
    } else {
        o.dst = arm_alloc_gpr(g);
    }
    return o;
}

/* One popped operand in a register, and the register for the result (its own, or fresh). */
static int one_in_register(codegen *g, value v, int *dst)
{
    bool owned;
    int reg = arm_read_reg(g, v, &owned);
    *dst = arm_take_hint(g, false);
    if (*dst < 0)
        *dst = owned ? reg : arm_alloc_gpr(g);
    else if (owned)
        arm_free_reg(g, v.type, reg);
    return reg;
}

static bool fits_addsub(uint64_t bits, bool wide, a64_alu_op *op, uint32_t *imm)
{
    int64_t value = wide ? (int64_t)bits : (int64_t)(int32_t)bits;
    uint64_t magnitude = value < 0 ? (uint64_t)0 - (uint64_t)value : (uint64_t)value;
    if (magnitude >= 4096)
        return false;
    if (value < 0)
        *op = *op == A64_ADD ? A64_SUB : A64_ADD;
    *imm = (uint32_t)magnitude;
    return true;
}

static void add_sub(codegen *g, alk_opcode op, a64_alu_op alu, alk_valtype type)
{
    bool wide = type == ALK_I64;
    value rhs = arm_pop(g), lhs = arm_pop(g);
    uint64_t folded;
    if (lhs.loc == LOC_CONST && rhs.loc == LOC_CONST &&
        alk_fold_binary(op, wide, lhs.bits, rhs.bits, &folded)) {
        arm_push_const(g, type, folded);
        return;
    }
    uint32_t imm;
    if (rhs.loc == LOC_CONST && fits_addsub(rhs.bits, wide, &alu, &imm)) {
        int dst, a = one_in_register(g, lhs, &dst);
        a64_addsub_imm(g->code, wide, alu, false, dst, a, imm, false);
        arm_push_reg(g, type, dst);
        return;
    }
    operands o = both_in_registers(g, lhs, rhs, type);
    a64_addsub(g->code, wide, alu, false, o.dst, o.a, o.b);
    arm_push_reg(g, type, o.dst);
}

static void logic(codegen *g, alk_opcode op, a64_logic_op kind, alk_valtype type)
{
    bool wide = type == ALK_I64;
    value rhs = arm_pop(g), lhs = arm_pop(g);
    uint64_t folded;
    if (lhs.loc == LOC_CONST && rhs.loc == LOC_CONST &&
        alk_fold_binary(op, wide, lhs.bits, rhs.bits, &folded)) {
        arm_push_const(g, type, folded);
        return;
    }
    if (lhs.loc == LOC_CONST) {       /* commutative: the constant second */
        value t = lhs;
        lhs = rhs;
        rhs = t;
    }
    uint32_t encoding;
    if (rhs.loc == LOC_CONST && a64_bitmask(rhs.bits, wide, &encoding)) {
        int dst, a = one_in_register(g, lhs, &dst);
        a64_logic_imm(g->code, wide, kind, dst, a, rhs.bits);
        arm_push_reg(g, type, dst);
        return;
    }
    operands o = both_in_registers(g, lhs, rhs, type);
    a64_logic(g->code, wide, kind, o.dst, o.a, o.b);
    arm_push_reg(g, type, o.dst);
}

static void multiply(codegen *g, alk_opcode op, alk_valtype type)
{
    bool wide = type == ALK_I64;
    value rhs = arm_pop(g), lhs = arm_pop(g);
    uint64_t folded;
    if (lhs.loc == LOC_CONST && rhs.loc == LOC_CONST &&
        alk_fold_binary(op, wide, lhs.bits, rhs.bits, &folded)) {
        arm_push_const(g, type, folded);
        return;
    }
    operands o = both_in_registers(g, lhs, rhs, type);
    a64_mul(g->code, wide, o.dst, o.a, o.b);
    arm_push_reg(g, type, o.dst);
}

static a64_cond compare_cond(alk_opcode op)
{
    switch (op) {
    case ALK_OP_I32_EQ: case ALK_OP_I64_EQ: return A64_EQ;
    case ALK_OP_I32_NE: case ALK_OP_I64_NE: return A64_NE;
    case ALK_OP_I32_LT_S: case ALK_OP_I64_LT_S: return A64_LT;
    case ALK_OP_I32_LT_U: case ALK_OP_I64_LT_U: return A64_LO;
    case ALK_OP_I32_GT_S: case ALK_OP_I64_GT_S: return A64_GT;
    case ALK_OP_I32_GT_U: case ALK_OP_I64_GT_U: return A64_HI;
    case ALK_OP_I32_LE_S: case ALK_OP_I64_LE_S: return A64_LE;
    case ALK_OP_I32_LE_U: case ALK_OP_I64_LE_U: return A64_LS;
    case ALK_OP_I32_GE_S: case ALK_OP_I64_GE_S: return A64_GE;
    default: return A64_HS;   /* ge_u */
    }
}

/* A compare only reads its operands: a pinned local is compared in place. */
static void compare(codegen *g, alk_opcode op, alk_valtype type)
{
    bool wide = type == ALK_I64;
    value rhs = arm_pop(g), lhs = arm_pop(g);
    a64_cond cond = compare_cond(op);
    bool a_owned, b_owned = false;
    int a = arm_read_reg(g, lhs, &a_owned);
    if (rhs.loc == LOC_CONST) {
        a64_cmp_imm(g->code, wide, a, (int64_t)rhs.bits);
    } else {
        int b = arm_read_reg(g, rhs, &b_owned);
        a64_cmp(g->code, wide, a, b);
        if (b_owned)
            arm_free_reg(g, type, b);
    }
    if (a_owned)
        arm_free_reg(g, type, a);
    arm_push_flags(g, cond);
}

static void eqz(codegen *g, alk_valtype type)
{
    value v = arm_pop(g);
    if (v.loc == LOC_FLAGS) {
        arm_push_flags(g, a64_invert((a64_cond)v.reg));
        return;
    }
    bool owned;
    int reg = arm_read_reg(g, v, &owned);
    a64_cmp_imm(g->code, type == ALK_I64, reg, 0);
    if (owned)
        arm_free_reg(g, type, reg);
    arm_push_flags(g, A64_EQ);
}

static void shift(codegen *g, alk_opcode op, a64_shift_op kind, bool left_rotate,
                  alk_valtype type)
{
    bool wide = type == ALK_I64;
    unsigned bits = wide ? 64 : 32;
    value count = arm_pop(g), lhs = arm_pop(g);
    if (count.loc == LOC_CONST) {
        uint64_t folded;
        if (lhs.loc == LOC_CONST && alk_fold_binary(op, wide, lhs.bits, count.bits, &folded)) {
            arm_push_const(g, type, folded);
            return;
        }
        unsigned n = (unsigned)(count.bits & (bits - 1));
        if (left_rotate)
            n = (bits - n) & (bits - 1);
        int dst, a = one_in_register(g, lhs, &dst);
        if (n)
            a64_shift_imm(g->code, wide, kind, dst, a, n);
        else if (dst != a)
            a64_mov(g->code, wide, dst, a);
        arm_push_reg(g, type, dst);
        return;
    }
    operands o = both_in_registers(g, lhs, count, type);
    int by = o.b;
    if (left_rotate) {                          /* rotl n = rotr (-n) */
        a64_addsub(g->code, wide, A64_SUB, false, SCRATCH_GPR, A64_ZR, o.b);
        by = SCRATCH_GPR;
    }
    a64_shift_reg(g->code, wide, kind, o.dst, o.a, by);
    arm_push_reg(g, type, o.dst);
}

/* i32.div_u and i32.rem_u by a constant d >= 2: a shift or a mask for a power of two, else a
 * multiplication by the reciprocal (Granlund and Montgomery, "Division by invariant integers
 * using multiplication", 1994): with l = ceil(log2 d) and m = floor(2^(32+l) / d) + 1, which
 * satisfies 2^(32+l) < m*d <= 2^(32+l) + 2^l, x / d = floor(x*m / 2^(32+l)) for every
 * x < 2^32; m < 2^33, so M = m << (32 - l) fits 64 bits and x / d = umulh(x, M). x is the
 * zero-extended i32 in its x register. */
static void divide_by_constant(codegen *g, value lhs, uint32_t d, bool remainder)
{
    alk_code *c = g->code;
    int dst, x = one_in_register(g, lhs, &dst);
    if ((d & (d - 1)) == 0) {
        unsigned l = (unsigned)__builtin_ctz(d);
        if (remainder)
            a64_logic_imm(c, false, A64_AND, dst, x, d - 1);
        else
            a64_shift_imm(c, false, A64_LSR, dst, x, l);
        arm_push_reg(g, ALK_I32, dst);
        return;
    }
    if (d > 0x80000000u) {              /* the quotient is 0 or 1 */
        a64_mov_imm(c, false, SCRATCH2_GPR, d);
        a64_cmp(c, false, x, SCRATCH2_GPR);
        if (remainder) {
            a64_addsub(c, false, A64_SUB, false, SCRATCH_GPR, x, SCRATCH2_GPR);
            a64_csel(c, false, A64_HS, dst, SCRATCH_GPR, x);
        } else {
            a64_cset(c, dst, A64_HS);
        }
        arm_push_reg(g, ALK_I32, dst);
        return;
    }
    unsigned l = 32 - (unsigned)__builtin_clz(d - 1);      /* ceil(log2 d): 2..31 */
    /* m = floor(2^(32+l) / d) + 1 in 64-bit arithmetic: 2^(32+l) <= 2^63 */
    uint64_t m = ((1ull << (32 + l)) / d) + 1;
    a64_mov_imm(c, true, SCRATCH_GPR, m << (32 - l));
    if (remainder) {
        a64_umulh(c, SCRATCH_GPR, x, SCRATCH_GPR);
        a64_mov_imm(c, false, SCRATCH2_GPR, d);
        a64_msub(c, false, dst, SCRATCH_GPR, SCRATCH2_GPR, x);
    } else {
        a64_umulh(c, dst, x, SCRATCH_GPR);
    }
    arm_push_reg(g, ALK_I32, dst);
}

/* div and rem, with the traps of the spec (A64's divisions never trap: a zero divisor gives
 * 0 and INT_MIN / -1 gives INT_MIN). */
static void divide(codegen *g, alk_valtype type, bool is_signed, bool remainder)
{
    alk_code *c = g->code;
    bool wide = type == ALK_I64;
    value rhs = arm_pop(g), lhs = arm_pop(g);
    bool known = rhs.loc == LOC_CONST;
    uint64_t divisor = rhs.bits & (wide ? UINT64_MAX : UINT32_MAX);
    if (known && !wide && !is_signed && divisor >= 2) {
        divide_by_constant(g, lhs, (uint32_t)divisor, remainder);
        return;
    }
    uint64_t minus_one = wide ? UINT64_MAX : UINT32_MAX;
    operands o = both_in_registers(g, lhs, rhs, type);
    if (!known || divisor == 0)
        arm_branch_zero(g, wide, false, o.b, arm_trap_label(g, ALK_TRAP_DIVIDE_BY_ZERO));
    if (is_signed && !remainder && (!known || divisor == minus_one)) {
        /* INT_MIN / -1 overflows: with b == -1, `a - 1` overflows (V) just for INT_MIN */
        if (known) {
            a64_cmp_imm(c, wide, o.a, 1);
        } else {
            a64_cmp_imm(c, wide, o.b, -1);
            a64_ccmp_imm(c, wide, o.a, 1, 0, A64_EQ);
        }
        arm_branch_if(g, A64_VS, arm_trap_label(g, ALK_TRAP_INTEGER_OVERFLOW));
    }
    if (remainder) {
        /* a - (a / b) * b; INT_MIN rem -1 is 0 that way, as the spec wants */
        a64_div(c, wide, is_signed, SCRATCH_GPR, o.a, o.b);
        a64_msub(c, wide, o.dst, SCRATCH_GPR, o.b, o.a);
    } else {
        a64_div(c, wide, is_signed, o.dst, o.a, o.b);
    }
    arm_push_reg(g, type, o.dst);
}

static void count_bits(codegen *g, alk_opcode op, alk_valtype type)
{
    alk_code *c = g->code;
    bool wide = type == ALK_I64;
    value v = arm_pop(g);
    int dst, src = one_in_register(g, v, &dst);
    switch (op) {
    case ALK_OP_I32_CLZ:
    case ALK_OP_I64_CLZ:
        a64_clz(c, wide, dst, src);
        break;
    case ALK_OP_I32_CTZ:
    case ALK_OP_I64_CTZ:
        a64_rbit(c, wide, SCRATCH_GPR, src);
        a64_clz(c, wide, dst, SCRATCH_GPR);
        break;
    default:
        a64_fmov_to_fp(c, wide ? 8 : 4, SCRATCH_FPR, src);
        a64_popcount(c, SCRATCH_FPR);
        a64_fmov_from_fp(c, 4, dst, SCRATCH_FPR);
        break;
    }
    arm_push_reg(g, type, dst);
}

static void extend(codegen *g, alk_valtype to, int from_size, bool sign)
{
    value v = arm_pop(g);
    if (v.loc == LOC_CONST) {
        uint64_t x = v.bits;
        if (sign) {
            if (from_size == 1) x = (uint64_t)(int64_t)(int8_t)x;
            else if (from_size == 2) x = (uint64_t)(int64_t)(int16_t)x;
            else x = (uint64_t)(int64_t)(int32_t)x;
        } else if (from_size == 4) {
            x = (uint32_t)x;
        }
        arm_push_const(g, to, x);
        return;
    }
    int dst, src = one_in_register(g, v, &dst);
    if (sign)
        a64_sign_extend(g->code, to == ALK_I64, dst, src, from_size);
    else
        a64_mov(g->code, false, dst, src);      /* clears the upper half */
    arm_push_reg(g, to, dst);
}

bool arm_integer_instr(codegen *g, const alk_instr *in)
{
    alk_opcode op = in->op;
    switch (op) {
    case ALK_OP_I32_CONST: arm_push_const(g, ALK_I32, (uint32_t)in->imm.i32); return true;
    case ALK_OP_I64_CONST: arm_push_const(g, ALK_I64, (uint64_t)in->imm.i64); return true;
    case ALK_OP_I32_EQZ: eqz(g, ALK_I32); return true;
    case ALK_OP_I64_EQZ: eqz(g, ALK_I64); return true;
#define INTEGER_OPS(T, W)                                                                  \
    case ALK_OP_##T##_EQ: case ALK_OP_##T##_NE: case ALK_OP_##T##_LT_S:                    \
    case ALK_OP_##T##_LT_U: case ALK_OP_##T##_GT_S: case ALK_OP_##T##_GT_U:                \
    case ALK_OP_##T##_LE_S: case ALK_OP_##T##_LE_U: case ALK_OP_##T##_GE_S:                \
    case ALK_OP_##T##_GE_U:  compare(g, op, W); return true;                               \
    case ALK_OP_##T##_ADD:   add_sub(g, op, A64_ADD, W); return true;                      \
    case ALK_OP_##T##_SUB:   add_sub(g, op, A64_SUB, W); return true;                      \
    case ALK_OP_##T##_AND:   logic(g, op, A64_AND, W); return true;                        \
    case ALK_OP_##T##_OR:    logic(g, op, A64_ORR, W); return true;                        \
    case ALK_OP_##T##_XOR:   logic(g, op, A64_EOR, W); return true;                        \
    case ALK_OP_##T##_MUL:   multiply(g, op, W); return true;                              \
    case ALK_OP_##T##_DIV_S: divide(g, W, true, false); return true;                       \
    case ALK_OP_##T##_DIV_U: divide(g, W, false, false); return true;                      \
    case ALK_OP_##T##_REM_S: divide(g, W, true, true); return true;                        \
    case ALK_OP_##T##_REM_U: divide(g, W, false, true); return true;                       \
    case ALK_OP_##T##_SHL:   shift(g, op, A64_LSL, false, W); return true;                 \
    case ALK_OP_##T##_SHR_S: shift(g, op, A64_ASR, false, W); return true;                 \
    case ALK_OP_##T##_SHR_U: shift(g, op, A64_LSR, false, W); return true;                 \
    case ALK_OP_##T##_ROTL:  shift(g, op, A64_ROR, true, W); return true;                  \
    case ALK_OP_##T##_ROTR:  shift(g, op, A64_ROR, false, W); return true;                 \
    case ALK_OP_##T##_CLZ:                                                                 \
    case ALK_OP_##T##_CTZ:                                                                 \
    case ALK_OP_##T##_POPCNT: count_bits(g, op, W); return true;
    INTEGER_OPS(I32, ALK_I32)
    INTEGER_OPS(I64, ALK_I64)
#undef INTEGER_OPS
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
