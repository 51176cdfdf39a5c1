/*
 * netdump: a network appliance at the level of Ethernet frames, served by the virtio-net driver
 * (appliances/drivers/virtio-net). It answers ARP requests for its address and ICMP echo
 * requests to it, using nothing but frames, and prints what it sees.
 *
 *   netdump [--ip A.B.C.D] [--quiet] [--count N] [--seconds S] [--probe A.B.C.D [--pings N]]
 *           [--blast N [--blast-size BYTES]]
 *
 *   --ip       its IPv4 address (default 10.0.2.15, QEMU's user networking)
 *   --quiet    no line per frame; counters every few seconds and at the end
 *   --count    end (exit 0) once it has answered N echo requests
 *   --seconds  end after S seconds (exit 0)
 *   --probe    ask for A.B.C.D's MAC address (ARP), ping it N times (default 3), end with 0 when
 *              every ping was answered, else 1: the driver's whole path, no host tools needed
 *   --blast    send N frames (broadcast, ethertype 0x88b5, BYTES long, default 60) as fast as
 *              the driver takes them, then print the rate
 *
 * At the end it prints its counters and the driver's (net.status), which tests compare with
 * what the other side counted.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../include/athanor.h"
#include "../drivers/virtio-net/net.h"

#define BATCH 32
#define ETH_ARP 0x0806
#define ETH_IPV4 0x0800
#define ETH_BLAST 0x88b5                /* an IEEE "local experimental" ethertype */

static uint8_t in[BATCH][NET_SLOT];
static uint8_t out[BATCH][NET_SLOT];
static unsigned out_count;
static int32_t rx, tx, status_channel;
static uint8_t my_mac[6];
static uint32_t my_ip = 0x0a00020f;     /* 10.0.2.15 */
static bool quiet;
static struct net_status driver;
static struct {
    uint64_t frames, arp_requests, arp_replies_seen, echo_requests, echo_replies_seen, other;
    uint64_t sent, send_drops;
} count;

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]; }
static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)(v >> 16)); put16(p + 2, (uint16_t)v); }

static const char *ip_text(uint32_t ip)
{
    static char text[4][16];
    static unsigned next;
    char *t = text[next++ % 4];
    snprintf(t, 16, "%u.%u.%u.%u", ip >> 24, ip >> 16 & 255, ip >> 8 & 255, ip & 255);
    return t;
}

static bool parse_ip(const char *s, uint32_t *ip)
{
    unsigned a, b, c, d;
    char extra;
    if (sscanf(s, "%u.%u.%u.%u%c", &a, &b, &c, &d, &extra) != 4 || a > 255 || b > 255 ||
        c > 255 || d > 255)
        return false;
    *ip = a << 24 | b << 16 | c << 8 | d;
    return true;
}

static uint16_t checksum(const uint8_t *p, size_t length)
{
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < length; i += 2)
        sum += be16(p + i);
    if (length & 1)
        sum += (uint32_t)p[length - 1] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* ---- Sending: frames gather in `out`, one batch per flush ------------------------------------- */
static void flush(void)
{
    unsigned done = 0;
    while (done < out_count) {
        int32_t n = ath_channel_send_batch(tx, out[done], (int32_t)(out_count - done), NET_SLOT, 0);
        if (n <= 0) {
            count.send_drops += out_count - done;
            break;
        }
        done += (unsigned)n;
        count.sent += (unsigned)n;
    }
    out_count = 0;
}

static uint8_t *frame_out(uint32_t length)
{
    if (out_count == BATCH)
        flush();
    uint8_t *slot = out[out_count++];
    memcpy(slot, &length, 4);
    memset(slot + 4, 0, length);
    return slot + 4;
}

static void ethernet(uint8_t *f, const uint8_t *to, uint16_t type)
{
    memcpy(f, to, 6);
    memcpy(f + 6, my_mac, 6);
    put16(f + 12, type);
}

