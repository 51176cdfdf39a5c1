/*
 * SIMD: v128 values are <2 x i64> between instructions and bitcast to the lane shape each
 * instruction works on. LLVM lowers the generic vector IR for the baseline CPU (SSE2), so the
 * code runs anywhere the rest does; nothing here needs a CPU feature bit in the object.
 *
 * The undefined-behaviour rules of numeric.c hold lane by lane: shift counts masked, abs defined
 * at the minimum, conversions saturating, lane indices constant and validated, except
 * i8x16.swizzle's, which is masked before use and its result selected to 0 when out of range.
 */
#include "llvm_tier.h"

typedef enum shape { I8X16, I16X8, I32X4, I64X2, F32X4, F64X2 } shape;

static LLVMTypeRef shape_type(opt_module *m, shape s)
{
    switch (s) {
    case I8X16: return m->i8x16;
    case I16X8: return m->i16x8;
    case I32X4: return m->i32x4;
    case I64X2: return m->i64x2;
    case F32X4: return m->f32x4;
    default: return m->f64x2;
    }
}

static unsigned lanes_of(shape s)
{
    static const unsigned lanes[] = { 16, 8, 4, 2, 4, 2 };
    return lanes[s];
}

static LLVMValueRef as(opt_function *f, LLVMValueRef v, LLVMTypeRef type)
{
    return LLVMTypeOf(v) == type ? v : LLVMBuildBitCast(f->m->builder, v, type, "");
}

static LLVMValueRef pop_as(opt_function *f, shape s)
{
    return as(f, opt_pop(f), shape_type(f->m, s));
}

static void push_vector(opt_function *f, LLVMValueRef v)
{
    opt_push(f, as(f, v, f->m->v128));
}

static LLVMValueRef splat(opt_function *f, LLVMValueRef scalar, unsigned n)
{
    LLVMBuilderRef b = f->m->builder;
    LLVMValueRef v = LLVMGetPoison(LLVMVectorType(LLVMTypeOf(scalar), n));
    v = LLVMBuildInsertElement(b, v, scalar, opt_const_i32(f->m, 0), "");
    LLVMValueRef zeros = LLVMConstNull(LLVMVectorType(f->m->i32, n));
    return LLVMBuildShuffleVector(b, v, LLVMGetPoison(LLVMTypeOf(v)), zeros, "");
}

/* A shufflevector with constant lane indices. */
static LLVMValueRef shuffle(opt_function *f, LLVMValueRef a, LLVMValueRef c, const unsigned *lanes,
                            unsigned n)
{
    LLVMValueRef mask[16];
    for (unsigned i = 0; i < n; i++)
        mask[i] = opt_const_i32(f->m, lanes[i]);
    return LLVMBuildShuffleVector(f->m->builder, a, c, LLVMConstVector(mask, n), "");
}

/* Lanes [first, first + n) of v. */
static LLVMValueRef half(opt_function *f, LLVMValueRef v, unsigned first, unsigned n)
{
    unsigned lanes[16];
    for (unsigned i = 0; i < n; i++)
        lanes[i] = first + i;
    return shuffle(f, v, LLVMGetPoison(LLVMTypeOf(v)), lanes, n);
}

/* Lanes first, first + 2, ... (n of them). */
static LLVMValueRef every_other(opt_function *f, LLVMValueRef v, unsigned first, unsigned n)
{
    unsigned lanes[16];
    for (unsigned i = 0; i < n; i++)
        lanes[i] = first + 2 * i;
    return shuffle(f, v, LLVMGetPoison(LLVMTypeOf(v)), lanes, n);
}

/* a and c side by side (both of n lanes). */
static LLVMValueRef concat(opt_function *f, LLVMValueRef a, LLVMValueRef c, unsigned n)
{
    unsigned lanes[16];
    for (unsigned i = 0; i < 2 * n; i++)
        lanes[i] = i;
    return shuffle(f, a, c, lanes, 2 * n);
}

static LLVMValueRef intrinsic1(opt_function *f, const char *name, LLVMValueRef x)
{
    LLVMTypeRef type = LLVMTypeOf(x);
    return opt_intrinsic(f, name, &type, 1, &x, 1);
}

static LLVMValueRef intrinsic2(opt_function *f, const char *name, LLVMValueRef x, LLVMValueRef y)
{
    LLVMTypeRef type = LLVMTypeOf(x);
    LLVMValueRef args[2] = { x, y };
    return opt_intrinsic(f, name, &type, 1, args, 2);
}

static LLVMTypeRef widened(opt_function *f, LLVMTypeRef vector, unsigned factor)
{
    LLVMTypeRef element = LLVMGetElementType(vector);
    unsigned bits = LLVMGetIntTypeWidth(element) * factor;
    return LLVMVectorType(LLVMIntTypeInContext(f->m->context, bits), LLVMGetVectorSize(vector));
}

/* ---- Memory ------------------------------------------------------------------------------------ */

