/*
 * The Alkahest runtime core's platform inside the kernel: linear memories are virtual
 * reservations (ath_vm_reserve) backed page by page as they grow, signatures get canonical ids,
 * traps unwind to the entry frame of the running call, and in guard mode a page fault taken by
 * module code inside a memory reservation becomes that module's out-of-bounds trap.
 */
#include "loader.h"

#define TYPE_IDS_MAX 512
#define GUARD_MEMORIES_MAX 64

static alk_entry_frame *current_frame;

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

static struct { uintptr_t base, end; } guard_memories[GUARD_MEMORIES_MAX];

static int memory_map(void *user, alk_memory *m, uint64_t reserve, uint64_t size)
{
    (void)user;
    if (reserve == 0)
        reserve = ATH_PAGE_SIZE;
    uintptr_t base = ath_vm_reserve((size_t)reserve);
    if (!base)
        return -1;
    if (size && ath_vm_map_fresh(base, (size_t)size, ATH_VM_READ | ATH_VM_WRITE) != ATH_OK) {
        ath_vm_release(base);
        return -1;
    }
    m->base = (uint8_t *)base;
    if (m->guard) {
        for (unsigned i = 0; i < GUARD_MEMORIES_MAX; i++) {
            if (!guard_memories[i].base) {
                guard_memories[i].base = base;
                guard_memories[i].end = base + reserve;
                break;
            }
        }
    }
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
    for (unsigned i = 0; i < GUARD_MEMORIES_MAX; i++)
        if (guard_memories[i].base == (uintptr_t)m->base)
            guard_memories[i].base = guard_memories[i].end = 0;
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
static ATH_NORETURN void trap(void *vmctx, uint32_t code)
{
    (void)vmctx;
    if (!current_frame)
        ath_panic("trap %u with no module call in progress", code);
    alk_unwind(current_frame, code);
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

static bool in_guard_memory(uintptr_t address)
{
    for (unsigned i = 0; i < GUARD_MEMORIES_MAX; i++)
        if (address >= guard_memories[i].base && address < guard_memories[i].end)
            return true;
    return false;
}

/* A page fault by module code inside a guard reservation: resume in the trap handler as if
 * the faulting instruction had called it, with the module's vmctx (r15, docs/abi.md). */
static bool guard_fault(struct ath_trap_frame *frame)
{
    if (ath_trap_kind(frame) != ATH_TRAP_PAGE_FAULT || !current_frame)
        return false;
    if (!in_guard_memory(ath_trap_fault_address(frame)) || !ath_code_region_find(frame->rip))
        return false;
    frame->rsp -= 8;
    *(uint64_t *)(uintptr_t)frame->rsp = frame->rip;
    frame->rdi = frame->r15;
    frame->rsi = ALK_TRAP_MEMORY_OUT_OF_BOUNDS;
    frame->rip = (uint64_t)(uintptr_t)trap;
    return true;
}

void ath_wasm_install_fault_hook(void)
{
    ath_fault_hook = guard_fault;
}

/* ---- Calls ------------------------------------------------------------------------------------- */
uint32_t ath_wasm_invoke(alk_instance *instance, uint32_t function, const uint64_t *args,
                         uint64_t *results)
{
    alk_entry_frame frame, *outer = current_frame;
    current_frame = &frame;
    uint32_t code = alk_invoke(instance, function, args, results, &frame);
    current_frame = outer;
    return code;
}

uint32_t ath_run_on_stack(size_t size, uint32_t (*fn)(void *arg), void *arg, uint64_t *limit_out)
{
    size = ATH_ALIGN_UP(size, ATH_PAGE_SIZE);
    uintptr_t base = ath_vm_reserve(size + ATH_PAGE_SIZE);
    if (!base || ath_vm_map_fresh(base + ATH_PAGE_SIZE, size, ATH_VM_READ | ATH_VM_WRITE) != ATH_OK)
        ath_panic("cannot allocate a %lu KiB module stack", (unsigned long)(size >> 10));
    uintptr_t bottom = base + ATH_PAGE_SIZE, top = bottom + size;
    if (limit_out)
        *limit_out = bottom + ALK_STACK_RESERVE;
    uint32_t result;
    ath_arch_call_on_stack(top, fn, arg, &result);
    ath_vm_release(base);
    return result;
}
