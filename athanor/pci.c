/*
 * PCI functions as capabilities (docs/runtime.md, "PCI devices"). At boot the kernel walks the
 * buses (configuration space through ECAM when ACPI's MCFG gives it, else the legacy ports
 * 0xcf8/0xcfc), records every function, its BARs (sized here, with decoding off) and its
 * MSI-X capability, and turns bus mastering off on every endpoint: no device reads or writes
 * memory unless the kernel let it, for a driver whose DMA region is set up. The kernel owns
 * configuration space; BARs are placed by the firmware and never moved.
 *
 * A module granted pci:SELECTOR gets, through athanor.pci_open, a handle on the one function the
 * selector names (resolved at boot, each function to one module) and through it only:
 *   - reads of its configuration registers, except the BARs and the expansion ROM address
 *     (where the firmware put things is the kernel's to know); no writes at all;
 *   - its BARs, as MMIO windows or port ranges addressed from their start, minus the MSI-X
 *     table and PBA (a driver that wrote the table could make its device write any address);
 *   - its interrupts: MSI-X vectors that the kernel programs, or its INTx line through the
 *     I/O APIC, with "acknowledge, then wait" as for legacy lines (device.c).
 * Bus mastering (and with it MSI-X, which is a memory write) is turned on only for a device
 * the kernel knows how to confine (virtio.c) and only for a module with a DMA region; any other
 * device is driven through its registers and INTx, and cannot reach memory at all.
 */
#include "kernel.h"
#include "kernel_abi.h"

static struct ath_pci_function functions[ATH_PCI_FUNCTIONS_MAX];
static uint32_t function_count;
static bool use_ecam, listing;
static uint64_t ecam_mapped[4];          /* bit per bus: its 1 MiB of ECAM is mapped */
static uint32_t overflow;                /* functions beyond ATH_PCI_FUNCTIONS_MAX */

/* ---- Configuration space --------------------------------------------------------------------- */
#define CONFIG_ADDRESS 0xcf8
#define CONFIG_DATA    0xcfc

static volatile uint8_t *ecam_at(unsigned bus, unsigned slot, unsigned function)
{
    const struct ath_acpi *acpi = ath_acpi();
    if (!use_ecam || bus < acpi->ecam_bus_first || bus > acpi->ecam_bus_last)
        return NULL;
    uint64_t base = acpi->ecam_base + ((uint64_t)(bus - acpi->ecam_bus_first) << 20);
    if (!(ecam_mapped[bus / 64] >> (bus % 64) & 1)) {
        if (ath_device_map_window(base, 1u << 20))
            return NULL;
        ecam_mapped[bus / 64] |= 1ull << (bus % 64);
    }
    return (volatile uint8_t *)(uintptr_t)(base + (slot << 15) + (function << 12));
}

static uint32_t config_read(unsigned bus, unsigned slot, unsigned function, unsigned offset,
                            unsigned width)
{
    volatile uint8_t *ecam = ecam_at(bus, slot, function);
    if (ecam) {
        if (width == 1)
            return ecam[offset];
        if (width == 2)
            return *(volatile uint16_t *)(ecam + offset);
        return *(volatile uint32_t *)(ecam + offset);
    }
    if (offset >= 256)
        return 0xffffffffu;
    uint64_t state = ath_arch_irq_save();  /* the address/data pair is one access */
    ath_arch_port_out(CONFIG_ADDRESS, 4, 0x80000000u | bus << 16 | slot << 11 | function << 8 |
                                         (offset & 0xfc));
    uint32_t value = ath_arch_port_in((uint16_t)(CONFIG_DATA + (offset & 3)), width);
    ath_arch_irq_restore(state);
    return value;
}

static void config_write(unsigned bus, unsigned slot, unsigned function, unsigned offset,
                         unsigned width, uint32_t value)
{
    volatile uint8_t *ecam = ecam_at(bus, slot, function);
    if (ecam) {
        if (width == 1)
            ecam[offset] = (uint8_t)value;
        else if (width == 2)
            *(volatile uint16_t *)(ecam + offset) = (uint16_t)value;
        else
            *(volatile uint32_t *)(ecam + offset) = value;
        return;
    }
    if (offset >= 256)
        return;
    uint64_t state = ath_arch_irq_save();
    ath_arch_port_out(CONFIG_ADDRESS, 4, 0x80000000u | bus << 16 | slot << 11 | function << 8 |
                                         (offset & 0xfc));
    ath_arch_port_out((uint16_t)(CONFIG_DATA + (offset & 3)), width, value);
    ath_arch_irq_restore(state);
}

/* A platform function's configuration header: its IDs, class, header type 0, INTx; no
 * capabilities, no BARs to read (the kernel knows BAR 0). */
