/*
 * The builtins that compiled code calls through vmctx->builtins (docs/abi.md): memory and
 * table operations with their bounds rules (exec/instructions.rst). Each checks everything
 * before it writes anything, and traps through the platform's trap handler.
 */
#include "runtime.h"

static alk_instance *instance(void *vmctx) { return alk_instance_of(vmctx); }

static _Noreturn void trap(void *vmctx, uint32_t code)
{
    instance(vmctx)->platform->trap(vmctx, code);
    for (;;) {
    }
}

/* Between chunks of a long operation, where it holds nothing: the embedder may run other work. */
static void preempt(const alk_platform *p)
{
    if (p->preempt)
        p->preempt(p->user);
}

/* memmove in chunks of ALK_RT_CHUNK bytes, each chunk in the direction that keeps an
 * overlapping source intact. */
static void copy_bytes(const alk_platform *p, uint8_t *dst, const uint8_t *src, uint64_t n)
{
    uint64_t done = 0;
    while (done < n) {
        uint64_t k = n - done < ALK_RT_CHUNK ? n - done : ALK_RT_CHUNK;
        if (dst < src) {
            for (uint64_t i = done; i < done + k; i++)
                dst[i] = src[i];
        } else {
            for (uint64_t i = n - done; i > n - done - k; i--)
                dst[i - 1] = src[i - 1];
        }
        done += k;
        if (done < n)
            preempt(p);
    }
}

static int32_t memory_grow(void *vmctx, uint32_t delta)
{
    alk_instance *inst = instance(vmctx);
    alk_memory *m = inst->memory;
    uint64_t pages = m->size / ALK_PAGE;
    if (delta == 0)
        return (int32_t)pages;
    if (pages + delta > m->max_pages)
        return -1;
    uint64_t new_size = (pages + delta) * ALK_PAGE;
    if (new_size > m->reserved || inst->platform->memory_grow(inst->platform->user, m, new_size))
        return -1;
    m->size = new_size;
    for (uint32_t i = 0; i < m->user_count; i++)
        rt_store64((uint8_t *)m->users[i] + ALK_VMCTX_MEMORY_SIZE, new_size);
    return (int32_t)pages;
}

static void memory_fill(void *vmctx, uint32_t d, uint32_t value, uint32_t n)
{
    alk_memory *m = instance(vmctx)->memory;
    if ((uint64_t)d + n > m->size)
        trap(vmctx, ALK_TRAP_MEMORY_OUT_OF_BOUNDS);
    for (uint64_t done = 0; done < n;) {
        uint64_t k = n - done < ALK_RT_CHUNK ? n - done : ALK_RT_CHUNK;
        for (uint64_t i = done; i < done + k; i++)
            m->base[d + i] = (uint8_t)value;
        done += k;
        if (done < n)
            preempt(instance(vmctx)->platform);
    }
}

static void memory_copy(void *vmctx, uint32_t d, uint32_t s, uint32_t n)
{
    alk_memory *m = instance(vmctx)->memory;
    if ((uint64_t)d + n > m->size || (uint64_t)s + n > m->size)
        trap(vmctx, ALK_TRAP_MEMORY_OUT_OF_BOUNDS);
    copy_bytes(instance(vmctx)->platform, m->base + d, m->base + s, n);
}

uint32_t alk_rt_memory_init(alk_instance *inst, uint32_t segment, uint32_t d, uint32_t s,
                            uint32_t n)
{
    alk_object_data seg = alk_object_data_at(inst->object, segment);
    uint32_t size = inst->dropped_data[segment] ? 0 : seg.size;
    alk_memory *m = inst->memory;
    if ((uint64_t)s + n > size || !m || (uint64_t)d + n > m->size)
        return ALK_TRAP_MEMORY_OUT_OF_BOUNDS;
    copy_bytes(inst->platform, m->base + d, seg.bytes + s, n);
    return 0;
}

static void memory_init(void *vmctx, uint32_t segment, uint32_t d, uint32_t s, uint32_t n)
{
    uint32_t code = alk_rt_memory_init(instance(vmctx), segment, d, s, n);
    if (code)
        trap(vmctx, code);
}

static void data_drop(void *vmctx, uint32_t segment)
{
    instance(vmctx)->dropped_data[segment] = 1;
}

