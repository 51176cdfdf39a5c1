/*
 * A checked view of an Alkahest object. alk_object_open() validates the header, the section
 * table and that each section can hold its records; accessors then read fixed-size records
 * without further checks of their own position (string offsets are checked as they are read).
 */
#include "alkahest_runtime.h"

/* Bytes of each section's records (0: a section of bytes), by id. */
static const uint32_t record_size[ALK_SECTION_LIMIT] = {
#define ALK_RECORD_SIZE(name, id, text, size) [id] = size,
    ALK_OBJ_SECTIONS(ALK_RECORD_SIZE)
#undef ALK_RECORD_SIZE
};

static uint16_t u16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t u64(const uint8_t *p) { return u32(p) | (uint64_t)u32(p + 4) << 32; }

/* The machine this runtime runs code for: objects for any other are refused. */
#if defined(__x86_64__)
#define RUNTIME_TARGET ALK_OBJ_TARGET_X86_64
#define RUNTIME_TARGET_NAME "x86_64"
#elif defined(__aarch64__)
#define RUNTIME_TARGET ALK_OBJ_TARGET_AARCH64
#define RUNTIME_TARGET_NAME "aarch64"
#else
#error "the runtime runs code on x86_64 or aarch64 only"
#endif

static const char *other_target(uint32_t target)
{
    switch (target) {
#define OTHER_TARGET(name, number, text) \
    case number: return "compiled for " text ", this runtime runs " RUNTIME_TARGET_NAME " code";
    ALK_OBJ_TARGET_VALUES(OTHER_TARGET)
#undef OTHER_TARGET
    default:
        return "compiled for an unknown target, this runtime runs " RUNTIME_TARGET_NAME " code";
    }
}

const char *alk_object_target_name(uint32_t target)
{
    switch (target) {
#define TARGET_NAME(name, number, text) case number: return text;
    ALK_OBJ_TARGET_VALUES(TARGET_NAME)
#undef TARGET_NAME
    default:
        return "unknown";
    }
}

const char *alk_object_open(alk_object *o, const void *bytes, size_t size)
{
    const char *problem = alk_object_read(o, bytes, size);
    if (!problem && o->target != RUNTIME_TARGET)
        problem = other_target(o->target);
    return problem;
}

const char *alk_object_read(alk_object *o, const void *bytes, size_t size)
{
    const uint8_t *b = bytes;
    for (int i = 0; i < ALK_SECTION_LIMIT; i++)
        o->sections[i] = (alk_section_view){ 0 };
    if (size < ALK_OBJ_HEADER_RECORD_SIZE)
        return "shorter than an object header";
    for (int i = 0; i < 4; i++)
        if (b[ALK_OBJ_HEADER_MAGIC + i] != (uint8_t)ALK_OBJ_MAGIC[i])
            return "not an Alkahest object (bad magic)";
    if (u16(b + ALK_OBJ_HEADER_VERSION) != ALK_OBJ_VERSION ||
        u16(b + ALK_OBJ_HEADER_HEADER_SIZE) != ALK_OBJ_HEADER_RECORD_SIZE)
        return "unsupported object version";
    o->target = u16(b + ALK_OBJ_HEADER_TARGET);
    o->bytes = b;
    o->size = size;
    o->flags = u32(b + ALK_OBJ_HEADER_FLAGS);
    uint32_t section_count = u32(b + ALK_OBJ_HEADER_SECTION_COUNT);
    uint32_t table = u32(b + ALK_OBJ_HEADER_SECTION_TABLE);
    o->vmctx_size = u32(b + ALK_OBJ_HEADER_VMCTX_SIZE);
    o->function_count = u32(b + ALK_OBJ_HEADER_FUNCTION_COUNT);
    o->imported_function_count = u32(b + ALK_OBJ_HEADER_IMPORTED_FUNCTION_COUNT);
    o->start = u32(b + ALK_OBJ_HEADER_START);
    o->vmctx_type_ids = u32(b + ALK_OBJ_HEADER_VMCTX_TYPE_IDS);
    o->vmctx_function_refs = u32(b + ALK_OBJ_HEADER_VMCTX_FUNCTION_REFS);
    o->vmctx_tables = u32(b + ALK_OBJ_HEADER_VMCTX_TABLES);
    o->vmctx_globals = u32(b + ALK_OBJ_HEADER_VMCTX_GLOBALS);
    o->wasm_code_size = u32(b + ALK_OBJ_HEADER_WASM_CODE_SIZE);
    if (table != ALK_OBJ_HEADER_RECORD_SIZE || section_count > 64 ||
        (uint64_t)table + (uint64_t)ALK_OBJ_SECTION_RECORD_SIZE * section_count > size)
        return "section table out of bounds";
    if (o->imported_function_count > o->function_count || o->vmctx_size < ALK_VMCTX_HEADER_SIZE ||
        o->vmctx_size > (1u << 30))
        return "inconsistent header";
    for (uint32_t i = 0; i < section_count; i++) {
        const uint8_t *entry = b + table + ALK_OBJ_SECTION_RECORD_SIZE * i;
        uint32_t id = u32(entry + ALK_OBJ_SECTION_ID), offset = u32(entry + ALK_OBJ_SECTION_OFFSET),
                 length = u32(entry + ALK_OBJ_SECTION_SIZE), count = u32(entry + ALK_OBJ_SECTION_COUNT);
        if (id == 0 || id >= ALK_SECTION_LIMIT || o->sections[id].data)
            return "unknown or duplicate section";
        if ((uint64_t)offset + length > size)
            return "section out of bounds";
        if (record_size[id] && (uint64_t)count * record_size[id] > length)
            return "section too small for its records";
        o->sections[id] = (alk_section_view){ b + offset, length, count };
    }
    if (o->sections[ALK_SECTION_FUNCTIONS].count !=
        o->function_count - o->imported_function_count)
        return "function count mismatch";
    if (o->sections[ALK_SECTION_MEMORY].count > 1)
        return "more than one memory";
    /* every function's code must lie inside the code section */
    for (uint32_t i = 0; i < o->sections[ALK_SECTION_FUNCTIONS].count; i++) {
        alk_object_function f = alk_object_function_at(o, i);
        if ((uint64_t)f.offset + f.size > o->sections[ALK_SECTION_CODE].size)
            return "function code out of bounds";
    }
    return NULL;
}