static bool simd_memory(opt_function *f, const alk_instr *in)
{
    opt_module *m = f->m;
    LLVMBuilderRef b = m->builder;
    uint32_t offset = in->imm.memarg.offset;
    switch (in->op) {
    case ALK_OP_V128_LOAD:
        opt_push(f, opt_memory_load(f, m->v128, opt_address(f, opt_pop(f), offset, 16)));
        return true;
    case ALK_OP_V128_STORE: {
        LLVMValueRef v = opt_pop(f);
        opt_memory_store(f, v, opt_address(f, opt_pop(f), offset, 16));
        return true;
    }
    case ALK_OP_V128_LOAD8X8_S: case ALK_OP_V128_LOAD8X8_U:
    case ALK_OP_V128_LOAD16X4_S: case ALK_OP_V128_LOAD16X4_U:
    case ALK_OP_V128_LOAD32X2_S: case ALK_OP_V128_LOAD32X2_U: {
        unsigned k = (unsigned)(in->op - ALK_OP_V128_LOAD8X8_S);
        unsigned bits = 8u << (k / 2), n = 64 / bits;
        bool is_signed = k % 2 == 0;
        LLVMTypeRef narrow = LLVMVectorType(LLVMIntTypeInContext(m->context, bits), n);
        LLVMValueRef v = opt_memory_load(f, narrow, opt_address(f, opt_pop(f), offset, 8));
        LLVMTypeRef wide = widened(f, narrow, 2);
        push_vector(f, is_signed ? LLVMBuildSExt(b, v, wide, "") : LLVMBuildZExt(b, v, wide, ""));
        return true;
    }
    case ALK_OP_V128_LOAD8_SPLAT: case ALK_OP_V128_LOAD16_SPLAT:
    case ALK_OP_V128_LOAD32_SPLAT: case ALK_OP_V128_LOAD64_SPLAT: {
        unsigned bytes = 1u << (in->op - ALK_OP_V128_LOAD8_SPLAT);
        LLVMTypeRef t = LLVMIntTypeInContext(m->context, 8 * bytes);
        LLVMValueRef x = opt_memory_load(f, t, opt_address(f, opt_pop(f), offset, bytes));
        push_vector(f, splat(f, x, 16 / bytes));
        return true;
    }
    case ALK_OP_V128_LOAD32_ZERO:
    case ALK_OP_V128_LOAD64_ZERO: {
        unsigned bytes = in->op == ALK_OP_V128_LOAD32_ZERO ? 4 : 8;
        LLVMTypeRef t = bytes == 4 ? m->i32 : m->i64;
        LLVMValueRef x = opt_memory_load(f, t, opt_address(f, opt_pop(f), offset, bytes));
        LLVMValueRef zero = LLVMConstNull(LLVMVectorType(t, 16 / bytes));
        push_vector(f, LLVMBuildInsertElement(b, zero, x, opt_const_i32(m, 0), ""));
        return true;
    }
    case ALK_OP_V128_LOAD8_LANE: case ALK_OP_V128_LOAD16_LANE:
    case ALK_OP_V128_LOAD32_LANE: case ALK_OP_V128_LOAD64_LANE: {
        unsigned bytes = 1u << (in->op - ALK_OP_V128_LOAD8_LANE);
        LLVMTypeRef t = LLVMIntTypeInContext(m->context, 8 * bytes);
        LLVMValueRef v = as(f, opt_pop(f), LLVMVectorType(t, 16 / bytes));
        LLVMValueRef x = opt_memory_load(f, t, opt_address(f, opt_pop(f), offset, bytes));
        push_vector(f, LLVMBuildInsertElement(b, v, x, opt_const_i32(m, in->imm.memarg.lane), ""));
        return true;
    }
    case ALK_OP_V128_STORE8_LANE: case ALK_OP_V128_STORE16_LANE:
    case ALK_OP_V128_STORE32_LANE: case ALK_OP_V128_STORE64_LANE: {
        unsigned bytes = 1u << (in->op - ALK_OP_V128_STORE8_LANE);
        LLVMTypeRef t = LLVMIntTypeInContext(m->context, 8 * bytes);
        LLVMValueRef v = as(f, opt_pop(f), LLVMVectorType(t, 16 / bytes));
        LLVMValueRef x = LLVMBuildExtractElement(b, v, opt_const_i32(m, in->imm.memarg.lane), "");
        opt_memory_store(f, x, opt_address(f, opt_pop(f), offset, bytes));
        return true;
    }
    default:
        return false;
    }
}

/* ---- Lanes: constants, shuffles, splats, extract and replace ------------------------------------ */

