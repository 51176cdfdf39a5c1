/*
 * The Alkahest runtime core's platform inside the kernel: linear memories are virtual
 * reservations (ath_vm_reserve) backed page by page as they grow, signatures get canonical ids,
 * a trap unwinds to the entry frame of the running task only, and in guard mode a page fault
 * taken by a module's code inside its own memory reservation becomes that module's
 * out-of-bounds trap (a divide error in its code, its divide trap).
 */
#include "loader.h"

#define TYPE_IDS_MAX 512

/* ---- Allocation and memories -------------------------------------------------------------- */
static void *platform_alloc(void *user, size_t size)
{
    (void)user;
    return ath_alloc(size);
}

static void platform_free(void *user, void *ptr)
{
    (void)user;
    ath_free(ptr);
}

/*
 * Recycling a memory across a restart. A restart frees an instance and at once makes a new one
 * of the same module (module.c brackets the two with ath_wasm_recycle). Rather than unmapping
 * the old linear memory's reservation page by page and mapping a new one, the platform keeps it
 * and hands it to the new instance: pages beyond the new initial size are unmapped (in guard
 * mode an access there must fault), pages written since they were last zeroed — the CPU's
 * dirty bit says which — are zeroed, missing ones are mapped fresh. The new memory is zero
 * everywhere, as a fresh one; only what the module touched is paid for.
 */
static struct {
    bool armed, held;
    uintptr_t base;
    uint64_t reserve, mapped;
} recycle;

static int reuse(alk_memory *m, uint64_t size)
{
    uintptr_t base = recycle.base;
    uint64_t mapped = recycle.mapped;
    recycle.held = false;
    if (mapped > size) {
        ath_vm_unmap(base + size, mapped - size);
        mapped = size;
    }
    for (uint64_t at = 0; at < mapped; at += ATH_PAGE_SIZE) {
        if (ath_arch_take_dirty(base + at)) {
            memset((void *)(base + at), 0, ATH_PAGE_SIZE);
            ath_arch_take_dirty(base + at);
        }
    }
    if (size > mapped && ath_vm_map_fresh(base + mapped, size - mapped,
                                          ATH_VM_READ | ATH_VM_WRITE) != ATH_OK) {
        ath_vm_release(base);
        return -1;
    }
    m->base = (uint8_t *)base;
    return 0;
}

void ath_wasm_recycle(bool on)
{
    if (!on && recycle.held)
        ath_vm_release(recycle.base);
    recycle.armed = on;
    recycle.held = false;
}

static int memory_map(void *user, alk_memory *m, uint64_t reserve, uint64_t size)
{
    (void)user;
    if (reserve == 0)
        reserve = ATH_PAGE_SIZE;
    if (recycle.held && recycle.reserve == reserve)
        return reuse(m, size);
    uintptr_t base = ath_vm_reserve((size_t)reserve);
    if (!base)
        return -1;
    if (size && ath_vm_map_fresh(base, (size_t)size, ATH_VM_READ | ATH_VM_WRITE) != ATH_OK) {
        ath_vm_release(base);
        return -1;
    }
    m->base = (uint8_t *)base;
    return 0;
}

static int memory_grow(void *user, alk_memory *m, uint64_t new_size)
{
    (void)user;
    if (new_size <= m->size)
        return 0;
    return ath_vm_map_fresh((uintptr_t)m->base + m->size, (size_t)(new_size - m->size),
                            ATH_VM_READ | ATH_VM_WRITE) == ATH_OK ? 0 : -1;
}

static void memory_unmap(void *user, alk_memory *m)
{
    (void)user;
    if (recycle.armed && !recycle.held) {
        recycle.held = true;
        recycle.base = (uintptr_t)m->base;
        recycle.reserve = m->reserved;
        recycle.mapped = m->size;
        return;
    }
    ath_vm_release((uintptr_t)m->base);
}

