/*
 * AArch64 (A64) machine-code emission for the code generator: registers, labels, and one
 * function per instruction form it uses. Every instruction is one 32-bit word; encodings from
 * the Arm Architecture Reference Manual (DDI 0487), section C4 ("A64 instruction set
 * encoding"). Only ARMv8.0-A base instructions and Advanced SIMD (mandatory in ARMv8-A).
 */
#ifndef ALK_A64_ASM_H
#define ALK_A64_ASM_H

#include "../code.h"

/* General registers x0..x30 by number; 31 is sp or the zero register, by instruction (each
 * function's comment says which). FP/SIMD registers v0..v31 are numbered the same way; which
 * file is meant is clear from the instruction. */
enum {
    A64_X0 = 0, A64_X16 = 16, A64_X17 = 17, A64_FP = 29, A64_LR = 30,
    A64_SP = 31, A64_ZR = 31,
    A64_NO_REG = 0xff,
};

typedef enum a64_cond {
    A64_EQ = 0, A64_NE = 1, A64_HS = 2, A64_LO = 3, A64_MI = 4, A64_PL = 5, A64_VS = 6,
    A64_VC = 7, A64_HI = 8, A64_LS = 9, A64_GE = 10, A64_LT = 11, A64_GT = 12, A64_LE = 13,
    A64_AL = 14,
} a64_cond;
static inline a64_cond a64_invert(a64_cond cc) { return (a64_cond)(cc ^ 1); }

/* How a branch refers to its label: which field of the instruction holds the distance. */
typedef enum a64_fixup_kind {
    A64_FIX_IMM26,      /* b, bl: words, +-128 MiB */
    A64_FIX_IMM19,      /* b.cond, cbz, cbnz, ldr (literal): words, +-1 MiB */
    A64_FIX_ADR,        /* adr: bytes, +-1 MiB */
    A64_FIX_DELTA32,    /* a 32-bit data word: label - base label (jump tables) */
} a64_fixup_kind;

/* Labels, words and their uses: the shared code buffer (../code.h), a use's kind an
 * a64_fixup_kind (its addend the base label's position for A64_FIX_DELTA32). A branch whose
 * distance does not fit its field sets the buffer's `out_of_range` (ALK-E100, or the back end
 * compiles the function again with far branches). */
/* Patches every recorded use; false if a used label was never bound or a distance does not
 * fit. */
bool a64_resolve(alk_code *code);

/* ---- Integer instructions. sf: true for 64-bit (x), false for 32-bit (w) operations. ---- */

/* dst := imm, all 64 bits (sf) or zero-extended from 32, in the fewest instructions (movz,
 * movn, orr with a bitmask immediate, then movk). Never touches the flags. */
void a64_mov_imm(alk_code *c, bool sf, int dst, uint64_t imm);
void a64_mov(alk_code *c, bool sf, int dst, int src);           /* orr dst, zr, src */
void a64_mov_sp(alk_code *c, int dst, int src);                 /* add dst, src, #0: sp allowed */

typedef enum a64_alu { A64_ADD = 0, A64_SUB = 1 } a64_alu_op;
/* add/sub (flags: adds/subs) dst := src op imm for 0 <= imm < 4096, or imm << 12. Register 31
 * is sp for dst (without flags) and src; the zero register for dst with flags. */
void a64_addsub_imm(alk_code *c, bool sf, a64_alu_op op, bool flags, int dst, int src, uint32_t imm12,
                    bool shift12);
/* dst := a op b (shifted register form: 31 is the zero register). */
void a64_addsub(alk_code *c, bool sf, a64_alu_op op, bool flags, int dst, int a, int b);
/* dst := a op zero_extend(b as w): the extended-register form (31 is sp for dst and a). */
void a64_addsub_uxtw(alk_code *c, a64_alu_op op, int dst, int a, int b);
/* dst := a op b, 64-bit, with 31 meaning sp for dst and a (the uxtx extended form). */
void a64_addsub_sp(alk_code *c, a64_alu_op op, int dst, int a, int b);
/* dst := src + imm (any value: adds, subs, or through x16 when it does not fit 24 bits);
 * sp allowed for dst and src. Clobbers x16 only when imm is large (dst may be x16). */
