/*
 * A checked view of an Alkahest object. alk_object_open() validates the header, the section
 * table and that each section can hold its records; accessors then read fixed-size records
 * without further checks of their own position (string offsets are checked as they are read).
 */
#include "alkahest_runtime.h"

#define HEADER_SIZE 64

static const uint32_t record_size[ALK_SECTION_LIMIT] = {
    [ALK_SECTION_TYPES] = 8,        [ALK_SECTION_IMPORTS] = 32,  [ALK_SECTION_FUNCTIONS] = 16,
    [ALK_SECTION_EXPORTS] = 12,     [ALK_SECTION_MEMORY] = 16,   [ALK_SECTION_TABLES] = 16,
    [ALK_SECTION_GLOBALS] = 32,     [ALK_SECTION_ELEMENTS] = 40, [ALK_SECTION_ELEMENT_ITEMS] = 24,
    [ALK_SECTION_DATA] = 40,        [ALK_SECTION_LINES] = 16,
};

static uint16_t u16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t u64(const uint8_t *p) { return u32(p) | (uint64_t)u32(p + 4) << 32; }

const char *alk_object_open(alk_object *o, const void *bytes, size_t size)
{
    const uint8_t *b = bytes;
    for (int i = 0; i < ALK_SECTION_LIMIT; i++)
        o->sections[i] = (alk_section_view){ 0 };
    if (size < HEADER_SIZE)
        return "shorter than an object header";
    if (b[0] != 'A' || b[1] != 'L' || b[2] != 'K' || b[3] != 'O')
        return "not an Alkahest object (bad magic)";
    if (u16(b + 4) != 1 || u16(b + 6) != HEADER_SIZE)
        return "unsupported object version";
    o->bytes = b;
    o->size = size;
    o->flags = u32(b + 8);
    uint32_t section_count = u32(b + 12), table = u32(b + 16);
    o->vmctx_size = u32(b + 20);
    o->function_count = u32(b + 24);
    o->imported_function_count = u32(b + 28);
    o->start = u32(b + 32);
    o->vmctx_type_ids = u32(b + 36);
    o->vmctx_function_refs = u32(b + 40);
    o->vmctx_tables = u32(b + 44);
    o->vmctx_globals = u32(b + 48);
    o->wasm_code_size = u32(b + 52);
    if (table != HEADER_SIZE || section_count > 64 ||
        (uint64_t)table + 16ull * section_count > size)
        return "section table out of bounds";
    if (o->imported_function_count > o->function_count || o->vmctx_size < ALK_VMCTX_HEADER_SIZE ||
        o->vmctx_size > (1u << 30))
        return "inconsistent header";
    for (uint32_t i = 0; i < section_count; i++) {
        const uint8_t *entry = b + table + 16 * i;
        uint32_t id = u32(entry), offset = u32(entry + 4), length = u32(entry + 8),
                 count = u32(entry + 12);
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
    return alk_object_string(o, u32(record(o, ALK_SECTION_TYPES, type_index)));
}

static alk_constant constant(const uint8_t *p)
{
    return (alk_constant){ p[0], p[1], u32(p + 4), { u64(p + 8), u64(p + 16) } };
}

alk_object_import alk_object_import_at(const alk_object *o, uint32_t i)
{
    const uint8_t *r = record(o, ALK_SECTION_IMPORTS, i);
    return (alk_object_import){ r[0], r[1], r[2], r[3], alk_object_string(o, u32(r + 4)),
                                alk_object_string(o, u32(r + 8)), u32(r + 12), u32(r + 16),
                                u32(r + 20) };
}

alk_object_function alk_object_function_at(const alk_object *o, uint32_t i)
{
    const uint8_t *r = record(o, ALK_SECTION_FUNCTIONS, i);
    return (alk_object_function){ u32(r), u32(r + 4), u32(r + 8), alk_object_string(o, u32(r + 12)) };
}

alk_object_export alk_object_export_at(const alk_object *o, uint32_t i)
{
    const uint8_t *r = record(o, ALK_SECTION_EXPORTS, i);
    return (alk_object_export){ alk_object_string(o, u32(r)), u32(r + 4), u32(r + 8) };
}

alk_object_table alk_object_table_at(const alk_object *o, uint32_t i)
{
    const uint8_t *r = record(o, ALK_SECTION_TABLES, i);
    return (alk_object_table){ r[0], r[1], r[2], u32(r + 4), u32(r + 8) };
}

alk_object_global alk_object_global_at(const alk_object *o, uint32_t i)
{
    const uint8_t *r = record(o, ALK_SECTION_GLOBALS, i);
    return (alk_object_global){ r[0], r[1], r[2], constant(r + 8) };
}

alk_object_element alk_object_element_at(const alk_object *o, uint32_t i)
{
    const uint8_t *r = record(o, ALK_SECTION_ELEMENTS, i);
    return (alk_object_element){ u32(r), u32(r + 4), constant(r + 8), u32(r + 32), u32(r + 36) };
}

alk_constant alk_object_item_at(const alk_object *o, uint32_t i)
{
    return constant(record(o, ALK_SECTION_ELEMENT_ITEMS, i));
}

alk_object_data alk_object_data_at(const alk_object *o, uint32_t i)
{
    const uint8_t *r = record(o, ALK_SECTION_DATA, i);
    const alk_section_view *bytes = &o->sections[ALK_SECTION_DATA_BYTES];
    uint32_t offset = u32(r + 32), size = u32(r + 36);
    alk_object_data d = { u32(r), u32(r + 4), constant(r + 8), NULL, 0 };
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
    *out = (alk_object_memory){ u32(r), u32(r + 4), (u32(r + 8) & 1) != 0, (u32(r + 8) & 2) != 0 };
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
        if (imp.kind != 0)
            continue;
        if (seen++ == function)
            return imp.index;
    }
    return UINT32_MAX;
}