static uint32_t platform_read(const struct ath_pci_function *f, unsigned offset, unsigned width)
{
    uint8_t header[64] = { 0 };
    header[0] = (uint8_t)f->vendor;
    header[1] = (uint8_t)(f->vendor >> 8);
    header[2] = (uint8_t)f->device;
    header[3] = (uint8_t)(f->device >> 8);
    header[0x08] = f->revision;
    header[0x09] = f->progif;
    header[0x0a] = f->subclass;
    header[0x0b] = f->class;
    header[0x3c] = f->irq_line;
    header[0x3d] = f->irq_pin;
    if (offset + width > sizeof header)
        return 0;
    uint32_t value = 0;
    for (unsigned i = 0; i < width; i++)
        value |= (uint32_t)header[offset + i] << (8 * i);
    return value;
}

uint32_t ath_pci_read(const struct ath_pci_function *f, unsigned offset, unsigned width)
{
    if (f->platform)
        return platform_read(f, offset, width);
    return config_read(f->bus, f->slot, f->function, offset, width);
}

void ath_pci_write(const struct ath_pci_function *f, unsigned offset, unsigned width,
                   uint32_t value)
{
    if (!f->platform)
        config_write(f->bus, f->slot, f->function, offset, width, value);
}

/* ---- Enumeration ----------------------------------------------------------------------------- */
/* Sizes the BARs with decoding off (all ones written, the size read back, restored). */
static void size_bars(struct ath_pci_function *f)
{
    uint16_t command = (uint16_t)ath_pci_read(f, PCI_COMMAND, 2);
    ath_pci_write(f, PCI_COMMAND, 2, command & ~(PCI_COMMAND_IO | PCI_COMMAND_MEMORY));
    for (unsigned i = 0; i < 6; i++) {
        unsigned reg = PCI_BAR0 + 4 * i;
        uint32_t original = ath_pci_read(f, reg, 4);
        ath_pci_write(f, reg, 4, 0xffffffffu);
        uint32_t probe = ath_pci_read(f, reg, 4);
        ath_pci_write(f, reg, 4, original);
        struct ath_pci_bar *b = &f->bars[i];
        if (original & 1) {                             /* I/O space */
            uint32_t mask = probe & 0xfffffffcu & 0xffff;
            if (mask) {
                b->kind = PCI_BAR_IO;
                b->base = original & 0xfffffffcu;
                b->size = (~mask + 1) & 0xffff;
            }
            continue;
        }
        uint64_t base = original & 0xfffffff0u, mask = probe & 0xfffffff0u;
        bool wide = ((original >> 1) & 3) == 2;
        if (wide && i < 5) {
            uint32_t high = ath_pci_read(f, reg + 4, 4);
            ath_pci_write(f, reg + 4, 4, 0xffffffffu);
            uint32_t high_probe = ath_pci_read(f, reg + 4, 4);
            ath_pci_write(f, reg + 4, 4, high);
            base |= (uint64_t)high << 32;
            mask |= (uint64_t)high_probe << 32;
            f->bars[i + 1].kind = PCI_BAR_UPPER;
        } else {
            mask |= 0xffffffff00000000ull;
        }
        if (mask & 0xfffffff0u) {
            b->kind = PCI_BAR_MEMORY;
            b->base = base;
            b->size = ~mask + 1;
        }
        if (wide)
            i++;
    }
    ath_pci_write(f, PCI_COMMAND, 2, command);
}

uintptr_t ath_pci_bar_address(struct ath_pci_function *f, unsigned bar)
{
    struct ath_pci_bar *b = &f->bars[bar];
    if (b->kind != PCI_BAR_MEMORY || b->size == 0 || b->base + b->size < b->base)
        return 0;
    if (b->mapped)
        return b->mapped;
    uint64_t first = ATH_ALIGN_DOWN(b->base, ATH_PAGE_SIZE);
    uint64_t end = ATH_ALIGN_UP(b->base + b->size, ATH_PAGE_SIZE);
    if (end <= ath_vm_window_base()) {
        if (ath_device_map_window(b->base, b->size))
            return 0;
        b->mapped = (uintptr_t)b->base;
    } else {
        uintptr_t virt = ath_vm_reserve((size_t)(end - first));
        if (!virt || ath_vm_map(virt, first, (size_t)(end - first),
                                ATH_VM_READ | ATH_VM_WRITE | ATH_VM_NOCACHE) != ATH_OK)
            return 0;                   /* (a failed reservation stays: boot or a driver's open) */
        b->mapped = virt + (uintptr_t)(b->base - first);
    }
    return b->mapped;
}

