/*
 * Alkahest internals shared by the pipeline stages. Not installed; only src/ and cli/ include it.
 *
 * The decoded module (alk_module) is the one representation every later stage reads. It keeps
 * pointers into the caller's Wasm bytes (names, function bodies, data segments): instruction
 * sequences are not turned into an IR but re-read with alk_read_instr() by validate.c and by the
 * single-pass compiler, the way Liftoff and wasm3 work.
 */
#ifndef ALK_INTERNAL_H
#define ALK_INTERNAL_H

#include <stdarg.h>

#include "alkahest.h"
#include "alkahest_abi.h"

/* ---- Value and reference types: their binary encodings ---------------------------------- */
typedef uint8_t alk_valtype;
enum {                                         /* ALK_I32 = 0x7f, ... (formats/abi.toml) */
#define ALK_VALTYPE_ENUM(type, code, letter, name, is_float, bytes) ALK_##type = code,
    ALK_VALUE_TYPES(ALK_VALTYPE_ENUM)
#undef ALK_VALTYPE_ENUM
};
bool alk_is_reftype(alk_valtype type);
bool alk_is_valtype(uint8_t byte);             /* one of the seven encodings above */
const char *alk_valtype_name(alk_valtype type); /* "i32"; "unknown" for anything else */

/* ---- Spec limits (appendix/implementation.rst) and our own ------------------------------- */
#define ALK_MAX_PAGES 65536u            /* 4 GiB of 64 KiB pages */
#define ALK_PAGE_SIZE 65536u
#define ALK_MAX_TABLE_SIZE 10000000u    /* ours: table.grow beyond this fails (returns -1) */
#define ALK_MAX_FUNCTION_LOCALS 50000u  /* ours, as V8; exceeding it is ALK-E024 "too many locals" */

/* Implementation limits of the decoder and validator (appendix/implementation.rst allows them;
 * the values are those of the JS embedding and V8). Exceeding one is ALK-E028. They also bound
 * the memory a hostile module can make us allocate: see docs/alkahest-frontend.md. */
#define ALK_MAX_MODULE_SIZE (1u << 30)   /* bytes */
#define ALK_MAX_TYPES 1000000u
#define ALK_MAX_FUNCTIONS 1000000u       /* imported + defined */
#define ALK_MAX_IMPORTS 100000u
#define ALK_MAX_EXPORTS 100000u
#define ALK_MAX_GLOBALS 1000000u         /* imported + defined */
#define ALK_MAX_TABLES 100000u           /* imported + defined */
#define ALK_MAX_MEMORIES 100000u         /* decoded; more than one is invalid in 2.0 */
#define ALK_MAX_ELEMENT_SEGMENTS 10000000u
#define ALK_MAX_DATA_SEGMENTS 100000u
#define ALK_MAX_PARAMS 1000u             /* per function type */
#define ALK_MAX_RESULTS 1000u            /* per function type */
#define ALK_MAX_FUNCTION_SIZE 7654321u   /* bytes of one code entry */
#define ALK_MAX_OPERAND_STACK 1000000u   /* values on a function's operand stack */
#define ALK_MAX_FRAME_SIZE (1u << 30)    /* bytes of one native frame (a disp32 of the prologue) */

/* ---- Module structure ---------------------------------------------------------------------- */

typedef struct alk_name {
    const uint8_t *bytes; /* into the module's bytes; valid UTF-8 once decoded */
    uint32_t length;
} alk_name;

typedef struct alk_functype {
    uint32_t param_count;
    uint32_t result_count;
    const alk_valtype *params;
    const alk_valtype *results;
} alk_functype;

typedef struct alk_limits {
    uint32_t min;
    uint32_t max;   /* meaningful only when has_max */
    bool has_max;
} alk_limits;

typedef struct alk_tabletype {
    alk_valtype element; /* ALK_FUNCREF or ALK_EXTERNREF */
    alk_limits limits;
} alk_tabletype;