static void send_arp(uint16_t op, const uint8_t *to_mac, uint32_t to_ip)
{
    static const uint8_t broadcast[6] = { 255, 255, 255, 255, 255, 255 };
    uint8_t *f = frame_out(42);
    ethernet(f, op == 1 ? broadcast : to_mac, ETH_ARP);
    put16(f + 14, 1);                   /* Ethernet */
    put16(f + 16, ETH_IPV4);
    f[18] = 6;
    f[19] = 4;
    put16(f + 20, op);
    memcpy(f + 22, my_mac, 6);
    put32(f + 28, my_ip);
    if (op == 2)
        memcpy(f + 32, to_mac, 6);
    put32(f + 38, to_ip);
}

/* An IPv4 header at f + 14 for `payload` bytes of ICMP. */
static void ipv4(uint8_t *f, uint32_t to, uint16_t payload)
{
    uint8_t *ip = f + 14;
    ip[0] = 0x45;
    put16(ip + 2, (uint16_t)(20 + payload));
    ip[8] = 64;
    ip[9] = 1;                          /* ICMP */
    put32(ip + 12, my_ip);
    put32(ip + 16, to);
    put16(ip + 10, checksum(ip, 20));
}

static void send_echo(const uint8_t *to_mac, uint32_t to_ip, uint8_t type, uint16_t id,
                      uint16_t sequence, const uint8_t *data, uint16_t data_length)
{
    uint16_t icmp_length = (uint16_t)(8 + data_length);
    uint8_t *f = frame_out(14 + 20 + icmp_length);
    ethernet(f, to_mac, ETH_IPV4);
    ipv4(f, to_ip, icmp_length);
    uint8_t *icmp = f + 34;
    icmp[0] = type;
    put16(icmp + 4, id);
    put16(icmp + 6, sequence);
    memcpy(icmp + 8, data, data_length);
    put16(icmp + 2, checksum(icmp, icmp_length));
}

/* ---- Receiving ------------------------------------------------------------------------------------ */
static struct {
    uint32_t ip;
    uint8_t mac[6];
    bool known;
    uint16_t replies;
} probe;

static void seen_arp(const uint8_t *f, uint32_t length)
{
    if (length < 42 || be16(f + 14) != 1 || be16(f + 16) != ETH_IPV4)
        return;
    uint16_t op = be16(f + 20);
    uint32_t sender = be32(f + 28), target = be32(f + 38);
    if (op == 1) {
        count.arp_requests++;
        if (!quiet)
            printf("rx arp who-has %s tell %s\n", ip_text(target), ip_text(sender));
        if (target == my_ip)
            send_arp(2, f + 22, sender);
    } else if (op == 2) {
        count.arp_replies_seen++;
        if (!quiet)
            printf("rx arp %s is-at %02x:%02x:%02x:%02x:%02x:%02x\n", ip_text(sender), f[22],
                   f[23], f[24], f[25], f[26], f[27]);
        if (probe.ip && sender == probe.ip) {
            memcpy(probe.mac, f + 22, 6);
            probe.known = true;
        }
    }
}

static void seen_ipv4(const uint8_t *f, uint32_t length)
{
    const uint8_t *ip = f + 14;
    if (length < 34 || (ip[0] >> 4) != 4)
        return;
    uint32_t header = (ip[0] & 15) * 4u, total = be16(ip + 2);
    uint32_t source = be32(ip + 12), destination = be32(ip + 16);
    if (header < 20 || total < header || 14 + total > length || checksum(ip, header) != 0) {
        count.other++;
        return;
    }
    const uint8_t *icmp = ip + header;
    uint32_t icmp_length = total - header;
    if (ip[9] != 1 || icmp_length < 8 || destination != my_ip || checksum(icmp, icmp_length)) {
        count.other++;
        if (!quiet)
            printf("rx ipv4 proto %u %s -> %s, %u bytes\n", ip[9], ip_text(source),
                   ip_text(destination), total);
        return;
    }
    uint16_t id = be16(icmp + 4), sequence = be16(icmp + 6);
    if (icmp[0] == 8) {
        count.echo_requests++;
        if (!quiet)
            printf("rx icmp echo request %s -> %s id %u seq %u, %u bytes\n", ip_text(source),
                   ip_text(destination), id, sequence, icmp_length - 8);
        if (icmp_length - 8 <= NET_FRAME_MAX - 42)
            send_echo(f + 6, source, 0, id, sequence, icmp + 8, (uint16_t)(icmp_length - 8));
    } else if (icmp[0] == 0) {
        count.echo_replies_seen++;
        if (!quiet)
            printf("rx icmp echo reply %s -> %s id %u seq %u\n", ip_text(source),
                   ip_text(destination), id, sequence);
        if (probe.ip && source == probe.ip)
            probe.replies++;
    } else {
        count.other++;
    }
}

