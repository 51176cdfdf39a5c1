/*
 * Value types and function types: predicates and names shared by the stages.
 */
#include "alk_internal.h"

bool alk_is_reftype(alk_valtype type)
{
    return type == ALK_FUNCREF || type == ALK_EXTERNREF;
}

bool alk_is_valtype(uint8_t byte)
{
    switch (byte) {
    case ALK_I32:
    case ALK_I64:
    case ALK_F32:
    case ALK_F64:
    case ALK_V128:
    case ALK_FUNCREF:
    case ALK_EXTERNREF:
        return true;
    default:
        return false;
    }
}

const char *alk_valtype_name(alk_valtype type)
{
    switch (type) {
#define ALK_VALTYPE_NAME(t, code, letter, name, is_float, bytes) case code: return name;
        ALK_VALUE_TYPES(ALK_VALTYPE_NAME)
#undef ALK_VALTYPE_NAME
    default: return "unknown";
    }
}

/* Requires a validated type index for the function (alk_validate checks them first). */
const alk_functype *alk_function_type(const alk_module *module, uint32_t function_index)
{
    return &module->types[module->functions[function_index].type_index];
}