static bool simd_lanes(opt_function *f, const alk_instr *in)
{
    opt_module *m = f->m;
    LLVMBuilderRef b = m->builder;
    switch (in->op) {
    case ALK_OP_V128_CONST: {
        LLVMValueRef bytes[16];
        for (unsigned i = 0; i < 16; i++)
            bytes[i] = LLVMConstInt(m->i8, in->imm.v128[i], false);
        push_vector(f, LLVMConstVector(bytes, 16));
        return true;
    }
    case ALK_OP_I8X16_SHUFFLE: {
        LLVMValueRef c = pop_as(f, I8X16), a = pop_as(f, I8X16);
        unsigned lanes[16];
        for (unsigned i = 0; i < 16; i++)
            lanes[i] = in->imm.lanes[i];
        push_vector(f, shuffle(f, a, c, lanes, 16));
        return true;
    }
    case ALK_OP_I8X16_SWIZZLE: {
        /* r[i] = c[i] < 16 ? a[c[i]] : 0, lane by lane (SSE2 has no byte shuffle) */
        LLVMValueRef c = pop_as(f, I8X16), a = pop_as(f, I8X16);
        LLVMValueRef r = LLVMConstNull(m->i8x16);
        for (unsigned i = 0; i < 16; i++) {
            LLVMValueRef index = LLVMBuildExtractElement(b, c, opt_const_i32(m, i), "");
            LLVMValueRef safe = LLVMBuildAnd(b, index, LLVMConstInt(m->i8, 15, false), "");
            LLVMValueRef lane = LLVMBuildExtractElement(b, a, safe, "");
            LLVMValueRef inside = LLVMBuildICmp(b, LLVMIntULT, index, LLVMConstInt(m->i8, 16, false), "");
            lane = LLVMBuildSelect(b, inside, lane, LLVMConstInt(m->i8, 0, false), "");
            r = LLVMBuildInsertElement(b, r, lane, opt_const_i32(m, i), "");
        }
        push_vector(f, r);
        return true;
    }
    case ALK_OP_I8X16_SPLAT:
        push_vector(f, splat(f, LLVMBuildTrunc(b, opt_pop(f), m->i8, ""), 16));
        return true;
    case ALK_OP_I16X8_SPLAT:
        push_vector(f, splat(f, LLVMBuildTrunc(b, opt_pop(f), m->i16, ""), 8));
        return true;
    case ALK_OP_I32X4_SPLAT:
    case ALK_OP_F32X4_SPLAT:
        push_vector(f, splat(f, opt_pop(f), 4));
        return true;
    case ALK_OP_I64X2_SPLAT:
    case ALK_OP_F64X2_SPLAT:
        push_vector(f, splat(f, opt_pop(f), 2));
        return true;
    case ALK_OP_I8X16_EXTRACT_LANE_S:
    case ALK_OP_I8X16_EXTRACT_LANE_U:
    case ALK_OP_I16X8_EXTRACT_LANE_S:
    case ALK_OP_I16X8_EXTRACT_LANE_U: {
        bool bytes = in->op <= ALK_OP_I8X16_EXTRACT_LANE_U;
        bool is_signed = in->op == ALK_OP_I8X16_EXTRACT_LANE_S || in->op == ALK_OP_I16X8_EXTRACT_LANE_S;
        LLVMValueRef v = pop_as(f, bytes ? I8X16 : I16X8);
        LLVMValueRef x = LLVMBuildExtractElement(b, v, opt_const_i32(m, in->imm.lane), "");
        opt_push(f, is_signed ? LLVMBuildSExt(b, x, m->i32, "") : LLVMBuildZExt(b, x, m->i32, ""));
        return true;
    }
    case ALK_OP_I32X4_EXTRACT_LANE:
    case ALK_OP_I64X2_EXTRACT_LANE:
    case ALK_OP_F32X4_EXTRACT_LANE:
    case ALK_OP_F64X2_EXTRACT_LANE: {
        shape s = in->op == ALK_OP_I32X4_EXTRACT_LANE ? I32X4 : in->op == ALK_OP_I64X2_EXTRACT_LANE
                  ? I64X2 : in->op == ALK_OP_F32X4_EXTRACT_LANE ? F32X4 : F64X2;
        opt_push(f, LLVMBuildExtractElement(b, pop_as(f, s), opt_const_i32(m, in->imm.lane), ""));
        return true;
    }
    case ALK_OP_I8X16_REPLACE_LANE:
    case ALK_OP_I16X8_REPLACE_LANE:
    case ALK_OP_I32X4_REPLACE_LANE:
    case ALK_OP_I64X2_REPLACE_LANE:
    case ALK_OP_F32X4_REPLACE_LANE:
    case ALK_OP_F64X2_REPLACE_LANE: {
        shape s = in->op == ALK_OP_I8X16_REPLACE_LANE ? I8X16 : in->op == ALK_OP_I16X8_REPLACE_LANE
                  ? I16X8 : in->op == ALK_OP_I32X4_REPLACE_LANE ? I32X4
                  : in->op == ALK_OP_I64X2_REPLACE_LANE ? I64X2
                  : in->op == ALK_OP_F32X4_REPLACE_LANE ? F32X4 : F64X2;
        LLVMValueRef x = opt_pop(f);
        LLVMValueRef v = pop_as(f, s);
        LLVMTypeRef element = LLVMGetElementType(shape_type(m, s));
        if (s == I8X16 || s == I16X8)
            x = LLVMBuildTrunc(b, x, element, "");
        push_vector(f, LLVMBuildInsertElement(b, v, x, opt_const_i32(m, in->imm.lane), ""));
        return true;
    }
    default:
        return false;
    }
}

/* ---- Comparisons and bitwise operations ------------------------------------------------------- */

static void compare_push(opt_function *f, shape s, LLVMValueRef truth)
{
    push_vector(f, LLVMBuildSExt(f->m->builder, truth, shape_type(f->m, s), ""));
}

