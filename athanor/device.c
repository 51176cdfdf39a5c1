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
#include "kernel.h"
#include "kernel_abi.h"

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
                if (r.first != r.last || r.last >= ATH_IRQ_LEGACY_LINES)
                    refuse(name, "IRQ lines out of range", r.first, r.last);
                ATH_RESERVED_IRQ(KEPT)
            } else if (r.kind == ATH_RESOURCE_MMIO) {
                ATH_RESERVED_MMIO(KEPT)
#undef KEPT
                uint64_t kept_first, kept_last;
                if (ath_arch_mmio_kept(r.first, r.last, &kept_first, &kept_last))
                    refuse(name, "an MMIO window over the interrupt controller the kernel drives",
                           kept_first, kept_last);
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
            } else if (r.kind == ATH_RESOURCE_TCP_LISTEN) {
                if (r.first == 0 || r.first > 0xffff || r.last != r.first)
                    refuse(name, "a tcp-listen port out of range", r.first, r.last);
            } else if (r.kind != ATH_RESOURCE_CHANNEL && r.kind != ATH_RESOURCE_PCI &&
                       r.kind != ATH_RESOURCE_DMA && r.kind != ATH_RESOURCE_TCP_CONNECT &&
                       r.kind != ATH_RESOURCE_UDP) {
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

static int32_t port_of(void *vmctx, uint32_t handle, uint32_t port, uint32_t width,
                       uint16_t *out)
{
    struct ath_handle *h;
    int32_t error = ath_handle_get(ath_caller(vmctx), (int32_t)handle, ATH_HANDLE_PORT, &h);
    if (error)
        return error;
    if (width != 1 && width != 2 && width != 4)
        return ATH_E_INVALID;
    /* A PCI function's I/O BAR (pci_bar_open) is addressed from its start: a driver never
     * learns where the firmware put it. */
    uint64_t at = (h->flags & ATH_HANDLE_RELATIVE) ? h->first + (uint64_t)port : port;
    if (at < h->first || at + width - 1 > h->last)
        return ath_refuse(ATH_E_RANGE);
    *out = (uint16_t)at;
    return 0;
}

/* athanor.port_in(handle, port, width): the value, zero-extended */
int64_t ath_abi_port_in(void *vmctx, uint32_t handle, uint32_t port, uint32_t width)
{
    uint16_t at;
    int32_t error = port_of(vmctx, handle, port, width, &at);
    if (error)
        return error;
    return ath_arch_port_in(at, width);
}

/* athanor.port_out(handle, port, width, value) */
int32_t ath_abi_port_out(void *vmctx, uint32_t handle, uint32_t port, uint32_t width,
                         uint32_t value)
{
    uint16_t at;
    int32_t error = port_of(vmctx, handle, port, width, &at);
    if (error)
        return error;
    ath_arch_port_out(at, width, value);
    return 0;
}

/* ---- Interrupt sources -----------------------------------------------------------------------
 * Sources 0..15 are the legacy lines; 16.. are PCI devices' (pci.c makes them): an I/O APIC
 * input (a function's INTx, shared by the functions the firmware wired to it) or an MSI-X
 * vector. Each belongs to one module at a time, and only while it holds a handle on it. */
enum source_kind { SOURCE_FREE = 0, SOURCE_LEGACY, SOURCE_IOAPIC, SOURCE_MSIX };

struct irq_source {
    struct ath_task *owner;
    uint32_t pending;                  /* times it fired since the driver last took them */
    uint8_t kind;                      /* enum source_kind */
    uint16_t device, entry;            /* MSI-X: the PCI function (pci.c's index), its entry */
    uint32_t gsi;                      /* I/O APIC: the input */
};

static struct irq_source sources[ATH_IRQ_SOURCES];
_Static_assert(ATH_IRQ_SOURCES <= 64, "a task's wait set is a 64-bit mask");

static void source_mask(unsigned source, bool masked)
{
    struct irq_source *s = &sources[source];
    if (s->kind == SOURCE_MSIX)
        ath_pci_msix_mask(s->device, s->entry, masked);
    else if (masked)
        ath_arch_irq_mask(source);
    else
        ath_arch_irq_unmask(source);
}

void ath_device_interrupt(unsigned source, struct ath_trap_frame *frame)
{
    if (source >= ATH_IRQ_SOURCES)
        return;
    struct irq_source *s = &sources[source];
    if (s->kind == SOURCE_MSIX)
        ath_pci_msix_mask(s->device, s->entry, true);
    if (!s->owner)
        return;                         /* nobody waits: it stays masked */
    s->pending++;
    ath_trace(ATH_TRACE_IRQ, s->owner->index, source, 0);
    if (s->owner->state == ATH_TASK_BLOCKED && (s->owner->wait_irqs >> source & 1)) {
        ath_task_wake(s->owner);
        ath_sched_interrupted(frame);
    }
}

int ath_irq_source_gsi(uint32_t gsi, bool active_high)
{
    for (unsigned i = ATH_IRQ_LEGACY_LINES; i < ATH_IRQ_SOURCES; i++)
        if (sources[i].kind == SOURCE_IOAPIC && sources[i].gsi == gsi)
            return (int)i;
    for (unsigned i = ATH_IRQ_LEGACY_LINES; i < ATH_IRQ_SOURCES; i++) {
        if (sources[i].kind != SOURCE_FREE)
            continue;
        if (!ath_arch_irq_route_gsi(i, gsi, active_high))
            return -1;
        sources[i].kind = SOURCE_IOAPIC;
        sources[i].gsi = gsi;
        return (int)i;
    }
    return -1;
}

int ath_irq_source_msix(uint16_t device, uint16_t entry)
{
    for (unsigned i = ATH_IRQ_LEGACY_LINES; i < ATH_IRQ_SOURCES; i++) {
        if (sources[i].kind != SOURCE_FREE)
            continue;
        sources[i].kind = SOURCE_MSIX;
        sources[i].device = device;
        sources[i].entry = entry;
        return (int)i;
    }
    return -1;
}

int32_t ath_irq_handle(struct ath_task *task, unsigned source, uint16_t device)
{
    if (sources[source].owner && sources[source].owner != task)
        return ATH_E_BUSY;
    int32_t handle = ath_handle_new(task, ATH_HANDLE_IRQ, 0, source, source);
    if (handle > 0) {
        sources[source].owner = task;
        task->handles[handle & 0xff].device = device;
    }
    return handle;
}

bool ath_irq_ready(const struct ath_handle *h)
{
    return sources[h->first].pending > 0;
}

void ath_irq_arm(const struct ath_handle *h)
{
    if (!sources[h->first].pending)
        source_mask((unsigned)h->first, false);
}

void ath_irq_release(struct ath_task *task, uint64_t source)
{
    unsigned open = 0;
    for (uint32_t i = 0; i < ATH_HANDLES_MAX; i++)
        open += task->handles[i].kind == ATH_HANDLE_IRQ && task->handles[i].first == source;
    if (open > 1 || sources[source].owner != task)
        return;
    uint64_t state = ath_arch_irq_save();
    source_mask((unsigned)source, true);
    sources[source].owner = NULL;
    sources[source].pending = 0;
    ath_arch_irq_restore(state);
}

/* athanor.irq_open(line) */
int32_t ath_abi_irq_open(void *vmctx, uint32_t line)
{
    struct ath_task *task = ath_caller(vmctx);
    if (line >= ATH_IRQ_LEGACY_LINES)
        return ath_refuse(ATH_E_RANGE);
    struct ath_image_resource r;
    if (!ath_resource_find(task, ATH_RESOURCE_IRQ, line, line, &r))
        return ath_refuse_ungranted(task, ATH_E_DENIED, "irq_open", "add \"irq:%u\" to its grants",
                                    line);
    return ath_irq_handle(task, line, 0);
}

/* athanor.irq_wait(handle): how many times the source fired since the last wait (at least 1) */
int32_t ath_abi_irq_wait(void *vmctx, uint32_t handle)
{
    struct ath_task *task = ath_caller(vmctx);
    struct ath_handle *h;
    int32_t error = ath_handle_get(task, (int32_t)handle, ATH_HANDLE_IRQ, &h);
    if (error)
        return error;
    struct irq_source *s = &sources[h->first];
    uint64_t state = ath_arch_irq_save();
    while (!s->pending) {
        ath_irq_arm(h);
        task->wait_irqs = 1ull << h->first;
        ath_sched_block(0);
        task->wait_irqs = 0;
    }
    int32_t fired = (int32_t)s->pending;
    s->pending = 0;
    ath_arch_irq_restore(state);
    return fired;
}

/* ---- MMIO windows --------------------------------------------------------------------------- */
/* The window's pages, uncached, identity, a chunk at a time: each page once mapped stays so
 * (the next open of a window finds it), so a module stopped in the middle leaves nothing half
 * done. 0, or ATH_E_NOMEM. */
int32_t ath_device_map_window(uint64_t base, uint64_t size)
{
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
    return 0;
}

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
    if (ath_device_map_window(base, size))
        return ATH_E_NOMEM;
    return ath_handle_new(task, ATH_HANDLE_MMIO, 0, base, base + size - 1);
}

