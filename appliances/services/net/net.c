/*
 * lwIP between the virtio-net driver and the kernel's sockets (docs/runtime.md, "The TCP/IP
 * stack"). Frames come from net.rx as channel batches, are copied into lwIP's pool and go up
 * the stack; frames lwIP makes are gathered into batch slots and sent to net.tx. Socket events
 * from the kernel (athanor.net_events) become lwIP calls; lwIP's callbacks become net_push
 * (bytes for an app), net_pull (bytes from it) and net_control (accepted, connected, failed,
 * released).
 *
 * Flow control without holding data: a stream's receive window is the room in its app's
 * kernel ring. The stack calls tcp_recved() only for bytes the app has read (the room in each
 * event record says how much), so a peer can never send more than the ring holds and every
 * segment lwIP delivers is pushed whole at once. A peer that never reads, or an app that never
 * reads, stalls its own connection only. Bytes to send are pulled only as far as lwIP's send
 * buffer has room, into lwIP's heap (tcp_write copies).
 */
#include <stdio.h>
#include <string.h>

#include "lwip/dhcp.h"
#include "lwip/dns.h"
#include "lwip/etharp.h"
#include "lwip/init.h"
#include "lwip/memp.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/stats.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"
#include "lwip/udp.h"
#include "netif/ethernet.h"

#include "../../include/athanor.h"
#include "../../drivers/virtio-net/net.h"
#include "net.h"

/* WASI errno values the kernel passes on to the app (docs/kernel-abi.md) */
enum { E_ADDRINUSE = 3, E_CONNABORTED = 13, E_CONNREFUSED = 14, E_CONNRESET = 15,
       E_HOSTUNREACH = 23, E_TIMEDOUT = 73 };

#define TX_BATCH 64
#define PULL_CHUNK 8192

struct conn {
    uint32_t socket;                /* 0: unused */
    uint8_t kind;                   /* 1 stream, 2 datagram, 3 listening */
    struct tcp_pcb *pcb;
    struct udp_pcb *udp;
    uint32_t in_ring;               /* bytes pushed that the app has not read yet */
    uint32_t unacked;               /* bytes read by the app, not yet given to tcp_recved */
    struct pbuf *held;              /* received bytes the ring could not take (rare) */
    bool fin;                       /* the peer ended its stream */
    bool fin_pushed;
    bool connecting;
    bool shutdown_wanted, close_wanted;
};

static struct conn conns[NET_SOCKETS];
static struct netif netif;
static const struct net_config *config;
static uint8_t tx_slots[TX_BATCH][NET_SLOT];
static uint32_t tx_count;
static int32_t net_handle, tx_handle;
static uint8_t pull_buffer[PULL_CHUNK + NET_DATAGRAM_HEADER];
static struct {
    uint32_t frames_in, frames_out, tx_full, accepted, refused;
    uint32_t driver[4];
    uint64_t next_stats;
} counters;

static void start_send(struct conn *c);
static void finish(struct conn *c);

unsigned int net_random(void)
{
    uint32_t value = 0;
    ath_random(&value, sizeof value);
    return value;
}

u32_t sys_now(void)
{
    return (u32_t)((uint64_t)ath_clock() / 1000000u);
}

static struct conn *conn_of(uint32_t socket)
{
    return (socket & 0xffff) < NET_SOCKETS ? &conns[socket & 0xffff] : NULL;
}

static void ip_text(uint32_t a, char out[16])
{
    snprintf(out, 16, "%u.%u.%u.%u", (unsigned)(a >> 24), (unsigned)(a >> 16 & 255),
             (unsigned)(a >> 8 & 255), (unsigned)(a & 255));
}

static uint32_t number_of(const ip_addr_t *a) { return lwip_ntohl(ip4_addr_get_u32(a)); }
static void set_number(ip_addr_t *a, uint32_t n) { ip4_addr_set_u32(a, lwip_htonl(n)); }

