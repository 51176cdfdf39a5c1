/*
 * Decoding (binary/modules.rst): the preamble and every section, into alk_module.
 *
 * Requires nothing of the bytes: everything read is bounds-checked against the innermost region
 * (module, section, code entry), and a count is checked against the bytes left before anything
 * is allocated for it, so a hostile count costs nothing. Instruction sequences of function
 * bodies are not decoded here: alk_validate() decodes and checks them in one pass, and later
 * stages re-read them with alk_read_instr(). Constant expressions are decoded here, into
 * alk_constexpr, since every valid one is a single instruction.
 *
 * Custom sections never make a module malformed beyond their name: the name section is parsed
 * after everything else, and thrown away whole if it is malformed.
 */
#include "alk_internal.h"

typedef struct decoder {
    alk_module *module;
    alk_diag *diag;
    uint32_t function;                /* code entry being decoded, else ALK_NO_FUNCTION */
    uint32_t defined_function_count;  /* from the function section */
    bool has_code_section;
    bool has_data_section;
    bool has_name_section;
    alk_reader name_section;          /* payload after the name "name" */
} decoder;

/* Reader calls return a bare code; these report it at the reader's position. */
#define TRY(expr)                                                                          \
    do {                                                                                   \
        int code_ = (expr);                                                                \
        if (code_ != ALK_OK)                                                               \
            return code_;                                                                  \
    } while (0)
#define TRY_READ(d, r, expr)                                                               \
    do {                                                                                   \
        int code_ = (expr);                                                                \
        if (code_ != ALK_OK)                                                               \
            return alk_fail((d)->diag, code_, alk_reader_offset(r), (d)->function, "");    \
    } while (0)

static size_t remaining(const alk_reader *r)
{
    return (size_t)(r->end - r->cursor);
}

static void *allocate(decoder *d, size_t count, size_t size)
{
    /* count is bounded by the bytes of the module and size is a struct size: no overflow */
    return alk_arena_alloc(d->module->arena, count * size);
}

static int out_of_memory(decoder *d, const alk_reader *r)
{
    return alk_fail(d->diag, ALK_E_OUT_OF_MEMORY, alk_reader_offset(r), d->function, "");
}

/* A vector length: at most `limit`, and no more entries than bytes left (each takes one). */
static int read_count(decoder *d, alk_reader *r, uint32_t limit, const char *what,
                      uint32_t *count)
{
    uint32_t offset = alk_reader_offset(r);
    TRY_READ(d, r, alk_read_u32(r, count));
    if (*count > limit)
        return alk_fail(d->diag, ALK_E_IMPLEMENTATION_LIMIT, offset, d->function, ": %u %s, at most %u",
                        *count, what, limit);
    if (*count > remaining(r))
        return alk_fail(d->diag, ALK_E_UNEXPECTED_END_OF_SECTION, offset, d->function, ": %u %s in %u bytes", *count,
                        what, (unsigned)remaining(r));
    return ALK_OK;
}

static int read_valtype(decoder *d, alk_reader *r, alk_valtype *type)
{
    uint8_t byte;
    TRY_READ(d, r, alk_read_u8(r, &byte));
    if (!alk_is_valtype(byte))
        return alk_fail(d->diag, ALK_E_MALFORMED_VALUE_TYPE, alk_reader_offset(r) - 1, d->function, ": 0x%x",
                        byte);
    *type = byte;
    return ALK_OK;
}

static int read_reftype(decoder *d, alk_reader *r, alk_valtype *type)
{
    uint8_t byte;
    TRY_READ(d, r, alk_read_u8(r, &byte));
    if (!alk_is_reftype(byte))
        return alk_fail(d->diag, ALK_E_MALFORMED_REFERENCE_TYPE, alk_reader_offset(r) - 1, d->function, ": 0x%x",
                        byte);
    *type = byte;
    return ALK_OK;
}

static int read_name(decoder *d, alk_reader *r, alk_name *name)
{
    TRY_READ(d, r, alk_read_name(r, name));
    return ALK_OK;
}

