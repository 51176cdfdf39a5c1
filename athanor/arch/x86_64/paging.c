/*
 * x86-64 paging: the shared four-level tables (arch/pagetable.c, entries in pte.h), loaded
 * into CR3.
 */
#include "kernel.h"
#include "pte.h"

void ath_arch_paging_begin(void)
{
    ath_pagetable_begin();
}

void ath_arch_paging_activate(void)
{
    x86_write_cr3(ath_pagetable_root());
    ath_pagetable_live();
}
