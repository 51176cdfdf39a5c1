/*
 * Serialises a compiled module into the object format of docs/object-format.md: fixed-size
 * little-endian records, a string pool, and the code section page-aligned so that an embedder
 * can map it in place.
 */
#include "compile.h"

#include "alkahest_object_format.h"

#define SECTION_COUNT (ALK_SECTION_LIMIT - 1)

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

static void put_u32(buffer *b, uint32_t v)
{
    uint8_t bytes[4];
    for (int i = 0; i < 4; i++)
        bytes[i] = (uint8_t)(v >> (8 * i));
    put_bytes(b, bytes, 4);
}

static void align_to(buffer *b, size_t alignment)
{
    size_t pad = (alignment - b->size % alignment) % alignment;
    put_fill(b, 0, pad);
}

/* A record of `size` zero bytes at the end of b, whose fields set_u8/u16/u32/u64 then fill at
 * their offsets (formats/object.toml); NULL when b could not grow (b->failed says so). The
 * pointer is good until b grows again. */
static uint8_t *put_record(buffer *b, uint32_t size)
{
    put_fill(b, 0, size);
    return b->failed ? NULL : b->bytes + b->size - size;
}

static void set_u8(uint8_t *r, uint32_t at, uint8_t v)
{
    if (r)
        r[at] = v;
}

static void set_u16(uint8_t *r, uint32_t at, uint16_t v)
{
    for (int i = 0; r && i < 2; i++)
        r[at + i] = (uint8_t)(v >> (8 * i));
}

static void set_u32(uint8_t *r, uint32_t at, uint32_t v)
{
    for (int i = 0; r && i < 4; i++)
        r[at + i] = (uint8_t)(v >> (8 * i));
}