void a64_add_const(alk_code *c, bool sf, int dst, int src, int64_t imm);
void a64_cmp(alk_code *c, bool sf, int a, int b);
/* Compares with an immediate: cmp/cmn when it fits 12 bits (or 12 shifted), else through x16. */
void a64_cmp_imm(alk_code *c, bool sf, int a, int64_t imm);

typedef enum a64_logic { A64_AND = 0, A64_ORR = 1, A64_EOR = 2, A64_ANDS = 3 } a64_logic_op;
void a64_logic(alk_code *c, bool sf, a64_logic_op op, int dst, int a, int b);
/* With an immediate: the bitmask form when it encodes, else through x16. */
void a64_logic_imm(alk_code *c, bool sf, a64_logic_op op, int dst, int a, uint64_t imm);
/* Encodes a bitmask immediate (N:immr:imms, 13 bits); false when it has no encoding. */
bool a64_bitmask(uint64_t imm, bool sf, uint32_t *encoding);
void a64_mvn(alk_code *c, bool sf, int dst, int src);
void a64_tst(alk_code *c, bool sf, int a, int b);

typedef enum a64_shift { A64_LSL = 0, A64_LSR = 1, A64_ASR = 2, A64_ROR = 3 } a64_shift_op;
void a64_shift_reg(alk_code *c, bool sf, a64_shift_op op, int dst, int src, int count);
void a64_shift_imm(alk_code *c, bool sf, a64_shift_op op, int dst, int src, unsigned count);
void a64_mul(alk_code *c, bool sf, int dst, int a, int b);
/* dst := a - q * b */
void a64_msub(alk_code *c, bool sf, int dst, int q, int b, int a);
void a64_div(alk_code *c, bool sf, bool is_signed, int dst, int a, int b);
/* dst := the high 64 bits of the unsigned 128-bit product a * b. */
void a64_umulh(alk_code *c, int dst, int a, int b);
void a64_clz(alk_code *c, bool sf, int dst, int src);
void a64_rbit(alk_code *c, bool sf, int dst, int src);
/* sxtb / sxth / sxtw into a register of width sf, from `from_size` bytes. */
void a64_sign_extend(alk_code *c, bool sf, int dst, int src, int from_size);
/* ccmp a, #imm, #nzcv, cond: the flags of `cmp a, #imm` when cond holds, else nzcv. */
void a64_ccmp_imm(alk_code *c, bool sf, int a, uint32_t imm5, uint32_t nzcv, a64_cond cond);
/* dst := cond ? a : b */
void a64_csel(alk_code *c, bool sf, a64_cond cond, int dst, int a, int b);
void a64_cset(alk_code *c, int dst, a64_cond cond);       /* w: 1 when cond, else 0 */
/* bfxil dst, src, #0, #bits: dst's low `bits` bits := src's (the others stay). */
void a64_bfxil_low(alk_code *c, bool sf, int dst, int src, unsigned bits);

/* ---- Memory ------------------------------------------------------------------------------ */
/* Loads of 1, 2, 4 or 8 bytes into a w (sf false) or x register, zero- or sign-extended; and
 * stores. [base + offset]: the unsigned scaled form when offset is a multiple of the size
 * below 4096 sizes, the unscaled one for -256..255, else through x16 (so the base must not be
 * x16 then, and dst may be). Register 31 as base is sp. */
void a64_load(alk_code *c, bool sf, int dst, int base, int64_t offset, int size, bool sign_extend);
void a64_store(alk_code *c, int size, int src, int base, int64_t offset);
/* [base + index] (index: x, or w zero-extended when uxtw). */
void a64_load_index(alk_code *c, bool sf, int dst, int base, int index, bool uxtw, int size,
                    bool sign_extend);
