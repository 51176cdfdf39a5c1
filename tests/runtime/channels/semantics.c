/*
 * Channel semantics (docs/kernel-abi.md): order, non-blocking calls, buffers too small, batches
 * bounded by the ring, waiting with a timeout, and a blocking sender that the receiver (the
 * `drain` module, on channel slow) releases. Logs "check NAME: ok" or "FAIL ..."; exits with
 * 3 on any failure, else 0.
 */
#include <stdint.h>
#include <string.h>

#include "../../../appliances/include/athanor.h"

static int failures;
static char line[160];

static int put_number(char *out, int64_t v)
{
    char d[24];
    int n = 0, at = 0;
    if (v < 0) {
        out[at++] = '-';
        v = -v;
    }
    do {
        d[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        out[at++] = d[--n];
    return at;
}

static void check(const char *name, int64_t got, int64_t expected)
{
    int at = (int)strlen(name);
    if (got == expected) {
        memcpy(line, "check ", 6);
        memcpy(line + 6, name, (size_t)at);
        memcpy(line + 6 + at, ": ok", 4);
        ath_log(line, 10 + at);
        return;
    }
    failures++;
    memcpy(line, "FAIL ", 5);
    memcpy(line + 5, name, (size_t)at);
    at += 5;
    memcpy(line + at, ": got ", 6);
    at += 6;
    at += put_number(line + at, got);
    ath_log(line, at);
}

int main(void)
{
    int32_t self = ath_channel_open("loop", 4);       /* both ends: depth 4, 16 bytes */
    int32_t slow = ath_channel_open("slow", 4);       /* to drain: depth 1 */
    char buffer[32];

    check("receive from an empty channel", ath_channel_recv(self, buffer, 16, ATH_NONBLOCK), ATH_E_AGAIN);
    for (int i = 0; i < 4; i++) {
        char m = (char)('a' + i);
        check("send until full", ath_channel_send(self, &m, 1, ATH_NONBLOCK), 0);
    }
    check("send to a full channel", ath_channel_send(self, "x", 1, ATH_NONBLOCK), ATH_E_AGAIN);
    check("a full channel's sending end is not ready", ath_wait(&self, 1, 0), 0);   /* its receiving end is */
    for (int i = 0; i < 4; i++) {
        check("receive in order: length", ath_channel_recv(self, buffer, 16, ATH_NONBLOCK), 1);
        check("receive in order: byte", buffer[0], 'a' + i);
    }

    check("send 10 bytes", ath_channel_send(self, "0123456789", 10, 0), 0);
    check("a buffer too small", ath_channel_recv(self, buffer, 4, 0), ATH_E_SMALL);
    check("the message stays", ath_channel_recv(self, buffer, 10, 0), 10);
    check("and is whole", memcmp(buffer, "0123456789", 10), 0);
    check("wait with a timeout on an empty channel", ath_wait(&self, 1, 2000000), 0);  /* sending end: room */

    /* Batches: 6 offered, the ring takes 4; a receive batch takes them all. */
    static uint8_t slots[6 * 8], got[10 * 12];
    for (uint32_t i = 0; i < 6; i++) {
        uint32_t length = i % 4;
        memcpy(slots + 8 * i, &length, 4);
        memset(slots + 8 * i + 4, 'A' + (int)i, 4);
    }
    check("a batch bounded by the ring", ath_channel_send_batch(self, slots, 6, 8, 0), 4);
    check("a batch when full", ath_channel_send_batch(self, slots, 1, 8, ATH_NONBLOCK), ATH_E_AGAIN);
    check("a receive batch", ath_channel_recv_batch(self, got, 10, 12, 0), 4);
    uint32_t length;
    memcpy(&length, got + 12 * 3, 4);
    check("its fourth length", length, 3);
    check("its fourth bytes", got[12 * 3 + 4], 'D');
    check("a receive batch of nothing waiting", ath_channel_recv_batch(self, got, 10, 12, ATH_NONBLOCK), ATH_E_AGAIN);
    ath_channel_send(self, "0123456789", 10, 0);
    check("a receive batch with slots too small", ath_channel_recv_batch(self, got, 2, 8, 0), ATH_E_SMALL);
    check("then with room", ath_channel_recv_batch(self, got, 2, 16, 0), 1);

    /* Blocking: the drain module takes one message every 5 ms; 5 blocking sends wait for it. */
    int64_t start = ath_clock();
    for (int i = 0; i < 5; i++)
        check("a blocking send", ath_channel_send(slow, "z", 1, 0), 0);
    check("blocked until the receiver took them", ath_clock() - start >= 15000000, 1);

    const char *verdict = failures ? "semantics: FAILED" : "semantics: all ok";
    ath_log(verdict, (int32_t)strlen(verdict));
    ath_exit(failures ? 3 : 0);
}