static void find_msix(struct ath_pci_function *f)
{
    if (!(ath_pci_read(f, PCI_STATUS, 2) & PCI_STATUS_CAPS))
        return;
    unsigned at = ath_pci_read(f, PCI_CAPABILITIES, 1) & 0xfc;
    for (unsigned hops = 0; at >= 0x40 && hops < 48; hops++) {
        if (ath_pci_read(f, at, 1) == PCI_CAP_MSIX) {
            uint32_t table = ath_pci_read(f, at + 4, 4), pba = ath_pci_read(f, at + 8, 4);
            f->msix.cap = (uint8_t)at;
            f->msix.count = (uint16_t)((ath_pci_read(f, at + 2, 2) & 0x7ff) + 1);
            f->msix.table_bar = table & 7;
            f->msix.table_offset = table & ~7u;
            f->msix.pba_bar = pba & 7;
            f->msix.pba_offset = pba & ~7u;
            const struct ath_pci_bar *b = &f->bars[f->msix.table_bar];
            uint64_t bytes = 16ull * f->msix.count;
            uintptr_t bar = b->kind == PCI_BAR_MEMORY && f->msix.table_offset + bytes <= b->size
                            ? ath_pci_bar_address(f, f->msix.table_bar) : 0;
            if (!bar) {
                f->msix.cap = 0;            /* unusable: the function goes without MSI-X */
                return;
            }
            f->msix.table = (volatile uint32_t *)(bar + f->msix.table_offset);
            /* Off until a driver opens it; every entry masked. */
            ath_pci_write(f, at + 2, 2, ath_pci_read(f, at + 2, 2) & ~PCI_MSIX_ENABLE);
            for (unsigned e = 0; e < f->msix.count; e++)
                f->msix.table[4 * e + 3] = 1;
            return;
        }
        at = ath_pci_read(f, at + 1, 1) & 0xfc;
    }
}

static void enumerate_bus(unsigned bus, uint64_t *seen);

static void record(unsigned bus, unsigned slot, unsigned function, uint64_t *seen)
{
    uint8_t header = (uint8_t)config_read(bus, slot, function, PCI_HEADER_TYPE, 1);
    if ((header & 0x7f) == 1) {         /* a bridge: the bus behind it, as the firmware set it */
        unsigned secondary = config_read(bus, slot, function, PCI_SECONDARY_BUS, 1);
        if (secondary > bus && !(seen[secondary / 64] >> (secondary % 64) & 1))
            enumerate_bus(secondary, seen);
    }
    if (function_count == ATH_PCI_FUNCTIONS_MAX) {
        overflow++;
        return;
    }
    struct ath_pci_function *f = &functions[function_count++];
    *f = (struct ath_pci_function){ .bus = (uint8_t)bus, .slot = (uint8_t)slot,
                                    .function = (uint8_t)function, .header = header & 0x7f,
                                    .intx_source = -1 };
    uint32_t id = ath_pci_read(f, PCI_VENDOR, 4), class = ath_pci_read(f, PCI_REVISION, 4);
    f->vendor = (uint16_t)id;
    f->device = (uint16_t)(id >> 16);
    f->revision = (uint8_t)class;
    f->progif = (uint8_t)(class >> 8);
    f->subclass = (uint8_t)(class >> 16);
    f->class = (uint8_t)(class >> 24);
    f->config_size = ecam_at(bus, slot, function) ? 4096 : 256;
    for (unsigned i = 0; i < ATH_MSIX_VECTORS_MAX; i++)
        f->msix.sources[i] = -1;
    if (f->header != 0)
        return;
    f->irq_line = (uint8_t)ath_pci_read(f, PCI_INTERRUPT_LINE, 1);
    f->irq_pin = (uint8_t)ath_pci_read(f, PCI_INTERRUPT_PIN, 1);
    ath_pci_write(f, PCI_COMMAND, 2, ath_pci_read(f, PCI_COMMAND, 2) & ~PCI_COMMAND_MASTER);
    size_bars(f);
    find_msix(f);
    ath_virtio_probe(f);
}

static void enumerate_bus(unsigned bus, uint64_t *seen)
{
    seen[bus / 64] |= 1ull << (bus % 64);
    for (unsigned slot = 0; slot < 32; slot++) {
        for (unsigned function = 0; function < 8; function++) {
            if ((config_read(bus, slot, function, PCI_VENDOR, 2) & 0xffff) == 0xffff) {
                if (function == 0)
                    break;
                continue;
            }
            record(bus, slot, function, seen);
            if (function == 0 && !(config_read(bus, slot, 0, PCI_HEADER_TYPE, 1) & 0x80))
                break;                  /* not a multi-function device */
        }
    }
}

/* ---- virtio-mmio devices ------------------------------------------------------------------- */
#define VIRTIO_MMIO_KEY "virtio_mmio.device"

static uint64_t parse_number(const char **p)
{
    uint64_t value = 0;
    unsigned base = 10;
    if ((*p)[0] == '0' && ((*p)[1] == 'x' || (*p)[1] == 'X')) {
        base = 16;
        *p += 2;
    }
    for (;; (*p)++) {
        char c = **p;
        unsigned digit = c >= '0' && c <= '9' ? (unsigned)(c - '0') :
                         base == 16 && c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10) :
                         base == 16 && c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10) : 99;
        if (digit >= base || value > (UINT64_MAX >> 4))
            return value;
        value = value * base + digit;
    }
}