static void set_u64(uint8_t *r, uint32_t at, uint64_t v)
{
    set_u32(r, at, (uint32_t)v);
    set_u32(r, at + 4, (uint32_t)(v >> 32));
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

/* A constant expression record at r + at (formats/object.toml's `constant`). */
static void set_constexpr(uint8_t *r, uint32_t at, const alk_constexpr *e)
{
    set_u8(r, at + ALK_OBJ_CONSTANT_KIND, (uint8_t)e->kind);
    set_u8(r, at + ALK_OBJ_CONSTANT_VALUE_TYPE, e->type);
    set_u32(r, at + ALK_OBJ_CONSTANT_INDEX, e->index);
    set_u64(r, at + ALK_OBJ_CONSTANT_LOW, e->bits[0]);
    set_u64(r, at + ALK_OBJ_CONSTANT_HIGH, e->bits[1]);
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
        uint8_t *r = put_record(file, ALK_OBJ_LINE_RECORD_SIZE);
        set_u32(r, ALK_OBJ_LINE_CODE, pc->code);
        set_u32(r, ALK_OBJ_LINE_WASM, address);
        set_u32(r, ALK_OBJ_LINE_FILE, string);
        set_u32(r, ALK_OBJ_LINE_LINE, line);
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
    put_fill(&file, 0, ALK_OBJ_HEADER_RECORD_SIZE +
                       (SECTION_COUNT - (with_lines ? 0 : 1)) * ALK_OBJ_SECTION_RECORD_SIZE);

#define BEGIN(id_, count_)                                                         \
    do {                                                                           \
        align_to(&file, ALK_OBJ_SECTION_ALIGN);                                    \
        sections[section_count] = (section_entry){ (id_), (uint32_t)file.size, 0, (count_) }; \
    } while (0)
#define END() (sections[section_count].size = (uint32_t)file.size - sections[section_count].offset, \
               section_count++)

    BEGIN(ALK_SECTION_TYPES, m->type_count);
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
        set_u32(put_record(&file, ALK_OBJ_TYPE_RECORD_SIZE), ALK_OBJ_TYPE_SIGNATURE, offset);
    }
    END();

    BEGIN(ALK_SECTION_IMPORTS, m->import_count);
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
        uint32_t module = put_string(&strings, imp->module.bytes, imp->module.length);
        uint32_t field = put_string(&strings, imp->field.bytes, imp->field.length);
        uint8_t *r = put_record(&file, ALK_OBJ_IMPORT_RECORD_SIZE);
        set_u8(r, ALK_OBJ_IMPORT_KIND, (uint8_t)imp->kind);
        set_u8(r, ALK_OBJ_IMPORT_VALUE_TYPE, valtype);
        set_u8(r, ALK_OBJ_IMPORT_MUTABLE, is_mutable);
        set_u8(r, ALK_OBJ_IMPORT_HAS_MAX, has_max);
        set_u32(r, ALK_OBJ_IMPORT_MODULE, module);
        set_u32(r, ALK_OBJ_IMPORT_FIELD, field);
        set_u32(r, ALK_OBJ_IMPORT_INDEX, index);
        set_u32(r, ALK_OBJ_IMPORT_MIN, min);
        set_u32(r, ALK_OBJ_IMPORT_MAX, max);
    }
    END();

    uint32_t defined = m->function_count - m->imported_function_count;
    BEGIN(ALK_SECTION_FUNCTIONS, defined);
    for (uint32_t i = 0; i < defined; i++) {
        const alk_function *f = &m->functions[m->imported_function_count + i];
        uint32_t name = put_string(&strings, f->name.bytes, f->name.length);
        uint8_t *r = put_record(&file, ALK_OBJ_FUNCTION_RECORD_SIZE);
        set_u32(r, ALK_OBJ_FUNCTION_TYPE_INDEX, f->type_index);
        set_u32(r, ALK_OBJ_FUNCTION_OFFSET, compiled->functions[i].offset);
        set_u32(r, ALK_OBJ_FUNCTION_SIZE, compiled->functions[i].size);
        set_u32(r, ALK_OBJ_FUNCTION_NAME, name);
    }
    END();

    BEGIN(ALK_SECTION_EXPORTS, m->export_count);
    for (uint32_t i = 0; i < m->export_count; i++) {
        const alk_export *e = &m->exports[i];
        uint32_t name = put_string(&strings, e->name.bytes, e->name.length);
        uint8_t *r = put_record(&file, ALK_OBJ_EXPORT_RECORD_SIZE);
        set_u32(r, ALK_OBJ_EXPORT_NAME, name);
        set_u32(r, ALK_OBJ_EXPORT_KIND, (uint32_t)e->kind);
        set_u32(r, ALK_OBJ_EXPORT_INDEX, e->index);
    }
    END();

    BEGIN(ALK_SECTION_MEMORY, m->memory_count ? 1 : 0);
    if (m->memory_count) {
        uint8_t *r = put_record(&file, ALK_OBJ_MEMORY_RECORD_SIZE);
        set_u32(r, ALK_OBJ_MEMORY_MIN, m->memories[0].min);
        set_u32(r, ALK_OBJ_MEMORY_MAX, m->memories[0].has_max ? m->memories[0].max : ALK_MAX_PAGES);
        set_u32(r, ALK_OBJ_MEMORY_FLAGS,
                (m->memories[0].has_max ? ALK_OBJ_MEMORY_FLAG_HAS_MAX : 0u) |
                (m->imported_memory_count ? ALK_OBJ_MEMORY_FLAG_IMPORTED : 0u));
    }
    END();

    BEGIN(ALK_SECTION_TABLES, m->table_count);
    for (uint32_t i = 0; i < m->table_count; i++) {
        const alk_tabletype *t = &m->tables[i];
        uint8_t *r = put_record(&file, ALK_OBJ_TABLE_RECORD_SIZE);
        set_u8(r, ALK_OBJ_TABLE_ELEMENT, t->element);
        set_u8(r, ALK_OBJ_TABLE_HAS_MAX, t->limits.has_max);
        set_u8(r, ALK_OBJ_TABLE_IMPORTED, i < m->imported_table_count);
        set_u32(r, ALK_OBJ_TABLE_MIN, t->limits.min);
        set_u32(r, ALK_OBJ_TABLE_MAX, t->limits.has_max ? t->limits.max : UINT32_MAX);
    }
    END();

    BEGIN(ALK_SECTION_GLOBALS, m->global_count);
    for (uint32_t i = 0; i < m->global_count; i++) {
        const alk_global *gl = &m->globals[i];
        bool imported = i < m->imported_global_count;
        alk_constexpr none = { 0 };
        uint8_t *r = put_record(&file, ALK_OBJ_GLOBAL_RECORD_SIZE);
        set_u8(r, ALK_OBJ_GLOBAL_VALUE_TYPE, gl->type.type);
        set_u8(r, ALK_OBJ_GLOBAL_MUTABLE, gl->type.is_mutable);
        set_u8(r, ALK_OBJ_GLOBAL_IMPORTED, imported);
        set_constexpr(r, ALK_OBJ_GLOBAL_INIT, imported ? &none : &gl->init);
    }
    END();

    uint32_t item_count = 0;
    BEGIN(ALK_SECTION_ELEMENTS, m->element_count);
    for (uint32_t i = 0; i < m->element_count; i++) {
        const alk_element *e = &m->elements[i];
        uint8_t *r = put_record(&file, ALK_OBJ_ELEMENT_RECORD_SIZE);
        set_u32(r, ALK_OBJ_ELEMENT_MODE, (uint32_t)e->mode);
        set_u32(r, ALK_OBJ_ELEMENT_TABLE, e->table);
        set_constexpr(r, ALK_OBJ_ELEMENT_OFFSET, &e->offset);
        set_u32(r, ALK_OBJ_ELEMENT_FIRST_ITEM, item_count);
        set_u32(r, ALK_OBJ_ELEMENT_ITEM_COUNT, e->item_count);
        item_count += e->item_count;
    }
    END();

    BEGIN(ALK_SECTION_ELEMENT_ITEMS, item_count);
    for (uint32_t i = 0; i < m->element_count; i++)
        for (uint32_t k = 0; k < m->elements[i].item_count; k++)
            set_constexpr(put_record(&file, ALK_OBJ_CONSTANT_RECORD_SIZE), 0,
                          &m->elements[i].items[k]);
    END();

    uint32_t data_bytes = 0;
    BEGIN(ALK_SECTION_DATA, m->data_segment_count);
    for (uint32_t i = 0; i < m->data_segment_count; i++) {
        const alk_data *d = &m->data_segments[i];
        uint8_t *r = put_record(&file, ALK_OBJ_DATA_RECORD_SIZE);
        set_u32(r, ALK_OBJ_DATA_MODE, (uint32_t)d->mode);
        set_u32(r, ALK_OBJ_DATA_MEMORY, d->memory);
        set_constexpr(r, ALK_OBJ_DATA_OFFSET, &d->offset);
        set_u32(r, ALK_OBJ_DATA_BYTES, data_bytes);
        set_u32(r, ALK_OBJ_DATA_SIZE, d->size);
        data_bytes += d->size;
    }
    END();

    if (with_lines) {
        BEGIN(ALK_SECTION_LINES, 0);
        sections[section_count].count = put_lines(&file, &strings, compiled);
        END();
    }

    BEGIN(ALK_SECTION_STRINGS, 0);
    put_bytes(&file, strings.bytes, strings.size);
    END();

    align_to(&file, ALK_OBJ_CODE_ALIGN);
    BEGIN(ALK_SECTION_CODE, defined);
    put_bytes(&file, compiled->code, compiled->code_size);
    END();

    BEGIN(ALK_SECTION_DATA_BYTES, m->data_segment_count);
    for (uint32_t i = 0; i < m->data_segment_count; i++)
        put_bytes(&file, m->data_segments[i].bytes, m->data_segments[i].size);
    END();
    align_to(&file, ALK_OBJ_SECTION_ALIGN);
