/*
 * Internals of the runtime core shared by its files.
 */
#ifndef ALK_RUNTIME_INTERNAL_H
#define ALK_RUNTIME_INTERNAL_H

#include "alkahest_runtime.h"

#define ALK_PAGE 65536u
#define ALK_RT_MAX_TABLE 10000000u   /* the same limit as the compiler's ALK_MAX_TABLE_SIZE */

static inline uint64_t rt_load64(const void *p) { return *(const uint64_t *)p; }
static inline uint32_t rt_load32(const void *p) { return *(const uint32_t *)p; }
static inline void rt_store64(void *p, uint64_t v) { *(uint64_t *)p = v; }
static inline void rt_store32(void *p, uint32_t v) { *(uint32_t *)p = v; }

static inline alk_function_ref *rt_function_ref(alk_instance *inst, uint32_t function)
{
    return (alk_function_ref *)(inst->vmctx + inst->object->vmctx_function_refs +
                                (size_t)function * ALK_FUNCREF_SIZE);
}

static inline uint8_t *rt_global_slot(alk_instance *inst, uint32_t global)
{
    return inst->vmctx + inst->object->vmctx_globals + (size_t)global * ALK_GLOBAL_SLOT_SIZE;
}

uint64_t alk_rt_constant(alk_instance *instance, const alk_constant *c, uint64_t *high);
bool alk_rt_memory_add_user(const alk_platform *p, alk_memory *m, void *vmctx);
void alk_rt_table_free(const alk_platform *p, alk_table *t);
/* entries[from, to) = value, a chunk at a time with the platform's preemption point between. */
void alk_rt_fill_entries(const alk_platform *p, uint64_t *entries, uint64_t from, uint64_t to,
                         uint64_t value);
/* table.init / memory.init semantics; return 0 or the trap code (nothing written on a trap). */
uint32_t alk_rt_table_init(alk_instance *inst, uint32_t table, uint32_t segment, uint32_t d,
                           uint32_t s, uint32_t n);
uint32_t alk_rt_memory_init(alk_instance *inst, uint32_t segment, uint32_t d, uint32_t s,
                            uint32_t n);

#endif
