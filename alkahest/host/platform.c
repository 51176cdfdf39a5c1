/*
 * Linux platform for the runtime core. Linear memory is an mmap reservation (PROT_NONE) whose
 * accessible prefix grows with mprotect; in guard mode a SIGSEGV inside a reservation, raised by
 * compiled code, becomes an out-of-bounds trap by redirecting the faulting thread to the trap
 * path. Traps unwind to the innermost alk_host_invoke through a thread-local entry frame.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <ucontext.h>

#include "host.h"
#include "../cli/cli.h"

extern const alk_allocator alk_cli_allocator;   /* cli/main.c: what objects are made with */

#define STACK_BUDGET (6u << 20)   /* bytes of native stack Wasm may use below the entry */

static _Thread_local alk_entry_frame *current_frame;
static _Thread_local uint64_t stack_limit;

/* ---- Registries for the fault handler --------------------------------------------------- */
typedef struct range { uintptr_t start, end; } range;
#define MAX_RANGES 4096
static range code_ranges[MAX_RANGES], memory_ranges[MAX_RANGES];
static unsigned code_range_count, memory_range_count;

static void add_range(range *ranges, unsigned *count, uintptr_t start, uintptr_t end)
{
    for (unsigned i = 0; i < *count; i++) {
        if (ranges[i].start == 0) {
            ranges[i] = (range){ start, end };
            return;
        }
    }
    if (*count < MAX_RANGES)
        ranges[(*count)++] = (range){ start, end };
}

static void remove_range(range *ranges, unsigned count, uintptr_t start)
{
    for (unsigned i = 0; i < count; i++)
        if (ranges[i].start == start)
            ranges[i] = (range){ 0, 0 };
}

static bool in_ranges(const range *ranges, unsigned count, uintptr_t address)
{
    for (unsigned i = 0; i < count; i++)
        if (address >= ranges[i].start && address < ranges[i].end)
            return true;
    return false;
}

/* ---- Platform hooks ------------------------------------------------------------------------ */
static void *host_alloc(void *user, size_t size)
{
    (void)user;
    return malloc(size ? size : 1);
}

static void host_free(void *user, void *ptr)
{
    (void)user;
    free(ptr);
}

static int host_memory_map(void *user, alk_memory *m, uint64_t reserve, uint64_t size)
{
    (void)user;
    void *base = mmap(NULL, reserve ? reserve : 4096, PROT_NONE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED)
        return -1;
    if (size && mprotect(base, size, PROT_READ | PROT_WRITE)) {
        munmap(base, reserve);
        return -1;
    }
    m->base = base;
    if (m->guard)
        add_range(memory_ranges, &memory_range_count, (uintptr_t)base, (uintptr_t)base + reserve);
    return 0;
}

static int host_memory_grow(void *user, alk_memory *m, uint64_t new_size)
{
    (void)user;
    return mprotect(m->base, new_size, PROT_READ | PROT_WRITE) ? -1 : 0;
}

static void host_memory_unmap(void *user, alk_memory *m)
{
    (void)user;
    if (m->guard)
        remove_range(memory_ranges, memory_range_count, (uintptr_t)m->base);
    munmap(m->base, m->reserved ? m->reserved : 4096);
}

/* Canonical signature ids: the index in a table of distinct signature strings. */
static char **signatures;
static uint32_t signature_count, signature_capacity;

static uint32_t host_type_id(void *user, const char *signature, uint32_t length)
{
    (void)user;
    for (uint32_t i = 0; i < signature_count; i++)
        if (strlen(signatures[i]) == length && !memcmp(signatures[i], signature, length))
            return i;
    if (signature_count == signature_capacity) {
        signature_capacity = signature_capacity ? signature_capacity * 2 : 64;
        signatures = realloc(signatures, signature_capacity * sizeof *signatures);
        if (!signatures)
            abort();
    }
    signatures[signature_count] = strndup(signature, length);
    if (!signatures[signature_count])
        abort();
    return signature_count++;
}

/* ---- Backtraces ------------------------------------------------------------------------------ */
static _Thread_local alk_host_trap_site last_trap;

static void record_frame(void *user, uint32_t depth, uint32_t code_offset, bool from_host)
{
    alk_host_trap_site *site = user;
    site->frames[depth] = code_offset;
    site->frame_count = depth + 1;
    site->from_host |= from_host;
}