typedef struct alk_globaltype {
    alk_valtype type;
    bool is_mutable;
} alk_globaltype;

typedef enum alk_externkind {
    ALK_EXTERN_FUNC = 0,
    ALK_EXTERN_TABLE = 1,
    ALK_EXTERN_MEMORY = 2,
    ALK_EXTERN_GLOBAL = 3,
} alk_externkind;

/* A constant expression of WebAssembly 2.0: exactly one instruction followed by `end`. */
typedef enum alk_const_kind {
    ALK_CONST_I32,
    ALK_CONST_I64,
    ALK_CONST_F32,
    ALK_CONST_F64,
    ALK_CONST_V128,
    ALK_CONST_REF_NULL,   /* type = the reference type */
    ALK_CONST_REF_FUNC,   /* index = function index */
    ALK_CONST_GLOBAL_GET, /* index = global index (an imported, immutable global) */
} alk_const_kind;

typedef struct alk_constexpr {
    alk_const_kind kind;
    alk_valtype type;    /* the expression's result type */
    uint32_t index;
    uint64_t bits[2];    /* i32/f32 in bits[0] (low 32), i64/f64 in bits[0], v128 in both (LE) */
    uint32_t offset;     /* byte offset of the expression, for diagnostics */
} alk_constexpr;

typedef struct alk_import {
    alk_name module;
    alk_name field;
    alk_externkind kind;
    uint32_t offset;
    uint32_t index; /* index within its kind's index space (function/table/memory/global) */
} alk_import;

typedef struct alk_local_group {
    uint32_t count;
    alk_valtype type;
} alk_local_group;

typedef struct alk_function {
    uint32_t type_index;
    alk_name name;            /* from the name section; length 0 when absent */
    /* Defined functions only (index >= imported_function_count): */
    uint32_t body_offset;     /* offset of the code entry's local declarations */
    uint32_t code_offset;     /* offset of the first instruction */
    uint32_t body_end;        /* offset just past the final `end` */
    uint32_t local_group_count;
    const alk_local_group *local_groups;
    uint32_t local_count;     /* declared locals, excluding parameters */
} alk_function;

typedef struct alk_global {
    alk_globaltype type;
    alk_constexpr init;       /* defined globals only */
} alk_global;

typedef struct alk_export {
    alk_name name;
    alk_externkind kind;
    uint32_t index;
} alk_export;

typedef enum alk_segment_mode {
    ALK_SEGMENT_ACTIVE,
    ALK_SEGMENT_PASSIVE,
    ALK_SEGMENT_DECLARATIVE,
} alk_segment_mode;

typedef struct alk_element {
    alk_segment_mode mode;
    alk_valtype type;         /* ALK_FUNCREF or ALK_EXTERNREF */
    uint32_t table;           /* active only */
    alk_constexpr offset;     /* active only */
    uint32_t item_count;
    const alk_constexpr *items; /* function-index forms become ALK_CONST_REF_FUNC items */
} alk_element;

typedef struct alk_data {
    alk_segment_mode mode;    /* ACTIVE or PASSIVE */
    uint32_t memory;
    alk_constexpr offset;
    const uint8_t *bytes;
    uint32_t size;
} alk_data;

struct alk_module {
    alk_allocator allocator;
    struct alk_arena *arena;  /* every allocation below lives here; freed at once */

    const uint8_t *bytes;
    size_t size;

    uint32_t type_count;
    const alk_functype *types;

    uint32_t import_count;
    const alk_import *imports;

    /* Index spaces: imported entries first, in import order, then defined ones. */
    uint32_t function_count, imported_function_count;
    alk_function *functions;
    uint32_t table_count, imported_table_count;
    const alk_tabletype *tables;
    uint32_t memory_count, imported_memory_count;
    const alk_limits *memories;
    uint32_t global_count, imported_global_count;
    const alk_global *globals;

    uint32_t export_count;
    const alk_export *exports;

    bool has_start;
    uint32_t start;

    uint32_t element_count;
    const alk_element *elements;

