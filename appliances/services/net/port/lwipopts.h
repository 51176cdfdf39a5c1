/*
 * lwIP's configuration for Azoth's TCP/IP stack module (docs/networking.md explains each
 * value). Event-driven (NO_SYS, the raw API): one loop in net.c takes frames
 * from the virtio-net driver's channel and socket events from the kernel, and runs the timers.
 *
 * Memory: lwIP's own fixed pools and heap, static arrays in the module's linear memory; no
 * malloc. A flood of SYNs, a zero window, a peer that never reads exhaust these pools and
 * nothing else: lwIP then drops or refuses, and the module's memory never grows.
 */
#ifndef NET_LWIPOPTS_H
#define NET_LWIPOPTS_H

/* ---- The platform ------------------------------------------------------------------------- */
#define NO_SYS                      1       /* no threads: the raw API, one loop */
#define SYS_LIGHTWEIGHT_PROT        0
#define LWIP_SOCKET                 0       /* apps' sockets are the kernel's (WASI) */
#define LWIP_NETCONN                0
#define LWIP_RAW                    0
#define LWIP_SUPPORT_CUSTOM_PBUF    1       /* IP_FRAG: fragments reference the datagram */
#ifdef __wasm32__
#define MEM_ALIGNMENT               4
#else
#define MEM_ALIGNMENT               8       /* the host build (tests/fuzz): 64-bit pointers */
#endif
#define MEM_LIBC_MALLOC             0
#define MEMP_MEM_MALLOC             0
#define LWIP_STATS                  1       /* pool use, for the stack's stats line */
#define LWIP_STATS_DISPLAY          0
#define LINK_STATS                  1
#define MEM_STATS                   1
#define MEMP_STATS                  1
#define SYS_STATS                   0
#define IP_STATS                    0
#define ICMP_STATS                  0
#define UDP_STATS                   0
#define TCP_STATS                   1
#define ETHARP_STATS                1

/* ---- Pools (each a static array): the stack's whole memory bound ---------------------------- */
#define MEM_SIZE                    (512 * 1024)  /* heap: outgoing segments (tcp_write copies) */
#define PBUF_POOL_SIZE              256     /* pooled buffers: outgoing headers, reassembly */
#define PBUF_POOL_BUFSIZE           1600
#define MEMP_NUM_PBUF               512     /* pbuf headers for referenced data (ROM, REF) */
#define MEMP_NUM_TCP_PCB            256     /* connections: as many as the kernel has sockets */
#define MEMP_NUM_TCP_PCB_LISTEN     16
#define MEMP_NUM_TCP_SEG            1024    /* segments queued to send or unacknowledged */
#define MEMP_NUM_UDP_PCB            32
#define MEMP_NUM_REASSDATA          8       /* IPv4 datagrams being reassembled at once */
#define MEMP_NUM_FRAG_PBUF          32
#define MEMP_NUM_ARP_QUEUE          64
#define MEMP_NUM_SYS_TIMEOUT        (LWIP_NUM_SYS_TIMEOUT_INTERNAL + 2)
#define IP_REASS_MAX_PBUFS          32      /* pbufs one reassembly may hold */
#define TCP_OOSEQ_MAX_PBUFS         16      /* out-of-order segments one connection may hold */
#define TCP_OOSEQ_MAX_BYTES         (16 * 1024)

/* ---- Protocols ---------------------------------------------------------------------------- */
#define LWIP_ARP                    1
#define LWIP_ETHERNET               1
#define ARP_TABLE_SIZE              32
#define ARP_QUEUEING                1
#define ARP_QUEUE_LEN               64      /* packets waiting for one address's answer: a burst
                                               of SYN-ACKs to a host not in the table yet */
#define ETHARP_SUPPORT_VLAN         0
#define LWIP_IPV4                   1
#define LWIP_IPV6                   0       /* the socket ABI carries IPv4 addresses only */
#define IP_FORWARD                  0
#define IP_REASSEMBLY               1
#define IP_FRAG                     1
#define LWIP_ICMP                   1       /* echo */
#define LWIP_BROADCAST_PING         0
#define LWIP_MULTICAST_PING         0
#define LWIP_IGMP                   0
#define LWIP_DHCP                   1
#define LWIP_DHCP_DOES_ACD_CHECK    0
#define DHCP_DOES_ARP_CHECK         0       /* no 1-2 s of probing before the address is used */
#define LWIP_AUTOIP                 0
#define LWIP_DNS                    1       /* DHCP's name servers (printed); apps ask DNS
                                               themselves, over a udp grant */
#define DNS_MAX_SERVERS             2
#define LWIP_UDP                    1
#define LWIP_TCP                    1
#define TCP_MSS                     1460
#define LWIP_WND_SCALE              1       /* window scaling (RFC 7323) */
#define TCP_RCV_SCALE               1
#define TCP_WND                     (16 * 1024)   /* = the kernel's socket_buffer: the window
                                                     is the room in the app's ring (net.c) */
#define TCP_SND_BUF                 (32 * 1024)
#define TCP_SND_QUEUELEN            ((4 * TCP_SND_BUF + TCP_MSS - 1) / TCP_MSS)
#define TCP_LISTEN_BACKLOG          1
#define TCP_DEFAULT_LISTEN_BACKLOG  128     /* the kernel's socket_backlog */
#define TCP_QUEUE_OOSEQ             1
#define LWIP_TCP_SACK_OUT           0
#define LWIP_TCP_TIMESTAMPS         0
#define TCP_MAXRTX                  8
#define TCP_SYNMAXRTX               4
#define LWIP_TCP_KEEPALIVE          0
#define LWIP_CALLBACK_API           1
#define LWIP_NETIF_STATUS_CALLBACK  1
#define LWIP_NETIF_LINK_CALLBACK    1
#define LWIP_NETIF_HOSTNAME         1
#define LWIP_SINGLE_NETIF           1
#define LWIP_CHECKSUM_ON_COPY       0
/* The driver completes a partial checksum before a frame arrives: every checksum is checked. */
#define CHECKSUM_CHECK_IP           1
#define CHECKSUM_CHECK_TCP          1
#define CHECKSUM_CHECK_UDP          1
#define CHECKSUM_CHECK_ICMP         1

#define LWIP_DEBUG                  0
#define LWIP_NOASSERT               0       /* assertions trap: a restart, or a fuzzer's report */

#endif
