/*
 * Validation (valid/modules.rst): the rules on the module's parts, then every function body.
 *
 * Requires a module from alk_decode(). Function bodies are decoded here, in the same pass that
 * type-checks them (validate_code.c), so their malformed encodings are reported by
 * alk_validate(). On success every index, type and immediate in the module is known good, and
 * module->validated is set: the compiler relies on it and checks nothing again.
 */
#include "alk_internal.h"

typedef struct checker {
    const alk_module *module;
    alk_diag *diag;
    alk_allocator allocator;
} checker;

#define FAIL(c, code, offset, ...) alk_fail((c)->diag, code, offset, ALK_NO_FUNCTION, __VA_ARGS__)
#define TRY(expr)                                                                          \
    do {                                                                                   \
        int code_ = (expr);                                                                \
        if (code_ != ALK_OK)                                                               \
            return code_;                                                                  \
    } while (0)

/* ---- Limits, types, constant expressions ------------------------------------------------- */

static int check_table_limits(checker *c, const alk_limits *limits, uint32_t offset)
{
    if (limits->has_max && limits->min > limits->max)
        return FAIL(c, ALK_E_MIN_ABOVE_MAX, offset, ": table %u > %u", limits->min, limits->max);
    return ALK_OK;
}

static int check_memory_limits(checker *c, const alk_limits *limits, uint32_t offset)
{
    if (limits->min > ALK_MAX_PAGES)
        return FAIL(c, ALK_E_MEMORY_TOO_LARGE, offset, ": minimum %u", limits->min);
    if (limits->has_max && limits->max > ALK_MAX_PAGES)
        return FAIL(c, ALK_E_MEMORY_TOO_LARGE, offset, ": maximum %u", limits->max);
    if (limits->has_max && limits->min > limits->max)
        return FAIL(c, ALK_E_MIN_ABOVE_MAX, offset, ": memory %u > %u", limits->min, limits->max);
    return ALK_OK;
}

static int check_type_index(checker *c, uint32_t index, uint32_t offset)
{
    if (index >= c->module->type_count)
        return FAIL(c, ALK_E_UNKNOWN_TYPE, offset, " %u", index);
    return ALK_OK;
}

/* Constant expressions (valid/instructions.rst "Constant Expressions"), in the context C' of
 * valid/modules.rst: global.get reaches imported, immutable globals only. */
static int check_constexpr(checker *c, const alk_constexpr *expr, alk_valtype expected)
{
    const alk_module *module = c->module;
    alk_valtype type = expr->type;
    if (expr->kind == ALK_CONST_REF_FUNC && expr->index >= module->function_count)
        return FAIL(c, ALK_E_UNKNOWN_FUNCTION, expr->offset, " %u", expr->index);
    if (expr->kind == ALK_CONST_GLOBAL_GET) {
        if (expr->index >= module->imported_global_count)
            return FAIL(c, ALK_E_UNKNOWN_GLOBAL, expr->offset, " %u", expr->index);
        const alk_globaltype *global = &module->globals[expr->index].type;
        if (global->is_mutable)
            return FAIL(c, ALK_E_CONSTANT_REQUIRED, expr->offset, ": global.get of mutable global %u",
                        expr->index);
        type = global->type;
    }
    if (type != expected)
        return FAIL(c, ALK_E_TYPE_MISMATCH, expr->offset, ": constant expression of type %s, expected %s",
                    alk_valtype_name(type), alk_valtype_name(expected));
    return ALK_OK;
}

/* ---- The module's parts, in section order -------------------------------------------------- */

static int check_imports(checker *c)
{
    const alk_module *module = c->module;
    for (uint32_t i = 0; i < module->import_count; i++) {
        const alk_import *import = &module->imports[i];
        switch (import->kind) {
        case ALK_EXTERN_FUNC:
            TRY(check_type_index(c, module->functions[import->index].type_index,
                                 import->offset));
            break;
        case ALK_EXTERN_TABLE:
            TRY(check_table_limits(c, &module->tables[import->index].limits, import->offset));
            break;
        case ALK_EXTERN_MEMORY:
            TRY(check_memory_limits(c, &module->memories[import->index], import->offset));
            break;
        case ALK_EXTERN_GLOBAL:
            break;
        }
    }
    return ALK_OK;
}