static bool simd_compare(opt_function *f, alk_opcode op)
{
    LLVMBuilderRef b = f->m->builder;
    static const LLVMIntPredicate ints[] = {
        LLVMIntEQ, LLVMIntNE, LLVMIntSLT, LLVMIntULT, LLVMIntSGT, LLVMIntUGT,
        LLVMIntSLE, LLVMIntULE, LLVMIntSGE, LLVMIntUGE,
    };
    static const LLVMIntPredicate wide_ints[] = {
        LLVMIntEQ, LLVMIntNE, LLVMIntSLT, LLVMIntSGT, LLVMIntSLE, LLVMIntSGE,
    };
    static const LLVMRealPredicate reals[] = {
        LLVMRealOEQ, LLVMRealUNE, LLVMRealOLT, LLVMRealOGT, LLVMRealOLE, LLVMRealOGE,
    };
    shape s;
    int k;
    if (op >= ALK_OP_I8X16_EQ && op <= ALK_OP_I8X16_GE_U) {
        s = I8X16; k = op - ALK_OP_I8X16_EQ;
    } else if (op >= ALK_OP_I16X8_EQ && op <= ALK_OP_I16X8_GE_U) {
        s = I16X8; k = op - ALK_OP_I16X8_EQ;
    } else if (op >= ALK_OP_I32X4_EQ && op <= ALK_OP_I32X4_GE_U) {
        s = I32X4; k = op - ALK_OP_I32X4_EQ;
    } else if (op >= ALK_OP_I64X2_EQ && op <= ALK_OP_I64X2_GE_S) {
        LLVMValueRef y = pop_as(f, I64X2), x = pop_as(f, I64X2);
        compare_push(f, I64X2, LLVMBuildICmp(b, wide_ints[op - ALK_OP_I64X2_EQ], x, y, ""));
        return true;
    } else if (op >= ALK_OP_F32X4_EQ && op <= ALK_OP_F32X4_GE) {
        LLVMValueRef y = pop_as(f, F32X4), x = pop_as(f, F32X4);
        compare_push(f, I32X4, LLVMBuildFCmp(b, reals[op - ALK_OP_F32X4_EQ], x, y, ""));
        return true;
    } else if (op >= ALK_OP_F64X2_EQ && op <= ALK_OP_F64X2_GE) {
        LLVMValueRef y = pop_as(f, F64X2), x = pop_as(f, F64X2);
        compare_push(f, I64X2, LLVMBuildFCmp(b, reals[op - ALK_OP_F64X2_EQ], x, y, ""));
        return true;
    } else {
        return false;
    }
    LLVMValueRef y = pop_as(f, s), x = pop_as(f, s);
    compare_push(f, s, LLVMBuildICmp(b, ints[k], x, y, ""));
    return true;
}

static bool simd_bitwise(opt_function *f, alk_opcode op)
{
    opt_module *m = f->m;
    LLVMBuilderRef b = m->builder;
    switch (op) {
    case ALK_OP_V128_NOT: opt_push(f, LLVMBuildNot(b, opt_pop(f), "")); return true;
    case ALK_OP_V128_AND:
    case ALK_OP_V128_ANDNOT:
    case ALK_OP_V128_OR:
    case ALK_OP_V128_XOR: {
        LLVMValueRef y = pop_as(f, I64X2), x = pop_as(f, I64X2);
        LLVMValueRef r = op == ALK_OP_V128_AND ? LLVMBuildAnd(b, x, y, "")
                       : op == ALK_OP_V128_ANDNOT ? LLVMBuildAnd(b, x, LLVMBuildNot(b, y, ""), "")
                       : op == ALK_OP_V128_OR ? LLVMBuildOr(b, x, y, "") : LLVMBuildXor(b, x, y, "");
        opt_push(f, r);
        return true;
    }
    case ALK_OP_V128_BITSELECT: {
        LLVMValueRef c = pop_as(f, I64X2), y = pop_as(f, I64X2), x = pop_as(f, I64X2);
        opt_push(f, LLVMBuildOr(b, LLVMBuildAnd(b, x, c, ""),
                                LLVMBuildAnd(b, y, LLVMBuildNot(b, c, ""), ""), ""));
        return true;
    }
    case ALK_OP_V128_ANY_TRUE: {
        LLVMValueRef x = as(f, opt_pop(f), m->i128);
        opt_push(f, LLVMBuildZExt(b, LLVMBuildICmp(b, LLVMIntNE, x, LLVMConstNull(m->i128), ""),
                                  m->i32, ""));
        return true;
    }
    default:
        return false;
    }
}

/* ---- Integer lanes ------------------------------------------------------------------------------ */

/* The shape of an integer instruction and its operation as the i8x16 one of the same name
 * (the i16x8, i32x4 and i64x2 groups list theirs in a different order, hence by name). */
typedef enum int_op {
    IABS, INEG, IPOPCNT, IALL_TRUE, IBITMASK, ISHL, ISHR_S, ISHR_U, IADD, IADD_SAT_S, IADD_SAT_U,
    ISUB, ISUB_SAT_S, ISUB_SAT_U, IMUL, IMIN_S, IMIN_U, IMAX_S, IMAX_U, IAVGR_U, INONE
} int_op;

