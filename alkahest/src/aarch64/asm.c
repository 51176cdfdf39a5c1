/*
 * A64 encoder. Every instruction is one little-endian 32-bit word; the constants below are the
 * fixed bits of each encoding class (Arm ARM DDI 0487, C4.1), the arguments fill its fields:
 *
 *     31 30 29 28 ............................ 10  9 .. 5  4 .. 0
 *     sf  op  S  [class bits and fields]            Rn       Rd/Rt
 */
#include "asm.h"

/* ---- Label uses --------------------------------------------------------------------------- */

static void use_label(alk_code *c, uint32_t label, a64_fixup_kind kind, uint32_t base)
{
    alk_code_use_label(c, label, (uint8_t)kind, (int32_t)base);
}

/* Puts the distance to `target` into the field of the instruction at f->at (or, for a
 * table entry, the distance from the base label's position, f->addend); false if it does not
 * fit. */
static bool patch(alk_code *c, const alk_fixup *f, uint32_t target)
{
    uint32_t from = (a64_fixup_kind)f->kind == A64_FIX_DELTA32 ? (uint32_t)f->addend : f->at;
    int64_t distance = (int64_t)target - (int64_t)from;
    uint32_t word = alk_code_read_u32(c, f->at);
    switch ((a64_fixup_kind)f->kind) {
    case A64_FIX_IMM26:
        if (distance % 4 || distance < -(1ll << 27) || distance >= (1ll << 27))
            return false;
        word |= (uint32_t)(distance / 4) & 0x3ffffff;
        break;
    case A64_FIX_IMM19:
        if (distance % 4 || distance < -(1ll << 20) || distance >= (1ll << 20))
            return false;
        word |= ((uint32_t)(distance / 4) & 0x7ffff) << 5;
        break;
    case A64_FIX_ADR:
        if (distance < -(1ll << 20) || distance >= (1ll << 20))
            return false;
        word |= ((uint32_t)distance & 3) << 29 | (((uint32_t)distance >> 2) & 0x7ffff) << 5;
        break;
    case A64_FIX_DELTA32:
        word = (uint32_t)(int32_t)distance;
        break;
    }
    alk_code_patch_u32(c, f->at, word);
    return true;
}

bool a64_resolve(alk_code *c)
{
    return alk_code_resolve(c, patch);
}

void a64_label_delta(alk_code *c, uint32_t label, uint32_t base_label)
{
    if (!alk_code_is_bound(c, base_label)) {
        c->failed = true;
        return;
    }
    use_label(c, label, A64_FIX_DELTA32, c->label_position[base_label]);
    alk_code_u32(c, 0);
}

/* ---- Moves and immediates --------------------------------------------------------------- */

static uint32_t sf_bit(bool sf) { return sf ? 0x80000000u : 0; }

static void move_wide(alk_code *c, bool sf, uint32_t opcode, int dst, unsigned chunk, uint32_t imm16)
{
    alk_code_u32(c, sf_bit(sf) | opcode | chunk << 21 | imm16 << 5 | (uint32_t)dst);
}
#define MOVN 0x12800000u
#define MOVZ 0x52800000u
#define MOVK 0x72800000u

/* A run of ones shifted left: 0..01..10..0 (not 0). */
static bool shifted_run(uint64_t v)
{
    uint64_t filled = v | (v - 1);          /* the run extended down to bit 0 */
    return v && (filled & (filled + 1)) == 0;
}