/* ---- Signatures ------------------------------------------------------------------------------ */
static struct { const char *text; uint32_t length; } signatures[TYPE_IDS_MAX];
static uint32_t signature_count;

static uint32_t type_id(void *user, const char *text, uint32_t length)
{
    (void)user;
    for (uint32_t i = 0; i < signature_count; i++)
        if (signatures[i].length == length && !memcmp(signatures[i].text, text, length))
            return i;
    if (signature_count == TYPE_IDS_MAX)
        ath_panic("more than %d distinct function signatures", TYPE_IDS_MAX);
    /* the text lives in the image or in the kernel: it outlives the table */
    signatures[signature_count].text = text;
    signatures[signature_count].length = length;
    return signature_count++;
}

/* ---- Traps ------------------------------------------------------------------------------------- */
/* vmctx->trap_handler: records where and unwinds the running task to its entry frame. */
static ATH_NORETURN void trap(void *vmctx, uint32_t code)
{
    uint64_t now = ath_arch_cycles();
    struct ath_task *task = ath_task_current();
    if (!task || !task->instantiated || task->instance.vmctx != vmctx)
        ath_panic("trap %u (%s) outside the running module", code, ath_trap_name(code));
    task->steps[ATH_STEP_TRAP] = now;
    task->trap_code = code;
    task->trap_pc = (uintptr_t)__builtin_return_address(0);
    ath_module_record_frames(task, *(const uintptr_t *)__builtin_frame_address(0));
    ath_trace(ATH_TRACE_TRAP, task->index, code, task->trap_pc);
    alk_unwind(&task->entry, code);
}

const alk_platform ath_wasm_platform = {
    platform_alloc, platform_free, memory_map, memory_grow, memory_unmap, type_id, trap, NULL,
};

const char *ath_trap_name(uint32_t code)
{
    switch (code) {
#define NAME(name, number, text) case number: return text;
        ALK_TRAPS(NAME)
#undef NAME
    default:
        return "unknown trap";
    }
}

/* A fault by the running module's code that the module's own semantics explain: a page fault
 * inside its memory reservation (guard mode) or a divide error. Resume in the trap handler as
 * if the faulting instruction had called it, with the module's vmctx (r15, docs/abi.md). */
static bool module_fault(struct ath_trap_frame *frame)
{
    struct ath_task *task = ath_task_current();
    if (!task || !task->instantiated)
        return false;
    const struct ath_code_region *region = ath_code_region_find(ath_trap_pc(frame));
    const uint8_t *code = task->instance.code;
    if (!region || region->start != (uintptr_t)code || frame->r15 != (uintptr_t)task->instance.vmctx)
        return false;
    uint32_t trap_code;
    enum ath_trap_kind kind = ath_trap_kind(frame);
    if (kind == ATH_TRAP_PAGE_FAULT) {
        const alk_memory *m = task->instance.memory;
        uintptr_t address = ath_trap_fault_address(frame);
        if (!m || !m->guard || address < (uintptr_t)m->base ||
            address - (uintptr_t)m->base >= m->reserved)
            return false;
        trap_code = ALK_TRAP_MEMORY_OUT_OF_BOUNDS;
    } else if (kind == ATH_TRAP_DIVIDE) {
        trap_code = ALK_TRAP_DIVIDE_BY_ZERO;
    } else {
        return false;
    }
    frame->rsp -= 8;
    *(uint64_t *)(uintptr_t)frame->rsp = frame->rip;
    frame->rdi = frame->r15;
    frame->rsi = trap_code;
    frame->rip = (uint64_t)(uintptr_t)trap;
    return true;
}

void ath_wasm_install_fault_hook(void)
{
    ath_fault_hook = module_fault;
}

/* ---- Calls ------------------------------------------------------------------------------------- */
uint32_t ath_wasm_invoke(struct ath_task *task, uint32_t function)
{
    uint64_t results[16];
    return alk_invoke(&task->instance, function, NULL, results, &task->entry);
}