static int_op integer_op(alk_opcode op, shape *s)
{
    switch (op) {
#define CASE(S, NAME, OP) case ALK_OP_##S##_##NAME: *s = S; return OP;
#define COMMON(S) CASE(S, ABS, IABS) CASE(S, NEG, INEG) CASE(S, ALL_TRUE, IALL_TRUE) \
    CASE(S, BITMASK, IBITMASK) CASE(S, SHL, ISHL) CASE(S, SHR_S, ISHR_S) CASE(S, SHR_U, ISHR_U) \
    CASE(S, ADD, IADD) CASE(S, SUB, ISUB)
    COMMON(I8X16) COMMON(I16X8) COMMON(I32X4) COMMON(I64X2)
    CASE(I8X16, POPCNT, IPOPCNT)
    CASE(I8X16, ADD_SAT_S, IADD_SAT_S) CASE(I8X16, ADD_SAT_U, IADD_SAT_U)
    CASE(I8X16, SUB_SAT_S, ISUB_SAT_S) CASE(I8X16, SUB_SAT_U, ISUB_SAT_U)
    CASE(I16X8, ADD_SAT_S, IADD_SAT_S) CASE(I16X8, ADD_SAT_U, IADD_SAT_U)
    CASE(I16X8, SUB_SAT_S, ISUB_SAT_S) CASE(I16X8, SUB_SAT_U, ISUB_SAT_U)
    CASE(I16X8, MUL, IMUL) CASE(I32X4, MUL, IMUL) CASE(I64X2, MUL, IMUL)
    CASE(I8X16, MIN_S, IMIN_S) CASE(I8X16, MIN_U, IMIN_U) CASE(I8X16, MAX_S, IMAX_S) CASE(I8X16, MAX_U, IMAX_U)
    CASE(I16X8, MIN_S, IMIN_S) CASE(I16X8, MIN_U, IMIN_U) CASE(I16X8, MAX_S, IMAX_S) CASE(I16X8, MAX_U, IMAX_U)
    CASE(I32X4, MIN_S, IMIN_S) CASE(I32X4, MIN_U, IMIN_U) CASE(I32X4, MAX_S, IMAX_S) CASE(I32X4, MAX_U, IMAX_U)
    CASE(I8X16, AVGR_U, IAVGR_U) CASE(I16X8, AVGR_U, IAVGR_U)
#undef COMMON
#undef CASE
    default:
        return INONE;
    }
}

static bool simd_integer(opt_function *f, alk_opcode op)
{
    opt_module *m = f->m;
    LLVMBuilderRef b = m->builder;
    shape s;
    int_op k = integer_op(op, &s);
    if (k == INONE)
        return false;
    LLVMTypeRef type = shape_type(m, s);
    LLVMTypeRef element = LLVMGetElementType(type);
    unsigned n = lanes_of(s), bits = LLVMGetIntTypeWidth(element);
    switch (k) {
    case IABS: {
        LLVMValueRef args[2] = { pop_as(f, s), LLVMConstInt(m->i1, 0, false) }; /* defined at MIN */
        push_vector(f, opt_intrinsic(f, "llvm.abs", &type, 1, args, 2));
        return true;
    }
    case INEG: push_vector(f, LLVMBuildNeg(b, pop_as(f, s), "")); return true;
    case IPOPCNT: push_vector(f, intrinsic1(f, "llvm.ctpop", pop_as(f, s))); return true;
    case IALL_TRUE:
    case IBITMASK: {
        LLVMValueRef x = pop_as(f, s);
        LLVMValueRef zero = LLVMConstNull(type);
        LLVMValueRef lanes = k == IALL_TRUE ? LLVMBuildICmp(b, LLVMIntNE, x, zero, "")
                                            : LLVMBuildICmp(b, LLVMIntSLT, x, zero, "");
        LLVMTypeRef mask_type = LLVMIntTypeInContext(m->context, n);
        LLVMValueRef mask = LLVMBuildBitCast(b, lanes, mask_type, "");
        if (k == IALL_TRUE)
            opt_push(f, LLVMBuildZExt(b, LLVMBuildICmp(b, LLVMIntEQ, mask,
                                                       LLVMConstAllOnes(mask_type), ""), m->i32, ""));
        else
            opt_push(f, LLVMBuildZExt(b, mask, m->i32, ""));
        return true;
    }
    case ISHL:
    case ISHR_S:
    case ISHR_U: {
        /* the count modulo the lane width, as Wasm says; never the width or more (poison) */
        LLVMValueRef count = LLVMBuildAnd(b, opt_pop(f), opt_const_i32(m, bits - 1), "");
        LLVMValueRef x = pop_as(f, s);
        count = bits < 32 ? LLVMBuildTrunc(b, count, element, "")
              : bits > 32 ? LLVMBuildZExt(b, count, element, "") : count;
        LLVMValueRef counts = splat(f, count, n);
        push_vector(f, k == ISHL ? LLVMBuildShl(b, x, counts, "")
                       : k == ISHR_S ? LLVMBuildAShr(b, x, counts, "") : LLVMBuildLShr(b, x, counts, ""));
        return true;
    }
    default:
        break;
    }
    LLVMValueRef y = pop_as(f, s), x = pop_as(f, s), r;
    switch (k) {
    case IADD: r = LLVMBuildAdd(b, x, y, ""); break;
    case ISUB: r = LLVMBuildSub(b, x, y, ""); break;
    case IMUL: r = LLVMBuildMul(b, x, y, ""); break;
    case IADD_SAT_S: r = intrinsic2(f, "llvm.sadd.sat", x, y); break;
    case IADD_SAT_U: r = intrinsic2(f, "llvm.uadd.sat", x, y); break;
    case ISUB_SAT_S: r = intrinsic2(f, "llvm.ssub.sat", x, y); break;
    case ISUB_SAT_U: r = intrinsic2(f, "llvm.usub.sat", x, y); break;
    case IMIN_S: r = intrinsic2(f, "llvm.smin", x, y); break;
    case IMIN_U: r = intrinsic2(f, "llvm.umin", x, y); break;
    case IMAX_S: r = intrinsic2(f, "llvm.smax", x, y); break;
    case IMAX_U: r = intrinsic2(f, "llvm.umax", x, y); break;
    case IAVGR_U: {
        LLVMTypeRef wide = widened(f, type, 2);
        LLVMValueRef one = LLVMConstInt(LLVMGetElementType(wide), 1, false);
        LLVMValueRef sum = LLVMBuildAdd(b, LLVMBuildZExt(b, x, wide, ""), LLVMBuildZExt(b, y, wide, ""), "");
        sum = LLVMBuildAdd(b, sum, splat(f, one, n), "");
        r = LLVMBuildTrunc(b, LLVMBuildLShr(b, sum, splat(f, one, n), ""), type, "");
        break;
    }
    default:
        return false;
    }
    push_vector(f, r);
    return true;
}

