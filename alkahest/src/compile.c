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
    alk_compiled compiled = { .module = module, .bounds = options->bounds,
                              .source_lines = options->source_lines,
                              .optimized = options->tier == ALK_TIER_OPTIMIZED };
    alk_layout_compute(module, &compiled.layout);
    int error;
    if (options->tier != ALK_TIER_OPTIMIZED)
        error = alk_x64_compile(module, options, &compiled, diag);
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
