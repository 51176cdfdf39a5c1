/*
 * What the virtio-net driver and the module it serves say to each other over their channels
 * (appliances/drivers/virtio-net/virtio_net.c):
 *
 *   net.rx      driver -> app   one received Ethernet frame per message (no FCS), 14..NET_FRAME_MAX bytes
 *   net.tx      app -> driver   one frame to send per message; an empty message asks for a status,
 *                               which comes once every frame sent before it has left the device
 *   net.status  driver -> app   struct net_status
 *
 * The channels' message_size must be at least NET_FRAME_MAX (2044). Batches use slots of
 * NET_SLOT bytes: [u32 length][frame].
 */
#ifndef NET_H
#define NET_H

#include <stdint.h>

#define NET_SLOT 2048
#define NET_FRAME_MAX (NET_SLOT - 4)
#define NET_STATUS_MAGIC 0x5354454eu   /* "NETS" */

struct net_status {
    uint32_t magic;
    uint8_t mac[6];
    uint16_t mtu;
    uint8_t link_up;                   /* the device says the link is up (or cannot say) */
    uint8_t msix;                      /* interrupts: 1 MSI-X, 0 INTx */
    uint16_t reserved;
    uint32_t restarts;                 /* times the driver was restarted */
    uint32_t rx_frames, rx_drops;      /* since the driver's last start */
    uint32_t tx_frames, tx_drops;
};

#endif
