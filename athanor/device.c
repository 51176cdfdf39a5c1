/*
 * Devices for drivers written in Wasm: port I/O ranges, interrupt lines and MMIO windows, each
 * reached through a handle that an open call issues only inside what the module's grants
 * (its image resources) cover. Every access is checked against the handle's range; nothing a
 * driver does reaches another range, the kernel's own devices or RAM.
 *
 * Interrupt lines follow "acknowledge, then wait": a line is unmasked only while its driver
 * waits for it (athanor.irq_wait, or athanor.wait on its handle); when it fires the arch masks
 * and acknowledges it, the kernel counts it and wakes the driver, and it stays masked until the
 * driver waits again. A line belongs to one module at a time (the first to open it).
 */
#include "loader.h"
#include "kernel_abi.h"

#define IRQ_LINES 16

struct irq_line {
    struct ath_task *owner;
    uint32_t pending;                  /* times it fired since the driver last took them */
};

static struct irq_line lines[IRQ_LINES];

static ATH_NORETURN void refuse(const char *module, const char *what, uint64_t first, uint64_t last)
{
    ath_kprintf("[athanor] boot error: module %s: %s 0x%lx-0x%lx\n", module, what,
                (unsigned long)first, (unsigned long)last);
    ath_fail(ATH_FAIL_BOOT);
}

static bool overlaps(uint64_t a, uint64_t a_last, uint64_t b, uint64_t b_last)
{
    return a <= b_last && b <= a_last;
}

/* build.py refuses all of this; the kernel does not rely on it. */
void ath_devices_check(const struct ath_image *image, const struct ath_boot_info *info)
{
    for (uint32_t t = 0; t < ath_task_count(); t++) {
        const struct ath_task *task = ath_task_at(t);
        for (uint32_t i = 0; i < task->record.resource_count; i++) {
            struct ath_image_resource r;
            ath_image_resource_at(image, task->record.resource_first + i, &r);
            const char *name = task->record.name;
            if (r.first > r.last)
                refuse(name, "an empty range", r.first, r.last);
            if (r.kind == ATH_RESOURCE_PORT) {
                if (r.last > 0xffff)
                    refuse(name, "ports beyond 0xffff", r.first, r.last);
#define KEPT(lo, hi) if (overlaps(r.first, r.last, lo, hi)) refuse(name, "ports the kernel keeps", lo, hi);
                ATH_RESERVED_PORT(KEPT)
            } else if (r.kind == ATH_RESOURCE_IRQ) {
                if (r.first != r.last || r.last >= IRQ_LINES)
                    refuse(name, "IRQ lines out of range", r.first, r.last);
                ATH_RESERVED_IRQ(KEPT)
            } else if (r.kind == ATH_RESOURCE_MMIO) {
                ATH_RESERVED_MMIO(KEPT)
#undef KEPT
                if (r.last >= ath_vm_window_base())
                    refuse(name, "an MMIO window above the identity-mapped space", r.first, r.last);
                for (unsigned m = 0; m < info->mem_count; m++) {
                    const struct ath_mem_range *range = &info->mem[m];
                    if (range->type == ATH_MEM_USABLE && range->size &&
                        overlaps(r.first, r.last, range->start, range->start + range->size - 1))
                        refuse(name, "an MMIO window over RAM", r.first, r.last);
                }
                if (overlaps(r.first, r.last, (uintptr_t)__kernel_start, (uintptr_t)__kernel_end - 1))
                    refuse(name, "an MMIO window over the kernel", r.first, r.last);
                for (unsigned m = 0; m < info->module_count; m++) {
                    const struct ath_boot_module *b = &info->modules[m];
                    if (b->size && overlaps(r.first, r.last, b->start, b->start + b->size - 1))
                        refuse(name, "an MMIO window over a boot module", r.first, r.last);
                }
            } else if (r.kind != ATH_RESOURCE_CHANNEL) {
                refuse(name, "a resource of unknown kind", r.kind, r.kind);
            }
        }
    }
}

