/*
 * x86-64 encoder. Encodings from the Intel SDM, volume 2. Every instruction is
 *     [prefixes] [REX] opcode [ModRM [SIB] [disp]] [imm]
 * and emit_rex/emit_modrm_* build the middle part for all of them.
 */
#include "asm.h"

/* ---- Label uses --------------------------------------------------------------------------- */

/* Every use is a rel32: target - (at + 4) + addend. */
static bool patch_rel32(alk_code *c, const alk_fixup *f, uint32_t target)
{
    int64_t delta = (int64_t)target - (int64_t)(f->at + 4) + f->addend;
    alk_code_patch_u32(c, f->at, (uint32_t)(int32_t)delta);
    return true;
}

/* A rel32 field for `label` here (resolved by x64_resolve). */
static void use_label(alk_code *c, uint32_t label, int32_t addend)
{
    alk_code_use_label(c, label, 0, addend);
    alk_code_u32(c, 0);
}

bool x64_resolve(alk_code *c)
{
    return alk_code_resolve(c, patch_rel32);
}

static void emit_u64(alk_code *c, uint64_t value)
{
    alk_code_u32(c, (uint32_t)value);
    alk_code_u32(c, (uint32_t)(value >> 32));
}

static void emit_u16(alk_code *c, uint16_t value)
{
    alk_code_byte(c, (uint8_t)value);
    alk_code_byte(c, (uint8_t)(value >> 8));
}

void x64_label_delta(alk_code *c, uint32_t label, uint32_t base_label)
{
    /* Resolved like a rel32 whose "next instruction" is the base label: record the use with
     * an addend that turns (target - (at + 4)) into (target - base). */
    if (!alk_code_is_bound(c, base_label)) {
        c->failed = true;
        return;
    }
    int32_t addend = (int32_t)(c->size + 4) - (int32_t)c->label_position[base_label];
    use_label(c, label, addend);
}

/* ---- Encoding core ------------------------------------------------------------------------ */

static bool is_byte_reg_needing_rex(int reg)
{
    return reg >= 4 && reg <= 7; /* spl bpl sil dil instead of ah ch dh bh */
}

/* REX for "reg" in ModRM.reg and a register operand in ModRM.rm. */
static void emit_rex_rr(alk_code *c, bool w, int reg, int rm, bool byte_regs)
{
    uint8_t rex = (uint8_t)(0x40 | (w ? 8 : 0) | ((reg & 8) ? 4 : 0) | ((rm & 8) ? 1 : 0));
    if (rex != 0x40 || (byte_regs && (is_byte_reg_needing_rex(reg) || is_byte_reg_needing_rex(rm))))
        alk_code_byte(c, rex);
}

static void emit_rex_rm(alk_code *c, bool w, int reg, x64_mem m, bool byte_reg)
{
    uint8_t rex = (uint8_t)(0x40 | (w ? 8 : 0) | ((reg & 8) ? 4 : 0));
    if (!m.rip_label) {
        if (m.index != X64_NO_REG && (m.index & 8))
            rex |= 2;
        if (m.base != X64_NO_REG && (m.base & 8))
            rex |= 1;
    }
    if (rex != 0x40 || (byte_reg && is_byte_reg_needing_rex(reg)))
        alk_code_byte(c, rex);
}

static void emit_modrm_rr(alk_code *c, int reg, int rm)
{
    alk_code_byte(c, (uint8_t)(0xC0 | ((reg & 7) << 3) | (rm & 7)));
}

/* ModRM (+SIB, +disp) for a memory operand. trailing: bytes of immediate that follow, which a
 * RIP-relative displacement must account for. */
static void emit_modrm_mem(alk_code *c, int reg, x64_mem m, int trailing)
{
    int r = (reg & 7) << 3;
    if (m.rip_label) {
        alk_code_byte(c, (uint8_t)(0x05 | r));
        use_label(c, m.rip_label, -trailing);
        return;
    }
    int base = m.base, index = m.index;
    int mod;
    if (m.disp == 0 && (base & 7) != RBP)
        mod = 0;
    else if (m.disp >= -128 && m.disp <= 127)
        mod = 1;
    else
        mod = 2;
    if (index == X64_NO_REG && (base & 7) != RSP) {
        alk_code_byte(c, (uint8_t)((mod << 6) | r | (base & 7)));
    } else {
        int scale_bits = m.scale == 8 ? 3 : m.scale == 4 ? 2 : m.scale == 2 ? 1 : 0;
        int index_bits = index == X64_NO_REG ? 4 : (index & 7);
        alk_code_byte(c, (uint8_t)((mod << 6) | r | 4));
        alk_code_byte(c, (uint8_t)((scale_bits << 6) | (index_bits << 3) | (base & 7)));
    }
    if (mod == 1)
        alk_code_byte(c, (uint8_t)(int8_t)m.disp);
    else if (mod == 2)
        alk_code_u32(c, (uint32_t)m.disp);
}