static void control(struct conn *c, int op, uint32_t address, uint32_t port)
{
    int32_t r = ath_net_control(net_handle, (int32_t)c->socket, op, (int32_t)address,
                                (int32_t)port);
    if (r < 0 && config->verbose)
        printf("[net] net_control %d of socket %08x: %d\n", op, (unsigned)c->socket, (int)r);
}

/* The stack is done with the socket: tell the kernel, forget it. */
static void release(struct conn *c)
{
    if (c->held)
        pbuf_free(c->held);
    control(c, NET_RELEASE, 0, 0);
    memset(c, 0, sizeof *c);
}

/* ---- The link ------------------------------------------------------------------------------- */
void net_flush(int32_t tx_channel);

static err_t link_output(struct netif *n, struct pbuf *p)
{
    (void)n;
    if (p->tot_len > NET_FRAME_MAX)
        return ERR_IF;
    if (tx_count == TX_BATCH) {
        counters.tx_full++;
        net_flush(tx_handle);       /* a full batch goes now (blocking while net.tx is full) */
    }
    uint8_t *slot = tx_slots[tx_count++];
    uint32_t length = pbuf_copy_partial(p, slot + 4, p->tot_len, 0);
    memcpy(slot, &length, 4);
    counters.frames_out++;
    return ERR_OK;
}

void net_flush(int32_t tx_channel)
{
    tx_handle = tx_channel;
    uint32_t sent = 0;
    while (sent < tx_count) {
        int32_t n = ath_channel_send_batch(tx_channel, tx_slots[sent], (int32_t)(tx_count - sent),
                                           NET_SLOT, 0);
        if (n <= 0)
            break;                  /* the frames are lost: TCP sends them again */
        sent += (uint32_t)n;
    }
    tx_count = 0;
}

static err_t netif_setup(struct netif *n)
{
    n->name[0] = 'e';
    n->name[1] = 'n';
    n->linkoutput = link_output;
    n->output = etharp_output;
    n->hwaddr_len = ETH_HWADDR_LEN;
    n->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET;
    return ERR_OK;
}

static void on_status(struct netif *n)
{
    char address[16], mask[16], gateway[16], dns[16];
    if (ip4_addr_isany_val(*netif_ip4_addr(n)))
        return;
    ip_text(number_of(netif_ip_addr4(n)), address);
    ip_text(number_of(netif_ip_netmask4(n)), mask);
    ip_text(number_of(netif_ip_gw4(n)), gateway);
    ip_text(number_of(dns_getserver(0)), dns);
    if (!ip4_addr_isany_val(*netif_ip4_gw(n)))
        etharp_request(n, netif_ip4_gw(n));     /* the router's MAC before the first packet */
    printf("[net] up: address %s netmask %s gateway %s dns %s mtu %u (%s)\n", address, mask,
           gateway, dns, (unsigned)n->mtu, config->dhcp ? "dhcp" : "static");
    fflush(stdout);
}

void net_start(const struct net_config *c, const uint8_t mac[6], uint16_t device_mtu)
{
    config = c;
    lwip_init();
    ip_addr_t address, netmask, gateway;
    set_number(&address, c->dhcp ? 0 : c->address);
    set_number(&netmask, c->dhcp ? 0 : c->netmask);
    set_number(&gateway, c->dhcp ? 0 : c->gateway);
    netif_add(&netif, ip_2_ip4(&address), ip_2_ip4(&netmask), ip_2_ip4(&gateway), NULL,
              netif_setup, ethernet_input);
    memcpy(netif.hwaddr, mac, 6);
    netif.mtu = c->mtu && c->mtu < device_mtu ? c->mtu : device_mtu;
    if (c->hostname)
        netif_set_hostname(&netif, c->hostname);
    for (int i = 0; i < DNS_MAX_SERVERS; i++) {
        if (c->dns[i]) {
            ip_addr_t server;
            set_number(&server, c->dns[i]);
            dns_setserver((u8_t)i, &server);
        }
    }
    netif_set_default(&netif);
    netif_set_status_callback(&netif, on_status);
    netif_set_link_up(&netif);
    netif_set_up(&netif);
    if (c->dhcp)
        dhcp_start(&netif);
}