/* limits ::= 0x00 min | 0x01 min max. The flag is one LEB128 byte of a 1-bit value. */
static int read_limits(decoder *d, alk_reader *r, alk_limits *limits)
{
    uint8_t flag;
    TRY_READ(d, r, alk_read_u8(r, &flag));
    if (flag > 1)
        return alk_fail(d->diag, (flag & 0x80) ? ALK_E_INTEGER_TOO_LONG : ALK_E_INTEGER_TOO_LARGE,
                        alk_reader_offset(r) - 1, d->function, ": limits flag 0x%x", flag);
    TRY_READ(d, r, alk_read_u32(r, &limits->min));
    limits->has_max = flag == 1;
    limits->max = 0;
    if (limits->has_max)
        TRY_READ(d, r, alk_read_u32(r, &limits->max));
    return ALK_OK;
}

static int read_tabletype(decoder *d, alk_reader *r, alk_tabletype *table)
{
    TRY(read_reftype(d, r, &table->element));
    return read_limits(d, r, &table->limits);
}

static int read_globaltype(decoder *d, alk_reader *r, alk_globaltype *global)
{
    TRY(read_valtype(d, r, &global->type));
    uint8_t mutability;
    TRY_READ(d, r, alk_read_u8(r, &mutability));
    if (mutability > 1)
        return alk_fail(d->diag, ALK_E_MALFORMED_MUTABILITY, alk_reader_offset(r) - 1, d->function, ": 0x%x",
                        mutability);
    global->is_mutable = mutability == 1;
    return ALK_OK;
}

/* A constant expression: instructions up to `end`. Any valid one is a single constant
 * instruction; typing and index checks are validate.c's, being validation rules. */
static int read_constexpr(decoder *d, alk_reader *r, alk_constexpr *out)
{
    alk_instr instr;
    uint32_t values = 0;
    alk_memset(out, 0, sizeof *out);
    out->offset = alk_reader_offset(r);
    for (;;) {
        TRY(alk_read_instr(r, &instr, d->diag));
        if (instr.op == ALK_OP_END)
            break;
        switch (instr.op) {
        case ALK_OP_I32_CONST:
            out->kind = ALK_CONST_I32;
            out->type = ALK_I32;
            out->bits[0] = (uint32_t)instr.imm.i32;
            break;
        case ALK_OP_I64_CONST:
            out->kind = ALK_CONST_I64;
            out->type = ALK_I64;
            out->bits[0] = (uint64_t)instr.imm.i64;
            break;
        case ALK_OP_F32_CONST:
            out->kind = ALK_CONST_F32;
            out->type = ALK_F32;
            out->bits[0] = instr.imm.f32_bits;
            break;
        case ALK_OP_F64_CONST:
            out->kind = ALK_CONST_F64;
            out->type = ALK_F64;
            out->bits[0] = instr.imm.f64_bits;
            break;
        case ALK_OP_V128_CONST:
            out->kind = ALK_CONST_V128;
            out->type = ALK_V128;
            out->bits[0] = out->bits[1] = 0;
            for (int i = 0; i < 16; i++)
                out->bits[i / 8] |= (uint64_t)instr.imm.v128[i] << (8 * (i % 8));
            break;
        case ALK_OP_REF_NULL:
            out->kind = ALK_CONST_REF_NULL;
            out->type = instr.imm.ref_type;
            break;
        case ALK_OP_REF_FUNC:
            out->kind = ALK_CONST_REF_FUNC;
            out->type = ALK_FUNCREF;
            out->index = instr.imm.index;
            break;
        case ALK_OP_GLOBAL_GET:
            /* the type is known once validation has checked the index */
            out->kind = ALK_CONST_GLOBAL_GET;
            out->type = 0;
            out->index = instr.imm.index;
            break;
        default:
            return alk_fail(d->diag, ALK_E_CONSTANT_REQUIRED, instr.offset, d->function, ": %s",
                            alk_opcode_text(instr.op));
        }
        values++;
    }
    if (values != 1)
        return alk_fail(d->diag, ALK_E_TYPE_MISMATCH, out->offset, d->function,
                        ": constant expression leaves %u values, expected 1", values);
    return ALK_OK;
}

/* ---- Index spaces: imports first, then the module's own definitions ---------------------- */

static void *extend(decoder *d, const void *old, uint32_t old_count, uint32_t new_count,
                    size_t size)
{
    uint8_t *p = allocate(d, new_count, size);
    if (p && old_count)
        alk_memcpy(p, old, (size_t)old_count * size);
    return p;
}

/* ---- Sections --------------------------------------------------------------------------- */

/* typesec ::= vec(0x60 vec(valtype) vec(valtype)). Parameter and result types point into the
 * module's bytes, which hold them in their own encoding. */
