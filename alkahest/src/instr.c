/*
 * Instructions: the tables built from opcodes.def, and alk_read_instr(), which decodes one
 * instruction and its immediates. Opcodes are found by lookup, not by comparison: one dense
 * array indexed by key = byte (one-byte opcodes), 256 + sub-opcode (0xFC) or 512 + sub-opcode
 * (0xFD); a zero entry is an illegal opcode.
 */
#include "alk_internal.h"

/* ---- Tables --------------------------------------------------------------------------------- */

#define ALK_T__ 0
#define ALK_T_I32 ALK_I32
#define ALK_T_I64 ALK_I64
#define ALK_T_F32 ALK_F32
#define ALK_T_F64 ALK_F64
#define ALK_T_V128 ALK_V128

#define SIG(a, b, c, r)                                                                    \
    .special = false,                                                                      \
    .operand_count = (ALK_T_##a != 0) + (ALK_T_##b != 0) + (ALK_T_##c != 0),               \
    .operands = {ALK_T_##a, ALK_T_##b, ALK_T_##c}, .result = ALK_T_##r
#define SPECIAL .special = true

#define ACCESS_LOG2(i)                                                                     \
    ((i) == ALK_IMM_MEM16 || (i) == ALK_IMM_MEM16_LANE   ? 1                               \
     : (i) == ALK_IMM_MEM32 || (i) == ALK_IMM_MEM32_LANE ? 2                               \
     : (i) == ALK_IMM_MEM64 || (i) == ALK_IMM_MEM64_LANE ? 3                               \
     : (i) == ALK_IMM_MEM128                             ? 4                               \
                                                         : 0)
#define LANE_COUNT(i)                                                                      \
    ((i) == ALK_IMM_LANE16 || (i) == ALK_IMM_MEM8_LANE   ? 16                              \
     : (i) == ALK_IMM_LANE8 || (i) == ALK_IMM_MEM16_LANE ? 8                               \
     : (i) == ALK_IMM_LANE4 || (i) == ALK_IMM_MEM32_LANE ? 4                               \
     : (i) == ALK_IMM_LANE2 || (i) == ALK_IMM_MEM64_LANE ? 2                               \
                                                         : 0)

const alk_opcode_info alk_opcode_infos[ALK_OP_COUNT] = {
#define ALK_OP(name, prefix_, code_, text, immediates, signature, group_)                  \
    [ALK_OP_##name] = {.prefix = prefix_,                                                  \
                       .code = code_,                                                      \
                       .immediate = ALK_IMM_##immediates,                                  \
                       .group = ALK_GROUP_##group_,                                        \
                       .access_log2 = ACCESS_LOG2(ALK_IMM_##immediates),                   \
                       .lane_count = LANE_COUNT(ALK_IMM_##immediates),                     \
                       signature},
#include "opcodes.def"
#undef ALK_OP
};

static const char *const opcode_texts[ALK_OP_COUNT] = {
#define ALK_OP(name, prefix, code, text, immediates, signature, group) [ALK_OP_##name] = text,
#include "opcodes.def"
#undef ALK_OP
};

#define OPCODE_KEY(prefix, code) ((prefix) == 0 ? (code) : (prefix) == 0xfc ? 256 + (code) : 512 + (code))

/* opcode + 1, so that the zero-filled gaps are the illegal opcodes (alk_internal.h). */
const alk_opcode_key alk_opcode_by_key[3 * 256] = {
#define ALK_OP(name, prefix, code, text, immediates, signature, group)                     \
    [OPCODE_KEY(prefix, code)] = {ALK_OP_##name + 1, ALK_IMM_##immediates},
#include "opcodes.def"
#undef ALK_OP
};

#undef SIG
#undef SPECIAL

const char *alk_opcode_text(alk_opcode op)
{
    return (unsigned)op < ALK_OP_COUNT ? opcode_texts[op] : "<unknown>";
}

/* ---- Decoding ------------------------------------------------------------------------------- */

/* blocktype ::= 0x40 | valtype | s33 (>= 0, a type index) */
static int read_blocktype(alk_reader *r, alk_instr *out)
{
    if (r->cursor >= r->end)
        return ALK_E_UNEXPECTED_END_OF_SECTION;
    uint8_t byte = *r->cursor;
    if (byte == 0x40) {
        r->cursor++;
        out->imm.block.kind = ALK_BLOCK_EMPTY;
        return ALK_OK;
    }
    if (alk_is_valtype(byte)) {
        r->cursor++;
        out->imm.block.kind = ALK_BLOCK_VALUE;
        out->imm.block.value_type = byte;
        return ALK_OK;
    }
    int64_t index;
    int code = alk_read_s33(r, &index);
    if (code != ALK_OK)
        return code;
    if (index < 0) {
        r->cursor--; /* a negative one-byte s33 that is no value type: point at it */
        return ALK_E_MALFORMED_VALUE_TYPE;
    }
    out->imm.block.kind = ALK_BLOCK_TYPE;
    out->imm.block.type_index = (uint32_t)index;
    return ALK_OK;
}

static int read_zero_byte(alk_reader *r)
{
    uint8_t byte;
    int code = alk_read_u8(r, &byte);
    if (code != ALK_OK)
        return code;
    if (byte != 0) {
        r->cursor--;
        return ALK_E_ZERO_BYTE_EXPECTED;
    }
    return ALK_OK;
}

static int read_memarg(alk_reader *r, alk_instr *out)
{
    int code = alk_read_u32(r, &out->imm.memarg.align);
    if (code == ALK_OK)
        code = alk_read_u32(r, &out->imm.memarg.offset);
    out->imm.memarg.lane = 0;
    return code;
}

static int read_immediates(alk_reader *r, alk_immediate kind, alk_instr *out)
{
    int code = ALK_OK;
    switch (kind) {
    case ALK_IMM_NONE:
        break;
    case ALK_IMM_BLOCK:
        code = read_blocktype(r, out);
        break;
    case ALK_IMM_LABEL:
    case ALK_IMM_FUNCTION:
    case ALK_IMM_LOCAL:
    case ALK_IMM_GLOBAL:
    case ALK_IMM_TABLE:
    case ALK_IMM_ELEM:
    case ALK_IMM_DATA:
        code = alk_read_u32(r, &out->imm.index);
        break;
    case ALK_IMM_BR_TABLE: {
        uint32_t count, target;
        code = alk_read_u32(r, &count);
        if (code != ALK_OK)
            break;
        out->imm.br_table.target_count = count;
        out->imm.br_table.targets = *r;
        for (uint32_t i = 0; i < count && code == ALK_OK; i++)
            code = alk_read_u32(r, &target);
        if (code == ALK_OK)
            code = alk_read_u32(r, &out->imm.br_table.default_target);
        break;
    }
    case ALK_IMM_CALL_INDIRECT:
        code = alk_read_u32(r, &out->imm.call_indirect.type_index);
        if (code == ALK_OK)
            code = alk_read_u32(r, &out->imm.call_indirect.table);
        break;
    case ALK_IMM_TABLE_INIT:
    case ALK_IMM_TABLE_COPY:
        code = alk_read_u32(r, &out->imm.pair.first);
        if (code == ALK_OK)
            code = alk_read_u32(r, &out->imm.pair.second);
        break;
    case ALK_IMM_MEMORY:
        out->imm.index = 0;
        code = read_zero_byte(r);
        break;
    case ALK_IMM_MEMORY_INIT:
        out->imm.pair.second = 0;
        code = alk_read_u32(r, &out->imm.pair.first);
        if (code == ALK_OK)
            code = read_zero_byte(r);
        break;
    case ALK_IMM_MEMORY_COPY:
        out->imm.pair.first = out->imm.pair.second = 0;
        code = read_zero_byte(r);
        if (code == ALK_OK)
            code = read_zero_byte(r);
        break;
    case ALK_IMM_MEM8:
    case ALK_IMM_MEM16:
    case ALK_IMM_MEM32:
    case ALK_IMM_MEM64:
    case ALK_IMM_MEM128:
        code = read_memarg(r, out);
        break;
    case ALK_IMM_MEM8_LANE:
    case ALK_IMM_MEM16_LANE:
    case ALK_IMM_MEM32_LANE:
    case ALK_IMM_MEM64_LANE:
        code = read_memarg(r, out);
        if (code == ALK_OK)
            code = alk_read_u8(r, &out->imm.memarg.lane);
        break;
    case ALK_IMM_LANE16:
    case ALK_IMM_LANE8:
    case ALK_IMM_LANE4:
    case ALK_IMM_LANE2:
        code = alk_read_u8(r, &out->imm.lane);
        break;
    case ALK_IMM_I32:
        code = alk_read_s32(r, &out->imm.i32);
        break;
    case ALK_IMM_I64:
        code = alk_read_s64(r, &out->imm.i64);
        break;
    case ALK_IMM_F32:
        code = alk_read_fixed32(r, &out->imm.f32_bits);
        break;
    case ALK_IMM_F64:
        code = alk_read_fixed64(r, &out->imm.f64_bits);
        break;
    case ALK_IMM_V128:
    case ALK_IMM_SHUFFLE: {
        const uint8_t *bytes;
        code = alk_read_bytes(r, 16, &bytes);
        if (code == ALK_OK)
            alk_memcpy(kind == ALK_IMM_V128 ? out->imm.v128 : out->imm.lanes, bytes, 16);
        break;
    }
    case ALK_IMM_SELECT_T: {
        uint32_t count;
        code = alk_read_u32(r, &count);
        if (code != ALK_OK)
            break;
        out->imm.select.count = count;
        out->imm.select.type = 0;
        for (uint32_t i = 0; i < count; i++) {
            if (r->cursor >= r->end)
                return ALK_E_UNEXPECTED_END_OF_SECTION;
            if (!alk_is_valtype(*r->cursor))
                return ALK_E_MALFORMED_VALUE_TYPE;
            if (i == 0)
                out->imm.select.type = *r->cursor;
            r->cursor++;
        }
        break;
    }
    case ALK_IMM_REF_TYPE:
        if (r->cursor >= r->end)
            return ALK_E_UNEXPECTED_END_OF_SECTION;
        if (!alk_is_reftype(*r->cursor))
            return ALK_E_MALFORMED_REFERENCE_TYPE;
        out->imm.ref_type = *r->cursor++;
        break;
    case ALK_IMM_COUNT:
        break;
    }
    return code;
}

int alk_read_instr_slow(alk_reader *reader, alk_instr *out, alk_diag *diag)
{
    alk_reader r = *reader;
    uint32_t offset = alk_reader_offset(&r);
    if (r.cursor >= r.end)
        return alk_fail(diag, ALK_E_UNEXPECTED_END_OF_SECTION, offset, ALK_NO_FUNCTION, "");
    uint32_t key = *r.cursor++;
    if (key == 0xfc || key == 0xfd) {
        uint32_t sub;
        int code = alk_read_u32(&r, &sub);
        if (code != ALK_OK)
            return alk_fail(diag, code, offset + 1, ALK_NO_FUNCTION, "");
        if (sub > 255)
            return alk_fail(diag, ALK_E_ILLEGAL_OPCODE, offset, ALK_NO_FUNCTION, ": 0x%x %u", key, sub);
        key = (key == 0xfc ? 256 : 512) + sub;
    }
    uint32_t entry = alk_opcode_by_key[key].op_plus_one;
    if (entry == 0) {
        if (key < 256)
            return alk_fail(diag, ALK_E_ILLEGAL_OPCODE, offset, ALK_NO_FUNCTION, ": 0x%x", key);
        return alk_fail(diag, ALK_E_ILLEGAL_OPCODE, offset, ALK_NO_FUNCTION, ": 0x%x %u",
                        key < 512 ? 0xfc : 0xfd, key & 0xff);
    }
    alk_opcode op = (alk_opcode)(entry - 1);
    out->op = op;
    out->offset = offset;
    alk_immediate kind = (alk_immediate)alk_opcode_infos[op].immediate;
    if (kind != ALK_IMM_NONE) {
        int code = read_immediates(&r, kind, out);
        if (code != ALK_OK)
            return alk_fail(diag, code, alk_reader_offset(&r), ALK_NO_FUNCTION, " in %s",
                            alk_opcode_text(op));
    }
    reader->cursor = r.cursor;
    return ALK_OK;
}