static int32_t table_grow(void *vmctx, uint32_t index, uint64_t init, uint32_t delta)
{
    alk_instance *inst = instance(vmctx);
    alk_table *t = inst->tables[index];
    uint32_t old = t->size;
    uint64_t size = (uint64_t)old + delta;
    if (size > t->max || size > ALK_RT_MAX_TABLE)
        return -1;
    if (size > t->capacity) {
        const alk_platform *p = inst->platform;
        uint64_t capacity = t->capacity ? t->capacity : 8;
        while (capacity < size)
            capacity *= 2;
        if (capacity > ALK_RT_MAX_TABLE)
            capacity = ALK_RT_MAX_TABLE;
        uint64_t *entries = p->alloc(p->user, (size_t)capacity * sizeof *entries);
        if (!entries)
            return -1;
        for (uint32_t i = 0; i < old; i++)
            entries[i] = t->entries[i];
        p->free(p->user, t->entries);
        t->entries = entries;
        t->capacity = (uint32_t)capacity;
    }
    for (uint64_t i = old; i < size; i++)
        t->entries[i] = init;
    t->size = (uint32_t)size;
    return (int32_t)old;
}

static void table_fill(void *vmctx, uint32_t index, uint32_t i, uint64_t value, uint32_t n)
{
    alk_table *t = instance(vmctx)->tables[index];
    if ((uint64_t)i + n > t->size)
        trap(vmctx, ALK_TRAP_TABLE_OUT_OF_BOUNDS);
    for (uint32_t k = 0; k < n; k++) {
        t->entries[i + k] = value;
        if (k % (ALK_RT_CHUNK / 8) == ALK_RT_CHUNK / 8 - 1 && k + 1 < n)
            preempt(instance(vmctx)->platform);
    }
}

static void table_copy(void *vmctx, uint32_t dst, uint32_t src, uint32_t d, uint32_t s, uint32_t n)
{
    alk_instance *inst = instance(vmctx);
    alk_table *to = inst->tables[dst], *from = inst->tables[src];
    if ((uint64_t)d + n > to->size || (uint64_t)s + n > from->size)
        trap(vmctx, ALK_TRAP_TABLE_OUT_OF_BOUNDS);
    copy_bytes(inst->platform, (uint8_t *)(to->entries + d), (const uint8_t *)(from->entries + s),
               (uint64_t)n * sizeof(uint64_t));
}

uint32_t alk_rt_table_init(alk_instance *inst, uint32_t index, uint32_t segment, uint32_t d,
                           uint32_t s, uint32_t n)
{
    alk_object_element seg = alk_object_element_at(inst->object, segment);
    uint32_t size = inst->dropped_elements[segment] ? 0 : seg.item_count;
    alk_table *t = inst->tables[index];
    if ((uint64_t)s + n > size || (uint64_t)d + n > t->size)
        return ALK_TRAP_TABLE_OUT_OF_BOUNDS;
    for (uint32_t k = 0; k < n; k++) {
        alk_constant item = alk_object_item_at(inst->object, seg.first_item + s + k);
        uint64_t high;
        t->entries[d + k] = alk_rt_constant(inst, &item, &high);
        if (k % (ALK_RT_CHUNK / 8) == ALK_RT_CHUNK / 8 - 1 && k + 1 < n)
            preempt(inst->platform);
    }
    return 0;
}

static void table_init(void *vmctx, uint32_t index, uint32_t segment, uint32_t d, uint32_t s,
                       uint32_t n)
{
    uint32_t code = alk_rt_table_init(instance(vmctx), index, segment, d, s, n);
    if (code)
        trap(vmctx, code);
}

static void elem_drop(void *vmctx, uint32_t segment)
{
    instance(vmctx)->dropped_elements[segment] = 1;
}

const void *const alk_builtins[ALK_BUILTIN_COUNT] = {
    [ALK_BUILTIN_MEMORY_GROW] = (const void *)memory_grow,
    [ALK_BUILTIN_MEMORY_FILL] = (const void *)memory_fill,
    [ALK_BUILTIN_MEMORY_COPY] = (const void *)memory_copy,
    [ALK_BUILTIN_MEMORY_INIT] = (const void *)memory_init,
    [ALK_BUILTIN_DATA_DROP] = (const void *)data_drop,
    [ALK_BUILTIN_TABLE_GROW] = (const void *)table_grow,
    [ALK_BUILTIN_TABLE_FILL] = (const void *)table_fill,
    [ALK_BUILTIN_TABLE_COPY] = (const void *)table_copy,
    [ALK_BUILTIN_TABLE_INIT] = (const void *)table_init,
    [ALK_BUILTIN_ELEM_DROP] = (const void *)elem_drop,
};
