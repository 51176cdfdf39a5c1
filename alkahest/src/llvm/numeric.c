/*
 * Integer and floating-point instructions as LLVM IR, none of them able to reach undefined
 * behaviour or poison (docs/opt-tier.md lists the rules): divisions are guarded by their traps,
 * shift counts masked, conversions range-checked before fptosi/fptoui, count-zeros defined at
 * zero. Wasm's floating point is IEEE 754 with round-to-nearest, which LLVM's default
 * floating-point environment is too; where LLVM's folding would lose a NaN's quieting (x * 1.0
 * folded to x), the result is quieted explicitly.
 */
#include <math.h>

#include "llvm_tier.h"

static LLVMValueRef cmp_to_i32(opt_function *f, LLVMValueRef truth)
{
    return LLVMBuildZExt(f->m->builder, truth, f->m->i32, "");
}

static LLVMValueRef unary_intrinsic(opt_function *f, const char *name, LLVMValueRef x)
{
    LLVMTypeRef type = LLVMTypeOf(x);
    return opt_intrinsic(f, name, &type, 1, &x, 1);
}

/* ---- Integers -------------------------------------------------------------------------------- */

/* i32 and i64 share the code: the i64 opcodes follow the i32 ones in the same order. */
static bool integer_binary(opt_function *f, alk_opcode op)
{
    opt_module *m = f->m;
    LLVMBuilderRef b = m->builder;
    alk_opcode base;
    if (op >= ALK_OP_I32_CLZ && op <= ALK_OP_I32_ROTR)
        base = op;
    else if (op >= ALK_OP_I64_CLZ && op <= ALK_OP_I64_ROTR)
        base = (alk_opcode)(op - ALK_OP_I64_CLZ + ALK_OP_I32_CLZ);
    else
        return false;
    bool wide = op >= ALK_OP_I64_CLZ;
    LLVMTypeRef type = wide ? m->i64 : m->i32;
    unsigned bits = wide ? 64 : 32;
    LLVMValueRef zero = LLVMConstInt(type, 0, false);
    LLVMValueRef minus_one = LLVMConstAllOnes(type);
    if (base == ALK_OP_I32_CLZ || base == ALK_OP_I32_CTZ || base == ALK_OP_I32_POPCNT) {
        LLVMValueRef x = opt_pop(f);
        LLVMValueRef args[2] = { x, LLVMConstInt(m->i1, 0, false) };  /* defined at zero */
        if (base == ALK_OP_I32_POPCNT)
            opt_push(f, unary_intrinsic(f, "llvm.ctpop", x));
        else
            opt_push(f, opt_intrinsic(f, base == ALK_OP_I32_CLZ ? "llvm.ctlz" : "llvm.cttz",
                                      &type, 1, args, 2));
        return true;
    }
    LLVMValueRef y = opt_pop(f), x = opt_pop(f), r;
    switch (base) {
    case ALK_OP_I32_ADD: r = LLVMBuildAdd(b, x, y, ""); break;
    case ALK_OP_I32_SUB: r = LLVMBuildSub(b, x, y, ""); break;
    case ALK_OP_I32_MUL: r = LLVMBuildMul(b, x, y, ""); break;
    case ALK_OP_I32_AND: r = LLVMBuildAnd(b, x, y, ""); break;
    case ALK_OP_I32_OR: r = LLVMBuildOr(b, x, y, ""); break;
    case ALK_OP_I32_XOR: r = LLVMBuildXor(b, x, y, ""); break;
    case ALK_OP_I32_DIV_S: {
        opt_trap_if(f, LLVMBuildICmp(b, LLVMIntEQ, y, zero, ""), ALK_TRAP_DIVIDE_BY_ZERO);
        LLVMValueRef min = LLVMConstInt(type, 1ull << (bits - 1), false);
        LLVMValueRef overflow = LLVMBuildAnd(b, LLVMBuildICmp(b, LLVMIntEQ, x, min, ""),
                                             LLVMBuildICmp(b, LLVMIntEQ, y, minus_one, ""), "");
        opt_trap_if(f, overflow, ALK_TRAP_INTEGER_OVERFLOW);
        r = LLVMBuildSDiv(b, x, y, "");
        break;
    }
    case ALK_OP_I32_DIV_U:
        opt_trap_if(f, LLVMBuildICmp(b, LLVMIntEQ, y, zero, ""), ALK_TRAP_DIVIDE_BY_ZERO);
        r = LLVMBuildUDiv(b, x, y, "");
        break;
    case ALK_OP_I32_REM_S: {
        /* MIN % -1 is undefined in LLVM and 0 in Wasm: x % 1 is 0 too */
        opt_trap_if(f, LLVMBuildICmp(b, LLVMIntEQ, y, zero, ""), ALK_TRAP_DIVIDE_BY_ZERO);
        LLVMValueRef safe = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntEQ, y, minus_one, ""),
                                            LLVMConstInt(type, 1, false), y, "");
        r = LLVMBuildSRem(b, x, safe, "");
        break;
    }
    case ALK_OP_I32_REM_U:
        opt_trap_if(f, LLVMBuildICmp(b, LLVMIntEQ, y, zero, ""), ALK_TRAP_DIVIDE_BY_ZERO);
        r = LLVMBuildURem(b, x, y, "");
        break;
    case ALK_OP_I32_SHL:
    case ALK_OP_I32_SHR_S:
    case ALK_OP_I32_SHR_U: {
        /* a count of the width or more is poison in LLVM; Wasm takes it modulo the width */
        LLVMValueRef count = LLVMBuildAnd(b, y, LLVMConstInt(type, bits - 1, false), "");
        r = base == ALK_OP_I32_SHL ? LLVMBuildShl(b, x, count, "")
            : base == ALK_OP_I32_SHR_S ? LLVMBuildAShr(b, x, count, "")
                                       : LLVMBuildLShr(b, x, count, "");
        break;
    }
    case ALK_OP_I32_ROTL:
    case ALK_OP_I32_ROTR: {
        /* funnel shifts take the count modulo the width */
        LLVMValueRef args[3] = { x, x, y };
        r = opt_intrinsic(f, base == ALK_OP_I32_ROTL ? "llvm.fshl" : "llvm.fshr", &type, 1,
                          args, 3);
        break;
    }
    default:
        return false;
    }
    opt_push(f, r);
    return true;
}