const alk_host_trap_site *alk_host_last_trap(void)
{
    return &last_trap;
}

void alk_host_print_backtrace(FILE *out, const alk_host_trap_site *site)
{
    for (uint32_t i = 0; site->object && i < site->frame_count; i++) {
        alk_frame_info frame;
        char line[512];
        alk_frame_describe(site->object, site->frames[i], &frame);
        alk_frame_format(&frame, i, line, sizeof line);
        fprintf(out, "  %s%s\n", line, i == 0 && site->from_host ? " (in what it called)" : "");
    }
}

/* vmctx->trap_handler. The frame pointer makes its caller's rbp readable at [its own rbp]:
 * the trapping Wasm function's (docs/abi.md), or a host function's that trapped. */
_Noreturn void alk_host_trap(void *vmctx, uint32_t code)
{
    uintptr_t pc = (uintptr_t)__builtin_return_address(0);
    uintptr_t rbp = *(const uintptr_t *)__builtin_frame_address(0);
    const alk_instance *instance = vmctx ? alk_instance_of(vmctx) : NULL;
    last_trap = (alk_host_trap_site){ instance ? instance->object : NULL, { 0 }, 0, false };
    if (instance && current_frame)
        alk_backtrace(instance->object, instance->code, pc, rbp, (uintptr_t)&pc,
                      (uintptr_t)current_frame->registers[ALK_ENTRY_FRAME_SP],
                      ALK_HOST_BACKTRACE_MAX,
                      record_frame, &last_trap);
    if (!current_frame) {
        fprintf(stderr, "alkahest: trap %u outside of any call\n", code);
        abort();
    }
    alk_unwind(current_frame, code);
}

const alk_platform alk_host_platform = {
    .alloc = host_alloc, .free = host_free, .memory_map = host_memory_map,
    .memory_grow = host_memory_grow, .memory_unmap = host_memory_unmap,
    .type_id = host_type_id, .trap = alk_host_trap,
};

/* ---- Faults ------------------------------------------------------------------------------ */
static void on_fault(int signal, siginfo_t *info, void *context)
{
    ucontext_t *uc = context;
#if defined(__aarch64__)
    mcontext_t *mc = &uc->uc_mcontext;
    uintptr_t pc = (uintptr_t)mc->pc;
#else
    greg_t *regs = uc->uc_mcontext.gregs;
    uintptr_t pc = (uintptr_t)regs[REG_RIP];
#endif
    uintptr_t address = (uintptr_t)info->si_addr;
    if (current_frame && in_ranges(code_ranges, code_range_count, pc) &&
        in_ranges(memory_ranges, memory_range_count, address)) {
        /* Resume in the trap handler as if the faulting instruction had called it (its
         * "return address" is that instruction: a backtrace names it, docs/abi.md), with the
         * vmctx pinned in r15 / x28 as its first argument. */
#if defined(__aarch64__)
        mc->regs[30] = pc;
        mc->regs[0] = mc->regs[28];
        mc->regs[1] = ALK_TRAP_MEMORY_OUT_OF_BOUNDS;
        mc->pc = (uintptr_t)alk_host_trap;
#else
        regs[REG_RSP] -= 8;
        *(uint64_t *)regs[REG_RSP] = pc;
        regs[REG_RDI] = regs[REG_R15];
        regs[REG_RSI] = ALK_TRAP_MEMORY_OUT_OF_BOUNDS;
        regs[REG_RIP] = (greg_t)(uintptr_t)alk_host_trap;
#endif
        return;
    }
    /* Not ours: die the default way. */
    struct sigaction fallback = { .sa_handler = SIG_DFL };
    sigaction(signal, &fallback, NULL);
}

void alk_host_init(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    struct sigaction action = { .sa_sigaction = on_fault, .sa_flags = SA_SIGINFO | SA_NODEFER };
    sigemptyset(&action.sa_mask);
    sigaction(SIGSEGV, &action, NULL);
    sigaction(SIGBUS, &action, NULL);
    /* Make sure the main thread may grow its stack by the budget. */
    struct rlimit limit;
    if (!getrlimit(RLIMIT_STACK, &limit) && limit.rlim_cur != RLIM_INFINITY &&
        limit.rlim_cur < STACK_BUDGET + (2u << 20)) {
        limit.rlim_cur = STACK_BUDGET + (2u << 20);
        if (limit.rlim_max != RLIM_INFINITY && limit.rlim_cur > limit.rlim_max)
            limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_STACK, &limit);
    }
}

