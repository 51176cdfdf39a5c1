/*
 * Serialises a compiled module into the object format of docs/object-format.md: fixed-size
 * little-endian records, a string pool, and the code section page-aligned so that an embedder
 * can map it in place.
 */
#include "compile.h"

enum {
    SECTION_TYPES = 1, SECTION_IMPORTS, SECTION_FUNCTIONS, SECTION_EXPORTS, SECTION_MEMORY,
    SECTION_TABLES, SECTION_GLOBALS, SECTION_ELEMENTS, SECTION_ELEMENT_ITEMS, SECTION_DATA,
    SECTION_DATA_BYTES, SECTION_CODE, SECTION_STRINGS, SECTION_LINES,
    SECTION_COUNT = SECTION_LINES
};
#define HEADER_SIZE 64
#define CODE_ALIGN 4096

typedef struct buffer {
    const alk_allocator *allocator;
    uint8_t *bytes;
    size_t size, capacity;
    bool failed;
} buffer;

static void reserve(buffer *b, size_t extra)
{
    if (b->failed || b->size + extra <= b->capacity)
        return;
    size_t capacity = b->capacity ? b->capacity : 4096;
    while (capacity < b->size + extra) {
        if (capacity > (size_t)UINT32_MAX) {
            b->failed = true;
            return;
        }
        capacity *= 2;
    }
    uint8_t *fresh = b->allocator->alloc(b->allocator->user, capacity);
    if (!fresh) {
        b->failed = true;
        return;
    }
    if (b->bytes) {
        alk_memcpy(fresh, b->bytes, b->size);
        b->allocator->free(b->allocator->user, b->bytes);
    }
    b->bytes = fresh;
    b->capacity = capacity;
}

static void put_bytes(buffer *b, const void *data, size_t n)
{
    reserve(b, n);
    if (b->failed)
        return;
    alk_memcpy(b->bytes + b->size, data, n);
    b->size += n;
}

static void put_fill(buffer *b, uint8_t value, size_t n)
{
    reserve(b, n);
    if (b->failed)
        return;
    alk_memset(b->bytes + b->size, value, n);
    b->size += n;
}

static void put_u8(buffer *b, uint8_t v) { put_bytes(b, &v, 1); }

