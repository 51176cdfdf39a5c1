/*
 * x86-64 encoder. Encodings from the Intel SDM, volume 2. Every instruction is
 *     [prefixes] [REX] opcode [ModRM [SIB] [disp]] [imm]
 * and emit_rex/emit_modrm_* build the middle part for all of them.
 */
#include "asm.h"

#define UNBOUND UINT32_MAX

/* ---- Buffer and labels ------------------------------------------------------------------ */

static bool grow(x64_code *c, void **array, uint32_t *capacity, uint32_t needed, size_t element)
{
    if (needed <= *capacity)
        return true;
    uint32_t new_capacity = *capacity ? *capacity : 64;
    while (new_capacity < needed) {
        if (new_capacity > UINT32_MAX / 2) {
            c->failed = true;
            return false;
        }
        new_capacity *= 2;
    }
    void *fresh = c->allocator->alloc(c->allocator->user, (size_t)new_capacity * element);
    if (!fresh) {
        c->failed = true;
        return false;
    }
    if (*array) {
        alk_memcpy(fresh, *array, (size_t)*capacity * element);
        c->allocator->free(c->allocator->user, *array);
    }
    *array = fresh;
    *capacity = new_capacity;
    return true;
}

void x64_code_init(x64_code *c, const alk_allocator *allocator)
{
    alk_memset(c, 0, sizeof *c);
    c->allocator = allocator;
    c->label_count = 1; /* label 0 means "none" */
}

void x64_code_free(x64_code *c)
{
    c->allocator->free(c->allocator->user, c->bytes);
    c->allocator->free(c->allocator->user, c->label_position);
    c->allocator->free(c->allocator->user, c->fixups);
    c->bytes = NULL;
    c->label_position = NULL;
    c->fixups = NULL;
}

void x64_byte_slow(x64_code *c, uint8_t byte)
{
    if (c->size == c->capacity &&
        !grow(c, (void **)&c->bytes, &c->capacity, c->size + 1, 1))
        return;
    c->bytes[c->size++] = byte;
}

void x64_reserve(x64_code *c, uint32_t bytes)
{
    if (bytes > UINT32_MAX - c->size)
        return;
    grow(c, (void **)&c->bytes, &c->capacity, c->size + bytes, 1);
}

void x64_u32(x64_code *c, uint32_t value)
{
    if (c->capacity - c->size >= 4) {
        uint8_t *p = c->bytes + c->size;
        p[0] = (uint8_t)value;
        p[1] = (uint8_t)(value >> 8);
        p[2] = (uint8_t)(value >> 16);
        p[3] = (uint8_t)(value >> 24);
        c->size += 4;
        return;
    }
    for (int i = 0; i < 4; i++)
        x64_byte(c, (uint8_t)(value >> (8 * i)));
}

static void emit_u64(x64_code *c, uint64_t value)
{
    x64_u32(c, (uint32_t)value);
    x64_u32(c, (uint32_t)(value >> 32));
}

static void emit_u16(x64_code *c, uint16_t value)
{
    x64_byte(c, (uint8_t)value);
    x64_byte(c, (uint8_t)(value >> 8));
}

void x64_align(x64_code *c, uint32_t alignment, uint8_t fill)
{
    while (c->size % alignment && !c->failed)
        x64_byte(c, fill);
}

uint32_t x64_position(const x64_code *c)
{
    return c->size;
}

void x64_patch_u32(x64_code *c, uint32_t at, uint32_t value)
{
    if (c->failed || at + 4 > c->size)
        return;
    for (int i = 0; i < 4; i++)
        c->bytes[at + i] = (uint8_t)(value >> (8 * i));
}

uint32_t x64_new_label(x64_code *c)
{
    if (!grow(c, (void **)&c->label_position, &c->label_capacity, c->label_count + 1,
              sizeof(uint32_t)))
        return 0;
    c->label_position[c->label_count] = UNBOUND;
    return c->label_count++;
}

void x64_bind(x64_code *c, uint32_t label)
{
    if (label && label < c->label_count)
        c->label_position[label] = c->size;
}

