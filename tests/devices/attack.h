/*
 * Shared by the hostile drivers of tests/test_attack_dma.py and tests/test_attack_pci.py: a
 * virtio-net device under QEMU's user networking, reporting through athanor.log.
 *
 *   expect("what", got, want)   logs "ok what" or "FAIL what: got G, expected W" (counted)
 *   arp_exchange(&dev, &rx, &tx, area)   asks 10.0.2.2 for its MAC address: true when the
 *                                        reply landed in the receive buffers, which must be in
 *                                        the DMA region
 *   finish()                    tells the victim it is over ("done"), or ends the appliance
 *                               with 3 when an expectation failed
 */
#ifndef ATTACK_H
#define ATTACK_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "virtio.h"

#define NET_F_MAC (1ull << 5)
#define RX 0
#define TX 1
#define QUEUE 16
#define SLOT 2048

/* The DMA region: receive buffers, a transmit buffer, virtio-net headers; whole pages (dma_map
 * takes the region over whole pages: nothing else may share them). */
struct area {
    uint8_t rx[QUEUE / 2][SLOT];
    uint8_t tx[SLOT];
    uint8_t hdr[QUEUE][16];
} __attribute__((aligned(4096)));
#define AREA_BYTES sizeof(struct area)

static int failures;

static void say(const char *format, ...)
{
    char line[240];
    va_list ap;
    va_start(ap, format);
    int n = vsnprintf(line, sizeof line, format, ap);
    va_end(ap);
    ath_log(line, n < (int)sizeof line ? n : (int)sizeof line - 1);
}

static void expect(const char *what, long long got, long long want)
{
    if (got == want) {
        say("ok %s", what);
    } else {
        failures++;
        say("FAIL %s: got %lld, expected %lld", what, got, want);
    }
}

static void post_receive_buffers(struct virtq *rx, struct area *a)
{
    for (unsigned i = 0; i < QUEUE / 2; i++) {
        struct virtq_buffer chain[2] = { { a->hdr[i], 12, true }, { a->rx[i], SLOT, true } };
        virtq_add(rx, chain, 2, (void *)(uintptr_t)(i + 1));
    }
}

/* An ARP request for 10.0.2.2 from 10.0.2.15; true when the answer came back into one of the
 * receive buffers. The chains' descriptors in the driver's own rings may have been rewritten
 * since they were published: the device works from the kernel's copies. */
static bool arp_exchange(struct virtio_device *d, struct virtq *rx, struct virtq *tx,
                         struct area *a)
{
    uint8_t mac[6];
    for (unsigned i = 0; i < 6; i++)
        mac[i] = (uint8_t)virtio_config_read(d, i, 1);
    static const uint8_t request[28] = { 0, 1, 8, 0, 6, 4, 0, 1 };
    uint8_t *f = a->tx;
    memset(f, 0xff, 6);
    memcpy(f + 6, mac, 6);
    f[12] = 0x08;
    f[13] = 0x06;
    memcpy(f + 14, request, 8);
    memcpy(f + 22, mac, 6);
    memcpy(f + 28, (uint8_t[]){ 10, 0, 2, 15 }, 4);
    memset(f + 32, 0, 6);
    memcpy(f + 38, (uint8_t[]){ 10, 0, 2, 2 }, 4);
    memset(a->hdr[QUEUE - 1], 0, 12);
    struct virtq_buffer chain[2] = { { a->hdr[QUEUE - 1], 12, false }, { f, 60, false } };
    if (!virtq_add(tx, chain, 2, (void *)1) || virtq_sync(tx) < 0)
        return false;
    for (int tries = 0; tries < 2000; tries++) {
        if (virtq_sync(rx) < 0)
            return false;
        uint32_t len;
        void *cookie;
        while ((cookie = virtq_used(rx, &len))) {
            const uint8_t *got = a->rx[(uintptr_t)cookie - 1];
            if (got[12] == 0x08 && got[13] == 0x06 && got[21] == 2 &&
                !memcmp(got + 28, (uint8_t[]){ 10, 0, 2, 2 }, 4))
                return true;
        }
        ath_sleep(1000000);
    }
    return false;
}

static void finish(void)
{
    if (failures) {
        say("%d expectations failed", failures);
        ath_exit(3);
    }
    say("every attack refused");
    int32_t done = ath_channel_open("done", 4);
    ath_channel_send(done, "done", 4, 0);
}

#endif