bool a64_bitmask(uint64_t imm, bool sf, uint32_t *encoding)
{
    if (!sf)
        imm = (imm & 0xffffffffu) | imm << 32;
    if (imm == 0 || imm == UINT64_MAX)
        return false;
    /* the smallest element size whose repetition makes imm */
    unsigned size = 64;
    while (size > 2) {
        unsigned half = size / 2;
        uint64_t mask = (1ull << half) - 1;
        if ((imm & mask) != ((imm >> half) & mask))
            break;
        size = half;
    }
    uint64_t mask = size == 64 ? UINT64_MAX : (1ull << size) - 1;
    uint64_t element = imm & mask;
    /* element must be a run of ones rotated: either a run itself, or its zeros are one */
    unsigned start, ones;
    if (shifted_run(element)) {
        start = (unsigned)__builtin_ctzll(element);
        ones = (unsigned)__builtin_ctzll(~(element >> start));
    } else {
        uint64_t zeros = ~element & mask;
        if (!shifted_run(zeros))
            return false;
        unsigned zero_start = (unsigned)__builtin_ctzll(zeros);
        unsigned zero_count = (unsigned)__builtin_ctzll(~(zeros >> zero_start));
        start = (zero_start + zero_count) % size;
        ones = size - zero_count;
    }
    /* element = the run of `ones` at bit 0, rotated right by immr */
    uint32_t immr = (size - start) % size;
    uint32_t n = size == 64 ? 1 : 0;
    uint32_t imms = ((~(size - 1) << 1) & 0x3f) | (ones - 1);
    *encoding = n << 12 | immr << 6 | imms;
    return true;
}

void a64_mov_imm(alk_code *c, bool sf, int dst, uint64_t imm)
{
    unsigned chunks = sf ? 4 : 2;
    if (!sf)
        imm &= 0xffffffffu;
    unsigned zeros = 0, ones = 0;
    for (unsigned i = 0; i < chunks; i++) {
        uint32_t part = (uint32_t)(imm >> (16 * i)) & 0xffff;
        zeros += part == 0;
        ones += part == 0xffff;
    }
    if (zeros >= chunks - 1) {
        unsigned i = 0;
        while (imm && ((imm >> (16 * i)) & 0xffff) == 0)
            i++;
        move_wide(c, sf, MOVZ, dst, i, (uint32_t)(imm >> (16 * i)) & 0xffff);
        return;
    }
    if (ones >= chunks - 1) {
        unsigned i = 0;            /* the chunk that is not 0xffff (chunk 0 when all are) */
        while (i < chunks - 1 && ((imm >> (16 * i)) & 0xffff) == 0xffff)
            i++;
        if (((imm >> (16 * i)) & 0xffff) == 0xffff)
            i = 0;
        move_wide(c, sf, MOVN, dst, i, ~(uint32_t)(imm >> (16 * i)) & 0xffff);
        return;
    }
    uint32_t bitmask;
    if (a64_bitmask(imm, sf, &bitmask)) {
        alk_code_u32(c, sf_bit(sf) | 0x32000000u | bitmask << 10 | 31u << 5 | (uint32_t)dst);
        return;
    }
    bool inverted = ones > zeros;
    uint32_t skip = inverted ? 0xffff : 0;
    bool first = true;
    for (unsigned i = 0; i < chunks; i++) {
        uint32_t part = (uint32_t)(imm >> (16 * i)) & 0xffff;
        if (part == skip)
            continue;
        if (first)
            move_wide(c, sf, inverted ? MOVN : MOVZ, dst, i, inverted ? ~part & 0xffff : part);
        else
            move_wide(c, sf, MOVK, dst, i, part);
        first = false;
    }
}

void a64_mov(alk_code *c, bool sf, int dst, int src)
{
    a64_logic(c, sf, A64_ORR, dst, A64_ZR, src);
}

void a64_mov_sp(alk_code *c, int dst, int src)
{
    a64_addsub_imm(c, true, A64_ADD, false, dst, src, 0, false);
}

/* ---- Arithmetic ---------------------------------------------------------------------------- */

void a64_addsub_imm(alk_code *c, bool sf, a64_alu_op op, bool flags, int dst, int src, uint32_t imm12,
                    bool shift12)
{
    alk_code_u32(c, sf_bit(sf) | (uint32_t)op << 30 | (flags ? 1u << 29 : 0) | 0x11000000u |
                    (shift12 ? 1u << 22 : 0) | (imm12 & 0xfff) << 10 | (uint32_t)src << 5 |
                    (uint32_t)dst);
}

void a64_addsub(alk_code *c, bool sf, a64_alu_op op, bool flags, int dst, int a, int b)
{
    alk_code_u32(c, sf_bit(sf) | (uint32_t)op << 30 | (flags ? 1u << 29 : 0) | 0x0B000000u |
                    (uint32_t)b << 16 | (uint32_t)a << 5 | (uint32_t)dst);
}

