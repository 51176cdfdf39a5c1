/*
 * The kernel ABI: the table of functions a module may import (docs/kernel-abi.md) — the
 * `athanor` namespace and WASI preview1, whose functions alkahest/runtime/wasi.c provides —
 * the checks every one of them shares, the clocks, and the small functions (exit, log, clock,
 * yield, sleep, restart count, random, trace). Which functions exist, their ids and types come
 * from manifest/capabilities.toml through build/kernel_abi.h; build.py links only those a
 * module's grants allow, and the kernel checks each import's type once more at load.
 *
 * Each function is called from compiled code with the caller's vmctx first (docs/abi.md): it
 * checks every pointer and length against the caller's linear memory and every handle against
 * the caller's capability table before it changes anything, and returns a negative error
 * (ATH_E_*) rather than trapping, except athanor.log, whose range check is a trap.
 */
#include "kernel.h"
#include "kernel_abi.h"

static uint64_t clock_origin;               /* cycles at the first call */
static uint64_t ns_multiplier;              /* ns per cycle << 32 */
static uint64_t wall_clock_at_boot;         /* ns since 1970 at clock_origin (0: no RTC) */

uint64_t ath_cycles_to_ns(uint64_t cycles)
{
    if (!ns_multiplier) {
        uint64_t hz = ath_arch_cycles_per_second();
        ath_assert(hz);
        ns_multiplier = (uint64_t)(((unsigned __int128)1000000000u << 32) / hz);
    }
    return (uint64_t)(((unsigned __int128)cycles * ns_multiplier) >> 32);
}

uint64_t ath_clock_ns(void)
{
    uint64_t now = ath_arch_cycles();
    if (!clock_origin)
        clock_origin = now;
    return ath_cycles_to_ns(now - clock_origin);
}

void ath_clock_init(void)
{
    (void)ath_clock_ns();
    wall_clock_at_boot = ath_arch_wall_clock() * 1000000000ull;
}

uint64_t ath_realtime_ns(void)
{
    return wall_clock_at_boot + ath_clock_ns();
}

void ath_sleep_ns(int64_t ns)
{
    if (ns <= 0) {
        ath_sched_yield();
        return;
    }
    uint64_t deadline = ath_clock_ns() + (uint64_t)ns;
    uint64_t state = ath_arch_irq_save();
    while (ath_clock_ns() < deadline)
        ath_sched_block(deadline);
    ath_arch_irq_restore(state);
}

struct ath_task *ath_caller(void *vmctx)
{
    struct ath_task *task = ath_task_current();
    if (!task || !task->instantiated || task->instance.vmctx != vmctx)
        ath_panic("kernel function called with vmctx %p, not the running module's", vmctx);
    return task;
}

uint8_t *ath_user_memory(void *vmctx, uint64_t ptr, uint64_t length)
{
    uint8_t *base = (uint8_t *)(uintptr_t)*(uint64_t *)((uint8_t *)vmctx + ALK_VMCTX_MEMORY_BASE);
    uint64_t size = *(uint64_t *)((uint8_t *)vmctx + ALK_VMCTX_MEMORY_SIZE);
    if (ptr > size || length > size - ptr)
        return NULL;
    return base + ptr;
}

/* athanor.exit(code): ends the appliance. */
void ath_abi_exit(void *vmctx, uint32_t code)
{
    (void)ath_caller(vmctx);
    ath_exit((int)(code & 0xff));
}

/* Bytes of a module's memory to the console: copied into kernel memory a chunk at a time
 * (read once), with a preemption point between chunks (the console is slow). */
void ath_console_write_guest(const uint8_t *bytes, size_t length)
{
    char chunk[ATH_CONSOLE_CHUNK];
    for (size_t done = 0; done < length;) {
        size_t n = ATH_MIN(length - done, sizeof chunk);
        memcpy(chunk, bytes + done, n);
        ath_console_write(chunk, n);
        done += n;
        if (done < length)
            ath_sched_preempt_point();
    }
}

/* athanor.log(ptr, len): one line on the console. A range outside the caller's memory is an
 * out-of-bounds access by the caller, and traps it (the one kernel function that traps). */
