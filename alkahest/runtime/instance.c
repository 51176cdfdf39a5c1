/*
 * Instantiation (exec/modules.rst, "Instantiation") from an object: check the imports, build the
 * vmctx (docs/abi.md), create memory and tables, initialise globals, then apply the element and
 * data segments in order. Validate fully, then act: every import is checked before anything is
 * allocated; a segment that does not fit traps after the earlier ones took effect, as the spec
 * says (they may be shared with other instances).
 */
#include "runtime.h"

static void *zalloc(const alk_platform *p, size_t size)
{
    uint8_t *block = p->alloc(p->user, size ? size : 1);
    if (block)
        for (size_t i = 0; i < size; i++)
            block[i] = 0;
    return block;
}

static alk_instantiate_result failure(int status, uint32_t trap, const char *message)
{
    alk_instantiate_result r = { status, trap, { 0 } };
    size_t i = 0;
    for (; message[i] && i + 1 < sizeof r.message; i++)
        r.message[i] = message[i];
    r.message[i] = 0;
    return r;
}

/* Limits subtyping (valid/types.rst, "Import subtyping"). */
static bool limits_match(uint32_t size, bool has_max, uint32_t max, uint32_t want_min,
                         bool want_has_max, uint32_t want_max)
{
    if (size < want_min)
        return false;
    if (want_has_max && (!has_max || max > want_max))
        return false;
    return true;
}

static const char *check_imports(const alk_object *o, const alk_platform *p, const alk_extern *imports)
{
    uint32_t count = alk_object_count(o, ALK_SECTION_IMPORTS);
    for (uint32_t i = 0; i < count; i++) {
        alk_object_import imp = alk_object_import_at(o, i);
        const alk_extern *e = &imports[i];
        if (e->kind != imp.kind)
            return "incompatible import type";
        switch (imp.kind) {
        case 0: {
            alk_str sig = alk_object_type(o, imp.index);
            if (e->as.function.type_id != p->type_id(p->user, sig.bytes, sig.length))
                return "incompatible import type";
            break;
        }
        case 1: {
            const alk_table *t = e->as.table;
            if (t->element != imp.value_type ||
                !limits_match(t->size, t->has_max, t->max, imp.min, imp.has_max, imp.max))
                return "incompatible import type";
            break;
        }
        case 2: {
            const alk_memory *m = e->as.memory;
            /* guard-mode code does no checks: it needs the whole reservation behind the base */
            if ((o->flags & 1) && !m->guard)
                return "incompatible import type: memory without a guard reservation";
            if (!limits_match((uint32_t)(m->size / ALK_PAGE), m->has_max, m->declared_max,
                              imp.min, imp.has_max, imp.max))
                return "incompatible import type";
            break;
        }
        case 3:
            if (e->as.global.type != imp.value_type || e->as.global.is_mutable != imp.is_mutable)
                return "incompatible import type";
            break;
        default:
            return "unknown import kind";
        }
    }
    return NULL;
}

bool alk_rt_memory_add_user(const alk_platform *p, alk_memory *m, void *vmctx)
{
    if (m->user_count == m->user_capacity) {
        uint32_t capacity = m->user_capacity ? m->user_capacity * 2 : 4;
        void **users = p->alloc(p->user, capacity * sizeof *users);
        if (!users)
            return false;
        for (uint32_t i = 0; i < m->user_count; i++)
            users[i] = m->users[i];
        p->free(p->user, m->users);
        m->users = users;
        m->user_capacity = capacity;
    }
    m->users[m->user_count++] = vmctx;
    rt_store64((uint8_t *)vmctx + ALK_VMCTX_MEMORY_BASE, (uint64_t)(uintptr_t)m->base);
    rt_store64((uint8_t *)vmctx + ALK_VMCTX_MEMORY_SIZE, m->size);
    return true;
}

static void memory_remove_user(alk_memory *m, void *vmctx)
{
    for (uint32_t i = 0; i < m->user_count; i++) {
        if (m->users[i] == vmctx) {
            m->users[i] = m->users[--m->user_count];
            return;
        }
    }
}