static bool fits_i8(int64_t v) { return v >= -128 && v <= 127; }

/* ---- Integer instructions ----------------------------------------------------------------- */

void x64_alu_rr(alk_code *c, x64_alu op, int w, x64_reg dst, x64_reg src)
{
    emit_rex_rr(c, w == 8, src, dst, false);
    alk_code_byte(c, (uint8_t)(op * 8 + 1));            /* op r/m, r */
    emit_modrm_rr(c, src, dst);
}

void x64_alu_ri(alk_code *c, x64_alu op, int w, x64_reg dst, int32_t imm)
{
    emit_rex_rr(c, w == 8, 0, dst, false);
    if (fits_i8(imm)) {
        alk_code_byte(c, 0x83);
        emit_modrm_rr(c, op, dst);
        alk_code_byte(c, (uint8_t)(int8_t)imm);
    } else {
        alk_code_byte(c, 0x81);
        emit_modrm_rr(c, op, dst);
        alk_code_u32(c, (uint32_t)imm);
    }
}

void x64_alu_rm(alk_code *c, x64_alu op, int w, x64_reg dst, x64_mem src)
{
    emit_rex_rm(c, w == 8, dst, src, false);
    alk_code_byte(c, (uint8_t)(op * 8 + 3));            /* op r, r/m */
    emit_modrm_mem(c, dst, src, 0);
}

void x64_alu_mr(alk_code *c, x64_alu op, int w, x64_mem dst, x64_reg src)
{
    emit_rex_rm(c, w == 8, src, dst, false);
    alk_code_byte(c, (uint8_t)(op * 8 + 1));
    emit_modrm_mem(c, src, dst, 0);
}

void x64_alu_mi(alk_code *c, x64_alu op, int w, x64_mem dst, int32_t imm)
{
    emit_rex_rm(c, w == 8, 0, dst, false);
    if (fits_i8(imm)) {
        alk_code_byte(c, 0x83);
        emit_modrm_mem(c, op, dst, 1);
        alk_code_byte(c, (uint8_t)(int8_t)imm);
    } else {
        alk_code_byte(c, 0x81);
        emit_modrm_mem(c, op, dst, 4);
        alk_code_u32(c, (uint32_t)imm);
    }
}

void x64_test_rr(alk_code *c, int w, x64_reg a, x64_reg b)
{
    emit_rex_rr(c, w == 8, b, a, false);
    alk_code_byte(c, 0x85);
    emit_modrm_rr(c, b, a);
}

void x64_test_ri(alk_code *c, int w, x64_reg a, int32_t imm)
{
    emit_rex_rr(c, w == 8, 0, a, false);
    alk_code_byte(c, 0xF7);
    emit_modrm_rr(c, 0, a);
    alk_code_u32(c, (uint32_t)imm);
}

void x64_mov_rr(alk_code *c, int w, x64_reg dst, x64_reg src)
{
    emit_rex_rr(c, w == 8, src, dst, false);
    alk_code_byte(c, 0x89);
    emit_modrm_rr(c, src, dst);
}

void x64_mov_ri(alk_code *c, int w, x64_reg dst, uint64_t imm)
{
    if (w == 4)
        imm = (uint32_t)imm;
    if (imm == 0) {
        x64_alu_rr(c, ALU_XOR, 4, dst, dst);
    } else if (imm <= UINT32_MAX) {
        emit_rex_rr(c, false, 0, dst, false);      /* mov r32, imm32 zero-extends */
        alk_code_byte(c, (uint8_t)(0xB8 + (dst & 7)));
        alk_code_u32(c, (uint32_t)imm);
    } else if ((int64_t)imm >= INT32_MIN && (int64_t)imm < 0) {
        emit_rex_rr(c, true, 0, dst, false);       /* mov r/m64, imm32 sign-extends */
        alk_code_byte(c, 0xC7);
        emit_modrm_rr(c, 0, dst);
        alk_code_u32(c, (uint32_t)imm);
    } else {
        emit_rex_rr(c, true, 0, dst, false);
        alk_code_byte(c, (uint8_t)(0xB8 + (dst & 7)));
        emit_u64(c, imm);
    }
}