    bool has_data_count;
    uint32_t data_count;       /* from the data count section when present */
    uint32_t data_segment_count;
    const alk_data *data_segments;

    /* C.refs of the validation rules: functions that may appear in ref.func inside function
     * bodies (referenced from elements, exports or globals outside the code section). */
    const uint8_t *declared_function_refs; /* bitmap, function_count bits */

    alk_name module_name;      /* name section; length 0 when absent */
    uint32_t code_section_size; /* bytes of the code section, for throughput figures */
    uint32_t code_section_offset; /* where its contents start: DWARF's addresses count from here */
    bool validated;
};

const alk_functype *alk_function_type(const alk_module *module, uint32_t function_index);

/* ---- Byte reader: every read is bounds-checked; a failed read leaves the cursor alone ----- */
typedef struct alk_reader {
    const uint8_t *base;    /* start of the whole binary: offsets are relative to it */
    const uint8_t *cursor;
    const uint8_t *end;
} alk_reader;

static inline uint32_t alk_reader_offset(const alk_reader *reader)
{
    return (uint32_t)(reader->cursor - reader->base);
}

/* reader.c. Each returns ALK_OK, or on failure a code and leaves the cursor where it was:
 * ALK_E_UNEXPECTED_END_OF_SECTION when the bytes end first (callers at the top level of a module report ALK_E_UNEXPECTED_END),
 * ALK_E_INTEGER_TOO_LONG for an LEB128 longer than ceil(N/7) bytes, ALK_E_INTEGER_TOO_LARGE for one whose unused bits are
 * not zero (unsigned) or not the sign extension (signed), ALK_E_LENGTH_OUT_OF_BOUNDS for a name or byte vector
 * longer than what is left, ALK_E_MALFORMED_UTF8 for a name that is not UTF-8. */
int alk_read_u8(alk_reader *reader, uint8_t *value);
int alk_read_u32_slow(alk_reader *reader, uint32_t *value);
int alk_read_s32_slow(alk_reader *reader, int32_t *value);
int alk_read_s33(alk_reader *reader, int64_t *value);   /* block types */
int alk_read_s64(alk_reader *reader, int64_t *value);
int alk_read_fixed32(alk_reader *reader, uint32_t *value); /* little-endian: f32 */
int alk_read_fixed64(alk_reader *reader, uint64_t *value); /* little-endian: f64 */
int alk_read_bytes(alk_reader *reader, uint32_t length, const uint8_t **bytes);
int alk_read_name(alk_reader *reader, alk_name *name);  /* u32 length, UTF-8 bytes */
bool alk_utf8_valid(const uint8_t *bytes, size_t length);

/* The one-byte LEB128 forms are most of them: inline those, call out for the rest. */
static inline int alk_read_u32(alk_reader *reader, uint32_t *value)
{
    if (reader->cursor < reader->end && *reader->cursor < 0x80) {
        *value = *reader->cursor++;
        return ALK_OK;
    }
    return alk_read_u32_slow(reader, value);
}

static inline int alk_read_s32(alk_reader *reader, int32_t *value)
{
    if (reader->cursor < reader->end && *reader->cursor < 0x80) {
        uint8_t byte = *reader->cursor++;
        *value = (int32_t)byte - ((byte & 0x40) ? 0x80 : 0);
        return ALK_OK;
    }
    return alk_read_s32_slow(reader, value);
}

/* ---- Instructions ------------------------------------------------------------------------ */

/* Opcodes: one dense enum over all of WebAssembly 2.0 (plain, 0xFC- and 0xFD-prefixed),
 * generated from opcodes.def, which also carries each one's immediates and its type. */
typedef enum alk_opcode {
#define ALK_OP(name, prefix, code, text, immediates, signature, group) ALK_OP_##name,
#include "opcodes.def"
#undef ALK_OP
    ALK_OP_COUNT
} alk_opcode;

const char *alk_opcode_text(alk_opcode op); /* "i32.add" */

