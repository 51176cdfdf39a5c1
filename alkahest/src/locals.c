/*
 * What a single-pass back end must know about a function before it emits the prologue, found
 * in one walk over the validated body:
 *
 *   - which locals it uses most, to keep in registers for the whole function: every local.get,
 *     local.set and local.tee counts, weighted by the loops around it (4 per loop, at most 4^5),
 *     so that a local used in an inner loop outweighs one used a few times outside;
 *   - the stack its calls need for their stack arguments and extra results (a back end that
 *     addresses its frame from the stack pointer lays its slots out above that area).
 *
 * Functions that declare very many locals in a short body (more than 1024, and more than 16 per
 * byte of code) are counted by their parameters only, which bounds the scratch memory by the
 * body's size rather than by the declared count.
 */
#include "compile.h"

/* Makes room for n elements of `size` bytes in *array. */
static bool reserve(const alk_allocator *a, void **array, uint32_t *capacity, uint64_t n,
                    size_t size)
{
    if (n <= *capacity)
        return true;
    uint64_t fresh_capacity = *capacity ? *capacity : 64;
    while (fresh_capacity < n)
        fresh_capacity *= 2;
    void *fresh = a->alloc(a->user, (size_t)(fresh_capacity * size));
    if (!fresh)
        return false;
    a->free(a->user, *array);
    *array = fresh;
    *capacity = (uint32_t)fresh_capacity;
    return true;
}

static bool grow_nesting(const alk_allocator *a, alk_local_weights *s, uint32_t depth)
{
    if (depth < s->nesting_capacity)
        return true;
    uint32_t fresh_capacity = s->nesting_capacity ? s->nesting_capacity * 2 : 64;
    uint8_t *fresh = a->alloc(a->user, fresh_capacity);
    if (!fresh)
        return false;
    if (s->nesting)
        alk_memcpy(fresh, s->nesting, depth);
    a->free(a->user, s->nesting);
    s->nesting = fresh;
    s->nesting_capacity = fresh_capacity;
    return true;
}

void alk_local_weights_free(alk_local_weights *scratch)
{
    const alk_allocator *a = scratch->allocator;
    if (!a)
        return;
    a->free(a->user, scratch->weights);
    a->free(a->user, scratch->nesting);
    scratch->weights = NULL;
    scratch->nesting = NULL;
    scratch->weight_capacity = scratch->nesting_capacity = 0;
}

/* The heaviest locals of one class, heaviest first (the lower index first among equals). */
static uint32_t heaviest(const uint32_t *weights, uint32_t count_locals,
                         const alk_function *function, const alk_functype *type, bool floats,
                         uint32_t max, uint32_t *hot)
{
    uint32_t count = 0;
    uint32_t group = 0, group_left = 0;   /* walking the declared groups alongside i */
    for (uint32_t i = 0; i < count_locals; i++) {
        alk_valtype t;
        if (i < type->param_count) {
            t = type->params[i];
        } else {
            while (group_left == 0 && group < function->local_group_count)
                group_left = function->local_groups[group++].count;
            group_left--;
            t = function->local_groups[group - 1].type;
        }
        bool is_float = t == ALK_F32 || t == ALK_F64;
        if (t == ALK_V128 || is_float != floats || weights[i] < 2)
            continue;
        uint32_t at = count < max ? count++ : max;
        while (at > 0 && weights[hot[at - 1]] < weights[i]) {
            if (at < max)
                hot[at] = hot[at - 1];
            at--;
        }
        if (at < max)
            hot[at] = i;
    }
    return count;
}

/* Bytes of a call's stack arguments (past the argument registers) and extra results. */
static uint32_t call_area(const alk_functype *type, const alk_scan_limits *limits)
{
    uint32_t integers = 0, floats = 0, stack = 0;
    for (uint32_t i = 0; i < type->param_count; i++) {
        alk_valtype t = type->params[i];
        if (t == ALK_F32 || t == ALK_F64)
            stack += floats++ >= limits->float_arguments;
        else
            stack += integers++ >= limits->integer_arguments;
    }
    return 8 * (stack + (type->result_count > 1 ? type->result_count - 1 : 0));
}

int alk_scan_function(const alk_module *module, uint32_t index, const alk_scan_limits *limits,
                      alk_local_weights *scratch, alk_function_scan *out)
{
    uint32_t max_integers = limits->hot_integers, max_floats = limits->hot_floats;
    const alk_allocator *a = &module->allocator;
    scratch->allocator = a;
    const alk_function *function = &module->functions[index];
    const alk_functype *type = &module->types[function->type_index];
    uint32_t body = function->body_end - function->code_offset;
    bool dense = function->local_count <= 1024 || function->local_count <= 16ull * body;
    uint32_t counted = dense ? type->param_count + function->local_count : type->param_count;
    out->integer_count = out->float_count = 0;
    out->call_area = 0;
    if (!reserve(a, (void **)&scratch->weights, &scratch->weight_capacity, counted ? counted : 1,
                 sizeof(uint32_t)) || !grow_nesting(a, scratch, 0))
        return ALK_E_OUT_OF_MEMORY;
    uint32_t *weights = scratch->weights;
    alk_memset(weights, 0, (size_t)counted * sizeof(uint32_t));

    /* nesting[d]: whether the block at depth d is a loop (depth 0: the function's body) */
    uint32_t depth = 1, loops = 0;
    scratch->nesting[0] = 0;
    alk_reader reader = { module->bytes, module->bytes + function->code_offset,
                          module->bytes + function->body_end };
    while (depth > 0) {
        alk_instr in;
        if (alk_read_instr(&reader, &in, NULL))
            return ALK_E_INTERNAL;           /* validated: cannot happen */
        switch (in.op) {
        case ALK_OP_BLOCK:
        case ALK_OP_LOOP:
        case ALK_OP_IF:
            if (!grow_nesting(a, scratch, depth))
                return ALK_E_OUT_OF_MEMORY;
            scratch->nesting[depth++] = in.op == ALK_OP_LOOP;
            loops += in.op == ALK_OP_LOOP;
            break;
        case ALK_OP_END:
            loops -= scratch->nesting[--depth];
            break;
        case ALK_OP_CALL:
        case ALK_OP_CALL_INDIRECT: {
            const alk_functype *callee = in.op == ALK_OP_CALL
                ? alk_function_type(module, in.imm.index)
                : &module->types[in.imm.call_indirect.type_index];
            uint32_t bytes = call_area(callee, limits);
            if (bytes > out->call_area)
                out->call_area = bytes;
            break;
        }
        case ALK_OP_LOCAL_GET:
        case ALK_OP_LOCAL_SET:
        case ALK_OP_LOCAL_TEE:
            if (in.imm.index < counted) {
                uint32_t add = 1u << (loops < 5 ? 2 * loops : 10);
                weights[in.imm.index] = weights[in.imm.index] > UINT32_MAX - add
                                            ? UINT32_MAX : weights[in.imm.index] + add;
            }
            break;
        default:
            break;
        }
    }
    if (max_integers > ALK_HOT_LOCALS_MAX)
        max_integers = ALK_HOT_LOCALS_MAX;
    if (max_floats > ALK_HOT_LOCALS_MAX)
        max_floats = ALK_HOT_LOCALS_MAX;
    out->integer_count = heaviest(weights, counted, function, type, false, max_integers,
                                  out->integers);
    out->float_count = heaviest(weights, counted, function, type, true, max_floats, out->floats);
    return ALK_OK;
}