static bool integer_compare(opt_function *f, alk_opcode op)
{
    LLVMBuilderRef b = f->m->builder;
    static const LLVMIntPredicate predicates[] = {
        LLVMIntEQ, LLVMIntNE, LLVMIntSLT, LLVMIntULT, LLVMIntSGT, LLVMIntUGT,
        LLVMIntSLE, LLVMIntULE, LLVMIntSGE, LLVMIntUGE,
    };
    if (op == ALK_OP_I32_EQZ || op == ALK_OP_I64_EQZ) {
        LLVMValueRef x = opt_pop(f);
        opt_push(f, cmp_to_i32(f, LLVMBuildICmp(b, LLVMIntEQ, x, LLVMConstNull(LLVMTypeOf(x)), "")));
        return true;
    }
    int k;
    if (op >= ALK_OP_I32_EQ && op <= ALK_OP_I32_GE_U)
        k = op - ALK_OP_I32_EQ;
    else if (op >= ALK_OP_I64_EQ && op <= ALK_OP_I64_GE_U)
        k = op - ALK_OP_I64_EQ;
    else
        return false;
    LLVMValueRef y = opt_pop(f), x = opt_pop(f);
    opt_push(f, cmp_to_i32(f, LLVMBuildICmp(b, predicates[k], x, y, "")));
    return true;
}

/* ---- Floats ----------------------------------------------------------------------------------- */

static bool is_constant(LLVMValueRef v, double value, bool negative_zero)
{
    if (!LLVMIsAConstantFP(v))
        return false;
    LLVMBool loses;
    double d = LLVMConstRealGetDouble(v, &loses);
    if (d != value)
        return false;
    return value != 0 || (signbit(d) != 0) == negative_zero;
}

/* Whether LLVM would fold `x op c` to x (or -x): then a signalling NaN x would come out
 * unquieted, where Wasm wants an arithmetic NaN. */
static bool folds_to_operand(alk_opcode base, LLVMValueRef x, LLVMValueRef y)
{
    switch (base) {
    case ALK_OP_F32_ADD:
        return is_constant(x, 0, true) || is_constant(y, 0, true);
    case ALK_OP_F32_SUB:
        return is_constant(y, 0, false) || is_constant(x, 0, true);
    case ALK_OP_F32_MUL:
        return is_constant(x, 1, false) || is_constant(y, 1, false) ||
               is_constant(x, -1, false) || is_constant(y, -1, false);
    case ALK_OP_F32_DIV:
        return is_constant(y, 1, false) || is_constant(y, -1, false);
    default:
        return false;
    }
}

