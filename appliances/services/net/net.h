/*
 * The TCP/IP stack module's parts (appliances/services/net): net.c runs lwIP between the
 * virtio-net driver's channels and the kernel's sockets; main.c reads the configuration and
 * loops; tests/fuzz/net_input.c drives net.c on the host, under libFuzzer.
 *
 * What the kernel says about a socket (athanor.net_events) and what the stack answers
 * (athanor.net_control) are defined in docs/kernel-abi.md, "The stack's functions"; athanor/
 * socket.c is the other side.
 */
#ifndef NET_NET_H
#define NET_NET_H

#include <stdbool.h>
#include <stdint.h>

/* net_events record bits */
#define NET_EVENT_LISTEN    0x01u   /* a listening socket: bind and listen on its local port */
#define NET_EVENT_CONNECT   0x02u   /* a stream: connect to its remote address and port */
#define NET_EVENT_DATAGRAM  0x04u   /* a datagram socket: bind an ephemeral port */
#define NET_EVENT_SEND      0x08u   /* the app sent bytes: net_pull them */
#define NET_EVENT_READ      0x10u   /* the app read: room in its ring (the window opens) */
#define NET_EVENT_SHUTDOWN  0x20u   /* the app sends no more: end the stream once all is sent */
#define NET_EVENT_CLOSE     0x40u   /* the app closed it: close, then release */

/* net_control operations */
#define NET_ACCEPTED  1
#define NET_CONNECTED 2
#define NET_ERROR     3
#define NET_RELEASE   4
#define NET_PUSH_END  1             /* net_push flag: the peer's stream ends after these bytes */

#define NET_SOCKETS 256             /* the kernel's `sockets` limit (manifest/limits.toml) */
#define NET_DATAGRAM_HEADER 8       /* u32 address, u16 port, u16 length; little-endian */

struct net_event {                  /* a net_events record, 32 bytes */
    uint32_t socket, events;
    uint8_t kind, reserved0;        /* kind: 1 stream, 2 datagram, 3 listening */
    uint16_t local_port;
    uint32_t remote_address;        /* 10.0.2.2 is 0x0a000202 */
    uint16_t remote_port, reserved1;
    uint32_t rx_room, tx_count, ring_capacity;
};

struct net_config {
    bool dhcp;
    uint32_t address, netmask, gateway, dns[2];   /* numbers, as 0x0a00020f */
    uint16_t mtu;                   /* 0: the device's */
    const char *hostname;
    uint32_t stats_every_ms;        /* 0: no stats lines */
    bool verbose;
};

/* Starts lwIP with the device's MAC address and MTU; the configuration's address or DHCP. */
void net_start(const struct net_config *config, const uint8_t mac[6], uint16_t device_mtu);
/* Link status from the driver. */
void net_link(bool up);
/* One received Ethernet frame (copied into lwIP's pool). */
void net_input(const uint8_t *frame, uint32_t length);
/* Takes and acts on the kernel's socket events; true if there were any. */
bool net_socket_events(int32_t handle);
/* lwIP's timers; milliseconds until the next one is due (UINT32_MAX: none). */
uint32_t net_timers(void);
/* Frames lwIP produced since the last call go to the driver (net.tx), in batches. */
void net_flush(int32_t tx_channel);
/* The stats line, when asked for and due; true when it printed one. */
bool net_stats(bool now);
/* The driver's counters (its net.status), for the stats line. */
void net_driver_counters(uint32_t rx_frames, uint32_t rx_drops, uint32_t tx_frames,
                         uint32_t tx_drops);

#endif
