/*
 * Capabilities at run time: each module's table of handles (kernel.h draws a handle's bits),
 * the grants its image record gives (resources), closing a handle, and waiting on several.
 *
 * A module names a kernel object only by a handle that the kernel issued to it: an index into
 * its own table plus a generation. Every kernel function resolves the handle here before it
 * changes anything; a forged, stale or out-of-range handle, or one of another kind, comes back
 * as an error and nothing happens.
 */
#include "kernel.h"
#include "kernel_abi.h"

#define SLOT_BITS 8
#define GENERATION_LIMIT (1u << 23)          /* generations 1 .. 2^23 - 1: handles stay > 0 */

static uint32_t next_generation(uint32_t generation)
{
    return generation + 1 < GENERATION_LIMIT ? generation + 1 : 1;
}

int32_t ath_refuse_ungranted(struct ath_task *task, int32_t error, const char *call,
                             const char *fix, ...)
{
    static uint64_t told;                    /* bit per module index: its first refusal said */
    _Static_assert(ATH_TASKS_MAX <= 64, "one bit per module");
    if (!(told >> task->index & 1)) {
        told |= 1ull << task->index;
        char how[128];
        va_list ap;
        va_start(ap, fix);
        ath_vsnprintf(how, sizeof how, fix, ap);
        va_end(ap);
        ath_kprintf("[athanor] module %s: %s refused: no grant covers it; %s\n",
                    task->record.name, call, how);
    }
    return ath_refuse(error);
}

int32_t ath_handle_new(struct ath_task *task, uint8_t kind, uint8_t flags, uint64_t first,
                       uint64_t last)
{
    for (uint32_t slot = 0; slot < ATH_HANDLES_MAX; slot++) {
        struct ath_handle *h = &task->handles[slot];
        if (h->kind != ATH_HANDLE_FREE)
            continue;
        if (h->generation == 0)
            h->generation = 1;
        h->kind = kind;
        h->flags = flags;
        h->device = 0;
        h->first = first;
        h->last = last;
        return (int32_t)(h->generation << SLOT_BITS | slot);
    }
    return ATH_E_FULL;
}

int32_t ath_handle_get(struct ath_task *task, int32_t handle, uint8_t kind, struct ath_handle **out)
{
    if (handle <= 0)
        return ath_refuse(ATH_E_BADHANDLE);
    uint32_t slot = (uint32_t)handle & ((1u << SLOT_BITS) - 1);
    uint32_t generation = (uint32_t)handle >> SLOT_BITS;
    if (slot >= ATH_HANDLES_MAX || generation == 0)
        return ath_refuse(ATH_E_BADHANDLE);
    struct ath_handle *h = &task->handles[slot];
    uint32_t current = h->generation ? h->generation : 1;
    if (generation != current || h->kind == ATH_HANDLE_FREE)
        /* an older generation of this slot was issued once; a newer one never was */
        return ath_refuse(generation < current ? ATH_E_STALE : ATH_E_BADHANDLE);
    if (h->kind != kind)
        return ath_refuse(ATH_E_TYPE);
    *out = h;
    return 0;
}

void ath_handle_release(struct ath_task *task, struct ath_handle *h)
{
    if (h->kind == ATH_HANDLE_IRQ)
        ath_irq_release(task, h->first);
    else if (h->kind == ATH_HANDLE_PCI)
        ath_pci_release(task, h);      /* and the handles opened through it */
    h->kind = ATH_HANDLE_FREE;
    h->device = 0;
    h->generation = next_generation(h->generation ? h->generation : 1);
}

void ath_handles_reset(struct ath_task *task)
{
    for (uint32_t slot = 0; slot < ATH_HANDLES_MAX; slot++)
        if (task->handles[slot].kind != ATH_HANDLE_FREE)
            ath_handle_release(task, &task->handles[slot]);
    ath_sockets_task_reset(task);           /* its sockets, as its descriptors, go too */
}

bool ath_resource_find(const struct ath_task *task, uint32_t kind, uint64_t first, uint64_t last,
                       struct ath_image_resource *out)
{
    for (uint32_t i = 0; i < task->record.resource_count; i++) {
        struct ath_image_resource r;
        ath_image_resource_at(task->image, task->record.resource_first + i, &r);
        if (r.kind == kind && r.first <= first && last <= r.last) {
            *out = r;
            return true;
        }
    }
    return false;
}