/* NaN in, quiet NaN out; anything else unchanged. */
LLVMValueRef opt_quiet_identity(opt_function *f, LLVMValueRef value)
{
    LLVMBuilderRef b = f->m->builder;
    LLVMValueRef nan = LLVMBuildFCmp(b, LLVMRealUNO, value, value, "");
    return LLVMBuildSelect(b, nan, LLVMBuildFAdd(b, value, value, ""), value, "");
}

static LLVMValueRef splat_like(opt_function *f, LLVMValueRef like, LLVMValueRef scalar)
{
    LLVMTypeRef type = LLVMTypeOf(like);
    if (LLVMGetTypeKind(type) != LLVMVectorTypeKind)
        return scalar;
    unsigned n = LLVMGetVectorSize(type);
    LLVMValueRef lanes[16];
    for (unsigned i = 0; i < n; i++)
        lanes[i] = scalar;
    (void)f;
    return LLVMConstVector(lanes, n);
}

static LLVMTypeRef element_type(LLVMValueRef v)
{
    LLVMTypeRef type = LLVMTypeOf(v);
    return LLVMGetTypeKind(type) == LLVMVectorTypeKind ? LLVMGetElementType(type) : type;
}

/* Wasm's min and max (scalar or vector): a NaN operand gives a NaN (quieted through an add),
 * and -0 is below +0. Neither is LLVM's minnum/maxnum. */
LLVMValueRef opt_float_min_max(opt_function *f, LLVMValueRef a, LLVMValueRef c, bool is_max)
{
    opt_module *m = f->m;
    LLVMBuilderRef b = m->builder;
    bool wide = element_type(a) == m->f64;
    LLVMTypeRef type = LLVMTypeOf(a);
    LLVMTypeRef int_type = wide ? m->i64 : m->i32;
    if (LLVMGetTypeKind(type) == LLVMVectorTypeKind)
        int_type = LLVMVectorType(int_type, LLVMGetVectorSize(type));
    LLVMValueRef nan = LLVMBuildFCmp(b, LLVMRealUNO, a, c, "");
    LLVMValueRef less = LLVMBuildFCmp(b, LLVMRealOLT, a, c, "");
    LLVMValueRef greater = LLVMBuildFCmp(b, LLVMRealOGT, a, c, "");
    LLVMValueRef abits = LLVMBuildBitCast(b, a, int_type, "");
    LLVMValueRef cbits = LLVMBuildBitCast(b, c, int_type, "");
    /* equal: the same value, or +0 and -0: min ORs the sign bits, max ANDs them */
    LLVMValueRef equal = LLVMBuildBitCast(b, is_max ? LLVMBuildAnd(b, abits, cbits, "")
                                                    : LLVMBuildOr(b, abits, cbits, ""), type, "");
    LLVMValueRef r = LLVMBuildSelect(b, is_max ? greater : less, a,
                                     LLVMBuildSelect(b, is_max ? less : greater, c, equal, ""), "");
    return LLVMBuildSelect(b, nan, LLVMBuildFAdd(b, a, c, ""), r, "");
}

/* ceil, floor, trunc, nearest without SSE4.1's roundss (the baseline CPU has SSE2 only, and
 * LLVM would call libm's): values at or above 2^23 (f32) / 2^52 (f64) are integers already;
 * below, a round trip through an integer truncates, and adding and subtracting 2^52 rounds to
 * nearest even; the sign comes back with copysign (so -0.5 goes to -0). */