static int decode_types(decoder *d, alk_reader *r)
{
    alk_module *module = d->module;
    uint32_t count;
    TRY(read_count(d, r, ALK_MAX_TYPES, "types", &count));
    alk_functype *types = allocate(d, count, sizeof *types);
    if (!types)
        return out_of_memory(d, r);
    for (uint32_t i = 0; i < count; i++) {
        uint8_t form;
        TRY_READ(d, r, alk_read_u8(r, &form));
        if (form != 0x60)
            return alk_fail(d->diag, (form & 0x80) ? ALK_E_INTEGER_TOO_LONG : ALK_E_MALFORMED_FUNCTION_TYPE,
                            alk_reader_offset(r) - 1, d->function, ": form 0x%x", form);
        for (int side = 0; side < 2; side++) {
            uint32_t n;
            TRY(read_count(d, r, side == 0 ? ALK_MAX_PARAMS : ALK_MAX_RESULTS,
                           side == 0 ? "parameters" : "results", &n));
            const uint8_t *list = r->cursor;
            for (uint32_t k = 0; k < n; k++) {
                alk_valtype type;
                TRY(read_valtype(d, r, &type));
            }
            if (side == 0) {
                types[i].param_count = n;
                types[i].params = list;
            } else {
                types[i].result_count = n;
                types[i].results = list;
            }
        }
    }
    module->types = types;
    module->type_count = count;
    return ALK_OK;
}

static int decode_imports(decoder *d, alk_reader *r)
{
    alk_module *module = d->module;
    uint32_t count;
    TRY(read_count(d, r, ALK_MAX_IMPORTS, "imports", &count));
    alk_import *imports = allocate(d, count, sizeof *imports);
    alk_function *functions = allocate(d, count, sizeof *functions);
    alk_tabletype *tables = allocate(d, count, sizeof *tables);
    alk_limits *memories = allocate(d, count, sizeof *memories);
    alk_global *globals = allocate(d, count, sizeof *globals);
    if (!imports || !functions || !tables || !memories || !globals)
        return out_of_memory(d, r);
    uint32_t counts[4] = {0, 0, 0, 0};
    for (uint32_t i = 0; i < count; i++) {
        alk_import *import = &imports[i];
        import->offset = alk_reader_offset(r);
        TRY(read_name(d, r, &import->module));
        TRY(read_name(d, r, &import->field));
        uint8_t kind;
        TRY_READ(d, r, alk_read_u8(r, &kind));
        if (kind > ALK_EXTERN_GLOBAL)
            return alk_fail(d->diag, ALK_E_MALFORMED_IMPORT_KIND, alk_reader_offset(r) - 1, d->function,
                            ": 0x%x", kind);
        import->kind = (alk_externkind)kind;
        import->index = counts[kind]++;
        switch (import->kind) {
        case ALK_EXTERN_FUNC:
            alk_memset(&functions[import->index], 0, sizeof functions[0]);
            TRY_READ(d, r, alk_read_u32(r, &functions[import->index].type_index));
            break;
        case ALK_EXTERN_TABLE:
            TRY(read_tabletype(d, r, &tables[import->index]));
            break;
        case ALK_EXTERN_MEMORY:
            TRY(read_limits(d, r, &memories[import->index]));
            break;
        case ALK_EXTERN_GLOBAL:
            alk_memset(&globals[import->index], 0, sizeof globals[0]);
            TRY(read_globaltype(d, r, &globals[import->index].type));
            break;
        }
    }
    module->imports = imports;
    module->import_count = count;
    module->functions = functions;
    module->function_count = module->imported_function_count = counts[ALK_EXTERN_FUNC];
    module->tables = tables;
    module->table_count = module->imported_table_count = counts[ALK_EXTERN_TABLE];
    module->memories = memories;
    module->memory_count = module->imported_memory_count = counts[ALK_EXTERN_MEMORY];
    module->globals = globals;
    module->global_count = module->imported_global_count = counts[ALK_EXTERN_GLOBAL];
    return ALK_OK;
}