void x64_mov_ri_keep_flags(alk_code *c, int w, x64_reg dst, uint64_t imm)
{
    if ((w == 4 ? (uint32_t)imm : imm) != 0) {
        x64_mov_ri(c, w, dst, imm);
        return;
    }
    emit_rex_rr(c, false, 0, dst, false);          /* mov r32, 0 */
    alk_code_byte(c, (uint8_t)(0xB8 + (dst & 7)));
    alk_code_u32(c, 0);
}

void x64_load(alk_code *c, int w, x64_reg dst, x64_mem src, int size, bool sign_extend)
{
    switch (size) {
    case 1:
    case 2:
        emit_rex_rm(c, w == 8 && sign_extend, dst, src, false);
        alk_code_byte(c, 0x0F);
        alk_code_byte(c, (uint8_t)((sign_extend ? 0xBE : 0xB6) + (size == 2)));
        break;
    case 4:
        if (sign_extend && w == 8) {
            emit_rex_rm(c, true, dst, src, false);
            alk_code_byte(c, 0x63);                     /* movsxd */
        } else {
            emit_rex_rm(c, false, dst, src, false);
            alk_code_byte(c, 0x8B);
        }
        break;
    default:
        emit_rex_rm(c, true, dst, src, false);
        alk_code_byte(c, 0x8B);
        break;
    }
    emit_modrm_mem(c, dst, src, 0);
}

void x64_store(alk_code *c, int size, x64_mem dst, x64_reg src)
{
    if (size == 2)
        alk_code_byte(c, 0x66);
    emit_rex_rm(c, size == 8, src, dst, size == 1);
    alk_code_byte(c, size == 1 ? 0x88 : 0x89);
    emit_modrm_mem(c, src, dst, 0);
}

void x64_store_imm(alk_code *c, int size, x64_mem dst, int32_t imm)
{
    if (size == 2)
        alk_code_byte(c, 0x66);
    emit_rex_rm(c, size == 8, 0, dst, false);
    alk_code_byte(c, size == 1 ? 0xC6 : 0xC7);
    int trailing = size == 1 ? 1 : size == 2 ? 2 : 4;
    emit_modrm_mem(c, 0, dst, trailing);
    if (size == 1)
        alk_code_byte(c, (uint8_t)imm);
    else if (size == 2)
        emit_u16(c, (uint16_t)imm);
    else
        alk_code_u32(c, (uint32_t)imm);
}

void x64_lea(alk_code *c, int w, x64_reg dst, x64_mem src)
{
    emit_rex_rm(c, w == 8, dst, src, false);
    alk_code_byte(c, 0x8D);
    emit_modrm_mem(c, dst, src, 0);
}

void x64_movzx8_rr(alk_code *c, x64_reg dst, x64_reg src)
{
    emit_rex_rr(c, false, dst, src, true);
    alk_code_byte(c, 0x0F);
    alk_code_byte(c, 0xB6);
    emit_modrm_rr(c, dst, src);
}

void x64_movsx_rr(alk_code *c, int w, x64_reg dst, x64_reg src, int from_size)
{
    if (from_size == 4) {
        x64_movsxd_rr(c, dst, src);
        return;
    }
    emit_rex_rr(c, w == 8, dst, src, from_size == 1);
    alk_code_byte(c, 0x0F);
    alk_code_byte(c, from_size == 1 ? 0xBE : 0xBF);
    emit_modrm_rr(c, dst, src);
}

void x64_movsxd_rr(alk_code *c, x64_reg dst, x64_reg src)
{
    emit_rex_rr(c, true, dst, src, false);
    alk_code_byte(c, 0x63);
    emit_modrm_rr(c, dst, src);
}

void x64_shift_cl(alk_code *c, x64_shift op, int w, x64_reg dst)
{
    emit_rex_rr(c, w == 8, 0, dst, false);
    alk_code_byte(c, 0xD3);
    emit_modrm_rr(c, op, dst);
}

void x64_shift_ri(alk_code *c, x64_shift op, int w, x64_reg dst, uint8_t count)
{
    emit_rex_rr(c, w == 8, 0, dst, false);
    if (count == 1) {
        alk_code_byte(c, 0xD1);
        emit_modrm_rr(c, op, dst);
    } else {
        alk_code_byte(c, 0xC1);
        emit_modrm_rr(c, op, dst);
        alk_code_byte(c, count);
    }
}