LLVMValueRef opt_float_round(opt_function *f, LLVMValueRef x, alk_opcode kind)
{
    opt_module *m = f->m;
    LLVMBuilderRef b = m->builder;
    LLVMTypeRef type = LLVMTypeOf(x);
    LLVMTypeRef scalar = element_type(x);
    bool wide = scalar == m->f64;
    LLVMTypeRef int_type = wide ? m->i64 : m->i32;
    if (LLVMGetTypeKind(type) == LLVMVectorTypeKind)
        int_type = LLVMVectorType(int_type, LLVMGetVectorSize(type));
    LLVMValueRef big = splat_like(f, x, LLVMConstReal(scalar, wide ? 4503599627370496.0 : 8388608.0));
    LLVMValueRef one = splat_like(f, x, LLVMConstReal(scalar, 1.0));
    LLVMValueRef a = unary_intrinsic(f, "llvm.fabs", x);
    LLVMValueRef small = LLVMBuildFCmp(b, LLVMRealOLT, a, big, "");
    LLVMValueRef r;
    if (kind == ALK_OP_F32_NEAREST) {
        r = LLVMBuildFSub(b, LLVMBuildFAdd(b, a, big, ""), big, "");
    } else {
        /* only used where small: then the conversion is exact and defined */
        LLVMValueRef t = LLVMBuildSIToFP(b, LLVMBuildFPToSI(b, x, int_type, ""), type, "");
        t = LLVMBuildFreeze(b, t, "");
        if (kind == ALK_OP_F32_FLOOR)
            r = LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOGT, t, x, ""),
                                LLVMBuildFSub(b, t, one, ""), t, "");
        else if (kind == ALK_OP_F32_CEIL)
            r = LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOLT, t, x, ""),
                                LLVMBuildFAdd(b, t, one, ""), t, "");
        else
            r = t;
    }
    LLVMValueRef args[2] = { r, x };
    r = opt_intrinsic(f, "llvm.copysign", &type, 1, args, 2);
    return LLVMBuildSelect(b, small, r, opt_quiet_identity(f, x), "");
}

static bool float_instr(opt_function *f, alk_opcode op)
{
    opt_module *m = f->m;
    LLVMBuilderRef b = m->builder;
    alk_opcode base;
    if (op >= ALK_OP_F32_ABS && op <= ALK_OP_F32_COPYSIGN)
        base = op;
    else if (op >= ALK_OP_F64_ABS && op <= ALK_OP_F64_COPYSIGN)
        base = (alk_opcode)(op - ALK_OP_F64_ABS + ALK_OP_F32_ABS);
    else
        return false;
    switch (base) {
    case ALK_OP_F32_ABS: opt_push(f, unary_intrinsic(f, "llvm.fabs", opt_pop(f))); return true;
    case ALK_OP_F32_NEG: opt_push(f, LLVMBuildFNeg(b, opt_pop(f), "")); return true;
    case ALK_OP_F32_SQRT: opt_push(f, unary_intrinsic(f, "llvm.sqrt", opt_pop(f))); return true;
    case ALK_OP_F32_CEIL:
    case ALK_OP_F32_FLOOR:
    case ALK_OP_F32_TRUNC:
    case ALK_OP_F32_NEAREST:
        opt_push(f, opt_float_round(f, opt_pop(f), base));
        return true;
    default:
        break;
    }
    LLVMValueRef y = opt_pop(f), x = opt_pop(f), r;
    switch (base) {
    case ALK_OP_F32_ADD: r = LLVMBuildFAdd(b, x, y, ""); break;
    case ALK_OP_F32_SUB: r = LLVMBuildFSub(b, x, y, ""); break;
    case ALK_OP_F32_MUL: r = LLVMBuildFMul(b, x, y, ""); break;
    case ALK_OP_F32_DIV: r = LLVMBuildFDiv(b, x, y, ""); break;
    case ALK_OP_F32_MIN: r = opt_float_min_max(f, x, y, false); break;
    case ALK_OP_F32_MAX: r = opt_float_min_max(f, x, y, true); break;
    case ALK_OP_F32_COPYSIGN: {
        LLVMValueRef args[2] = { x, y };
        LLVMTypeRef type = LLVMTypeOf(x);
        r = opt_intrinsic(f, "llvm.copysign", &type, 1, args, 2);
        break;
    }
    default:
        return false;
    }
    if (folds_to_operand(base, x, y))
        r = opt_quiet_identity(f, r);
    opt_push(f, r);
    return true;
}