uint64_t alk_rt_constant(alk_instance *instance, const alk_constant *c, uint64_t *high)
{
    *high = c->bits[1];
    switch (c->kind) {
    case 5:  /* ref.null */
        return 0;
    case 6:  /* ref.func */
        return (uint64_t)(uintptr_t)(instance->vmctx + instance->object->vmctx_function_refs +
                                     (size_t)c->index * ALK_FUNCREF_SIZE);
    case 7: { /* global.get */
        const uint8_t *slot = rt_global_slot(instance, c->index);
        *high = rt_load64(slot + 8);
        return rt_load64(slot);
    }
    default:
        return c->bits[0];
    }
}

/* The most pages a defined memory may grow to (declared maximum capped by the embedder's
 * limit), and the address space memory_map reserves for it. */
static uint32_t max_pages(const alk_object_memory *decl, uint32_t memory_limit_pages)
{
    uint32_t max = decl->has_max ? decl->max : 65536u;
    return memory_limit_pages && max > memory_limit_pages ? memory_limit_pages : max;
}

static uint64_t reservation(const alk_object *o, uint32_t max)
{
    return (o->flags & 1) ? ALK_GUARD_RESERVATION : (uint64_t)max * ALK_PAGE;
}

bool alk_memory_plan(const alk_object *o, uint32_t memory_limit_pages, uint64_t *reserve,
                     uint64_t *initial)
{
    alk_object_memory decl;
    if (!alk_object_memory_of(o, &decl) || decl.imported)
        return false;
    *reserve = reservation(o, max_pages(&decl, memory_limit_pages));
    *initial = (uint64_t)decl.min * ALK_PAGE;
    return true;
}

static alk_instantiate_result create_memory(alk_instance *inst, const alk_object_memory *decl)
{
    const alk_platform *p = inst->platform;
    alk_memory *m = zalloc(p, sizeof *m);
    if (!m)
        return failure(ALK_INSTANTIATE_RESOURCE, 0, "out of memory");
    uint32_t max = max_pages(decl, inst->memory_limit_pages);
    if (decl->min > max) {
        p->free(p->user, m);
        return failure(ALK_INSTANTIATE_RESOURCE, 0, "initial memory exceeds the memory limit");
    }
    m->max_pages = max;
    m->has_max = decl->has_max;
    m->declared_max = decl->max;
    m->guard = inst->object->flags & 1;
    m->platform_data = inst->user;
    uint64_t reserve = reservation(inst->object, max);
    if (p->memory_map(p->user, m, reserve, (uint64_t)decl->min * ALK_PAGE)) {
        p->free(p->user, m);
        return failure(ALK_INSTANTIATE_RESOURCE, 0, "cannot reserve linear memory");
    }
    m->reserved = reserve;
    m->size = (uint64_t)decl->min * ALK_PAGE;
    inst->memory = m;
    inst->owns_memory = true;
    if (!alk_rt_memory_add_user(p, m, inst->vmctx))
        return failure(ALK_INSTANTIATE_RESOURCE, 0, "out of memory");
    return failure(ALK_INSTANTIATE_OK, 0, "");
}

alk_table *alk_table_new(const alk_platform *p, uint8_t element, uint32_t min, bool has_max,
                            uint32_t max)
{
    if (min > ALK_RT_MAX_TABLE)
        return NULL;
    alk_table *t = zalloc(p, sizeof *t);
    if (!t)
        return NULL;
    t->entries = zalloc(p, (size_t)min * sizeof(uint64_t));
    if (!t->entries) {
        p->free(p->user, t);
        return NULL;
    }
    t->size = t->capacity = min;
    t->max = has_max ? max : UINT32_MAX;
    t->has_max = has_max;
    t->element = element;
    return t;
}

void alk_rt_table_free(const alk_platform *p, alk_table *t)
{
    if (!t)
        return;
    p->free(p->user, t->entries);
    p->free(p->user, t);
}