void x64_unary_r(alk_code *c, x64_unary op, int w, x64_reg reg)
{
    emit_rex_rr(c, w == 8, 0, reg, false);
    alk_code_byte(c, 0xF7);
    emit_modrm_rr(c, op, reg);
}

void x64_imul_rr(alk_code *c, int w, x64_reg dst, x64_reg src)
{
    emit_rex_rr(c, w == 8, dst, src, false);
    alk_code_byte(c, 0x0F);
    alk_code_byte(c, 0xAF);
    emit_modrm_rr(c, dst, src);
}

void x64_imul_rri(alk_code *c, int w, x64_reg dst, x64_reg src, int32_t imm)
{
    emit_rex_rr(c, w == 8, dst, src, false);
    if (fits_i8(imm)) {
        alk_code_byte(c, 0x6B);
        emit_modrm_rr(c, dst, src);
        alk_code_byte(c, (uint8_t)(int8_t)imm);
    } else {
        alk_code_byte(c, 0x69);
        emit_modrm_rr(c, dst, src);
        alk_code_u32(c, (uint32_t)imm);
    }
}

void x64_cdq(alk_code *c, int w)
{
    if (w == 8)
        alk_code_byte(c, 0x48);
    alk_code_byte(c, 0x99);
}

void x64_setcc(alk_code *c, x64_cond cc, x64_reg dst8)
{
    emit_rex_rr(c, false, 0, dst8, true);
    alk_code_byte(c, 0x0F);
    alk_code_byte(c, (uint8_t)(0x90 + cc));
    emit_modrm_rr(c, 0, dst8);
}

void x64_cmov(alk_code *c, x64_cond cc, int w, x64_reg dst, x64_reg src)
{
    emit_rex_rr(c, w == 8, dst, src, false);
    alk_code_byte(c, 0x0F);
    alk_code_byte(c, (uint8_t)(0x40 + cc));
    emit_modrm_rr(c, dst, src);
}

void x64_bsr(alk_code *c, int w, x64_reg dst, x64_reg src)
{
    emit_rex_rr(c, w == 8, dst, src, false);
    alk_code_byte(c, 0x0F);
    alk_code_byte(c, 0xBD);
    emit_modrm_rr(c, dst, src);
}

void x64_bsf(alk_code *c, int w, x64_reg dst, x64_reg src)
{
    emit_rex_rr(c, w == 8, dst, src, false);
    alk_code_byte(c, 0x0F);
    alk_code_byte(c, 0xBC);
    emit_modrm_rr(c, dst, src);
}

void x64_xchg_rr(alk_code *c, x64_reg a, x64_reg b)
{
    emit_rex_rr(c, true, a, b, false);
    alk_code_byte(c, 0x87);
    emit_modrm_rr(c, a, b);
}

/* ---- Control ------------------------------------------------------------------------------ */

void x64_jmp(alk_code *c, uint32_t label)
{
    if (alk_code_is_bound(c, label)) {
        int64_t delta = (int64_t)c->label_position[label] - (int64_t)(c->size + 2);
        if (fits_i8(delta)) {
            alk_code_byte(c, 0xEB);
            alk_code_byte(c, (uint8_t)(int8_t)delta);
            return;
        }
    }
    alk_code_byte(c, 0xE9);
    use_label(c, label, 0);
}

void x64_jcc(alk_code *c, x64_cond cc, uint32_t label)
{
    if (alk_code_is_bound(c, label)) {
        int64_t delta = (int64_t)c->label_position[label] - (int64_t)(c->size + 2);
        if (fits_i8(delta)) {
            alk_code_byte(c, (uint8_t)(0x70 + cc));
            alk_code_byte(c, (uint8_t)(int8_t)delta);
            return;
        }
    }
    alk_code_byte(c, 0x0F);
    alk_code_byte(c, (uint8_t)(0x80 + cc));
    use_label(c, label, 0);
}

void x64_call_label(alk_code *c, uint32_t label)
{
    alk_code_byte(c, 0xE8);
    use_label(c, label, 0);
}

void x64_call_mem(alk_code *c, x64_mem target)
{
    emit_rex_rm(c, false, 0, target, false);
    alk_code_byte(c, 0xFF);
    emit_modrm_mem(c, 2, target, 0);
}

void x64_jmp_r(alk_code *c, x64_reg target)
{
    emit_rex_rr(c, false, 0, target, false);
    alk_code_byte(c, 0xFF);
    emit_modrm_rr(c, 4, target);
}

