/*
 * The single-pass back ends' driver (singlepass.h): the defined functions in chunks of about
 * equal size (parallel.c), each compiled by the target on its own (maybe on its own thread),
 * then laid end to end in chunk order and the direct calls patched. Whatever the parallelism,
 * the split depends only on the module and the options and the chunks are laid out the same,
 * so the code is the same byte for byte.
 */
#include "singlepass.h"

uint32_t alk_chunk_start_function(alk_chunk *k, uint32_t i)
{
    alk_code_align(&k->code, 16, k->target->fill);
    uint32_t start = alk_code_position(&k->code);
    k->starts[i - k->first] = start;
    return start;
}

bool alk_chunk_entry_done(alk_chunk *k, uint32_t start)
{
    if (alk_code_position(&k->code) - start == k->target->internal_entry)
        return true;
    k->error = alk_fail(&k->diag, ALK_E_INTERNAL, 0, ALK_NO_FUNCTION, ": entry size");
    return false;
}

void alk_chunk_add_call(alk_chunk *k, uint32_t at, uint32_t callee)
{
    const alk_allocator *a = &k->module->allocator;
    if (k->call_count == k->call_capacity) {
        uint32_t capacity = k->call_capacity ? k->call_capacity * 2 : 64;
        alk_call_fixup *fresh = a->alloc(a->user, capacity * sizeof *fresh);
        if (!fresh) {
            k->code.failed = true;
            return;
        }
        if (k->calls) {
            alk_memcpy(fresh, k->calls, k->call_count * sizeof *fresh);
            a->free(a->user, k->calls);
        }
        k->calls = fresh;
        k->call_capacity = capacity;
    }
    k->calls[k->call_count++] = (alk_call_fixup){ at, callee };
}

static void compile_chunk(void *argument)
{
    alk_chunk *k = argument;
    const alk_module *module = k->module;
    const alk_allocator *a = &module->allocator;
    alk_code_init(&k->code, a);
    if (k->options->source_lines && !(k->lines = alk_lines_new(a))) {
        k->error = alk_fail(&k->diag, ALK_E_OUT_OF_MEMORY, 0, ALK_NO_FUNCTION, "");
        return;
    }
    uint32_t count = k->end - k->first;
    k->starts = a->alloc(a->user, (count ? count : 1) * sizeof *k->starts);
    if (!k->starts) {
        k->error = alk_fail(&k->diag, ALK_E_OUT_OF_MEMORY, 0, ALK_NO_FUNCTION, "");
        return;
    }
    uint64_t bytes = 0;
    for (uint32_t i = k->first; i < k->end; i++) {
        const alk_function *f = &module->functions[module->imported_function_count + i];
        bytes += f->body_end - f->body_offset;
    }
    /* one allocation, not log2(n) */
    uint64_t estimate = k->target->code_per_wasm_byte * bytes + 4096;
    alk_code_reserve(&k->code, estimate > (1u << 30) ? (1u << 30) : (uint32_t)estimate);
    k->target->compile_chunk(k);
    alk_code_align(&k->code, 16, k->target->fill);
    if (!k->error && k->code.failed)
        k->error = alk_fail(&k->diag, ALK_E_OUT_OF_MEMORY, 0, ALK_NO_FUNCTION, "");
}

static void free_chunk(alk_chunk *k)
{
    const alk_allocator *a = &k->module->allocator;
    alk_code_free(&k->code);
    a->free(a->user, k->starts);
    a->free(a->user, k->calls);
    alk_lines_free(k->lines);
    alk_local_weights_free(&k->weights);
}

/* Lays the chunks end to end in `code` (mapped bytes, pre-filled), records each function's
 * place, and patches every direct call. */
