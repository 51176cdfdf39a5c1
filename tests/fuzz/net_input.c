/*
 * The TCP/IP stack's input path under libFuzzer, on the host (tests/fuzz/net_fuzz.py builds
 * and runs it; tests/test_net_fuzz.py replays the corpus and fuzzes for a short while).
 *
 * The same lwIP and the same port layer (appliances/services/net/net.c) as the stack module,
 * compiled natively with ASan and UBSan; the kernel's functions the stack imports are the
 * stubs below, which model the kernel's socket rings and answer as it does. The stack starts
 * once, with the static address 10.0.2.15/24 (router 10.0.2.2, whose ARP answer it has), a
 * listening socket on port 80, a UDP socket and a connection to 10.0.2.2:8000 being made.
 *
 * An input is a sequence of chunks, [op u8][length u16 big-endian][bytes], each one of:
 *
 *   op & 3 == 0   bytes are an Ethernet frame, as they are
 *   op & 3 == 1   bytes are a TCP header and payload, sent in an IPv4 packet from 10.0.2.2 to
 *                 10.0.2.15 with right checksums; op & 4: its acknowledgement number is set to
 *                 what the stack sent last from that destination port (so that handshakes
 *                 complete)
 *   op & 3 == 2   bytes are a UDP header and payload, likewise (lengths and checksum set)
 *   op & 3 == 3   bytes are an IPv4 packet from its header on, in an Ethernet frame to us
 *   op & 0x10     the apps act, by the first byte: read, send, shut down, close a socket
 *   op & 0x80     250 ms pass: lwIP's timers run
 *
 * Between chunks the stack takes the kernel's socket events and flushes what it made, as
 * main.c's loop does. lwIP's assertions abort (port/arch/cc.h): the fuzzer reports them.
 * lwIP's state carries over from one input to the next, as in a long-running stack.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../appliances/include/athanor.h"
#include "../../appliances/drivers/virtio-net/net.h"
#include "../../appliances/services/net/net.h"

#define RING 16384u
#define MAX_EVENTS 64

static const uint8_t OUR_MAC[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t PEER_MAC[6] = { 0x52, 0x55, 0x0a, 0x00, 0x02, 0x02 };
#define OUR_IP   0x0a00020fu
#define PEER_IP  0x0a000202u

static uint64_t now_ns = 1000000000ull;
static uint32_t random_state = 0x2545f491u;

struct stub_socket {
    int used;
    uint8_t kind;               /* 1 stream, 2 datagram, 3 listening */
    uint16_t generation, local_port, remote_port;
    uint32_t remote_address;
    uint32_t rx_count, tx_pending;
    int released;
};
static struct stub_socket socks[NET_SOCKETS];
static struct net_event queue[NET_SOCKETS];
static uint32_t queued;

/* What the stack sent last, per remote port: the fuzzer's acknowledgements follow it. */
static struct { uint16_t port; uint32_t next; } sent_seq[16];

static uint32_t number(uint32_t index) { return (uint32_t)socks[index].generation << 16 | index; }

static struct stub_socket *socket_at(int32_t n)
{
    uint32_t index = (uint32_t)n & 0xffff;
    if (n <= 0 || index >= NET_SOCKETS || !socks[index].used ||
        socks[index].generation != (uint32_t)n >> 16)
        return NULL;
    return &socks[index];
}

static void post(uint32_t index, uint32_t events)
{
    struct stub_socket *s = &socks[index];
    for (uint32_t i = 0; i < queued; i++)
        if (queue[i].socket == number(index)) {
            queue[i].events |= events;
            queue[i].rx_room = RING - s->rx_count;
            queue[i].tx_count = s->tx_pending;
            return;
        }
    if (queued == NET_SOCKETS)
        return;
    queue[queued++] = (struct net_event){
        .socket = number(index), .events = events, .kind = s->kind,
        .local_port = s->local_port, .remote_address = s->remote_address,
        .remote_port = s->remote_port, .rx_room = RING - s->rx_count,
        .tx_count = s->tx_pending, .ring_capacity = RING };
}

