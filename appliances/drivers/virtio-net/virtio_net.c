/*
 * A virtio-net driver in Wasm (virtio 1.x, 5.1): Ethernet frames between the device and the
 * module it serves, over channels. Its grants are its device, its DMA region and its channels:
 *
 *   grants = ["pci:1af4:1041", "dma:1M"]
 *   channel net.rx      (driver -> app)  received frames, one message each, batched
 *   channel net.tx      (app -> driver)  frames to send; an empty message asks for a status,
 *                                        answered once every frame before it has left
 *   channel net.status  (driver -> app)  struct net_status (net.h): at start, when the link
 *                                        changes, and when asked
 *
 * Features: MAC, MTU and link status when the device offers them; checksum offload both ways
 * (GUEST_CSUM: a frame the host left with a partial checksum is completed here, so the app
 * always gets whole frames; CSUM: offered to the device, frames go out complete). One receive
 * and one transmit queue; MSI-X (a vector each, and one for configuration changes) when the
 * kernel enabled it, else the INTx line and the ISR status.
 *
 * Copies: the device writes a received frame into the DMA region, which is this module's
 * memory (athanor.dma_map): the driver hands it to the channel from there (the kernel copies
 * it into the channel's ring, then into the app's memory). A frame to send is received from the
 * channel straight into a transmit buffer of the DMA region, which the device reads. So a frame
 * is copied twice by the CPU each way, both times by the kernel's channel calls. Buffers are
 * channel batch slots ([u32 length][frame]), so a run of frames goes in one call.
 *
 * Frames that find the app's channel full, or that are malformed, are counted as drops.
 */
#include "../virtio/virtio.h"
#include "net.h"

#define VIRTIO_NET_F_CSUM       (1ull << 0)
#define VIRTIO_NET_F_GUEST_CSUM (1ull << 1)
#define VIRTIO_NET_F_MTU        (1ull << 3)
#define VIRTIO_NET_F_MAC        (1ull << 5)
#define VIRTIO_NET_F_STATUS     (1ull << 16)
#define WANTED (VIRTIO_NET_F_CSUM | VIRTIO_NET_F_GUEST_CSUM | VIRTIO_NET_F_MTU | \
                VIRTIO_NET_F_MAC | VIRTIO_NET_F_STATUS)

#define CONFIG_MAC 0
#define CONFIG_STATUS 6
#define CONFIG_MTU 10
#define LINK_UP 1

#define RX_QUEUE 0
#define TX_QUEUE 1
#define QUEUE_SIZE 256                  /* descriptors per queue; a frame takes two */
#define BUFFERS (QUEUE_SIZE / 2)
#define SLOT NET_SLOT                   /* [u32 length][frame], a channel batch slot */
#define FRAME_MAX (SLOT - 4)

/* virtio_net_hdr (5.1.6), 12 bytes with VERSION_1 */
struct net_hdr {
    uint8_t flags, gso_type;
    uint16_t hdr_len, gso_size, csum_start, csum_offset, num_buffers;
};
#define HDR_NEEDS_CSUM 1

/* The DMA region: receive and transmit slots, their headers. Whole pages: dma_map takes them
 * over, and nothing else of the module may share one. */
struct dma_area {
    uint8_t rx[BUFFERS][SLOT];
    uint8_t tx[BUFFERS][SLOT];
    struct net_hdr rx_hdr[BUFFERS];
    struct net_hdr tx_hdr;              /* all zero: every frame goes out complete */
} __attribute__((aligned(4096)));
#define DMA_BYTES sizeof(struct dma_area)
static struct dma_area dma;

static struct virtio_device dev;
static struct virtq rx, tx;
static uint8_t rx_ring[8192] __attribute__((aligned(16)));
static uint8_t tx_ring[8192] __attribute__((aligned(16)));
static int32_t rx_channel, tx_channel, status_channel;
static int32_t irqs[3];                 /* config, rx, tx (MSI-X); or irqs[0]: INTx */
static unsigned irq_count;
static struct net_status status;
static uint32_t tx_head, tx_tail;       /* transmit slots: [tail, head) in flight, in order */
static bool tx_done[BUFFERS];
static bool status_asked;               /* answered once every frame before it has left */

static void fail(void)
{
    __builtin_trap();                   /* its supervisor decides: restart, or the end */
}

static int32_t open_channel(const char *name)
{
    int32_t handle = ath_channel_open(name, (int32_t)__builtin_strlen(name));
    return handle > 0 ? handle : 0;
}