void net_link(bool up)
{
    if (up)
        netif_set_link_up(&netif);
    else
        netif_set_link_down(&netif);
}

void net_input(const uint8_t *frame, uint32_t length)
{
    if (length < 14 || length > NET_FRAME_MAX)
        return;
    struct pbuf *p = pbuf_alloc(PBUF_RAW, (u16_t)length, PBUF_POOL);
    if (!p)
        return;                     /* the pool is spent: dropped, as a full NIC would */
    pbuf_take(p, frame, (u16_t)length);
    counters.frames_in++;
    if (netif.input(p, &netif) != ERR_OK)
        pbuf_free(p);
}

uint32_t net_timers(void)
{
    sys_check_timeouts();
    u32_t ms = sys_timeouts_sleeptime();
    return ms == SYS_TIMEOUTS_SLEEPTIME_INFINITE ? UINT32_MAX : ms;
}

/* ---- Streams: received bytes go to the app's ring --------------------------------------------- */
/* Pushes what is held (normally nothing stays), then the end if the peer sent it. */
static void push_held(struct conn *c)
{
    while (c->held) {
        struct pbuf *q = c->held;
        int32_t n = ath_net_push(net_handle, (int32_t)c->socket, q->payload, q->len, 0);
        if (n <= 0)
            return;
        c->in_ring += (uint32_t)n;
        if ((u16_t)n < q->len) {
            c->held = pbuf_free_header(q, (u16_t)n);
            return;
        }
        c->held = q->next;
        if (c->held)
            pbuf_ref(c->held);
        pbuf_free(q);
    }
    if (c->fin && !c->fin_pushed &&
        ath_net_push(net_handle, (int32_t)c->socket, NULL, 0, NET_PUSH_END) >= 0)
        c->fin_pushed = true;
}

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
    struct conn *c = arg;
    (void)err;
    if (!c) {                       /* closed by the app: drop what still comes */
        if (p) {
            tcp_recved(pcb, p->tot_len);
            pbuf_free(p);
        }
        return ERR_OK;
    }
    if (!p) {
        c->fin = true;
        push_held(c);
        return ERR_OK;
    }
    if (c->held) {
        pbuf_cat(c->held, p);
    } else {
        c->held = p;
    }
    push_held(c);
    return ERR_OK;
}

/* The app read: tcp_recved() what it took, which opens the window. */
static void app_read(struct conn *c, const struct net_event *e)
{
    uint32_t now = e->ring_capacity - e->rx_room;
    if (now < c->in_ring) {
        uint32_t taken = c->in_ring - now;
        c->in_ring = now;
        if (c->pcb)
            tcp_recved(c->pcb, (u16_t)(taken > 0xffff ? 0xffff : taken));
    }
    push_held(c);
}

/* ---- Streams: bytes the app sent go out ------------------------------------------------------- */
static void start_send(struct conn *c)
{
    if (!c->pcb || c->connecting)
        return;
    for (;;) {
        u32_t room = tcp_sndbuf(c->pcb);
        if (room == 0 || tcp_sndqueuelen(c->pcb) >= TCP_SND_QUEUELEN - 4)
            break;
        uint32_t want = room < PULL_CHUNK ? room : PULL_CHUNK;
        int32_t n = ath_net_pull(net_handle, (int32_t)c->socket, pull_buffer, (int32_t)want);
        if (n <= 0)
            break;
        err_t e = tcp_write(c->pcb, pull_buffer, (u16_t)n, TCP_WRITE_FLAG_COPY);
        if (e != ERR_OK) {
            /* lwIP's heap is spent: the bytes are lost to this connection, which is
             * reset rather than left with a hole in its stream */
            control(c, NET_ERROR, E_CONNABORTED, 0);
            tcp_abort(c->pcb);
            return;                 /* on_error released it */
        }
    }
    tcp_output(c->pcb);
    finish(c);
}

