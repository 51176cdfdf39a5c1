/*
 * AArch64 (A64) machine-code emission for the code generator: registers, labels, and one
 * function per instruction form it uses. Every instruction is one 32-bit word; encodings from
 * the Arm Architecture Reference Manual (DDI 0487), section C4 ("A64 instruction set
 * encoding"). Only ARMv8.0-A base instructions and Advanced SIMD (mandatory in ARMv8-A).
 */
#ifndef ALK_A64_ASM_H
#define ALK_A64_ASM_H

#include "../alk_internal.h"

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

typedef struct a64_fixup {
    uint32_t at;        /* the instruction (or data word) */
    uint32_t label;
    uint32_t base;      /* A64_FIX_DELTA32: the base label's position */
    uint8_t kind;
} a64_fixup;

/* A growing code buffer with labels (small integers, 1..; 0 means none). A use before the
 * label is bound is recorded and patched by a64_resolve. Allocation failure is sticky:
 * `failed` is set and further emission is dropped (the caller reports ALK-E090); a branch
 * whose distance does not fit its field sets `out_of_range` (ALK-E100: the code generator
 * chose the wrong form). */
typedef struct a64_code {
    const alk_allocator *allocator;
    uint8_t *bytes;
    uint32_t size, capacity;
    uint32_t *label_position;  /* UINT32_MAX: not bound yet */
    uint32_t label_count, label_capacity;
    a64_fixup *fixups;
    uint32_t fixup_count, fixup_capacity;
    bool failed;
    bool out_of_range;
} a64_code;

void a64_code_init(a64_code *code, const alk_allocator *allocator);
void a64_code_free(a64_code *code);
uint32_t a64_new_label(a64_code *code);
void a64_bind(a64_code *code, uint32_t label);
bool a64_is_bound(const a64_code *code, uint32_t label);
/* Patches every recorded use; false if a used label was never bound or a distance does not
 * fit (an internal bug either way). */
bool a64_resolve(a64_code *code);
void a64_word_slow(a64_code *code, uint32_t word);
static inline void a64_word(a64_code *code, uint32_t word)
{
    if (code->capacity - code->size >= 4) {
        uint8_t *p = code->bytes + code->size;
        p[0] = (uint8_t)word;
        p[1] = (uint8_t)(word >> 8);
        p[2] = (uint8_t)(word >> 16);
        p[3] = (uint8_t)(word >> 24);
        code->size += 4;
        return;
    }
    a64_word_slow(code, word);
}
void a64_reserve(a64_code *code, uint32_t bytes);
/* Pads with udf #0 (all-zero words) to a multiple of `alignment` bytes (a multiple of 4). */
void a64_align(a64_code *code, uint32_t alignment);
uint32_t a64_position(const a64_code *code);
uint32_t a64_read_word(const a64_code *code, uint32_t at);
void a64_patch_word(a64_code *code, uint32_t at, uint32_t word);

/* ---- Integer instructions. sf: true for 64-bit (x), false for 32-bit (w) operations. ---- */

/* dst := imm, all 64 bits (sf) or zero-extended from 32, in the fewest instructions (movz,
 * movn, orr with a bitmask immediate, then movk). Never touches the flags. */
void a64_mov_imm(a64_code *c, bool sf, int dst, uint64_t imm);
void a64_mov(a64_code *c, bool sf, int dst, int src);           /* orr dst, zr, src */
void a64_mov_sp(a64_code *c, int dst, int src);                 /* add dst, src, #0: sp allowed */

typedef enum a64_alu { A64_ADD = 0, A64_SUB = 1 } a64_alu_op;
/* add/sub (flags: adds/subs) dst := src op imm for 0 <= imm < 4096, or imm << 12. Register 31
 * is sp for dst (without flags) and src; the zero register for dst with flags. */
void a64_addsub_imm(a64_code *c, bool sf, a64_alu_op op, bool flags, int dst, int src, uint32_t imm12,
                    bool shift12);