static void seen(const uint8_t *f, uint32_t length)
{
    count.frames++;
    uint16_t type = be16(f + 12);
    if (type == ETH_ARP)
        seen_arp(f, length);
    else if (type == ETH_IPV4)
        seen_ipv4(f, length);
    else {
        count.other++;
        if (!quiet)
            printf("rx ethertype 0x%04x, %u bytes\n", type, length);
    }
}

/* Takes every frame waiting (a batch at a time); true if there was any. */
static bool receive(void)
{
    bool any = false;
    for (;;) {
        int32_t n = ath_channel_recv_batch(rx, in, BATCH, NET_SLOT, ATH_NONBLOCK);
        if (n <= 0)
            break;
        any = true;
        for (int32_t i = 0; i < n; i++) {
            uint32_t length;
            memcpy(&length, in[i], 4);
            if (length >= 14 && length <= NET_FRAME_MAX)
                seen(in[i] + 4, length);
        }
        flush();
    }
    return any;
}

static void take_status(void)
{
    struct net_status s;
    while (ath_channel_recv(status_channel, &s, sizeof s, ATH_NONBLOCK) == (int32_t)sizeof s) {
        if (s.magic != NET_STATUS_MAGIC)
            continue;
        bool first = driver.magic == 0, restarted = !first && s.restarts != driver.restarts;
        driver = s;
        memcpy(my_mac, s.mac, 6);
        if (first || restarted)
            printf("netdump: driver %s: mac %02x:%02x:%02x:%02x:%02x:%02x mtu %u link %s, "
                   "%s\n", first ? "up" : "restarted", s.mac[0], s.mac[1], s.mac[2], s.mac[3],
                   s.mac[4], s.mac[5], s.mtu, s.link_up ? "up" : "down",
                   s.msix ? "msi-x" : "intx");
    }
}

static void report(void)
{
    /* Ask the driver for its counters, then wait for them (up to 2 s: the driver answers once
     * every frame sent before has left the device, which a loaded host may delay). */
    ath_channel_send(tx, "", 0, 0);
    int32_t handles[1] = { status_channel };
    if (ath_wait(handles, 1, 2000000000) == 0)
        take_status();
    printf("netdump: rx %llu frames (arp requests %llu, echo requests %llu, echo replies %llu, "
           "other %llu), tx %llu frames, %llu not sent\n", (unsigned long long)count.frames,
           (unsigned long long)count.arp_requests, (unsigned long long)count.echo_requests,
           (unsigned long long)count.echo_replies_seen, (unsigned long long)count.other,
           (unsigned long long)count.sent, (unsigned long long)count.send_drops);
    printf("netdump: driver rx %u frames, %u dropped; tx %u frames, %u dropped; %u restarts\n",
           driver.rx_frames, driver.rx_drops, driver.tx_frames, driver.tx_drops, driver.restarts);
    fflush(stdout);
}

static int32_t open_channel(const char *name)
{
    int32_t h = ath_channel_open(name, (int32_t)strlen(name));
    if (h < 0) {
        fprintf(stderr, "netdump: no channel %s (%d)\n", name, h);
        exit(2);
    }
    return h;
}