static int decode_functions(decoder *d, alk_reader *r)
{
    alk_module *module = d->module;
    uint32_t count;
    TRY(read_count(d, r, ALK_MAX_FUNCTIONS - module->imported_function_count, "functions",
                   &count));
    uint32_t total = module->imported_function_count + count;
    alk_function *functions =
        extend(d, module->functions, module->imported_function_count, total, sizeof *functions);
    if (!functions)
        return out_of_memory(d, r);
    for (uint32_t i = module->imported_function_count; i < total; i++) {
        alk_memset(&functions[i], 0, sizeof functions[i]);
        TRY_READ(d, r, alk_read_u32(r, &functions[i].type_index));
    }
    module->functions = functions;
    module->function_count = total;
    d->defined_function_count = count;
    return ALK_OK;
}

static int decode_tables(decoder *d, alk_reader *r)
{
    alk_module *module = d->module;
    uint32_t count;
    TRY(read_count(d, r, ALK_MAX_TABLES - module->imported_table_count, "tables", &count));
    uint32_t total = module->imported_table_count + count;
    alk_tabletype *tables =
        extend(d, module->tables, module->imported_table_count, total, sizeof *tables);
    if (!tables)
        return out_of_memory(d, r);
    for (uint32_t i = module->imported_table_count; i < total; i++)
        TRY(read_tabletype(d, r, &tables[i]));
    module->tables = tables;
    module->table_count = total;
    return ALK_OK;
}

static int decode_memories(decoder *d, alk_reader *r)
{
    alk_module *module = d->module;
    uint32_t count;
    TRY(read_count(d, r, ALK_MAX_MEMORIES - module->imported_memory_count, "memories", &count));
    uint32_t total = module->imported_memory_count + count;
    alk_limits *memories =
        extend(d, module->memories, module->imported_memory_count, total, sizeof *memories);
    if (!memories)
        return out_of_memory(d, r);
    for (uint32_t i = module->imported_memory_count; i < total; i++)
        TRY(read_limits(d, r, &memories[i]));
    module->memories = memories;
    module->memory_count = total;
    return ALK_OK;
}

static int decode_globals(decoder *d, alk_reader *r)
{
    alk_module *module = d->module;
    uint32_t count;
    TRY(read_count(d, r, ALK_MAX_GLOBALS - module->imported_global_count, "globals", &count));
    uint32_t total = module->imported_global_count + count;
    alk_global *globals =
        extend(d, module->globals, module->imported_global_count, total, sizeof *globals);
    if (!globals)
        return out_of_memory(d, r);
    for (uint32_t i = module->imported_global_count; i < total; i++) {
        TRY(read_globaltype(d, r, &globals[i].type));
        TRY(read_constexpr(d, r, &globals[i].init));
    }
    module->globals = globals;
    module->global_count = total;
    return ALK_OK;
}

static int decode_exports(decoder *d, alk_reader *r)
{
    alk_module *module = d->module;
    uint32_t count;
    TRY(read_count(d, r, ALK_MAX_EXPORTS, "exports", &count));
    alk_export *exports = allocate(d, count, sizeof *exports);
    if (!exports)
        return out_of_memory(d, r);
    for (uint32_t i = 0; i < count; i++) {
        TRY(read_name(d, r, &exports[i].name));
        uint8_t kind;
        TRY_READ(d, r, alk_read_u8(r, &kind));
        if (kind > ALK_EXTERN_GLOBAL)
            return alk_fail(d->diag, ALK_E_MALFORMED_EXPORT_KIND, alk_reader_offset(r) - 1, d->function,
                            ": 0x%x", kind);
        exports[i].kind = (alk_externkind)kind;
        TRY_READ(d, r, alk_read_u32(r, &exports[i].index));
    }
    module->exports = exports;
    module->export_count = count;
    return ALK_OK;
}

static int decode_start(decoder *d, alk_reader *r)
{
    TRY_READ(d, r, alk_read_u32(r, &d->module->start));
    d->module->has_start = true;
    return ALK_OK;
}

/* The items of an element segment: vec(funcidx) when `expressions` is false, else vec(expr). */
static int read_element_items(decoder *d, alk_reader *r, bool expressions, alk_element *element)
{
    uint32_t count;
    TRY(read_count(d, r, ALK_MAX_ELEMENT_SEGMENTS, "elements", &count));
    alk_constexpr *items = allocate(d, count, sizeof *items);
    if (!items)
        return out_of_memory(d, r);
    for (uint32_t i = 0; i < count; i++) {
        if (expressions) {
            TRY(read_constexpr(d, r, &items[i]));
            continue;
        }
        alk_memset(&items[i], 0, sizeof items[i]);
        items[i].kind = ALK_CONST_REF_FUNC;
        items[i].type = ALK_FUNCREF;
        items[i].offset = alk_reader_offset(r);
        TRY_READ(d, r, alk_read_u32(r, &items[i].index));
    }
    element->items = items;
    element->item_count = count;
    return ALK_OK;
}