static void link(const alk_singlepass *target, const alk_module *module, alk_chunk *parts,
                 unsigned chunks, const uint32_t *base, uint8_t *code,
                 alk_compiled_function *functions)
{
    for (unsigned c = 0; c < chunks; c++) {
        alk_chunk *k = &parts[c];
        alk_memcpy(code + base[c], k->code.bytes, k->code.size);
        for (uint32_t i = k->first; i < k->end; i++) {
            uint32_t start = base[c] + k->starts[i - k->first];
            uint32_t end = i + 1 < k->end ? base[c] + k->starts[i + 1 - k->first]
                                          : base[c] + k->code.size;
            functions[i] = (alk_compiled_function){ start, end - start };
        }
    }
    for (unsigned c = 0; c < chunks; c++) {
        alk_chunk *k = &parts[c];
        for (uint32_t i = 0; i < k->call_count; i++) {
            uint32_t callee = k->calls[i].callee - module->imported_function_count;
            target->patch_call(code, base[c] + k->calls[i].at,
                               functions[callee].offset + target->internal_entry);
        }
    }
}

int alk_singlepass_compile(const alk_singlepass *target, const alk_module *module,
                           const alk_compile_options *options, alk_compiled *out, alk_diag *diag)
{
    int unsupported = alk_check_no_v128(module, diag);
    if (unsupported)
        return unsupported;
    const alk_allocator *a = &module->allocator;
    uint32_t defined = module->function_count - module->imported_function_count;
    uint32_t starts[ALK_MAX_PARTS + 1];
    unsigned chunks = alk_split_functions(module, options, starts);
    alk_chunk parts[ALK_MAX_PARTS];
    void *arguments[ALK_MAX_PARTS];
    alk_memset(parts, 0, sizeof parts);
    for (unsigned c = 0; c < chunks; c++) {
        parts[c] = (alk_chunk){ .target = target, .module = module, .options = options,
                                .layout = &out->layout, .first = starts[c], .end = starts[c + 1] };
        arguments[c] = &parts[c];
    }
    if (chunks > 1)
        options->run_parallel(options->parallel_user, compile_chunk, arguments, chunks);
    else
        compile_chunk(&parts[0]);

    int error = 0;
    for (unsigned c = 0; c < chunks && !error; c++) {
        if (parts[c].error) {
            error = parts[c].error;
            *diag = parts[c].diag;
        }
    }
    uint32_t *base = NULL;
    uint8_t *code = NULL;
    uint64_t size = 0;
    if (!error) {
        base = a->alloc(a->user, chunks * sizeof *base);
        out->functions = a->alloc(a->user, (defined ? defined : 1) * sizeof *out->functions);
        for (unsigned c = 0; c < chunks; c++) {
            if (base)
                base[c] = (uint32_t)size;
            size += parts[c].code.size;
        }
        uint64_t mapped = (size + 4095) & ~4095ull;
        if (!mapped)
            mapped = 4096;
        if (mapped > target->max_code)
            error = alk_fail(diag, ALK_E_MODULE_TOO_LARGE, 0, ALK_NO_FUNCTION, "%s",
                             target->too_large);
        else if (!base || !out->functions || !(code = a->alloc(a->user, mapped)))
            error = alk_fail(diag, ALK_E_OUT_OF_MEMORY, 0, ALK_NO_FUNCTION, "");
        else {
            alk_memset(code, target->fill, mapped);
            link(target, module, parts, chunks, base, code, out->functions);
            for (unsigned c = 0; c < chunks && !error; c++)
                if (!alk_lines_append(parts[c].lines, base[c], &out->pcs, &out->pc_count, a))
                    error = alk_fail(diag, ALK_E_OUT_OF_MEMORY, 0, ALK_NO_FUNCTION, "");
            size = mapped;
        }
    }
    for (unsigned c = 0; c < chunks; c++)
        free_chunk(&parts[c]);
    a->free(a->user, base);
    if (error) {
        a->free(a->user, code);
        a->free(a->user, out->functions);
        out->functions = NULL;
        return error;
    }
    out->code = code;
    out->code_size = (uint32_t)size;
    return ALK_OK;
}