/* The extended-register form: option 010 uxtw, 011 uxtx (lsl); 31 is sp for dst and a. */
static void addsub_extended(alk_code *c, bool sf, a64_alu_op op, int dst, int a, int b,
                            uint32_t option)
{
    alk_code_u32(c, sf_bit(sf) | (uint32_t)op << 30 | 0x0B200000u | (uint32_t)b << 16 | option << 13 |
                    (uint32_t)a << 5 | (uint32_t)dst);
}

void a64_addsub_uxtw(alk_code *c, a64_alu_op op, int dst, int a, int b)
{
    addsub_extended(c, true, op, dst, a, b, 2);
}

void a64_addsub_sp(alk_code *c, a64_alu_op op, int dst, int a, int b)
{
    addsub_extended(c, true, op, dst, a, b, 3);
}

void a64_add_const(alk_code *c, bool sf, int dst, int src, int64_t imm)
{
    a64_alu_op op = imm < 0 ? A64_SUB : A64_ADD;
    uint64_t magnitude = imm < 0 ? (uint64_t)0 - (uint64_t)imm : (uint64_t)imm;
    if (magnitude < (1u << 24)) {
        uint32_t low = (uint32_t)magnitude & 0xfff, high = (uint32_t)(magnitude >> 12);
        if (high == 0) {
            a64_addsub_imm(c, sf, op, false, dst, src, low, false);
        } else if (low == 0) {
            a64_addsub_imm(c, sf, op, false, dst, src, high, true);
        } else {
            a64_addsub_imm(c, sf, op, false, dst, src, high, true);
            a64_addsub_imm(c, sf, op, false, dst, dst, low, false);
        }
        return;
    }
    a64_mov_imm(c, true, A64_X16, (uint64_t)imm);
    addsub_extended(c, sf, A64_ADD, dst, src, A64_X16, 3);
}

void a64_cmp(alk_code *c, bool sf, int a, int b)
{
    a64_addsub(c, sf, A64_SUB, true, A64_ZR, a, b);
}

void a64_cmp_imm(alk_code *c, bool sf, int a, int64_t imm)
{
    if (!sf)
        imm = (int32_t)imm;
    a64_alu_op op = imm < 0 ? A64_ADD : A64_SUB;   /* cmn for negative immediates */
    uint64_t magnitude = imm < 0 ? (uint64_t)0 - (uint64_t)imm : (uint64_t)imm;
    if (magnitude < 4096) {
        a64_addsub_imm(c, sf, op, true, A64_ZR, a, (uint32_t)magnitude, false);
    } else if (magnitude < (1u << 24) && (magnitude & 0xfff) == 0) {
        a64_addsub_imm(c, sf, op, true, A64_ZR, a, (uint32_t)(magnitude >> 12), true);
    } else {
        a64_mov_imm(c, sf, A64_X16, (uint64_t)imm);
        a64_cmp(c, sf, a, A64_X16);
    }
}

void a64_logic(alk_code *c, bool sf, a64_logic_op op, int dst, int a, int b)
{
    alk_code_u32(c, sf_bit(sf) | (uint32_t)op << 29 | 0x0A000000u | (uint32_t)b << 16 |
                    (uint32_t)a << 5 | (uint32_t)dst);
}

void a64_logic_imm(alk_code *c, bool sf, a64_logic_op op, int dst, int a, uint64_t imm)
{
    uint32_t bitmask;
    if (a64_bitmask(imm, sf, &bitmask)) {
        alk_code_u32(c, sf_bit(sf) | (uint32_t)op << 29 | 0x12000000u | bitmask << 10 |
                        (uint32_t)a << 5 | (uint32_t)dst);
        return;
    }
    a64_mov_imm(c, sf, A64_X16, imm);
    a64_logic(c, sf, op, dst, a, A64_X16);
}

void a64_mvn(alk_code *c, bool sf, int dst, int src)
{
    alk_code_u32(c, sf_bit(sf) | 0x2A200000u | (uint32_t)src << 16 | 31u << 5 | (uint32_t)dst);
}

void a64_tst(alk_code *c, bool sf, int a, int b)
{
    a64_logic(c, sf, A64_ANDS, A64_ZR, a, b);
}

