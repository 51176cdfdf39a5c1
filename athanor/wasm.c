/*
 * The Alkahest runtime core's platform inside the kernel: linear memories are virtual
 * reservations (ath_vm_reserve) backed page by page as they grow, signatures get canonical ids,
 * a trap unwinds to the entry frame of the running task only, and in guard mode a page fault
 * taken by a module's code inside its own memory reservation becomes that module's
 * out-of-bounds trap (a divide error in its code, its divide trap).
 */
#include "kernel.h"

/* ---- Allocation --------------------------------------------------------------------------- */
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

/* ---- Memories --------------------------------------------------------------------------------
 *
 * A module's linear memory belongs to its task for the task's whole life: one reservation, made
 * at the first instantiation and lent to every instance after it (struct ath_task_memory). A
 * restart prepares it for the next instance beforehand, at a pace that lets others run
 * (ath_wasm_memory_prepare): pages beyond the new initial size are unmapped (in guard mode an
 * access there must fault), the pages the module wrote since they were last zeroed (the CPU's
 * dirty bit says which) are zeroed, missing ones mapped fresh. The new memory is zero
 * everywhere, as a fresh one; only what the module touched is paid for. Every step goes in
 * chunks with preemption points between them, and `mapped` is always what is mapped, so a
 * task stopped in the middle (a restart of its group) simply starts over.
 */
#define MEMORY_CHUNK (1u << 20)        /* bytes mapped, unmapped or scanned between preemptions */

static int map_chunked(struct ath_task_memory *tm, uint64_t size)
{
    while (tm->mapped < size) {
        uint64_t n = ATH_MIN(size - tm->mapped, (uint64_t)MEMORY_CHUNK);
        int error = ath_vm_map_fresh(tm->base + tm->mapped, (size_t)n, ATH_VM_READ | ATH_VM_WRITE);
        if (error)
            return error;
        tm->mapped += n;
        ath_sched_preempt_point();
    }
    return ATH_OK;
}

static void unmap_chunked(struct ath_task_memory *tm, uint64_t size)
{
    while (tm->mapped > size) {
        uint64_t n = ATH_MIN(tm->mapped - size, (uint64_t)MEMORY_CHUNK);
        ath_vm_unmap(tm->base + tm->mapped - n, (size_t)n);
        tm->mapped -= n;
        ath_sched_preempt_point();
    }
}

int ath_wasm_memory_prepare(struct ath_task *task, uint64_t reserve, uint64_t size)
{
    struct ath_task_memory *tm = &task->memory;
    ath_assert(!tm->lent);
    if (tm->base && tm->reserve != reserve)
        ath_wasm_memory_release(task);
    if (!tm->base) {
        tm->base = ath_vm_reserve((size_t)(reserve ? reserve : ATH_PAGE_SIZE));
        if (!tm->base)
            return ATH_ERR_NOMEM;
        tm->reserve = reserve;
        tm->mapped = 0;
    }
    unmap_chunked(tm, size);
    for (uint64_t at = 0; at < tm->mapped; at += ATH_PAGE_SIZE) {
        if (ath_arch_take_dirty(tm->base + at)) {
            memset((void *)(tm->base + at), 0, ATH_PAGE_SIZE);
            ath_arch_take_dirty(tm->base + at);
        }
        if ((at + ATH_PAGE_SIZE) % MEMORY_CHUNK == 0)
            ath_sched_preempt_point();
    }
    int error = map_chunked(tm, size);
    if (!error)
        tm->prepared = size;
    return error;
}

void ath_wasm_memory_release(struct ath_task *task)
{
    struct ath_task_memory *tm = &task->memory;
    ath_assert(!tm->lent);
    if (!tm->base)
        return;
    unmap_chunked(tm, 0);
    ath_vm_release(tm->base);
    *tm = (struct ath_task_memory){ 0 };
}

/* The memory's task: the runtime hands memory_map the creating instance's user (the task). */
static struct ath_task *owner(const alk_memory *m)
{
    return m->platform_data;
}