static bool float_compare(opt_function *f, alk_opcode op)
{
    static const LLVMRealPredicate predicates[] = {
        LLVMRealOEQ, LLVMRealUNE, LLVMRealOLT, LLVMRealOGT, LLVMRealOLE, LLVMRealOGE,
    };
    int k;
    if (op >= ALK_OP_F32_EQ && op <= ALK_OP_F32_GE)
        k = op - ALK_OP_F32_EQ;
    else if (op >= ALK_OP_F64_EQ && op <= ALK_OP_F64_GE)
        k = op - ALK_OP_F64_EQ;
    else
        return false;
    LLVMValueRef y = opt_pop(f), x = opt_pop(f);
    opt_push(f, cmp_to_i32(f, LLVMBuildFCmp(f->m->builder, predicates[k], x, y, "")));
    return true;
}

/* ---- Conversions ------------------------------------------------------------------------------- */

/* The open interval (low, high) of values whose truncation fits: the nearest representable
 * values outside the integer type's range. */
static void truncation_bounds(bool wide_float, bool wide_int, bool is_signed, double *low,
                              double *high)
{
    if (!is_signed) {
        *low = -1.0;
        *high = wide_int ? 18446744073709551616.0 : 4294967296.0;
    } else if (!wide_int) {
        *low = wide_float ? -2147483649.0 : -2147483904.0;
        *high = 2147483648.0;
    } else {
        *low = wide_float ? -9223372036854777856.0 : -9223373136366403584.0;
        *high = 9223372036854775808.0;
    }
}

/* The trapping conversions: a NaN is an invalid conversion, a value out of range an overflow;
 * only then fptosi/fptoui, whose result would otherwise be poison. */
static void trapping_truncation(opt_function *f, LLVMTypeRef to, bool is_signed)
{
    opt_module *m = f->m;
    LLVMBuilderRef b = m->builder;
    LLVMValueRef x = opt_pop(f);
    LLVMTypeRef from = LLVMTypeOf(x);
    double low, high;
    truncation_bounds(from == m->f64, to == m->i64, is_signed, &low, &high);
    opt_trap_if(f, LLVMBuildFCmp(b, LLVMRealUNO, x, x, ""), ALK_TRAP_INVALID_CONVERSION);
    LLVMValueRef outside = LLVMBuildOr(b, LLVMBuildFCmp(b, LLVMRealOLE, x, LLVMConstReal(from, low), ""),
                                       LLVMBuildFCmp(b, LLVMRealOGE, x, LLVMConstReal(from, high), ""),
                                       "");
    opt_trap_if(f, outside, ALK_TRAP_INTEGER_OVERFLOW);
    opt_push(f, is_signed ? LLVMBuildFPToSI(b, x, to, "") : LLVMBuildFPToUI(b, x, to, ""));
}

static void saturating_truncation(opt_function *f, LLVMTypeRef to, bool is_signed)
{
    LLVMValueRef x = opt_pop(f);
    LLVMTypeRef types[2] = { to, LLVMTypeOf(x) };
    opt_push(f, opt_intrinsic(f, is_signed ? "llvm.fptosi.sat" : "llvm.fptoui.sat", types, 2,
                              &x, 1));
}

