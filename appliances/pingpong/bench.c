/*
 * pingpong's measurer: the cost of the kernel's paths, each the median of RUNS runs timed with
 * athanor.clock (the TSC), printed on one line, then each as a ratio to a plain Wasm call
 * measured in the same run (under QEMU's TCG the absolute figures are emulated; the ratios
 * compare with docs/performance.md's Linux anchor on the host).
 *
 *   plaincall_ns           a call to a Wasm function that adds one (timed by calls.wat)
 *   hostcall_ns            a call into the kernel, athanor.restart_count (timed by calls.wat)
 *   chan_roundtrip_ns      send 8 bytes to the echoer, receive its 8-byte answer (2 switches)
 *   chan_batch_ns_per_msg  batches of BATCH 64-byte messages, per message, until all are taken
 *   ctxswitch_ns           one task switch: athanor.yield between two tasks, per switch
 *   restart_us             a trapped module with 64 KiB of memory back to running (the
 *                          kernel's own measure, trap to the restarted _start, from
 *                          athanor.restart_ns)
 */
#include <stdint.h>
#include <string.h>

#include "../include/athanor.h"

#define RUNS 11
#define CALLS 4000                      /* as calls.wat's $calls */
#define ROUNDTRIPS 200
#define BATCH 32
#define BATCH_ROUNDS 16
#define BATCH_SLOT 68
#define SWITCHES 400
#define RESTARTS 15

static int32_t ping, pong, batch, go, crash, restarts, calls, timed;
static uint8_t slots[BATCH * BATCH_SLOT];

static int64_t median(int64_t *v, int n)
{
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
            int64_t t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return v[n / 2];
}

/* Each measurer returns picoseconds per operation of one run. */
static void plain_and_host_calls(int64_t *plain, int64_t *host)
{
    int64_t durations[2];
    ath_channel_send(calls, "t", 1, 0);
    ath_channel_recv(timed, durations, sizeof durations, 0);
    *plain = durations[0] * 1000 / CALLS;
    *host = durations[1] * 1000 / CALLS;
}

static int64_t roundtrips(void)
{
    char message[8] = "P", answer[8];
    int64_t start = ath_clock();
    for (int i = 0; i < ROUNDTRIPS; i++) {
        ath_channel_send(ping, message, 8, 0);
        ath_channel_recv(pong, answer, sizeof answer, 0);
    }
    return (ath_clock() - start) * 1000 / ROUNDTRIPS;
}

static int64_t batches(void)
{
    char message[8] = "B";
    uint32_t total = BATCH * BATCH_ROUNDS;
    memcpy(message + 4, &total, 4);
    ath_channel_send(ping, message, 8, 0);      /* the echoer now takes `total` messages */
    int64_t start = ath_clock();
    for (int round = 0; round < BATCH_ROUNDS; round++) {
        int sent = 0;
        while (sent < BATCH) {
            int32_t n = ath_channel_send_batch(batch, slots + sent * BATCH_SLOT, BATCH - sent,
                                               BATCH_SLOT, 0);
            if (n <= 0)
                __builtin_trap();
            sent += n;
        }
    }
    char answer[8];
    ath_channel_recv(pong, answer, sizeof answer, 0);
    return (ath_clock() - start) * 1000 / total;
}

static int64_t switches(void)
{
    int32_t count = SWITCHES;
    ath_channel_send(go, &count, 4, 0);
    int64_t start = ath_clock();
    for (int i = 0; i < SWITCHES; i++)
        ath_yield();                            /* to the yielder, which yields back */
    return (ath_clock() - start) * 1000 / (2 * SWITCHES);
}

static int32_t open_channel(const char *name)
{
    int32_t handle = ath_channel_open(name, (int32_t)strlen(name));
    if (handle < 0)
        __builtin_trap();
    return handle;
}

static char line[400];
static int at;

static void text(const char *s)
{
    while (*s)
        line[at++] = *s++;
}

/* value / 1000 with one decimal */
static void fixed(int64_t value)
{
    char digits[24];
    int n = 0;
    value = (value + 50) / 100;
    int64_t whole = value / 10;
    do {
        digits[n++] = (char)('0' + whole % 10);
        whole /= 10;
    } while (whole);
    while (n)
        line[at++] = digits[--n];
    line[at++] = '.';
    line[at++] = (char)('0' + value % 10);
}

int main(void)
{
    ping = open_channel("ping");
    pong = open_channel("pong");
    batch = open_channel("batch");
    go = open_channel("go");
    crash = open_channel("crash");
    restarts = open_channel("restarts");
    calls = open_channel("calls");
    timed = open_channel("timed");
    for (int i = 0; i < BATCH; i++) {
        uint32_t length = 64;
        memcpy(slots + i * BATCH_SLOT, &length, 4);
    }

    int64_t runs[6][RUNS];
    for (int run = 0; run < RUNS; run++) {
        plain_and_host_calls(&runs[0][run], &runs[1][run]);
        runs[2][run] = roundtrips();
        runs[3][run] = batches();
        runs[4][run] = switches();
    }
    /* The crasher reports each start's restart time; its first start is not a restart. */
    int64_t restart_ps[RESTARTS], reported;
    ath_channel_recv(restarts, &reported, 8, 0);
    for (int i = 0; i < RESTARTS; i++) {
        char poke = 1;
        ath_channel_send(crash, &poke, 1, 0);
        ath_channel_recv(restarts, &reported, 8, 0);
        restart_ps[i] = reported * 1000;
    }

    int64_t plain_ps = median(runs[0], RUNS);
    int64_t figures[6] = { median(runs[1], RUNS), median(runs[2], RUNS), median(runs[3], RUNS),
                           median(restart_ps, RESTARTS) / 1000, median(runs[4], RUNS) };
    static const char *names[5] = { "hostcall_ns=", "chan_roundtrip_ns=", "chan_batch_ns_per_msg=",
                                    "restart_us=", "ctxswitch_ns=" };
    static const char *ratios[5] = { "hostcall=", "chan_roundtrip=", "chan_batch_per_msg=",
                                     "restart=", "ctxswitch=" };
    text("pingpong: plaincall_ns=");
    fixed(plain_ps);
    for (int i = 0; i < 5; i++) {
        text(" ");
        text(names[i]);
        fixed(figures[i]);
    }
    ath_log(line, at);
    at = 0;
    text("pingpong: ratios to a plain call:");
    for (int i = 0; i < 5; i++) {
        text(" ");
        text(ratios[i]);
        /* restart_us is in us: its ratio compares ns */
        int64_t ps = i == 3 ? figures[i] * 1000 : figures[i];
        fixed(plain_ps ? ps * 1000 / plain_ps : 0);
    }
    ath_log(line, at);
    ath_exit(0);
}
