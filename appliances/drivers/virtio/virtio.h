/*
 * A virtio library for drivers written in C and compiled to Wasm with them (virtio 1.x: the
 * device status handshake, feature negotiation, split virtqueues, notification and interrupts).
 *
 *   struct virtio_device dev;
 *   virtio_open(&dev, 0);                      // the module's first pci grant's device
 *   virtio_negotiate(&dev, WANTED_FEATURES);   // reset, ACKNOWLEDGE, DRIVER, FEATURES_OK
 *   virtq_init(&dev, &rx, 0, 128, ring_memory);
 *   virtio_driver_ok(&dev);
 *   virtq_add(&rx, buffers, 2, cookie);        // a chain: device-readable, then -writable
 *   virtq_sync(&rx);                           // the kernel checks and publishes, notifies
 *   while ((cookie = virtq_used(&rx, &len)))   // what the device is done with
 *
 * Buffers must lie in the module's DMA region (athanor.dma_map): the kernel refuses a chain
 * that names anything else, and the device only ever sees the kernel's copy of each queue
 * (docs/runtime.md, "DMA without an IOMMU"). The rings themselves live anywhere in the
 * module's memory. The transport is a table of functions (struct virtio_transport): PCI's is
 * virtio_pci.c, virtio-mmio's virtio_mmio.c (machines without PCI: microvm, Firecracker); a pci
 * grant names a device of its type on either, so one driver and manifest serve both.
 */
#ifndef VIRTIO_H
#define VIRTIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../include/athanor.h"

/* Device status (virtio 1.x, 2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE 0x01
#define VIRTIO_STATUS_DRIVER      0x02
#define VIRTIO_STATUS_DRIVER_OK   0x04
#define VIRTIO_STATUS_FEATURES_OK 0x08
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED      0x80

#define VIRTIO_F_VERSION_1 (1ull << 32)

/* The interrupt causes in the ISR status (INTx): a queue was used, the configuration changed. */
#define VIRTIO_ISR_QUEUE  0x01
#define VIRTIO_ISR_CONFIG 0x02

#define VIRTIO_NO_VECTOR 0xffff

struct virtio_device;
struct virtq;

/* What a transport provides. */
struct virtio_transport {
    uint8_t (*status)(struct virtio_device *d);
    void (*set_status)(struct virtio_device *d, uint8_t status);
    uint64_t (*device_features)(struct virtio_device *d);
    void (*set_driver_features)(struct virtio_device *d, uint64_t features);
    uint32_t (*config_read)(struct virtio_device *d, unsigned offset, unsigned width);
    uint16_t (*queue_max)(struct virtio_device *d, unsigned queue);
    /* Gives the queue to the device (the kernel places the device's copy). 0 or an ATH_E_. */
    int32_t (*queue_setup)(struct virtio_device *d, struct virtq *q);
    /* Which interrupt a queue (or, for queue -1, the configuration) raises. */
    void (*set_vector)(struct virtio_device *d, int queue, uint16_t vector);
    /* Publishes the queue's new chains, notifies, takes back used ones: the number of them. */
    int32_t (*sync)(struct virtio_device *d, struct virtq *q);
    /* Reads (and so clears) the ISR status: INTx only. */
    uint8_t (*isr)(struct virtio_device *d);
    /* An interrupt handle: vector 0.. with MSI-X, or -1 for the INTx line. */
    int32_t (*irq_open)(struct virtio_device *d, int vector);
};

struct virtio_device {
    const struct virtio_transport *transport;
    uint64_t features;                 /* negotiated */
    bool msix;                         /* one interrupt per queue; else one INTx for all */
    uint16_t vectors;                  /* MSI-X vectors the kernel programmed */
    /* the PCI transport's */
    int32_t pci;
    int32_t bars[6];
    struct { int8_t bar; uint32_t offset, length; } common, notify, isr, device;
};

/* ---- Split virtqueues (virtio 1.x, 2.7) -------------------------------------------------------- */
struct virtq_desc {
    uint64_t addr;                     /* a linear-memory address inside the DMA region */
    uint32_t len;
    uint16_t flags, next;
};
#define VIRTQ_DESC_F_NEXT  1
#define VIRTQ_DESC_F_WRITE 2

struct virtq_avail {
    uint16_t flags, idx;
    uint16_t ring[];
};
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1

struct virtq_used_elem {
    uint32_t id, len;
};
struct virtq_used {
    uint16_t flags, idx;
    struct virtq_used_elem ring[];
};

struct virtq {
    struct virtio_device *device;
    uint16_t index, size;
    struct virtq_desc *desc;
    struct virtq_avail *avail;
    struct virtq_used *used;
    uint16_t free_head, free_count, last_used;
    void **cookies;                    /* per chain head */
    /* what athanor.virtq_setup reads: the layout, as u32s */
    struct { uint32_t size, desc, avail, used; } layout;
};

/* Bytes of memory a queue of `size` entries needs (rings and cookies), 16-byte aligned. */
size_t virtq_memory(unsigned size);

/* A buffer of a chain. */
struct virtq_buffer {
    void *addr;
    uint32_t len;
    bool writable;                     /* the device writes it (after every readable one) */
};

/* Sets up queue `index` with `size` entries (a power of two, at most the device's) in
 * `memory` (virtq_memory(size) bytes, 16-byte aligned). 0, or an ATH_E_ error. */
int32_t virtq_init(struct virtio_device *d, struct virtq *q, unsigned index, unsigned size,
                   void *memory);
/* Adds a chain of `count` buffers, `cookie` returned with it when used; false when the queue
 * has not that many free descriptors. Seen by the device at the next virtq_sync. */
bool virtq_add(struct virtq *q, const struct virtq_buffer *buffers, unsigned count, void *cookie);
/* The kernel checks and publishes the new chains and notifies the device, and copies back what
 * it used: the number of chains returned, or an ATH_E_ error. */
int32_t virtq_sync(struct virtq *q);
/* The next chain the device is done with (its cookie; *len: bytes it wrote), or NULL. */
void *virtq_used(struct virtq *q, uint32_t *len);
/* Free descriptors. */
static inline unsigned virtq_free(const struct virtq *q) { return q->free_count; }
/* Asks the device not to interrupt for this queue (a hint), or to again. */
void virtq_interrupts(struct virtq *q, bool on);

/* ---- The device ---------------------------------------------------------------------------------- */
/* Reset, ACKNOWLEDGE, DRIVER, the features both want (VERSION_1 always), FEATURES_OK: true if
 * the device accepted them (d->features); false (status FAILED) if not. */
bool virtio_negotiate(struct virtio_device *d, uint64_t wanted);
void virtio_driver_ok(struct virtio_device *d);
static inline bool virtio_has(const struct virtio_device *d, uint64_t feature)
{
    return (d->features & feature) != 0;
}
uint32_t virtio_config_read(struct virtio_device *d, unsigned offset, unsigned width);

/* ---- Opening a device (virtio_pci.c, virtio_mmio.c) ------------------------------------------------ */
/* Opens the module's grant-th pci grant (athanor.pci_open: the kernel resets the device) and
 * sets up its transport: PCI's when the function has virtio's capabilities, else virtio-mmio's.
 * 0, or an ATH_E_ error (ATH_E_NODEV: an optional one absent). */
int32_t virtio_open(struct virtio_device *d, int grant);
/* virtio_open's second half for a virtio-mmio device (d->pci open). */
int32_t virtio_mmio_attach(struct virtio_device *d);

#endif