/* "SIZE@BASE:IRQ[:ID]", SIZE with an optional K or M. */
static bool parse_virtio_mmio(const char *text, uint64_t *base, uint64_t *size, uint32_t *gsi)
{
    const char *p = text;
    *size = parse_number(&p);
    if (*p == 'K' || *p == 'k')
        *size <<= 10, p++;
    else if (*p == 'M' || *p == 'm')
        *size <<= 20, p++;
    if (*p++ != '@')
        return false;
    *base = parse_number(&p);
    if (*p++ != ':')
        return false;
    *gsi = (uint32_t)parse_number(&p);
    return (*p == '\0' || *p == ':') && *size >= 0x100 && *size <= (1u << 20) &&
           *base + *size > *base && *gsi < 256;
}

static void add_platform(uint64_t base, uint64_t size, uint32_t gsi)
{
    for (uint32_t i = 0; i < function_count; i++)
        if (functions[i].platform && functions[i].bars[0].base == base)
            return;                     /* declared twice (ACPI and the command line) */
    if (function_count == ATH_PCI_FUNCTIONS_MAX) {
        overflow++;
        return;
    }
    struct ath_pci_function *f = &functions[function_count];
    *f = (struct ath_pci_function){ .bus = 0xff, .slot = (uint8_t)(function_count & 0x1f),
                                    .platform = true, .intx_source = -1, .irq_pin = 1,
                                    .irq_line = (uint8_t)gsi, .config_size = 64 };
    f->bars[0] = (struct ath_pci_bar){ .base = base, .size = size, .kind = PCI_BAR_MEMORY };
    for (unsigned i = 0; i < ATH_MSIX_VECTORS_MAX; i++)
        f->msix.sources[i] = -1;
    if (!ath_virtio_probe_mmio(f))
        return;                         /* no device behind this transport */
    function_count++;
}

void ath_pci_add_virtio_mmio(void)
{
    struct ath_arch_mmio_device described[ATH_VIRTIO_MMIO_MAX];
    unsigned count = ath_arch_virtio_mmio_devices(described, ATH_VIRTIO_MMIO_MAX);
    for (unsigned i = 0; i < count; i++)
        if (described[i].gsi < 256)     /* a function's interrupt line is a byte */
            add_platform(described[i].base, described[i].size, described[i].gsi);
    const struct ath_acpi *acpi = ath_acpi();
    for (unsigned i = 0; i < acpi->virtio_mmio_count; i++)
        add_platform(acpi->virtio_mmio[i].base, acpi->virtio_mmio[i].size,
                     acpi->virtio_mmio[i].gsi);
    const char *text;
    for (unsigned n = 0; (text = ath_cmdline_get_nth(VIRTIO_MMIO_KEY, n)); n++) {
        uint64_t base, size;
        uint32_t gsi;
        if (parse_virtio_mmio(text, &base, &size, &gsi))
            add_platform(base, size, gsi);
        else
            ath_kprintf("[athanor] " VIRTIO_MMIO_KEY "=%s: not SIZE@BASE:IRQ, ignored\n", text);
    }
}

static void list(const struct ath_pci_function *f)
{
    if (f->platform) {
        ath_kprintf("[athanor] virtio-mmio 0x%lx %04x:%04x class %02x.%02x.%02x",
                    (unsigned long)f->bars[0].base, f->vendor, f->device, f->class,
                    f->subclass, f->progif);
    } else {
        ath_kprintf("[athanor] pci %02x:%02x.%u %04x:%04x class %02x.%02x.%02x%s", f->bus,
                    f->slot, f->function, f->vendor, f->device, f->class, f->subclass,
                    f->progif, f->header == 1 ? " bridge" : f->header ? " (other header)" : "");
    }
    for (unsigned i = 0; i < 6; i++) {
        const struct ath_pci_bar *b = &f->bars[i];
        if (b->kind == PCI_BAR_MEMORY || b->kind == PCI_BAR_IO)
            ath_kprintf(" bar%u %s 0x%lx+%luK", i, b->kind == PCI_BAR_IO ? "io" : "mem",
                        (unsigned long)b->base, (unsigned long)((b->size + 1023) >> 10));
    }
    if (f->msix.cap)
        ath_kprintf(" msi-x %u", f->msix.count);
    if (f->irq_pin)
        ath_kprintf(" intx %c line %u", 'A' + f->irq_pin - 1, f->irq_line);
    if (f->virtio)
        ath_kprintf(" virtio");
    ath_kprintf("\n");
}

static bool has_word(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *at = list; at && *at; at = strchr(at, ',') ? strchr(at, ',') + 1 : NULL)
        if (!strncmp(at, word, n) && (at[n] == ',' || at[n] == '\0'))
            return true;
    return false;
}