/* ---- Loading and calling ------------------------------------------------------------------- */
int alk_host_load(const uint8_t *wasm, size_t size, alk_bounds_mode bounds, alk_host_module *out,
                  alk_diag *diag)
{
    memset(out, 0, sizeof *out);
    int code = ALK_OK;
    if (size >= 4 && !memcmp(wasm, "ALKO", 4)) {
        /* an object compiled before (alkahest compile): run as it is, in its own bounds mode */
        out->object_bytes = alk_cli_allocator.alloc(NULL, size);
        if (!out->object_bytes) {
            diag->code = ALK_E_OUT_OF_MEMORY;
            snprintf(diag->message, sizeof diag->message, "out of memory");
            return ALK_E_OUT_OF_MEMORY;
        }
        memcpy(out->object_bytes, wasm, size);
        out->object_size = size;
    } else {
        alk_compile_options options = alk_cli_compile_options(bounds);
        code = alk_cli_build(wasm, size, &options, &out->object_bytes, &out->object_size, diag);
    }
    if (code)
        return code;
    const char *problem = alk_object_open(&out->object, out->object_bytes, out->object_size);
    if (problem) {
        snprintf(diag->message, sizeof diag->message, "internal error: %s", problem);
        diag->code = ALK_E_INTERNAL;
        alk_cli_allocator.free(NULL, out->object_bytes);
        return ALK_E_INTERNAL;
    }
    const alk_section_view *text = &out->object.sections[ALK_SECTION_CODE];
    size_t mapping = (text->size + 4095) & ~(size_t)4095;
    if (mapping == 0)
        mapping = 4096;
    void *map = mmap(NULL, mapping, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) {
        alk_cli_allocator.free(NULL, out->object_bytes);
        diag->code = ALK_E_OUT_OF_MEMORY;
        snprintf(diag->message, sizeof diag->message, "cannot map code");
        return ALK_E_OUT_OF_MEMORY;
    }
    memcpy(map, text->data, text->size);
    mprotect(map, mapping, PROT_READ | PROT_EXEC);
    out->code = map;
    out->code_mapping = mapping;
    add_range(code_ranges, &code_range_count, (uintptr_t)map, (uintptr_t)map + mapping);
    return ALK_OK;
}

void alk_host_unload(alk_host_module *module)
{
    if (module->code) {
        remove_range(code_ranges, code_range_count, (uintptr_t)module->code);
        munmap(module->code, module->code_mapping);
    }
    alk_cli_allocator.free(NULL, module->object_bytes);
    memset(module, 0, sizeof *module);
}

static uint64_t compute_stack_limit(void)
{
    if (!stack_limit) {
        uint8_t here;
        stack_limit = (uint64_t)(uintptr_t)&here - STACK_BUDGET;
    }
    return stack_limit;
}

void alk_host_prepare(alk_instance *instance)
{
    *(uint64_t *)(instance->vmctx + ALK_VMCTX_STACK_LIMIT) = compute_stack_limit();
}

uint32_t alk_host_invoke_ref(const alk_function_ref *ref, const char *signature, uint32_t length,
                             const uint64_t *args, uint64_t *results)
{
    alk_entry_frame frame, *outer = current_frame;
    current_frame = &frame;
    uint32_t code = alk_invoke_ref(ref, signature, length, args, results, &frame);
    current_frame = outer;
    return code;
}

uint32_t alk_host_invoke(alk_instance *instance, uint32_t function, const uint64_t *args,
                         uint64_t *results)
{
    alk_host_prepare(instance);
    last_trap.object = NULL;
    alk_entry_frame frame, *outer = current_frame;
    current_frame = &frame;
    uint32_t code = alk_invoke(instance, function, args, results, &frame);
    current_frame = outer;
    return code;
}

const char *alk_host_trap_message(uint32_t code)
{
    switch (code) {
#define MESSAGE(name, number, text) case number: return text;
        ALK_TRAPS(MESSAGE)
#undef MESSAGE
    default:
        return "unknown trap";
    }
}
