/*
 * The pipeline, top to bottom: decode -> validate -> compile -> object. alk_build() is the one
 * function that drives it; each stage lives in its own file.
 */
#include "compile.h"

void alk_layout_compute(const alk_module *module, alk_layout *layout)
{
    uint32_t size = ALK_VMCTX_HEADER_SIZE;
    layout->type_ids = size;
    size += 4 * module->type_count;
    size = (size + 15) & ~15u;
    layout->function_refs = size;
    size += ALK_FUNCREF_SIZE * module->function_count;
    layout->tables = size;
    size += 8 * module->table_count;
    size = (size + 15) & ~15u;
    layout->globals = size;
    size += ALK_GLOBAL_SLOT_SIZE * module->global_count;
    layout->size = (size + 15) & ~15u;
}

int alk_check_no_v128(const alk_module *m, alk_diag *diag)
{
    for (uint32_t t = 0; t < m->type_count; t++) {
        const alk_functype *type = &m->types[t];
        for (uint32_t i = 0; i < type->param_count + type->result_count; i++) {
            alk_valtype v = i < type->param_count ? type->params[i]
                                                  : type->results[i - type->param_count];
            if (v == ALK_V128)
                return alk_fail(diag, ALK_E_UNSUPPORTED_INSTRUCTION, 0, ALK_NO_FUNCTION,
                                ": function type %u has v128 values (SIMD)", t);
        }
    }
    for (uint32_t g = 0; g < m->global_count; g++)
        if (m->globals[g].type.type == ALK_V128)
            return alk_fail(diag, ALK_E_UNSUPPORTED_INSTRUCTION, 0, ALK_NO_FUNCTION, ": global %u is a v128 (SIMD)", g);
    for (uint32_t f = m->imported_function_count; f < m->function_count; f++)
        for (uint32_t i = 0; i < m->functions[f].local_group_count; i++)
            if (m->functions[f].local_groups[i].type == ALK_V128)
                return alk_fail(diag, ALK_E_UNSUPPORTED_INSTRUCTION, m->functions[f].body_offset, f,
                                ": v128 locals (SIMD)");
    return ALK_OK;
}

const alk_backend *alk_backend_for(alk_target target)
{
    static const alk_backend *const backends[] = { &alk_x86_64_backend, &alk_aarch64_backend };
    if (target == ALK_TARGET_HOST) {
#if defined(__aarch64__)
        target = ALK_TARGET_AARCH64;
#else
        target = ALK_TARGET_X86_64;
#endif
    }
    for (unsigned i = 0; i < sizeof backends / sizeof backends[0]; i++)
        if (backends[i]->target == target)
            return backends[i];
    return NULL;
}

int alk_compile(const alk_module *module, const alk_compile_options *options,
                uint8_t **object_out, size_t *object_size, alk_diag *diag)
{
    if (!module->validated)
        return alk_fail(diag, ALK_E_INTERNAL, 0, ALK_NO_FUNCTION,
                        ": compiling a module that was not validated");
    /* vmctx offsets are 32-bit displacements: refuse modules whose context would not fit */
    uint64_t context = ALK_VMCTX_HEADER_SIZE + 4ull * module->type_count +
                       (uint64_t)ALK_FUNCREF_SIZE * module->function_count +
                       8ull * module->table_count + (uint64_t)ALK_GLOBAL_SLOT_SIZE * module->global_count;
    if (context > (1u << 30))
        return alk_fail(diag, ALK_E_MODULE_TOO_LARGE, 0, ALK_NO_FUNCTION,
                        ": its instance context would be %llu bytes",
                        (unsigned long long)context);
    const alk_backend *backend = alk_backend_for(options->target);
    if (!backend)
        return alk_fail(diag, ALK_E_UNSUPPORTED_TARGET, 0, ALK_NO_FUNCTION, ": %u",
                        (unsigned)options->target);
    alk_compiled compiled = { .target = backend->target, .module = module, .bounds = options->bounds,
                              .source_lines = options->source_lines,
                              .optimized = options->tier == ALK_TIER_OPTIMIZED };
    alk_layout_compute(module, &compiled.layout);
    int error;
    if (options->tier != ALK_TIER_OPTIMIZED)
        error = backend->compile(module, options, &compiled, diag);
    else if (options->optimizer)
        error = options->optimizer(module, options, &compiled, diag);
    else
        error = alk_fail(diag, ALK_E_TIER_UNAVAILABLE, 0, ALK_NO_FUNCTION,
                         ": this build has no LLVM (build/alkahest-opt.so)");
    if (!error)
        error = alk_object_write(&compiled, object_out, object_size, diag);
    module->allocator.free(module->allocator.user, compiled.code);
    module->allocator.free(module->allocator.user, compiled.functions);
    module->allocator.free(module->allocator.user, compiled.pcs);
    return error;
}

int alk_build(const uint8_t *wasm, size_t wasm_size, const alk_compile_options *options,
              const alk_allocator *allocator, uint8_t **object_out, size_t *object_size,
              alk_diag *diag)
{
    alk_module *module = NULL;
    int error = alk_decode(wasm, wasm_size, allocator, &module, diag);
    if (!error)
        error = alk_validate_with(module, options, diag);
    if (!error)
        error = alk_compile(module, options, object_out, object_size, diag);
    if (module)
        alk_module_free(module);
    return error;
}