bool x64_is_bound(const x64_code *c, uint32_t label)
{
    return label && label < c->label_count && c->label_position[label] != UNBOUND;
}

static void use_label(x64_code *c, uint32_t label, int32_t addend)
{
    if (!grow(c, (void **)&c->fixups, &c->fixup_capacity, c->fixup_count + 1, sizeof(x64_fixup)))
        return;
    c->fixups[c->fixup_count++] = (x64_fixup){ c->size, label, addend };
    x64_u32(c, 0);
}

bool x64_resolve(x64_code *c)
{
    if (c->failed)
        return false;
    for (uint32_t i = 0; i < c->fixup_count; i++) {
        x64_fixup f = c->fixups[i];
        if (!f.label || f.label >= c->label_count || c->label_position[f.label] == UNBOUND)
            return false;
        int64_t delta = (int64_t)c->label_position[f.label] - (int64_t)(f.at + 4) + f.addend;
        x64_patch_u32(c, f.at, (uint32_t)(int32_t)delta);
    }
    c->fixup_count = 0;
    return true;
}

void x64_label_delta(x64_code *c, uint32_t label, uint32_t base_label)
{
    /* Resolved like a rel32 whose "next instruction" is the base label: record the use with
     * an addend that turns (target - (at + 4)) into (target - base). */
    if (!x64_is_bound(c, base_label)) {
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
static void emit_rex_rr(x64_code *c, bool w, int reg, int rm, bool byte_regs)
{
    uint8_t rex = (uint8_t)(0x40 | (w ? 8 : 0) | ((reg & 8) ? 4 : 0) | ((rm & 8) ? 1 : 0));
    if (rex != 0x40 || (byte_regs && (is_byte_reg_needing_rex(reg) || is_byte_reg_needing_rex(rm))))
        x64_byte(c, rex);
}

static void emit_rex_rm(x64_code *c, bool w, int reg, x64_mem m, bool byte_reg)
{
    uint8_t rex = (uint8_t)(0x40 | (w ? 8 : 0) | ((reg & 8) ? 4 : 0));
    if (!m.rip_label) {
        if (m.index != X64_NO_REG && (m.index & 8))
            rex |= 2;
        if (m.base != X64_NO_REG && (m.base & 8))
            rex |= 1;
    }
    if (rex != 0x40 || (byte_reg && is_byte_reg_needing_rex(reg)))
        x64_byte(c, rex);
}

static void emit_modrm_rr(x64_code *c, int reg, int rm)
{
    x64_byte(c, (uint8_t)(0xC0 | ((reg & 7) << 3) | (rm & 7)));
}

/* ModRM (+SIB, +disp) for a memory operand. trailing: bytes of immediate that follow, which a
 * RIP-relative displacement must account for. */
static void emit_modrm_mem(x64_code *c, int reg, x64_mem m, int trailing)
{
    int r = (reg & 7) << 3;
    if (m.rip_label) {
        x64_byte(c, (uint8_t)(0x05 | r));
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
        x64_byte(c, (uint8_t)((mod << 6) | r | (base & 7)));
    } else {
        int scale_bits = m.scale == 8 ? 3 : m.scale == 4 ? 2 : m.scale == 2 ? 1 : 0;
        int index_bits = index == X64_NO_REG ? 4 : (index & 7);
        x64_byte(c, (uint8_t)((mod << 6) | r | 4));
        x64_byte(c, (uint8_t)((scale_bits << 6) | (index_bits << 3) | (base & 7)));
    }
    if (mod == 1)
        x64_byte(c, (uint8_t)(int8_t)m.disp);
    else if (mod == 2)
        x64_u32(c, (uint32_t)m.disp);
}

static bool fits_i8(int64_t v) { return v >= -128 && v <= 127; }

/* ---- Integer instructions ----------------------------------------------------------------- */

void x64_alu_rr(x64_code *c, x64_alu op, int w, x64_reg dst, x64_reg src)
{
    emit_rex_rr(c, w == 8, src, dst, false);
    x64_byte(c, (uint8_t)(op * 8 + 1));            /* op r/m, r */
    emit_modrm_rr(c, src, dst);
}

void x64_alu_ri(x64_code *c, x64_alu op, int w, x64_reg dst, int32_t imm)
{
    emit_rex_rr(c, w == 8, 0, dst, false);
    if (fits_i8(imm)) {
        x64_byte(c, 0x83);
        emit_modrm_rr(c, op, dst);
        x64_byte(c, (uint8_t)(int8_t)imm);
    } else {
        x64_byte(c, 0x81);
        emit_modrm_rr(c, op, dst);
        x64_u32(c, (uint32_t)imm);
    }
}

void x64_alu_rm(x64_code *c, x64_alu op, int w, x64_reg dst, x64_mem src)
{
    emit_rex_rm(c, w == 8, dst, src, false);
    x64_byte(c, (uint8_t)(op * 8 + 3));            /* op r, r/m */
    emit_modrm_mem(c, dst, src, 0);
}

void x64_alu_mr(x64_code *c, x64_alu op, int w, x64_mem dst, x64_reg src)
{
    emit_rex_rm(c, w == 8, src, dst, false);
    x64_byte(c, (uint8_t)(op * 8 + 1));
    emit_modrm_mem(c, src, dst, 0);
}

void x64_alu_mi(x64_code *c, x64_alu op, int w, x64_mem dst, int32_t imm)
{
    emit_rex_rm(c, w == 8, 0, dst, false);
    if (fits_i8(imm)) {
        x64_byte(c, 0x83);
        emit_modrm_mem(c, op, dst, 1);
        x64_byte(c, (uint8_t)(int8_t)imm);
    } else {
        x64_byte(c, 0x81);
        emit_modrm_mem(c, op, dst, 4);
        x64_u32(c, (uint32_t)imm);
    }
}

void x64_test_rr(x64_code *c, int w, x64_reg a, x64_reg b)
{
    emit_rex_rr(c, w == 8, b, a, false);
    x64_byte(c, 0x85);
    emit_modrm_rr(c, b, a);
}

void x64_test_ri(x64_code *c, int w, x64_reg a, int32_t imm)
{
    emit_rex_rr(c, w == 8, 0, a, false);
    x64_byte(c, 0xF7);
    emit_modrm_rr(c, 0, a);
    x64_u32(c, (uint32_t)imm);
}

void x64_mov_rr(x64_code *c, int w, x64_reg dst, x64_reg src)
{
    emit_rex_rr(c, w == 8, src, dst, false);
    x64_byte(c, 0x89);
    emit_modrm_rr(c, src, dst);
}

void x64_mov_ri(x64_code *c, int w, x64_reg dst, uint64_t imm)
{
    if (w == 4)
        imm = (uint32_t)imm;
    if (imm == 0) {
        x64_alu_rr(c, ALU_XOR, 4, dst, dst);
    } else if (imm <= UINT32_MAX) {
        emit_rex_rr(c, false, 0, dst, false);      /* mov r32, imm32 zero-extends */
        x64_byte(c, (uint8_t)(0xB8 + (dst & 7)));
        x64_u32(c, (uint32_t)imm);
    } else if ((int64_t)imm >= INT32_MIN && (int64_t)imm < 0) {
        emit_rex_rr(c, true, 0, dst, false);       /* mov r/m64, imm32 sign-extends */
        x64_byte(c, 0xC7);
        emit_modrm_rr(c, 0, dst);
        x64_u32(c, (uint32_t)imm);
    } else {
        emit_rex_rr(c, true, 0, dst, false);
        x64_byte(c, (uint8_t)(0xB8 + (dst & 7)));
        emit_u64(c, imm);
    }
}

void x64_mov_ri_keep_flags(x64_code *c, int w, x64_reg dst, uint64_t imm)
{
    if ((w == 4 ? (uint32_t)imm : imm) != 0) {
        x64_mov_ri(c, w, dst, imm);
        return;
    }
    emit_rex_rr(c, false, 0, dst, false);          /* mov r32, 0 */
    x64_byte(c, (uint8_t)(0xB8 + (dst & 7)));
    x64_u32(c, 0);
}

void x64_load(x64_code *c, int w, x64_reg dst, x64_mem src, int size, bool sign_extend)
{
    switch (size) {
    case 1:
    case 2:
        emit_rex_rm(c, w == 8 && sign_extend, dst, src, false);
        x64_byte(c, 0x0F);
        x64_byte(c, (uint8_t)((sign_extend ? 0xBE : 0xB6) + (size == 2)));
        break;
    case 4:
        if (sign_extend && w == 8) {
            emit_rex_rm(c, true, dst, src, false);
            x64_byte(c, 0x63);                     /* movsxd */
        } else {
            emit_rex_rm(c, false, dst, src, false);
            x64_byte(c, 0x8B);
        }
        break;
    default:
        emit_rex_rm(c, true, dst, src, false);
        x64_byte(c, 0x8B);
        break;
    }
    emit_modrm_mem(c, dst, src, 0);
}

void x64_store(x64_code *c, int size, x64_mem dst, x64_reg src)
{
    if (size == 2)
        x64_byte(c, 0x66);
    emit_rex_rm(c, size == 8, src, dst, size == 1);
    x64_byte(c, size == 1 ? 0x88 : 0x89);
    emit_modrm_mem(c, src, dst, 0);
}

void x64_store_imm(x64_code *c, int size, x64_mem dst, int32_t imm)
{
    if (size == 2)
        x64_byte(c, 0x66);
    emit_rex_rm(c, size == 8, 0, dst, false);
    x64_byte(c, size == 1 ? 0xC6 : 0xC7);
    int trailing = size == 1 ? 1 : size == 2 ? 2 : 4;
    emit_modrm_mem(c, 0, dst, trailing);
    if (size == 1)
        x64_byte(c, (uint8_t)imm);
    else if (size == 2)
        emit_u16(c, (uint16_t)imm);
    else
        x64_u32(c, (uint32_t)imm);
}

void x64_lea(x64_code *c, int w, x64_reg dst, x64_mem src)
{
    emit_rex_rm(c, w == 8, dst, src, false);
    x64_byte(c, 0x8D);
    emit_modrm_mem(c, dst, src, 0);
}

void x64_movzx8_rr(x64_code *c, x64_reg dst, x64_reg src)
{
    emit_rex_rr(c, false, dst, src, true);
    x64_byte(c, 0x0F);
    x64_byte(c, 0xB6);
    emit_modrm_rr(c, dst, src);
}

void x64_movsx_rr(x64_code *c, int w, x64_reg dst, x64_reg src, int from_size)
{
    if (from_size == 4) {
        x64_movsxd_rr(c, dst, src);
        return;
    }
    emit_rex_rr(c, w == 8, dst, src, from_size == 1);
    x64_byte(c, 0x0F);
    x64_byte(c, from_size == 1 ? 0xBE : 0xBF);
    emit_modrm_rr(c, dst, src);
}

void x64_movsxd_rr(x64_code *c, x64_reg dst, x64_reg src)
{
    emit_rex_rr(c, true, dst, src, false);
    x64_byte(c, 0x63);
    emit_modrm_rr(c, dst, src);
}

void x64_shift_cl(x64_code *c, x64_shift op, int w, x64_reg dst)
{
    emit_rex_rr(c, w == 8, 0, dst, false);
    x64_byte(c, 0xD3);
    emit_modrm_rr(c, op, dst);
}

void x64_shift_ri(x64_code *c, x64_shift op, int w, x64_reg dst, uint8_t count)
{
    emit_rex_rr(c, w == 8, 0, dst, false);
    if (count == 1) {
        x64_byte(c, 0xD1);
        emit_modrm_rr(c, op, dst);
    } else {
        x64_byte(c, 0xC1);
        emit_modrm_rr(c, op, dst);
        x64_byte(c, count);
    }
}

void x64_unary_r(x64_code *c, x64_unary op, int w, x64_reg reg)
{
    emit_rex_rr(c, w == 8, 0, reg, false);
    x64_byte(c, 0xF7);
    emit_modrm_rr(c, op, reg);
}

void x64_imul_rr(x64_code *c, int w, x64_reg dst, x64_reg src)
{
    emit_rex_rr(c, w == 8, dst, src, false);
    x64_byte(c, 0x0F);
    x64_byte(c, 0xAF);
    emit_modrm_rr(c, dst, src);
}

void x64_imul_rri(x64_code *c, int w, x64_reg dst, x64_reg src, int32_t imm)
{
    emit_rex_rr(c, w == 8, dst, src, false);
    if (fits_i8(imm)) {
        x64_byte(c, 0x6B);
        emit_modrm_rr(c, dst, src);
        x64_byte(c, (uint8_t)(int8_t)imm);
    } else {
        x64_byte(c, 0x69);
        emit_modrm_rr(c, dst, src);
        x64_u32(c, (uint32_t)imm);
    }
}

void x64_cdq(x64_code *c, int w)
{
    if (w == 8)
        x64_byte(c, 0x48);
    x64_byte(c, 0x99);
}

void x64_setcc(x64_code *c, x64_cond cc, x64_reg dst8)
{
    emit_rex_rr(c, false, 0, dst8, true);
    x64_byte(c, 0x0F);
    x64_byte(c, (uint8_t)(0x90 + cc));
    emit_modrm_rr(c, 0, dst8);
}

void x64_cmov(x64_code *c, x64_cond cc, int w, x64_reg dst, x64_reg src)
{
    emit_rex_rr(c, w == 8, dst, src, false);
    x64_byte(c, 0x0F);
    x64_byte(c, (uint8_t)(0x40 + cc));
    emit_modrm_rr(c, dst, src);
}

void x64_bsr(x64_code *c, int w, x64_reg dst, x64_reg src)
{
    emit_rex_rr(c, w == 8, dst, src, false);
    x64_byte(c, 0x0F);
    x64_byte(c, 0xBD);
    emit_modrm_rr(c, dst, src);
}

void x64_bsf(x64_code *c, int w, x64_reg dst, x64_reg src)
{
    emit_rex_rr(c, w == 8, dst, src, false);
    x64_byte(c, 0x0F);
    x64_byte(c, 0xBC);
    emit_modrm_rr(c, dst, src);
}

void x64_xchg_rr(x64_code *c, x64_reg a, x64_reg b)
{
    emit_rex_rr(c, true, a, b, false);
    x64_byte(c, 0x87);
    emit_modrm_rr(c, a, b);
}

/* ---- Control ------------------------------------------------------------------------------ */

void x64_jmp(x64_code *c, uint32_t label)
{
    if (x64_is_bound(c, label)) {
        int64_t delta = (int64_t)c->label_position[label] - (int64_t)(c->size + 2);
        if (fits_i8(delta)) {
            x64_byte(c, 0xEB);
            x64_byte(c, (uint8_t)(int8_t)delta);
            return;
        }
    }
    x64_byte(c, 0xE9);
    use_label(c, label, 0);
}

void x64_jcc(x64_code *c, x64_cond cc, uint32_t label)
{
    if (x64_is_bound(c, label)) {
        int64_t delta = (int64_t)c->label_position[label] - (int64_t)(c->size + 2);
        if (fits_i8(delta)) {
            x64_byte(c, (uint8_t)(0x70 + cc));
            x64_byte(c, (uint8_t)(int8_t)delta);
            return;
        }
    }
    x64_byte(c, 0x0F);
    x64_byte(c, (uint8_t)(0x80 + cc));
    use_label(c, label, 0);
}

void x64_call_label(x64_code *c, uint32_t label)
{
    x64_byte(c, 0xE8);
    use_label(c, label, 0);
}

void x64_call_mem(x64_code *c, x64_mem target)
{
    emit_rex_rm(c, false, 0, target, false);
    x64_byte(c, 0xFF);
    emit_modrm_mem(c, 2, target, 0);
}

void x64_jmp_r(x64_code *c, x64_reg target)
{
    emit_rex_rr(c, false, 0, target, false);
    x64_byte(c, 0xFF);
    emit_modrm_rr(c, 4, target);
}

void x64_push(x64_code *c, x64_reg reg)
{
    if (reg & 8)
        x64_byte(c, 0x41);
    x64_byte(c, (uint8_t)(0x50 + (reg & 7)));
}

void x64_pop(x64_code *c, x64_reg reg)
{
    if (reg & 8)
        x64_byte(c, 0x41);
    x64_byte(c, (uint8_t)(0x58 + (reg & 7)));
}

void x64_ret(x64_code *c) { x64_byte(c, 0xC3); }
void x64_leave(x64_code *c) { x64_byte(c, 0xC9); }

void x64_ud2(x64_code *c)
{
    x64_byte(c, 0x0F);
    x64_byte(c, 0x0B);
}

/* ---- SSE2 ---------------------------------------------------------------------------------- */

static void emit_sse_prefix(x64_code *c, uint8_t prefix)
{
    if (prefix)
        x64_byte(c, prefix);
}

void x64_sse_rr(x64_code *c, x64_sse op, int dst, int src)
{
    emit_sse_prefix(c, op.prefix);
    emit_rex_rr(c, false, dst, src, false);
    x64_byte(c, 0x0F);
    x64_byte(c, op.opcode);
    emit_modrm_rr(c, dst, src);
}

void x64_sse_rm(x64_code *c, x64_sse op, int dst, x64_mem src)
{
    emit_sse_prefix(c, op.prefix);
    emit_rex_rm(c, false, dst, src, false);
    x64_byte(c, 0x0F);
    x64_byte(c, op.opcode);
    emit_modrm_mem(c, dst, src, 0);
}

void x64_movs_load(x64_code *c, int size, int dst, x64_mem src)
{
    x64_sse_rm(c, SSE(size == 4 ? 0xF3 : 0xF2, 0x10), dst, src);
}

void x64_movs_store(x64_code *c, int size, x64_mem dst, int src)
{
    emit_sse_prefix(c, size == 4 ? 0xF3 : 0xF2);
    emit_rex_rm(c, false, src, dst, false);
    x64_byte(c, 0x0F);
    x64_byte(c, 0x11);
    emit_modrm_mem(c, src, dst, 0);
}

void x64_movaps(x64_code *c, int dst, int src)
{
    x64_sse_rr(c, SSE(0, 0x28), dst, src);
}

void x64_movq_to_xmm(x64_code *c, int w, int dst, x64_reg src)
{
    x64_byte(c, 0x66);
    emit_rex_rr(c, w == 8, dst, src, false);
    x64_byte(c, 0x0F);
    x64_byte(c, 0x6E);
    emit_modrm_rr(c, dst, src);
}

void x64_movq_from_xmm(x64_code *c, int w, x64_reg dst, int src)
{
    x64_byte(c, 0x66);
    emit_rex_rr(c, w == 8, src, dst, false);
    x64_byte(c, 0x0F);
    x64_byte(c, 0x7E);
    emit_modrm_rr(c, src, dst);
}

void x64_ucomis(x64_code *c, int size, int a, int b)
{
    x64_sse_rr(c, SSE(size == 8 ? 0x66 : 0, 0x2E), a, b);
}

void x64_cvtsi2s(x64_code *c, int size, int dst, int w, x64_reg src)
{
    emit_sse_prefix(c, size == 4 ? 0xF3 : 0xF2);
    emit_rex_rr(c, w == 8, dst, src, false);
    x64_byte(c, 0x0F);
    x64_byte(c, 0x2A);
    emit_modrm_rr(c, dst, src);
}

void x64_cvtts2si(x64_code *c, int size, int w, x64_reg dst, int src)
{
    emit_sse_prefix(c, size == 4 ? 0xF3 : 0xF2);
    emit_rex_rr(c, w == 8, dst, src, false);
    x64_byte(c, 0x0F);
    x64_byte(c, 0x2C);
    emit_modrm_rr(c, dst, src);
}

void x64_cvts2s(x64_code *c, int to_size, int dst, int src)
{
    x64_sse_rr(c, SSE(to_size == 8 ? 0xF3 : 0xF2, 0x5A), dst, src);
}

void x64_sse_logic(x64_code *c, uint8_t op, int dst, int src)
{
    x64_sse_rr(c, SSE(0, op), dst, src);
}