/* The app's shutdown or close, once everything it sent is out of its ring. */
static void finish(struct conn *c)
{
    if (!c->pcb || c->connecting)
        return;
    if (c->close_wanted) {
        struct tcp_pcb *pcb = c->pcb;
        tcp_arg(pcb, NULL);
        tcp_sent(pcb, NULL);
        tcp_err(pcb, NULL);
        tcp_poll(pcb, NULL, 0);
        if (tcp_close(pcb) != ERR_OK)
            tcp_abort(pcb);
        c->pcb = NULL;
        release(c);
    } else if (c->shutdown_wanted) {
        c->shutdown_wanted = false;
        tcp_shutdown(c->pcb, 0, 1);
    }
}

static err_t on_sent(void *arg, struct tcp_pcb *pcb, u16_t length)
{
    (void)pcb, (void)length;
    if (arg)
        start_send(arg);
    return ERR_OK;
}

static err_t on_poll(void *arg, struct tcp_pcb *pcb)
{
    (void)pcb;
    if (arg)
        start_send(arg);
    return ERR_OK;
}

static void on_error(void *arg, err_t err)
{
    struct conn *c = arg;
    if (!c)
        return;
    c->pcb = NULL;                  /* lwIP freed it */
    int errno_value = err == ERR_RST ? (c->connecting ? E_CONNREFUSED : E_CONNRESET)
                    : err == ERR_ABRT ? (c->connecting ? E_TIMEDOUT : E_CONNABORTED)
                    : E_CONNRESET;
    if (!c->close_wanted)
        control(c, NET_ERROR, (uint32_t)errno_value, 0);
    release(c);
}

static void attach(struct conn *c, struct tcp_pcb *pcb)
{
    c->pcb = pcb;
    tcp_arg(pcb, c);
    tcp_recv(pcb, on_recv);
    tcp_sent(pcb, on_sent);
    tcp_err(pcb, on_error);
    tcp_poll(pcb, on_poll, 2);
    tcp_nagle_disable(pcb);         /* answers go out as the app writes them */
}

static err_t on_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
    struct conn *listener = arg;
    if (err != ERR_OK || !pcb || !listener)
        return ERR_VAL;
    int32_t socket = ath_net_control(net_handle, (int32_t)listener->socket, NET_ACCEPTED,
                                     (int32_t)number_of(&pcb->remote_ip), pcb->remote_port);
    struct conn *c = socket > 0 ? conn_of((uint32_t)socket) : NULL;
    if (!c || c->socket) {
        counters.refused++;
        tcp_abort(pcb);             /* the app's backlog is full: refused */
        return ERR_ABRT;
    }
    counters.accepted++;
    memset(c, 0, sizeof *c);
    c->socket = (uint32_t)socket;
    c->kind = 1;
    attach(c, pcb);
    return ERR_OK;
}

static err_t on_connected(void *arg, struct tcp_pcb *pcb, err_t err)
{
    struct conn *c = arg;
    if (!c)
        return ERR_OK;
    (void)err;
    c->connecting = false;
    control(c, NET_CONNECTED, 0, pcb->local_port);
    start_send(c);
    return ERR_OK;
}

/* ---- Datagrams ------------------------------------------------------------------------------ */
static void on_datagram(void *arg, struct udp_pcb *pcb, struct pbuf *p, const ip_addr_t *from,
                        u16_t port)
{
    struct conn *c = arg;
    (void)pcb;
    uint16_t length = p->tot_len;
    if (c && length <= PULL_CHUNK) {
        uint32_t address = number_of(from);
        memcpy(pull_buffer, &address, 4);
        memcpy(pull_buffer + 4, &port, 2);
        memcpy(pull_buffer + 6, &length, 2);
        pbuf_copy_partial(p, pull_buffer + NET_DATAGRAM_HEADER, length, 0);
        ath_net_push(net_handle, (int32_t)c->socket, pull_buffer,
                     (int32_t)(NET_DATAGRAM_HEADER + length), 0);   /* no room: dropped */
    }
    pbuf_free(p);
}

