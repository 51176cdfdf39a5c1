/*
 * The virtio-mmio transport (virtio 1.x, 4.2.2: version 2, the modern interface) for machines
 * without PCI (QEMU microvm, Firecracker, Cloud Hypervisor). The kernel presents such a device
 * as a function with no capabilities (athanor's kernel.h, pci.c): the module's pci grant names it as it
 * would name the PCI device of that type, BAR 0 is the register window and INTx its interrupt.
 * As over PCI, the queue size, readiness and addresses are the kernel's to write
 * (athanor.virtq_setup), and so is the notification after a check (athanor.virtq_sync).
 */
#include "virtio.h"

#define DEVICE_FEATURES 0x010
#define DEVICE_FEATURES_SEL 0x014
#define DRIVER_FEATURES 0x020
#define DRIVER_FEATURES_SEL 0x024
#define QUEUE_SEL 0x030
#define QUEUE_NUM_MAX 0x034
#define INTERRUPT_STATUS 0x060
#define INTERRUPT_ACK 0x064
#define STATUS 0x070
#define CONFIG 0x100
#define MAGIC_VALUE 0x74726976u         /* "virt" */

static uint32_t reg(struct virtio_device *d, unsigned offset)
{
    return (uint32_t)ath_mmio_read(d->bars[0], (int32_t)offset, 4);
}

static void set_reg(struct virtio_device *d, unsigned offset, uint32_t value)
{
    ath_mmio_write(d->bars[0], (int32_t)offset, 4, value);
}

static uint8_t status(struct virtio_device *d)
{
    return (uint8_t)reg(d, STATUS);
}

static void set_status(struct virtio_device *d, uint8_t value)
{
    set_reg(d, STATUS, value);
}

static uint64_t device_features(struct virtio_device *d)
{
    set_reg(d, DEVICE_FEATURES_SEL, 0);
    uint64_t features = reg(d, DEVICE_FEATURES);
    set_reg(d, DEVICE_FEATURES_SEL, 1);
    return features | (uint64_t)reg(d, DEVICE_FEATURES) << 32;
}

static void set_driver_features(struct virtio_device *d, uint64_t features)
{
    set_reg(d, DRIVER_FEATURES_SEL, 0);
    set_reg(d, DRIVER_FEATURES, (uint32_t)features);
    set_reg(d, DRIVER_FEATURES_SEL, 1);
    set_reg(d, DRIVER_FEATURES, (uint32_t)(features >> 32));
}

static uint32_t config_read(struct virtio_device *d, unsigned offset, unsigned width)
{
    return (uint32_t)ath_mmio_read(d->bars[0], (int32_t)(CONFIG + offset), (int32_t)width);
}

static uint16_t queue_max(struct virtio_device *d, unsigned queue)
{
    set_reg(d, QUEUE_SEL, queue);
    return (uint16_t)reg(d, QUEUE_NUM_MAX);
}

static int32_t queue_setup(struct virtio_device *d, struct virtq *q)
{
    return ath_virtq_setup(d->pci, q->index, &q->layout);
}

static void set_vector(struct virtio_device *d, int queue, uint16_t vector)
{
    (void)d, (void)queue, (void)vector;     /* one interrupt for everything */
}

static int32_t sync(struct virtio_device *d, struct virtq *q)
{
    return ath_virtq_sync(d->pci, q->index);
}

/* Unlike PCI's ISR status, reading InterruptStatus does not clear it: acknowledge. */
static uint8_t isr(struct virtio_device *d)
{
    uint32_t causes = reg(d, INTERRUPT_STATUS);
    if (causes)
        set_reg(d, INTERRUPT_ACK, causes);
    return (uint8_t)causes;
}

static int32_t irq_open(struct virtio_device *d, int vector)
{
    return ath_pci_irq_open(d->pci, vector);
}

static const struct virtio_transport mmio_transport = {
    .status = status, .set_status = set_status, .device_features = device_features,
    .set_driver_features = set_driver_features, .config_read = config_read,
    .queue_max = queue_max, .queue_setup = queue_setup, .set_vector = set_vector,
    .sync = sync, .isr = isr, .irq_open = irq_open,
};

int32_t virtio_mmio_attach(struct virtio_device *d)
{
    d->bars[0] = ath_pci_bar_open(d->pci, 0);
    if (d->bars[0] < 0)
        return d->bars[0];
    if (reg(d, 0) != MAGIC_VALUE)
        return ATH_E_INVALID;
    d->msix = false;
    d->transport = &mmio_transport;
    return 0;
}
