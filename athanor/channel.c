/*
 * Channels: the manifest's [[channel]]s, each a bounded queue of messages from one module (its
 * `from`) to another (its `to`). A message is copied from the sender's linear memory into the
 * channel's ring, then into the receiver's: the two memories never meet. Send and receive
 * block (or, with ATH_NONBLOCK, return ATH_E_AGAIN) when the ring is full or empty; the
 * batched forms move up to ATH_BATCH_MAX messages with one kernel entry, checking the memory
 * range once for the whole batch and every length before anything moves.
 *
 * A channel belongs to the appliance, not to its ends: a message sent survives a restart of
 * either end. Who may open which end is the module's image record (its channel resources,
 * from the manifest's from/to); the handle carries the direction.
 *
 * Ring slot (slot_size bytes, 8-aligned):   u32 length | message bytes | padding
 */
#include "kernel.h"
#include "kernel_abi.h"

#define NONBLOCK 1u

struct channel {
    struct ath_image_channel record;
    uint8_t *ring;
    uint32_t slot_size;
    uint32_t head, count;              /* the oldest message's slot; messages held */
};

static struct channel channels[ATH_CHANNELS_MAX];
static uint32_t channel_count;

uint32_t ath_channel_count(void) { return channel_count; }
const char *ath_channel_name(uint32_t index) { return channels[index].record.name; }

static ATH_NORETURN void boot_error(const char *what, const char *name)
{
    ath_kprintf("[athanor] boot error: %s %s\n", what, name);
    ath_fail(ATH_FAIL_BOOT);
}

void ath_channels_init(const struct ath_image *image)
{
    if (image->channel_count > ATH_CHANNELS_MAX)
        boot_error("too many channels", "");
    channel_count = image->channel_count;
    for (uint32_t i = 0; i < channel_count; i++) {
        struct channel *c = &channels[i];
        ath_image_channel_at(image, i, &c->record);
        c->slot_size = (uint32_t)ATH_ALIGN_UP(4 + c->record.message_size, 8);
        c->ring = ath_alloc((size_t)c->slot_size * c->record.depth);
        if (!c->ring)
            boot_error("no memory for channel", c->record.name);
    }
    /* Every channel resource must name a channel, with directions that match its ends. */
    for (uint32_t t = 0; t < ath_task_count(); t++) {
        const struct ath_task *task = ath_task_at(t);
        for (uint32_t r = 0; r < task->record.resource_count; r++) {
            struct ath_image_resource res;
            ath_image_resource_at(image, task->record.resource_first + r, &res);
            if (res.kind != ATH_RESOURCE_CHANNEL)
                continue;
            const struct channel *c = res.first < channel_count ? &channels[res.first] : NULL;
            if (!c || res.last != res.first || !res.flags ||
                (res.flags & ~(ATH_CHANNEL_SEND | ATH_CHANNEL_RECEIVE)) ||
                ((res.flags & ATH_CHANNEL_SEND) && c->record.sender != t) ||
                ((res.flags & ATH_CHANNEL_RECEIVE) && c->record.receiver != t))
                boot_error("a channel grant that does not match its channel, in module",
                           task->record.name);
        }
    }
}

static uint8_t *slot(const struct channel *c, uint32_t nth)
{
    return c->ring + (size_t)((c->head + nth) % c->record.depth) * c->slot_size;
}

static uint32_t length_of(const uint8_t *s)
{
    uint32_t length;
    memcpy(&length, s, 4);
    return length;
}

static void push(struct channel *c, const uint8_t *bytes, uint32_t length)
{
    uint8_t *s = slot(c, c->count);
    memcpy(s, &length, 4);
    memcpy(s + 4, bytes, length);
    c->count++;
}

static void pop(struct channel *c)
{
    c->head = (c->head + 1) % c->record.depth;
    c->count--;
}

/* Wakes the other end if it waits on this channel (blocked in a send, receive or wait). */
static void wake(const struct channel *c, bool receiver)
{
    struct ath_task *t = ath_task_at(receiver ? c->record.receiver : c->record.sender);
    uint32_t index = (uint32_t)(c - channels);
    uint64_t bits = receiver ? t->wait_receive : t->wait_send;
    if (t->state == ATH_TASK_BLOCKED && (bits >> index & 1))
        ath_task_wake(t);
}

