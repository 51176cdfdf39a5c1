/*
 * DMA regions: the only memory a module's devices may read and write (docs/runtime.md, "DMA
 * without an IOMMU"). A module granted dma:SIZE gets SIZE bytes of physically contiguous RAM at
 * boot, for its task's whole life. athanor.dma_map puts the region into the module's linear
 * memory, over pages of its own that the module chooses (a page-aligned buffer): the module
 * reads and writes what its device moves in place, and the device is told only physical
 * addresses inside the region, each one computed here from an address the kernel checked
 * (virtio.c). The memory's own frames under the region are kept aside, and given back, zeroed,
 * before the module's next instance and when it ends; by then its devices have been reset
 * (pci.c), so nothing the device still held can reach a reused page.
 */
#include "kernel.h"
#include "kernel_abi.h"

#define ZERO_CHUNK (64u << 10)          /* bytes zeroed between preemption points */
#define SWAP_CHUNK 256u                 /* pages swapped between preemption points */

static ATH_NORETURN void refuse(const char *module, const char *what, uint64_t size)
{
    ath_kprintf("[athanor] boot error: module %s: %s (dma:%luK)\n", module, what,
                (unsigned long)(size >> 10));
    ath_fail(ATH_FAIL_BOOT);
}

void ath_dma_init(const struct ath_image *image)
{
    for (uint32_t t = 0; t < ath_task_count(); t++) {
        struct ath_task *task = ath_task_at(t);
        for (uint32_t i = 0; i < task->record.resource_count; i++) {
            struct ath_image_resource r;
            ath_image_resource_at(image, task->record.resource_first + i, &r);
            if (r.kind != ATH_RESOURCE_DMA)
                continue;
            const char *name = task->record.name;
            if (task->dma.size)
                refuse(name, "two DMA regions", r.first);
            if (r.first == 0 || r.first != r.last || r.first % ATH_PAGE_SIZE ||
                r.first > ATH_DMA_REGION_MAX || r.first > task->record.max_memory)
                refuse(name, "a DMA region of a size the kernel cannot give", r.first);
            size_t pages = (size_t)(r.first / ATH_PAGE_SIZE);
            task->dma.phys = ath_page_alloc_contiguous(pages);
            task->dma.saved = ath_alloc(pages * sizeof *task->dma.saved);
            if (!task->dma.phys || !task->dma.saved)
                refuse(name, "no room for its DMA region (physically contiguous)", r.first);
            memset((void *)(uintptr_t)task->dma.phys, 0, (size_t)r.first);
            task->dma.size = r.first;
        }
    }
}

bool ath_dma_device_address(const struct ath_task *task, uint64_t addr, uint64_t length,
                            uint64_t *phys)
{
    const struct ath_task_dma *d = &task->dma;
    if (!d->ready || addr < d->at || length > d->length || addr - d->at > d->length - length)
        return false;
    *phys = d->phys + (addr - d->at);
    return true;
}

/* athanor.dma_map(ptr, len): the region's first len bytes, zeroed, at [ptr, ptr + len) */
int32_t ath_abi_dma_map(void *vmctx, uint32_t ptr, uint32_t len)
{
    struct ath_task *task = ath_caller(vmctx);
    struct ath_task_dma *d = &task->dma;
    if (!d->size)
        return ath_refuse_ungranted(task, ATH_E_DENIED, "dma_map", "add \"dma:%uK\" to its grants",
                                    (len + 1023) >> 10);
    if (len == 0 || ptr % ATH_PAGE_SIZE || len % ATH_PAGE_SIZE)
        return ATH_E_INVALID;
    if (len > d->size)
        return ath_refuse(ATH_E_RANGE);
    if (d->mapped || d->ready)
        return ATH_E_BUSY;
    uint8_t *at = ath_user_memory(vmctx, ptr, len);
    if (!at)
        return ath_refuse(ATH_E_FAULT);

    /* Zeroed first, while no one sees it: what a device wrote for the module's last instance
     * is not the new one's. */
    for (uint64_t done = 0; done < len; done += ZERO_CHUNK) {
        memset((void *)(uintptr_t)(d->phys + done), 0, (size_t)ATH_MIN(ZERO_CHUNK, len - done));
        ath_sched_preempt_point();
    }
    /* Page by page, `mapped` always true: a restart that stops the task in between gives back
     * exactly what was swapped (ath_dma_unmap). */
    d->at = ptr;
    d->length = len;
    for (uint64_t i = 0; i < len / ATH_PAGE_SIZE; i++) {
        int err = ath_vm_swap_page((uintptr_t)at + i * ATH_PAGE_SIZE, d->phys + i * ATH_PAGE_SIZE,
                                   false, &d->saved[i]);
        if (err)   /* linear memory is always 4 KiB pages of its own: wasm.c */
            ath_panic("module %s: DMA region over memory that is not its own (%s)",
                      task->record.name, ath_error_name(err));
        d->mapped += ATH_PAGE_SIZE;
        if (i % SWAP_CHUNK == SWAP_CHUNK - 1)
            ath_sched_preempt_point();
    }
    d->ready = true;
    return 0;
}

void ath_dma_unmap(struct ath_task *task)
{
    struct ath_task_dma *d = &task->dma;
    d->ready = false;
    uint64_t swapped = 0;
    while (d->mapped) {
        uint64_t i = d->mapped / ATH_PAGE_SIZE - 1;
        uint64_t frame = d->saved[i], dma_page;
        memset((void *)(uintptr_t)frame, 0, ATH_PAGE_SIZE);
        uintptr_t va = task->memory.base + d->at + i * ATH_PAGE_SIZE;
        if (ath_vm_swap_page(va, frame, true, &dma_page) || dma_page != d->phys + i * ATH_PAGE_SIZE)
            ath_panic("module %s: its DMA region is not where it was mapped", task->record.name);
        d->mapped -= ATH_PAGE_SIZE;
        if (++swapped % SWAP_CHUNK == 0)
            ath_sched_preempt_point();
    }
    d->length = 0;
}
