/*
 * A hostile driver of a virtio-mmio device (tests/test_attack_mmio.py), on QEMU's microvm: it
 * tries to tell its virtio-net device where memory is without the kernel (QueueNum, QueueReady,
 * the six queue address registers, feature bits that change the rings' layout), to read where
 * the kernel put the rings, to reach past the window, to use widths the registers do not take,
 * to reach PCI things a platform function does not have, and to use handles it closed. Every
 * attempt must be refused; then the device must still work, and the DMA descriptors the kernel
 * checks are the same as over PCI (tests/devices/dma_attacker.c runs on microvm too).
 */
#include "attack.h"

static struct area area;
static uint8_t ring_memory[2][4096] __attribute__((aligned(16)));
static struct virtio_device dev;
static struct virtq rx, tx;

#define DENIED(what, call) expect(what, call, ATH_E_DENIED)

static int32_t reg_write(unsigned offset, unsigned width, uint32_t value)
{
    return ath_mmio_write(dev.bars[0], (int32_t)offset, (int32_t)width, value);
}

static int64_t reg_read(unsigned offset, unsigned width)
{
    return ath_mmio_read(dev.bars[0], (int32_t)offset, (int32_t)width);
}

static void registers(void)
{
    static const struct { const char *what; unsigned offset; } kept[] = {
        { "QueueNum", 0x038 }, { "QueueReady", 0x044 },
        { "QueueDescLow", 0x080 }, { "QueueDescHigh", 0x084 },
        { "QueueDriverLow", 0x090 }, { "QueueDriverHigh", 0x094 },
        { "QueueDeviceLow", 0x0a0 }, { "QueueDeviceHigh", 0x0a4 },
        { "SHMSel", 0x0ac }, { "InterruptStatus", 0x060 }, { "DeviceFeatures", 0x010 },
        { "MagicValue", 0x000 }, { "ConfigGeneration", 0x0fc }, { "QueueReset", 0x0c0 },
    };
    for (unsigned i = 0; i < sizeof kept / sizeof kept[0]; i++) {
        char what[64];
        snprintf(what, sizeof what, "write %s", kept[i].what);
        DENIED(what, reg_write(kept[i].offset, 4, 0x1000));
    }
    DENIED("read QueueDescLow: where the kernel's rings are", reg_read(0x080, 4));
    DENIED("read QueueDeviceHigh", reg_read(0x0a4, 4));
    DENIED("read SHMBaseLow", reg_read(0x0b8, 4));
    DENIED("a byte of QueueDescLow", reg_write(0x081, 1, 0));
    DENIED("half of QueueSel", reg_write(0x030, 2, 0));
    DENIED("a byte of Status", reg_write(0x070, 1, 0));
    expect("8 bytes", reg_write(0x080, 8, 0), ATH_E_INVALID);
    /* packed rings and event indexes would change what the device reads in the kernel's rings */
    expect("select the high feature bits", reg_write(0x024, 4, 1), 0);
    DENIED("negotiate packed rings", reg_write(0x020, 4, 1 | 4));
    expect("select the low feature bits", reg_write(0x024, 4, 0), 0);
    DENIED("negotiate event indexes", reg_write(0x020, 4, 1u << 29));
    expect("past the window", reg_read(0x1000, 4), ATH_E_RANGE);
    expect("past the window, far", reg_read(1 << 20, 4), ATH_E_RANGE);
    expect("the magic value", reg_read(0x000, 4), 0x74726976);
    expect("the device ID: network", reg_read(0x008, 4), 1);
}

static void platform_function(int32_t pci)
{
    expect("config: the vendor ID", ath_pci_config_read(pci, 0, 2), 0x1af4);
    expect("config: the device ID (0x1040 + network)", ath_pci_config_read(pci, 2, 2), 0x1041);
    expect("config: no capabilities", ath_pci_config_read(pci, 6, 2) & 0x10, 0);
    expect("config: BAR 0", ath_pci_config_read(pci, 0x10, 4), ATH_E_RANGE);
    expect("config: past the header", ath_pci_config_read(pci, 0x40, 4), ATH_E_RANGE);
    expect("open BAR 1", ath_pci_bar_open(pci, 1), ATH_E_RANGE);
    expect("MSI-X vector 0", ath_pci_irq_open(pci, 0), ATH_E_RANGE);
    expect("pci_open of the open device", ath_pci_open(0), ATH_E_BUSY);
}

int main(void)
{
    expect("virtio_open", virtio_open(&dev, 0), 0);
    expect("a virtio-mmio device", dev.msix == 0 && dev.common.bar < 0, 1);
    expect("dma_map", ath_dma_map(&area, AREA_BYTES), 0);
    expect("negotiate", virtio_negotiate(&dev, NET_F_MAC), 1);
    expect("receive queue", virtq_init(&dev, &rx, RX, QUEUE, ring_memory[0]), 0);
    expect("transmit queue", virtq_init(&dev, &tx, TX, QUEUE, ring_memory[1]), 0);
    registers();
    platform_function(dev.pci);

    expect("a queue set up already", virtq_init(&dev, &rx, RX, QUEUE, ring_memory[0]),
           ATH_E_BUSY);
    expect("queue 40, which the device lacks", ath_virtq_setup(dev.pci, 40, &rx.layout),
           ATH_E_RANGE);
    expect("reset by the driver (status 0)", reg_write(0x070, 4, 0), 0);
    expect("negotiate after its own reset", virtio_negotiate(&dev, NET_F_MAC), 1);
    expect("a queue set up again after it", virtq_init(&dev, &rx, RX, QUEUE, ring_memory[0]), 0);

    int32_t old_pci = dev.pci, old_bar = dev.bars[0];
    expect("close the device", ath_handle_close(old_pci), 0);
    expect("its old handle", ath_pci_config_read(old_pci, 0, 2), ATH_E_STALE);
    expect("its window's old handle", ath_mmio_read(old_bar, 0, 4), ATH_E_STALE);

    expect("virtio_open again", virtio_open(&dev, 0), 0);
    expect("negotiate again", virtio_negotiate(&dev, NET_F_MAC), 1);
    expect("receive queue again", virtq_init(&dev, &rx, RX, QUEUE, ring_memory[0]), 0);
    expect("transmit queue again", virtq_init(&dev, &tx, TX, QUEUE, ring_memory[1]), 0);
    virtio_driver_ok(&dev);
    post_receive_buffers(&rx, &area);
    expect("an ARP exchange after all that", arp_exchange(&dev, &rx, &tx, &area), 1);
    finish();
    return 0;
}