static void send_status(void)
{
    if (!status_channel)
        return;
    if (virtio_has(&dev, VIRTIO_NET_F_STATUS))
        status.link_up = (virtio_config_read(&dev, CONFIG_STATUS, 2) & LINK_UP) != 0;
    ath_channel_send(status_channel, &status, sizeof status, ATH_NONBLOCK);
}

/* ---- Receiving ---------------------------------------------------------------------------------- */
static void rx_post(uint32_t slot)
{
    struct virtq_buffer chain[2] = {
        { &dma.rx_hdr[slot], sizeof dma.rx_hdr[slot], true },
        { dma.rx[slot] + 4, FRAME_MAX, true },
    };
    if (!virtq_add(&rx, chain, 2, (void *)(uintptr_t)(slot + 1)))
        fail();
}

static uint16_t fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)sum;
}

/* A partial checksum the host left (NEEDS_CSUM): the one's complement sum from csum_start to
 * the end, stored at csum_start + csum_offset (5.1.6.4.1). */
static bool complete_checksum(uint8_t *frame, uint32_t length, const struct net_hdr *h)
{
    uint32_t start = h->csum_start, at = start + h->csum_offset;
    if (start >= length || at + 2 > length)
        return false;
    uint32_t sum = 0;
    for (uint32_t i = start; i + 1 < length; i += 2)
        sum += (uint32_t)frame[i] << 8 | frame[i + 1];
    if ((length - start) & 1)
        sum += (uint32_t)frame[length - 1] << 8;
    uint16_t value = (uint16_t)~fold(sum);
    frame[at] = (uint8_t)(value >> 8);
    frame[at + 1] = (uint8_t)value;
    return true;
}

static void deliver(uint32_t first, uint32_t count)
{
    if (!count)
        return;
    int32_t sent = rx_channel ? ath_channel_send_batch(rx_channel, dma.rx[first], (int32_t)count,
                                                       SLOT, ATH_NONBLOCK) : 0;
    if (sent < 0)
        sent = 0;
    status.rx_frames += (uint32_t)sent;
    status.rx_drops += count - (uint32_t)sent;
}

/* Every frame the device returned goes to the app, consecutive slots in one batch; the
 * buffers go back to the device. */
static void service_rx(void)
{
    for (;;) {
        uint32_t run_first = 0, run_count = 0, posted = 0, slots[BUFFERS], len;
        void *cookie;
        while ((cookie = virtq_used(&rx, &len))) {
            uint32_t slot = (uint32_t)(uintptr_t)cookie - 1;
            uint32_t frame = len > sizeof(struct net_hdr) ? len - sizeof(struct net_hdr) : 0;
            const struct net_hdr *h = &dma.rx_hdr[slot];
            bool good = slot < BUFFERS && frame >= 14 && frame <= FRAME_MAX &&
                        (!(h->flags & HDR_NEEDS_CSUM) ||
                         complete_checksum(dma.rx[slot] + 4, frame, h));
            if (good && run_count && slot == run_first + run_count) {
                run_count++;
            } else {
                deliver(run_first, run_count);
                run_first = slot;
                run_count = good;
            }
            if (!good)
                status.rx_drops++;
            else
                __builtin_memcpy(dma.rx[slot], &frame, 4);
            slots[posted++] = slot;
#ifdef VIRTIO_NET_TRAP_AFTER
            /* Tests: the driver fails once, while frames flow (its first start only). */
            if (status.rx_frames + run_count >= VIRTIO_NET_TRAP_AFTER && ath_restart_count() == 0)
                fail();
#endif
        }
        deliver(run_first, run_count);
        for (uint32_t i = 0; i < posted; i++)
            rx_post(slots[i]);
        int32_t returned = virtq_sync(&rx);
        if (returned < 0)
            fail();
        if (returned == 0)
            return;
    }
}

/* ---- Sending ------------------------------------------------------------------------------------- */
static void tx_reclaim(void)
{
    uint32_t len;
    void *cookie;
    while ((cookie = virtq_used(&tx, &len)))
        tx_done[(uint32_t)(uintptr_t)cookie - 1] = true;
    while (tx_tail != tx_head && tx_done[tx_tail % BUFFERS]) {
        tx_done[tx_tail % BUFFERS] = false;
        tx_tail++;
    }
}

/* Frames from the app, straight into free transmit slots (a run of them per call), then to
 * the device. Returns when the channel is empty or every slot is in flight. */