/* Definitions carry no offsets of their own; errors point at their section's start. */
static int check_definitions(checker *c)
{
    const alk_module *module = c->module;
    for (uint32_t i = module->imported_function_count; i < module->function_count; i++)
        TRY(check_type_index(c, module->functions[i].type_index, module->functions[i].body_offset));
    for (uint32_t i = module->imported_table_count; i < module->table_count; i++)
        TRY(check_table_limits(c, &module->tables[i].limits, 0));
    for (uint32_t i = module->imported_memory_count; i < module->memory_count; i++)
        TRY(check_memory_limits(c, &module->memories[i], 0));
    if (module->memory_count > 1)
        return FAIL(c, ALK_E_MULTIPLE_MEMORIES, 0, ": %u", module->memory_count);
    for (uint32_t i = module->imported_global_count; i < module->global_count; i++)
        TRY(check_constexpr(c, &module->globals[i].init, module->globals[i].type.type));
    return ALK_OK;
}

static uint32_t hash_name(const alk_name *name)
{
    uint32_t hash = 2166136261u; /* FNV-1a */
    for (uint32_t i = 0; i < name->length; i++)
        hash = (hash ^ name->bytes[i]) * 16777619u;
    return hash;
}

/* Export names must be distinct: an open-addressing set of export indices. */
static int check_export_names(checker *c)
{
    const alk_module *module = c->module;
    uint32_t count = module->export_count;
    if (count < 2)
        return ALK_OK;
    uint32_t size = 4;
    while (size < 2 * count)
        size *= 2;
    uint32_t *slots = c->allocator.alloc(c->allocator.user, size * sizeof *slots);
    if (!slots)
        return FAIL(c, ALK_E_OUT_OF_MEMORY, 0, "");
    for (uint32_t i = 0; i < size; i++)
        slots[i] = UINT32_MAX;
    int code = ALK_OK;
    for (uint32_t i = 0; i < count && code == ALK_OK; i++) {
        const alk_name *name = &module->exports[i].name;
        uint32_t h = hash_name(name) & (size - 1);
        while (slots[h] != UINT32_MAX) {
            const alk_name *other = &module->exports[slots[h]].name;
            if (other->length == name->length &&
                alk_memcmp(other->bytes, name->bytes, name->length) == 0) {
                code = FAIL(c, ALK_E_DUPLICATE_EXPORT, (uint32_t)(name->bytes - module->bytes), " \"%.*s\"",
                            (int)name->length, (const char *)name->bytes);
                break;
            }
            h = (h + 1) & (size - 1);
        }
        slots[h] = i;
    }
    c->allocator.free(c->allocator.user, slots);
    return code;
}

static int check_exports(checker *c)
{
    const alk_module *module = c->module;
    for (uint32_t i = 0; i < module->export_count; i++) {
        const alk_export *export = &module->exports[i];
        uint32_t offset = (uint32_t)(export->name.bytes - module->bytes);
        switch (export->kind) {
        case ALK_EXTERN_FUNC:
            if (export->index >= module->function_count)
                return FAIL(c, ALK_E_UNKNOWN_FUNCTION, offset, " %u", export->index);
            break;
        case ALK_EXTERN_TABLE:
            if (export->index >= module->table_count)
                return FAIL(c, ALK_E_UNKNOWN_TABLE, offset, " %u", export->index);
            break;
        case ALK_EXTERN_MEMORY:
            if (export->index >= module->memory_count)
                return FAIL(c, ALK_E_UNKNOWN_MEMORY, offset, " %u", export->index);
            break;
        case ALK_EXTERN_GLOBAL:
            if (export->index >= module->global_count)
                return FAIL(c, ALK_E_UNKNOWN_GLOBAL, offset, " %u", export->index);
            break;
        }
    }
    return check_export_names(c);
}

