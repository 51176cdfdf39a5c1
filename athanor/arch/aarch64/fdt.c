/*
 * A small, bounded reader of the flattened device tree (the Devicetree Specification, v0.4,
 * chapter 5) the boot loader hands over in x0: the memory, the reserved ranges, the initrd and
 * the command line (/chosen), and the devices this port drives: the PL011 UART, the interrupt
 * controller (a GIC, v2 or v3; or the Raspberry Pi's BCM2836 local and BCM2835 interrupt
 * controllers), the generic timer, PSCI or the BCM2835 PM watchdog to power off, and the PL031
 * real-time clock; and the virtio-mmio transports, which pci.c presents to drivers as platform
 * functions.
 *
 * A device's reg is translated to a CPU address through its buses' `ranges` (the Pi's
 * peripherals sit at bus address 0x7e000000, CPU address 0x3f000000); a node on a bus with no
 * `ranges` has no CPU address and is ignored. An interrupt is read in the format of the
 * controller its `interrupt-parent` (its own or inherited) names by phandle, once the whole
 * tree has been read.
 *
 * Every read goes through a cursor checked against the block it is in (wasm3's rule): the
 * header's offsets and sizes must lie inside totalsize (at most ATH_FDT_SIZE_MAX), a property
 * inside the structure block, its name inside the strings block and NUL-terminated there.
 * Nodes nest at most ATH_FDT_DEPTH_MAX deep. A malformed blob is a boot error naming what is
 * wrong, never a wild read.
 */
#include "aarch64.h"

#define FDT_MAGIC       0xd00dfeedu
#define FDT_BEGIN_NODE  1
#define FDT_END_NODE    2
#define FDT_PROP        3
#define FDT_NOP         4
#define FDT_END         9
#define HEADER_SIZE     40

struct aarch64_machine aarch64_machine;

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

/* A value of `cells` 32-bit cells (1 or 2) at p. */
static uint64_t cells_value(const uint8_t *p, unsigned cells)
{
    return cells == 2 ? (uint64_t)be32(p) << 32 | be32(p + 4) : be32(p);
}

struct blob {
    const uint8_t *base;
    uint32_t size;
    const uint8_t *structure, *strings;
    uint32_t structure_size, strings_size;
};

static bool header(uintptr_t dtb, struct blob *b, const char **error)
{
    const uint8_t *p = (const uint8_t *)dtb;
    if (!dtb || (dtb & 7)) {
        *error = "no device tree (x0 was 0 or misaligned)";
        return false;
    }
    if (be32(p) != FDT_MAGIC) {
        *error = "the device tree blob has a bad magic number";
        return false;
    }
    uint32_t total = be32(p + 4), off_struct = be32(p + 8), off_strings = be32(p + 12);
    uint32_t version = be32(p + 20), size_strings = be32(p + 32), size_struct = be32(p + 36);
    if (total < HEADER_SIZE || total > ATH_FDT_SIZE_MAX || version < 17) {
        *error = "the device tree blob's size or version is out of range";
        return false;
    }
    if (off_struct > total || size_struct > total - off_struct || (off_struct & 3) ||
        off_strings > total || size_strings > total - off_strings) {
        *error = "the device tree blob's blocks lie outside it";
        return false;
    }
    *b = (struct blob){ p, total, p + off_struct, p + off_strings, size_struct, size_strings };
    return true;
}

/* The string at offset in the strings block, or NULL if it is not NUL-terminated inside it. */
static const char *string_at(const struct blob *b, uint32_t offset)
{
    if (offset >= b->strings_size)
        return NULL;
    const char *s = (const char *)b->strings + offset;
    return strnlen(s, b->strings_size - offset) < b->strings_size - offset ? s : NULL;
}

