/*
 * The kernel ABI: the functions a module may import from the `athanor` namespace
 * (docs/kernel-abi.md). Which exist, their ids and types come from manifest/capabilities.toml
 * through build/kernel_abi.h; build.py links only those a module's grants allow.
 *
 * Each function is called from compiled code with the caller's vmctx first (docs/abi.md) and
 * checks every pointer and length against the caller's linear memory before using it.
 */
#include "loader.h"
#include "kernel_abi.h"

#define LOG_LINE_MAX 4096

static uint8_t *memory_base(void *vmctx)
{
    return (uint8_t *)(uintptr_t)*(uint64_t *)((uint8_t *)vmctx + ALK_VMCTX_MEMORY_BASE);
}

static uint64_t memory_size(void *vmctx)
{
    return *(uint64_t *)((uint8_t *)vmctx + ALK_VMCTX_MEMORY_SIZE);
}

/* athanor.exit(code: i32): ends the appliance. */
void ath_abi_exit(void *vmctx, uint32_t code)
{
    (void)vmctx;
    ath_exit((int)(code & 0xff));
}

/* athanor.log(ptr: i32, len: i32): one line on the console. A range outside the caller's
 * memory is an out-of-bounds access of the caller, and traps it. */
void ath_abi_log(void *vmctx, uint32_t ptr, uint32_t len)
{
    if ((uint64_t)ptr + len > memory_size(vmctx)) {
        const alk_platform *p = &ath_wasm_platform;
        p->trap(vmctx, ALK_TRAP_MEMORY_OUT_OF_BOUNDS);
    }
    const char *text = (const char *)memory_base(vmctx) + ptr;
    if (len > LOG_LINE_MAX)
        len = LOG_LINE_MAX;
    while (len && (text[len - 1] == '\n' || text[len - 1] == '\r'))
        len--;
    ath_console_write(text, len);
    ath_console_write("\n", 1);
}

static const struct ath_abi_function functions[ATH_ABI_IMPORT_LIMIT] = {
#define ATH_ABI_IMPORT(id, module, field, function, params, results) \
    [id] = { module, field, (const void *)function, params, results },
    ATH_ABI_IMPORTS(ATH_ABI_IMPORT)
#undef ATH_ABI_IMPORT
};

const struct ath_abi_function *ath_abi_function(uint32_t id)
{
    if (id >= ATH_ABI_IMPORT_LIMIT || !functions[id].code)
        return NULL;
    return &functions[id];
}