/* What follows an opcode (the `immediates` column of opcodes.def). MEMn: a memarg for an access
 * of n bits; MEMn_LANE: a memarg and a lane index; LANEn: a lane index among n lanes. */
typedef enum alk_immediate {
    ALK_IMM_NONE,
    /* one u32 index: keep these together, alk_read_instr() tests the range */
    ALK_IMM_LABEL,
    ALK_IMM_FUNCTION,
    ALK_IMM_LOCAL,
    ALK_IMM_GLOBAL,
    ALK_IMM_TABLE,
    ALK_IMM_ELEM,
    ALK_IMM_DATA,
    ALK_IMM_BLOCK,         /* block type */
    ALK_IMM_BR_TABLE,      /* vec(label index), default label */
    ALK_IMM_CALL_INDIRECT, /* type index, table index */
    ALK_IMM_TABLE_INIT,    /* elem index, table index */
    ALK_IMM_TABLE_COPY,    /* table index, table index */
    ALK_IMM_MEMORY,        /* a zero byte (memory 0) */
    ALK_IMM_MEMORY_INIT,   /* data index, zero byte */
    ALK_IMM_MEMORY_COPY,   /* two zero bytes */
    /* a memarg: keep these together, alk_read_instr() tests the range */
    ALK_IMM_MEM8,
    ALK_IMM_MEM16,
    ALK_IMM_MEM32,
    ALK_IMM_MEM64,
    ALK_IMM_MEM128,
    ALK_IMM_MEM8_LANE,
    ALK_IMM_MEM16_LANE,
    ALK_IMM_MEM32_LANE,
    ALK_IMM_MEM64_LANE,
    ALK_IMM_LANE16,
    ALK_IMM_LANE8,
    ALK_IMM_LANE4,
    ALK_IMM_LANE2,
    ALK_IMM_I32,
    ALK_IMM_I64,
    ALK_IMM_F32,
    ALK_IMM_F64,
    ALK_IMM_V128,
    ALK_IMM_SHUFFLE,       /* 16 lane indices below 32 */
    ALK_IMM_SELECT_T,      /* vec(value type) */
    ALK_IMM_REF_TYPE,
    ALK_IMM_COUNT
} alk_immediate;

/* What kind of instruction an opcode is (the `group` column of opcodes.def): the spec's
 * categories, numeric instructions split by whether a float is involved. Back ends dispatch
 * on it. */
typedef enum alk_group {
    ALK_GROUP_CONTROL,
    ALK_GROUP_REFERENCE,
    ALK_GROUP_PARAMETRIC,  /* drop, select */
    ALK_GROUP_LOCAL,
    ALK_GROUP_GLOBAL,
    ALK_GROUP_TABLE,
    ALK_GROUP_MEMORY,
    ALK_GROUP_INTEGER,     /* on integers only (wrap and extend included) */
    ALK_GROUP_FLOAT,       /* with a float operand or result (conversions included) */
    ALK_GROUP_VECTOR,      /* v128 */
    ALK_GROUP_COUNT
} alk_group;

/* The properties of each opcode, from opcodes.def (instr.c). */
typedef struct alk_opcode_info {
    uint8_t prefix;            /* 0, 0xFC or 0xFD */
    uint8_t code;              /* the byte, or the sub-opcode after the prefix */
    uint8_t immediate;         /* alk_immediate */
    uint8_t group;             /* alk_group */
    bool special;              /* typed by hand in validate.c; operands/result are unused */
    uint8_t operand_count;     /* simple instructions: operands popped ... */
    alk_valtype operands[3];   /* ... deepest first */
    alk_valtype result;        /* pushed; 0 for none */
    uint8_t access_log2;       /* memory instructions: log2 of the access size (natural alignment) */
    uint8_t lane_count;        /* instructions with a lane index: number of lanes */
} alk_opcode_info;

extern const alk_opcode_info alk_opcode_infos[ALK_OP_COUNT];