/* Data processing, 2 sources: udiv 2, sdiv 3, lslv 8, lsrv 9, asrv 10, rorv 11. */
static void two_source(alk_code *c, bool sf, uint32_t opcode, int dst, int a, int b)
{
    alk_code_u32(c, sf_bit(sf) | 0x1AC00000u | (uint32_t)b << 16 | opcode << 10 | (uint32_t)a << 5 |
                    (uint32_t)dst);
}

void a64_shift_reg(alk_code *c, bool sf, a64_shift_op op, int dst, int src, int count)
{
    two_source(c, sf, 8 + (uint32_t)op, dst, src, count);
}

/* Bitfield moves: sbfm 0, bfm 1, ubfm 2 (N = sf). */
static void bitfield(alk_code *c, bool sf, uint32_t opc, int dst, int src, unsigned immr,
                     unsigned imms)
{
    alk_code_u32(c, sf_bit(sf) | opc << 29 | 0x13000000u | (sf ? 1u << 22 : 0) | immr << 16 |
                    imms << 10 | (uint32_t)src << 5 | (uint32_t)dst);
}

void a64_shift_imm(alk_code *c, bool sf, a64_shift_op op, int dst, int src, unsigned count)
{
    unsigned bits = sf ? 64 : 32;
    count &= bits - 1;
    switch (op) {
    case A64_LSL:
        bitfield(c, sf, 2, dst, src, (bits - count) & (bits - 1), bits - 1 - count);
        break;
    case A64_LSR:
        bitfield(c, sf, 2, dst, src, count, bits - 1);
        break;
    case A64_ASR:
        bitfield(c, sf, 0, dst, src, count, bits - 1);
        break;
    case A64_ROR:   /* extr dst, src, src, #count */
        alk_code_u32(c, sf_bit(sf) | 0x13800000u | (sf ? 1u << 22 : 0) | (uint32_t)src << 16 |
                        count << 10 | (uint32_t)src << 5 | (uint32_t)dst);
        break;
    }
}

void a64_mul(alk_code *c, bool sf, int dst, int a, int b)
{
    alk_code_u32(c, sf_bit(sf) | 0x1B000000u | (uint32_t)b << 16 | 31u << 10 | (uint32_t)a << 5 |
                    (uint32_t)dst);
}

void a64_msub(alk_code *c, bool sf, int dst, int q, int b, int a)
{
    alk_code_u32(c, sf_bit(sf) | 0x1B008000u | (uint32_t)b << 16 | (uint32_t)a << 10 |
                    (uint32_t)q << 5 | (uint32_t)dst);
}

void a64_div(alk_code *c, bool sf, bool is_signed, int dst, int a, int b)
{
    two_source(c, sf, is_signed ? 3 : 2, dst, a, b);
}

void a64_umulh(alk_code *c, int dst, int a, int b)
{
    alk_code_u32(c, 0x9BC07C00u | (uint32_t)b << 16 | (uint32_t)a << 5 | (uint32_t)dst);
}

static void one_source(alk_code *c, bool sf, uint32_t opcode, int dst, int src)
{
    alk_code_u32(c, sf_bit(sf) | 0x5AC00000u | opcode << 10 | (uint32_t)src << 5 | (uint32_t)dst);
}

void a64_clz(alk_code *c, bool sf, int dst, int src) { one_source(c, sf, 4, dst, src); }
void a64_rbit(alk_code *c, bool sf, int dst, int src) { one_source(c, sf, 0, dst, src); }

void a64_sign_extend(alk_code *c, bool sf, int dst, int src, int from_size)
{
    bitfield(c, sf, 0, dst, src, 0, (unsigned)(8 * from_size - 1));
}

void a64_ccmp_imm(alk_code *c, bool sf, int a, uint32_t imm5, uint32_t nzcv, a64_cond cond)
{
    alk_code_u32(c, sf_bit(sf) | 0x7A400800u | (imm5 & 31) << 16 | (uint32_t)cond << 12 |
                    (uint32_t)a << 5 | (nzcv & 15));
}

void a64_csel(alk_code *c, bool sf, a64_cond cond, int dst, int a, int b)
{
    alk_code_u32(c, sf_bit(sf) | 0x1A800000u | (uint32_t)b << 16 | (uint32_t)cond << 12 |
                    (uint32_t)a << 5 | (uint32_t)dst);
}