void ath_pci_init(void)
{
    /* athanor.pci=list prints every function; athanor.pci=ports (or list,ports) leaves ECAM
     * alone and goes through the legacy ports. */
    const char *option = ath_cmdline_get("athanor.pci");
    listing = has_word(option, "list");
    use_ecam = ath_acpi()->ecam && !has_word(option, "ports");
    uint64_t seen[4] = { 0 };
    enumerate_bus(0, seen);
    ath_pci_add_virtio_mmio();
    if (listing) {
        ath_kprintf("[athanor] pci: %u functions, configuration space through %s\n",
                    function_count + overflow, use_ecam ? "ECAM" : "ports 0xcf8-0xcff");
        for (uint32_t i = 0; i < function_count; i++)
            list(&functions[i]);
    }
    if (overflow)
        ath_kprintf("[athanor] pci: %u functions beyond the first %d are ignored\n", overflow,
                    ATH_PCI_FUNCTIONS_MAX);
}

/* ---- Grants ------------------------------------------------------------------------------------ */
#define SELECT_ID ATH_IMG_PCI_SELECT_ID             /* formats/image.toml */
#define SELECT_CLASS ATH_IMG_PCI_SELECT_CLASS
#define SELECT_ADDRESS ATH_IMG_PCI_SELECT_ADDRESS
#define SELECT_OPTIONAL ATH_IMG_PCI_OPTIONAL

static uint32_t key_of(const struct ath_pci_function *f, uint32_t kind)
{
    if (kind == SELECT_ID)
        return (uint32_t)f->vendor << 16 | f->device;
    if (kind == SELECT_CLASS)
        return (uint32_t)f->class << 16 | f->subclass << 8 | f->progif;
    return (uint32_t)f->bus << 8 | f->slot << 3 | f->function;
}

/* The selector as a manifest writes it (azoth/catalogue.py's format_pci_selector). */
static void selector_text(char *out, size_t size, const struct ath_image_resource *r)
{
    uint32_t kind = r->flags & 0xff, key = (uint32_t)r->first, mask = (uint32_t)r->last;
    const char *optional = r->flags & SELECT_OPTIONAL ? "?" : "";
    if (kind == SELECT_ID)
        ath_snprintf(out, size, "pci:%04x:%04x%s", key >> 16, key & 0xffff, optional);
    else if (kind == SELECT_ADDRESS)
        ath_snprintf(out, size, "pci:%02x:%02x.%u%s", key >> 8, key >> 3 & 0x1f, key & 7,
                     optional);
    else if (mask == 0xff0000)
        ath_snprintf(out, size, "pci:class=%02x%s", key >> 16, optional);
    else if (mask == 0xffff00)
        ath_snprintf(out, size, "pci:class=%02x.%02x%s", key >> 16, key >> 8 & 0xff, optional);
    else
        ath_snprintf(out, size, "pci:class=%02x.%02x.%02x%s", key >> 16, key >> 8 & 0xff,
                     key & 0xff, optional);
}

static ATH_NORETURN ATH_PRINTF(2, 3) void refuse(const char *module, const char *fmt, ...)
{
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    ath_vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    ath_kprintf("[athanor] boot error: module %s: %s\n", module, what);
    ath_fail(ATH_FAIL_BOOT);
}

static bool overlaps(uint64_t a, uint64_t a_last, uint64_t b, uint64_t b_last)
{
    return a <= b_last && b <= a_last;
}

static void check_window(const char *module, const struct ath_image_resource *r)
{
    const struct ath_acpi *acpi = ath_acpi();
    if (r->kind == ATH_RESOURCE_MMIO && acpi->ecam &&
        overlaps(r->first, r->last, acpi->ecam_base,
                 acpi->ecam_base + ((uint64_t)(acpi->ecam_bus_last - acpi->ecam_bus_first + 1) << 20) - 1))
        refuse(module, "an MMIO window over PCI configuration space (ECAM) 0x%lx-0x%lx",
               (unsigned long)r->first, (unsigned long)r->last);
    for (uint32_t i = 0; i < function_count; i++) {
        const struct ath_pci_function *f = &functions[i];
        for (unsigned b = 0; b < 6; b++) {
            const struct ath_pci_bar *bar = &f->bars[b];
            bool io = bar->kind == PCI_BAR_IO, memory = bar->kind == PCI_BAR_MEMORY;
            if (!(r->kind == ATH_RESOURCE_PORT ? io : r->kind == ATH_RESOURCE_MMIO && memory) ||
                !overlaps(r->first, r->last, bar->base, bar->base + bar->size - 1))
                continue;
            refuse(module, "%s 0x%lx-0x%lx cover BAR %u of PCI function %02x:%02x.%u "
                   "(%04x:%04x): grant the device with pci:%04x:%04x and open its BARs "
                   "through it", r->kind == ATH_RESOURCE_PORT ? "ports" : "an MMIO window",
                   (unsigned long)r->first, (unsigned long)r->last, b, f->bus, f->slot,
                   f->function, f->vendor, f->device, f->vendor, f->device);
        }
    }
}

