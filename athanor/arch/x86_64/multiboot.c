/*
 * Boot information from multiboot1 (QEMU -kernel), multiboot2 (GRUB) or PVH (the x86/HVM
 * direct boot ABI's hvm_start_info: Firecracker, Cloud Hypervisor, QEMU) into struct
 * ath_boot_info. Runs under the boot identity map (first 4 GiB), which covers every multiboot
 * structure (32-bit addresses); a PVH structure above it is refused.
 *
 * The loader's structures are read once and copied; every length is
 * checked against the structure that holds it before it is used. Their
 * memory is recorded in info->reserved so the allocator never reuses it.
 */
#include "kernel.h"
#include "x86.h"

#define MB1_LOADER_MAGIC 0x2badb002u
#define MB2_LOADER_MAGIC 0x36d76289u
#define PVH_MAGIC        0x336ec578u   /* hvm_start_info.magic; boot.S passes it as the magic */
#define IDENTITY_END     (4ull << 30)  /* the boot map's reach */
#define PVH_MEMMAP_MAX   1024u         /* a longer memory map is not believed */

#define MB1_FLAG_MEM     (1u << 0)
#define MB1_FLAG_CMDLINE (1u << 2)
#define MB1_FLAG_MODS    (1u << 3)
#define MB1_FLAG_MMAP    (1u << 6)
#define MB1_FLAG_LOADER  (1u << 9)

#define MB2_TAG_END      0
#define MB2_TAG_CMDLINE  1
#define MB2_TAG_LOADER   2
#define MB2_TAG_MODULE   3
#define MB2_TAG_MEMINFO  4
#define MB2_TAG_MMAP     6
#define MB2_TAG_ACPI_OLD 14
#define MB2_TAG_ACPI_NEW 15

#define MB2_INFO_MAX     (16u << 20)   /* sanity bound on total_size */
#define STRING_MAX       4096          /* longest loader string we accept */

struct mb1_info {
    uint32_t flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr;
    uint32_t syms[4];
    uint32_t mmap_length, mmap_addr;
    uint32_t drives_length, drives_addr, config_table, boot_loader_name, apm_table;
    uint32_t vbe[6];
    uint8_t framebuffer[22];
} __attribute__((packed));

struct mb1_module {
    uint32_t start, end, string, reserved;
};

struct mb1_mmap_entry {         /* size counts the bytes after itself */
    uint32_t size;
    uint64_t addr, len;
    uint32_t type;
} __attribute__((packed));

struct mb2_tag {
    uint32_t type, size;
};

struct mb2_tag_module {
    uint32_t type, size, start, end;
    char string[];
};

struct mb2_tag_mmap {
    uint32_t type, size, entry_size, entry_version;
};

struct mb2_mmap_entry {
    uint64_t addr, len;
    uint32_t type, reserved;
};

struct mb2_tag_meminfo {
    uint32_t type, size, mem_lower, mem_upper;
};

/* PVH (xen/include/public/arch-x86/hvm/start_info.h), version 0 or 1. */
struct pvh_start_info {
    uint32_t magic, version, flags, nr_modules;
    uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr;
    uint64_t memmap_paddr;             /* version 1 */
    uint32_t memmap_entries, reserved;
};

struct pvh_module {
    uint64_t paddr, size, cmdline_paddr, reserved;
};

struct pvh_memmap_entry {              /* E820 types */
    uint64_t addr, size;
    uint32_t type, reserved;
};

static const char *error;      /* first failure, a static message */

static bool fail(const char *message)
{
    if (!error)
        error = message;
    return false;
}

static enum ath_mem_type mem_type(uint32_t multiboot_type)
{
    switch (multiboot_type) {
    case 1: return ATH_MEM_USABLE;
    case 3: return ATH_MEM_ACPI_RECLAIM;
    case 4: return ATH_MEM_ACPI_NVS;
    case 5: return ATH_MEM_BAD;
    default: return ATH_MEM_RESERVED;
    }
}

/* Inserts a range keeping mem[] sorted by start; merges it into a neighbour
 * of the same type that it touches or overlaps. */