static bool is_compatible(const uint8_t *value, uint32_t length, const char *want)
{
    /* A list of NUL-terminated strings. */
    uint32_t at = 0;
    while (at < length) {
        const char *s = (const char *)value + at;
        size_t n = strnlen(s, length - at);
        if (n == length - at)
            return false;       /* not terminated */
        if (!strcmp(s, want))
            return true;
        at += (uint32_t)n + 1;
    }
    return false;
}

/* ---- The walk --------------------------------------------------------------------------------
 * One pass over the structure block; a node's properties come before its children, so what a
 * node is (compatible, device_type) is known at its end, when it is acted on. */
struct node {
    char name[32];
    unsigned address_cells, size_cells;        /* what this node says its children use */
    const uint8_t *reg, *compatible, *interrupts, *method, *device_type, *ranges;
    const uint8_t *enable_method, *release_address;
    uint32_t reg_length, compatible_length, interrupts_length, method_length, device_type_length;
    uint32_t ranges_length, enable_method_length, release_address_length;
    bool has_ranges;                           /* `ranges` present (empty: identity) */
    bool interrupt_controller;
    uint32_t phandle, interrupt_parent;        /* interrupt_parent: its own, or its parent's */
    uint32_t interrupt_cells;
    unsigned reg_address_cells, reg_size_cells;    /* the parent's: how reg is read */
};

/* The interrupt controllers the port drives, by the phandle their consumers name. */
enum controller_kind { CONTROLLER_GIC = 1, CONTROLLER_BCM2836_LOCAL, CONTROLLER_BCM2835 };
struct controller {
    uint32_t phandle, cells;                   /* cells: its #interrupt-cells */
    enum controller_kind kind;
};
#define CONTROLLERS_MAX 4

/* An interrupts property read once the tree is whole (its controller may come later). */
struct interrupt_ref {
    const uint8_t *value;
    uint32_t length, parent;
    uint32_t *out;                             /* where the decoded interrupt goes */
    unsigned index;                            /* which entry of the property */
};
#define INTERRUPT_REFS_MAX (ATH_VIRTIO_MMIO_MAX + 2)

struct walk {
    const struct blob *blob;
    struct ath_boot_info *info;
    struct aarch64_machine *machine;
    uint64_t initrd_start, initrd_end;
    bool have_initrd_start, have_initrd_end;
    struct controller controllers[CONTROLLERS_MAX];
    unsigned controller_count;
    struct interrupt_ref interrupts[INTERRUPT_REFS_MAX];
    unsigned interrupt_count;
    uint32_t virtio_irq[ATH_VIRTIO_MMIO_MAX];
};

static bool add_memory(struct ath_boot_info *info, uint64_t start, uint64_t size, enum ath_mem_type type)
{
    if (!size)
        return true;
    if (info->mem_count == ATH_MEM_RANGES_MAX)
        return false;
    info->mem[info->mem_count++] = (struct ath_mem_range){ start, size, type };
    if (type == ATH_MEM_USABLE)
        info->usable_bytes += size;
    info->phys_end = ATH_MAX(info->phys_end, start + size);
    return true;
}

static bool add_reserved(struct ath_boot_info *info, uint64_t start, uint64_t size)
{
    if (info->reserved_count == ATH_BOOT_RESERVED_MAX)
        return false;
    info->reserved[info->reserved_count++] = (struct ath_range){ start, size };
    return true;
}

/* Translates a bus address of a child of stack[depth] to the address space of stack[depth]'s
 * parent through stack[depth]'s `ranges` (child address, parent address, size triples); false
 * where the bus has no `ranges` or no range holds the address. */