void ath_pci_check_grants(const struct ath_image *image)
{
    for (uint32_t t = 0; t < ath_task_count(); t++) {
        struct ath_task *task = ath_task_at(t);
        const char *name = task->record.name;
        uint32_t grant = 0;
        for (uint32_t i = 0; i < task->record.resource_count; i++) {
            struct ath_image_resource r;
            ath_image_resource_at(image, task->record.resource_first + i, &r);
            if (r.kind == ATH_RESOURCE_PORT || r.kind == ATH_RESOURCE_MMIO)
                check_window(name, &r);
            if (r.kind != ATH_RESOURCE_PCI)
                continue;
            char text[48];
            selector_text(text, sizeof text, &r);
            uint32_t kind = r.flags & 0xff;
            if (kind < SELECT_ID || kind > SELECT_ADDRESS || (r.flags & ~(0xffu | SELECT_OPTIONAL)) ||
                r.first > 0xffffffffu || r.last > 0xffffffffu || (r.first & ~r.last))
                refuse(name, "a malformed pci grant");
            struct ath_pci_function *found = NULL;
            for (uint32_t k = 0; k < function_count && !found; k++)
                if ((key_of(&functions[k], kind) & r.last) == r.first &&
                    (functions[k].header == 0 || kind == SELECT_ADDRESS))
                    found = &functions[k];
            if (!found) {
                if (!(r.flags & SELECT_OPTIONAL))
                    refuse(name, "no PCI function matches %s (write %s? if the appliance may "
                           "run without it)", text, text);
                ath_kprintf("[athanor] pci: no function matches %s of module %s (optional)\n",
                            text, name);
                grant++;
                continue;
            }
            if (found->header != 0)
                refuse(name, "%s names %02x:%02x.%u, a bridge: only endpoints are granted", text,
                       found->bus, found->slot, found->function);
            if (found->owner)
                refuse(name, "%s names %02x:%02x.%u, which module %s's pci grant names too: a "
                       "device belongs to one module", text, found->bus, found->slot,
                       found->function, found->owner->record.name);
            found->owner = task;
            found->grant = grant++;
            if (found->platform)
                ath_kprintf("[athanor] virtio-mmio 0x%lx %04x:%04x (virtio) -> module %s\n",
                            (unsigned long)found->bars[0].base, found->vendor, found->device,
                            name);
            else
                ath_kprintf("[athanor] pci %02x:%02x.%u %04x:%04x%s -> module %s\n", found->bus,
                            found->slot, found->function, found->vendor, found->device,
                            found->virtio ? " (virtio)" : "", name);
        }
    }
    /* A legacy irq: grant on the line a granted function's INTx is wired to would see that
     * device's interrupts too. */
    for (uint32_t t = 0; t < ath_task_count(); t++) {
        struct ath_task *task = ath_task_at(t);
        for (uint32_t i = 0; i < task->record.resource_count; i++) {
            struct ath_image_resource r;
            ath_image_resource_at(image, task->record.resource_first + i, &r);
            for (uint32_t k = 0; r.kind == ATH_RESOURCE_IRQ && k < function_count; k++) {
                const struct ath_pci_function *f = &functions[k];
                if (f->owner && f->irq_pin && f->irq_line == r.first)
                    refuse(task->record.name, "irq:%lu is the INTx line of PCI function "
                           "%02x:%02x.%u, granted to module %s", (unsigned long)r.first, f->bus,
                           f->slot, f->function, f->owner->record.name);
            }
        }
    }
}

/* ---- Handles ----------------------------------------------------------------------------------- */
int32_t ath_pci_of(struct ath_task *task, uint32_t handle, struct ath_pci_function **out)
{
    struct ath_handle *h;
    int32_t error = ath_handle_get(task, (int32_t)handle, ATH_HANDLE_PCI, &h);
    if (error)
        return error;
    *out = &functions[h->first];
    return 0;
}

static uint32_t pci_grants(const struct ath_task *task)
{
    uint32_t count = 0;
    for (uint32_t i = 0; i < task->record.resource_count; i++) {
        struct ath_image_resource r;
        ath_image_resource_at(task->image, task->record.resource_first + i, &r);
        count += r.kind == ATH_RESOURCE_PCI;
    }
    return count;
}

void ath_pci_msix_mask(uint16_t device, uint16_t entry, bool masked)
{
    struct ath_pci_function *f = &functions[device];
    f->msix.table[4 * entry + 3] = masked ? 1 : 0;
}

/* MSI-X on: the first vectors of its table (at most ATH_MSIX_VECTORS_MAX, as many as there
 * are sources left) programmed with the kernel's messages, each masked until a driver waits
 * on it; INTx off. Only for a function that may master the bus. */
