/*
 * A hostile TCP/IP stack (tests/test_attack_net.py): a module granted netstack that misuses
 * athanor.net_open, net_events, net_push, net_pull and net_control — forged and stale socket
 * numbers, pointers outside its memory, bad counts, flags and operations, more bytes than a
 * ring holds — then plays a real stack for the app beside it (tests/devices/net_socket_app.c):
 * accepts a connection on its listening socket, gives it bytes, takes its answer, releases it.
 * Ends the appliance: 0 when every expectation held, 3 when one failed.
 */
#include <stdio.h>
#include <string.h>

#include "../../appliances/include/athanor.h"

#define LISTEN 0x01u
#define SEND 0x08u
#define READ 0x10u
#define CLOSE 0x40u
enum { ACCEPTED = 1, CONNECTED = 2, ERROR = 3, RELEASE = 4 };

struct event {
    uint32_t socket, events;
    uint8_t kind, reserved0;
    uint16_t local_port;
    uint32_t remote_address;
    uint16_t remote_port, reserved1;
    uint32_t rx_room, tx_count, ring_capacity;
};

static int failures;
static struct event events[64];
static char big[65536];

static void expect(const char *what, long long got, long long want)
{
    if (got == want) {
        printf("ok %s\n", what);
    } else {
        failures++;
        printf("FAIL %s: got %lld, expected %lld\n", what, got, want);
    }
    fflush(stdout);
}

/* Waits for the next events of `socket`; returns their bits. */
static uint32_t next_events(int32_t h, uint32_t socket)
{
    for (;;) {
        int32_t handles[1] = { h };
        ath_wait(handles, 1, ATH_FOREVER);
        int32_t n = ath_net_events(h, events, 64);
        for (int32_t i = 0; i < n; i++)
            if (events[i].socket == socket)
                return events[i].events;
    }
}

int main(void)
{
    expect("net_events with a forged handle", ath_net_events(0x7fff01, events, 1), ATH_E_BADHANDLE);
    int32_t h = ath_net_open();
    expect("net_open", h > 0, 1);
    int32_t channel_like = h + 0x100;                  /* the next generation of its slot */
    expect("net_events with a handle never issued", ath_net_events(channel_like, events, 1),
           ATH_E_BADHANDLE);
    expect("net_events of 0", ath_net_events(h, events, 0), ATH_E_INVALID);
    expect("net_events of 65", ath_net_events(h, events, 65), ATH_E_INVALID);
    expect("net_events beyond its memory", ath_net_events(h, (void *)0xfffffff0u, 1), ATH_E_FAULT);
    expect("net_events straddling its memory's end",
           ath_net_events(h, (void *)(uintptr_t)(__builtin_wasm_memory_size(0) * 65536 - 16), 1),
           ATH_E_FAULT);

    int32_t handles[1] = { h };
    expect("wait on the socket handle", ath_wait(handles, 1, ATH_FOREVER), 0);
    int32_t n = ath_net_events(h, events, 64);
    expect("one socket has events", n, 1);
    uint32_t listener = events[0].socket;
    expect("its listening socket", events[0].events, LISTEN);
    expect("kind listening", events[0].kind, 3);
    expect("port 80", events[0].local_port, 80);
    expect("ring capacity", events[0].ring_capacity, 16384);
    expect("nothing more", ath_net_events(h, events, 64), 0);

    expect("push to a listening socket", ath_net_push(h, (int32_t)listener, "x", 1, 0), ATH_E_TYPE);
    expect("pull from a listening socket", ath_net_pull(h, (int32_t)listener, big, 10), ATH_E_TYPE);
    expect("an unknown operation", ath_net_control(h, (int32_t)listener, 99, 0, 0), ATH_E_INVALID);
    expect("another generation", ath_net_control(h, (int32_t)(listener + 0x10000), ACCEPTED, 1, 1),
           ATH_E_STALE);
    expect("a socket beyond the table", ath_net_control(h, 0x0001ffff, ACCEPTED, 1, 1), ATH_E_RANGE);
    expect("a negative socket", ath_net_control(h, (int32_t)0x80000001u, ACCEPTED, 1, 1), ATH_E_RANGE);
    expect("a free socket", ath_net_control(h, 0x000100ff, RELEASE, 0, 0), ATH_E_STALE);
    expect("accepted from port 0", ath_net_control(h, (int32_t)listener, ACCEPTED, 0x0a000202, 0),
           ATH_E_INVALID);
    expect("accepted from port 70000",
           ath_net_control(h, (int32_t)listener, ACCEPTED, 0x0a000202, 70000), ATH_E_INVALID);
    expect("connected on a listening socket", ath_net_control(h, (int32_t)listener, CONNECTED, 0, 5),
           ATH_E_INVALID);
    expect("an error that is no errno", ath_net_control(h, (int32_t)listener, ERROR, 0, 0),
           ATH_E_INVALID);
    int32_t c = ath_net_control(h, (int32_t)listener, ACCEPTED, 0x0a000202, 1234);
    expect("accepted", c > 0, 1);
    expect("push from beyond its memory", ath_net_push(h, c, (void *)0xffffff00u, 512, 0), ATH_E_FAULT);
    expect("push with unknown flags", ath_net_push(h, c, "x", 1, 2), ATH_E_INVALID);
    expect("pull into beyond its memory", ath_net_pull(h, c, (void *)0xffffff00u, 512), ATH_E_FAULT);
    expect("pull with nothing sent", ath_net_pull(h, c, big, 100), 0);
    /* A full ring, on a second connection the app never takes (it accepts the first): nobody
     * reads it between the two pushes, whatever the scheduler does. Then released: a
     * connection its app never saw is freed at once. */
    memset(big, 'z', sizeof big);
    int32_t c2 = ath_net_control(h, (int32_t)listener, ACCEPTED, 0x0a000202, 1235);
    expect("accepted a second", c2 > 0 && c2 != c, 1);
    expect("push more than the ring holds: what fits", ath_net_push(h, c2, big, sizeof big, 0),
           16384);
    expect("push to a full ring", ath_net_push(h, c2, big, 100, 0), 0);
    expect("release the second", ath_net_control(h, c2, RELEASE, 0, 0), 0);
    expect("push to it, released", ath_net_push(h, c2, "x", 1, 0), ATH_E_STALE);
    /* the app's bytes in one push, so that it wakes to a full ring */
    memcpy(big, "hello from the stack", 20);
    expect("push a ring's worth", ath_net_push(h, c, big, sizeof big, 0), 16384);

    /* the app reads everything, answers, closes */
    uint32_t seen = 0;
    while (!(seen & CLOSE))
        seen |= next_events(h, (uint32_t)c);
    expect("the app read (an event said so)", (seen & READ) != 0, 1);
    expect("the app sent (an event said so)", (seen & SEND) != 0, 1);
    char reply[64] = { 0 };
    expect("pull its answer", ath_net_pull(h, c, reply, sizeof reply), 18);
    expect("its answer", strcmp(reply, "reply from the app"), 0);
    expect("release", ath_net_control(h, c, RELEASE, 0, 0), 0);
    expect("release again", ath_net_control(h, c, RELEASE, 0, 0), ATH_E_STALE);
    expect("push after release", ath_net_push(h, c, "x", 1, 0), ATH_E_STALE);
    expect("handle_close", ath_handle_close(h), 0);
    expect("net_events on a closed handle", ath_net_events(h, events, 1), ATH_E_STALE);
    printf("stack checks done: %d failures\n", failures);
    fflush(stdout);
    ath_sleep(100000000);           /* the app's last line, after its close */
    ath_exit(failures ? 3 : 0);
}