/* elem ::= flags:u32 ...; bit 0: passive or declarative, bit 1: explicit table index (active)
 * or declarative (not active), bit 2: expressions and a reference type instead of function
 * indices and an element kind. */
static int decode_elements(decoder *d, alk_reader *r)
{
    alk_module *module = d->module;
    uint32_t count;
    TRY(read_count(d, r, ALK_MAX_ELEMENT_SEGMENTS, "element segments", &count));
    alk_element *elements = allocate(d, count, sizeof *elements);
    if (!elements)
        return out_of_memory(d, r);
    for (uint32_t i = 0; i < count; i++) {
        alk_element *element = &elements[i];
        alk_memset(element, 0, sizeof *element);
        uint32_t flags_offset = alk_reader_offset(r);
        uint32_t flags;
        TRY_READ(d, r, alk_read_u32(r, &flags));
        if (flags > 7)
            return alk_fail(d->diag, ALK_E_MALFORMED_ELEMENTS_KIND, flags_offset, d->function, ": %u", flags);
        bool expressions = flags & 4;
        element->type = ALK_FUNCREF;
        if ((flags & 1) == 0) {
            element->mode = ALK_SEGMENT_ACTIVE;
            if (flags & 2)
                TRY_READ(d, r, alk_read_u32(r, &element->table));
            TRY(read_constexpr(d, r, &element->offset));
        } else {
            element->mode = (flags & 2) ? ALK_SEGMENT_DECLARATIVE : ALK_SEGMENT_PASSIVE;
        }
        if (flags & 3) { /* an explicit element kind or reference type */
            if (expressions) {
                TRY(read_reftype(d, r, &element->type));
            } else {
                uint8_t kind;
                TRY_READ(d, r, alk_read_u8(r, &kind));
                if (kind != 0x00)
                    return alk_fail(d->diag, ALK_E_MALFORMED_ELEMENT_KIND, alk_reader_offset(r) - 1, d->function,
                                    ": 0x%x", kind);
            }
        }
        TRY(read_element_items(d, r, expressions, element));
    }
    module->elements = elements;
    module->element_count = count;
    return ALK_OK;
}

static int decode_data_count(decoder *d, alk_reader *r)
{
    TRY_READ(d, r, alk_read_u32(r, &d->module->data_count));
    d->module->has_data_count = true;
    return ALK_OK;
}

/* code ::= size:u32 (vec(locals) expr); the expression is left for alk_validate(). */
static int decode_code(decoder *d, alk_reader *r)
{
    alk_module *module = d->module;
    uint32_t count_offset = alk_reader_offset(r);
    uint32_t count;
    TRY(read_count(d, r, ALK_MAX_FUNCTIONS, "function bodies", &count));
    if (count != d->defined_function_count)
        return alk_fail(d->diag, ALK_E_FUNCTION_CODE_MISMATCH, count_offset, d->function,
                        ": %u functions, %u bodies", d->defined_function_count, count);
    d->has_code_section = true;
    module->code_section_size = (uint32_t)remaining(r);
    module->code_section_offset = count_offset;
    for (uint32_t i = 0; i < count; i++) {
        uint32_t index = module->imported_function_count + i;
        alk_function *function = &module->functions[index];
        d->function = index;
        uint32_t size_offset = alk_reader_offset(r);
        uint32_t size;
        TRY_READ(d, r, alk_read_u32(r, &size));
        if (size > remaining(r))
            return alk_fail(d->diag, ALK_E_LENGTH_OUT_OF_BOUNDS, size_offset, index,
                            ": body of %u bytes, %u left in the section", size,
                            (unsigned)remaining(r));
        if (size > ALK_MAX_FUNCTION_SIZE)
            return alk_fail(d->diag, ALK_E_IMPLEMENTATION_LIMIT, size_offset, index,
                            ": body of %u bytes, at most %u", size, ALK_MAX_FUNCTION_SIZE);
        alk_reader body = {r->base, r->cursor, r->cursor + size};
        function->body_offset = alk_reader_offset(&body);
        function->body_end = function->body_offset + size;

        uint32_t group_count;
        TRY(read_count(d, &body, ALK_MAX_FUNCTION_SIZE, "local declarations", &group_count));
        alk_local_group *groups = allocate(d, group_count, sizeof *groups);
        if (!groups)
            return out_of_memory(d, &body);
        uint64_t total = 0;
        for (uint32_t g = 0; g < group_count; g++) {
            uint32_t group_offset = alk_reader_offset(&body);
            TRY_READ(d, &body, alk_read_u32(&body, &groups[g].count));
            TRY(read_valtype(d, &body, &groups[g].type));
            total += groups[g].count;
            if (total > UINT32_MAX)
                return alk_fail(d->diag, ALK_E_TOO_MANY_LOCALS, group_offset, index,
                                ": more than 2^32-1");
        }
        if (total > ALK_MAX_FUNCTION_LOCALS)
            return alk_fail(d->diag, ALK_E_TOO_MANY_LOCALS, function->body_offset, index,
                            ": %u, at most %u", (unsigned)total, ALK_MAX_FUNCTION_LOCALS);
        function->local_groups = groups;
        function->local_group_count = group_count;
        function->local_count = (uint32_t)total;
        function->code_offset = alk_reader_offset(&body);
        r->cursor = body.end;
    }
    d->function = ALK_NO_FUNCTION;
    return ALK_OK;
}