static bool conversion_instr(opt_function *f, alk_opcode op)
{
    opt_module *m = f->m;
    LLVMBuilderRef b = m->builder;
    switch (op) {
    case ALK_OP_I32_WRAP_I64: opt_push(f, LLVMBuildTrunc(b, opt_pop(f), m->i32, "")); return true;
    case ALK_OP_I64_EXTEND_I32_S: opt_push(f, LLVMBuildSExt(b, opt_pop(f), m->i64, "")); return true;
    case ALK_OP_I64_EXTEND_I32_U: opt_push(f, LLVMBuildZExt(b, opt_pop(f), m->i64, "")); return true;
    case ALK_OP_I32_TRUNC_F32_S:
    case ALK_OP_I32_TRUNC_F64_S: trapping_truncation(f, m->i32, true); return true;
    case ALK_OP_I32_TRUNC_F32_U:
    case ALK_OP_I32_TRUNC_F64_U: trapping_truncation(f, m->i32, false); return true;
    case ALK_OP_I64_TRUNC_F32_S:
    case ALK_OP_I64_TRUNC_F64_S: trapping_truncation(f, m->i64, true); return true;
    case ALK_OP_I64_TRUNC_F32_U:
    case ALK_OP_I64_TRUNC_F64_U: trapping_truncation(f, m->i64, false); return true;
    case ALK_OP_I32_TRUNC_SAT_F32_S:
    case ALK_OP_I32_TRUNC_SAT_F64_S: saturating_truncation(f, m->i32, true); return true;
    case ALK_OP_I32_TRUNC_SAT_F32_U:
    case ALK_OP_I32_TRUNC_SAT_F64_U: saturating_truncation(f, m->i32, false); return true;
    case ALK_OP_I64_TRUNC_SAT_F32_S:
    case ALK_OP_I64_TRUNC_SAT_F64_S: saturating_truncation(f, m->i64, true); return true;
    case ALK_OP_I64_TRUNC_SAT_F32_U:
    case ALK_OP_I64_TRUNC_SAT_F64_U: saturating_truncation(f, m->i64, false); return true;
    case ALK_OP_F32_CONVERT_I32_S:
    case ALK_OP_F32_CONVERT_I64_S: opt_push(f, LLVMBuildSIToFP(b, opt_pop(f), m->f32, "")); return true;
    case ALK_OP_F32_CONVERT_I32_U:
    case ALK_OP_F32_CONVERT_I64_U: opt_push(f, LLVMBuildUIToFP(b, opt_pop(f), m->f32, "")); return true;
    case ALK_OP_F64_CONVERT_I32_S:
    case ALK_OP_F64_CONVERT_I64_S: opt_push(f, LLVMBuildSIToFP(b, opt_pop(f), m->f64, "")); return true;
    case ALK_OP_F64_CONVERT_I32_U:
    case ALK_OP_F64_CONVERT_I64_U: opt_push(f, LLVMBuildUIToFP(b, opt_pop(f), m->f64, "")); return true;
    case ALK_OP_F32_DEMOTE_F64:
        /* LLVM folds demote(promote(x)) to x, signalling NaNs included */
        opt_push(f, opt_quiet_identity(f, LLVMBuildFPTrunc(b, opt_pop(f), m->f32, "")));
        return true;
    case ALK_OP_F64_PROMOTE_F32: opt_push(f, LLVMBuildFPExt(b, opt_pop(f), m->f64, "")); return true;
    case ALK_OP_I32_REINTERPRET_F32: opt_push(f, LLVMBuildBitCast(b, opt_pop(f), m->i32, "")); return true;
    case ALK_OP_I64_REINTERPRET_F64: opt_push(f, LLVMBuildBitCast(b, opt_pop(f), m->i64, "")); return true;
    case ALK_OP_F32_REINTERPRET_I32: opt_push(f, LLVMBuildBitCast(b, opt_pop(f), m->f32, "")); return true;
    case ALK_OP_F64_REINTERPRET_I64: opt_push(f, LLVMBuildBitCast(b, opt_pop(f), m->f64, "")); return true;
    case ALK_OP_I32_EXTEND8_S:
    case ALK_OP_I32_EXTEND16_S:
    case ALK_OP_I64_EXTEND8_S:
    case ALK_OP_I64_EXTEND16_S:
    case ALK_OP_I64_EXTEND32_S: {
        LLVMValueRef x = opt_pop(f);
        LLVMTypeRef narrow = op == ALK_OP_I32_EXTEND8_S || op == ALK_OP_I64_EXTEND8_S ? m->i8
                             : op == ALK_OP_I64_EXTEND32_S ? m->i32 : m->i16;
        opt_push(f, LLVMBuildSExt(b, LLVMBuildTrunc(b, x, narrow, ""), LLVMTypeOf(x), ""));
        return true;
    }
    default:
        return false;
    }
}

bool opt_numeric_instr(opt_function *f, const alk_instr *in)
{
    opt_module *m = f->m;
    switch (in->op) {
    case ALK_OP_I32_CONST: opt_push(f, opt_const_i32(m, (uint32_t)in->imm.i32)); return true;
    case ALK_OP_I64_CONST: opt_push(f, opt_const_i64(m, (uint64_t)in->imm.i64)); return true;
    case ALK_OP_F32_CONST:
        opt_push(f, LLVMBuildBitCast(m->builder, opt_const_i32(m, in->imm.f32_bits), m->f32, ""));
        return true;
    case ALK_OP_F64_CONST:
        opt_push(f, LLVMBuildBitCast(m->builder, opt_const_i64(m, in->imm.f64_bits), m->f64, ""));
        return true;
    default:
        break;
    }
    return integer_binary(f, in->op) || integer_compare(f, in->op) || float_instr(f, in->op) ||
           float_compare(f, in->op) || conversion_instr(f, in->op);
}