/* A window of a PCI function's BAR (pci_bar_open) is checked against what the kernel keeps
 * in it (the MSI-X table, a virtio device's queue addresses: pci.c) before any access. */
static int32_t mmio_of(void *vmctx, uint32_t handle, uint32_t offset, uint32_t width,
                       bool write, uint64_t value, struct ath_handle **hout, volatile void **out)
{
    struct ath_handle *h;
    int32_t error = ath_handle_get(ath_caller(vmctx), (int32_t)handle, ATH_HANDLE_MMIO, &h);
    if (error)
        return error;
    if (width != 1 && width != 2 && width != 4)
        return ATH_E_INVALID;
    if (offset % width || (uint64_t)offset + width - 1 > h->last - h->first)
        return ath_refuse(ATH_E_RANGE);
    if (h->device && (error = ath_pci_bar_access(h, offset, width, write, value)) != 0)
        return ath_refuse(error);
    *hout = h;
    *out = (volatile void *)(uintptr_t)(h->first + offset);
    return 0;
}

/* A window where nothing decodes the address (a grant over a hole in the machine's map): an
 * AArch64 bus answers with a synchronous external abort, which must end the driver's call, not
 * the kernel. The access runs with interrupts off and a recovery point that the fault hook
 * (ath_device_fault) resumes at: on one CPU with interrupts off, a fault meanwhile is the
 * access's. */