/* Narrowing with saturation: two vectors of n lanes into one of 2n lanes, half the width. */
static void narrow(opt_function *f, shape from, bool is_signed)
{
    opt_module *m = f->m;
    LLVMBuilderRef b = m->builder;
    LLVMTypeRef type = shape_type(m, from);
    LLVMTypeRef element = LLVMGetElementType(type);
    unsigned n = lanes_of(from), bits = LLVMGetIntTypeWidth(element);
    LLVMValueRef y = pop_as(f, from), x = pop_as(f, from);
    int64_t low = is_signed ? -(1ll << (bits / 2 - 1)) : 0;
    int64_t high = is_signed ? (1ll << (bits / 2 - 1)) - 1 : (1ll << (bits / 2)) - 1;
    LLVMValueRef lo = splat(f, LLVMConstInt(element, (uint64_t)low, true), n);
    LLVMValueRef hi = splat(f, LLVMConstInt(element, (uint64_t)high, true), n);
    LLVMTypeRef half_type = LLVMVectorType(LLVMIntTypeInContext(m->context, bits / 2), n);
    LLVMValueRef parts[2] = { x, y };
    for (int i = 0; i < 2; i++) {
        LLVMValueRef clamped = intrinsic2(f, "llvm.smin", intrinsic2(f, "llvm.smax", parts[i], lo), hi);
        parts[i] = LLVMBuildTrunc(b, clamped, half_type, "");
    }
    push_vector(f, concat(f, parts[0], parts[1], n));
}

