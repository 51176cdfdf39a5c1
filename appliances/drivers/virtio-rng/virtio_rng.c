/*
 * A virtio-rng (entropy) driver in Wasm (virtio 1.x, 5.4): it asks its device for random bytes
 * and feeds them to the kernel's random pool (athanor.random_feed), which on a CPU without
 * RDRAND waits for this at boot instead of running on a weak seed. Then it feeds the pool
 * again every RESEED_SECONDS.
 *
 *   grants = ["pci:1af4:1044", "dma:4K", "entropy"]    (a virtio-mmio device too: virtio_open)
 *
 * One queue (requestq): the driver gives the device a writable buffer in its DMA region, the
 * device fills it, the driver hands the bytes to the kernel. Nothing else: no configuration,
 * no features. With an optional grant ("pci:1af4:1044?") and no such device, it tells the
 * kernel not to wait for it (a feed of 0 bytes) and ends.
 */
#include <string.h>

#include "../virtio/virtio.h"

#define REQUEST_QUEUE 0
#define QUEUE_SIZE 4
#define REQUEST_BYTES 64
#define RESEED_SECONDS 60

struct dma_area {
    uint8_t bytes[REQUEST_BYTES];
} __attribute__((aligned(4096)));

static struct dma_area area;
static uint8_t ring[4096] __attribute__((aligned(16)));
static struct virtio_device dev;
static struct virtq requests;
static int32_t irq;

static _Noreturn void fail(const char *what)
{
    char line[80] = "virtio-rng: ";
    strncat(line, what, 40);
    strcat(line, " failed");
    ath_log(line, (int32_t)strlen(line));
    __builtin_trap();
}

/* False when an optional device is absent. */
static bool start(void)
{
    int32_t opened = virtio_open(&dev, 0);
    if (opened == ATH_E_NODEV) {
        ath_random_feed(NULL, 0);       /* nothing will come from here */
        ath_log("virtio-rng: no device", 21);
        return false;
    }
    if (opened < 0)
        fail("open");
    if (ath_dma_map(&area, sizeof area) < 0)
        fail("dma_map");
    if (!virtio_negotiate(&dev, 0))
        fail("negotiate");
    if (virtq_memory(QUEUE_SIZE) > sizeof ring ||
        virtq_init(&dev, &requests, REQUEST_QUEUE, QUEUE_SIZE, ring) < 0)
        fail("queue");
    if (dev.msix)
        dev.transport->set_vector(&dev, REQUEST_QUEUE, 0);
    if ((irq = dev.transport->irq_open(&dev, dev.msix ? 0 : -1)) < 0)
        fail("interrupt");
    virtio_driver_ok(&dev);
    return true;
}

/* Bytes from the device into the pool: one request, waited for. */
static void feed(void)
{
    struct virtq_buffer buffer = { area.bytes, sizeof area.bytes, true };
    if (!virtq_add(&requests, &buffer, 1, area.bytes) || virtq_sync(&requests) < 0)
        fail("request");
    uint32_t length = 0;
    while (!virtq_used(&requests, &length)) {
        if (ath_wait(&irq, 1, ATH_FOREVER) < 0)
            fail("wait");
        ath_irq_wait(irq);
        if (!dev.msix)
            dev.transport->isr(&dev);
        if (virtq_sync(&requests) < 0)
            fail("sync");
    }
    if (length > sizeof area.bytes)
        fail("device");
    if (ath_random_feed(area.bytes, (int32_t)length) < 0)
        fail("random_feed");
}

int main(void)
{
    if (!start())
        return 0;                       /* the module ends; the appliance goes on */
    for (;;) {
        feed();
        ath_sleep((int64_t)RESEED_SECONDS * 1000000000);
    }
}
