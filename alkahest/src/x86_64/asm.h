/*
 * x86-64 machine-code emission for the code generator: registers, memory operands, labels, and
 * one function per instruction form. Only what codegen.c uses; every encoding goes through
 * emit_rex / emit_modrm so that the special cases (rsp/r12 need a SIB, rbp/r13 need a
 * displacement, byte registers sil/dil need a REX) live in one place.
 */
#ifndef ALK_X64_ASM_H
#define ALK_X64_ASM_H

#include "../code.h"

typedef enum x64_reg {
    RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9, R10, R11, R12, R13, R14, R15,
    X64_NO_REG = 0xff,
} x64_reg;
/* XMM registers are numbered 0..15 in the same way; which file is meant is clear from the
 * instruction. */

typedef enum x64_cond {
    CC_O = 0, CC_NO = 1, CC_B = 2, CC_AE = 3, CC_E = 4, CC_NE = 5, CC_BE = 6, CC_A = 7,
    CC_S = 8, CC_NS = 9, CC_P = 10, CC_NP = 11, CC_L = 12, CC_GE = 13, CC_LE = 14, CC_G = 15,
} x64_cond;
static inline x64_cond x64_invert(x64_cond cc) { return (x64_cond)(cc ^ 1); }

/* [base + index*scale + disp], or [rip + label] when rip_label is set (base/index unused). */
typedef struct x64_mem {
    uint8_t base;       /* x64_reg, or X64_NO_REG */
    uint8_t index;      /* x64_reg, or X64_NO_REG */
    uint8_t scale;      /* 1, 2, 4, 8 */
    int32_t disp;
    uint32_t rip_label; /* 0: not RIP-relative */
} x64_mem;

static inline x64_mem x64_at(x64_reg base, int32_t disp)
{
    return (x64_mem){ .base = (uint8_t)base, .index = X64_NO_REG, .scale = 1, .disp = disp };
}
static inline x64_mem x64_at_index(x64_reg base, x64_reg index, int scale, int32_t disp)
{
    return (x64_mem){ .base = (uint8_t)base, .index = (uint8_t)index, .scale = (uint8_t)scale,
                      .disp = disp };
}
static inline x64_mem x64_at_label(uint32_t label)
{
    return (x64_mem){ .base = X64_NO_REG, .index = X64_NO_REG, .scale = 1, .rip_label = label };
}

/* Labels, bytes and their uses: the shared code buffer (../code.h). Every use of a label on
 * x86-64 is a rel32; x64_resolve patches them. */
bool x64_resolve(alk_code *code);

/* ---- Integer instructions. w is the operand width in bytes: 4 or 8 (1/2 where noted). ---- */
typedef enum x64_alu { ALU_ADD = 0, ALU_OR = 1, ALU_ADC = 2, ALU_SBB = 3, ALU_AND = 4,
                       ALU_SUB = 5, ALU_XOR = 6, ALU_CMP = 7 } x64_alu;
void x64_alu_rr(alk_code *c, x64_alu op, int w, x64_reg dst, x64_reg src);
void x64_alu_ri(alk_code *c, x64_alu op, int w, x64_reg dst, int32_t imm);
void x64_alu_rm(alk_code *c, x64_alu op, int w, x64_reg dst, x64_mem src);
void x64_alu_mr(alk_code *c, x64_alu op, int w, x64_mem dst, x64_reg src);
void x64_alu_mi(alk_code *c, x64_alu op, int w, x64_mem dst, int32_t imm);
void x64_test_rr(alk_code *c, int w, x64_reg a, x64_reg b);
void x64_test_ri(alk_code *c, int w, x64_reg a, int32_t imm);

void x64_mov_rr(alk_code *c, int w, x64_reg dst, x64_reg src);
/* dst := imm, zero-extended (w = 4) or the full 64-bit value (w = 8), shortest encoding. */
void x64_mov_ri(alk_code *c, int w, x64_reg dst, uint64_t imm);
/* The same, never as `xor` (which clobbers the flags): for code between a compare and its use. */
void x64_mov_ri_keep_flags(alk_code *c, int w, x64_reg dst, uint64_t imm);
/* Loads of 1, 2, 4 or 8 bytes into a 32/64-bit register: zero- or sign-extended to w. */
void x64_load(alk_code *c, int w, x64_reg dst, x64_mem src, int size, bool sign_extend);
void x64_store(alk_code *c, int size, x64_mem dst, x64_reg src);
void x64_store_imm(alk_code *c, int size, x64_mem dst, int32_t imm);
void x64_lea(alk_code *c, int w, x64_reg dst, x64_mem src);
void x64_movzx8_rr(alk_code *c, x64_reg dst, x64_reg src);  /* dst32 := zx(src8) */
void x64_movsx_rr(alk_code *c, int w, x64_reg dst, x64_reg src, int from_size);
void x64_movsxd_rr(alk_code *c, x64_reg dst, x64_reg src);   /* dst64 := sx(src32) */