alk_instantiate_result alk_instantiate(alk_instance *inst, const alk_object *o, const void *code,
                                       const alk_platform *p, const alk_extern *imports,
                                       uint32_t memory_limit_pages, void *user)
{
    for (size_t i = 0; i < sizeof *inst; i++)
        ((uint8_t *)inst)[i] = 0;
    const char *link_error = check_imports(o, p, imports);
    if (link_error)
        return failure(ALK_INSTANTIATE_LINK, 0, link_error);
    uint32_t tables = alk_object_count(o, ALK_SECTION_TABLES);
    uint32_t globals = alk_object_count(o, ALK_SECTION_GLOBALS);
    uint32_t types = alk_object_count(o, ALK_SECTION_TYPES);
    uint32_t elements = alk_object_count(o, ALK_SECTION_ELEMENTS);
    uint32_t datas = alk_object_count(o, ALK_SECTION_DATA);
    if ((uint64_t)o->vmctx_type_ids + 4ull * types > o->vmctx_size ||
        (uint64_t)o->vmctx_function_refs + (uint64_t)ALK_FUNCREF_SIZE * o->function_count > o->vmctx_size ||
        (uint64_t)o->vmctx_tables + 8ull * tables > o->vmctx_size ||
        (uint64_t)o->vmctx_globals + (uint64_t)ALK_GLOBAL_SLOT_SIZE * globals > o->vmctx_size)
        return failure(ALK_INSTANTIATE_MALFORMED, 0, "vmctx layout out of bounds");

    inst->object = o;
    inst->platform = p;
    inst->code = code;
    inst->memory_limit_pages = memory_limit_pages;
    inst->user = user;
    inst->vmctx_allocation = zalloc(p, o->vmctx_size + 15);
    inst->owned_tables = zalloc(p, tables);
    inst->dropped_data = zalloc(p, datas);
    inst->dropped_elements = zalloc(p, elements);
    if (!inst->vmctx_allocation || !inst->owned_tables || !inst->dropped_data ||
        !inst->dropped_elements) {
        alk_instance_free(inst);
        return failure(ALK_INSTANTIATE_RESOURCE, 0, "out of memory");
    }
    uint8_t *vm = (uint8_t *)(((uintptr_t)inst->vmctx_allocation + 15) & ~(uintptr_t)15);
    inst->vmctx = vm;
    inst->tables = (alk_table **)(vm + o->vmctx_tables);
    rt_store64(vm + ALK_VMCTX_TRAP_HANDLER,
               (uint64_t)(uintptr_t)(p->trap_entry ? p->trap_entry : (const void *)p->trap));
    rt_store64(vm + ALK_VMCTX_BUILTINS,
               (uint64_t)(uintptr_t)(p->builtin_entries ? p->builtin_entries : alk_builtins));
    rt_store64(vm + ALK_VMCTX_EMBEDDER, (uint64_t)(uintptr_t)inst);
    rt_store64(vm + ALK_VMCTX_STACK_LIMIT, UINT64_MAX);   /* the embedder sets it per call */

    for (uint32_t t = 0; t < types; t++) {
        alk_str sig = alk_object_type(o, t);
        rt_store32(vm + o->vmctx_type_ids + 4 * t, p->type_id(p->user, sig.bytes, sig.length));
    }

    /* Imports, in order, each into its kind's index space. */
    uint32_t function = 0, table = 0, global = 0;
    uint32_t import_count = alk_object_count(o, ALK_SECTION_IMPORTS);
    for (uint32_t i = 0; i < import_count; i++) {
        const alk_extern *e = &imports[i];
        switch (e->kind) {
        case 0: {
            alk_function_ref *ref = rt_function_ref(inst, function++);
            *ref = e->as.function;
            if (!ref->vmctx)
                ref->vmctx = vm;
            break;
        }
        case 1:
            inst->tables[table++] = e->as.table;
            break;
        case 2:
            inst->memory = e->as.memory;
            if (!alk_rt_memory_add_user(p, inst->memory, vm)) {
                inst->memory = NULL;
                alk_instance_free(inst);
                return failure(ALK_INSTANTIATE_RESOURCE, 0, "out of memory");
            }
            break;
        default: {
            uint8_t *slot = rt_global_slot(inst, global);
            if (e->as.global.is_mutable) {
                rt_store64(slot, (uint64_t)(uintptr_t)e->as.global.slot);
            } else {
                rt_store64(slot, rt_load64(e->as.global.slot));
                rt_store64(slot + 8, rt_load64(e->as.global.slot + 8));
            }
            global++;
            break;
        }
        }
    }
    /* Defined functions */
    for (uint32_t f = o->imported_function_count; f < o->function_count; f++) {
        alk_object_function def = alk_object_function_at(o, f - o->imported_function_count);
        alk_function_ref *ref = rt_function_ref(inst, f);
        ref->code = (const uint8_t *)code + def.offset;
        ref->vmctx = vm;
        ref->type_id = rt_load32(vm + o->vmctx_type_ids + 4 * def.type_index);
    }
    /* Defined tables */
    for (uint32_t t = table; t < tables; t++) {
        alk_object_table decl = alk_object_table_at(o, t);
        inst->tables[t] = alk_table_new(p, decl.element, decl.min, decl.has_max, decl.max);
        if (!inst->tables[t]) {
            alk_instance_free(inst);
            return failure(ALK_INSTANTIATE_RESOURCE, 0, "cannot create table");
        }
        inst->owned_tables[t] = 1;
    }
    /* Defined memory */
    alk_object_memory memory;
    if (alk_object_memory_of(o, &memory) && !memory.imported) {
        alk_instantiate_result r = create_memory(inst, &memory);
        if (r.status) {
            alk_instance_free(inst);
            return r;
        }
    }
    /* Defined globals, in order (an initialiser may read an imported global) */
    for (uint32_t g = global; g < globals; g++) {
        alk_object_global decl = alk_object_global_at(o, g);
        uint64_t high;
        uint64_t low = alk_rt_constant(inst, &decl.init, &high);
        uint8_t *slot = rt_global_slot(inst, g);
        rt_store64(slot, low);
        rt_store64(slot + 8, high);
    }
    /* Element segments, then data segments (exec/modules.rst) */
    for (uint32_t s = 0; s < elements; s++) {
        alk_object_element seg = alk_object_element_at(o, s);
        if (seg.mode == 0) {
            uint64_t high;
            uint32_t offset = (uint32_t)alk_rt_constant(inst, &seg.offset, &high);
            uint32_t trap = alk_rt_table_init(inst, seg.table, s, offset, 0, seg.item_count);
            if (trap)
                return failure(ALK_INSTANTIATE_TRAP, trap, "out of bounds table access");
        }
        if (seg.mode != 1)
            inst->dropped_elements[s] = 1;
    }
    for (uint32_t s = 0; s < datas; s++) {
        alk_object_data seg = alk_object_data_at(o, s);
        if (seg.mode != 0)
            continue;
        uint64_t high;
        uint32_t offset = (uint32_t)alk_rt_constant(inst, &seg.offset, &high);
        uint32_t trap = alk_rt_memory_init(inst, s, offset, 0, seg.size);
        if (trap)
            return failure(ALK_INSTANTIATE_TRAP, trap, "out of bounds memory access");
        inst->dropped_data[s] = 1;
    }
    return failure(ALK_INSTANTIATE_OK, 0, "");
}