static int memory_map(void *user, alk_memory *m, uint64_t reserve, uint64_t size)
{
    (void)user;
    struct ath_task *task = owner(m);
    struct ath_task_memory *tm = &task->memory;
    /* Prepared by ath_wasm_memory_prepare (module.c) for exactly this; anything else is the
     * loader's mistake. */
    if (tm->lent || !tm->base || tm->reserve != reserve || tm->prepared != size ||
        tm->mapped != size)
        ath_panic("module %s: linear memory not prepared for its instance", task->record.name);
    tm->lent = true;
    tm->prepared = UINT64_MAX;
    m->base = (uint8_t *)tm->base;
    return 0;
}

/* memory.grow: maps the new pages a chunk at a time. On failure the pages mapped meanwhile go
 * again (in guard mode an access beyond the size must fault). */
static int memory_grow(void *user, alk_memory *m, uint64_t new_size)
{
    (void)user;
    struct ath_task_memory *tm = &owner(m)->memory;
    if (new_size <= m->size)
        return 0;
    if (map_chunked(tm, new_size) == ATH_OK)
        return 0;
    unmap_chunked(tm, m->size);
    return -1;
}

/* The instance is freed: the memory goes back to its task (ath_wasm_memory_release frees it). */
static void memory_unmap(void *user, alk_memory *m)
{
    (void)user;
    owner(m)->memory.lent = false;
}

/* ---- Signatures ------------------------------------------------------------------------------
 * Canonical ids for signature strings ("ii:I"), equal strings equal ids, across every module
 * and the kernel's functions: an open-addressing hash table of ATH_SIGNATURES_MAX entries at
 * most (half full at worst). build.py counts an appliance's distinct signatures and refuses
 * one with more; the loader checks again before it instantiates a module (module.c). */
#define SIGNATURE_SLOTS (2 * ATH_SIGNATURES_MAX)
_Static_assert((SIGNATURE_SLOTS & (SIGNATURE_SLOTS - 1)) == 0, "a power of two");

static struct { const char *text; uint32_t length, id; } signatures[SIGNATURE_SLOTS];
static uint32_t signature_count;

static uint32_t hash(const char *text, uint32_t length)
{
    uint32_t h = 2166136261u;                      /* FNV-1a */
    for (uint32_t i = 0; i < length; i++)
        h = (h ^ (uint8_t)text[i]) * 16777619u;
    return h;
}

/* The slot holding that signature, or the empty slot where it belongs. */
static uint32_t signature_slot(const char *text, uint32_t length)
{
    uint32_t at = hash(text, length) & (SIGNATURE_SLOTS - 1);
    while (signatures[at].text && (signatures[at].length != length ||
                                   memcmp(signatures[at].text, text, length)))
        at = (at + 1) & (SIGNATURE_SLOTS - 1);
    return at;
}

bool ath_wasm_signatures_fit(const alk_object *object)
{
    uint32_t added = 0;
    uint32_t types = alk_object_count(object, ALK_SECTION_TYPES);
    for (uint32_t t = 0; t < types; t++) {
        alk_str sig = alk_object_type(object, t);
        bool seen = signatures[signature_slot(sig.bytes, sig.length)].text != NULL;
        for (uint32_t k = 0; !seen && k < t; k++) {    /* repeated within the object */
            alk_str other = alk_object_type(object, k);
            seen = other.length == sig.length && !memcmp(other.bytes, sig.bytes, sig.length);
        }
        added += !seen;
        if (signature_count + added > ATH_SIGNATURES_MAX)
            return false;
    }
    return true;
}

static uint32_t type_id(void *user, const char *text, uint32_t length)
{
    (void)user;
    uint32_t at = signature_slot(text, length);
    if (!signatures[at].text) {
        /* module.c checked the module's signatures fit before instantiating it */
        if (signature_count == ATH_SIGNATURES_MAX)
            ath_panic("more than %d distinct function signatures", ATH_SIGNATURES_MAX);
        /* the text lives in the image or in the kernel: it outlives the table */
        signatures[at].text = text;
        signatures[at].length = length;
        signatures[at].id = signature_count++;
    }
    return signatures[at].id;
}