void a64_cset(alk_code *c, int dst, a64_cond cond)
{
    /* csinc wd, wzr, wzr, !cond */
    alk_code_u32(c, 0x1A800400u | 31u << 16 | (uint32_t)a64_invert(cond) << 12 | 31u << 5 |
                    (uint32_t)dst);
}

void a64_bfxil_low(alk_code *c, bool sf, int dst, int src, unsigned bits)
{
    bitfield(c, sf, 1, dst, src, 0, bits - 1);
}

/* ---- Memory ---------------------------------------------------------------------------------- */

static uint32_t size_field(int size)
{
    return size == 8 ? 3 : size == 4 ? 2 : size == 2 ? 1 : 0;
}

/* opc of a general-register access: 0 store, 1 load (zero-extending), 2 load signed to x,
 * 3 load signed to w. */
static uint32_t load_opc(bool sf, int size, bool sign_extend)
{
    if (!sign_extend || size == 8)
        return 1;
    if (size == 4)
        return 2;                  /* ldrsw: x only */
    return sf ? 2 : 3;
}

/* One access at [base + offset] with `vector` (V) and opc; offset fallback through a scratch
 * register that is neither base nor the data register. */
static void access(alk_code *c, uint32_t vector, uint32_t opc, int size, int data, int base,
                   int64_t offset)
{
    uint32_t sz = size_field(size);
    uint32_t v = vector << 26;
    if (offset >= 0 && offset % size == 0 && offset / size < 4096) {
        alk_code_u32(c, sz << 30 | 0x39000000u | v | opc << 22 | (uint32_t)(offset / size) << 10 |
                        (uint32_t)base << 5 | (uint32_t)data);
    } else if (offset >= -256 && offset < 256) {
        alk_code_u32(c, sz << 30 | 0x38000000u | v | opc << 22 | ((uint32_t)offset & 0x1ff) << 12 |
                        (uint32_t)base << 5 | (uint32_t)data);
    } else {
        int scratch = base != A64_X16 && (opc != 0 || vector || data != A64_X16) ? A64_X16
                                                                                  : A64_X17;
        a64_mov_imm(c, true, scratch, (uint64_t)offset);
        alk_code_u32(c, sz << 30 | 0x38200800u | v | opc << 22 | (uint32_t)scratch << 16 | 3u << 13 |
                        (uint32_t)base << 5 | (uint32_t)data);
    }
}

static void access_index(alk_code *c, uint32_t vector, uint32_t opc, int size, int data, int base,
                         int index, bool uxtw)
{
    alk_code_u32(c, size_field(size) << 30 | 0x38200800u | vector << 26 | opc << 22 |
                    (uint32_t)index << 16 | (uxtw ? 2u : 3u) << 13 | (uint32_t)base << 5 |
                    (uint32_t)data);
}

void a64_load(alk_code *c, bool sf, int dst, int base, int64_t offset, int size, bool sign_extend)
{
    access(c, 0, load_opc(sf, size, sign_extend), size, dst, base, offset);
}

void a64_store(alk_code *c, int size, int src, int base, int64_t offset)
{
    access(c, 0, 0, size, src, base, offset);
}

void a64_load_index(alk_code *c, bool sf, int dst, int base, int index, bool uxtw, int size,
                    bool sign_extend)
{
    access_index(c, 0, load_opc(sf, size, sign_extend), size, dst, base, index, uxtw);
}

void a64_load_entry(alk_code *c, int dst, int base, int index)
{
    alk_code_u32(c, 0xF8605800u | (uint32_t)index << 16 | (uint32_t)base << 5 | (uint32_t)dst);
}

void a64_store_entry(alk_code *c, int src, int base, int index)
{
    alk_code_u32(c, 0xF8205800u | (uint32_t)index << 16 | (uint32_t)base << 5 | (uint32_t)src);
}

void a64_zero_pair_post(alk_code *c, int base)
{
    a64_ldp(c, false, A64_ZR, A64_ZR, base, 16, true);
    /* ldp's encoding with L cleared: stp xzr, xzr, [base], #16 */
    alk_code_patch_u32(c, c->size - 4, alk_code_read_u32(c, c->size - 4) & ~(1u << 22));
}