/* data ::= 0 expr vec(byte) | 1 vec(byte) | 2 memidx expr vec(byte) */
static int decode_data(decoder *d, alk_reader *r)
{
    alk_module *module = d->module;
    uint32_t count_offset = alk_reader_offset(r);
    uint32_t count;
    TRY(read_count(d, r, ALK_MAX_DATA_SEGMENTS, "data segments", &count));
    if (module->has_data_count && count != module->data_count)
        return alk_fail(d->diag, ALK_E_DATA_COUNT_MISMATCH, count_offset, d->function,
                        ": data count %u, %u segments", module->data_count, count);
    d->has_data_section = true;
    alk_data *segments = allocate(d, count, sizeof *segments);
    if (!segments)
        return out_of_memory(d, r);
    for (uint32_t i = 0; i < count; i++) {
        alk_data *segment = &segments[i];
        alk_memset(segment, 0, sizeof *segment);
        uint32_t flags_offset = alk_reader_offset(r);
        uint32_t flags;
        TRY_READ(d, r, alk_read_u32(r, &flags));
        if (flags > 2)
            return alk_fail(d->diag, ALK_E_MALFORMED_DATA_KIND, flags_offset, d->function, ": %u", flags);
        segment->mode = flags == 1 ? ALK_SEGMENT_PASSIVE : ALK_SEGMENT_ACTIVE;
        if (flags == 2)
            TRY_READ(d, r, alk_read_u32(r, &segment->memory));
        if (flags != 1)
            TRY(read_constexpr(d, r, &segment->offset));
        uint32_t size_offset = alk_reader_offset(r);
        TRY_READ(d, r, alk_read_u32(r, &segment->size));
        if (segment->size > remaining(r))
            return alk_fail(d->diag, ALK_E_LENGTH_OUT_OF_BOUNDS, size_offset, d->function,
                            ": %u bytes of data, %u left", segment->size,
                            (unsigned)remaining(r));
        segment->bytes = r->cursor;
        r->cursor += segment->size;
    }
    module->data_segments = segments;
    module->data_segment_count = count;
    return ALK_OK;
}

static int decode_custom(decoder *d, alk_reader *r)
{
    alk_name name;
    TRY(read_name(d, r, &name));
    if (name.length == 4 && alk_memcmp(name.bytes, "name", 4) == 0 && !d->has_name_section) {
        d->has_name_section = true;
        d->name_section = *r;
    }
    r->cursor = r->end;
    return ALK_OK;
}

/* ---- The name section (appendix/custom.rst): names for diagnostics and backtraces ---------- */

static bool decode_name_map(alk_module *module, alk_reader *r)
{
    uint32_t count;
    if (alk_read_u32(r, &count) != ALK_OK)
        return false;
    for (uint32_t i = 0; i < count; i++) {
        uint32_t index;
        alk_name name;
        if (alk_read_u32(r, &index) != ALK_OK || alk_read_name(r, &name) != ALK_OK)
            return false;
        if (index >= module->function_count)
            return false;
        module->functions[index].name = name;
    }
    return true;
}