static int check_start(checker *c)
{
    const alk_module *module = c->module;
    if (!module->has_start)
        return ALK_OK;
    if (module->start >= module->function_count)
        return FAIL(c, ALK_E_UNKNOWN_FUNCTION, 0, " %u", module->start);
    const alk_functype *type = alk_function_type(module, module->start);
    if (type->param_count != 0 || type->result_count != 0)
        return FAIL(c, ALK_E_START_FUNCTION, 0, ": function %u must take and return nothing", module->start);
    return ALK_OK;
}

static int check_elements(checker *c)
{
    const alk_module *module = c->module;
    for (uint32_t i = 0; i < module->element_count; i++) {
        const alk_element *element = &module->elements[i];
        if (element->mode == ALK_SEGMENT_ACTIVE) {
            if (element->table >= module->table_count)
                return FAIL(c, ALK_E_UNKNOWN_TABLE, element->offset.offset, " %u", element->table);
            TRY(check_constexpr(c, &element->offset, ALK_I32));
            alk_valtype table_type = module->tables[element->table].element;
            if (table_type != element->type)
                return FAIL(c, ALK_E_TYPE_MISMATCH, element->offset.offset,
                            ": %s segment for a table of %s", alk_valtype_name(element->type),
                            alk_valtype_name(table_type));
        }
        for (uint32_t k = 0; k < element->item_count; k++)
            TRY(check_constexpr(c, &element->items[k], element->type));
    }
    return ALK_OK;
}

static int check_data(checker *c)
{
    const alk_module *module = c->module;
    for (uint32_t i = 0; i < module->data_segment_count; i++) {
        const alk_data *segment = &module->data_segments[i];
        if (segment->mode != ALK_SEGMENT_ACTIVE)
            continue;
        if (segment->memory >= module->memory_count)
            return FAIL(c, ALK_E_UNKNOWN_MEMORY, segment->offset.offset, " %u", segment->memory);
        TRY(check_constexpr(c, &segment->offset, ALK_I32));
    }
    return ALK_OK;
}

/* ---- Entry ---------------------------------------------------------------------------------- */

static int check_module(checker *c, const alk_compile_options *options)
{
    const alk_module *module = c->module;
    TRY(check_imports(c));
    TRY(check_definitions(c));
    TRY(check_exports(c));
    TRY(check_start(c));
    TRY(check_elements(c));
    TRY(check_data(c));
    return alk_validate_code(module, options, c->diag);
}

static void name_function(const alk_module *module, alk_diag *diag)
{
    if (diag->function == ALK_NO_FUNCTION || diag->function >= module->function_count)
        return;
    const alk_name *name = &module->functions[diag->function].name;
    size_t n = name->length;
    if (n > sizeof diag->function_name - 1) {
        n = sizeof diag->function_name - 1;
        while (n > 0 && (name->bytes[n] & 0xc0) == 0x80) /* do not split a character */
            n--;
    }
    if (n)
        alk_memcpy(diag->function_name, name->bytes, n);
    diag->function_name[n] = '\0';
}

int alk_validate(alk_module *module, alk_diag *diag)
{
    return alk_validate_with(module, NULL, diag);
}

int alk_validate_with(alk_module *module, const alk_compile_options *options, alk_diag *diag)
{
    alk_diag scratch;
    if (!diag)
        diag = &scratch;
    diag->code = ALK_OK;
    diag->offset = 0;
    diag->function = ALK_NO_FUNCTION;
    diag->function_name[0] = '\0';
    diag->message[0] = '\0';

    checker c = {module, diag, module->allocator};
    module->validated = false;
    int code = check_module(&c, options);
    if (code != ALK_OK) {
        name_function(module, diag);
        return code;
    }
    module->validated = true;
    return ALK_OK;
}