typedef enum alk_blocktype_kind {
    ALK_BLOCK_EMPTY,    /* [] -> [] */
    ALK_BLOCK_VALUE,    /* [] -> [value_type] */
    ALK_BLOCK_TYPE,     /* type_index */
} alk_blocktype_kind;

typedef struct alk_instr {
    alk_opcode op;
    uint32_t offset;                   /* of the first opcode byte */
    union {
        struct {
            alk_blocktype_kind kind;
            alk_valtype value_type;
            uint32_t type_index;
        } block;                       /* block, loop, if */
        uint32_t index;                /* local, global, function, label, table, elem, data,
                                          ref.func, memory.size/grow/fill (memory index) */
        struct {
            uint32_t type_index;
            uint32_t table;
        } call_indirect;
        struct {
            uint32_t target_count;     /* excluding the default */
            alk_reader targets;        /* positioned at the targets: read with alk_read_u32 */
            uint32_t default_target;
        } br_table;
        struct {
            uint32_t align;            /* log2 */
            uint32_t offset;
            uint8_t lane;              /* v128.loadN_lane / storeN_lane */
        } memarg;
        struct {
            uint32_t first, second;    /* memory.init: data, memory; memory.copy: dst, src;
                                          table.init: elem, table; table.copy: dst, src */
        } pair;
        struct {
            uint32_t count;            /* typed select: 1; plain select: 0 */
            alk_valtype type;
        } select;
        alk_valtype ref_type;          /* ref.null */
        uint8_t lane;                  /* extract/replace_lane */
        uint8_t lanes[16];             /* i8x16.shuffle */
        int32_t i32;
        int64_t i64;
        uint32_t f32_bits;
        uint64_t f64_bits;
        uint8_t v128[16];
    } imm;
} alk_instr;

/* Opcode lookup (instr.c) by key = the byte of a one-byte opcode, 256 + sub-opcode after 0xFC,
 * 512 + sub-opcode after 0xFD: the opcode + 1 (0 for the illegal ones, and the prefixes) and
 * its immediates, so that decoding needs one load to know both. */
typedef struct alk_opcode_key {
    uint16_t op_plus_one;
    uint8_t immediate; /* alk_immediate */
} alk_opcode_key;
extern const alk_opcode_key alk_opcode_by_key[3 * 256];

/* Any instruction: what alk_read_instr() does, all out of line. */
int alk_read_instr_slow(alk_reader *reader, alk_instr *out, alk_diag *diag);

/* Decodes one instruction and its immediates at reader->cursor and advances past it.
 * On malformed bytes returns an ALK_E* code and fills diag (offset included).
 * Inline for the forms that make up most code: one-byte opcodes with no immediate, an index
 * or an i32 in one or two LEB128 bytes, a one-byte memarg, or a one-byte block type; so that
 * decoding loops pay no call for them. Everything else goes to alk_read_instr_slow(). */
#if defined(__GNUC__)
#define ALK_ALWAYS_INLINE static inline __attribute__((always_inline))
#else
#define ALK_ALWAYS_INLINE static inline
#endif