/* dst := a op b (shifted register form: 31 is the zero register). */
void a64_addsub(a64_code *c, bool sf, a64_alu_op op, bool flags, int dst, int a, int b);
/* dst := a op zero_extend(b as w): the extended-register form (31 is sp for dst and a). */
void a64_addsub_uxtw(a64_code *c, a64_alu_op op, int dst, int a, int b);
/* dst := a op b, 64-bit, with 31 meaning sp for dst and a (the uxtx extended form). */
void a64_addsub_sp(a64_code *c, a64_alu_op op, int dst, int a, int b);
/* dst := src + imm (any value: adds, subs, or through x16 when it does not fit 24 bits);
 * sp allowed for dst and src. Clobbers x16 only when imm is large (dst may be x16). */
void a64_add_const(a64_code *c, bool sf, int dst, int src, int64_t imm);
void a64_cmp(a64_code *c, bool sf, int a, int b);
/* Compares with an immediate: cmp/cmn when it fits 12 bits (or 12 shifted), else through x16. */
void a64_cmp_imm(a64_code *c, bool sf, int a, int64_t imm);

typedef enum a64_logic { A64_AND = 0, A64_ORR = 1, A64_EOR = 2, A64_ANDS = 3 } a64_logic_op;
void a64_logic(a64_code *c, bool sf, a64_logic_op op, int dst, int a, int b);
/* With an immediate: the bitmask form when it encodes, else through x16. */
void a64_logic_imm(a64_code *c, bool sf, a64_logic_op op, int dst, int a, uint64_t imm);
/* Encodes a bitmask immediate (N:immr:imms, 13 bits); false when it has no encoding. */
bool a64_bitmask(uint64_t imm, bool sf, uint32_t *encoding);
void a64_mvn(a64_code *c, bool sf, int dst, int src);
void a64_tst(a64_code *c, bool sf, int a, int b);

typedef enum a64_shift { A64_LSL = 0, A64_LSR = 1, A64_ASR = 2, A64_ROR = 3 } a64_shift_op;
void a64_shift_reg(a64_code *c, bool sf, a64_shift_op op, int dst, int src, int count);
void a64_shift_imm(a64_code *c, bool sf, a64_shift_op op, int dst, int src, unsigned count);
void a64_mul(a64_code *c, bool sf, int dst, int a, int b);
/* dst := a - q * b */
void a64_msub(a64_code *c, bool sf, int dst, int q, int b, int a);
void a64_div(a64_code *c, bool sf, bool is_signed, int dst, int a, int b);
/* dst := the high 64 bits of the unsigned 128-bit product a * b. */
void a64_umulh(a64_code *c, int dst, int a, int b);
void a64_clz(a64_code *c, bool sf, int dst, int src);
void a64_rbit(a64_code *c, bool sf, int dst, int src);
/* sxtb / sxth / sxtw into a register of width sf, from `from_size` bytes. */
void a64_sign_extend(a64_code *c, bool sf, int dst, int src, int from_size);
/* ccmp a, #imm, #nzcv, cond: the flags of `cmp a, #imm` when cond holds, else nzcv. */
void a64_ccmp_imm(a64_code *c, bool sf, int a, uint32_t imm5, uint32_t nzcv, a64_cond cond);
/* dst := cond ? a : b */
void a64_csel(a64_code *c, bool sf, a64_cond cond, int dst, int a, int b);
void a64_cset(a64_code *c, int dst, a64_cond cond);       /* w: 1 when cond, else 0 */
/* bfxil dst, src, #0, #bits: dst's low `bits` bits := src's (the others stay). */
void a64_bfxil_low(a64_code *c, bool sf, int dst, int src, unsigned bits);

/* ---- Memory ------------------------------------------------------------------------------ */
/* Loads of 1, 2, 4 or 8 bytes into a w (sf false) or x register, zero- or sign-extended; and
 * stores. [base + offset]: the unsigned scaled form when offset is a multiple of the size
 * below 4096 sizes, the unscaled one for -256..255, else through x16 (so the base must not be
 * x16 then, and dst may be). Register 31 as base is sp. */
void a64_load(a64_code *c, bool sf, int dst, int base, int64_t offset, int size, bool sign_extend);
void a64_store(a64_code *c, int size, int src, int base, int64_t offset);
/* [base + index] (index: x, or w zero-extended when uxtw). */
void a64_load_index(a64_code *c, bool sf, int dst, int base, int index, bool uxtw, int size,
                    bool sign_extend);