/* athanor.handle_close(handle) */
int32_t ath_abi_handle_close(void *vmctx, uint32_t handle)
{
    struct ath_task *task = ath_caller(vmctx);
    if ((int32_t)handle <= 0)
        return ath_refuse(ATH_E_BADHANDLE);
    struct ath_handle *h = NULL;
    uint32_t slot = handle & ((1u << SLOT_BITS) - 1);
    int32_t error = ath_handle_get(task, (int32_t)handle,
                                   slot < ATH_HANDLES_MAX ? task->handles[slot].kind : 0, &h);
    if (error)
        return error;
    ath_handle_release(task, h);
    return 0;
}

/* Whether the object behind a resolved handle is ready: a channel end that can receive or send
 * without blocking, an IRQ line that fired. */
static bool ready(const struct ath_handle *h)
{
    return h->kind == ATH_HANDLE_IRQ ? ath_irq_ready(h) :
           h->kind == ATH_HANDLE_NET ? ath_net_ready(h) : ath_channel_ready(h);
}

/* athanor.wait(handles, count, timeout_ns): blocks until one of the handles is ready and
 * returns its index (the first ready one), or ATH_E_TIMEOUT once timeout_ns has passed
 * (negative: no timeout; 0: just look). Every handle must be a channel end, an IRQ line or the
 * stack's socket handle (athanor.net_open). */
int32_t ath_abi_wait(void *vmctx, uint32_t handles, uint32_t count, uint64_t timeout_ns)
{
    struct ath_task *task = ath_caller(vmctx);
    if (count == 0 || count > ATH_WAIT_HANDLES_MAX)
        return ATH_E_INVALID;
    const uint8_t *words = ath_user_memory(vmctx, handles, 4ull * count);
    if (!words)
        return ath_refuse(ATH_E_FAULT);
    struct ath_handle *resolved[ATH_WAIT_HANDLES_MAX];
    uint64_t wait_send = 0, wait_receive = 0, wait_irqs = 0;
    bool wait_net = false;
    for (uint32_t i = 0; i < count; i++) {
        int32_t handle;
        memcpy(&handle, words + 4 * i, 4);
        uint32_t slot = (uint32_t)handle & ((1u << SLOT_BITS) - 1);
        uint8_t held = handle > 0 && slot < ATH_HANDLES_MAX ? task->handles[slot].kind : 0;
        uint8_t kind = held == ATH_HANDLE_IRQ || held == ATH_HANDLE_NET ? held
                                                                        : ATH_HANDLE_CHANNEL;
        int32_t error = ath_handle_get(task, handle, kind, &resolved[i]);
        if (error)
            return error;
        const struct ath_handle *h = resolved[i];
        if (h->kind == ATH_HANDLE_IRQ)
            wait_irqs |= 1ull << h->first;
        else if (h->kind == ATH_HANDLE_NET)
            wait_net = true;
        else if (h->flags & ATH_CHANNEL_RECEIVE)
            wait_receive |= 1ull << h->first;
        else
            wait_send |= 1ull << h->first;
    }
    /* All checked: now wait. */
    uint64_t deadline = (int64_t)timeout_ns > 0 ? ath_clock_ns() + timeout_ns : 0;
    uint64_t state = ath_arch_irq_save();
    int32_t result = ATH_E_TIMEOUT;
    for (;;) {
        for (uint32_t i = 0; i < count && result < 0; i++)
            if (ready(resolved[i]))
                result = (int32_t)i;
        if (result >= 0 || timeout_ns == 0 || (deadline && ath_clock_ns() >= deadline))
            break;
        for (uint32_t i = 0; i < count; i++)
            if (resolved[i]->kind == ATH_HANDLE_IRQ)
                ath_irq_arm(resolved[i]);
        task->wait_send = wait_send;
        task->wait_receive = wait_receive;
        task->wait_irqs = wait_irqs;
        task->wait_net = wait_net;
        ath_sched_block(deadline);
    }
    task->wait_send = task->wait_receive = 0;
    task->wait_irqs = 0;
    task->wait_net = false;
    ath_arch_irq_restore(state);
    return result;
}