void x64_push(alk_code *c, x64_reg reg)
{
    if (reg & 8)
        alk_code_byte(c, 0x41);
    alk_code_byte(c, (uint8_t)(0x50 + (reg & 7)));
}

void x64_pop(alk_code *c, x64_reg reg)
{
    if (reg & 8)
        alk_code_byte(c, 0x41);
    alk_code_byte(c, (uint8_t)(0x58 + (reg & 7)));
}

void x64_ret(alk_code *c) { alk_code_byte(c, 0xC3); }
void x64_leave(alk_code *c) { alk_code_byte(c, 0xC9); }

void x64_ud2(alk_code *c)
{
    alk_code_byte(c, 0x0F);
    alk_code_byte(c, 0x0B);
}

/* ---- SSE2 ---------------------------------------------------------------------------------- */

static void emit_sse_prefix(alk_code *c, uint8_t prefix)
{
    if (prefix)
        alk_code_byte(c, prefix);
}

void x64_sse_rr(alk_code *c, x64_sse op, int dst, int src)
{
    emit_sse_prefix(c, op.prefix);
    emit_rex_rr(c, false, dst, src, false);
    alk_code_byte(c, 0x0F);
    alk_code_byte(c, op.opcode);
    emit_modrm_rr(c, dst, src);
}

void x64_sse_rm(alk_code *c, x64_sse op, int dst, x64_mem src)
{
    emit_sse_prefix(c, op.prefix);
    emit_rex_rm(c, false, dst, src, false);
    alk_code_byte(c, 0x0F);
    alk_code_byte(c, op.opcode);
    emit_modrm_mem(c, dst, src, 0);
}

void x64_movs_load(alk_code *c, int size, int dst, x64_mem src)
{
    x64_sse_rm(c, SSE(size == 4 ? 0xF3 : 0xF2, 0x10), dst, src);
}

void x64_movs_store(alk_code *c, int size, x64_mem dst, int src)
{
    emit_sse_prefix(c, size == 4 ? 0xF3 : 0xF2);
    emit_rex_rm(c, false, src, dst, false);
    alk_code_byte(c, 0x0F);
    alk_code_byte(c, 0x11);
    emit_modrm_mem(c, src, dst, 0);
}

void x64_movaps(alk_code *c, int dst, int src)
{
    x64_sse_rr(c, SSE(0, 0x28), dst, src);
}

void x64_movq_to_xmm(alk_code *c, int w, int dst, x64_reg src)
{
    alk_code_byte(c, 0x66);
    emit_rex_rr(c, w == 8, dst, src, false);
    alk_code_byte(c, 0x0F);
    alk_code_byte(c, 0x6E);
    emit_modrm_rr(c, dst, src);
}

void x64_movq_from_xmm(alk_code *c, int w, x64_reg dst, int src)
{
    alk_code_byte(c, 0x66);
    emit_rex_rr(c, w == 8, src, dst, false);
    alk_code_byte(c, 0x0F);
    alk_code_byte(c, 0x7E);
    emit_modrm_rr(c, src, dst);
}

void x64_ucomis(alk_code *c, int size, int a, int b)
{
    x64_sse_rr(c, SSE(size == 8 ? 0x66 : 0, 0x2E), a, b);
}

void x64_cvtsi2s(alk_code *c, int size, int dst, int w, x64_reg src)
{
    emit_sse_prefix(c, size == 4 ? 0xF3 : 0xF2);
    emit_rex_rr(c, w == 8, dst, src, false);
    alk_code_byte(c, 0x0F);
    alk_code_byte(c, 0x2A);
    emit_modrm_rr(c, dst, src);
}

void x64_cvtts2si(alk_code *c, int size, int w, x64_reg dst, int src)
{
    emit_sse_prefix(c, size == 4 ? 0xF3 : 0xF2);
    emit_rex_rr(c, w == 8, dst, src, false);
    alk_code_byte(c, 0x0F);
    alk_code_byte(c, 0x2C);
    emit_modrm_rr(c, dst, src);
}

void x64_cvts2s(alk_code *c, int to_size, int dst, int src)
{
    x64_sse_rr(c, SSE(to_size == 8 ? 0xF3 : 0xF2, 0x5A), dst, src);
}

void x64_sse_logic(alk_code *c, uint8_t op, int dst, int src)
{
    x64_sse_rr(c, SSE(0, op), dst, src);
}