static void service_tx(void)
{
    for (;;) {
        tx_reclaim();
        uint32_t free = BUFFERS - (tx_head - tx_tail);
        uint32_t run = BUFFERS - tx_head % BUFFERS;       /* slots before the array wraps */
        if (free < run)
            run = free;
        if (run == 0) {
            if (virtq_sync(&tx) <= 0)
                return;                 /* the transmit interrupt will say when */
            continue;
        }
        int32_t got = tx_channel ? ath_channel_recv_batch(tx_channel, dma.tx[tx_head % BUFFERS],
                                                          (int32_t)run, SLOT, ATH_NONBLOCK) : 0;
        if (got <= 0) {
            if (virtq_sync(&tx) < 0)
                fail();
            tx_reclaim();
            return;
        }
        for (int32_t i = 0; i < got; i++) {
            uint32_t slot = tx_head % BUFFERS, length;
            __builtin_memcpy(&length, dma.tx[slot], 4);
            tx_head++;
            if (length == 0) {
                status_asked = true;
                tx_done[slot] = true;
                continue;
            }
            if (length < 14 || length > FRAME_MAX) {
                status.tx_drops++;
                tx_done[slot] = true;
                continue;
            }
            struct virtq_buffer chain[2] = {
                { &dma.tx_hdr, sizeof dma.tx_hdr, false },
                { dma.tx[slot] + 4, length, false },
            };
            if (!virtq_add(&tx, chain, 2, (void *)(uintptr_t)(slot + 1)))
                fail();
            status.tx_frames++;
        }
        if (virtq_sync(&tx) < 0)
            fail();
    }
}

/* ---- Start ------------------------------------------------------------------------------------------ */
static void start(void)
{
    if (virtio_open(&dev, 0) < 0)
        fail();
    if (ath_dma_map(&dma, DMA_BYTES) < 0)
        fail();
    if (!virtio_negotiate(&dev, WANTED))
        fail();
    status = (struct net_status){ .magic = NET_STATUS_MAGIC, .mtu = 1500,
                                  .restarts = (uint32_t)ath_restart_count() };
    for (unsigned i = 0; i < 6; i++)
        status.mac[i] = virtio_has(&dev, VIRTIO_NET_F_MAC) ?
                        (uint8_t)virtio_config_read(&dev, CONFIG_MAC + i, 1) : 0;
    if (virtio_has(&dev, VIRTIO_NET_F_MTU))
        status.mtu = (uint16_t)virtio_config_read(&dev, CONFIG_MTU, 2);
    status.link_up = 1;
    status.msix = dev.msix;

    if (dev.msix) {
        dev.transport->set_vector(&dev, -1, 0);
        dev.transport->set_vector(&dev, RX_QUEUE, 1);
        dev.transport->set_vector(&dev, TX_QUEUE, 2);
        for (irq_count = 0; irq_count < 3; irq_count++)
            if ((irqs[irq_count] = dev.transport->irq_open(&dev, (int)irq_count)) < 0)
                fail();
    } else {
        if ((irqs[0] = dev.transport->irq_open(&dev, -1)) < 0)
            fail();
        irq_count = 1;
    }
    _Static_assert(sizeof rx_ring >= 8192 && QUEUE_SIZE <= 256, "rings fit");
    if (virtq_memory(QUEUE_SIZE) > sizeof rx_ring ||
        virtq_init(&dev, &rx, RX_QUEUE, QUEUE_SIZE, rx_ring) < 0 ||
        virtq_init(&dev, &tx, TX_QUEUE, QUEUE_SIZE, tx_ring) < 0)
        fail();
    virtio_driver_ok(&dev);
    for (uint32_t slot = 0; slot < BUFFERS; slot++)
        rx_post(slot);
    if (virtq_sync(&rx) < 0)
        fail();
}

int main(void)
{
    rx_channel = open_channel("net.rx");
    tx_channel = open_channel("net.tx");
    status_channel = open_channel("net.status");
    start();
    send_status();

    int32_t handles[4];
    unsigned count = 0;
    for (unsigned i = 0; i < irq_count; i++)
        handles[count++] = irqs[i];
    if (tx_channel)
        handles[count++] = tx_channel;
    for (;;) {
        service_rx();
        service_tx();
        if (status_asked && tx_tail == tx_head) {
            send_status();              /* every frame sent before the question has left */
            status_asked = false;
        }
        int32_t ready = ath_wait(handles, (int32_t)count, ATH_FOREVER);
        if (ready < 0)
            fail();
        if ((unsigned)ready < irq_count) {
            ath_irq_wait(handles[ready]);       /* takes what woke us: does not block */
            uint8_t cause = dev.msix ? (ready == 0 ? VIRTIO_ISR_CONFIG : 0)
                                     : dev.transport->isr(&dev);
            if (cause & VIRTIO_ISR_CONFIG)
                send_status();
        }
    }
}
