/*
 * A hostile virtio-net driver (tests/test_attack_dma.py): it tries to make its device read or
 * write memory outside its DMA region — the kernel's, another module's, its own rings — with
 * every kind of descriptor, and misuses athanor.dma_map and athanor.virtq_setup. Every attempt
 * must be refused with nothing published; then the device must still work, from the kernel's
 * copies of descriptors the driver has rewritten since.
 */
#include "attack.h"

static struct area area;
static uint8_t ring_memory[2][4096] __attribute__((aligned(16)));
static struct virtio_device dev;
static struct virtq rx, tx;

/* Puts a chain of raw descriptors (at indexes 10..) on the queue's available ring, asks the
 * kernel to publish it, and takes it back (the kernel took nothing when it refused). */
static int32_t inject(struct virtq *q, const struct virtq_desc *chain, unsigned count,
                      unsigned head, unsigned bump)
{
    struct virtq_desc saved[6];
    memcpy(saved, &q->desc[10], sizeof saved);
    memcpy(&q->desc[10], chain, count * sizeof *chain);
    q->avail->ring[q->avail->idx % q->size] = (uint16_t)head;
    q->avail->idx = (uint16_t)(q->avail->idx + bump);
    int32_t result = ath_virtq_sync(dev.pci, q->index);
    q->avail->idx = (uint16_t)(q->avail->idx - bump);
    memcpy(&q->desc[10], saved, sizeof saved);
    return result;
}

static void one(const char *what, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next,
                int32_t want)
{
    struct virtq_desc d = { addr, len, flags, next };
    expect(what, inject(&tx, &d, 1, 10, 1), want);
}

