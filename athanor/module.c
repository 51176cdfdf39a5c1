/*
 * A module's life: loaded once at boot (its code mapped read+execute in place, its imports
 * bound to kernel functions, one instance made), then run as a task: its start function and
 * `_start`, and when that ends, by a return or a trap, its supervisor decides (supervisor.c).
 * A restart makes a fresh instance from the image: new linear memory from the data segments,
 * new globals and tables, a new WASI state (wasi.c), same code.
 */
#include "kernel.h"

/* The kernel refuses to load a module of a verified image: it names the module and why, and
 * the boot fails (build.py checks all of this beforehand: docs/runtime.md, "Limits"). */
static ATH_NORETURN void module_failed(const struct ath_task *task, const char *what)
{
    ath_kprintf("[athanor] boot error: module %s: %s\n", task->record.name, what);
    ath_fail(ATH_FAIL_BOOT);
}

/* Binds each import to its kernel function; the image says which (build.py checked grants),
 * and the kernel checks the type once more against its own table. */
static void link_imports(struct ath_task *task, uint32_t count)
{
    uint32_t function = 0;
    char what[160];
    for (uint32_t i = 0; i < count; i++) {
        alk_object_import imp = alk_object_import_at(&task->object, i);
        if (imp.kind != 0 || function >= task->record.import_count)
            module_failed(task, "imports something other than kernel functions");
        uint32_t id = ath_image_import_id(task->image, task->record.import_first + function++);
        const struct ath_abi_function *f = ath_abi_function(id);
        alk_str sig = alk_object_type(&task->object, imp.index);
        size_t params = strlen(f ? f->params : ""), results = strlen(f ? f->results : "");
        bool same = f && sig.length == params + 1 + results &&
                    !memcmp(sig.bytes, f->params, params) && sig.bytes[params] == ':' &&
                    !memcmp(sig.bytes + params + 1, f->results, results);
        if (!same) {
            ath_snprintf(what, sizeof what, "import %.*s.%.*s does not match kernel function #%u",
                         (int)imp.module.length, imp.module.bytes, (int)imp.field.length,
                         imp.field.bytes, id);
            module_failed(task, what);
        }
        task->imports[i].kind = 0;
        task->imports[i].as.function.code = ath_wasi_bind(task, f);
        task->imports[i].as.function.vmctx = NULL;   /* kernel functions get the caller's vmctx */
        task->imports[i].as.function.type_id = ath_wasm_platform.type_id(NULL, sig.bytes,
                                                                         sig.length);
    }
    if (function != task->record.import_count)
        module_failed(task, "import map does not match its imports");
}

void ath_module_load(struct ath_task *task, const struct ath_image *image, uint32_t index)
{
    task->image = image;
    ath_image_module_at(image, index, &task->record);
    const struct ath_image_module *m = &task->record;
    const char *problem = alk_object_open(&task->object, image->bytes + m->object_offset,
                                          (size_t)m->object_size);
    if (problem)
        module_failed(task, problem);
    if (((task->object.flags & 1) != 0) != ((image->flags & 1) != 0))
        module_failed(task, "compiled for another bounds mode than the image's");

    /* The code runs in place: its pages become read+execute, nothing else is executable. */
    const alk_section_view *code = &task->object.sections[ALK_SECTION_CODE];
    uintptr_t start = (uintptr_t)code->data, size = ATH_ALIGN_UP(code->size, ATH_PAGE_SIZE);
    if (start % ATH_PAGE_SIZE || code->size == 0)
        module_failed(task, "code section is not page-aligned");
    if (ath_vm_protect(start, size, ATH_VM_READ | ATH_VM_EXEC) != ATH_OK)
        module_failed(task, "cannot map its code");
    if (ath_code_region_add(start, start + size, m->name) != ATH_OK)
        module_failed(task, "too many code regions");

    uint32_t count = alk_object_count(&task->object, ALK_SECTION_IMPORTS);
    if (count > ATH_IMPORTS_MAX)
        module_failed(task, "too many imports");
    if (!ath_wasm_signatures_fit(&task->object))
        module_failed(task, "its function signatures and the other modules' are more than "
                            "the kernel's limit of distinct signatures (ATH_SIGNATURES_MAX)");
    task->imports = ath_alloc((count ? count : 1) * sizeof *task->imports);
    if (!task->imports)
        module_failed(task, "out of memory for its imports");
    link_imports(task, count);
    ath_wasi_load(task);
    problem = ath_module_reinstantiate(task);
    if (problem)
        module_failed(task, problem);
}