static bool add_mem(struct ath_boot_info *info, uint64_t start, uint64_t size, enum ath_mem_type type)
{
    if (size == 0)
        return true;
    if (start + size < start)
        return fail("memory map range wraps around");
    unsigned i = 0;
    while (i < info->mem_count && info->mem[i].start < start)
        i++;
    struct ath_mem_range *prev = i > 0 ? &info->mem[i - 1] : NULL;
    if (prev && prev->type == type && prev->start + prev->size >= start) {
        prev->size = ATH_MAX(prev->start + prev->size, start + size) - prev->start;
        /* The grown range may now reach the next ones. */
        while (i < info->mem_count && info->mem[i].type == type &&
               info->mem[i].start <= prev->start + prev->size) {
            prev->size = ATH_MAX(prev->start + prev->size, info->mem[i].start + info->mem[i].size) - prev->start;
            memmove(&info->mem[i], &info->mem[i + 1], (info->mem_count - i - 1) * sizeof info->mem[0]);
            info->mem_count--;
        }
        return true;
    }
    if (i < info->mem_count && info->mem[i].type == type && start + size >= info->mem[i].start) {
        struct ath_mem_range *next = &info->mem[i];
        uint64_t next_end = next->start + next->size;
        next->start = start;
        next->size = ATH_MAX(next_end, start + size) - start;
        return true;
    }
    if (info->mem_count == ATH_MEM_RANGES_MAX)
        return fail("memory map has too many ranges");
    memmove(&info->mem[i + 1], &info->mem[i], (info->mem_count - i) * sizeof info->mem[0]);
    info->mem[i] = (struct ath_mem_range){ start, size, type };
    info->mem_count++;
    return true;
}

static bool add_reserved(struct ath_boot_info *info, uint64_t start, uint64_t size)
{
    if (size == 0)
        return true;
    if (info->reserved_count == ATH_BOOT_RESERVED_MAX)
        return fail("too many boot loader structures");
    info->reserved[info->reserved_count++] = (struct ath_range){ start, size };
    return true;
}

/* Copies the NUL-terminated string at phys (truncating to dst_size - 1) and
 * reserves its memory. */
static bool copy_string(struct ath_boot_info *info, char *dst, size_t dst_size, uint32_t phys)
{
    if (phys == 0) {
        dst[0] = '\0';
        return true;
    }
    const char *src = (const char *)(uintptr_t)phys;
    size_t n = strnlen(src, STRING_MAX);
    if (n == STRING_MAX)
        return fail("boot loader string without terminator");
    ath_strlcpy(dst, src, dst_size);
    return add_reserved(info, phys, n + 1);
}

static bool add_module(struct ath_boot_info *info, uint64_t start, uint64_t end)
{
    if (end < start)
        return fail("module ends before it starts");
    if (info->module_count == ATH_MODULES_MAX)
        return fail("too many modules");
    uint64_t kernel_start = (uintptr_t)__kernel_start, kernel_end = (uintptr_t)__kernel_end;
    if (start < kernel_end && end > kernel_start)
        return fail("module overlaps the kernel image");
    struct ath_boot_module *m = &info->modules[info->module_count++];
    m->start = start;
    m->size = end - start;
    m->string[0] = '\0';
    return true;
}

static bool parse_multiboot1(uintptr_t addr, struct ath_boot_info *info)
{
    const struct mb1_info *mbi = (const struct mb1_info *)addr;
    info->protocol = ATH_BOOT_MULTIBOOT1;
    if (!add_reserved(info, addr, sizeof *mbi))
        return false;

    if ((mbi->flags & MB1_FLAG_CMDLINE) &&
        !copy_string(info, info->cmdline, sizeof info->cmdline, mbi->cmdline))
        return false;
    if ((mbi->flags & MB1_FLAG_LOADER) &&
        !copy_string(info, info->bootloader, sizeof info->bootloader, mbi->boot_loader_name))
        return false;

    if (mbi->flags & MB1_FLAG_MMAP) {
        if (!add_reserved(info, mbi->mmap_addr, mbi->mmap_length))
            return false;
        uintptr_t p = mbi->mmap_addr, end = (uintptr_t)mbi->mmap_addr + mbi->mmap_length;
        while (p + sizeof(struct mb1_mmap_entry) <= end) {
            const struct mb1_mmap_entry *e = (const struct mb1_mmap_entry *)p;
            if (e->size < sizeof *e - sizeof e->size)
                return fail("multiboot1 memory map entry too small");
            if (!add_mem(info, e->addr, e->len, mem_type(e->type)))
                return false;
            p += e->size + sizeof e->size;
        }
    } else if (mbi->flags & MB1_FLAG_MEM) {
        if (!add_mem(info, 0, (uint64_t)mbi->mem_lower << 10, ATH_MEM_USABLE) ||
            !add_mem(info, 1u << 20, (uint64_t)mbi->mem_upper << 10, ATH_MEM_USABLE))
            return false;
    } else {
        return fail("multiboot1 info has no memory map");
    }

    if (mbi->flags & MB1_FLAG_MODS) {
        if (mbi->mods_count > ATH_MODULES_MAX)
            return fail("too many modules");
        if (!add_reserved(info, mbi->mods_addr, mbi->mods_count * sizeof(struct mb1_module)))
            return false;
        const struct mb1_module *mods = (const struct mb1_module *)(uintptr_t)mbi->mods_addr;
        for (uint32_t i = 0; i < mbi->mods_count; i++) {
            if (!add_module(info, mods[i].start, mods[i].end))
                return false;
            struct ath_boot_module *m = &info->modules[info->module_count - 1];
            if (!copy_string(info, m->string, sizeof m->string, mods[i].string))
                return false;
        }
    }
    return true;
}