static struct ath_jmp_buf access_recovery;
static volatile bool accessing;

bool ath_device_fault(struct ath_trap_frame *frame)
{
    if (!accessing)
        return false;
    accessing = false;
    ath_trap_resume_longjmp(frame, &access_recovery, 1);
    return true;
}

static __attribute__((noinline)) uint32_t access(volatile void *at, uint32_t width, bool write,
                                                  uint64_t value)
{
    accessing = true;
    uint32_t result = 0;
    if (write && width == 1)
        *(volatile uint8_t *)at = (uint8_t)value;
    else if (write && width == 2)
        *(volatile uint16_t *)at = (uint16_t)value;
    else if (write)
        *(volatile uint32_t *)at = (uint32_t)value;
    else if (width == 1)
        result = *(volatile uint8_t *)at;
    else if (width == 2)
        result = *(volatile uint16_t *)at;
    else
        result = *(volatile uint32_t *)at;
    accessing = false;
    return result;
}

/* The value read (0 for a write), or ATH_E_BUS. */
static int64_t mmio_access(volatile void *at, uint32_t width, bool write, uint64_t value)
{
    uint64_t state = ath_arch_irq_save();
    if (ath_setjmp(&access_recovery)) {
        ath_arch_irq_restore(state);
        return ath_refuse(ATH_E_BUS);
    }
    int64_t result = access(at, width, write, value);
    ath_arch_irq_restore(state);
    return result;
}

/* athanor.mmio_read(handle, offset, width): the value, zero-extended */
int64_t ath_abi_mmio_read(void *vmctx, uint32_t handle, uint32_t offset, uint32_t width)
{
    struct ath_handle *h;
    volatile void *at;
    int32_t error = mmio_of(vmctx, handle, offset, width, false, 0, &h, &at);
    if (error)
        return error;
    return mmio_access(at, width, false, 0);
}

/* athanor.mmio_write(handle, offset, width, value) */
int32_t ath_abi_mmio_write(void *vmctx, uint32_t handle, uint32_t offset, uint32_t width,
                           uint64_t value)
{
    struct ath_handle *h;
    volatile void *at;
    int32_t error = mmio_of(vmctx, handle, offset, width, true, value, &h, &at);
    if (error)
        return error;
    if ((error = (int32_t)mmio_access(at, width, true, value)) != 0)
        return error;
    if (h->device)
        ath_pci_bar_written(h, offset, width, value);
    return 0;
}