static bool decode_name_subsections(alk_module *module, alk_reader *r)
{
    int last_id = -1;
    while (r->cursor < r->end) {
        uint8_t id;
        uint32_t size;
        if (alk_read_u8(r, &id) != ALK_OK || alk_read_u32(r, &size) != ALK_OK)
            return false;
        if ((int)id <= last_id || size > remaining(r))
            return false;
        last_id = id;
        alk_reader sub = {r->base, r->cursor, r->cursor + size};
        if (id == 0 && alk_read_name(&sub, &module->module_name) != ALK_OK)
            return false;
        if (id == 1 && !decode_name_map(module, &sub))
            return false;
        if ((id == 0 || id == 1) && sub.cursor != sub.end)
            return false;
        r->cursor = sub.end;
    }
    return true;
}

static void decode_names(decoder *d)
{
    alk_module *module = d->module;
    alk_reader r = d->name_section;
    if (decode_name_subsections(module, &r))
        return;
    module->module_name.bytes = NULL;
    module->module_name.length = 0;
    for (uint32_t i = 0; i < module->function_count; i++) {
        module->functions[i].name.bytes = NULL;
        module->functions[i].name.length = 0;
    }
}

/* C.refs (valid/modules.rst): function indices occurring outside functions and the start. */
static int declare_function_refs(decoder *d, alk_reader *r)
{
    alk_module *module = d->module;
    uint8_t *refs = allocate(d, module->function_count / 8 + 1, 1);
    if (!refs)
        return out_of_memory(d, r);
    alk_memset(refs, 0, module->function_count / 8 + 1);
#define DECLARE(x)                                                                         \
    do {                                                                                   \
        if ((x) < module->function_count)                                                  \
            refs[(x) / 8] |= (uint8_t)(1u << ((x) % 8));                                   \
    } while (0)
    for (uint32_t i = module->imported_global_count; i < module->global_count; i++)
        if (module->globals[i].init.kind == ALK_CONST_REF_FUNC)
            DECLARE(module->globals[i].init.index);
    for (uint32_t i = 0; i < module->element_count; i++)
        for (uint32_t k = 0; k < module->elements[i].item_count; k++)
            if (module->elements[i].items[k].kind == ALK_CONST_REF_FUNC)
                DECLARE(module->elements[i].items[k].index);
    for (uint32_t i = 0; i < module->export_count; i++)
        if (module->exports[i].kind == ALK_EXTERN_FUNC)
            DECLARE(module->exports[i].index);
#undef DECLARE
    module->declared_function_refs = refs;
    return ALK_OK;
}

/* ---- The module ------------------------------------------------------------------------- */

/* Sections other than custom ones come at most once, in this order (the data count section,
 * id 12, sits between the element and code sections). */
static const uint8_t section_rank[13] = {
    [1] = 1, [2] = 2, [3] = 3, [4] = 4, [5] = 5, [6] = 6, [7] = 7,
    [8] = 8, [9] = 9, [12] = 10, [10] = 11, [11] = 12,
};

static int decode_section(decoder *d, uint8_t id, alk_reader *r)
{
    switch (id) {
    case 0: return decode_custom(d, r);
    case 1: return decode_types(d, r);
    case 2: return decode_imports(d, r);
    case 3: return decode_functions(d, r);
    case 4: return decode_tables(d, r);
    case 5: return decode_memories(d, r);
    case 6: return decode_globals(d, r);
    case 7: return decode_exports(d, r);
    case 8: return decode_start(d, r);
    case 9: return decode_elements(d, r);
    case 10: return decode_code(d, r);
    case 11: return decode_data(d, r);
    case 12: return decode_data_count(d, r);
    default: return alk_fail(d->diag, ALK_E_MALFORMED_SECTION_ID, alk_reader_offset(r), d->function, "");
    }
}