/*
 * A fresh instance in place of the old one, in the task's own context: free the old instance
 * (its memory goes back to the task), prepare the memory, instantiate. The first and the
 * long steps are preemptible; a task stopped anywhere in them (a restart of its group) starts
 * over with nothing lost: `instantiated` covers a half-made instance too, and the memory's
 * record is always true (wasm.c).
 */
const char *ath_module_reinstantiate(struct ath_task *task)
{
    ath_sched_preempt_point();          /* a trap loop is no way to keep the CPU */
    if (task->instantiated) {
        alk_instance_free(&task->instance);
        task->instantiated = false;
    }
    ath_dma_unmap(task);                /* its devices were reset when its handles went */
    task->steps[ATH_STEP_FREED] = ath_arch_cycles();
    uint32_t limit_pages = (uint32_t)(task->record.max_memory >> 16);
    uint64_t reserve, initial;
    if (alk_memory_plan(&task->object, limit_pages, &reserve, &initial) &&
        ath_wasm_memory_prepare(task, reserve, initial) != ATH_OK) {
        ath_snprintf(task->problem, sizeof task->problem,
                     "cannot instantiate: no memory for its %lu KiB linear memory",
                     (unsigned long)(initial >> 10));
        return task->problem;
    }
    const alk_section_view *code = &task->object.sections[ALK_SECTION_CODE];
    task->instantiated = true;          /* from here a half-made instance is freed as a whole */
    alk_instantiate_result r = alk_instantiate(&task->instance, &task->object, code->data,
                                               &ath_wasm_platform, task->imports, limit_pages,
                                               task);
    if (r.status) {
        task->instantiated = false;     /* alk_instantiate freed it */
        if (r.status == ALK_INSTANTIATE_TRAP)
            ath_snprintf(task->problem, sizeof task->problem, "trapped while instantiating: %s",
                         ath_trap_name(r.trap_code));
        else
            ath_snprintf(task->problem, sizeof task->problem, "cannot instantiate: %s", r.message);
        return task->problem;
    }
    /* Wasm frames stay ATH_WASM_STACK_SLACK above the guard page: room for the return
     * addresses pushed before a function's limit check (docs/abi.md). Kernel code never runs
     * down there: kernel calls, interrupts and faults move to the kernel stack. */
    *(uint64_t *)(task->instance.vmctx + ALK_VMCTX_STACK_LIMIT) =
        task->stack.bottom + ATH_WASM_STACK_SLACK;
    task->instance.wasi = ath_wasi_reset(task);
    if (!task->instance.wasi) {
        ath_snprintf(task->problem, sizeof task->problem,
                     "cannot instantiate: no memory for its listening sockets");
        return task->problem;
    }
    task->fresh_needed = false;
    task->steps[ATH_STEP_INSTANTIATED] = ath_arch_cycles();
    return NULL;
}

/* The start function, then `_start` if it is exported as [] -> []. 0 or the trap code. */
static uint32_t run_entry(struct ath_task *task)
{
    if (task->object.start != UINT32_MAX) {
        uint32_t code = ath_wasm_invoke(task, task->object.start);
        if (code)
            return code;
    }
    int64_t entry = alk_object_find_export(&task->object, "_start", 6, 0);
    if (entry < 0)
        return 0;
    uint32_t type = alk_object_function_type(&task->object, (uint32_t)entry);
    alk_str sig = alk_object_type(&task->object, type);
    if (sig.length != 1)   /* ":" : no parameters, no results */
        return ALK_TRAP_SIGNATURE_MISMATCH;
    return ath_wasm_invoke(task, (uint32_t)entry);
}

