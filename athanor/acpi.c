/*
 * The ACPI tables the kernel needs, read once at boot:
 *   MCFG  where PCI configuration space is memory-mapped (ECAM);
 *   MADT  the I/O APICs, and how ISA interrupts are wired to their inputs;
 *   FADT  the registers that power the machine off and reset it;
 *   DSDT, SSDTs  only the \_S5 object (the sleep type values of "soft off"), found by a bounded
 *         scan for its one encoding, Name(_S5, Package(){...}), and the virtio-mmio devices
 *         (_HID "LNRO0005", as QEMU microvm declares them: their _CRS buffer's Memory32Fixed
 *         window and interrupt), not by interpreting AML.
 * PCI interrupt routing comes from the firmware's Interrupt Line register (pci.c), as a
 * BIOS-era OS would read it.
 *
 * The RSDP comes from the boot loader (multiboot2 under UEFI passes a copy, PVH its address) or
 * from the BIOS area 0xe0000..0xfffff. Tables live in firmware memory that the kernel's map
 * leaves out: their pages are identity-mapped read-only as they are read. A table whose checksum
 * fails is ignored (the machine is then treated as having no such table).
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

/* A Generic Address Structure of 12 bytes at p. */
static struct ath_acpi_register gas(const uint8_t *p)
{
    return (struct ath_acpi_register){ p[0], p[1], p[2], p[3], u64(p + 4) };
}

/* An I/O port block given by its legacy 32-bit field, as a register of `bytes` bytes. */
static struct ath_acpi_register port_block(uint32_t port, unsigned bytes)
{
    return (struct ath_acpi_register){ ATH_ACPI_SPACE_IO, (uint8_t)(bytes * 8), 0, 0, port };
}

/* FADT (signature "FACP"). Field offsets from ACPI 6.5, table 5.9; a field past the table's
 * length (an older revision) is absent. The 64-bit X_ fields win over the legacy ones. */
static void read_fadt(const uint8_t *t, uint64_t *dsdt)
{
    uint32_t length = u32(t + 4);
    if (length < 116)
        return;
    acpi.fadt = true;
    *dsdt = u32(t + 40);
    acpi.smi_command = u32(t + 48);
    acpi.acpi_enable = t[52];
    uint8_t control_length = t[89];
    acpi.pm1a_control = port_block(u32(t + 64), control_length);
    acpi.pm1b_control = port_block(u32(t + 68), control_length);
    uint32_t flags = u32(t + 112);
    acpi.hardware_reduced = flags & (1u << 20);
    if (length >= 129 && (flags & (1u << 10))) {       /* RESET_REG_SUP */
        acpi.reset = gas(t + 116);
        acpi.reset_value = t[128];
    }
    if (length >= 148 && u64(t + 140))
        *dsdt = u64(t + 140);
    if (length >= 184 && gas(t + 172).address)
        acpi.pm1a_control = gas(t + 172);
    if (length >= 196 && gas(t + 184).address)
        acpi.pm1b_control = gas(t + 184);
    if (length >= 256)
        acpi.sleep_control = gas(t + 244);
}

/* An AML integer constant at p (ZeroOp, OneOp, OnesOp or a Byte/Word/DWord prefix): its value
 * and size, or false. */
static bool aml_integer(const uint8_t *p, const uint8_t *end, uint32_t *value, unsigned *size)
{
    if (p >= end)
        return false;
    switch (p[0]) {
    case 0x00: *value = 0; *size = 1; return true;
    case 0x01: *value = 1; *size = 1; return true;
    case 0xff: *value = 0xffffffffu; *size = 1; return true;
    case 0x0a: if (end - p < 2) return false; *value = p[1]; *size = 2; return true;
    case 0x0b: if (end - p < 3) return false; *value = p[1] | p[2] << 8; *size = 3; return true;
    case 0x0c: if (end - p < 5) return false; *value = u32(p + 1); *size = 5; return true;
    }
    return false;
}

/* Name(_S5, Package(){ SLP_TYPa, SLP_TYPb, ... }) in a definition block:
 *   NameOp 0x08, optional root prefix '\', "_S5_", PackageOp 0x12, PkgLength (1-4 bytes),
 *   NumElements, then the elements. The first two are SLP_TYPa and SLP_TYPb (3 bits each). */
