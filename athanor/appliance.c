/*
 * Booting an appliance: find the image, verify it (image.c), then for each module, drivers
 * first: map its code read+execute in place, link its imports to kernel functions, instantiate
 * it (fresh linear memory with its data segments) and call its entry (`_start`) on a stack of
 * its own. The appliance ends when a module calls exit, when every module has returned (exit 0),
 * or when a module traps (a failure status; restarts come with supervision).
 */
#include "loader.h"

#define MODULE_STACK_SIZE (1u << 20)
#define IMPORTS_MAX 256
#define ATH_MODULES_MAX_IMAGE 64

struct module_run {
    const struct ath_image *image;
    struct ath_image_module record;
    alk_object object;
    alk_instance instance;
    uint64_t stack_limit;
};

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

static void module_failed(const struct module_run *run, const char *what)
{
    ath_kprintf("[athanor] module %s: %s\n", run->record.name, what);
    ath_fail(ATH_FAIL_APPLIANCE);
}

/* Binds each import to its kernel function; the image says which (build.py checked grants). */
static void link_imports(struct module_run *run, alk_extern *imports, uint32_t count)
{
    uint32_t function = 0;
    char what[160];
    for (uint32_t i = 0; i < count; i++) {
        alk_object_import imp = alk_object_import_at(&run->object, i);
        if (imp.kind != 0 || function >= run->record.import_count)
            module_failed(run, "imports something other than kernel functions");
        uint32_t id = ath_image_import_id(run->image, run->record.import_first + function++);
        const struct ath_abi_function *f = ath_abi_function(id);
        alk_str sig = alk_object_type(&run->object, imp.index);
        size_t params = strlen(f ? f->params : ""), results = strlen(f ? f->results : "");
        bool same = f && sig.length == params + 1 + results &&
                    !memcmp(sig.bytes, f->params, params) && sig.bytes[params] == ':' &&
                    !memcmp(sig.bytes + params + 1, f->results, results);
        if (!same) {
            ath_snprintf(what, sizeof what, "import %.*s.%.*s does not match kernel function #%u",
                         (int)imp.module.length, imp.module.bytes, (int)imp.field.length,
                         imp.field.bytes, id);
            module_failed(run, what);
        }
        imports[i].kind = 0;
        imports[i].as.function.code = f->code;
        imports[i].as.function.vmctx = NULL;      /* host functions get the caller's vmctx */
        imports[i].as.function.type_id = ath_wasm_platform.type_id(NULL, sig.bytes, sig.length);
    }
    if (function != run->record.import_count)
        module_failed(run, "import map does not match its imports");
}

static void load_module(struct module_run *run)
{
    const struct ath_image_module *m = &run->record;
    const uint8_t *object = run->image->bytes + m->object_offset;
    const char *problem = alk_object_open(&run->object, object, (size_t)m->object_size);
    if (problem)
        module_failed(run, problem);
    if (((run->object.flags & 1) != 0) != ((run->image->flags & 1) != 0))
        module_failed(run, "compiled for another bounds mode than the image's");

    /* The code runs in place: its pages become read+execute, nothing else is executable. */
    const alk_section_view *code = &run->object.sections[ALK_SECTION_CODE];
    uintptr_t start = (uintptr_t)code->data, size = ATH_ALIGN_UP(code->size, ATH_PAGE_SIZE);
    if (start % ATH_PAGE_SIZE || code->size == 0)
        module_failed(run, "code section is not page-aligned");
    if (ath_vm_protect(start, size, ATH_VM_READ | ATH_VM_EXEC) != ATH_OK)
        module_failed(run, "cannot map its code");
    ath_code_region_add(start, start + size, m->name);

    uint32_t count = alk_object_count(&run->object, ALK_SECTION_IMPORTS);
    if (count > IMPORTS_MAX)
        module_failed(run, "too many imports");
    static alk_extern imports[IMPORTS_MAX];
    link_imports(run, imports, count);
    alk_instantiate_result r = alk_instantiate(&run->instance, &run->object, code->data,
                                               &ath_wasm_platform, imports,
                                               (uint32_t)(m->max_memory >> 16), run);
    if (r.status == ALK_INSTANTIATE_TRAP) {
        char what[96];
        ath_snprintf(what, sizeof what, "trapped while instantiating: %s",
                     ath_trap_name(r.trap_code));
        module_failed(run, what);
    }
    if (r.status)
        module_failed(run, r.message);
}

/* On the module's own stack: start function, then _start. */
static uint32_t run_entry(void *arg)
{
    struct module_run *run = arg;
    *(uint64_t *)(run->instance.vmctx + ALK_VMCTX_STACK_LIMIT) = run->stack_limit;
    uint64_t results[16];
    if (run->object.start != UINT32_MAX) {
        uint32_t code = ath_wasm_invoke(&run->instance, run->object.start, NULL, results);
        if (code)
            return code;
    }
    int64_t entry = alk_object_find_export(&run->object, "_start", 6, 0);
    if (entry < 0)
        return 0;
    uint32_t type = alk_object_function_type(&run->object, (uint32_t)entry);
    alk_str sig = alk_object_type(&run->object, type);
    if (sig.length != 1)   /* ":" : no parameters, no results */
        return ALK_TRAP_SIGNATURE_MISMATCH;
    return ath_wasm_invoke(&run->instance, (uint32_t)entry, NULL, results);
}

static void run_module(struct module_run *run)
{
    uint32_t trap = ath_run_on_stack(MODULE_STACK_SIZE, run_entry, run, &run->stack_limit);
    if (trap) {
        char what[96];
        ath_snprintf(what, sizeof what, "trapped: %s", ath_trap_name(trap));
        module_failed(run, what);
    }
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
    if ((uintptr_t)bytes % ATH_PAGE_SIZE) {
        ath_kprintf("[athanor] boot error: the image is not page-aligned in memory\n");
        ath_fail(ATH_FAIL_BOOT);
    }
    ath_kprintf("[athanor] appliance %s %s: %u module%s, signature and hashes verified\n",
                image.name, image.version, image.module_count, image.module_count == 1 ? "" : "s");
    ath_wasm_install_fault_hook();

    static struct module_run runs[ATH_MODULES_MAX_IMAGE];
    if (image.module_count > ATH_MODULES_MAX_IMAGE) {
        ath_kprintf("[athanor] boot error: %u modules, at most %d\n", image.module_count,
                    ATH_MODULES_MAX_IMAGE);
        ath_fail(ATH_FAIL_BOOT);
    }
    /* Drivers first, then apps, each in manifest order. */
    for (uint32_t kind = ATH_MODULE_DRIVER; kind <= ATH_MODULE_APP; kind++) {
        for (uint32_t i = 0; i < image.module_count; i++) {
            struct module_run *run = &runs[i];
            run->image = &image;
            ath_image_module_at(&image, i, &run->record);
            if (run->record.kind != kind)
                continue;
            load_module(run);
            run_module(run);
        }
    }
    ath_exit(0);
}