void ath_module_main(void *arg)
{
    struct ath_task *task = arg;
    ath_arch_irq_enable();
    for (;;) {
        if (task->fresh_needed) {
            const char *problem = ath_module_reinstantiate(task);
            ath_supervisor_restarted(task, problem);
        }
        ath_trace(ATH_TRACE_START, task->index, task->restarts, 0);
        task->trap_code = 0;
        uint32_t code = run_entry(task);
        uint64_t now = ath_arch_cycles();
        ath_arch_irq_enable();          /* whatever the unwound code left */
        if (!code) {
            task->steps[ATH_STEP_TRAP] = now;
            ath_trace(ATH_TRACE_EXIT, task->index, 0, 0);
        }
        task->trap_code = code;
        task->steps[ATH_STEP_UNWOUND] = now;
        ath_supervise(task);            /* returns when the module must run again */
    }
}

static void record_frame(void *user, uint32_t depth, uint32_t code_offset, bool from_host)
{
    struct ath_task *task = user;
    (void)from_host;
    task->trap_frames[depth] = code_offset;
    task->trap_frame_count = depth + 1;
}

void ath_module_record_frames(struct ath_task *task, uintptr_t kernel_frame)
{
    /* The module's frame pointer when it entered the kernel: kernel calls and fault entries
     * leave the frame pointer alone, so the first one the kernel stack's chain saved that
     * points outside the kernel stack is the trapping Wasm function's (docs/abi.md). */
    uintptr_t frame = kernel_frame;
    for (int i = 0; i < 64 && frame >= task->kstack.bottom && frame + 16 <= task->kstack.top; i++)
        frame = *(const uintptr_t *)frame;
    /* Where it trapped: a trap stub's call returns to its trap instruction (docs/abi.md), a
     * fault's pc is the faulting instruction; a kernel function that trapped (athanor.log given
     * a bad pointer) returns after the module's call to it, which is then frame 0. */
    const uint8_t *pc = (const uint8_t *)task->trap_pc;
    const alk_section_view *code = &task->object.sections[ALK_SECTION_CODE];
    const uint8_t *code_end = task->instance.code + code->size;
    bool in_code = pc >= task->instance.code && pc < code_end;
    task->trap_from_host = in_code && task->trap_pc == ath_kcall_return_address() &&
                           !ath_arch_is_trap_instruction(pc, code_end);
    task->trap_frame_count = 0;
    alk_backtrace(&task->object, task->instance.code, task->trap_pc - task->trap_from_host, frame,
                  task->stack.bottom, task->stack.top, ATH_TRAP_FRAMES_MAX, record_frame, task);
}

void ath_module_report_trap(const struct ath_task *task)
{
    ath_kprintf("[athanor] module %s: trapped: %s", task->record.name,
                ath_trap_name(task->trap_code));
    /* The return address into its code names the function: each one's trap stubs follow it. */
    const alk_object *o = &task->object;
    uintptr_t code = (uintptr_t)o->sections[ALK_SECTION_CODE].data;
    uintptr_t pc = task->trap_pc - 1;
    for (uint32_t i = 0; pc >= code && i < o->function_count - o->imported_function_count; i++) {
        alk_object_function f = alk_object_function_at(o, i);
        if (pc - code < f.offset || pc - code >= (uintptr_t)f.offset + f.size)
            continue;
        alk_str name = alk_object_function_name(o, o->imported_function_count + i);
        if (name.length)
            ath_kprintf(" (in %.*s", (int)name.length, name.bytes);
        else
            ath_kprintf(" (in function %u", o->imported_function_count + i);
        ath_kprintf("+0x%lx)", (unsigned long)(pc + 1 - code - f.offset));
        break;
    }
    ath_kprintf("\n");
    /* The backtrace, innermost first: the shared format of the hosted runtime's. */
    for (uint32_t i = 0; i < task->trap_frame_count; i++) {
        alk_frame_info frame;
        char line[160];
        alk_frame_describe(o, task->trap_frames[i], &frame);
        alk_frame_format(&frame, i, line, sizeof line);
        bool from_host = i == 0 && task->trap_from_host;
        ath_kprintf("[athanor]   %s%s\n", line, from_host ? " (in what it called)" : "");
    }
}