void a64_store_index(alk_code *c, int size, int src, int base, int index, bool uxtw)
{
    access_index(c, 0, 0, size, src, base, index, uxtw);
}

void a64_fload(alk_code *c, int size, int dst, int base, int64_t offset)
{
    access(c, 1, 1, size, dst, base, offset);
}

void a64_fstore(alk_code *c, int size, int src, int base, int64_t offset)
{
    access(c, 1, 0, size, src, base, offset);
}

void a64_fload_index(alk_code *c, int size, int dst, int base, int index, bool uxtw)
{
    access_index(c, 1, 1, size, dst, base, index, uxtw);
}

void a64_fstore_index(alk_code *c, int size, int src, int base, int index, bool uxtw)
{
    access_index(c, 1, 0, size, src, base, index, uxtw);
}

static void pair(alk_code *c, bool fp, bool load, uint32_t addressing, int a, int b, int base,
                 int offset)
{
    uint32_t opc = fp ? 0x44000000u : 0x80000000u;     /* opc 01 with V (d), 10 (x) */
    alk_code_u32(c, opc | 0x28000000u | addressing << 23 | (load ? 1u << 22 : 0) |
                    ((uint32_t)(offset / 8) & 0x7f) << 15 | (uint32_t)b << 10 |
                    (uint32_t)base << 5 | (uint32_t)a);
}

void a64_stp(alk_code *c, bool fp, int a, int b, int base, int offset, bool pre_index)
{
    pair(c, fp, false, pre_index ? 3 : 2, a, b, base, offset);
}

void a64_ldp(alk_code *c, bool fp, int a, int b, int base, int offset, bool post_index)
{
    pair(c, fp, true, post_index ? 1 : 2, a, b, base, offset);
}

void a64_load_word_entry(alk_code *c, int dst, int base, int index)
{
    /* ldrsw dst, [base, windex, uxtw #2] */
    alk_code_u32(c, 0xB8A05800u | (uint32_t)index << 16 | (uint32_t)base << 5 | (uint32_t)dst);
}

/* ---- Control ------------------------------------------------------------------------------ */

void a64_b(alk_code *c, uint32_t label)
{
    use_label(c, label, A64_FIX_IMM26, 0);
    alk_code_u32(c, 0x14000000u);
}

void a64_bl_to(alk_code *c, int32_t words)
{
    alk_code_u32(c, 0x94000000u | ((uint32_t)words & 0x3ffffff));
}

void a64_bcond(alk_code *c, a64_cond cond, uint32_t label)
{
    use_label(c, label, A64_FIX_IMM19, 0);
    alk_code_u32(c, 0x54000000u | (uint32_t)cond);
}

void a64_cbz(alk_code *c, bool sf, bool nonzero, int reg, uint32_t label)
{
    use_label(c, label, A64_FIX_IMM19, 0);
    alk_code_u32(c, sf_bit(sf) | 0x34000000u | (nonzero ? 1u << 24 : 0) | (uint32_t)reg);
}

void a64_br(alk_code *c, int reg) { alk_code_u32(c, 0xD61F0000u | (uint32_t)reg << 5); }
void a64_blr(alk_code *c, int reg) { alk_code_u32(c, 0xD63F0000u | (uint32_t)reg << 5); }
void a64_ret(alk_code *c) { alk_code_u32(c, 0xD65F03C0u); }
void a64_udf(alk_code *c) { alk_code_u32(c, 0); }

void a64_adr(alk_code *c, int dst, uint32_t label)
{
    use_label(c, label, A64_FIX_ADR, 0);
    alk_code_u32(c, 0x10000000u | (uint32_t)dst);
}

/* ---- Floating point ------------------------------------------------------------------------ */

static uint32_t ftype(int size) { return size == 8 ? 1u << 22 : 0; }

void a64_fop2(alk_code *c, int size, a64_fop2_op op, int dst, int a, int b)
{
    alk_code_u32(c, 0x1E200800u | ftype(size) | (uint32_t)b << 16 | (uint32_t)op << 12 |
                    (uint32_t)a << 5 | (uint32_t)dst);
}

