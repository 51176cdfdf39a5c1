/*
 * Splitting a module's defined functions into tasks that may run at the same time (validation
 * of bodies, code generation): contiguous ranges in index order, of about equal code size.
 * The split depends only on the module and the options, so that whatever runs in parallel
 * produces the same result as one task would.
 */
#include "alk_internal.h"

unsigned alk_split_functions(const alk_module *module, const alk_compile_options *options,
                             uint32_t starts[ALK_MAX_PARTS + 1])
{
    uint32_t first = module->imported_function_count;
    uint32_t count = module->function_count - first;
    unsigned parts = options && options->run_parallel && options->parallelism > 1
                         ? options->parallelism : 1;
    if (parts > ALK_MAX_PARTS)
        parts = ALK_MAX_PARTS;
    if (parts > count)
        parts = count ? count : 1;
    uint64_t total = 0, so_far = 0;
    for (uint32_t i = 0; i < count; i++)
        total += module->functions[first + i].body_end - module->functions[first + i].body_offset;
    uint32_t next = 0;
    for (unsigned p = 0; p < parts; p++) {
        starts[p] = next;
        uint64_t goal = total * (p + 1) / parts;
        while (next < count && (so_far < goal || p == parts - 1)) {
            so_far += module->functions[first + next].body_end -
                      module->functions[first + next].body_offset;
            next++;
        }
    }
    starts[parts] = next;
    return parts;
}