/* Widening: extend, extmul, extadd_pairwise, dot, q15mulr. */
static bool simd_widening(opt_function *f, alk_opcode op)
{
    opt_module *m = f->m;
    LLVMBuilderRef b = m->builder;
    switch (op) {
    case ALK_OP_I8X16_NARROW_I16X8_S: narrow(f, I16X8, true); return true;
    case ALK_OP_I8X16_NARROW_I16X8_U: narrow(f, I16X8, false); return true;
    case ALK_OP_I16X8_NARROW_I32X4_S: narrow(f, I32X4, true); return true;
    case ALK_OP_I16X8_NARROW_I32X4_U: narrow(f, I32X4, false); return true;
    default:
        break;
    }
    shape from;
    bool is_signed, high = false;
    enum { EXTEND, EXTMUL, EXTADD } kind;
    switch (op) {
#define EXT(TO, FROM, S, LOHI, SIGN, HIGH) \
    case ALK_OP_##TO##_EXTEND_##LOHI##_##FROM##_##S: kind = EXTEND; from = FROM; is_signed = SIGN; high = HIGH; break; \
    case ALK_OP_##TO##_EXTMUL_##LOHI##_##FROM##_##S: kind = EXTMUL; from = FROM; is_signed = SIGN; high = HIGH; break;
#define EXT4(TO, FROM) EXT(TO, FROM, S, LOW, true, false) EXT(TO, FROM, S, HIGH, true, true) \
    EXT(TO, FROM, U, LOW, false, false) EXT(TO, FROM, U, HIGH, false, true)
    EXT4(I16X8, I8X16) EXT4(I32X4, I16X8) EXT4(I64X2, I32X4)
#undef EXT4
#undef EXT
    case ALK_OP_I16X8_EXTADD_PAIRWISE_I8X16_S: kind = EXTADD; from = I8X16; is_signed = true; break;
    case ALK_OP_I16X8_EXTADD_PAIRWISE_I8X16_U: kind = EXTADD; from = I8X16; is_signed = false; break;
    case ALK_OP_I32X4_EXTADD_PAIRWISE_I16X8_S: kind = EXTADD; from = I16X8; is_signed = true; break;
    case ALK_OP_I32X4_EXTADD_PAIRWISE_I16X8_U: kind = EXTADD; from = I16X8; is_signed = false; break;
    case ALK_OP_I32X4_DOT_I16X8_S: {
        LLVMValueRef y = pop_as(f, I16X8), x = pop_as(f, I16X8);
        LLVMTypeRef wide = LLVMVectorType(m->i32, 8);
        LLVMValueRef p = LLVMBuildMul(b, LLVMBuildSExt(b, x, wide, ""), LLVMBuildSExt(b, y, wide, ""), "");
        push_vector(f, LLVMBuildAdd(b, every_other(f, p, 0, 4), every_other(f, p, 1, 4), ""));
        return true;
    }
    case ALK_OP_I16X8_Q15MULR_SAT_S: {
        LLVMValueRef y = pop_as(f, I16X8), x = pop_as(f, I16X8);
        LLVMTypeRef wide = LLVMVectorType(m->i32, 8);
        LLVMValueRef p = LLVMBuildMul(b, LLVMBuildSExt(b, x, wide, ""), LLVMBuildSExt(b, y, wide, ""), "");
        p = LLVMBuildAdd(b, p, splat(f, opt_const_i32(m, 0x4000), 8), "");
        p = LLVMBuildAShr(b, p, splat(f, opt_const_i32(m, 15), 8), "");
        p = intrinsic2(f, "llvm.smin", p, splat(f, opt_const_i32(m, 0x7fff), 8));
        push_vector(f, LLVMBuildTrunc(b, p, m->i16x8, ""));
        return true;
    }
    default:
        return false;
    }
    LLVMTypeRef type = shape_type(m, from);
    unsigned n = lanes_of(from) / 2;
    LLVMTypeRef wide = widened(f, LLVMVectorType(LLVMGetElementType(type), n), 2);
    if (kind == EXTADD) {
        LLVMValueRef x = pop_as(f, from);
        LLVMValueRef even = every_other(f, x, 0, n), odd = every_other(f, x, 1, n);
        even = is_signed ? LLVMBuildSExt(b, even, wide, "") : LLVMBuildZExt(b, even, wide, "");
        odd = is_signed ? LLVMBuildSExt(b, odd, wide, "") : LLVMBuildZExt(b, odd, wide, "");
        push_vector(f, LLVMBuildAdd(b, even, odd, ""));
        return true;
    }
    LLVMValueRef operands[2];
    unsigned count = kind == EXTMUL ? 2 : 1;
    for (unsigned i = count; i > 0; i--) {
        LLVMValueRef x = half(f, pop_as(f, from), high ? n : 0, n);
        operands[i - 1] = is_signed ? LLVMBuildSExt(b, x, wide, "") : LLVMBuildZExt(b, x, wide, "");
    }
    push_vector(f, kind == EXTMUL ? LLVMBuildMul(b, operands[0], operands[1], "") : operands[0]);
    return true;
}

/* ---- Float lanes --------------------------------------------------------------------------------- */

/* Whether every lane of a constant is `value` (a vector operand LLVM would fold away). */
static bool all_lanes(LLVMValueRef v, unsigned n, double value, bool negative_zero)
{
    if (!LLVMIsAConstant(v))
        return false;
    for (unsigned i = 0; i < n; i++) {
        LLVMValueRef lane = LLVMGetAggregateElement(v, i);
        LLVMBool loses;
        if (!lane || !LLVMIsAConstantFP(lane))
            return false;
        double d = LLVMConstRealGetDouble(lane, &loses);
        if (d != value || (value == 0 && (__builtin_signbit(d) != 0) != negative_zero))
            return false;
    }
    return true;
}

static bool simd_float(opt_function *f, alk_opcode op)
{
    opt_module *m = f->m;
    LLVMBuilderRef b = m->builder;
    alk_opcode base;
    shape s;
    if (op >= ALK_OP_F32X4_CEIL && op <= ALK_OP_F32X4_PMAX) {
        base = op;
        s = F32X4;
    } else if (op >= ALK_OP_F64X2_CEIL && op <= ALK_OP_F64X2_PMAX) {
        base = (alk_opcode)(op - ALK_OP_F64X2_CEIL + ALK_OP_F32X4_CEIL);
        s = F64X2;
    } else {
        return false;
    }
    unsigned n = lanes_of(s);
    switch (base) {
    case ALK_OP_F32X4_CEIL: push_vector(f, opt_float_round(f, pop_as(f, s), ALK_OP_F32_CEIL)); return true;
    case ALK_OP_F32X4_FLOOR: push_vector(f, opt_float_round(f, pop_as(f, s), ALK_OP_F32_FLOOR)); return true;
    case ALK_OP_F32X4_TRUNC: push_vector(f, opt_float_round(f, pop_as(f, s), ALK_OP_F32_TRUNC)); return true;
    case ALK_OP_F32X4_NEAREST: push_vector(f, opt_float_round(f, pop_as(f, s), ALK_OP_F32_NEAREST)); return true;
    case ALK_OP_F32X4_ABS: push_vector(f, intrinsic1(f, "llvm.fabs", pop_as(f, s))); return true;
    case ALK_OP_F32X4_NEG: push_vector(f, LLVMBuildFNeg(b, pop_as(f, s), "")); return true;
    case ALK_OP_F32X4_SQRT: push_vector(f, intrinsic1(f, "llvm.sqrt", pop_as(f, s))); return true;
    default:
        break;
    }
    LLVMValueRef y = pop_as(f, s), x = pop_as(f, s), r;
    bool folds = false;
    switch (base) {
    case ALK_OP_F32X4_ADD:
        r = LLVMBuildFAdd(b, x, y, "");
        folds = all_lanes(x, n, 0, true) || all_lanes(y, n, 0, true);
        break;
    case ALK_OP_F32X4_SUB:
        r = LLVMBuildFSub(b, x, y, "");
        folds = all_lanes(y, n, 0, false) || all_lanes(x, n, 0, true);
        break;
    case ALK_OP_F32X4_MUL:
        r = LLVMBuildFMul(b, x, y, "");
        folds = all_lanes(x, n, 1, false) || all_lanes(y, n, 1, false) ||
                all_lanes(x, n, -1, false) || all_lanes(y, n, -1, false);
        break;
    case ALK_OP_F32X4_DIV:
        r = LLVMBuildFDiv(b, x, y, "");
        folds = all_lanes(y, n, 1, false) || all_lanes(y, n, -1, false);
        break;
    case ALK_OP_F32X4_MIN: r = opt_float_min_max(f, x, y, false); break;
    case ALK_OP_F32X4_MAX: r = opt_float_min_max(f, x, y, true); break;
    case ALK_OP_F32X4_PMIN: /* c < a ? c : a, the operand itself (no NaN quieting) */
        r = LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOLT, y, x, ""), y, x, "");
        break;
    case ALK_OP_F32X4_PMAX: /* a < c ? c : a */
        r = LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOLT, x, y, ""), y, x, "");
        break;
    default:
        return false;
    }
    push_vector(f, folds ? opt_quiet_identity(f, r) : r);
    return true;
}

