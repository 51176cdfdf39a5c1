/*
 * Ending the appliance: exit codes, kernel failures and panics. Each ends with a fixed console
 * line ("[athanor] exit code N", "[athanor] failed: REASON") that build.py reads on any machine,
 * and one exit value v (athanor.h, docs/boot.md) that QEMU's isa-debug-exit turns into its own
 * exit status where that device exists. Then the machine is powered off (ACPI S5), reset, or
 * halted, as the command line's athanor.exit=poweroff|reboot|halt asks (poweroff by default).
 */
#include "kernel.h"

static bool panicking;
static bool failing;

void (*ath_failure_hook)(enum ath_failure failure);

bool ath_is_panicking(void)
{
    return panicking;
}

static const char unknown_failure[] = "unknown failure";

const char *ath_failure_name(enum ath_failure failure)
{
    switch (failure) {
#define FAILURE_NAME(name, value, message) case ATH_FAIL_##name: return message;
    ATH_FAILURES(FAILURE_NAME)
#undef FAILURE_NAME
    }
    return unknown_failure;
}

#define POWER_OFF_SPINS 50000000u       /* how long S5 may take before the next means */

/* After the debug-exit device (QEMU), what athanor.exit asks of the machine. */
static ATH_NORETURN void end(unsigned value)
{
    ath_arch_debug_exit(value);
    const char *how = ath_cmdline_get("athanor.exit");
    if (how && !strcmp(how, "halt"))
        ath_arch_halt();
    if (how && !strcmp(how, "reboot")) {
        ath_acpi_reset();
        ath_arch_reset();
    }
    if (ath_acpi_power_off())
        for (unsigned i = 0; i < POWER_OFF_SPINS; i++)
            __asm__ volatile("" : : : "memory");
    /* No ACPI S5 (a microVM such as Firecracker): the architecture's way out. Every PC
     * firmware has S5, so this does not reboot real machines. */
    if (ath_acpi()->searched && !ath_acpi()->s5)
        ath_arch_power_off();
    ath_kprintf("[athanor] the machine cannot be powered off: halted\n");
    ath_arch_exit(value);
}

void ath_exit(int code)
{
    code &= 0xff;
    ath_kprintf(ATH_EXIT_LINE_EXIT_CODE "%d\n", code);
    end(code <= ATH_EXIT_CODE_DIRECT_MAX ? (unsigned)code + ATH_EXIT_CODE_BIAS
                                         : ATH_EXIT_CODE_REPORTED);
}

void ath_fail(enum ath_failure failure)
{
    if (ath_failure_name(failure) == unknown_failure)
        failure = ATH_FAIL_PANIC;
    if (!failing) {
        failing = true;
        if (ath_failure_hook)
            ath_failure_hook(failure);
        ath_kprintf(ATH_EXIT_LINE_FAILED "%s\n", ath_failure_name(failure));
    }
    end(failure);
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