/* ---- Ports ---------------------------------------------------------------------------------- */
/* athanor.port_open(first, count) */
int32_t ath_abi_port_open(void *vmctx, uint32_t first, uint32_t count)
{
    struct ath_task *task = ath_caller(vmctx);
    if (count == 0)
        return ATH_E_INVALID;
    if (first > 0xffff || count > 0x10000 - first)
        return ath_refuse(ATH_E_RANGE);
    struct ath_image_resource r;
    if (!ath_resource_find(task, ATH_RESOURCE_PORT, first, first + count - 1, &r))
        return ath_refuse_ungranted(task, ATH_E_DENIED, "port_open",
                                    count == 1 ? "add \"port:0x%x\" to its grants"
                                               : "add \"port:0x%x-0x%x\" to its grants",
                                    first, first + count - 1);
    return ath_handle_new(task, ATH_HANDLE_PORT, 0, first, first + count - 1);
}

static int32_t port_of(void *vmctx, uint32_t handle, uint32_t port, uint32_t width)
{
    struct ath_handle *h;
    int32_t error = ath_handle_get(ath_caller(vmctx), (int32_t)handle, ATH_HANDLE_PORT, &h);
    if (error)
        return error;
    if (width != 1 && width != 2 && width != 4)
        return ATH_E_INVALID;
    if (port < h->first || (uint64_t)port + width - 1 > h->last)
        return ath_refuse(ATH_E_RANGE);
    return 0;
}

/* athanor.port_in(handle, port, width): the value, zero-extended */
int64_t ath_abi_port_in(void *vmctx, uint32_t handle, uint32_t port, uint32_t width)
{
    int32_t error = port_of(vmctx, handle, port, width);
    if (error)
        return error;
    return ath_arch_port_in((uint16_t)port, width);
}

/* athanor.port_out(handle, port, width, value) */
int32_t ath_abi_port_out(void *vmctx, uint32_t handle, uint32_t port, uint32_t width,
                         uint32_t value)
{
    int32_t error = port_of(vmctx, handle, port, width);
    if (error)
        return error;
    ath_arch_port_out((uint16_t)port, width, value);
    return 0;
}

/* ---- Interrupt lines ------------------------------------------------------------------------ */
void ath_device_interrupt(unsigned line, struct ath_trap_frame *frame)
{
    if (line >= IRQ_LINES || !lines[line].owner)
        return;                         /* nobody waits: it stays masked */
    struct irq_line *l = &lines[line];
    l->pending++;
    ath_trace(ATH_TRACE_IRQ, l->owner->index, line, 0);
    if (l->owner->state == ATH_TASK_BLOCKED && (l->owner->wait_irqs >> line & 1)) {
        ath_task_wake(l->owner);
        ath_sched_interrupted(frame);
    }
}

bool ath_irq_ready(const struct ath_handle *h)
{
    return lines[h->first].pending > 0;
}

void ath_irq_arm(const struct ath_handle *h)
{
    if (!lines[h->first].pending)
        ath_arch_irq_unmask((unsigned)h->first);
}

void ath_irq_release(struct ath_task *task, uint64_t line)
{
    unsigned open = 0;
    for (uint32_t i = 0; i < ATH_HANDLES_MAX; i++)
        open += task->handles[i].kind == ATH_HANDLE_IRQ && task->handles[i].first == line;
    if (open > 1 || lines[line].owner != task)
        return;
    uint64_t state = ath_arch_irq_save();
    ath_arch_irq_mask((unsigned)line);
    lines[line].owner = NULL;
    lines[line].pending = 0;
    ath_arch_irq_restore(state);
}

/* athanor.irq_open(line) */
int32_t ath_abi_irq_open(void *vmctx, uint32_t line)
{
    struct ath_task *task = ath_caller(vmctx);
    if (line >= IRQ_LINES)
        return ath_refuse(ATH_E_RANGE);
    struct ath_image_resource r;
    if (!ath_resource_find(task, ATH_RESOURCE_IRQ, line, line, &r))
        return ath_refuse_ungranted(task, ATH_E_DENIED, "irq_open", "add \"irq:%u\" to its grants",
                                    line);
    if (lines[line].owner && lines[line].owner != task)
        return ATH_E_BUSY;
    int32_t handle = ath_handle_new(task, ATH_HANDLE_IRQ, 0, line, line);
    if (handle > 0)
        lines[line].owner = task;
    return handle;
}