/* ldr x dst, [base, windex, uxtw #3]: entry `index` of an array of u64. */
void a64_load_entry(alk_code *c, int dst, int base, int index);
void a64_store_entry(alk_code *c, int src, int base, int index);
/* stp xzr, xzr, [base], #16: zeroes 16 bytes and advances base. */
void a64_zero_pair_post(alk_code *c, int base);
void a64_store_index(alk_code *c, int size, int src, int base, int index, bool uxtw);
/* FP registers: size 4 (s) or 8 (d). */
void a64_fload(alk_code *c, int size, int dst, int base, int64_t offset);
void a64_fstore(alk_code *c, int size, int src, int base, int64_t offset);
void a64_fload_index(alk_code *c, int size, int dst, int base, int index, bool uxtw);
void a64_fstore_index(alk_code *c, int size, int src, int base, int index, bool uxtw);
/* stp/ldp of x registers (or d registers when fp) at [base + offset], offset a multiple of 8
 * in -512..504; pre_index writes base back (stp x29, x30, [sp, #-16]!). */
void a64_stp(alk_code *c, bool fp, int a, int b, int base, int offset, bool pre_index);
void a64_ldp(alk_code *c, bool fp, int a, int b, int base, int offset, bool post_index);
/* ldrsw dst, [base, index(w), uxtw #2]: a jump table's entry. */
void a64_load_word_entry(alk_code *c, int dst, int base, int index);

/* ---- Control ------------------------------------------------------------------------------ */
void a64_b(alk_code *c, uint32_t label);
void a64_bl_to(alk_code *c, int32_t words);     /* bl with a known distance (0: patch later) */
void a64_bcond(alk_code *c, a64_cond cond, uint32_t label);
void a64_cbz(alk_code *c, bool sf, bool nonzero, int reg, uint32_t label);
void a64_br(alk_code *c, int reg);
void a64_blr(alk_code *c, int reg);
void a64_ret(alk_code *c);
void a64_udf(alk_code *c);
void a64_adr(alk_code *c, int dst, uint32_t label);
/* A 32-bit data word: label - base_label (jump tables). */
void a64_label_delta(alk_code *c, uint32_t label, uint32_t base_label);

/* ---- Floating point (size 4: single, 8: double) ------------------------------------------ */
typedef enum a64_fop2 { A64_FMUL = 0, A64_FDIV = 1, A64_FADD = 2, A64_FSUB = 3, A64_FMAX = 4,
                        A64_FMIN = 5 } a64_fop2_op;
void a64_fop2(alk_code *c, int size, a64_fop2_op op, int dst, int a, int b);
typedef enum a64_fop1 { A64_FMOV = 0, A64_FABS = 1, A64_FNEG = 2, A64_FSQRT = 3,
                        A64_FCVT_TO_S = 4, A64_FCVT_TO_D = 5, A64_FRINTN = 8, A64_FRINTP = 9,
                        A64_FRINTM = 10, A64_FRINTZ = 11 } a64_fop1_op;
/* For A64_FCVT_*, size is the source's. */
void a64_fop1(alk_code *c, int size, a64_fop1_op op, int dst, int src);
void a64_fcmp(alk_code *c, int size, int a, int b);
void a64_fcsel(alk_code *c, int size, a64_cond cond, int dst, int a, int b);
/* fmov between a general register (w for size 4, x for 8) and an FP register. */
void a64_fmov_to_fp(alk_code *c, int size, int dst, int src);
void a64_fmov_from_fp(alk_code *c, int size, int dst, int src);
/* scvtf/ucvtf: fp(size) := int(sf); fcvtzs/fcvtzu: int(sf) := fp(size), rounding toward
 * zero, saturating (NaN gives 0). */
void a64_int_to_fp(alk_code *c, int size, bool sf, bool is_signed, int dst, int src);
void a64_fp_to_int(alk_code *c, int size, bool sf, bool is_signed, int dst, int src);
/* dst(fp) := the bit pattern (size 4 or 8): fmov #imm8 when it encodes, zero from xzr, else
 * through x16. */
void a64_fmov_bits(alk_code *c, int size, int dst, uint64_t bits);
/* popcount of the low 64 bits of an FP register, in place (cnt v.8b; addv b). */
void a64_popcount(alk_code *c, int reg);

#endif