/* ldr x dst, [base, windex, uxtw #3]: entry `index` of an array of u64. */
void a64_load_entry(a64_code *c, int dst, int base, int index);
void a64_store_entry(a64_code *c, int src, int base, int index);
/* stp xzr, xzr, [base], #16: zeroes 16 bytes and advances base. */
void a64_zero_pair_post(a64_code *c, int base);
void a64_store_index(a64_code *c, int size, int src, int base, int index, bool uxtw);
/* FP registers: size 4 (s) or 8 (d). */
void a64_fload(a64_code *c, int size, int dst, int base, int64_t offset);
void a64_fstore(a64_code *c, int size, int src, int base, int64_t offset);
void a64_fload_index(a64_code *c, int size, int dst, int base, int index, bool uxtw);
void a64_fstore_index(a64_code *c, int size, int src, int base, int index, bool uxtw);
/* stp/ldp of x registers (or d registers when fp) at [base + offset], offset a multiple of 8
 * in -512..504; pre_index writes base back (stp x29, x30, [sp, #-16]!). */
void a64_stp(a64_code *c, bool fp, int a, int b, int base, int offset, bool pre_index);
void a64_ldp(a64_code *c, bool fp, int a, int b, int base, int offset, bool post_index);
/* ldrsw dst, [base, index(w), uxtw #2]: a jump table's entry. */
void a64_load_word_entry(a64_code *c, int dst, int base, int index);

/* ---- Control ------------------------------------------------------------------------------ */
void a64_b(a64_code *c, uint32_t label);
void a64_bl_to(a64_code *c, int32_t words);     /* bl with a known distance (0: patch later) */
void a64_bcond(a64_code *c, a64_cond cond, uint32_t label);
void a64_cbz(a64_code *c, bool sf, bool nonzero, int reg, uint32_t label);
void a64_br(a64_code *c, int reg);
void a64_blr(a64_code *c, int reg);
void a64_ret(a64_code *c);
void a64_udf(a64_code *c);
void a64_adr(a64_code *c, int dst, uint32_t label);
/* A 32-bit data word: label - base_label (jump tables). */
void a64_label_delta(a64_code *c, uint32_t label, uint32_t base_label);

/* ---- Floating point (size 4: single, 8: double) ------------------------------------------ */
typedef enum a64_fop2 { A64_FMUL = 0, A64_FDIV = 1, A64_FADD = 2, A64_FSUB = 3, A64_FMAX = 4,
                        A64_FMIN = 5 } a64_fop2_op;
void a64_fop2(a64_code *c, int size, a64_fop2_op op, int dst, int a, int b);
typedef enum a64_fop1 { A64_FMOV = 0, A64_FABS = 1, A64_FNEG = 2, A64_FSQRT = 3,
                        A64_FCVT_TO_S = 4, A64_FCVT_TO_D = 5, A64_FRINTN = 8, A64_FRINTP = 9,
                        A64_FRINTM = 10, A64_FRINTZ = 11 } a64_fop1_op;
/* For A64_FCVT_*, size is the source's. */
void a64_fop1(a64_code *c, int size, a64_fop1_op op, int dst, int src);
void a64_fcmp(a64_code *c, int size, int a, int b);
void a64_fcsel(a64_code *c, int size, a64_cond cond, int dst, int a, int b);
/* fmov between a general register (w for size 4, x for 8) and an FP register. */
void a64_fmov_to_fp(a64_code *c, int size, int dst, int src);
void a64_fmov_from_fp(a64_code *c, int size, int dst, int src);
/* scvtf/ucvtf: fp(size) := int(sf); fcvtzs/fcvtzu: int(sf) := fp(size), rounding toward
 * zero, saturating (NaN gives 0). */
void a64_int_to_fp(a64_code *c, int size, bool sf, bool is_signed, int dst, int src);
void a64_fp_to_int(a64_code *c, int size, bool sf, bool is_signed, int dst, int src);
/* dst(fp) := the bit pattern (size 4 or 8): fmov #imm8 when it encodes, zero from xzr, else
 * through x16. */
void a64_fmov_bits(a64_code *c, int size, int dst, uint64_t bits);
/* popcount of the low 64 bits of an FP register, in place (cnt v.8b; addv b). */
void a64_popcount(a64_code *c, int reg);

#endif