static void put_u16(buffer *b, uint16_t v)
{
    uint8_t bytes[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
    put_bytes(b, bytes, 2);
}

static void put_u32(buffer *b, uint32_t v)
{
    uint8_t bytes[4];
    for (int i = 0; i < 4; i++)
        bytes[i] = (uint8_t)(v >> (8 * i));
    put_bytes(b, bytes, 4);
}

static void put_u64(buffer *b, uint64_t v)
{
    put_u32(b, (uint32_t)v);
    put_u32(b, (uint32_t)(v >> 32));
}

static void align_to(buffer *b, size_t alignment)
{
    size_t pad = (alignment - b->size % alignment) % alignment;
    put_fill(b, 0, pad);
}

static void patch_u32(buffer *b, size_t at, uint32_t v)
{
    if (b->failed)
        return;
    for (int i = 0; i < 4; i++)
        b->bytes[at + i] = (uint8_t)(v >> (8 * i));
}

/* The string pool: u32 length, bytes, NUL; offset 0 is the empty string. */
static uint32_t put_string(buffer *strings, const uint8_t *bytes, uint32_t length)
{
    if (length == 0)
        return 0;
    uint32_t offset = (uint32_t)strings->size;
    put_u32(strings, length);
    put_bytes(strings, bytes, length);
    put_u8(strings, 0);
    align_to(strings, 4);
    return offset;
}

static char type_letter(alk_valtype t)
{
    switch (t) {
#define ALK_VALTYPE_LETTER(type, code, letter, name, is_float, bytes) case code: return letter;
        ALK_VALUE_TYPES(ALK_VALTYPE_LETTER)
#undef ALK_VALTYPE_LETTER
    default: return '?';
    }
}

static void put_constexpr(buffer *b, const alk_constexpr *e)
{
    put_u8(b, (uint8_t)e->kind);
    put_u8(b, e->type);
    put_u16(b, 0);
    put_u32(b, e->index);
    put_u64(b, e->bits[0]);
    put_u64(b, e->bits[1]);
}

/* The source line of Wasm code-section offset `address`: the last row at or before it. */
static const alk_source_line *line_of(const alk_source_lines *lines, uint32_t address)
{
    uint32_t low = 0, high = lines->row_count;     /* rows [low, high) may hold it */
    while (high - low > 1) {
        uint32_t middle = low + (high - low) / 2;
        if (lines->rows[middle].address <= address)
            low = middle;
        else
            high = middle;
    }
    if (lines->row_count == 0 || lines->rows[low].address > address || lines->rows[low].line == 0 ||
        lines->rows[low].file >= lines->file_count)
        return NULL;
    return &lines->rows[low];
}

static uint32_t string_length(const char *text)
{
    uint32_t n = 0;
    while (text[n])
        n++;
    return n;
}

/* lines (16 bytes, ascending code offsets): code offset, Wasm code-section offset, file
 * string, line. A record covers the code up to the next one; consecutive marks on the same
 * line make one record. */
static uint32_t put_lines(buffer *file, buffer *strings, const alk_compiled *compiled)
{
    const alk_source_lines *lines = compiled->source_lines;
    const alk_module *m = compiled->module;
    const alk_allocator *a = &m->allocator;
    uint32_t *file_strings = a->alloc(a->user, (lines->file_count ? lines->file_count : 1) * 4);
    if (!file_strings) {
        file->failed = true;
        return 0;
    }
    for (uint32_t i = 0; i < lines->file_count; i++)
        file_strings[i] = UINT32_MAX;             /* interned on first use */
    uint32_t count = 0, last_file = UINT32_MAX, last_line = UINT32_MAX;
    for (uint32_t i = 0; i < compiled->pc_count; i++) {
        const alk_pc *pc = &compiled->pcs[i];
        uint32_t address = pc->wasm - m->code_section_offset;
        const alk_source_line *row = line_of(lines, address);
        uint32_t string = 0, line = 0;
        if (row) {
            if (file_strings[row->file] == UINT32_MAX)
                file_strings[row->file] = put_string(
                    strings, (const uint8_t *)lines->files[row->file],
                    string_length(lines->files[row->file]));
            string = file_strings[row->file];
            line = row->line;
        }
        if (string == last_file && line == last_line)
            continue;
        put_u32(file, pc->code);
        put_u32(file, address);
        put_u32(file, string);
        put_u32(file, line);
        last_file = string;
        last_line = line;
        count++;
    }
    a->free(a->user, file_strings);
    return count;
}

typedef struct section_entry {
    uint32_t id, offset, size, count;
} section_entry;

int alk_object_write(const alk_compiled *compiled, uint8_t **out, size_t *out_size, alk_diag *diag)
{
    const alk_module *m = compiled->module;
    const alk_allocator *a = &m->allocator;
    buffer file = { .allocator = a }, strings = { .allocator = a };
    section_entry sections[SECTION_COUNT];
    uint32_t section_count = 0;
    put_u32(&strings, 0);   /* offset 0: the empty string */
    put_u32(&strings, 0);

    /* One allocation: the code and data bytes dominate; records and strings are small. */
    uint64_t estimate = (uint64_t)compiled->code_size + 3 * 4096 + 64ull * (m->type_count +
                        m->import_count + m->function_count + m->export_count + m->global_count +
                        m->element_count + m->data_segment_count) + (m->size > 65536 ? m->size / 8 : 8192);
    for (uint32_t i = 0; i < m->data_segment_count; i++)
        estimate += m->data_segments[i].size;
    if (estimate < (1u << 30))
        reserve(&file, (size_t)estimate);

    /* Header and section table are written last, over this space. */
    bool with_lines = compiled->source_lines != NULL;
    put_fill(&file, 0, HEADER_SIZE + (SECTION_COUNT - (with_lines ? 0 : 1)) * 16);

#define BEGIN(id_, count_)                                                         \
    do {                                                                           \
        align_to(&file, 8);                                                        \
        sections[section_count] = (section_entry){ (id_), (uint32_t)file.size, 0, (count_) }; \
    } while (0)
#define END() (sections[section_count].size = (uint32_t)file.size - sections[section_count].offset, \
               section_count++)

    BEGIN(SECTION_TYPES, m->type_count);
    for (uint32_t i = 0; i < m->type_count; i++) {
        const alk_functype *t = &m->types[i];
        uint32_t offset = (uint32_t)strings.size;
        put_u32(&strings, t->param_count + 1 + t->result_count);
        for (uint32_t k = 0; k < t->param_count; k++)
            put_u8(&strings, (uint8_t)type_letter(t->params[k]));
        put_u8(&strings, ':');
        for (uint32_t k = 0; k < t->result_count; k++)
            put_u8(&strings, (uint8_t)type_letter(t->results[k]));
        put_u8(&strings, 0);
        align_to(&strings, 4);
        put_u32(&file, offset);
        put_u32(&file, 0);
    }
    END();

    BEGIN(SECTION_IMPORTS, m->import_count);
    for (uint32_t i = 0; i < m->import_count; i++) {
        const alk_import *imp = &m->imports[i];
        uint8_t valtype = 0, is_mutable = 0, has_max = 0;
        uint32_t index = imp->index, min = 0, max = 0;
        switch (imp->kind) {
        case ALK_EXTERN_FUNC:
            index = m->functions[imp->index].type_index;
            break;
        case ALK_EXTERN_TABLE:
            valtype = m->tables[imp->index].element;
            has_max = m->tables[imp->index].limits.has_max;
            min = m->tables[imp->index].limits.min;
            max = m->tables[imp->index].limits.max;
            break;
        case ALK_EXTERN_MEMORY:
            has_max = m->memories[imp->index].has_max;
            min = m->memories[imp->index].min;
            max = m->memories[imp->index].max;
            break;
        case ALK_EXTERN_GLOBAL:
            valtype = m->globals[imp->index].type.type;
            is_mutable = m->globals[imp->index].type.is_mutable;
            break;
        }
        put_u8(&file, (uint8_t)imp->kind);
        put_u8(&file, valtype);
        put_u8(&file, is_mutable);
        put_u8(&file, has_max);
        put_u32(&file, put_string(&strings, imp->module.bytes, imp->module.length));
        put_u32(&file, put_string(&strings, imp->field.bytes, imp->field.length));
        put_u32(&file, index);
        put_u32(&file, min);
        put_u32(&file, max);
        put_u32(&file, 0);
        put_u32(&file, 0);
    }
    END();

    uint32_t defined = m->function_count - m->imported_function_count;
    BEGIN(SECTION_FUNCTIONS, defined);
    for (uint32_t i = 0; i < defined; i++) {
        const alk_function *f = &m->functions[m->imported_function_count + i];
        put_u32(&file, f->type_index);
        put_u32(&file, compiled->functions[i].offset);
        put_u32(&file, compiled->functions[i].size);
        put_u32(&file, put_string(&strings, f->name.bytes, f->name.length));
    }
    END();

    BEGIN(SECTION_EXPORTS, m->export_count);
    for (uint32_t i = 0; i < m->export_count; i++) {
        const alk_export *e = &m->exports[i];
        put_u32(&file, put_string(&strings, e->name.bytes, e->name.length));
        put_u32(&file, (uint32_t)e->kind);
        put_u32(&file, e->index);
    }
    END();

    BEGIN(SECTION_MEMORY, m->memory_count ? 1 : 0);
    if (m->memory_count) {
        put_u32(&file, m->memories[0].min);
        put_u32(&file, m->memories[0].has_max ? m->memories[0].max : ALK_MAX_PAGES);
        put_u32(&file, (m->memories[0].has_max ? 1u : 0u) | (m->imported_memory_count ? 2u : 0u));
        put_u32(&file, 0);
    }
    END();

    BEGIN(SECTION_TABLES, m->table_count);
    for (uint32_t i = 0; i < m->table_count; i++) {
        const alk_tabletype *t = &m->tables[i];
        put_u8(&file, t->element);
        put_u8(&file, t->limits.has_max);
        put_u8(&file, i < m->imported_table_count);
        put_u8(&file, 0);
        put_u32(&file, t->limits.min);
        put_u32(&file, t->limits.has_max ? t->limits.max : UINT32_MAX);
        put_u32(&file, 0);
    }
    END();

    BEGIN(SECTION_GLOBALS, m->global_count);
    for (uint32_t i = 0; i < m->global_count; i++) {
        const alk_global *gl = &m->globals[i];
        bool imported = i < m->imported_global_count;
        put_u8(&file, gl->type.type);
        put_u8(&file, gl->type.is_mutable);
        put_u8(&file, imported);
        put_u8(&file, 0);
        put_u32(&file, 0);
        alk_constexpr none = { 0 };
        put_constexpr(&file, imported ? &none : &gl->init);
    }
    END();

    uint32_t item_count = 0;
    BEGIN(SECTION_ELEMENTS, m->element_count);
    for (uint32_t i = 0; i < m->element_count; i++) {
        const alk_element *e = &m->elements[i];
        put_u32(&file, (uint32_t)e->mode);
        put_u32(&file, e->table);
        put_constexpr(&file, &e->offset);
        put_u32(&file, item_count);
        put_u32(&file, e->item_count);
        item_count += e->item_count;
    }
    END();

    BEGIN(SECTION_ELEMENT_ITEMS, item_count);
    for (uint32_t i = 0; i < m->element_count; i++)
        for (uint32_t k = 0; k < m->elements[i].item_count; k++)
            put_constexpr(&file, &m->elements[i].items[k]);
    END();

    uint32_t data_bytes = 0;
    BEGIN(SECTION_DATA, m->data_segment_count);
    for (uint32_t i = 0; i < m->data_segment_count; i++) {
        const alk_data *d = &m->data_segments[i];
        put_u32(&file, (uint32_t)d->mode);
        put_u32(&file, d->memory);
        put_constexpr(&file, &d->offset);
        put_u32(&file, data_bytes);
        put_u32(&file, d->size);
        data_bytes += d->size;
    }
    END();

    if (with_lines) {
        BEGIN(SECTION_LINES, 0);
        sections[section_count].count = put_lines(&file, &strings, compiled);
        END();
    }

    BEGIN(SECTION_STRINGS, 0);
    put_bytes(&file, strings.bytes, strings.size);
    END();

    align_to(&file, CODE_ALIGN);
    BEGIN(SECTION_CODE, defined);
    put_bytes(&file, compiled->code, compiled->code_size);
    END();

    BEGIN(SECTION_DATA_BYTES, m->data_segment_count);
    for (uint32_t i = 0; i < m->data_segment_count; i++)
        put_bytes(&file, m->data_segments[i].bytes, m->data_segments[i].size);
    END();
    align_to(&file, 8);
#undef BEGIN
#undef END

    a->free(a->user, strings.bytes);
    if (file.failed || file.size > UINT32_MAX) {
        a->free(a->user, file.bytes);
        return file.failed ? alk_fail(diag, ALK_E090, 0, ALK_NO_FUNCTION, "")
                           : alk_fail(diag, ALK_E102, 0, ALK_NO_FUNCTION,
                                      ": the object would exceed 4 GiB");
    }

    /* Header (docs/object-format.md) */
    uint8_t *h = file.bytes;
    alk_memcpy(h, "ALKO", 4);
    buffer header = { .allocator = a, .bytes = h, .size = 4, .capacity = HEADER_SIZE };
    put_u16(&header, 1);
    put_u16(&header, HEADER_SIZE);
    put_u32(&header, compiled->bounds == ALK_BOUNDS_GUARD ? 1u : 0u);
    put_u32(&header, section_count);
    put_u32(&header, HEADER_SIZE);
    put_u32(&header, compiled->layout.size);
    put_u32(&header, m->function_count);
    put_u32(&header, m->imported_function_count);
    put_u32(&header, m->has_start ? m->start : UINT32_MAX);
    put_u32(&header, compiled->layout.type_ids);
    put_u32(&header, compiled->layout.function_refs);
    put_u32(&header, compiled->layout.tables);
    put_u32(&header, compiled->layout.globals);
    put_u32(&header, m->code_section_size);
    for (uint32_t i = 0; i < section_count; i++) {
        size_t at = HEADER_SIZE + 16 * i;
        patch_u32(&file, at, sections[i].id);
        patch_u32(&file, at + 4, sections[i].offset);
        patch_u32(&file, at + 8, sections[i].size);
        patch_u32(&file, at + 12, sections[i].count);
    }
    *out = file.bytes;
    *out_size = file.size;
    return ALK_OK;
}
