/*
 * A hostile driver of PCI registers (tests/test_attack_pci.py): it tries to tell its virtio-net
 * device where memory is without the kernel (the queue address, size and enable registers,
 * feature bits that change the rings' layout), to reach the MSI-X table (of a virtio device and
 * of an e1000e, which would let it make the device write anywhere), to read where the firmware
 * put the BARs, and to use handles it no longer holds. Every attempt must be refused; then the
 * virtio device must still work.
 */
#include "attack.h"

static struct area area;
static uint8_t ring_memory[2][4096] __attribute__((aligned(16)));
static struct virtio_device dev;
static struct virtq rx, tx;

#define DENIED(what, call) expect(what, call, ATH_E_DENIED)

static int32_t common_write(unsigned offset, unsigned width, uint32_t value)
{
    return ath_mmio_write(dev.bars[dev.common.bar], (int32_t)(dev.common.offset + offset),
                          (int32_t)width, value);
}

static int64_t common_read(unsigned offset, unsigned width)
{
    return ath_mmio_read(dev.bars[dev.common.bar], (int32_t)(dev.common.offset + offset),
                         (int32_t)width);
}

/* The MSI-X table and PBA of a function, from its capability: bar, offsets. */
static bool msix_of(int32_t pci, unsigned *table_bar, uint32_t *table, unsigned *pba_bar,
                    uint32_t *pba)
{
    for (int at = (int)ath_pci_config_read(pci, 0x34, 1) & 0xfc, hops = 0; at >= 0x40 && hops < 48;
         hops++) {
        if (ath_pci_config_read(pci, at, 1) == 0x11) {
            uint32_t t = (uint32_t)ath_pci_config_read(pci, at + 4, 4);
            uint32_t p = (uint32_t)ath_pci_config_read(pci, at + 8, 4);
            *table_bar = t & 7, *table = t & ~7u, *pba_bar = p & 7, *pba = p & ~7u;
            return true;
        }
        at = (int)ath_pci_config_read(pci, at + 1, 1) & 0xfc;
    }
    return false;
}

static void config_space(int32_t pci)
{
    expect("config: the vendor ID", ath_pci_config_read(pci, 0, 2), 0x1af4);
    for (int bar = 0x10; bar <= 0x24; bar += 4) {
        char what[48];
        snprintf(what, sizeof what, "config: BAR at 0x%x", bar);
        expect(what, ath_pci_config_read(pci, bar, 4), ATH_E_RANGE);
    }
    expect("config: a byte of BAR 0", ath_pci_config_read(pci, 0x11, 1), ATH_E_RANGE);
    expect("config: the expansion ROM address", ath_pci_config_read(pci, 0x30, 4), ATH_E_RANGE);
    expect("config: misaligned", ath_pci_config_read(pci, 0x0f, 2), ATH_E_RANGE);
    expect("config: width 3", ath_pci_config_read(pci, 0x0c, 3), ATH_E_INVALID);
    expect("config: beyond the space", ath_pci_config_read(pci, 0x1000, 4), ATH_E_RANGE);
    expect("config: the last bytes and past them", ath_pci_config_read(pci, 0xffe, 4),
           ATH_E_RANGE);
    expect("config: offset -4", ath_pci_config_read(pci, -4, 4), ATH_E_RANGE);
}

static void common_configuration(void)
{
    /* the registers through which a virtio device learns memory addresses */
    static const struct { const char *what; unsigned offset, width; } kept[] = {
        { "queue_size", 0x18, 2 }, { "queue_enable", 0x1c, 2 },
        { "queue_desc (low)", 0x20, 4 }, { "queue_desc (high)", 0x24, 4 },
        { "queue_driver (low)", 0x28, 4 }, { "queue_driver (high)", 0x2c, 4 },
        { "queue_device (low)", 0x30, 4 }, { "queue_device (high)", 0x34, 4 },
        { "a byte of queue_desc", 0x21, 1 }, { "half of queue_device", 0x32, 2 },
        { "queue_notify_off", 0x1e, 2 }, { "num_queues", 0x12, 2 },
        { "device_feature", 0x04, 4 }, { "queue_notify_data", 0x38, 2 },
        { "queue_reset", 0x3a, 2 },
    };
    for (unsigned i = 0; i < sizeof kept / sizeof kept[0]; i++) {
        char what[64];
        snprintf(what, sizeof what, "write %s", kept[i].what);
        DENIED(what, common_write(kept[i].offset, kept[i].width, 0x1000));
    }
    DENIED("read queue_desc: where the kernel's rings are", common_read(0x20, 4));
    DENIED("read queue_device (high)", common_read(0x34, 4));
    expect("write 8 bytes", common_write(0x20, 8, 0), ATH_E_INVALID);
    /* packed rings and event indexes would change what the device reads in the kernel's rings */
    expect("select the high feature bits", common_write(0x08, 4, 1), 0);
    DENIED("negotiate packed rings", common_write(0x0c, 4, 1 | 4));
    expect("select the low feature bits", common_write(0x08, 4, 0), 0);
    DENIED("negotiate event indexes", common_write(0x0c, 4, 1u << 29));
    DENIED("write the ISR status", ath_mmio_write(dev.bars[dev.isr.bar], (int32_t)dev.isr.offset,
                                                  1, 0));
    expect("beyond the BAR", ath_mmio_read(dev.bars[dev.common.bar], 1 << 20, 4), ATH_E_RANGE);
}