uint32_t alk_object_count(const alk_object *o, int section)
{
    return o->sections[section].count;
}

static const uint8_t *record(const alk_object *o, int section, uint32_t index)
{
    return o->sections[section].data + (size_t)index * record_size[section];
}

alk_str alk_object_string(const alk_object *o, uint32_t offset)
{
    const alk_section_view *s = &o->sections[ALK_SECTION_STRINGS];
    alk_str none = { "", 0 };
    if (offset == 0 || (uint64_t)offset + 4 > s->size)
        return none;
    uint32_t length = u32(s->data + offset);
    if ((uint64_t)offset + 4 + length > s->size)
        return none;
    return (alk_str){ (const char *)s->data + offset + 4, length };
}

alk_str alk_object_type(const alk_object *o, uint32_t type_index)
{
    if (type_index >= o->sections[ALK_SECTION_TYPES].count)
        return (alk_str){ "", 0 };
    return alk_object_string(o, u32(record(o, ALK_SECTION_TYPES, type_index) +
                                    ALK_OBJ_TYPE_SIGNATURE));
}

static alk_constant constant(const uint8_t *p)
{
    return (alk_constant){ p[ALK_OBJ_CONSTANT_KIND], p[ALK_OBJ_CONSTANT_VALUE_TYPE],
                           u32(p + ALK_OBJ_CONSTANT_INDEX),
                           { u64(p + ALK_OBJ_CONSTANT_LOW), u64(p + ALK_OBJ_CONSTANT_HIGH) } };
}

alk_object_import alk_object_import_at(const alk_object *o, uint32_t i)
{
    const uint8_t *r = record(o, ALK_SECTION_IMPORTS, i);
    return (alk_object_import){ r[ALK_OBJ_IMPORT_KIND], r[ALK_OBJ_IMPORT_VALUE_TYPE],
                                r[ALK_OBJ_IMPORT_MUTABLE], r[ALK_OBJ_IMPORT_HAS_MAX],
                                alk_object_string(o, u32(r + ALK_OBJ_IMPORT_MODULE)),
                                alk_object_string(o, u32(r + ALK_OBJ_IMPORT_FIELD)),
                                u32(r + ALK_OBJ_IMPORT_INDEX), u32(r + ALK_OBJ_IMPORT_MIN),
                                u32(r + ALK_OBJ_IMPORT_MAX) };
}

alk_object_function alk_object_function_at(const alk_object *o, uint32_t i)
{
    const uint8_t *r = record(o, ALK_SECTION_FUNCTIONS, i);
    return (alk_object_function){ u32(r + ALK_OBJ_FUNCTION_TYPE_INDEX),
                                  u32(r + ALK_OBJ_FUNCTION_OFFSET), u32(r + ALK_OBJ_FUNCTION_SIZE),
                                  alk_object_string(o, u32(r + ALK_OBJ_FUNCTION_NAME)) };
}