static int32_t new_socket(uint8_t kind)
{
    for (uint32_t i = 1; i < NET_SOCKETS; i++)
        if (!socks[i].used) {
            uint16_t generation = (uint16_t)((socks[i].generation + 1) & 0x7fff);
            socks[i] = (struct stub_socket){ .used = 1, .kind = kind,
                                             .generation = generation ? generation : 1 };
            return (int32_t)i;
        }
    return -1;
}

/* ---- The kernel's functions the stack imports ------------------------------------------------ */
int64_t ath_clock(void) { return (int64_t)now_ns; }

int32_t ath_random(void *out, int32_t len)
{
    uint8_t *p = out;
    for (int32_t i = 0; i < len; i++) {
        random_state ^= random_state << 13, random_state ^= random_state >> 17;
        random_state ^= random_state << 5;
        p[i] = (uint8_t)random_state;
    }
    return len;
}

static uint32_t get32be(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int32_t ath_channel_send_batch(int32_t handle, const void *ptr, int32_t count, int32_t slot_size,
                               int32_t flags)
{
    (void)handle, (void)flags;
    const uint8_t *slots = ptr;
    for (int32_t i = 0; i < count; i++) {
        const uint8_t *slot = slots + (size_t)i * (size_t)slot_size;
        uint32_t length;
        memcpy(&length, slot, 4);
        if (length > NET_FRAME_MAX || length < 14)
            abort();                /* the stack made a frame the driver would refuse */
        const uint8_t *f = slot + 4;
        /* a TCP segment to the peer: remember where its stream is */
        if (length >= 54 && f[12] == 0x08 && f[13] == 0x00 && f[23] == 6) {
            uint32_t ihl = (f[14] & 15u) * 4, total = (uint32_t)f[16] << 8 | f[17];
            if (ihl < 20 || 14 + total > length || total < ihl + 20)
                continue;
            const uint8_t *t = f + 14 + ihl;
            uint32_t data = (t[12] >> 4) * 4u;
            uint32_t next = get32be(t + 4) + (total - ihl - (data < 20 ? 20 : data)) +
                            ((t[13] & 0x02) ? 1 : 0) + ((t[13] & 0x01) ? 1 : 0);
            uint16_t port = (uint16_t)(t[0] << 8 | t[1]);     /* ours: the source */
            uint32_t slot_index = port % 16;
            sent_seq[slot_index].port = port;
            sent_seq[slot_index].next = next;
            if (getenv("NET_FUZZ_VERBOSE"))     /* what the stack answered, to write seeds */
                fprintf(stderr, "tcp out: port %u -> %u flags %02x seq %u next %u\n", port,
                        (unsigned)(t[2] << 8 | t[3]), t[13], get32be(t + 4), next);
        }
    }
    return count;
}

int32_t ath_net_events(int32_t handle, void *out, int32_t count)
{
    (void)handle;
    uint32_t n = queued < (uint32_t)count ? queued : (uint32_t)count;
    memcpy(out, queue, n * sizeof queue[0]);
    memmove(queue, queue + n, (queued - n) * sizeof queue[0]);
    queued -= n;
    return (int32_t)n;
}

int32_t ath_net_push(int32_t handle, int32_t socket, const void *ptr, int32_t len, int32_t flags)
{
    (void)handle, (void)flags;
    struct stub_socket *s = socket_at(socket);
    if (!s || len < 0)
        return ATH_E_STALE;
    volatile const uint8_t *bytes = ptr;        /* ASan: the whole range must be readable */
    uint8_t sum = 0;
    for (int32_t i = 0; i < len; i++)
        sum ^= bytes[i];
    (void)sum;
    if (s->kind == 2) {
        if ((uint32_t)len > RING - s->rx_count)
            return ATH_E_AGAIN;
        s->rx_count += (uint32_t)len;
        return len;
    }
    uint32_t room = RING - s->rx_count, n = (uint32_t)len < room ? (uint32_t)len : room;
    s->rx_count += n;
    return (int32_t)n;
}

int32_t ath_net_pull(int32_t handle, int32_t socket, void *out, int32_t capacity)
{
    (void)handle;
    struct stub_socket *s = socket_at(socket);
    if (!s || capacity < 0)
        return ATH_E_STALE;
    if (!s->tx_pending)
        return 0;
    uint8_t *p = out;
    if (s->kind == 2) {
        uint32_t size = 20;
        if (capacity < (int32_t)(NET_DATAGRAM_HEADER + size))
            return ATH_E_SMALL;
        uint32_t address = PEER_IP;
        uint16_t port = 53, length = (uint16_t)size;
        memcpy(p, &address, 4);
        memcpy(p + 4, &port, 2);
        memcpy(p + 6, &length, 2);
        memset(p + NET_DATAGRAM_HEADER, 'q', size);
        s->tx_pending = 0;
        return (int32_t)(NET_DATAGRAM_HEADER + size);
    }
    uint32_t n = s->tx_pending < (uint32_t)capacity ? s->tx_pending : (uint32_t)capacity;
    memset(p, 'x', n);
    s->tx_pending -= n;
    return (int32_t)n;
}

int32_t ath_net_control(int32_t handle, int32_t socket, int32_t op, int32_t address, int32_t port)
{
    (void)handle;
    struct stub_socket *s = socket_at(socket);
    if (!s)
        return ATH_E_STALE;
    switch (op) {
    case NET_ACCEPTED: {
        if (s->kind != 3 || port <= 0 || port > 0xffff)
            abort();                /* the stack's answers must make sense */
        int32_t index = new_socket(1);
        if (index < 0)
            return ATH_E_FULL;
        socks[index].local_port = s->local_port;
        socks[index].remote_address = (uint32_t)address;
        socks[index].remote_port = (uint16_t)port;
        return (int32_t)number((uint32_t)index);
    }
    case NET_CONNECTED:
    case NET_ERROR:
        return 0;
    case NET_RELEASE:
        s->released = 1;
        s->used = 0;
        return 0;
    default:
        abort();
    }
}

/* ---- Frames ---------------------------------------------------------------------------------- */
static uint16_t checksum(const uint8_t *p, size_t length, uint32_t sum)
{
    for (size_t i = 0; i + 1 < length; i += 2)
        sum += (uint32_t)p[i] << 8 | p[i + 1];
    if (length & 1)
        sum += (uint32_t)p[length - 1] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static void put16be(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 8), p[1] = (uint8_t)v; }
static void put32be(uint8_t *p, uint32_t v) { put16be(p, v >> 16), put16be(p + 2, v); }

static void ethernet(uint8_t *frame, uint16_t type)
{
    memcpy(frame, OUR_MAC, 6);
    memcpy(frame + 6, PEER_MAC, 6);
    put16be(frame + 12, type);
}

/* An IPv4 packet around payload (protocol proto), the transport checksum at offset csum
 * (or none), into frame; its length. */
static uint32_t ipv4(uint8_t *frame, uint8_t proto, const uint8_t *payload, uint32_t length,
                     int csum)
{
    if (length > NET_FRAME_MAX - 34)
        length = NET_FRAME_MAX - 34;
    ethernet(frame, 0x0800);
    uint8_t *ip = frame + 14;
    memset(ip, 0, 20);
    ip[0] = 0x45, ip[8] = 64, ip[9] = proto;
    put16be(ip + 2, 20 + length);
    put32be(ip + 12, PEER_IP);
    put32be(ip + 16, OUR_IP);
    put16be(ip + 10, checksum(ip, 20, 0));
    memcpy(ip + 20, payload, length);
    if (csum >= 0 && (uint32_t)csum + 2 <= length) {
        uint8_t *t = ip + 20;
        t[csum] = t[csum + 1] = 0;
        uint32_t pseudo = (PEER_IP >> 16) + (PEER_IP & 0xffff) + (OUR_IP >> 16) +
                          (OUR_IP & 0xffff) + proto + length;
        uint16_t sum = checksum(t, length, pseudo);
        put16be(t + csum, proto == 17 && sum == 0 ? 0xffff : sum);
    }
    return 34 + length;
}

static void app_acts(const uint8_t *bytes, uint32_t length)
{
    if (length < 2)
        return;
    uint32_t index = bytes[1] % NET_SOCKETS;
    struct stub_socket *s = &socks[index];
    if (!s->used)
        return;
    switch (bytes[0] % 4) {
    case 0:                         /* the app read everything */
        s->rx_count = 0;
        post(index, NET_EVENT_READ);
        break;
    case 1:                         /* the app sent some bytes */
        if (s->kind != 3) {
            uint32_t more = length > 2 ? (uint32_t)bytes[2] * 64u + 1 : 100;
            s->tx_pending = s->tx_pending + more > RING ? RING : s->tx_pending + more;
            post(index, NET_EVENT_SEND);
        }
        break;
    case 2:
        if (s->kind == 1)
            post(index, NET_EVENT_SHUTDOWN);
        break;
    default:                        /* closed: the stack releases it in its time */
        post(index, NET_EVENT_CLOSE);
        break;
    }
}

static int32_t tx = 2, sockets = 3;

static void start(void)
{
    static struct net_config config = { .dhcp = false, .address = OUR_IP,
                                        .netmask = 0xffffff00u, .gateway = PEER_IP,
                                        .dns = { PEER_IP, 0 } };
    net_start(&config, OUR_MAC, 1500);
    /* the router's ARP answer, so that what the stack sends leaves at once */
    uint8_t arp[42];
    ethernet(arp, 0x0806);
    static const uint8_t head[8] = { 0, 1, 8, 0, 6, 4, 0, 2 };
    memcpy(arp + 14, head, 8);
    memcpy(arp + 22, PEER_MAC, 6);
    put32be(arp + 28, PEER_IP);
    memcpy(arp + 32, OUR_MAC, 6);
    put32be(arp + 38, OUR_IP);
    net_input(arp, sizeof arp);
    int32_t listener = new_socket(3), datagram = new_socket(2), stream = new_socket(1);
    socks[listener].local_port = 80;
    socks[stream].remote_address = PEER_IP;
    socks[stream].remote_port = 8000;
    post((uint32_t)listener, NET_EVENT_LISTEN);
    post((uint32_t)datagram, NET_EVENT_DATAGRAM);
    post((uint32_t)stream, NET_EVENT_CONNECT);
    net_socket_events(sockets);
    net_flush(tx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int started;
    if (!started) {
        started = 1;
        start();
    }
    static uint8_t frame[NET_SLOT], work[NET_SLOT];
    while (size >= 3) {
        uint8_t op = data[0];
        uint32_t length = (uint32_t)data[1] << 8 | data[2];
        data += 3, size -= 3;
        if (length > size)
            length = (uint32_t)size;
        if (length > NET_FRAME_MAX)
            length = NET_FRAME_MAX;
        const uint8_t *bytes = data;
        data += length, size -= length;
        if (op & 0x10) {
            app_acts(bytes, length);
        } else {
            uint32_t n = 0;
            switch (op & 3) {
            case 0:
                memcpy(frame, bytes, length);
                n = length;
                break;
            case 1:
                memcpy(work, bytes, length);
                if ((op & 4) && length >= 20) {    /* by our port: the destination */
                    uint16_t port = (uint16_t)(work[2] << 8 | work[3]);
                    if (sent_seq[port % 16].port == port)
                        put32be(work + 8, sent_seq[port % 16].next);
                }
                n = ipv4(frame, 6, work, length, 16);
                break;
            case 2:
                memcpy(work, bytes, length);
                if (length >= 8)
                    put16be(work + 4, length);
                n = ipv4(frame, 17, work, length, 6);
                break;
            default:
                ethernet(frame, 0x0800);
                if (length > NET_FRAME_MAX - 14)
                    length = NET_FRAME_MAX - 14;
                memcpy(frame + 14, bytes, length);
                n = 14 + length;
                break;
            }
            net_input(frame, n);
        }
        if (op & 0x80) {
            now_ns += 250000000ull;
            net_timers();
        }
        net_socket_events(sockets);
        net_flush(tx);
    }
    return 0;
}