/* Copies a string that lives inside a tag of tag_size bytes at offset. */
static bool copy_tag_string(char *dst, size_t dst_size, const struct mb2_tag *tag, size_t offset)
{
    if (tag->size < offset)
        return fail("multiboot2 tag too small");
    const char *s = (const char *)tag + offset;
    size_t room = tag->size - offset;
    if (strnlen(s, room) == room)
        return fail("multiboot2 string without terminator");
    ath_strlcpy(dst, s, dst_size);
    return true;
}

static bool parse_mb2_mmap(struct ath_boot_info *info, const struct mb2_tag *tag)
{
    const struct mb2_tag_mmap *t = (const struct mb2_tag_mmap *)tag;
    if (tag->size < sizeof *t || t->entry_size < sizeof(struct mb2_mmap_entry))
        return fail("multiboot2 memory map tag malformed");
    uintptr_t p = (uintptr_t)t + sizeof *t, end = (uintptr_t)t + t->size;
    for (; p + t->entry_size <= end; p += t->entry_size) {
        const struct mb2_mmap_entry *e = (const struct mb2_mmap_entry *)p;
        if (!add_mem(info, e->addr, e->len, mem_type(e->type)))
            return false;
    }
    return true;
}

static bool parse_multiboot2(uintptr_t addr, struct ath_boot_info *info)
{
    info->protocol = ATH_BOOT_MULTIBOOT2;
    if (addr & 7)
        return fail("multiboot2 info not 8-byte aligned");
    uint32_t total = *(const uint32_t *)addr;
    if (total < 16 || total > MB2_INFO_MAX)
        return fail("multiboot2 info size out of range");
    if (!add_reserved(info, addr, total))
        return false;

    const struct mb2_tag_meminfo *meminfo = NULL;
    bool have_mmap = false, have_end = false;
    uintptr_t p = addr + 8, end = addr + total;
    while (p + sizeof(struct mb2_tag) <= end) {
        const struct mb2_tag *tag = (const struct mb2_tag *)p;
        if (tag->size < sizeof *tag || tag->size > end - p)
            return fail("multiboot2 tag size out of range");
        switch (tag->type) {
        case MB2_TAG_END:
            have_end = true;
            break;
        case MB2_TAG_CMDLINE:
            if (!copy_tag_string(info->cmdline, sizeof info->cmdline, tag, 8))
                return false;
            break;
        case MB2_TAG_LOADER:
            if (!copy_tag_string(info->bootloader, sizeof info->bootloader, tag, 8))
                return false;
            break;
        case MB2_TAG_MODULE: {
            const struct mb2_tag_module *t = (const struct mb2_tag_module *)tag;
            if (tag->size < sizeof *t + 1)
                return fail("multiboot2 module tag too small");
            if (!add_module(info, t->start, t->end))
                return false;
            struct ath_boot_module *m = &info->modules[info->module_count - 1];
            if (!copy_tag_string(m->string, sizeof m->string, tag, sizeof *t))
                return false;
            break;
        }
        case MB2_TAG_MEMINFO:
            if (tag->size < sizeof *meminfo)
                return fail("multiboot2 meminfo tag too small");
            meminfo = (const struct mb2_tag_meminfo *)tag;
            break;
        case MB2_TAG_MMAP:
            if (!parse_mb2_mmap(info, tag))
                return false;
            have_mmap = true;
            break;
        case MB2_TAG_ACPI_OLD:
        case MB2_TAG_ACPI_NEW: {
            size_t n = ATH_MIN((size_t)(tag->size - 8), sizeof info->acpi_rsdp);
            /* Prefer the ACPI 2.0 RSDP when both are given. */
            if (tag->type == MB2_TAG_ACPI_NEW || info->acpi_rsdp_size == 0) {
                memcpy(info->acpi_rsdp, (const uint8_t *)tag + 8, n);
                info->acpi_rsdp_size = n;
            }
            break;
        }
        default:
            break;
        }
        if (have_end)
            break;
        p += ATH_ALIGN_UP(tag->size, 8);
    }
    if (!have_end)
        return fail("multiboot2 info has no end tag");
    if (!have_mmap) {
        if (!meminfo)
            return fail("multiboot2 info has no memory map");
        if (!add_mem(info, 0, (uint64_t)meminfo->mem_lower << 10, ATH_MEM_USABLE) ||
            !add_mem(info, 1u << 20, (uint64_t)meminfo->mem_upper << 10, ATH_MEM_USABLE))
            return false;
    }
    return true;
}

