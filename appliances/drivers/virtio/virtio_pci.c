/*
 * The virtio PCI transport (virtio 1.x, 4.1: the modern interface) over the kernel's PCI
 * handles: the structures are found through the vendor capabilities in configuration space
 * (read through athanor.pci_config_read) and reached through BAR handles (athanor.pci_bar_open,
 * offsets from the BAR's start). The queue addresses, sizes and enables are the kernel's to
 * write (athanor.virtq_setup); so is the notification (athanor.virtq_sync writes it after it
 * has checked what the device will read).
 */
#include "virtio.h"

#define PCI_STATUS 0x06
#define PCI_STATUS_CAPS 0x10
#define PCI_CAPABILITIES 0x34
#define PCI_CAP_VENDOR 0x09
#define PCI_CAP_MSIX 0x11
#define PCI_MSIX_ENABLE 0x8000

#define CAP_COMMON 1
#define CAP_NOTIFY 2
#define CAP_ISR 3
#define CAP_DEVICE 4

/* Common configuration (virtio 1.x, 4.1.4.3). */
#define DEVICE_FEATURE_SELECT 0x00
#define DEVICE_FEATURE 0x04
#define DRIVER_FEATURE_SELECT 0x08
#define DRIVER_FEATURE 0x0c
#define MSIX_CONFIG 0x10
#define DEVICE_STATUS 0x14
#define QUEUE_SELECT 0x16
#define QUEUE_SIZE 0x18
#define QUEUE_MSIX_VECTOR 0x1a

static uint32_t config(struct virtio_device *d, unsigned offset, unsigned width)
{
    return (uint32_t)ath_pci_config_read(d->pci, (int32_t)offset, (int32_t)width);
}

static uint32_t common_read(struct virtio_device *d, unsigned offset, unsigned width)
{
    return (uint32_t)ath_mmio_read(d->bars[d->common.bar], (int32_t)(d->common.offset + offset),
                                   (int32_t)width);
}

static void common_write(struct virtio_device *d, unsigned offset, unsigned width, uint32_t value)
{
    ath_mmio_write(d->bars[d->common.bar], (int32_t)(d->common.offset + offset), (int32_t)width,
                   value);
}

static uint8_t status(struct virtio_device *d)
{
    return (uint8_t)common_read(d, DEVICE_STATUS, 1);
}

static void set_status(struct virtio_device *d, uint8_t value)
{
    common_write(d, DEVICE_STATUS, 1, value);
}

static uint64_t device_features(struct virtio_device *d)
{
    common_write(d, DEVICE_FEATURE_SELECT, 4, 0);
    uint64_t features = common_read(d, DEVICE_FEATURE, 4);
    common_write(d, DEVICE_FEATURE_SELECT, 4, 1);
    return features | (uint64_t)common_read(d, DEVICE_FEATURE, 4) << 32;
}

static void set_driver_features(struct virtio_device *d, uint64_t features)
{
    common_write(d, DRIVER_FEATURE_SELECT, 4, 0);
    common_write(d, DRIVER_FEATURE, 4, (uint32_t)features);
    common_write(d, DRIVER_FEATURE_SELECT, 4, 1);
    common_write(d, DRIVER_FEATURE, 4, (uint32_t)(features >> 32));
}

static uint32_t config_read(struct virtio_device *d, unsigned offset, unsigned width)
{
    if (d->device.bar < 0 || offset + width > d->device.length)
        return 0;
    return (uint32_t)ath_mmio_read(d->bars[d->device.bar], (int32_t)(d->device.offset + offset),
                                   (int32_t)width);
}

static uint16_t queue_max(struct virtio_device *d, unsigned queue)
{
    common_write(d, QUEUE_SELECT, 2, queue);
    return (uint16_t)common_read(d, QUEUE_SIZE, 2);
}

static int32_t queue_setup(struct virtio_device *d, struct virtq *q)
{
    return ath_virtq_setup(d->pci, q->index, &q->layout);
}

static void set_vector(struct virtio_device *d, int queue, uint16_t vector)
{
    if (queue < 0) {
        common_write(d, MSIX_CONFIG, 2, vector);
        return;
    }
    common_write(d, QUEUE_SELECT, 2, (uint32_t)queue);
    common_write(d, QUEUE_MSIX_VECTOR, 2, vector);
}

static int32_t sync(struct virtio_device *d, struct virtq *q)
{
    return ath_virtq_sync(d->pci, q->index);
}

static uint8_t isr(struct virtio_device *d)
{
    return (uint8_t)ath_mmio_read(d->bars[d->isr.bar], (int32_t)d->isr.offset, 1);
}

static int32_t irq_open(struct virtio_device *d, int vector)
{
    return ath_pci_irq_open(d->pci, vector);
}

static const struct virtio_transport pci_transport = {
    .status = status, .set_status = set_status, .device_features = device_features,
    .set_driver_features = set_driver_features, .config_read = config_read,
    .queue_max = queue_max, .queue_setup = queue_setup, .set_vector = set_vector,
    .sync = sync, .isr = isr, .irq_open = irq_open,
};

int32_t virtio_open(struct virtio_device *d, int grant)
{
    *d = (struct virtio_device){ .common.bar = -1, .notify.bar = -1, .isr.bar = -1,
                                 .device.bar = -1 };
    d->pci = ath_pci_open(grant);
    if (d->pci < 0)
        return d->pci;
    if (!(config(d, PCI_STATUS, 2) & PCI_STATUS_CAPS))
        return virtio_mmio_attach(d);   /* no capabilities: a virtio-mmio device */
    unsigned at = config(d, PCI_CAPABILITIES, 1) & 0xfc;
    for (unsigned hops = 0; at >= 0x40 && hops < 48; hops++) {
        unsigned id = config(d, at, 1);
        if (id == PCI_CAP_VENDOR) {
            unsigned type = config(d, at + 3, 1);
            __typeof__(d->common) *r = type == CAP_COMMON ? &d->common :
                                       type == CAP_NOTIFY ? &d->notify :
                                       type == CAP_ISR ? &d->isr :
                                       type == CAP_DEVICE ? &d->device : NULL;
            if (r && r->bar < 0) {
                r->bar = (int8_t)config(d, at + 4, 1);
                r->offset = config(d, at + 8, 4);
                r->length = config(d, at + 12, 4);
            }
        } else if (id == PCI_CAP_MSIX) {
            d->msix = (config(d, at + 2, 2) & PCI_MSIX_ENABLE) != 0;   /* the kernel's choice */
        }
        at = config(d, at + 1, 1) & 0xfc;
    }
    if (d->common.bar < 0 || d->isr.bar < 0 || d->common.bar > 5 || d->isr.bar > 5)
        return ATH_E_INVALID;           /* not a modern virtio device */
    int8_t used[] = { d->common.bar, d->isr.bar, d->device.bar };
    for (unsigned i = 0; i < sizeof used; i++) {
        if (used[i] < 0 || used[i] > 5 || d->bars[used[i]] > 0)
            continue;
        d->bars[used[i]] = ath_pci_bar_open(d->pci, used[i]);
        if (d->bars[used[i]] < 0)
            return d->bars[used[i]];
    }
    d->transport = &pci_transport;
    return 0;
}