static bool translate_once(const struct node *stack, unsigned depth, uint64_t *address)
{
    const struct node *bus = &stack[depth];
    if (!bus->has_ranges)
        return false;
    if (!bus->ranges_length)
        return true;                           /* empty: the same address space */
    unsigned child = bus->address_cells, parent = stack[depth - 1].address_cells, size = bus->size_cells;
    if (child < 1 || child > 2 || parent < 1 || parent > 2 || size < 1 || size > 2)
        return false;
    uint32_t entry = 4 * (child + parent + size);
    for (uint32_t at = 0; at + entry <= bus->ranges_length; at += entry) {
        uint64_t from = cells_value(bus->ranges + at, child);
        uint64_t to = cells_value(bus->ranges + at + 4 * child, parent);
        uint64_t length = cells_value(bus->ranges + at + 4 * (child + parent), size);
        if (*address >= from && *address - from < length) {
            *address = to + (*address - from);
            return true;
        }
    }
    return false;
}

/* The i-th (address, size) pair of stack[depth]'s reg, its address translated to the CPU's
 * through every bus above it (the root's children need none). */
static bool reg_entry(const struct node *stack, unsigned depth, unsigned i, uint64_t *address, uint64_t *size)
{
    const struct node *n = &stack[depth];
    unsigned a = n->reg_address_cells, s = n->reg_size_cells;
    uint32_t entry = 4 * (a + s);
    if (!n->reg || a < 1 || a > 2 || s > 2 || entry == 0 || (uint64_t)(i + 1) * entry > n->reg_length)
        return false;
    const uint8_t *p = n->reg + i * entry;
    *address = cells_value(p, a);
    *size = s ? cells_value(p + 4 * a, s) : 0;
    for (unsigned bus = depth - 1; depth > 0 && bus > 0; bus--)
        if (!translate_once(stack, bus, address))
            return false;
    return true;
}

/* Records that stack[depth]'s i-th interrupt goes to *out once the controllers are known. */
static void interrupt_later(struct walk *w, const struct node *n, unsigned i, uint32_t *out)
{
    if (n->interrupts && w->interrupt_count < INTERRUPT_REFS_MAX)
        w->interrupts[w->interrupt_count++] = (struct interrupt_ref){
            n->interrupts, n->interrupts_length, n->interrupt_parent, out, i };
}

/* An interrupt specifier in its controller's format, in the port's numbering (aarch64.h):
 *   GIC (3 cells): SPI 0 / PPI 1, number, flags       -> 32 + SPI, 16 + PPI
 *   BCM2836 local (2 cells): local number, flags      -> 16 + number (0..9: the core's timers,
 *                                                        mailboxes, GPU, PMU)
 *   BCM2835 (2 cells): bank, number                    -> bank 1: 32 + number (GPU 0..31),
 *                                                        bank 2: 64 + number (GPU 32..63),
 *                                                        bank 0: 96 + number (ARM 0..7) */
static bool interrupt_decode(const struct walk *w, const struct interrupt_ref *r, uint32_t *irq)
{
    const struct controller *c = NULL;
    for (unsigned i = 0; i < w->controller_count; i++)
        if (w->controllers[i].phandle == r->parent)
            c = &w->controllers[i];
    if (!c || (c->kind == CONTROLLER_GIC ? c->cells != 3 : c->cells != 2))
        return false;
    uint32_t entry = 4 * c->cells;
    if ((uint64_t)(r->index + 1) * entry > r->length)
        return false;
    const uint8_t *p = r->value + entry * r->index;
    uint32_t first = be32(p), number = be32(p + 4);
    switch (c->kind) {
    case CONTROLLER_GIC:
        if (first > 1 || number > 1000)
            return false;
        *irq = number + (first == 1 ? GIC_PPI_BASE : GIC_SPI_BASE);
        return true;
    case CONTROLLER_BCM2836_LOCAL:
        if (first >= BCM_LOCAL_LINES)
            return false;
        *irq = BCM_LOCAL_BASE + first;
        return true;
    case CONTROLLER_BCM2835:
        if (first > 2 || number >= (first ? 32 : BCM_ARM_LINES))
            return false;
        *irq = first == 0 ? BCM_ARM_BASE + number : BCM_GPU_BASE + 32 * (first - 1) + number;
        return true;
    }
    return false;
}