static bool simd_conversion(opt_function *f, alk_opcode op)
{
    opt_module *m = f->m;
    LLVMBuilderRef b = m->builder;
    switch (op) {
    case ALK_OP_I32X4_TRUNC_SAT_F32X4_S:
    case ALK_OP_I32X4_TRUNC_SAT_F32X4_U: {
        LLVMValueRef x = pop_as(f, F32X4);
        LLVMTypeRef types[2] = { m->i32x4, m->f32x4 };
        push_vector(f, opt_intrinsic(f, op == ALK_OP_I32X4_TRUNC_SAT_F32X4_S ? "llvm.fptosi.sat"
                                        : "llvm.fptoui.sat", types, 2, &x, 1));
        return true;
    }
    case ALK_OP_I32X4_TRUNC_SAT_F64X2_S_ZERO:
    case ALK_OP_I32X4_TRUNC_SAT_F64X2_U_ZERO: {
        LLVMValueRef x = pop_as(f, F64X2);
        LLVMTypeRef two = LLVMVectorType(m->i32, 2);
        LLVMTypeRef types[2] = { two, m->f64x2 };
        LLVMValueRef r = opt_intrinsic(f, op == ALK_OP_I32X4_TRUNC_SAT_F64X2_S_ZERO
                                          ? "llvm.fptosi.sat" : "llvm.fptoui.sat", types, 2, &x, 1);
        push_vector(f, concat(f, r, LLVMConstNull(two), 2));
        return true;
    }
    case ALK_OP_F32X4_CONVERT_I32X4_S:
        push_vector(f, LLVMBuildSIToFP(b, pop_as(f, I32X4), m->f32x4, ""));
        return true;
    case ALK_OP_F32X4_CONVERT_I32X4_U:
        push_vector(f, LLVMBuildUIToFP(b, pop_as(f, I32X4), m->f32x4, ""));
        return true;
    case ALK_OP_F64X2_CONVERT_LOW_I32X4_S:
    case ALK_OP_F64X2_CONVERT_LOW_I32X4_U: {
        LLVMValueRef x = half(f, pop_as(f, I32X4), 0, 2);
        push_vector(f, op == ALK_OP_F64X2_CONVERT_LOW_I32X4_S ? LLVMBuildSIToFP(b, x, m->f64x2, "")
                                                             : LLVMBuildUIToFP(b, x, m->f64x2, ""));
        return true;
    }
    case ALK_OP_F32X4_DEMOTE_F64X2_ZERO: {
        LLVMTypeRef two = LLVMVectorType(m->f32, 2);
        LLVMValueRef r = opt_quiet_identity(f, LLVMBuildFPTrunc(b, pop_as(f, F64X2), two, ""));
        push_vector(f, concat(f, r, LLVMConstNull(two), 2));
        return true;
    }
    case ALK_OP_F64X2_PROMOTE_LOW_F32X4:
        push_vector(f, LLVMBuildFPExt(b, half(f, pop_as(f, F32X4), 0, 2), m->f64x2, ""));
        return true;
    default:
        return false;
    }
}

bool opt_simd_instr(opt_function *f, const alk_instr *in)
{
    if (alk_opcode_infos[in->op].prefix != 0xFD)
        return false;
    return simd_memory(f, in) || simd_lanes(f, in) || simd_compare(f, in->op) ||
           simd_bitwise(f, in->op) || simd_integer(f, in->op) || simd_widening(f, in->op) ||
           simd_float(f, in->op) || simd_conversion(f, in->op);
}
