/*
 * A small, bounded reader of the flattened device tree (the Devicetree Specification, v0.4,
 * chapter 5) the boot loader hands over in x0: the memory, the reserved ranges, the initrd and
 * the command line (/chosen), and the devices this port drives: the PL011 UART, the GIC (v2
 * or v3), the generic timer, PSCI and the PL031 real-time clock; and the virtio-mmio
 * transports, which pci.c presents to drivers as platform functions.
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
    const uint8_t *reg, *compatible, *interrupts, *method, *device_type;
    uint32_t reg_length, compatible_length, interrupts_length, method_length, device_type_length;
    unsigned reg_address_cells, reg_size_cells;    /* the parent's: how reg is read */
};

struct walk {
    const struct blob *blob;
    struct ath_boot_info *info;
    struct aarch64_machine *machine;
    uint64_t initrd_start, initrd_end;
    bool have_initrd_start, have_initrd_end;
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

/* The i-th (address, size) pair of a node's reg. */
static bool reg_entry(const struct node *n, unsigned i, uint64_t *address, uint64_t *size)
{
    unsigned a = n->reg_address_cells, s = n->reg_size_cells;
    uint32_t entry = 4 * (a + s);
    if (!n->reg || a < 1 || a > 2 || s > 2 || entry == 0 || (uint64_t)(i + 1) * entry > n->reg_length)
        return false;
    const uint8_t *p = n->reg + i * entry;
    *address = cells_value(p, a);
    *size = s ? cells_value(p + 4 * a, s) : 0;
    return true;
}

/* The i-th interrupt of a GIC-style interrupts property (3 cells: SPI 0 / PPI 1, number,
 * flags), in GIC numbering. */
static bool interrupt_entry(const struct node *n, unsigned i, uint32_t *irq)
{
    if (!n->interrupts || (uint64_t)(i + 1) * 12 > n->interrupts_length)
        return false;
    const uint8_t *p = n->interrupts + 12 * i;
    uint32_t type = be32(p), number = be32(p + 4);
    if (type > 1 || number > 1000)
        return false;
    *irq = number + (type == 1 ? GIC_PPI_BASE : GIC_SPI_BASE);
    return true;
}

static bool has(const struct node *n, const char *compatible)
{
    return n->compatible && is_compatible(n->compatible, n->compatible_length, compatible);
}

static const char *end_node(struct walk *w, const struct node *n, unsigned depth)
{
    struct aarch64_machine *m = w->machine;
    uint64_t a, s;
    if (n->device_type && is_compatible(n->device_type, n->device_type_length, "memory")) {
        for (unsigned i = 0; reg_entry(n, i, &a, &s); i++)
            if (!add_memory(w->info, a, s, ATH_MEM_USABLE))
                return "too many memory ranges in the device tree";
    }
    if (has(n, "arm,pl011") && !m->uart_base && reg_entry(n, 0, &a, &s)) {
        m->uart_base = a;
        m->uart_size = s;
        interrupt_entry(n, 0, &m->uart_irq);
    }
    if ((has(n, "arm,cortex-a15-gic") || has(n, "arm,gic-400")) && !m->gic_version) {
        if (!reg_entry(n, 0, &m->gic_dist, &m->gic_dist_size) ||
            !reg_entry(n, 1, &m->gic_cpu, &m->gic_cpu_size))
            return "the GICv2 node's reg is malformed";
        m->gic_version = 2;
    }
    if (has(n, "arm,gic-v3") && !m->gic_version) {
        if (!reg_entry(n, 0, &m->gic_dist, &m->gic_dist_size) ||
            !reg_entry(n, 1, &m->gic_redist, &m->gic_redist_size))
            return "the GICv3 node's reg is malformed";
        m->gic_version = 3;
    }
    if ((has(n, "arm,armv8-timer") || has(n, "arm,armv7-timer")) && !m->timer_irq) {
        /* secure physical, non-secure physical, virtual, hypervisor: EL1 uses the second */
        if (!interrupt_entry(n, 1, &m->timer_irq))
            return "the timer node's interrupts are malformed";
    }
    if ((has(n, "arm,psci-1.0") || has(n, "arm,psci-0.2")) && !m->psci) {
        m->psci = true;
        m->psci_hvc = n->method && n->method_length == 4 && !memcmp(n->method, "hvc", 4);
    }
    if (has(n, "arm,pl031") && !m->rtc_base && reg_entry(n, 0, &a, &s))
        m->rtc_base = a;
    uint32_t irq;
    if (has(n, "virtio,mmio") && m->virtio_mmio_count < ATH_VIRTIO_MMIO_MAX &&
        reg_entry(n, 0, &a, &s) && interrupt_entry(n, 0, &irq))
        m->virtio_mmio[m->virtio_mmio_count++] = (struct ath_arch_mmio_device){ a, s, irq };
    if (depth == 0 && n->compatible) {
        size_t length = strnlen((const char *)n->compatible, n->compatible_length);
        if (length < n->compatible_length)
            ath_strlcpy(m->model, (const char *)n->compatible, sizeof m->model);
    }
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
            in_chosen = depth == 1 && (!strcmp(name, "chosen") || !strncmp(name, "chosen@", 7));
            continue;
        }
        if (token == FDT_END_NODE) {
            if (depth < 0)
                return "the device tree closes a node it never opened";
            const char *error = end_node(w, &stack[depth], (unsigned)depth);
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
    struct walk w = { &b, &scratch, &aarch64_machine, 0, 0, false, false };
    walk_structure(&w);
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
    struct walk w = { &b, info, &machine, 0, 0, false, false };
    if ((*error = walk_structure(&w)) || (*error = reservations(&b, info)))
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