typedef enum x64_shift { SHIFT_ROL = 0, SHIFT_ROR = 1, SHIFT_SHL = 4, SHIFT_SHR = 5,
                         SHIFT_SAR = 7 } x64_shift;
void x64_shift_cl(alk_code *c, x64_shift op, int w, x64_reg dst);
void x64_shift_ri(alk_code *c, x64_shift op, int w, x64_reg dst, uint8_t count);

typedef enum x64_unary { UNARY_NOT = 2, UNARY_NEG = 3, UNARY_MUL = 4, UNARY_IMUL = 5,
                         UNARY_DIV = 6, UNARY_IDIV = 7 } x64_unary;
void x64_unary_r(alk_code *c, x64_unary op, int w, x64_reg reg);
void x64_imul_rr(alk_code *c, int w, x64_reg dst, x64_reg src);
void x64_imul_rri(alk_code *c, int w, x64_reg dst, x64_reg src, int32_t imm);
void x64_cdq(alk_code *c, int w);   /* cdq (w 4) or cqo (w 8) */
void x64_setcc(alk_code *c, x64_cond cc, x64_reg dst8);
void x64_cmov(alk_code *c, x64_cond cc, int w, x64_reg dst, x64_reg src);
void x64_bsr(alk_code *c, int w, x64_reg dst, x64_reg src);
void x64_bsf(alk_code *c, int w, x64_reg dst, x64_reg src);
void x64_xchg_rr(alk_code *c, x64_reg a, x64_reg b);

/* ---- Control ------------------------------------------------------------------------------ */
void x64_jmp(alk_code *c, uint32_t label);
void x64_jcc(alk_code *c, x64_cond cc, uint32_t label);
void x64_call_label(alk_code *c, uint32_t label);
void x64_call_mem(alk_code *c, x64_mem target);
void x64_jmp_r(alk_code *c, x64_reg target);
void x64_push(alk_code *c, x64_reg reg);
void x64_pop(alk_code *c, x64_reg reg);
void x64_ret(alk_code *c);
void x64_leave(alk_code *c);
void x64_ud2(alk_code *c);
/* A 32-bit table entry: label - base_label (for jump tables). */
void x64_label_delta(alk_code *c, uint32_t label, uint32_t base_label);

/* ---- SSE2 -------------------------------------------------------------------------------- */
/* An SSE instruction as its mandatory prefix (0, 0x66, 0xF2, 0xF3) and the byte after 0x0F. */
typedef struct x64_sse { uint8_t prefix, opcode; } x64_sse;
#define SSE(prefix, opcode) ((x64_sse){ (prefix), (opcode) })
/* Scalar ops: pass the single (F3) or double (F2) prefix. */
enum { SSE_SINGLE = 0xF3, SSE_DOUBLE = 0xF2 };
enum { SSE_OP_SQRT = 0x51, SSE_OP_ADD = 0x58, SSE_OP_MUL = 0x59, SSE_OP_SUB = 0x5C,
       SSE_OP_MIN = 0x5D, SSE_OP_DIV = 0x5E, SSE_OP_MAX = 0x5F };
void x64_sse_rr(alk_code *c, x64_sse op, int xmm_dst, int xmm_src);
void x64_sse_rm(alk_code *c, x64_sse op, int xmm_dst, x64_mem src);
/* movss/movsd loads and stores (size 4 or 8). */
void x64_movs_load(alk_code *c, int size, int xmm_dst, x64_mem src);
void x64_movs_store(alk_code *c, int size, x64_mem dst, int xmm_src);
void x64_movaps(alk_code *c, int xmm_dst, int xmm_src);
/* movd/movq between a general register and an XMM register (w 4 or 8). */
void x64_movq_to_xmm(alk_code *c, int w, int xmm_dst, x64_reg src);
void x64_movq_from_xmm(alk_code *c, int w, x64_reg dst, int xmm_src);
/* ucomiss (size 4) / ucomisd (size 8). */
void x64_ucomis(alk_code *c, int size, int xmm_a, int xmm_b);
/* cvtsi2ss/sd: xmm := (float)(signed int of width w). */
void x64_cvtsi2s(alk_code *c, int size, int xmm_dst, int w, x64_reg src);
/* cvttss2si/cvttsd2si: gpr(w) := truncate(xmm). */
void x64_cvtts2si(alk_code *c, int size, int w, x64_reg dst, int xmm_src);
/* cvtss2sd (to_size 8) / cvtsd2ss (to_size 4). */
void x64_cvts2s(alk_code *c, int to_size, int xmm_dst, int xmm_src);
/* Packed logic on whole registers: andps/andnps/orps/xorps (0x54/0x55/0x56/0x57). */
enum { SSE_AND = 0x54, SSE_ANDN = 0x55, SSE_OR = 0x56, SSE_XOR = 0x57 };
void x64_sse_logic(alk_code *c, uint8_t op, int xmm_dst, int xmm_src);

#endif