ALK_ALWAYS_INLINE int alk_read_instr(alk_reader *reader, alk_instr *out, alk_diag *diag)
{
    const uint8_t *p = reader->cursor;
    if (reader->end - p >= 4) { /* the fast forms may look at p[0..3] */
        alk_opcode_key key = alk_opcode_by_key[p[0]];
        if (key.op_plus_one != 0) {
            alk_opcode op = (alk_opcode)(key.op_plus_one - 1);
            uint8_t kind = key.immediate;
            const uint8_t *next = NULL;
            if (kind == ALK_IMM_NONE) {
                next = p + 1;
            } else if (kind <= ALK_IMM_DATA) {
                if (p[1] < 0x80) {
                    out->imm.index = p[1];
                    next = p + 2;
                } else if (p[2] < 0x80) {
                    out->imm.index = (p[1] & 0x7fu) | (uint32_t)p[2] << 7;
                    next = p + 3;
                }
            } else if (kind >= ALK_IMM_MEM8 && kind <= ALK_IMM_MEM128) {
                if ((p[1] | p[2]) < 0x80) {
                    out->imm.memarg.align = p[1];
                    out->imm.memarg.offset = p[2];
                    out->imm.memarg.lane = 0;
                    next = p + 3;
                }
            } else if (kind == ALK_IMM_I32) {
                if (p[1] < 0x80) {
                    out->imm.i32 = (int32_t)p[1] - ((p[1] & 0x40) ? 0x80 : 0);
                    next = p + 2;
                } else if (p[2] < 0x80) {
                    int32_t v = (int32_t)((p[1] & 0x7fu) | (p[2] & 0x7fu) << 7);
                    out->imm.i32 = v - ((p[2] & 0x40) ? 0x4000 : 0);
                    next = p + 3;
                }
            } else if (kind == ALK_IMM_BLOCK) {
                if (p[1] == 0x40) {
                    out->imm.block.kind = ALK_BLOCK_EMPTY;
                    next = p + 2;
                } else if (p[1] >= ALK_F64 && p[1] <= ALK_I32) {
                    out->imm.block.kind = ALK_BLOCK_VALUE;
                    out->imm.block.value_type = p[1];
                    next = p + 2;
                }
            }
            if (next) {
                out->op = op;
                out->offset = (uint32_t)(p - reader->base);
                reader->cursor = next;
                return ALK_OK;
            }
        }
    }
    return alk_read_instr_slow(reader, out, diag);
}

/* ---- Function bodies (validate_code.c) ---------------------------------------------------- */
/* Decodes and type-checks every defined function's body (appendix/algorithm.rst), once the
 * module-level rules hold (alk_validate calls it last); diag->function is the failing one. */
/* Validates every function body, in parallel chunks when the options give a runner. */
int alk_validate_code(const alk_module *module, const alk_compile_options *options,
                      alk_diag *diag);

/* ---- Splitting work into parallel tasks (parallel.c) ---------------------------------------- */
#define ALK_MAX_PARTS 16
/* Splits the defined functions into at most ALK_MAX_PARTS ranges (options->parallelism when
 * options->run_parallel is set, else one) of about equal body size, in index order: range p is
 * defined functions [starts[p], starts[p + 1]) (0 is the first defined function). Returns the
 * number of ranges, at least 1 (an empty one when nothing is defined). */
unsigned alk_split_functions(const alk_module *module, const alk_compile_options *options,
                             uint32_t starts[ALK_MAX_PARTS + 1]);

/* ---- Diagnostics helper (diag.c) ------------------------------------------------------------ */
/* Fills diag (which may be NULL) and returns code. The message is the code's summary followed by
 * the formatted detail, which brings its own separator: alk_fail(d, ALK_E_UNKNOWN_LOCAL, at, f, " %u", x)
 * gives "unknown local 3", alk_fail(d, ALK_E_TYPE_MISMATCH, at, f, ": expected i32") "type mismatch: ...". */
int alk_fail(alk_diag *diag, int code, uint32_t offset, uint32_t function, const char *format, ...);

/* ---- Arena (arena.c): bump allocation over blocks from the allocator hook ----------------- */
struct alk_arena *alk_arena_new(const alk_allocator *allocator);
void *alk_arena_alloc(struct alk_arena *arena, size_t size); /* 16-byte aligned; NULL if out */
void alk_arena_free(struct alk_arena *arena);

/* ---- Freestanding helpers (util.c): no libc in the core ----------------------------------- */
void *alk_memcpy(void *dst, const void *src, size_t n);
void *alk_memset(void *dst, int value, size_t n);
int alk_memcmp(const void *a, const void *b, size_t n);
size_t alk_strlen(const char *s);
/* A tiny vsnprintf: %s %d %u %x %lu %lx %llu %llx %c %% and %.*s (for alk_name). */
int alk_snprintf(char *buf, size_t size, const char *format, ...);
int alk_vsnprintf(char *buf, size_t size, const char *format, va_list args);

#endif
