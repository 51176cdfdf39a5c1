/*
 * The transport-independent half of the virtio library: the status handshake, feature
 * negotiation and split virtqueues (virtio.h). Every device access goes through the
 * transport's table; the device never reads these rings (the kernel's copy is what it sees).
 */
#include "virtio.h"

#define ALIGN(x, a) (((x) + (a) - 1) & ~(size_t)((a) - 1))

static void barrier(void)
{
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* ---- The device ------------------------------------------------------------------------------ */
bool virtio_negotiate(struct virtio_device *d, uint64_t wanted)
{
    const struct virtio_transport *t = d->transport;
    t->set_status(d, 0);
    t->set_status(d, VIRTIO_STATUS_ACKNOWLEDGE);
    t->set_status(d, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    d->features = t->device_features(d) & (wanted | VIRTIO_F_VERSION_1);
    if (!(d->features & VIRTIO_F_VERSION_1)) {
        t->set_status(d, VIRTIO_STATUS_FAILED);
        return false;
    }
    t->set_driver_features(d, d->features);
    t->set_status(d, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    if (!(t->status(d) & VIRTIO_STATUS_FEATURES_OK)) {
        t->set_status(d, VIRTIO_STATUS_FAILED);
        return false;
    }
    return true;
}

void virtio_driver_ok(struct virtio_device *d)
{
    d->transport->set_status(d, d->transport->status(d) | VIRTIO_STATUS_DRIVER_OK);
}

uint32_t virtio_config_read(struct virtio_device *d, unsigned offset, unsigned width)
{
    return d->transport->config_read(d, offset, width);
}

/* ---- Split virtqueues -------------------------------------------------------------------------
 * Layout in `memory`: descriptors (16 bytes each) | available ring | used ring | cookies. */
static size_t avail_at(unsigned size) { return 16 * (size_t)size; }
static size_t used_at(unsigned size) { return ALIGN(avail_at(size) + 6 + 2 * (size_t)size, 4); }
static size_t cookies_at(unsigned size) { return ALIGN(used_at(size) + 6 + 8 * (size_t)size, 8); }

size_t virtq_memory(unsigned size)
{
    return ALIGN(cookies_at(size) + sizeof(void *) * (size_t)size, 16);
}

int32_t virtq_init(struct virtio_device *d, struct virtq *q, unsigned index, unsigned size,
                   void *memory)
{
    uint8_t *m = memory;
    if (size == 0 || (size & (size - 1)) || size > d->transport->queue_max(d, index))
        return ATH_E_INVALID;
    __builtin_memset(m, 0, virtq_memory(size));
    *q = (struct virtq){
        .device = d, .index = (uint16_t)index, .size = (uint16_t)size,
        .desc = (struct virtq_desc *)m, .avail = (struct virtq_avail *)(m + avail_at(size)),
        .used = (struct virtq_used *)(m + used_at(size)), .cookies = (void **)(m + cookies_at(size)),
        .free_head = 0, .free_count = (uint16_t)size,
    };
    for (unsigned i = 0; i < size; i++)
        q->desc[i].next = (uint16_t)(i + 1);
    q->layout.size = size;
    q->layout.desc = (uint32_t)(uintptr_t)q->desc;
    q->layout.avail = (uint32_t)(uintptr_t)q->avail;
    q->layout.used = (uint32_t)(uintptr_t)q->used;
    return d->transport->queue_setup(d, q);
}

bool virtq_add(struct virtq *q, const struct virtq_buffer *buffers, unsigned count, void *cookie)
{
    if (count == 0 || count > q->free_count)
        return false;
    uint16_t head = q->free_head, at = head, last = head;
    for (unsigned i = 0; i < count; i++) {
        struct virtq_desc *desc = &q->desc[at];
        desc->addr = (uint64_t)(uintptr_t)buffers[i].addr;
        desc->len = buffers[i].len;
        desc->flags = (uint16_t)((buffers[i].writable ? VIRTQ_DESC_F_WRITE : 0) |
                                 (i + 1 < count ? VIRTQ_DESC_F_NEXT : 0));
        last = at;
        at = desc->next;
    }
    q->free_head = q->desc[last].next;
    q->free_count = (uint16_t)(q->free_count - count);
    q->cookies[head] = cookie;
    q->avail->ring[q->avail->idx % q->size] = head;
    barrier();
    q->avail->idx++;
    return true;
}

int32_t virtq_sync(struct virtq *q)
{
    return q->device->transport->sync(q->device, q);
}

void *virtq_used(struct virtq *q, uint32_t *len)
{
    if (q->last_used == q->used->idx)
        return NULL;
    barrier();
    struct virtq_used_elem e = q->used->ring[q->last_used % q->size];
    q->last_used++;
    if (e.id >= q->size)
        return NULL;
    /* The chain goes back on the free list whole. */
    uint16_t at = (uint16_t)e.id, count = 1;
    while (q->desc[at].flags & VIRTQ_DESC_F_NEXT) {
        at = q->desc[at].next;
        count++;
    }
    q->desc[at].next = q->free_head;
    q->free_head = (uint16_t)e.id;
    q->free_count = (uint16_t)(q->free_count + count);
    *len = e.len;
    return q->cookies[e.id];
}

void virtq_interrupts(struct virtq *q, bool on)
{
    q->avail->flags = on ? 0 : VIRTQ_AVAIL_F_NO_INTERRUPT;
}