bool ath_channel_ready(const struct ath_handle *h)
{
    const struct channel *c = &channels[h->first];
    return ((h->flags & ATH_CHANNEL_RECEIVE) && c->count > 0) ||
           ((h->flags & ATH_CHANNEL_SEND) && c->count < c->record.depth);
}

/* Resolves a channel handle for a direction; 0 and *out, or an error. */
static int32_t channel_of(struct ath_task *task, uint32_t handle, uint32_t direction,
                          uint32_t flags, struct channel **out)
{
    if (flags & ~NONBLOCK)
        return ATH_E_INVALID;
    struct ath_handle *h;
    int32_t error = ath_handle_get(task, (int32_t)handle, ATH_HANDLE_CHANNEL, &h);
    if (error)
        return error;
    if (!(h->flags & direction))
        return ATH_E_TYPE;
    *out = &channels[h->first];
    return 0;
}

/* Blocks until the ring has room (sending) or a message (receiving); ATH_E_AGAIN instead when
 * the caller may not block. Only kernel code changes a channel and kernel code is never
 * preempted, so nothing can slip between the test and the block: interrupts stay on. */
static int32_t wait_for(struct ath_task *task, struct channel *c, bool sending, uint32_t flags)
{
    uint64_t bit = 1ull << (uint32_t)(c - channels);
    while (sending ? c->count == c->record.depth : c->count == 0) {
        if (flags & NONBLOCK)
            return ATH_E_AGAIN;
        if (sending)
            task->wait_send = bit;
        else
            task->wait_receive = bit;
        ath_sched_block(0);
        task->wait_send = task->wait_receive = 0;
    }
    return 0;
}

/* athanor.channel_open(name, len) */
int32_t ath_abi_channel_open(void *vmctx, uint32_t name, uint32_t len)
{
    struct ath_task *task = ath_caller(vmctx);
    if (len == 0 || len > ATH_IMAGE_NAME_MAX)
        return ATH_E_INVALID;
    const uint8_t *bytes = ath_user_memory(vmctx, name, len);
    if (!bytes)
        return ath_refuse(ATH_E_FAULT);
    char text[ATH_IMAGE_NAME_MAX];
    memcpy(text, bytes, len);               /* read once */
    for (uint32_t i = 0; i < channel_count; i++) {
        if (strlen(channels[i].record.name) != len || memcmp(channels[i].record.name, text, len))
            continue;
        struct ath_image_resource r;
        if (!ath_resource_find(task, ATH_RESOURCE_CHANNEL, i, i, &r))
            return ath_refuse_ungranted(task, ATH_E_DENIED, "channel_open", "make it the 'from' "
                                        "or 'to' module of [[channel]] \"%s\"",
                                        channels[i].record.name);
        return ath_handle_new(task, ATH_HANDLE_CHANNEL, (uint8_t)r.flags, i, i);
    }
    return ATH_E_NOENT;
}

/* athanor.channel_send(handle, ptr, len, flags) */
int32_t ath_abi_channel_send(void *vmctx, uint32_t handle, uint32_t ptr, uint32_t len,
                             uint32_t flags)
{
    struct ath_task *task = ath_caller(vmctx);
    struct channel *c;
    int32_t error = channel_of(task, handle, ATH_CHANNEL_SEND, flags, &c);
    if (error)
        return error;
    if (len > c->record.message_size)
        return ATH_E_TOOBIG;
    const uint8_t *bytes = ath_user_memory(vmctx, ptr, len);
    if (!bytes)
        return ath_refuse(ATH_E_FAULT);
    if ((error = wait_for(task, c, true, flags)))
        return error;
    push(c, bytes, len);
    ath_trace(ATH_TRACE_SEND, task->index, (uint64_t)(c - channels), 1);
    wake(c, true);
    return 0;
}

/* athanor.channel_recv(handle, out, capacity, flags): the message's length */
int32_t ath_abi_channel_recv(void *vmctx, uint32_t handle, uint32_t out, uint32_t capacity,
                             uint32_t flags)
{
    struct ath_task *task = ath_caller(vmctx);
    struct channel *c;
    int32_t error = channel_of(task, handle, ATH_CHANNEL_RECEIVE, flags, &c);
    if (error)
        return error;
    uint8_t *buffer = ath_user_memory(vmctx, out, capacity);
    if (!buffer)
        return ath_refuse(ATH_E_FAULT);
    if ((error = wait_for(task, c, false, flags)))
        return error;
    const uint8_t *s = slot(c, 0);
    uint32_t length = length_of(s);
    if (length > capacity)
        return ATH_E_SMALL;
    memcpy(buffer, s + 4, length);
    pop(c);
    ath_trace(ATH_TRACE_RECEIVE, task->index, (uint64_t)(c - channels), 1);
    wake(c, false);
    return (int32_t)length;
}