static void blast(uint64_t frames, uint32_t size)
{
    static const uint8_t broadcast[6] = { 255, 255, 255, 255, 255, 255 };
    uint64_t start = now_ns();
    for (uint64_t i = 0; i < frames; i++) {
        uint8_t *f = frame_out(size);
        ethernet(f, broadcast, ETH_BLAST);
        memcpy(f + 14, &i, sizeof i);
    }
    flush();
    double seconds = (double)(now_ns() - start) / 1e9;
    printf("netdump: blast %llu frames of %u bytes in %.3f s: %.0f frames/s handed to the driver\n",
           (unsigned long long)frames, size, seconds, (double)frames / seconds);
}

int main(int argc, char **argv)
{
    uint64_t count_limit = 0, seconds = 0, blast_frames = 0;
    uint32_t blast_size = 60, pings = 3;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--quiet")) {
            quiet = true;
        } else if (!strcmp(a, "--ip") && v && parse_ip(v, &my_ip)) {
            i++;
        } else if (!strcmp(a, "--probe") && v && parse_ip(v, &probe.ip)) {
            i++;
        } else if (!strcmp(a, "--count") && v) {
            count_limit = strtoull(argv[++i], NULL, 10);
        } else if (!strcmp(a, "--seconds") && v) {
            seconds = strtoull(argv[++i], NULL, 10);
        } else if (!strcmp(a, "--pings") && v) {
            pings = (uint32_t)strtoul(argv[++i], NULL, 10);
        } else if (!strcmp(a, "--blast") && v) {
            blast_frames = strtoull(argv[++i], NULL, 10);
        } else if (!strcmp(a, "--blast-size") && v) {
            blast_size = (uint32_t)strtoul(argv[++i], NULL, 10);
            if (blast_size < 60 || blast_size > 1514)
                blast_size = 60;
        } else {
            fprintf(stderr, "netdump: unknown or incomplete option %s\n", a);
            return 2;
        }
    }
    rx = open_channel("net.rx");
    tx = open_channel("net.tx");
    status_channel = open_channel("net.status");
    int32_t handles[2] = { rx, status_channel };
    while (ath_wait(&handles[1], 1, ATH_FOREVER) != 0) {
    }
    take_status();
    printf("netdump: %s, answering ARP and ICMP echo\n", ip_text(my_ip));
    fflush(stdout);
    if (blast_frames)
        blast(blast_frames, blast_size);

    uint64_t start = now_ns(), next_probe = start, next_report = start + 5000000000ull;
    uint32_t probes_sent = 0;
    for (;;) {
        uint64_t now = now_ns();
        if (probe.ip && now >= next_probe) {
            if (probe.replies >= pings) {
                report();
                return 0;
            }
            if (probes_sent >= pings + 20) {
                printf("netdump: %s answered %u of %u pings\n", ip_text(probe.ip), probe.replies,
                       pings);
                report();
                return 1;
            }
            static const uint8_t data[8] = "netdump";
            if (!probe.known)
                send_arp(1, NULL, probe.ip);
            else
                send_echo(probe.mac, probe.ip, 8, 0x4e44, (uint16_t)probes_sent, data, 8);
            probes_sent++;
            flush();
            next_probe = now + 200000000;
        }
        if (seconds && now - start >= seconds * 1000000000ull) {
            report();
            return 0;
        }
        if (quiet && now >= next_report) {
            printf("netdump: %llu frames, %llu echo requests answered\n",
                   (unsigned long long)count.frames, (unsigned long long)count.echo_requests);
            fflush(stdout);
            next_report = now + 5000000000ull;
        }
        int32_t ready = ath_wait(handles, 2, 50000000);
        if (ready == 1)
            take_status();
        receive();
        fflush(stdout);
        if (count_limit && count.echo_requests >= count_limit) {
            report();
            return 0;
        }
    }
}
