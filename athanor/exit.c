/*
 * Ending the appliance: exit codes, kernel failures and panics, all mapped
 * onto one exit value v for the arch (QEMU's isa-debug-exit on x86). The
 * protocol is in athanor.h and docs/boot.md.
 */
#include "kernel.h"

static bool panicking;
static bool failing;

void (*ath_failure_hook)(enum ath_failure failure);

bool ath_is_panicking(void)
{
    return panicking;
}

const char *ath_failure_name(enum ath_failure failure)
{
    switch (failure) {
    case ATH_FAIL_VERIFY: return "image verification failed";
    case ATH_FAIL_PANIC: return "panic";
    case ATH_FAIL_BOOT: return "boot error";
    case ATH_FAIL_APPLIANCE: return "appliance failed";
    }
    return "unknown failure";
}

void ath_exit(int code)
{
    code &= 0xff;
    if (code <= ATH_EXIT_CODE_DIRECT_MAX)
        ath_arch_exit((unsigned)code + ATH_EXIT_CODE_BIAS);
    ath_kprintf("[athanor] exit code %d\n", code);
    ath_arch_exit(ATH_EXIT_CODE_REPORTED);
}

void ath_fail(enum ath_failure failure)
{
    if (failure < ATH_FAIL_VERIFY || failure > ATH_FAIL_APPLIANCE)
        failure = ATH_FAIL_PANIC;
    if (!failing) {
        failing = true;
        if (ath_failure_hook)
            ath_failure_hook(failure);
        ath_kprintf("[athanor] failed: %s\n", ath_failure_name(failure));
    }
    ath_arch_exit(failure);
}

void ath_panic_at(const char *file, int line, const char *fmt, ...)
{
    if (panicking) {
        ath_kprintf("\n[athanor] panic while panicking (%s:%d)\n", file, line);
        ath_arch_exit(ATH_FAIL_PANIC);
    }
    panicking = true;
    ath_kprintf("[athanor] panic: %s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    ath_vkprintf(fmt, ap);
    va_end(ap);
    ath_kprintf("\n");
    ath_fail(ATH_FAIL_PANIC);
}

const char *ath_error_name(int error)
{
    switch (error) {
    case ATH_OK: return "ok";
    case ATH_ERR_INVALID: return "invalid argument";
    case ATH_ERR_NOMEM: return "out of memory";
    case ATH_ERR_NOT_MAPPED: return "not mapped";
    case ATH_ERR_MAPPED: return "already mapped";
    case ATH_ERR_FULL: return "table full";
    case ATH_ERR_NOT_FOUND: return "not found";
    }
    return "unknown error";
}
