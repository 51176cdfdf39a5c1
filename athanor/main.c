/*
 * The boot sequence, top to bottom. arch/<arch>/boot.S enters here on the
 * boot stack with the boot loader's magic and info address, interrupts off,
 * the first 4 GiB identity-mapped.
 */
#include "kernel.h"

static struct ath_boot_info boot_info;

const char *ath_boot_protocol_name(enum ath_boot_protocol protocol)
{
    switch (protocol) {
    case ATH_BOOT_MULTIBOOT1: return "multiboot1";
    case ATH_BOOT_MULTIBOOT2: return "multiboot2";
    case ATH_BOOT_PVH: return "pvh";
    }
    return "unknown";
}

void ath_main(uint32_t magic, uintptr_t info_addr)
{
    /* Serial console, GDT/TSS/IDT, SSE: exceptions are reported from here on. */
    ath_arch_init();

    /* Copy what the boot loader handed over before anything can reuse it. */
    const char *error = NULL;
    if (!ath_arch_boot_info(magic, info_addr, &boot_info, &error)) {
        ath_kprintf("[athanor] boot error: %s\n", error);
        ath_fail(ATH_FAIL_BOOT);
    }
    ath_cmdline_parse(boot_info.cmdline);

    /* The allocator comes before the final page tables: they are built from
     * its pages. */
    ath_page_alloc_init(&boot_info);
    ath_vm_init(&boot_info);
    /* The ACPI tables: interrupt controllers, PCI, and how to power off at the end (so even a
     * failed boot can). */
    ath_acpi_init(&boot_info);

    /* Usable RAM rounded up to a MiB: firmware keeps a few KiB of each
     * machine, and "-m 128" should read as 128. */
    uint64_t mib = (boot_info.usable_bytes + (1u << 20) - 1) >> 20;
    ath_kprintf("[athanor] Athanor %s (%s, %lu MiB)\n", ATH_VERSION,
                ath_boot_protocol_name(boot_info.protocol), mib);

    const char *selftest = ath_cmdline_get("athanor.selftest");
    if (selftest)
        ath_selftest_run(selftest, &boot_info);

    ath_appliance_boot(&boot_info);
    ath_panic("ath_appliance_boot returned");
}
