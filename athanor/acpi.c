/*
 * The ACPI tables the kernel needs, read once at boot: MCFG (where PCI configuration space is
 * memory-mapped: ECAM) and MADT (the I/O APICs, and how ISA interrupts are wired to their
 * inputs). Nothing else of ACPI is parsed: no AML, so PCI interrupt routing comes from the
 * firmware's Interrupt Line register (pci.c), as a BIOS-era OS would read it.
 *
 * The RSDP comes from the boot loader (multiboot2 under UEFI passes a copy) or from the BIOS
 * area 0xe0000..0xfffff. Tables live in firmware memory that the kernel's map leaves out: their
 * pages are identity-mapped read-only as they are read. A table whose checksum fails is ignored
 * (the machine is then treated as having no such table).
 */
#include "kernel.h"

#define BIOS_AREA_FIRST 0xe0000u
#define BIOS_AREA_END   0x100000u
#define TABLE_MAX       (1u << 20)     /* a table longer than this is not believed */
#define HEADER_SIZE     36

static struct ath_acpi acpi;

const struct ath_acpi *ath_acpi(void)
{
    return &acpi;
}

static uint32_t u32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t u64(const uint8_t *p) { return u32(p) | (uint64_t)u32(p + 4) << 32; }

/* [phys, phys + length) readable through the identity map: pages the kernel's map lacks are
 * mapped read-only. NULL if that is impossible (beyond the identity-mapped space). */
static const uint8_t *map(uint64_t phys, uint64_t length)
{
    if (length == 0 || phys + length < phys || phys + length > ath_vm_window_base())
        return NULL;
    for (uint64_t page = ATH_ALIGN_DOWN(phys, ATH_PAGE_SIZE); page < phys + length;
         page += ATH_PAGE_SIZE) {
        uint64_t mapped;
        unsigned flags;
        if (!ath_vm_query(page, &mapped, &flags) &&
            ath_vm_map(page, page, ATH_PAGE_SIZE, ATH_VM_READ) != ATH_OK)
            return NULL;
    }
    return (const uint8_t *)(uintptr_t)phys;
}

static bool checksum_ok(const uint8_t *p, uint64_t length)
{
    uint8_t sum = 0;
    for (uint64_t i = 0; i < length; i++)
        sum += p[i];
    return sum == 0;
}

/* A table's header and then the whole table, if its length and checksum hold. */
static const uint8_t *table_at(uint64_t phys)
{
    const uint8_t *header = map(phys, HEADER_SIZE);
    if (!header)
        return NULL;
    uint32_t length = u32(header + 4);
    if (length < HEADER_SIZE || length > TABLE_MAX)
        return NULL;
    const uint8_t *table = map(phys, length);
    return table && checksum_ok(table, length) ? table : NULL;
}

static const uint8_t *find_rsdp(const struct ath_boot_info *info)
{
    if (info->acpi_rsdp_size >= 20)
        return info->acpi_rsdp;
    const uint8_t *area = map(BIOS_AREA_FIRST, BIOS_AREA_END - BIOS_AREA_FIRST);
    if (!area)
        return NULL;
    for (uint32_t at = 0; at + 20 <= BIOS_AREA_END - BIOS_AREA_FIRST; at += 16)
        if (!memcmp(area + at, "RSD PTR ", 8) && checksum_ok(area + at, 20))
            return area + at;
    return NULL;
}

/* MCFG: base address allocation structures of 16 bytes after 44 bytes of header. The kernel
 * uses segment 0's. */
static void read_mcfg(const uint8_t *t)
{
    uint32_t length = u32(t + 4);
    for (uint32_t at = 44; at + 16 <= length; at += 16) {
        if ((t[at + 8] | t[at + 9] << 8) != 0)
            continue;
        acpi.ecam_base = u64(t + at);
        acpi.ecam_bus_first = t[at + 10];
        acpi.ecam_bus_last = t[at + 11];
        acpi.ecam = acpi.ecam_base != 0 && acpi.ecam_bus_last >= acpi.ecam_bus_first;
        return;
    }
}

/* MADT: after 44 bytes, entries of (type, length): 1 an I/O APIC, 2 an interrupt source
 * override (an ISA line wired to another input, or with another polarity or trigger). */
static void read_madt(const uint8_t *t)
{
    uint32_t length = u32(t + 4);
    for (uint32_t at = 44; at + 2 <= length; at += t[at + 1]) {
        uint8_t type = t[at], size = t[at + 1];
        if (size < 2 || at + size > length)
            return;
        if (type == 1 && size >= 12 && acpi.ioapic_count < ATH_ARRAY_SIZE(acpi.ioapics)) {
            acpi.ioapics[acpi.ioapic_count].address = u32(t + at + 4);
            acpi.ioapics[acpi.ioapic_count].gsi_base = u32(t + at + 8);
            acpi.ioapic_count++;
        } else if (type == 2 && size >= 10 && t[at + 2] == 0 && t[at + 3] < 16) {
            struct ath_acpi_override *o = &acpi.isa[t[at + 3]];
            o->present = true;
            o->gsi = u32(t + at + 4);
            o->flags = (uint16_t)(t[at + 8] | t[at + 9] << 8);
        }
    }
}

void ath_acpi_init(const struct ath_boot_info *info)
{
    const uint8_t *rsdp = find_rsdp(info);
    if (!rsdp)
        return;
    /* Revision 2 and later carry the XSDT (64-bit entries); else the RSDT (32-bit). */
    bool extended = rsdp[15] >= 2 && info->acpi_rsdp_size != 20 && u64(rsdp + 24) != 0;
    const uint8_t *root = table_at(extended ? u64(rsdp + 24) : u32(rsdp + 16));
    if (!root)
        return;
    acpi.found = true;
    unsigned entry = extended ? 8 : 4;
    uint32_t length = u32(root + 4);
    for (uint32_t at = HEADER_SIZE; at + entry <= length; at += entry) {
        const uint8_t *t = table_at(extended ? u64(root + at) : u32(root + at));
        if (!t)
            continue;
        if (!memcmp(t, "MCFG", 4))
            read_mcfg(t);
        else if (!memcmp(t, "APIC", 4))
            read_madt(t);
    }
}