/* athanor.irq_wait(handle): how many times the line fired since the last wait (at least 1) */
int32_t ath_abi_irq_wait(void *vmctx, uint32_t handle)
{
    struct ath_task *task = ath_caller(vmctx);
    struct ath_handle *h;
    int32_t error = ath_handle_get(task, (int32_t)handle, ATH_HANDLE_IRQ, &h);
    if (error)
        return error;
    struct irq_line *l = &lines[h->first];
    uint64_t state = ath_arch_irq_save();
    while (!l->pending) {
        ath_irq_arm(h);
        task->wait_irqs = 1u << h->first;
        ath_sched_block(0);
        task->wait_irqs = 0;
    }
    int32_t fired = (int32_t)l->pending;
    l->pending = 0;
    ath_arch_irq_restore(state);
    return fired;
}

/* ---- MMIO windows --------------------------------------------------------------------------- */
/* athanor.mmio_open(base, size): maps the window's pages uncached (identity) on first use */
int32_t ath_abi_mmio_open(void *vmctx, uint64_t base, uint32_t size)
{
    struct ath_task *task = ath_caller(vmctx);
    if (size == 0)
        return ATH_E_INVALID;
    if (base + size < base)
        return ath_refuse(ATH_E_RANGE);
    struct ath_image_resource r;
    if (!ath_resource_find(task, ATH_RESOURCE_MMIO, base, base + size - 1, &r))
        return ath_refuse_ungranted(task, ATH_E_DENIED, "mmio_open", "add \"mmio:0x%lx-0x%lx\" "
                                    "to its grants", (unsigned long)base,
                                    (unsigned long)(base + size - 1));
    /* The window's pages, a chunk at a time: each page once mapped stays so (the next open
     * of a window finds it), so a module stopped in the middle leaves nothing half done. */
    uint64_t first = ATH_ALIGN_DOWN(base, ATH_PAGE_SIZE), end = ATH_ALIGN_UP(base + size, ATH_PAGE_SIZE);
    for (uint64_t page = first; page < end; page += ATH_PAGE_SIZE) {
        uint64_t phys;
        unsigned flags;
        if (!ath_vm_query(page, &phys, &flags) &&
            ath_vm_map(page, page, ATH_PAGE_SIZE, ATH_VM_READ | ATH_VM_WRITE | ATH_VM_NOCACHE))
            return ATH_E_NOMEM;
        if ((page - first) % (256 * ATH_PAGE_SIZE) == 255 * ATH_PAGE_SIZE)
            ath_sched_preempt_point();
    }
    return ath_handle_new(task, ATH_HANDLE_MMIO, 0, base, base + size - 1);
}

static int32_t mmio_of(void *vmctx, uint32_t handle, uint32_t offset, uint32_t width,
                       volatile void **out)
{
    struct ath_handle *h;
    int32_t error = ath_handle_get(ath_caller(vmctx), (int32_t)handle, ATH_HANDLE_MMIO, &h);
    if (error)
        return error;
    if (width != 1 && width != 2 && width != 4)
        return ATH_E_INVALID;
    if (offset % width || (uint64_t)offset + width - 1 > h->last - h->first)
        return ath_refuse(ATH_E_RANGE);
    *out = (volatile void *)(uintptr_t)(h->first + offset);
    return 0;
}

/* athanor.mmio_read(handle, offset, width): the value, zero-extended */
int64_t ath_abi_mmio_read(void *vmctx, uint32_t handle, uint32_t offset, uint32_t width)
{
    volatile void *at;
    int32_t error = mmio_of(vmctx, handle, offset, width, &at);
    if (error)
        return error;
    if (width == 1)
        return *(volatile uint8_t *)at;
    if (width == 2)
        return *(volatile uint16_t *)at;
    return *(volatile uint32_t *)at;
}

/* athanor.mmio_write(handle, offset, width, value) */
int32_t ath_abi_mmio_write(void *vmctx, uint32_t handle, uint32_t offset, uint32_t width,
                           uint64_t value)
{
    volatile void *at;
    int32_t error = mmio_of(vmctx, handle, offset, width, &at);
    if (error)
        return error;
    if (width == 1)
        *(volatile uint8_t *)at = (uint8_t)value;
    else if (width == 2)
        *(volatile uint16_t *)at = (uint16_t)value;
    else
        *(volatile uint32_t *)at = (uint32_t)value;
    return 0;
}