static void msix_enable(struct ath_pci_function *f, uint16_t index)
{
    unsigned count = ATH_MIN(f->msix.count, (unsigned)ATH_MSIX_VECTORS_MAX);
    f->msix.programmed = 0;
    for (unsigned e = 0; e < count; e++) {
        if (f->msix.sources[e] < 0)
            f->msix.sources[e] = (int8_t)ath_irq_source_msix(index, (uint16_t)e);
        if (f->msix.sources[e] < 0)
            break;
        uint64_t address;
        uint32_t data;
        ath_arch_msi_message((unsigned)f->msix.sources[e], &address, &data);
        volatile uint32_t *entry = &f->msix.table[4 * e];
        entry[3] = 1;
        entry[0] = (uint32_t)address;
        entry[1] = (uint32_t)(address >> 32);
        entry[2] = data;
        f->msix.programmed++;
    }
    uint16_t control = (uint16_t)ath_pci_read(f, f->msix.cap + 2, 2);
    ath_pci_write(f, f->msix.cap + 2, 2, (control | PCI_MSIX_ENABLE) & ~PCI_MSIX_MASK_ALL);
    f->msix.enabled = f->msix.programmed > 0;
}

static void msix_disable(struct ath_pci_function *f)
{
    for (unsigned e = 0; e < f->msix.count; e++)
        f->msix.table[4 * e + 3] = 1;
    uint16_t control = (uint16_t)ath_pci_read(f, f->msix.cap + 2, 2);
    ath_pci_write(f, f->msix.cap + 2, 2, control & ~PCI_MSIX_ENABLE);
    f->msix.enabled = false;
}

/* athanor.pci_open(grant): the function of the module's grant-th pci grant, reset */
int32_t ath_abi_pci_open(void *vmctx, uint32_t grant)
{
    struct ath_task *task = ath_caller(vmctx);
    if (grant >= pci_grants(task))
        return ath_refuse_ungranted(task, ATH_E_DENIED, "pci_open", "add a pci grant "
                                    "(pci:VVVV:DDDD) to its grants: it has %u",
                                    pci_grants(task));
    struct ath_pci_function *f = NULL;
    for (uint32_t i = 0; i < function_count && !f; i++)
        if (functions[i].owner == task && functions[i].grant == grant)
            f = &functions[i];
    if (!f)
        return ATH_E_NODEV;             /* an optional grant whose device is absent */
    if (f->open)
        return ATH_E_BUSY;
    uint16_t index = (uint16_t)(f - functions);
    int32_t handle = ath_handle_new(task, ATH_HANDLE_PCI, 0, index, index);
    if (handle < 0)
        return handle;
    task->handles[handle & 0xff].device = (uint16_t)(index + 1);

    /* A clean device for the new driver, whatever the last one left. */
    if (f->virtio)
        ath_virtio_reset(f);
    uint16_t command = (uint16_t)ath_pci_read(f, PCI_COMMAND, 2) & ~PCI_COMMAND_MASTER;
    for (unsigned b = 0; b < 6; b++)
        command |= f->bars[b].kind == PCI_BAR_IO ? PCI_COMMAND_IO :
                   f->bars[b].kind == PCI_BAR_MEMORY ? PCI_COMMAND_MEMORY : 0;
    bool masters = f->virtio && task->dma.size;
    if (masters)
        command |= PCI_COMMAND_MASTER;
    if (masters && f->msix.cap) {
        msix_enable(f, index);
        command |= PCI_COMMAND_INTX_OFF;
    } else {
        if (f->msix.cap)
            msix_disable(f);
        command &= ~PCI_COMMAND_INTX_OFF;
    }
    ath_pci_write(f, PCI_COMMAND, 2, command);
    f->open = true;
    return handle;
}

void ath_pci_release(struct ath_task *task, struct ath_handle *h)
{
    struct ath_pci_function *f = &functions[h->first];
    uint16_t device = (uint16_t)(h->first + 1);
    for (uint32_t i = 0; i < ATH_HANDLES_MAX; i++) {
        struct ath_handle *other = &task->handles[i];
        if (other != h && other->kind != ATH_HANDLE_FREE && other->device == device)
            ath_handle_release(task, other);
    }
    /* The device stops before anything it was told about is reused: reset (it forgets its
     * queues), then no bus mastering at all. */
    if (f->virtio)
        ath_virtio_reset(f);
    if (f->msix.cap)
        msix_disable(f);
    ath_pci_write(f, PCI_COMMAND, 2, ath_pci_read(f, PCI_COMMAND, 2) & ~PCI_COMMAND_MASTER);
    f->open = false;
}