#undef BEGIN
#undef END

    a->free(a->user, strings.bytes);
    if (file.failed || file.size > UINT32_MAX) {
        a->free(a->user, file.bytes);
        return file.failed ? alk_fail(diag, ALK_E_OUT_OF_MEMORY, 0, ALK_NO_FUNCTION, "")
                           : alk_fail(diag, ALK_E_MODULE_TOO_LARGE, 0, ALK_NO_FUNCTION,
                                      ": the object would exceed 4 GiB");
    }

    /* Header and section table (formats/object.toml) */
    uint8_t *h = file.bytes;
    alk_memcpy(h + ALK_OBJ_HEADER_MAGIC, ALK_OBJ_MAGIC, 4);
    set_u16(h, ALK_OBJ_HEADER_VERSION, ALK_OBJ_VERSION);
    set_u16(h, ALK_OBJ_HEADER_HEADER_SIZE, ALK_OBJ_HEADER_RECORD_SIZE);
    set_u32(h, ALK_OBJ_HEADER_FLAGS, (compiled->bounds == ALK_BOUNDS_GUARD ? 1u : 0u) |
                                          (compiled->optimized ? 2u : 0u));
    set_u32(h, ALK_OBJ_HEADER_SECTION_COUNT, section_count);
    set_u32(h, ALK_OBJ_HEADER_SECTION_TABLE, ALK_OBJ_HEADER_RECORD_SIZE);
    set_u32(h, ALK_OBJ_HEADER_VMCTX_SIZE, compiled->layout.size);
    set_u32(h, ALK_OBJ_HEADER_FUNCTION_COUNT, m->function_count);
    set_u32(h, ALK_OBJ_HEADER_IMPORTED_FUNCTION_COUNT, m->imported_function_count);
    set_u32(h, ALK_OBJ_HEADER_START, m->has_start ? m->start : ALK_OBJ_NO_START);
    set_u32(h, ALK_OBJ_HEADER_VMCTX_TYPE_IDS, compiled->layout.type_ids);
    set_u32(h, ALK_OBJ_HEADER_VMCTX_FUNCTION_REFS, compiled->layout.function_refs);
    set_u32(h, ALK_OBJ_HEADER_VMCTX_TABLES, compiled->layout.tables);
    set_u32(h, ALK_OBJ_HEADER_VMCTX_GLOBALS, compiled->layout.globals);
    set_u32(h, ALK_OBJ_HEADER_WASM_CODE_SIZE, m->code_section_size);
    set_u16(h, ALK_OBJ_HEADER_TARGET, (uint16_t)compiled->target);
    for (uint32_t i = 0; i < section_count; i++) {
        uint8_t *entry = h + ALK_OBJ_HEADER_RECORD_SIZE + ALK_OBJ_SECTION_RECORD_SIZE * i;
        set_u32(entry, ALK_OBJ_SECTION_ID, sections[i].id);
        set_u32(entry, ALK_OBJ_SECTION_OFFSET, sections[i].offset);
        set_u32(entry, ALK_OBJ_SECTION_SIZE, sections[i].size);
        set_u32(entry, ALK_OBJ_SECTION_COUNT, sections[i].count);
    }
    *out = file.bytes;
    *out_size = file.size;
    return ALK_OK;
}
