/*
 * Booting an appliance, top to bottom: find the image, verify it (image.c), start the clocks,
 * interrupts and the trace, the import table and the image's files (abi.c, wasi.c), load every
 * module (module.c: code mapped read+execute in place, imports linked, one instance each),
 * check the channels, devices and supervision tree, give each module a task (task.c), then run
 * the scheduler until the appliance ends: a module calls exit, every app has finished (exit
 * 0), or a failure no supervisor absorbs.
 */
#include "kernel.h"
#include "kernel_abi.h"

static const uint8_t *image_bytes(const struct ath_boot_info *info, uint64_t *size)
{
    for (unsigned i = 0; i < info->module_count; i++) {
        const struct ath_boot_module *m = &info->modules[i];
        if (m->size >= 8 && !memcmp((const void *)(uintptr_t)m->start, "AZOTHIMG", 8)) {
            *size = m->size;
            return (const uint8_t *)(uintptr_t)m->start;
        }
    }
    if (info->module_count) {   /* let verification say what is wrong with it */
        *size = info->modules[0].size;
        return (const uint8_t *)(uintptr_t)info->modules[0].start;
    }
    return NULL;
}

/* athanor.storm=US or =MIN-MAX: the tick every US (or a random MIN..MAX) microseconds. */
static void interrupt_storm(void)
{
    const char *value = ath_cmdline_get("athanor.storm");
    if (!value)
        return;
    char text[32];
    ath_strlcpy(text, value, sizeof text);
    char *dash = strchr(text, '-');
    if (dash)
        *dash = '\0';
    uint64_t min, max;
    bool ok = ath_parse_u64(text, &min) && (dash ? ath_parse_u64(dash + 1, &max) : (max = min, true));
    if (!ok || min < ATH_STORM_MIN_US || max < min || max > ATH_STORM_MAX_US) {
        ath_kprintf("[athanor] boot error: athanor.storm=%s: expected US or MIN-MAX microseconds "
                    "within %d-%d\n", value, ATH_STORM_MIN_US, ATH_STORM_MAX_US);
        ath_fail(ATH_FAIL_BOOT);
    }
    ath_arch_tick_storm((unsigned)min, (unsigned)max);
    ath_kprintf("[athanor] interrupt storm: the tick every %lu-%lu us\n", (unsigned long)min,
                (unsigned long)max);
}

/* The modules granted entropy, named for the boot log: the random pool waits for them. */
static void expect_entropy(const struct ath_image *image)
{
    static char names[128];
    size_t at = 0;
    for (uint32_t i = 0; i < image->module_count; i++) {
        struct ath_image_module record;
        ath_image_module_at(image, i, &record);
        if (!(record.grants >> ATH_CAPABILITY_ENTROPY & 1))
            continue;
        at += (size_t)ath_snprintf(names + at, sizeof names - at, "%smodule %s",
                                   at ? ", " : "", record.name);
        if (at >= sizeof names)
            break;
    }
    ath_random_expect_feed(at ? names : NULL);
}

void ath_appliance_boot(const struct ath_boot_info *info)
{
    uint64_t size = 0;
    const uint8_t *bytes = image_bytes(info, &size);
    if (!bytes) {
        ath_kprintf("[athanor] boot error: no appliance image among the boot modules\n");
        ath_fail(ATH_FAIL_BOOT);
    }
    /* Read-only from here: what is verified is what runs. */
    uintptr_t first = ATH_ALIGN_DOWN((uintptr_t)bytes, ATH_PAGE_SIZE);
    uintptr_t last = ATH_ALIGN_UP((uintptr_t)bytes + size, ATH_PAGE_SIZE);
    ath_vm_protect(first, last - first, ATH_VM_READ);

    static struct ath_image image;
    if (!ath_image_verify(bytes, size, &image))
        ath_fail(ATH_FAIL_VERIFY);
    /* Authentic, but perhaps for another machine: say which before any object is read (each
     * object's target is checked again when its module is loaded). */
    if (image.arch != ATH_ARCH_OBJECT_TARGET) {
        ath_kprintf("[athanor] boot error: the image %s is built for %s, this kernel runs %s "
                    "(build it with --arch %s)\n", image.name, alk_object_target_name(image.arch),
                    ATH_ARCH_NAME, ATH_ARCH_NAME);
        ath_fail(ATH_FAIL_BOOT);
    }
    if ((uintptr_t)bytes % ATH_PAGE_SIZE) {
        ath_kprintf("[athanor] boot error: the image is not page-aligned in memory\n");
        ath_fail(ATH_FAIL_BOOT);
    }
    ath_kprintf("[athanor] appliance %s %s: %u module%s, signature and hashes verified\n",
                image.name, image.version, image.module_count, image.module_count == 1 ? "" : "s");
    if (image.module_count > ATH_TASKS_MAX) {
        ath_kprintf("[athanor] boot error: %u modules, at most %d\n", image.module_count,
                    ATH_TASKS_MAX);
        ath_fail(ATH_FAIL_BOOT);
    }

    /* Time and interrupts (still off), PCI, the trace, random numbers, the import table,
     * files. */
    ath_arch_interrupts_init(ATH_TICK_HZ);
    ath_pci_init();
    interrupt_storm();
    ath_clock_init();
    ath_trace_init();
    ath_random_init();
    ath_wasm_init();
    ath_abi_init();
    ath_wasi_init(&image);

    /* Every module loaded and instantiated before any runs, drivers first (image order). */
    ath_task_set_count(image.module_count);
    for (uint32_t i = 0; i < image.module_count; i++) {
        struct ath_task *task = ath_task_at(i);
        struct ath_image_module record;
        ath_image_module_at(&image, i, &record);
        ath_task_init(task, i, record.name, record.stack_size);
        ath_module_load(task, &image, i);
    }
    ath_channels_init(&image);
    ath_sockets_init(&image);
    ath_devices_check(&image, info);
    ath_pci_check_grants(&image);
    ath_dma_init(&image);
    ath_supervisors_init(&image);
    expect_entropy(&image);

    for (uint32_t i = 0; i < image.module_count; i++)
        ath_task_start(ath_task_at(i), ath_module_main);
    ath_sched_run();
}