static bool find_s5(const uint8_t *t)
{
    uint32_t length = u32(t + 4);
    const uint8_t *end = t + length;
    for (const uint8_t *p = t + HEADER_SIZE; p + 4 <= end; p++) {
        if (memcmp(p, "_S5_", 4))
            continue;
        bool named = (p[-1] == 0x08) || (p[-1] == '\\' && p - t > HEADER_SIZE && p[-2] == 0x08);
        const uint8_t *q = p + 4;
        if (!named || q + 2 > end || q[0] != 0x12)
            continue;
        q += 1 + 1 + (q[1] >> 6);                      /* PackageOp, PkgLength */
        if (q + 1 > end || q[0] < 2)                   /* NumElements */
            continue;
        q++;
        uint32_t a, b;
        unsigned size;
        if (!aml_integer(q, end, &a, &size) || !aml_integer(q + size, end, &b, &size))
            continue;
        acpi.s5 = true;
        acpi.s5_type_a = a & 7;
        acpi.s5_type_b = b & 7;
        return true;
    }
    return false;
}

/* After Name(_HID, "LNRO0005"): Name(_CRS, Buffer(){ resource descriptors }) within a few bytes.
 * The descriptors (ACPI 6.5, 6.4): large items 0x86 Memory32Fixed (info, base u32, length u32)
 * and 0x89 Extended Interrupt (flags, count, u32 interrupts); a small item 0x79 ends them. */
#define VIRTIO_HID      "LNRO0005"
#define CRS_SEARCH      128              /* bytes after the _HID in which _CRS must start */

static void read_virtio_crs(const uint8_t *p, const uint8_t *end)
{
    const uint8_t *stop = end - p > CRS_SEARCH ? p + CRS_SEARCH : end;
    for (; p + 6 <= stop; p++) {
        if (p[0] != 0x08 || memcmp(p + 1, "_CRS", 4) || p[5] != 0x11)
            continue;
        const uint8_t *q = p + 6;
        const uint8_t *buffer_end = q + 1;      /* PkgLength: its value counts from here */
        unsigned extra = q[0] >> 6;
        if (q + 1 + extra > end)
            return;
        uint32_t length = extra ? q[0] & 0x0f : q[0] & 0x3f;
        for (unsigned i = 0; i < extra; i++)
            length |= (uint32_t)q[1 + i] << (4 + 8 * i);
        buffer_end = q + length;
        q += 1 + extra;
        uint32_t size;
        unsigned skip;
        if (buffer_end > end || !aml_integer(q, buffer_end, &size, &skip))
            return;
        q += skip;
        uint64_t base = 0;
        uint32_t window = 0, gsi = 0;
        bool have_irq = false;
        while (q + 3 <= buffer_end && q[0] != 0x79) {
            if (!(q[0] & 0x80)) {               /* another small item */
                q += 1 + (q[0] & 7);
                continue;
            }
            uint32_t item = q[1] | q[2] << 8;
            if (q + 3 + item > buffer_end)
                return;
            if (q[0] == 0x86 && item >= 9) {
                base = u32(q + 4);
                window = u32(q + 8);
            } else if (q[0] == 0x89 && item >= 6 && q[4] >= 1) {
                gsi = u32(q + 5);
                have_irq = true;
            }
            q += 3 + item;
        }
        if (base && window && have_irq && acpi.virtio_mmio_count < ATH_VIRTIO_MMIO_MAX)
            acpi.virtio_mmio[acpi.virtio_mmio_count++] =
                (struct ath_acpi_virtio_mmio){ base, window, gsi };
        return;
    }
}

static void find_virtio_mmio(const uint8_t *t)
{
    const uint8_t *end = t + u32(t + 4);
    for (const uint8_t *p = t + HEADER_SIZE; p + 10 <= end; p++)
        if (p[0] == 0x0d && !memcmp(p + 1, VIRTIO_HID, 8) && p[9] == 0)
            read_virtio_crs(p + 10, end);
}

void ath_acpi_init(const struct ath_boot_info *info)
{
    acpi.searched = true;
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
    uint64_t dsdt = 0;
    for (uint32_t at = HEADER_SIZE; at + entry <= length; at += entry) {
        const uint8_t *t = table_at(extended ? u64(root + at) : u32(root + at));
        if (!t)
            continue;
        if (!memcmp(t, "MCFG", 4))
            read_mcfg(t);
        else if (!memcmp(t, "APIC", 4))
            read_madt(t);
        else if (!memcmp(t, "FACP", 4))
            read_fadt(t, &dsdt);
    }
    /* \_S5 is in the DSDT on every machine seen; an SSDT may hold it too. */
    const uint8_t *t = dsdt ? table_at(dsdt) : NULL;
    if (t && !memcmp(t, "DSDT", 4)) {
        find_virtio_mmio(t);
        if (find_s5(t))
            return;
    }
    for (uint32_t at = HEADER_SIZE; at + entry <= length; at += entry) {
        t = table_at(extended ? u64(root + at) : u32(root + at));
        if (t && !memcmp(t, "SSDT", 4) && find_s5(t))
            return;
    }
}