static bool has(const struct node *n, const char *compatible)
{
    return n->compatible && is_compatible(n->compatible, n->compatible_length, compatible);
}

static void add_controller(struct walk *w, const struct node *n, enum controller_kind kind)
{
    if (n->interrupt_controller && n->phandle && w->controller_count < CONTROLLERS_MAX)
        w->controllers[w->controller_count++] = (struct controller){ n->phandle, n->interrupt_cells, kind };
}

static bool is_reserved_memory(const char *name)
{
    return !strcmp(name, "reserved-memory") || !strncmp(name, "reserved-memory@", 16);
}

static const char *end_node(struct walk *w, const struct node *stack, unsigned depth)
{
    const struct node *n = &stack[depth];
    struct aarch64_machine *m = w->machine;
    uint64_t a, s;
    /* /reserved-memory's children with a reg: memory the firmware or another agent keeps (a
     * secure monitor, a framebuffer, a coprocessor's buffers), never handed out. Every entry
     * must be read, or the boot stops: an unread one would be memory the kernel gives a module
     * while something else writes it. Children with only a size are for an operating system to
     * place; Athanor places none. */
    if (depth == 2 && is_reserved_memory(stack[1].name) && n->reg) {
        unsigned count = 0;
        for (; reg_entry(stack, depth, count, &a, &s); count++)
            if (s && !add_reserved(w->info, a, s))
                return "too many reserved ranges in the device tree";
        if (!count || count * 4 * (n->reg_address_cells + n->reg_size_cells) != n->reg_length)
            return "a /reserved-memory node's reg cannot be read (its cells, or no ranges)";
    }
    if (n->device_type && is_compatible(n->device_type, n->device_type_length, "memory")) {
        for (unsigned i = 0; reg_entry(stack, depth, i, &a, &s); i++)
            if (!add_memory(w->info, a, s, ATH_MEM_USABLE))
                return "too many memory ranges in the device tree";
    }
    if (has(n, "arm,pl011") && !m->uart_base && reg_entry(stack, depth, 0, &a, &s)) {
        m->uart_base = a;
        m->uart_size = s;
        interrupt_later(w, n, 0, &m->uart_irq);
    }
    if ((has(n, "arm,cortex-a15-gic") || has(n, "arm,gic-400")) && !m->intc) {
        if (!reg_entry(stack, depth, 0, &m->gic_dist, &m->gic_dist_size) ||
            !reg_entry(stack, depth, 1, &m->gic_cpu, &m->gic_cpu_size))
            return "the GICv2 node's reg is malformed";
        m->intc = AARCH64_INTC_GIC;
        m->gic_version = 2;
        add_controller(w, n, CONTROLLER_GIC);
    }
    if (has(n, "arm,gic-v3") && !m->intc) {
        if (!reg_entry(stack, depth, 0, &m->gic_dist, &m->gic_dist_size) ||
            !reg_entry(stack, depth, 1, &m->gic_redist, &m->gic_redist_size))
            return "the GICv3 node's reg is malformed";
        m->intc = AARCH64_INTC_GIC;
        m->gic_version = 3;
        add_controller(w, n, CONTROLLER_GIC);
    }
    if (has(n, "brcm,bcm2836-l1-intc") && !m->bcm_local) {
        if (!reg_entry(stack, depth, 0, &m->bcm_local, &s) || s < BCM_LOCAL_SIZE)
            return "the BCM2836 local interrupt controller's reg is malformed";
        add_controller(w, n, CONTROLLER_BCM2836_LOCAL);
    }
    if ((has(n, "brcm,bcm2836-armctrl-ic") || has(n, "brcm,bcm2835-armctrl-ic")) && !m->bcm_armctrl) {
        if (!reg_entry(stack, depth, 0, &m->bcm_armctrl, &s) || s < BCM_ARMCTRL_SIZE)
            return "the BCM2835 interrupt controller's reg is malformed";
        add_controller(w, n, CONTROLLER_BCM2835);
    }
    if (has(n, "brcm,bcm2835-pm-wdt") && !m->bcm_pm) {
        if (!reg_entry(stack, depth, 0, &m->bcm_pm, &s) || s < BCM_PM_SIZE)
            return "the BCM2835 PM watchdog's reg is malformed";
    }
    if ((has(n, "arm,armv8-timer") || has(n, "arm,armv7-timer")) && !m->timer_node) {
        /* secure physical, non-secure physical, virtual, hypervisor: EL1 uses the second */
        m->timer_node = true;
        interrupt_later(w, n, 1, &m->timer_irq);
    }
    if ((has(n, "arm,psci-1.0") || has(n, "arm,psci-0.2")) && !m->psci) {
        m->psci = true;
        m->psci_hvc = n->method && n->method_length == 4 && !memcmp(n->method, "hvc", 4);
    }
    /* A cpu the loader holds in a spin table (its reg: the MPIDR affinity, not an address). */
    if (n->device_type && is_compatible(n->device_type, n->device_type_length, "cpu") &&
        n->enable_method && is_compatible(n->enable_method, n->enable_method_length, "spin-table") &&
        n->release_address && n->release_address_length == 8 && n->reg &&
        (n->reg_address_cells == 1 || n->reg_address_cells == 2) &&
        n->reg_length >= 4 * n->reg_address_cells && m->spin_cpu_count < AARCH64_SPIN_CPUS_MAX) {
        m->spin_cpus[m->spin_cpu_count].mpidr = cells_value(n->reg, n->reg_address_cells);
        m->spin_cpus[m->spin_cpu_count++].release = cells_value(n->release_address, 2);
    }
    if (has(n, "arm,pl031") && !m->rtc_base && reg_entry(stack, depth, 0, &a, &s))
        m->rtc_base = a;
    if (has(n, "virtio,mmio") && m->virtio_mmio_count < ATH_VIRTIO_MMIO_MAX &&
        reg_entry(stack, depth, 0, &a, &s) && n->interrupts) {
        w->virtio_irq[m->virtio_mmio_count] = 0;
        interrupt_later(w, n, 0, &w->virtio_irq[m->virtio_mmio_count]);
        m->virtio_mmio[m->virtio_mmio_count++] = (struct ath_arch_mmio_device){ a, s, 0 };
    }
    if (depth == 0 && n->compatible) {
        size_t length = strnlen((const char *)n->compatible, n->compatible_length);
        if (length < n->compatible_length)
            ath_strlcpy(m->model, (const char *)n->compatible, sizeof m->model);
    }
    return NULL;
}