alk_object_export alk_object_export_at(const alk_object *o, uint32_t i)
{
    const uint8_t *r = record(o, ALK_SECTION_EXPORTS, i);
    return (alk_object_export){ alk_object_string(o, u32(r + ALK_OBJ_EXPORT_NAME)),
                                u32(r + ALK_OBJ_EXPORT_KIND), u32(r + ALK_OBJ_EXPORT_INDEX) };
}

alk_object_table alk_object_table_at(const alk_object *o, uint32_t i)
{
    const uint8_t *r = record(o, ALK_SECTION_TABLES, i);
    return (alk_object_table){ r[ALK_OBJ_TABLE_ELEMENT], r[ALK_OBJ_TABLE_HAS_MAX],
                               r[ALK_OBJ_TABLE_IMPORTED], u32(r + ALK_OBJ_TABLE_MIN),
                               u32(r + ALK_OBJ_TABLE_MAX) };
}

alk_object_global alk_object_global_at(const alk_object *o, uint32_t i)
{
    const uint8_t *r = record(o, ALK_SECTION_GLOBALS, i);
    return (alk_object_global){ r[ALK_OBJ_GLOBAL_VALUE_TYPE], r[ALK_OBJ_GLOBAL_MUTABLE],
                                r[ALK_OBJ_GLOBAL_IMPORTED], constant(r + ALK_OBJ_GLOBAL_INIT) };
}

alk_object_element alk_object_element_at(const alk_object *o, uint32_t i)
{
    const uint8_t *r = record(o, ALK_SECTION_ELEMENTS, i);
    return (alk_object_element){ u32(r + ALK_OBJ_ELEMENT_MODE), u32(r + ALK_OBJ_ELEMENT_TABLE),
                                 constant(r + ALK_OBJ_ELEMENT_OFFSET),
                                 u32(r + ALK_OBJ_ELEMENT_FIRST_ITEM),
                                 u32(r + ALK_OBJ_ELEMENT_ITEM_COUNT) };
}

alk_constant alk_object_item_at(const alk_object *o, uint32_t i)
{
    return constant(record(o, ALK_SECTION_ELEMENT_ITEMS, i));
}

alk_object_data alk_object_data_at(const alk_object *o, uint32_t i)
{
    const uint8_t *r = record(o, ALK_SECTION_DATA, i);
    const alk_section_view *bytes = &o->sections[ALK_SECTION_DATA_BYTES];
    uint32_t offset = u32(r + ALK_OBJ_DATA_BYTES), size = u32(r + ALK_OBJ_DATA_SIZE);
    alk_object_data d = { u32(r + ALK_OBJ_DATA_MODE), u32(r + ALK_OBJ_DATA_MEMORY),
                          constant(r + ALK_OBJ_DATA_OFFSET), NULL, 0 };
    if ((uint64_t)offset + size <= bytes->size) {
        d.bytes = bytes->data + offset;
        d.size = size;
    }
    return d;
}

bool alk_object_memory_of(const alk_object *o, alk_object_memory *out)
{
    if (o->sections[ALK_SECTION_MEMORY].count == 0)
        return false;
    const uint8_t *r = record(o, ALK_SECTION_MEMORY, 0);
    uint32_t flags = u32(r + ALK_OBJ_MEMORY_FLAGS);
    *out = (alk_object_memory){ u32(r + ALK_OBJ_MEMORY_MIN), u32(r + ALK_OBJ_MEMORY_MAX),
                                (flags & ALK_OBJ_MEMORY_FLAG_HAS_MAX) != 0,
                                (flags & ALK_OBJ_MEMORY_FLAG_IMPORTED) != 0 };
    return true;
}

int64_t alk_object_find_export(const alk_object *o, const char *name, uint32_t length, uint32_t kind)
{
    for (uint32_t i = 0; i < o->sections[ALK_SECTION_EXPORTS].count; i++) {
        alk_object_export e = alk_object_export_at(o, i);
        if (e.kind != kind || e.name.length != length)
            continue;
        uint32_t k = 0;
        while (k < length && e.name.bytes[k] == name[k])
            k++;
        if (k == length)
            return e.index;
    }
    return -1;
}

uint32_t alk_object_function_type(const alk_object *o, uint32_t function)
{
    if (function >= o->function_count)
        return UINT32_MAX;
    if (function >= o->imported_function_count)
        return alk_object_function_at(o, function - o->imported_function_count).type_index;
    uint32_t seen = 0;
    for (uint32_t i = 0; i < o->sections[ALK_SECTION_IMPORTS].count; i++) {
        alk_object_import imp = alk_object_import_at(o, i);
        if (imp.kind != ALK_OBJ_EXTERN_KIND_FUNCTION)
            continue;
        if (seen++ == function)
            return imp.index;
    }
    return UINT32_MAX;
}