/* ---- Traps -------------------------------------------------------------------------------------
 * Every way a module's code traps ends in trap_at, on the task's kernel stack: compiled code
 * calls vmctx->trap_handler through its kernel call entry; the runtime's builtins and kernel
 * functions (athanor.log) call ath_wasm_trap, already on the kernel stack; a fault in the
 * module's code (a guard page of its memory, a divide error) resumes in trap_from_fault,
 * which module_fault starts on the kernel stack as if the faulting instruction had called it.
 * trap_at records where and unwinds the task to its entry frame: the module's frames and the
 * kernel stack's are simply dropped. */
static ATH_NORETURN void trap_at(void *vmctx, uint32_t code, uintptr_t pc)
{
    uint64_t now = ath_arch_cycles();
    struct ath_task *task = ath_task_current();
    if (!task || !task->instantiated || task->instance.vmctx != vmctx)
        ath_panic("trap %u (%s) outside the running module", code, ath_trap_name(code));
    task->steps[ATH_STEP_TRAP] = now;
    task->trap_code = code;
    task->trap_pc = pc;
    ath_module_record_frames(task, (uintptr_t)__builtin_frame_address(0));
    ath_trace(ATH_TRACE_TRAP, task->index, code, task->trap_pc);
    ath_arch_unwind(&task->entry, code);
}

void ath_wasm_trap(void *vmctx, uint32_t code)
{
    trap_at(vmctx, code, ath_kcall_return_address());
}

static ATH_NORETURN void trap_from_fault(void *vmctx, uint32_t code, uintptr_t pc)
{
    trap_at(vmctx, code, pc);
}

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
 * inside its memory reservation (guard mode) or a divide error. Resumes in trap_from_fault on
 * the task's kernel stack (empty while module code runs), with the module's vmctx (its pinned
 * register, docs/abi.md); nothing is written to the module's stack. */
static bool module_fault(struct ath_trap_frame *frame)
{
    if (ath_device_fault(frame))
        return true;
    struct ath_task *task = ath_task_current();
    if (!task || !task->instantiated)
        return false;
    const struct ath_code_region *region = ath_code_region_find(ath_trap_pc(frame));
    const uint8_t *code = task->instance.code;
    if (!region || region->start != (uintptr_t)code || ath_arch_trap_vmctx(frame) != (uintptr_t)task->instance.vmctx)
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
    ath_arch_trap_redirect(frame, task->kstack.top, trap_from_fault, trap_code);
    return true;
}

/* ---- The platform ------------------------------------------------------------------------------
 * Compiled code reaches the trap handler and the builtins through kernel call entries
 * (kcall.c), filled in by ath_wasm_init. */
static const void *builtin_entries[ALK_BUILTIN_COUNT];

static void preempt(void *user)
{
    (void)user;
    ath_sched_preempt_point();
}

alk_platform ath_wasm_platform = {
    .alloc = platform_alloc, .free = platform_free, .memory_map = memory_map,
    .memory_grow = memory_grow, .memory_unmap = memory_unmap, .type_id = type_id,
    .trap = ath_wasm_trap, .builtin_entries = builtin_entries, .preempt = preempt,
};

void ath_wasm_init(void)
{
    for (unsigned i = 0; i < ALK_BUILTIN_COUNT; i++)
        builtin_entries[i] = ath_kcall_entry(alk_builtins[i], "IIIII");
    ath_wasm_platform.trap_entry = ath_kcall_entry((const void *)ath_wasm_trap, "Ii");
    ath_fault_hook = module_fault;
}

/* ---- Calls ------------------------------------------------------------------------------------- */
uint32_t ath_wasm_invoke(struct ath_task *task, uint32_t function)
{
    uint64_t results[16];
    return alk_invoke(&task->instance, function, NULL, results, &task->entry);
}
