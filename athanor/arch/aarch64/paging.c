/*
 * AArch64 paging: the shared four-level tables (arch/pagetable.c, entries in pte.h: 4 KiB
 * granule, 48-bit addresses through TTBR0_EL1), loaded into TTBR0_EL1.
 *
 * W^X twice over: vm.c refuses writable+executable before asking, and SCTLR_EL1.WXN (set when
 * the tables go live) makes every writable page non-executable in hardware.
 */
#include "pte.h"

#define SCTLR_WXN (1ull << 19)

void ath_arch_paging_begin(void)
{
    ath_pagetable_begin();
    /* The console stays reachable through the switch (device memory, no execute). */
    /* So does the PM watchdog, which powers the Pi off (at any point, after a failure too). */
    const uint64_t devices[] = { aarch64_machine.uart_base, aarch64_machine.bcm_pm };
    for (unsigned i = 0; i < ATH_ARRAY_SIZE(devices); i++) {
        uint64_t page = ATH_ALIGN_DOWN(devices[i], ATH_PAGE_SIZE);
        if (page && ath_arch_map(page, page, ATH_PAGE_SIZE, ATH_VM_READ | ATH_VM_WRITE | ATH_VM_NOCACHE, false))
            ath_panic("no page to map the device at 0x%lx", (unsigned long)page);
    }
}

void ath_arch_paging_activate(void)
{
    dsb(ishst);
    sysreg_write(ttbr0_el1, ath_pagetable_root());
    isb();
    __asm__ volatile("tlbi vmalle1\n\tdsb nsh\n\tisb" : : : "memory");
    sysreg_write(sctlr_el1, sysreg_read(sctlr_el1) | SCTLR_WXN);
    isb();
    __asm__ volatile("tlbi vmalle1\n\tdsb nsh\n\tisb" : : : "memory");
    ath_pagetable_live();
}