/* The interrupts recorded during the walk, now that every controller is known; then which
 * controller the machine has (a GIC, or the Pi's pair), and the devices whose interrupt could
 * not be read dropped (virtio-mmio) or the tree refused (the timer). */
static const char *resolve_interrupts(struct walk *w)
{
    struct aarch64_machine *m = w->machine;
    for (unsigned i = 0; i < w->interrupt_count; i++) {
        uint32_t irq;
        if (interrupt_decode(w, &w->interrupts[i], &irq))
            *w->interrupts[i].out = irq;
    }
    if (m->timer_node && !m->timer_irq)
        return "the timer node's interrupts are malformed";
    if (!m->intc && m->bcm_local && m->bcm_armctrl)
        m->intc = AARCH64_INTC_BCM2836;
    unsigned kept = 0;
    for (unsigned i = 0; i < m->virtio_mmio_count; i++) {
        if (!w->virtio_irq[i])
            continue;
        m->virtio_mmio[kept] = m->virtio_mmio[i];
        m->virtio_mmio[kept++].gsi = w->virtio_irq[i];
    }
    m->virtio_mmio_count = kept;
    return NULL;
}

static const char *chosen_property(struct walk *w, const char *name, const uint8_t *value, uint32_t length)
{
    if (!strcmp(name, "bootargs")) {
        if (!length || value[length - 1] != 0)
            return "/chosen/bootargs is not a string";
        ath_strlcpy(w->info->cmdline, (const char *)value, sizeof w->info->cmdline);
    } else if (!strcmp(name, "linux,initrd-start") || !strcmp(name, "linux,initrd-end")) {
        if (length != 4 && length != 8)
            return "/chosen's initrd address is neither 32 nor 64 bits";
        uint64_t v = cells_value(value, length / 4);
        if (name[13] == 's') {
            w->initrd_start = v;
            w->have_initrd_start = true;
        } else {
            w->initrd_end = v;
            w->have_initrd_end = true;
        }
    }
    return NULL;
}

