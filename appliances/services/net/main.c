/*
 * Azoth's TCP/IP stack module: lwIP (Debian's source package, built by build.py with this
 * folder's port layer) between the virtio-net driver and the apps' sockets. The build adds it,
 * with the driver, to every appliance whose apps are granted network access ([network] in the
 * manifest gives its arguments):
 *
 *   --dhcp                          ask a DHCP server (the default)
 *   --address A.B.C.D/PREFIX        a static address instead; with --gateway, --dns (up to two)
 *   --mtu N                         at most the device's
 *   --hostname NAME                 what DHCP tells the server
 *   --stats-every MS                a stats line every MS milliseconds (pools, memory, frames)
 *   --verbose
 *   --trap-after N                  tests: trap once (the first start only), after N frames
 *
 * The loop: frames from net.rx (a batch at a time), link changes from net.status, socket
 * events from the kernel, lwIP's timers; frames lwIP made go to net.tx at the end of each
 * round; then it waits for any of them, or the next timer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../include/athanor.h"
#include "../../drivers/virtio-net/net.h"
#include "net.h"

#define RX_BATCH 64

static uint8_t rx_slots[RX_BATCH][NET_SLOT];
static struct net_config config = { .dhcp = true };
static uint32_t trap_after;

static void fail(const char *why)
{
    printf("[net] %s\n", why);
    fflush(stdout);
    __builtin_trap();               /* the supervisor decides */
}

static bool parse_address(const char *text, uint32_t *out, uint32_t *prefix)
{
    unsigned a, b, c, d, p = 32;
    int n = 0;
    if (sscanf(text, "%u.%u.%u.%u%n", &a, &b, &c, &d, &n) != 4)
        return false;
    if (text[n] == '/' && (sscanf(text + n + 1, "%u", &p) != 1 || p > 32))
        return false;
    else if (text[n] && text[n] != '/')
        return false;
    if (a > 255 || b > 255 || c > 255 || d > 255)
        return false;
    *out = a << 24 | b << 16 | c << 8 | d;
    if (prefix)
        *prefix = p;
    return true;
}

static void parse(int argc, char **argv)
{
    int dns = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
        uint32_t prefix;
        if (!strcmp(arg, "--dhcp")) {
            config.dhcp = true;
        } else if (!strcmp(arg, "--verbose")) {
            config.verbose = true;
        } else if (value && !strcmp(arg, "--address") &&
                   parse_address(value, &config.address, &prefix)) {
            config.dhcp = false;
            config.netmask = prefix ? ~0u << (32 - prefix) : 0;
            i++;
        } else if (value && !strcmp(arg, "--gateway") && parse_address(value, &config.gateway, NULL)) {
            i++;
        } else if (value && !strcmp(arg, "--dns") && dns < 2 &&
                   parse_address(value, &config.dns[dns], NULL)) {
            dns++;
            i++;
        } else if (value && !strcmp(arg, "--mtu")) {
            config.mtu = (uint16_t)atoi(value);
            i++;
        } else if (value && !strcmp(arg, "--hostname")) {
            config.hostname = value;
            i++;
        } else if (value && !strcmp(arg, "--trap-after")) {
            trap_after = (uint32_t)atoi(value);
            i++;
        } else if (value && !strcmp(arg, "--stats-every")) {
            config.stats_every_ms = (uint32_t)atoi(value);
            i++;
        } else {
            printf("[net] unknown argument %s\n", arg);
            fail("bad arguments");
        }
    }
}

static int32_t open_channel(const char *name)
{
    int32_t handle = ath_channel_open(name, (int32_t)strlen(name));
    if (handle <= 0) {
        printf("[net] no channel %s (%d)\n", name, (int)handle);
        fail("cannot start");
    }
    return handle;
}

int main(int argc, char **argv)
{
    parse(argc, argv);
    int32_t rx = open_channel("net.rx"), tx = open_channel("net.tx");
    int32_t status_channel = open_channel("net.status");
    int32_t sockets = ath_net_open();
    if (sockets <= 0)
        fail("cannot open the kernel's sockets (athanor.net_open)");

    /* The MAC address and MTU: the driver's status, which it sends when it starts and when
     * asked (an empty frame) — after a restart of the stack, only then. */
    struct net_status status;
    if (ath_restart_count())
        ath_channel_send(tx, NULL, 0, 0);
    int32_t n = ath_channel_recv(status_channel, &status, sizeof status, 0);
    if (n != (int32_t)sizeof status || status.magic != NET_STATUS_MAGIC)
        fail("no status from the driver");
    net_flush(tx);                  /* (nothing yet: net.c learns where frames go) */
    net_start(&config, status.mac, status.mtu);
    if (ath_restart_count()) {
        printf("[net] restarted (%d), in %lld us\n", (int)ath_restart_count(),
               (long long)(ath_restart_ns() / 1000));
        fflush(stdout);
    }

    int32_t handles[3] = { rx, sockets, status_channel };
    for (;;) {
        bool busy = false;
        int32_t got = ath_channel_recv_batch(rx, rx_slots, RX_BATCH, NET_SLOT, ATH_NONBLOCK);
        for (int32_t i = 0; i < got; i++) {
            uint32_t length;
            memcpy(&length, rx_slots[i], 4);
            net_input(rx_slots[i] + 4, length);
        }
        busy |= got > 0;
        static uint32_t frames;
        frames += got > 0 ? (uint32_t)got : 0;
        if (trap_after && frames >= trap_after && ath_restart_count() == 0)
            fail("trapping, as --trap-after asks");
        busy |= net_socket_events(sockets);
        if (ath_channel_recv(status_channel, &status, sizeof status, ATH_NONBLOCK) ==
            (int32_t)sizeof status) {
            net_link(status.link_up);
            net_driver_counters(status.rx_frames, status.rx_drops, status.tx_frames,
                                status.tx_drops);
        }
        uint32_t ms = net_timers();
        net_flush(tx);
        if (net_stats(false))
            ath_channel_send(tx, NULL, 0, ATH_NONBLOCK);    /* the driver's counters, next */
        if (busy)
            continue;               /* more may be waiting: look again before sleeping */
        int64_t timeout = ms == UINT32_MAX ? ATH_FOREVER : (int64_t)ms * 1000000;
        if (config.stats_every_ms && (timeout < 0 || timeout > (int64_t)config.stats_every_ms * 1000000))
            timeout = (int64_t)config.stats_every_ms * 1000000;
        ath_wait(handles, 3, timeout);
    }
}