static int decode_module(decoder *d, alk_reader *r)
{
    alk_module *module = d->module;
    static const uint8_t magic[4] = {0x00, 0x61, 0x73, 0x6d};
    static const uint8_t version[4] = {0x01, 0x00, 0x00, 0x00};
    if (remaining(r) < 4)
        return alk_fail(d->diag, ALK_E_UNEXPECTED_END, 0, d->function, ": no magic header");
    if (alk_memcmp(r->cursor, magic, 4) != 0)
        return alk_fail(d->diag, ALK_E_MAGIC_HEADER, 0, d->function, "");
    if (remaining(r) < 8)
        return alk_fail(d->diag, ALK_E_UNEXPECTED_END, 4, d->function, ": no version");
    if (alk_memcmp(r->cursor + 4, version, 4) != 0)
        return alk_fail(d->diag, ALK_E_UNKNOWN_VERSION, 4, d->function, "");
    r->cursor += 8;

    uint8_t last_rank = 0;
    while (r->cursor < r->end) {
        uint32_t section_offset = alk_reader_offset(r);
        uint8_t id = *r->cursor++;
        if (id > 12)
            return alk_fail(d->diag, ALK_E_MALFORMED_SECTION_ID, section_offset, d->function, ": %u", id);
        uint32_t size;
        int code = alk_read_u32(r, &size);
        if (code != ALK_OK)
            return alk_fail(d->diag, code == ALK_E_UNEXPECTED_END_OF_SECTION ? ALK_E_UNEXPECTED_END : code,
                            alk_reader_offset(r), d->function, ": section size");
        if (size > remaining(r))
            return alk_fail(d->diag, ALK_E_LENGTH_OUT_OF_BOUNDS, section_offset + 1, d->function,
                            ": section %u of %u bytes, %u left", id, size,
                            (unsigned)remaining(r));
        if (id != 0) {
            if (section_rank[id] <= last_rank)
                return alk_fail(d->diag, ALK_E_CONTENT_AFTER_LAST_SECTION, section_offset, d->function,
                                ": section %u out of order or repeated", id);
            last_rank = section_rank[id];
        }
        alk_reader section = {r->base, r->cursor, r->cursor + size};
        TRY(decode_section(d, id, &section));
        if (section.cursor != section.end)
            return alk_fail(d->diag, ALK_E_SECTION_SIZE_MISMATCH, alk_reader_offset(&section), d->function,
                            ": section %u has %u bytes after its contents", id,
                            (unsigned)remaining(&section));
        r->cursor = section.end;
    }

    if (!d->has_code_section && d->defined_function_count != 0)
        return alk_fail(d->diag, ALK_E_FUNCTION_CODE_MISMATCH, alk_reader_offset(r), d->function,
                        ": %u functions, no code section", d->defined_function_count);
    if (module->has_data_count && !d->has_data_section && module->data_count != 0)
        return alk_fail(d->diag, ALK_E_DATA_COUNT_MISMATCH, alk_reader_offset(r), d->function,
                        ": data count %u, no data section", module->data_count);
    TRY(declare_function_refs(d, r));
    if (d->has_name_section)
        decode_names(d);
    return ALK_OK;
}

int alk_decode(const uint8_t *bytes, size_t size, const alk_allocator *allocator,
               alk_module **out, alk_diag *diag)
{
    *out = NULL;
    if (diag) {
        diag->code = ALK_OK;
        diag->offset = 0;
        diag->function = ALK_NO_FUNCTION;
        diag->function_name[0] = '\0';
        diag->message[0] = '\0';
    }
    if (size > ALK_MAX_MODULE_SIZE)
        return alk_fail(diag, ALK_E_IMPLEMENTATION_LIMIT, 0, ALK_NO_FUNCTION, ": module of %lu bytes, at most %u",
                        (unsigned long)size, ALK_MAX_MODULE_SIZE);
    struct alk_arena *arena = alk_arena_new(allocator);
    alk_module *module = arena ? alk_arena_alloc(arena, sizeof *module) : NULL;
    if (!module) {
        alk_arena_free(arena);
        return alk_fail(diag, ALK_E_OUT_OF_MEMORY, 0, ALK_NO_FUNCTION, "");
    }
    alk_memset(module, 0, sizeof *module);
    module->allocator = *allocator;
    module->arena = arena;
    module->bytes = bytes;
    module->size = size;

    decoder d = {.module = module, .diag = diag, .function = ALK_NO_FUNCTION};
    alk_reader r = {bytes, bytes, bytes + size};
    int code = decode_module(&d, &r);
    if (code != ALK_OK) {
        alk_arena_free(arena);
        return code;
    }
    *out = module;
    return ALK_OK;
}

void alk_module_free(alk_module *module)
{
    if (module)
        alk_arena_free(module->arena);
}