static const char *walk_structure(struct walk *w)
{
    const struct blob *b = w->blob;
    struct node stack[ATH_FDT_DEPTH_MAX];
    int depth = -1;
    bool in_chosen = false;
    uint32_t at = 0;
    for (;;) {
        if (at > b->structure_size - 4 || b->structure_size < 4)
            return "the device tree's structure block ends without FDT_END";
        uint32_t token = be32(b->structure + at);
        at += 4;
        if (token == FDT_END)
            return depth == -1 ? NULL : "the device tree ends inside a node";
        if (token == FDT_NOP)
            continue;
        if (token == FDT_BEGIN_NODE) {
            const char *name = (const char *)b->structure + at;
            size_t n = strnlen(name, b->structure_size - at);
            if (n == b->structure_size - at)
                return "a device tree node name is not terminated";
            if (depth + 1 >= ATH_FDT_DEPTH_MAX)
                return "the device tree nests too deep";
            at += (uint32_t)ATH_ALIGN_UP(n + 1, 4);
            depth++;
            struct node *node = &stack[depth];
            memset(node, 0, sizeof *node);
            ath_strlcpy(node->name, name, sizeof node->name);
            node->address_cells = 2;
            node->size_cells = 1;
            node->reg_address_cells = depth ? stack[depth - 1].address_cells : 2;
            node->reg_size_cells = depth ? stack[depth - 1].size_cells : 1;
            node->interrupt_parent = depth ? stack[depth - 1].interrupt_parent : 0;
            in_chosen = depth == 1 && (!strcmp(name, "chosen") || !strncmp(name, "chosen@", 7));
            continue;
        }
        if (token == FDT_END_NODE) {
            if (depth < 0)
                return "the device tree closes a node it never opened";
            const char *error = end_node(w, stack, (unsigned)depth);
            if (error)
                return error;
            depth--;
            in_chosen = false;
            continue;
        }
        if (token != FDT_PROP)
            return "the device tree has an unknown token";
        if (depth < 0 || at > b->structure_size - 8)
            return "a device tree property lies outside a node or the block";
        uint32_t length = be32(b->structure + at), name_offset = be32(b->structure + at + 4);
        at += 8;
        if (length > b->structure_size - at)
            return "a device tree property runs past the structure block";
        const uint8_t *value = b->structure + at;
        at += (uint32_t)ATH_ALIGN_UP(length, 4);
        const char *name = string_at(b, name_offset);
        if (!name)
            return "a device tree property's name lies outside the strings block";
        struct node *node = &stack[depth];
        if (!strcmp(name, "#address-cells") && length == 4)
            node->address_cells = be32(value);
        else if (!strcmp(name, "#size-cells") && length == 4)
            node->size_cells = be32(value);
        else if (!strcmp(name, "reg"))
            node->reg = value, node->reg_length = length;
        else if (!strcmp(name, "compatible"))
            node->compatible = value, node->compatible_length = length;
        else if (!strcmp(name, "interrupts"))
            node->interrupts = value, node->interrupts_length = length;
        else if (!strcmp(name, "method"))
            node->method = value, node->method_length = length;
        else if (!strcmp(name, "device_type"))
            node->device_type = value, node->device_type_length = length;
        else if (!strcmp(name, "ranges"))
            node->ranges = value, node->ranges_length = length, node->has_ranges = true;
        else if (!strcmp(name, "enable-method"))
            node->enable_method = value, node->enable_method_length = length;
        else if (!strcmp(name, "cpu-release-addr"))
            node->release_address = value, node->release_address_length = length;
        else if (!strcmp(name, "interrupt-controller"))
            node->interrupt_controller = true;
        else if (!strcmp(name, "#interrupt-cells") && length == 4)
            node->interrupt_cells = be32(value);
        else if ((!strcmp(name, "phandle") || !strcmp(name, "linux,phandle")) && length == 4)
            node->phandle = be32(value);
        else if (!strcmp(name, "interrupt-parent") && length == 4)
            node->interrupt_parent = be32(value);
        if (in_chosen) {
            const char *error = chosen_property(w, name, value, length);
            if (error)
                return error;
        }
    }
}