void alk_instance_free(alk_instance *inst)
{
    const alk_platform *p = inst->platform;
    if (!p)
        return;
    if (inst->memory) {
        memory_remove_user(inst->memory, inst->vmctx);
        if (inst->owns_memory) {
            p->memory_unmap(p->user, inst->memory);
            p->free(p->user, inst->memory->users);
            p->free(p->user, inst->memory);
        }
    }
    if (inst->owned_tables && inst->tables)
        for (uint32_t t = 0; t < alk_object_count(inst->object, ALK_SECTION_TABLES); t++)
            if (inst->owned_tables[t])
                alk_rt_table_free(p, inst->tables[t]);
    p->free(p->user, inst->owned_tables);
    p->free(p->user, inst->dropped_data);
    p->free(p->user, inst->dropped_elements);
    p->free(p->user, inst->vmctx_allocation);
    inst->platform = NULL;
}

alk_extern alk_instance_export(alk_instance *inst, uint32_t kind, uint32_t index)
{
    alk_extern e = { .kind = (uint8_t)kind };
    switch (kind) {
    case 0:
        e.as.function = *rt_function_ref(inst, index);
        break;
    case 1:
        e.as.table = inst->tables[index];
        break;
    case 2:
        e.as.memory = inst->memory;
        break;
    default: {
        alk_object_global decl = alk_object_global_at(inst->object, index);
        uint8_t *slot = rt_global_slot(inst, index);
        if (decl.imported && decl.is_mutable)
            slot = (uint8_t *)(uintptr_t)rt_load64(slot);   /* the original's slot */
        e.as.global.slot = slot;
        e.as.global.type = decl.type;
        e.as.global.is_mutable = decl.is_mutable;
        break;
    }
    }
    return e;
}