static void send_datagrams(struct conn *c)
{
    for (;;) {
        int32_t n = ath_net_pull(net_handle, (int32_t)c->socket, pull_buffer, sizeof pull_buffer);
        if (n < NET_DATAGRAM_HEADER)
            return;
        uint32_t address;
        uint16_t port, length;
        memcpy(&address, pull_buffer, 4);
        memcpy(&port, pull_buffer + 4, 2);
        memcpy(&length, pull_buffer + 6, 2);
        if ((uint32_t)n != NET_DATAGRAM_HEADER + length || !c->udp)
            continue;
        struct pbuf *p = pbuf_alloc(PBUF_TRANSPORT, length, PBUF_RAM);
        if (!p)
            continue;               /* dropped, as UDP may */
        pbuf_take(p, pull_buffer + NET_DATAGRAM_HEADER, length);
        ip_addr_t to;
        set_number(&to, address);
        udp_sendto(c->udp, p, &to, port);
        pbuf_free(p);
    }
}

/* ---- The kernel's events ---------------------------------------------------------------------- */
static void listen_on(struct conn *c, uint16_t port)
{
    struct tcp_pcb *pcb = tcp_new();
    if (!pcb || tcp_bind(pcb, IP_ADDR_ANY, port) != ERR_OK) {
        if (pcb)
            tcp_close(pcb);
        printf("[net] cannot listen on port %u\n", (unsigned)port);
        control(c, NET_ERROR, E_ADDRINUSE, 0);
        release(c);
        return;
    }
    struct tcp_pcb *listening = tcp_listen_with_backlog(pcb, TCP_DEFAULT_LISTEN_BACKLOG);
    if (!listening) {
        tcp_close(pcb);
        control(c, NET_ERROR, E_ADDRINUSE, 0);
        release(c);
        return;
    }
    c->pcb = listening;
    tcp_arg(listening, c);
    tcp_accept(listening, on_accept);
    if (config->verbose)
        printf("[net] listening on port %u\n", (unsigned)port);
}

static void connect_to(struct conn *c, const struct net_event *e)
{
    struct tcp_pcb *pcb = tcp_new();
    if (!pcb) {
        control(c, NET_ERROR, E_CONNABORTED, 0);
        release(c);
        return;
    }
    attach(c, pcb);
    c->connecting = true;
    ip_addr_t to;
    set_number(&to, e->remote_address);
    if (tcp_connect(pcb, &to, e->remote_port, on_connected) != ERR_OK) {
        tcp_arg(pcb, NULL);
        tcp_abort(pcb);
        control(c, NET_ERROR, E_HOSTUNREACH, 0);
        release(c);
    }
}

static void open_datagram(struct conn *c)
{
    c->udp = udp_new();
    if (!c->udp || udp_bind(c->udp, IP_ADDR_ANY, 0) != ERR_OK) {
        if (c->udp)
            udp_remove(c->udp);
        control(c, NET_ERROR, E_ADDRINUSE, 0);
        release(c);
        return;
    }
    udp_recv(c->udp, on_datagram, c);
}

static void close_conn(struct conn *c)
{
    if (c->kind == 3) {
        if (c->pcb) {
            tcp_arg(c->pcb, NULL);
            tcp_close(c->pcb);
        }
        c->pcb = NULL;
        release(c);
    } else if (c->kind == 2) {
        if (c->udp)
            udp_remove(c->udp);
        release(c);
    } else if (!c->pcb) {
        release(c);
    } else {
        c->close_wanted = true;
        if (c->connecting) {
            tcp_arg(c->pcb, NULL);
            tcp_abort(c->pcb);
            c->pcb = NULL;
            release(c);
            return;
        }
        start_send(c);              /* what is left in its ring, then the close */
    }
}