/* The batch buffer: count slots of slot_size bytes, each  u32 length | bytes. */
static int32_t batch_buffer(void *vmctx, uint32_t ptr, uint32_t count, uint32_t slot_size,
                            uint8_t **out)
{
    if (count > ATH_BATCH_MAX || slot_size < 4)
        return ATH_E_INVALID;
    *out = ath_user_memory(vmctx, ptr, (uint64_t)count * slot_size);
    return *out ? 0 : ath_refuse(ATH_E_FAULT);
}

/* athanor.channel_send_batch(handle, ptr, count, slot_size, flags): how many were sent (at
 * least one unless count is 0; as many as the ring has room for). */
int32_t ath_abi_channel_send_batch(void *vmctx, uint32_t handle, uint32_t ptr, uint32_t count,
                                   uint32_t slot_size, uint32_t flags)
{
    struct ath_task *task = ath_caller(vmctx);
    struct channel *c;
    uint8_t *buffer;
    int32_t error = channel_of(task, handle, ATH_CHANNEL_SEND, flags, &c);
    if (error || (error = batch_buffer(vmctx, ptr, count, slot_size, &buffer)))
        return error;
    uint32_t lengths[ATH_BATCH_MAX];
    for (uint32_t i = 0; i < count; i++) {
        lengths[i] = length_of(buffer + (size_t)i * slot_size);
        if (lengths[i] > slot_size - 4 || lengths[i] > c->record.message_size)
            return ATH_E_TOOBIG;
    }
    if (count == 0)
        return 0;
    if ((error = wait_for(task, c, true, flags)))
        return error;
    /* Room only grows while this runs (this module is the channel's one sender), so n
     * messages fit even across the preemption points. */
    uint32_t n = ATH_MIN(count, c->record.depth - c->count);
    uint64_t moved = 0;
    for (uint32_t i = 0; i < n; i++) {
        push(c, buffer + (size_t)i * slot_size + 4, lengths[i]);
        moved += lengths[i];
        if (moved >= ALK_WASI_CHUNK && i + 1 < n) {
            moved = 0;
            wake(c, true);
            ath_sched_preempt_point();
        }
    }
    ath_trace(ATH_TRACE_SEND, task->index, (uint64_t)(c - channels), n);
    wake(c, true);
    return (int32_t)n;
}

/* athanor.channel_recv_batch(handle, out, count, slot_size, flags): how many were received
 * (at least one unless count is 0; it stops before a message longer than slot_size - 4). */
int32_t ath_abi_channel_recv_batch(void *vmctx, uint32_t handle, uint32_t out, uint32_t count,
                                   uint32_t slot_size, uint32_t flags)
{
    struct ath_task *task = ath_caller(vmctx);
    struct channel *c;
    uint8_t *buffer;
    int32_t error = channel_of(task, handle, ATH_CHANNEL_RECEIVE, flags, &c);
    if (error || (error = batch_buffer(vmctx, out, count, slot_size, &buffer)))
        return error;
    if (count == 0)
        return 0;
    if ((error = wait_for(task, c, false, flags)))
        return error;
    uint32_t n = 0;
    while (n < count && n < c->count && length_of(slot(c, n)) <= slot_size - 4)
        n++;
    if (n == 0)
        return ATH_E_SMALL;
    /* Messages only come in while this runs (this module is the one receiver): the n
     * found stay, across the preemption points too. */
    uint64_t moved = 0;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *s = slot(c, 0);
        memcpy(buffer + (size_t)i * slot_size, s, 4 + length_of(s));
        moved += length_of(s);
        pop(c);
        if (moved >= ALK_WASI_CHUNK && i + 1 < n) {
            moved = 0;
            wake(c, false);
            ath_sched_preempt_point();
        }
    }
    ath_trace(ATH_TRACE_RECEIVE, task->index, (uint64_t)(c - channels), n);
    wake(c, false);
    return (int32_t)n;
}