/* The memory reservation block: (address, size) pairs of 64-bit values, ending with 0, 0. */
static const char *reservations(const struct blob *b, struct ath_boot_info *info)
{
    uint32_t off = be32(b->base + 16);
    for (uint32_t at = off; ; at += 16) {
        if (at < off || at > b->size - 16 || (off & 7))
            return "the device tree's reservation block runs past the blob";
        uint64_t address = cells_value(b->base + at, 2), size = cells_value(b->base + at + 8, 2);
        if (!address && !size)
            return NULL;
        if (!add_reserved(info, address, size))
            return "too many reserved ranges in the device tree";
    }
}

/* What the walk finds up to the first problem: the UART to report it on, PSCI to power off
 * after it (QEMU virt puts both before most of the tree). */
void aarch64_fdt_early_console(uintptr_t dtb)
{
    struct blob b;
    const char *error;
    static struct ath_boot_info scratch;
    memset(&aarch64_machine, 0, sizeof aarch64_machine);
    if (!header(dtb, &b, &error))
        return;
    static struct walk w;
    w = (struct walk){ .blob = &b, .info = &scratch, .machine = &aarch64_machine };
    walk_structure(&w);
    resolve_interrupts(&w);
    memset(&scratch, 0, sizeof scratch);
}

/* aarch64_machine changes only when the whole tree was read. */
bool aarch64_fdt_read(uintptr_t dtb, struct ath_boot_info *info, const char **error)
{
    struct blob b;
    static struct aarch64_machine machine;
    memset(info, 0, sizeof *info);
    memset(&machine, 0, sizeof machine);
    if (!header(dtb, &b, error))
        return false;
    info->protocol = ATH_BOOT_DEVICE_TREE;
    static struct walk w;
    w = (struct walk){ .blob = &b, .info = info, .machine = &machine };
    if ((*error = walk_structure(&w)) || (*error = resolve_interrupts(&w)) ||
        (*error = reservations(&b, info)))
        return false;
    if (!add_reserved(info, dtb, b.size)) {
        *error = "too many reserved ranges in the device tree";
        return false;
    }
    if (w.have_initrd_start && w.have_initrd_end && w.initrd_end > w.initrd_start) {
        struct ath_boot_module *m = &info->modules[info->module_count++];
        m->start = w.initrd_start;
        m->size = w.initrd_end - w.initrd_start;
        ath_strlcpy(m->string, "initrd", sizeof m->string);
    }
    if (!info->mem_count) {
        *error = "the device tree describes no memory";
        return false;
    }
    aarch64_machine = machine;
    /* Sorted by start, as the rest of the kernel expects. */
    for (unsigned i = 1; i < info->mem_count; i++) {
        struct ath_mem_range r = info->mem[i];
        unsigned j = i;
        for (; j > 0 && info->mem[j - 1].start > r.start; j--)
            info->mem[j] = info->mem[j - 1];
        info->mem[j] = r;
    }
    return true;
}