void ath_abi_log(void *vmctx, uint32_t ptr, uint32_t len)
{
    (void)ath_caller(vmctx);
    const uint8_t *text = ath_user_memory(vmctx, ptr, len);
    if (!text)
        ath_wasm_trap(vmctx, ALK_TRAP_MEMORY_OUT_OF_BOUNDS);
    char line[ATH_LOG_LINE_MAX + 1];
    len = ATH_MIN(len, (uint32_t)ATH_LOG_LINE_MAX);
    memcpy(line, text, len);                /* read once */
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        len--;
    line[len++] = '\n';
    ath_console_write_guest((const uint8_t *)line, len);
}

int64_t ath_abi_clock(void *vmctx)
{
    (void)ath_caller(vmctx);
    return (int64_t)ath_clock_ns();
}

void ath_abi_yield(void *vmctx)
{
    (void)ath_caller(vmctx);
    ath_sched_yield();
}

void ath_abi_sleep(void *vmctx, uint64_t ns)
{
    (void)ath_caller(vmctx);
    ath_sleep_ns((int64_t)ns);
}

int32_t ath_abi_restart_count(void *vmctx)
{
    return (int32_t)ath_caller(vmctx)->restarts;
}

int64_t ath_abi_restart_ns(void *vmctx)
{
    return (int64_t)ath_caller(vmctx)->restart_ns;
}

int32_t ath_abi_random(void *vmctx, uint32_t out, uint32_t len)
{
    (void)ath_caller(vmctx);
    uint8_t *buffer = ath_user_memory(vmctx, out, len);
    if (!buffer)
        return ath_refuse(ATH_E_FAULT);
    for (uint32_t done = 0; done < len;) {
        uint32_t n = ATH_MIN(len - done, (uint32_t)ALK_WASI_CHUNK);
        ath_random_fill(buffer + done, n);
        done += n;
        if (done < len)
            ath_sched_preempt_point();
    }
    return 0;
}

void ath_abi_trace(void *vmctx)
{
    (void)ath_caller(vmctx);
    ath_trace_print(ATH_TRACE_PRINT);
}

static struct ath_abi_function functions[ATH_ABI_IMPORT_LIMIT] = {
#define ATH_ABI_IMPORT(id, module, field, function, params, results) \
    [id] = { module, field, (const void *)function, NULL, params, results },
    ATH_ABI_IMPORTS(ATH_ABI_IMPORT)
#undef ATH_ABI_IMPORT
};

/* WASI preview1: the shared implementation's functions, by the catalogue's ids (ath_abi_init). */
static struct ath_abi_function wasi_functions[ATH_ABI_IMPORT_LIMIT];

static void add_wasi(uint32_t id, const char *field, const char *params, const char *results)
{
    const char *signature = NULL;
    const void *code = alk_wasi_function(field, (uint32_t)strlen(field), &signature);
    if (!code)      /* both come from the catalogue: a broken build */
        ath_panic("WASI function %s is in the catalogue, not in alkahest/runtime/wasi.c", field);
    wasi_functions[id] = (struct ath_abi_function){ "wasi_snapshot_preview1", field, code,
                                                    NULL, params, results };
}

void ath_abi_init(void)
{
#define ATH_ABI_WASI_IMPORT(id, field, params, results) add_wasi(id, field, params, results);
    ATH_ABI_WASI_IMPORTS(ATH_ABI_WASI_IMPORT)
#undef ATH_ABI_WASI_IMPORT
    /* Modules call every one of them through a kernel call entry (kcall.c). */
    for (uint32_t id = 0; id < ATH_ABI_IMPORT_LIMIT; id++) {
        struct ath_abi_function *f = functions[id].code ? &functions[id]
                                     : wasi_functions[id].code ? &wasi_functions[id] : NULL;
        if (f)
            f->entry = ath_kcall_entry(f->code, f->params);
    }
}

const struct ath_abi_function *ath_abi_function(uint32_t id)
{
    if (id >= ATH_ABI_IMPORT_LIMIT)
        return NULL;
    if (functions[id].code)
        return &functions[id];
    return wasi_functions[id].code ? &wasi_functions[id] : NULL;
}