int main(void)
{
    uintptr_t base = (uintptr_t)&area;
    expect("virtio_pci_open", virtio_open(&dev, 0), 0);

    /* athanor.dma_map and athanor.virtq_setup misused */
    struct { uint32_t size, desc, avail, used; } layout = {
        QUEUE, (uint32_t)(uintptr_t)ring_memory[0], (uint32_t)(uintptr_t)ring_memory[0] + 256,
        (uint32_t)(uintptr_t)ring_memory[0] + 512 };
    expect("virtq_setup before the DMA region is mapped", ath_virtq_setup(dev.pci, RX, &layout),
           ATH_E_INVALID);
    expect("dma_map misaligned", ath_dma_map((void *)(base + 8), AREA_BYTES), ATH_E_INVALID);
    expect("dma_map of part of a page", ath_dma_map(&area, 100), ATH_E_INVALID);
    expect("dma_map of more than the region", ath_dma_map(&area, 1 << 20), ATH_E_RANGE);
    expect("dma_map beyond the memory", ath_dma_map((void *)0xfff00000u, 4096), ATH_E_FAULT);
    expect("dma_map", ath_dma_map(&area, AREA_BYTES), 0);
    expect("dma_map twice", ath_dma_map(&area, AREA_BYTES), ATH_E_BUSY);
    expect("negotiate", virtio_negotiate(&dev, NET_F_MAC), 1);
    layout.size = 3;
    expect("virtq_setup of 3 entries", ath_virtq_setup(dev.pci, RX, &layout), ATH_E_INVALID);
    layout.size = QUEUE;
    expect("virtq_setup of queue 7", ath_virtq_setup(dev.pci, 7, &layout), ATH_E_RANGE);
    layout.desc = 0xfffff000u;
    expect("virtq_setup of rings beyond the memory", ath_virtq_setup(dev.pci, RX, &layout),
           ATH_E_FAULT);
    expect("virtq_setup of a layout beyond the memory", ath_virtq_setup(dev.pci, RX,
           (void *)0xfffffff8u), ATH_E_FAULT);
    expect("receive queue", virtq_init(&dev, &rx, RX, QUEUE, ring_memory[0]), 0);
    expect("transmit queue", virtq_init(&dev, &tx, TX, QUEUE, ring_memory[1]), 0);
    expect("virtq_setup of a queue set up", ath_virtq_setup(dev.pci, RX, &layout), ATH_E_BUSY);
    virtio_driver_ok(&dev);

    /* Descriptors that point outside the region: nothing of it is published. */
    one("the kernel's memory (1 MiB)", 0x100000, 64, 0, 0, ATH_E_RANGE);
    one("the local APIC", 0xfee00000u, 64, 0, 0, ATH_E_RANGE);
    one("another module's memory (where the kernel reserves memories: 1 TiB)", 0x10000200000ull, 64, 0, 0,
        ATH_E_RANGE);
    one("the page below the region", base - 4096, 64, 0, 0, ATH_E_RANGE);
    one("across the region's end", base + AREA_BYTES - 8, 16, 0, 0, ATH_E_RANGE);
    one("just past the region's end", base + AREA_BYTES, 1, 0, 0, ATH_E_RANGE);
    one("the whole 4 GiB from the region", base, 0xffffffffu, 0, 0, ATH_E_RANGE);
    one("an address that wraps", 0xffffffffffff0000ull, 0x20000, 0, 0, ATH_E_RANGE);
    one("a high address", 0x8000000000000000ull + base, 64, 0, 0, ATH_E_RANGE);
    one("its own descriptor table", (uintptr_t)tx.desc, 64, VIRTQ_DESC_F_WRITE, 0, ATH_E_RANGE);
    one("its own used ring", (uintptr_t)rx.used, 64, VIRTQ_DESC_F_WRITE, 0, ATH_E_RANGE);
    /* Chains the kernel does not follow. */
    one("an indirect table", base, 64, 4, 0, ATH_E_INVALID);
    one("an unknown flag", base, 64, 8, 0, ATH_E_INVALID);
    one("a chain that loops on itself", base, 64, VIRTQ_DESC_F_NEXT, 10, ATH_E_INVALID);
    one("a next beyond the table", base, 64, VIRTQ_DESC_F_NEXT, QUEUE, ATH_E_INVALID);
    struct virtq_desc loop[2] = { { base, 64, VIRTQ_DESC_F_NEXT, 11 },
                                  { base + 64, 64, VIRTQ_DESC_F_NEXT, 10 } };
    expect("a chain of two that loops", inject(&tx, loop, 2, 10, 1), ATH_E_INVALID);
    struct virtq_desc late[2] = { { base, 64, VIRTQ_DESC_F_NEXT, 11 },
                                  { 0x100000, 64, VIRTQ_DESC_F_WRITE, 0 } };
    expect("a good descriptor, then the kernel's memory", inject(&tx, late, 2, 10, 1),
           ATH_E_RANGE);
    struct virtq_desc good = { base, 64, 0, 0 };
    expect("a head beyond the table", inject(&tx, &good, 1, QUEUE + 5, 1), ATH_E_INVALID);
    expect("more new entries than the queue holds", inject(&tx, &good, 1, 10, QUEUE + 1),
           ATH_E_INVALID);

    /* The receive buffers go to the device; then the driver rewrites them in its own rings to
     * point at the kernel, and offers one of them again while the device holds it. */
    post_receive_buffers(&rx, &area);
    expect("receive buffers published", virtq_sync(&rx), 0);
    for (unsigned i = 0; i < QUEUE; i++) {
        rx.desc[i].addr = 0x100000 + 4096 * i;
        rx.desc[i].len = 0x10000;
    }
    struct virtq_desc held = { base, 64, VIRTQ_DESC_F_WRITE, 0 };
    expect("a descriptor the device holds, again", inject(&rx, &held, 1, 10, 1), ATH_E_INVALID);
    for (unsigned i = 0; i < QUEUE; i++) {      /* the library walks its chains by them */
        rx.desc[i].addr = 0;
        rx.desc[i].len = 0;
    }
    expect("an ARP exchange into the region after all that",
           arp_exchange(&dev, &rx, &tx, &area), 1);
    finish();
    return 0;
}