/* ---- Registers, power off, reset ------------------------------------------------------- */

static unsigned register_bytes(const struct ath_acpi_register *r)
{
    unsigned bytes = r->access_size ? 1u << (r->access_size - 1) : r->bit_width / 8u;
    return bytes == 1 || bytes == 2 || bytes == 4 ? bytes : 1;
}

/* A memory-space register's address, mapped uncached; NULL when it cannot be. */
static volatile void *register_memory(const struct ath_acpi_register *r)
{
    uint64_t page = ATH_ALIGN_DOWN(r->address, ATH_PAGE_SIZE), mapped;
    unsigned flags;
    if (r->address + 8 > ath_vm_window_base())
        return NULL;
    if (!ath_vm_query(page, &mapped, &flags) &&
        ath_vm_map(page, page, ATH_PAGE_SIZE, ATH_VM_READ | ATH_VM_WRITE | ATH_VM_NOCACHE) != ATH_OK)
        return NULL;
    return (volatile void *)(uintptr_t)r->address;
}

static uint32_t register_read(const struct ath_acpi_register *r)
{
    unsigned bytes = register_bytes(r);
    if (r->space == ATH_ACPI_SPACE_IO && r->address <= 0xffff)
        return ath_arch_port_in((uint16_t)r->address, bytes);
    volatile void *p = r->space == ATH_ACPI_SPACE_MEMORY ? register_memory(r) : NULL;
    if (!p)
        return 0;
    return bytes == 1 ? *(volatile uint8_t *)p : bytes == 2 ? *(volatile uint16_t *)p
                                                            : *(volatile uint32_t *)p;
}

static void register_write(const struct ath_acpi_register *r, uint32_t value)
{
    unsigned bytes = register_bytes(r);
    if (r->space == ATH_ACPI_SPACE_IO && r->address <= 0xffff) {
        ath_arch_port_out((uint16_t)r->address, bytes, value);
        return;
    }
    volatile void *p = r->space == ATH_ACPI_SPACE_MEMORY ? register_memory(r) : NULL;
    if (!p)
        return;
    if (bytes == 1)
        *(volatile uint8_t *)p = (uint8_t)value;
    else if (bytes == 2)
        *(volatile uint16_t *)p = (uint16_t)value;
    else
        *(volatile uint32_t *)p = value;
}

#define PM1_SCI_EN      (1u << 0)
#define PM1_SLP_TYP(t)  ((uint32_t)(t) << 10)
#define PM1_SLP_TYP_MASK PM1_SLP_TYP(7)
#define PM1_SLP_EN      (1u << 13)
#define SLEEP_SLP_TYP(t) ((uint32_t)(t) << 2)   /* the hardware-reduced sleep control register */
#define SLEEP_SLP_EN    (1u << 5)
#define SCI_EN_POLLS    1000000u                /* bounded wait for the firmware's ACPI mode */

static void enter_acpi_mode(void)
{
    if (!acpi.smi_command || !acpi.acpi_enable || (register_read(&acpi.pm1a_control) & PM1_SCI_EN))
        return;
    ath_arch_port_out((uint16_t)acpi.smi_command, 1, acpi.acpi_enable);
    for (unsigned i = 0; i < SCI_EN_POLLS && !(register_read(&acpi.pm1a_control) & PM1_SCI_EN); i++)
        ;
}

static void write_sleep(const struct ath_acpi_register *control, uint8_t type)
{
    uint32_t value = register_read(control) & ~(PM1_SLP_TYP_MASK | PM1_SLP_EN);
    register_write(control, value | PM1_SLP_TYP(type));
    register_write(control, value | PM1_SLP_TYP(type) | PM1_SLP_EN);
}

bool ath_acpi_power_off(void)
{
    if (!acpi.s5)
        return false;
    if (acpi.pm1a_control.address && !acpi.hardware_reduced) {
        enter_acpi_mode();
        write_sleep(&acpi.pm1a_control, acpi.s5_type_a);
        if (acpi.pm1b_control.address)
            write_sleep(&acpi.pm1b_control, acpi.s5_type_b);
    } else if (acpi.sleep_control.address) {
        register_write(&acpi.sleep_control, SLEEP_SLP_TYP(acpi.s5_type_a) | SLEEP_SLP_EN);
    } else {
        return false;
    }
    return true;
}

bool ath_acpi_reset(void)
{
    if (!acpi.reset.address)
        return false;
    register_write(&acpi.reset, acpi.reset_value);
    return true;
}