/* athanor.pci_config_read(handle, offset, width) */
int64_t ath_abi_pci_config_read(void *vmctx, uint32_t handle, uint32_t offset, uint32_t width)
{
    struct ath_pci_function *f;
    int32_t error = ath_pci_of(ath_caller(vmctx), handle, &f);
    if (error)
        return error;
    if (width != 1 && width != 2 && width != 4)
        return ATH_E_INVALID;
    if (offset % width || offset >= f->config_size || offset + width > f->config_size ||
        overlaps(offset, offset + width - 1, PCI_BAR0, PCI_BAR0 + 24 - 1) ||
        overlaps(offset, offset + width - 1, PCI_ROM, PCI_ROM + 4 - 1))
        return ath_refuse(ATH_E_RANGE);
    return ath_pci_read(f, offset, width);
}

/* athanor.pci_bar_open(handle, bar) */
int32_t ath_abi_pci_bar_open(void *vmctx, uint32_t handle, uint32_t bar)
{
    struct ath_task *task = ath_caller(vmctx);
    struct ath_pci_function *f;
    int32_t error = ath_pci_of(task, handle, &f);
    if (error)
        return error;
    if (bar >= 6 || (f->bars[bar].kind != PCI_BAR_MEMORY && f->bars[bar].kind != PCI_BAR_IO))
        return ath_refuse(ATH_E_RANGE);
    if (f->virtio && !ath_virtio_bar_visible(f, bar))
        return ath_refuse(ATH_E_DENIED);
    struct ath_pci_bar *b = &f->bars[bar];
    uint16_t device = (uint16_t)(f - functions + 1);
    if (b->kind == PCI_BAR_IO) {
        handle = (uint32_t)ath_handle_new(task, ATH_HANDLE_PORT, ATH_HANDLE_RELATIVE | bar,
                                          b->base, b->base + b->size - 1);
    } else {
        /* The handle's window is the kernel's mapping of the BAR: a driver addresses it by
         * offsets and never learns either address. */
        uintptr_t at = ath_pci_bar_address(f, bar);
        if (!at)
            return ATH_E_NOMEM;
        handle = (uint32_t)ath_handle_new(task, ATH_HANDLE_MMIO, (uint8_t)bar, at,
                                          at + b->size - 1);
    }
    if ((int32_t)handle > 0)
        task->handles[handle & 0xff].device = device;
    return (int32_t)handle;
}

int32_t ath_pci_bar_access(const struct ath_handle *h, uint32_t offset, uint32_t width,
                           bool write, uint64_t value)
{
    const struct ath_pci_function *f = &functions[h->device - 1];
    unsigned bar = h->flags & ATH_HANDLE_BAR_MASK;
    uint64_t last = (uint64_t)offset + width - 1;
    if (f->msix.cap && ((bar == f->msix.table_bar &&
                         overlaps(offset, last, f->msix.table_offset,
                                  f->msix.table_offset + 16ull * f->msix.count - 1)) ||
                        (bar == f->msix.pba_bar &&
                         overlaps(offset, last, f->msix.pba_offset,
                                  f->msix.pba_offset + 8ull * ((f->msix.count + 63) / 64) - 1))))
        return ATH_E_RANGE;
    if (f->virtio)
        return ath_virtio_bar_access(f, bar, offset, width, write, value);
    return 0;
}

void ath_pci_bar_written(const struct ath_handle *h, uint32_t offset, uint32_t width,
                         uint64_t value)
{
    struct ath_pci_function *f = &functions[h->device - 1];
    if (f->virtio && ath_virtio_is_reset(f, h->flags & ATH_HANDLE_BAR_MASK, offset, width, value))
        ath_virtio_reset(f);
}

/* athanor.pci_irq_open(handle, vector): an MSI-X vector, or (-1) the INTx line */
int32_t ath_abi_pci_irq_open(void *vmctx, uint32_t handle, uint32_t vector)
{
    struct ath_task *task = ath_caller(vmctx);
    struct ath_pci_function *f;
    int32_t error = ath_pci_of(task, handle, &f);
    if (error)
        return error;
    uint16_t index = (uint16_t)(f - functions);
    if ((int32_t)vector == -1) {
        if (f->msix.enabled)
            return ATH_E_INVALID;       /* MSI-X is on: INTx is off */
        if (!f->irq_pin || f->irq_line == 0 || f->irq_line == 0xff)
            return ath_refuse(ATH_E_RANGE);
        if (f->intx_source < 0)
            f->intx_source = (int8_t)ath_irq_source_gsi(f->irq_line, f->platform);
        if (f->intx_source < 0)
            return ath_refuse(ATH_E_RANGE);
        return ath_irq_handle(task, (unsigned)f->intx_source, (uint16_t)(index + 1));
    }
    if (!f->msix.enabled || vector >= f->msix.programmed)
        return ath_refuse(ATH_E_RANGE);
    return ath_irq_handle(task, (unsigned)f->msix.sources[vector], (uint16_t)(index + 1));
}