/* [phys, phys + size) inside the boot identity map, reserved: a loader structure. */
static const void *pvh_structure(struct ath_boot_info *info, uint64_t phys, uint64_t size)
{
    if (phys == 0 || size > IDENTITY_END || phys > IDENTITY_END - size)
        return fail("PVH structure outside the first 4 GiB"), NULL;
    return add_reserved(info, phys, size) ? (const void *)(uintptr_t)phys : NULL;
}

static bool parse_pvh(uintptr_t addr, struct ath_boot_info *info)
{
    info->protocol = ATH_BOOT_PVH;
    const struct pvh_start_info *si = pvh_structure(info, addr, sizeof *si);
    if (!si)
        return false;
    struct pvh_start_info start = *si;   /* read once */
    if (start.version == 0)
        start.memmap_paddr = start.memmap_entries = 0;
    if (start.cmdline_paddr >= IDENTITY_END)
        return fail("PVH command line outside the first 4 GiB");
    if (!copy_string(info, info->cmdline, sizeof info->cmdline, (uint32_t)start.cmdline_paddr))
        return false;
    ath_strlcpy(info->bootloader, "PVH", sizeof info->bootloader);

    if (start.memmap_entries == 0)
        return fail("PVH start info has no memory map (version 0)");
    if (start.memmap_entries > PVH_MEMMAP_MAX)
        return fail("PVH memory map too long");
    const struct pvh_memmap_entry *map = pvh_structure(
        info, start.memmap_paddr, (uint64_t)start.memmap_entries * sizeof *map);
    if (!map)
        return false;
    for (uint32_t i = 0; i < start.memmap_entries; i++)
        if (!add_mem(info, map[i].addr, map[i].size, mem_type(map[i].type)))
            return false;

    if (start.nr_modules > ATH_MODULES_MAX)
        return fail("too many modules");
    const struct pvh_module *mods = start.nr_modules == 0 ? NULL : pvh_structure(
        info, start.modlist_paddr, (uint64_t)start.nr_modules * sizeof *mods);
    if (start.nr_modules && !mods)
        return false;
    for (uint32_t i = 0; i < start.nr_modules; i++) {
        struct pvh_module m = mods[i];
        if (m.size > IDENTITY_END || m.paddr > IDENTITY_END - m.size)
            return fail("PVH module outside the first 4 GiB");
        if (!add_module(info, m.paddr, m.paddr + m.size))
            return false;
        struct ath_boot_module *module = &info->modules[info->module_count - 1];
        if (m.cmdline_paddr >= IDENTITY_END)
            return fail("PVH module string outside the first 4 GiB");
        if (!copy_string(info, module->string, sizeof module->string, (uint32_t)m.cmdline_paddr))
            return false;
    }

    /* The RSDP: a copy, as multiboot2 gives one (acpi.c reads the tables from it). */
    if (start.rsdp_paddr) {
        const uint8_t *rsdp = pvh_structure(info, start.rsdp_paddr, 36);
        if (!rsdp)
            return false;
        info->acpi_rsdp_size = rsdp[15] >= 2 ? 36 : 20;
        memcpy(info->acpi_rsdp, rsdp, info->acpi_rsdp_size);
    }
    return true;
}

bool ath_arch_boot_info(uint32_t magic, uintptr_t addr, struct ath_boot_info *info, const char **error_out)
{
    memset(info, 0, sizeof *info);
    error = NULL;
    bool ok;
    if (magic != MB1_LOADER_MAGIC && magic != MB2_LOADER_MAGIC && magic != PVH_MAGIC)
        ok = fail("not started by a multiboot or PVH loader (bad magic)");
    else if (addr == 0)
        ok = fail("boot information at address 0");
    else if (magic == MB1_LOADER_MAGIC)
        ok = parse_multiboot1(addr, info);
    else if (magic == MB2_LOADER_MAGIC)
        ok = parse_multiboot2(addr, info);
    else if (*(const uint32_t *)addr != PVH_MAGIC)
        ok = fail("PVH start info with a bad magic");
    else
        ok = parse_pvh(addr, info);

    for (unsigned i = 0; ok && i < info->mem_count; i++) {
        const struct ath_mem_range *r = &info->mem[i];
        if (r->type == ATH_MEM_USABLE)
            info->usable_bytes += r->size;
        info->phys_end = ATH_MAX(info->phys_end, r->start + r->size);
    }
    for (unsigned i = 0; ok && i < info->module_count; i++)
        info->phys_end = ATH_MAX(info->phys_end, info->modules[i].start + info->modules[i].size);
    if (ok && info->usable_bytes == 0)
        ok = fail("memory map has no usable memory");
    *error_out = error;
    return ok;
}