static void virtio_msix_and_bars(int32_t pci)
{
    unsigned table_bar, pba_bar;
    uint32_t table, pba;
    expect("the virtio device has MSI-X", msix_of(pci, &table_bar, &table, &pba_bar, &pba), 1);
    expect("open the BAR of its MSI-X table", ath_pci_bar_open(pci, (int32_t)table_bar),
           ATH_E_DENIED);
    expect("open BAR 6", ath_pci_bar_open(pci, 6), ATH_E_RANGE);
    expect("open BAR -1", ath_pci_bar_open(pci, -1), ATH_E_RANGE);
    expect("INTx while MSI-X is on", ath_pci_irq_open(pci, -1), ATH_E_INVALID);
    expect("MSI-X vector 100", ath_pci_irq_open(pci, 100), ATH_E_RANGE);
    expect("MSI-X vector 2^31-1", ath_pci_irq_open(pci, 0x7fffffff), ATH_E_RANGE);
    expect("pci_open of the open device", ath_pci_open(0), ATH_E_BUSY);
    expect("pci_open of a grant it lacks", ath_pci_open(2), ATH_E_DENIED);
    expect("pci_open of grant -1", ath_pci_open(-1), ATH_E_DENIED);
}

/* An e1000e: a device the kernel cannot confine, so it never masters the bus; its MSI-X table
 * shares a BAR a driver may open. */
static void e1000e(void)
{
    int32_t pci = ath_pci_open(1);
    expect("open the e1000e", pci > 0, 1);
    unsigned table_bar, pba_bar;
    uint32_t table, pba;
    expect("the e1000e has MSI-X", msix_of(pci, &table_bar, &table, &pba_bar, &pba), 1);
    expect("it may not master the bus", (ath_pci_config_read(pci, 4, 2) >> 2) & 1, 0);
    int32_t bar = ath_pci_bar_open(pci, (int32_t)table_bar);
    expect("open the BAR of its MSI-X table", bar > 0, 1);
    expect("read the MSI-X table", ath_mmio_read(bar, (int32_t)table, 4), ATH_E_RANGE);
    expect("write an entry's address", ath_mmio_write(bar, (int32_t)table + 16, 4, 0x100000),
           ATH_E_RANGE);
    expect("write an entry's data", ath_mmio_write(bar, (int32_t)table + 8, 4, 0x30), ATH_E_RANGE);
    expect("unmask an entry", ath_mmio_write(bar, (int32_t)table + 12, 4, 0), ATH_E_RANGE);
    int32_t pba_handle = pba_bar == table_bar ? bar : ath_pci_bar_open(pci, (int32_t)pba_bar);
    expect("read the PBA", ath_mmio_read(pba_handle, (int32_t)pba, 4), ATH_E_RANGE);
    expect("no MSI-X vector without bus mastering", ath_pci_irq_open(pci, 0), ATH_E_RANGE);
    expect("its INTx line", ath_pci_irq_open(pci, -1) > 0, 1);
}

int main(void)
{
    expect("virtio_pci_open", virtio_open(&dev, 0), 0);
    expect("dma_map", ath_dma_map(&area, AREA_BYTES), 0);
    expect("negotiate", virtio_negotiate(&dev, NET_F_MAC), 1);
    expect("receive queue", virtq_init(&dev, &rx, RX, QUEUE, ring_memory[0]), 0);
    expect("transmit queue", virtq_init(&dev, &tx, TX, QUEUE, ring_memory[1]), 0);
    config_space(dev.pci);
    common_configuration();
    virtio_msix_and_bars(dev.pci);
    e1000e();

    /* A driver may reset its device itself: the kernel forgets the queues with it. */
    expect("a queue set up already", virtq_init(&dev, &rx, RX, QUEUE, ring_memory[0]),
           ATH_E_BUSY);
    expect("reset by the driver (status 0)", common_write(0x14, 1, 0), 0);
    expect("negotiate after its own reset", virtio_negotiate(&dev, NET_F_MAC), 1);
    expect("a queue set up again after it", virtq_init(&dev, &rx, RX, QUEUE, ring_memory[0]), 0);

    /* Handles closed are gone, with what was opened through them. */
    int32_t old_pci = dev.pci, old_bar = dev.bars[dev.common.bar];
    expect("close the device", ath_handle_close(old_pci), 0);
    expect("its old handle", ath_pci_config_read(old_pci, 0, 2), ATH_E_STALE);
    expect("its BAR's old handle", ath_mmio_read(old_bar, 0, 4), ATH_E_STALE);
    expect("a forged handle", ath_pci_config_read(old_pci + (5 << 8), 0, 2), ATH_E_BADHANDLE);
    expect("a channel handle as a device", ath_pci_bar_open(ath_channel_open("done", 4), 4),
           ATH_E_TYPE);

    /* Opened again: reset by the kernel, set up afresh, and it works. */
    expect("virtio_pci_open again", virtio_open(&dev, 0), 0);
    expect("negotiate again", virtio_negotiate(&dev, NET_F_MAC), 1);
    expect("receive queue again", virtq_init(&dev, &rx, RX, QUEUE, ring_memory[0]), 0);
    expect("transmit queue again", virtq_init(&dev, &tx, TX, QUEUE, ring_memory[1]), 0);
    virtio_driver_ok(&dev);
    post_receive_buffers(&rx, &area);
    expect("an ARP exchange after all that", arp_exchange(&dev, &rx, &tx, &area), 1);
    finish();
    return 0;
}