void a64_fop1(alk_code *c, int size, a64_fop1_op op, int dst, int src)
{
    alk_code_u32(c, 0x1E204000u | ftype(size) | (uint32_t)op << 15 | (uint32_t)src << 5 |
                    (uint32_t)dst);
}

void a64_fcmp(alk_code *c, int size, int a, int b)
{
    alk_code_u32(c, 0x1E202000u | ftype(size) | (uint32_t)b << 16 | (uint32_t)a << 5);
}

void a64_fcsel(alk_code *c, int size, a64_cond cond, int dst, int a, int b)
{
    alk_code_u32(c, 0x1E200C00u | ftype(size) | (uint32_t)b << 16 | (uint32_t)cond << 12 |
                    (uint32_t)a << 5 | (uint32_t)dst);
}

void a64_fmov_to_fp(alk_code *c, int size, int dst, int src)
{
    alk_code_u32(c, (size == 8 ? 0x9E670000u : 0x1E270000u) | (uint32_t)src << 5 | (uint32_t)dst);
}

void a64_fmov_from_fp(alk_code *c, int size, int dst, int src)
{
    alk_code_u32(c, (size == 8 ? 0x9E660000u : 0x1E260000u) | (uint32_t)src << 5 | (uint32_t)dst);
}

void a64_int_to_fp(alk_code *c, int size, bool sf, bool is_signed, int dst, int src)
{
    alk_code_u32(c, sf_bit(sf) | (is_signed ? 0x1E220000u : 0x1E230000u) | ftype(size) |
                    (uint32_t)src << 5 | (uint32_t)dst);
}

void a64_fp_to_int(alk_code *c, int size, bool sf, bool is_signed, int dst, int src)
{
    alk_code_u32(c, sf_bit(sf) | (is_signed ? 0x1E380000u : 0x1E390000u) | ftype(size) |
                    (uint32_t)src << 5 | (uint32_t)dst);
}

/* The imm8 of `fmov #imm` (VFPExpandImm in reverse), or -1 when bits has none. */
static int fp_imm8(int size, uint64_t bits)
{
    unsigned exponent_bits = size == 8 ? 11 : 8, total = size == 8 ? 64 : 32;
    unsigned fraction_bits = total - exponent_bits - 1;
    if (bits & ((1ull << (fraction_bits - 4)) - 1))
        return -1;
    uint32_t sign = (uint32_t)(bits >> (total - 1)) & 1;
    uint32_t exponent = (uint32_t)(bits >> fraction_bits) & ((1u << exponent_bits) - 1);
    uint32_t b = (exponent >> (exponent_bits - 2)) & 1;
    /* exponent = NOT(b) : b repeated (exponent_bits - 3) times : cd */
    uint32_t expected_high = (b ? 0 : 1u) << (exponent_bits - 1);
    for (unsigned i = 2; i < exponent_bits; i++)
        expected_high |= b << (exponent_bits - i);
    if ((exponent & ~3u) != (expected_high & ~3u))
        return -1;
    uint32_t cd = exponent & 3;
    uint32_t efgh = (uint32_t)(bits >> (fraction_bits - 4)) & 15;
    return (int)(sign << 7 | b << 6 | cd << 4 | efgh);
}

void a64_fmov_bits(alk_code *c, int size, int dst, uint64_t bits)
{
    if (size == 4)
        bits &= 0xffffffffu;
    if (bits == 0) {
        a64_fmov_to_fp(c, 8, dst, A64_ZR);      /* fmov dN, xzr: zeroes the register */
        return;
    }
    int imm8 = fp_imm8(size, bits);
    if (imm8 >= 0) {
        alk_code_u32(c, 0x1E201000u | ftype(size) | (uint32_t)imm8 << 13 | (uint32_t)dst);
        return;
    }
    a64_mov_imm(c, size == 8, A64_X16, bits);
    a64_fmov_to_fp(c, size, dst, A64_X16);
}

void a64_popcount(alk_code *c, int reg)
{
    alk_code_u32(c, 0x0E205800u | (uint32_t)reg << 5 | (uint32_t)reg);   /* cnt v.8b, v.8b */
    alk_code_u32(c, 0x0E31B800u | (uint32_t)reg << 5 | (uint32_t)reg);   /* addv b, v.8b */
}