static void on_event(const struct net_event *e)
{
    struct conn *c = conn_of(e->socket);
    if (!c)
        return;
    if (c->socket != e->socket) {   /* a socket the stack meets for the first time */
        if (c->socket)
            return;                 /* cannot be: the kernel frees a number before reuse */
        memset(c, 0, sizeof *c);
        c->socket = e->socket;
        c->kind = e->kind;
    }
    uint32_t ev = e->events;
    if (ev & NET_EVENT_LISTEN)
        listen_on(c, e->local_port);
    else if (ev & NET_EVENT_CONNECT)
        connect_to(c, e);
    else if (ev & NET_EVENT_DATAGRAM)
        open_datagram(c);
    if (!c->socket)
        return;                     /* released already */
    if (ev & NET_EVENT_READ)
        app_read(c, e);
    if (ev & NET_EVENT_SHUTDOWN)
        c->shutdown_wanted = true;
    if (ev & NET_EVENT_CLOSE) {
        close_conn(c);
        return;
    }
    if (c->kind == 2 && (ev & NET_EVENT_SEND))
        send_datagrams(c);
    else if (c->kind == 1 && (ev & (NET_EVENT_SEND | NET_EVENT_SHUTDOWN)))
        start_send(c);
}

bool net_socket_events(int32_t handle)
{
    static struct net_event events[64];
    net_handle = handle;
    int32_t n = ath_net_events(handle, events, 64);
    for (int32_t i = 0; i < n; i++)
        on_event(&events[i]);
    return n > 0;
}

/* ---- Stats ------------------------------------------------------------------------------------ */
void net_driver_counters(uint32_t rx_frames, uint32_t rx_drops, uint32_t tx_frames,
                         uint32_t tx_drops)
{
    counters.driver[0] = rx_frames;
    counters.driver[1] = rx_drops;
    counters.driver[2] = tx_frames;
    counters.driver[3] = tx_drops;
}

/* The module's linear memory (on the host, under the fuzzer: none to speak of). */
static unsigned long memory_kib(void)
{
#ifdef __wasm__
    return (unsigned long)__builtin_wasm_memory_size(0) * 64;
#else
    return 0;
#endif
}

bool net_stats(bool now)
{
    if (!config || (!config->stats_every_ms && !now))
        return false;
    uint64_t t = (uint64_t)ath_clock();
    if (!now && t < counters.next_stats)
        return false;
    counters.next_stats = t + (uint64_t)config->stats_every_ms * 1000000u;
    unsigned pcbs = 0, open = 0;
    for (int i = 0; i < NET_SOCKETS; i++)
        open += conns[i].socket != 0;
#if MEMP_STATS
    pcbs = lwip_stats.memp[MEMP_TCP_PCB]->used;
    unsigned pool_used = lwip_stats.memp[MEMP_PBUF_POOL]->used;
    unsigned pool_max = lwip_stats.memp[MEMP_PBUF_POOL]->max;
#else
    unsigned pool_used = 0, pool_max = 0;
#endif
    printf("[net] stats: memory %lu KiB, pool %u used (%u at most) of %u, heap %lu used (%lu at "
           "most) of %u, tcp pcbs %u, sockets %u, frames in %u out %u, accepted %u refused %u; tcp "
           "in %u dropped %u (memory %u, checksum %u, protocol %u); arp dropped %u; driver rx %u "
           "dropped %u tx %u dropped %u\n",
           memory_kib(), pool_used, pool_max,
           (unsigned)PBUF_POOL_SIZE, (unsigned long)lwip_stats.mem.used,
           (unsigned long)lwip_stats.mem.max, (unsigned)MEM_SIZE, pcbs, open,
           (unsigned)counters.frames_in, (unsigned)counters.frames_out,
           (unsigned)counters.accepted, (unsigned)counters.refused,
           (unsigned)lwip_stats.tcp.recv, (unsigned)lwip_stats.tcp.drop,
           (unsigned)lwip_stats.tcp.memerr, (unsigned)lwip_stats.tcp.chkerr,
           (unsigned)lwip_stats.tcp.proterr, (unsigned)lwip_stats.etharp.drop,
           (unsigned)counters.driver[0], (unsigned)counters.driver[1],
           (unsigned)counters.driver[2], (unsigned)counters.driver[3]);
    fflush(stdout);
    return true;
}
