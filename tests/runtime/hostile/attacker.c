/*
 * A hostile module: every way it can think of to misuse the kernel ABI, each checked against
 * the error docs/kernel-abi.md promises. Forged, stale and out-of-range handles, handles of the
 * wrong kind, a channel it was not granted, ports, IRQ lines and MMIO outside its grants,
 * pointers and lengths past the end of its memory, oversized messages, a full handle table.
 * Then it sends the victim two legitimate messages; the victim checks that nothing else
 * reached it and that its memory is intact.
 *
 * Logs "check NAME: ok" or "FAIL NAME: got X, expected Y", and prints the kernel's trace in
 * the middle (its refusals are recorded there); ends with exit code 3 on any failure.
 */
#include <stdint.h>
#include <string.h>

#include "../../../appliances/include/athanor.h"

static int failures, checks;
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
    int at = 0;
    checks++;
    if (got == expected) {
        memcpy(line, "check ", 6);
        at = 6;
        memcpy(line + at, name, strlen(name));
        at += (int)strlen(name);
        memcpy(line + at, ": ok", 4);
        at += 4;
    } else {
        failures++;
        memcpy(line, "FAIL ", 5);
        at = 5;
        memcpy(line + at, name, strlen(name));
        at += (int)strlen(name);
        memcpy(line + at, ": got ", 6);
        at += 6;
        at += put_number(line + at, got);
        memcpy(line + at, ", expected ", 11);
        at += 11;
        at += put_number(line + at, expected);
    }
    ath_log(line, at);
}

static int32_t open_channel(const char *name)
{
    return ath_channel_open(name, (int32_t)strlen(name));
}

#define PAST(offset) ((void *)(uintptr_t)(memory_end + (offset)))

/* x86-64: an interrupt that fires (COM2's), the HPET's window. */
static void devices_x86(int32_t port, int32_t irq)
{
    /* COM2's UART (QEMU's -serial null) interrupts when its transmitter is empty: enabling
     * that interrupt fires the line at once, and again after each byte sent. */
    ath_port_out(port, 0x2fc, 1, 0x08);                     /* MCR: OUT2 */
    ath_port_out(port, 0x2f9, 1, 0x02);                     /* IER: transmitter empty */
    check("an IRQ that fires: irq_wait", ath_irq_wait(irq) >= 1, 1);
    ath_port_in(port, 0x2fa, 1);                            /* IIR: acknowledges it */
    ath_port_out(port, 0x2f8, 1, 'x');                      /* THR: a byte to nowhere */
    check("and fires again", ath_irq_wait(irq) >= 1, 1);
    ath_port_in(port, 0x2fa, 1);
    ath_port_out(port, 0x2f8, 1, 'y');
    check("wait reports a fired line", ath_wait((int32_t[]){ irq }, 1, -1), 0);
    check("then irq_wait takes it at once", ath_irq_wait(irq) >= 1, 1);
    ath_port_out(port, 0x2f9, 1, 0x00);

    /* MMIO: mmio:0xfed00000-0xfed003ff (the HPET) granted. */
    check("MMIO outside the grant", ath_mmio_open(0xfed00000, 0x800), ATH_E_DENIED);
    check("the local APIC", ath_mmio_open(0xfee00000, 4), ATH_E_DENIED);
    check("RAM", ath_mmio_open(0x100000, 4096), ATH_E_DENIED);
    int32_t hpet = ath_mmio_open(0xfed00000, 0x400);
    check("a granted window", hpet > 0, 1);
    check("the HPET's period (fs)", ath_mmio_read(hpet, 4, 4), 10000000);
    check("the HPET's vendor", ath_mmio_read(hpet, 0, 4) >> 16, 0x8086);
    check("past the window", ath_mmio_read(hpet, 0x400, 4), ATH_E_RANGE);
    check("across its end", ath_mmio_read(hpet, 0x3fe, 4), ATH_E_RANGE);
    check("misaligned", ath_mmio_read(hpet, 2, 4), ATH_E_RANGE);
}

int main(void)
{
    uint32_t memory_end = (uint32_t)__builtin_wasm_memory_size(0) * 65536u;
    char buffer[64] = "hello";

    /* Channels: granted, not granted, unknown. */
    int32_t out = open_channel("to-victim");
    check("open a granted channel", out > 0, 1);
    check("open a channel not granted", open_channel("private"), ATH_E_DENIED);
    check("open an unknown channel", open_channel("nosuch"), ATH_E_NOENT);
    check("open with a name past memory", ath_channel_open(PAST(-2), 9), ATH_E_FAULT);
    check("receive on the sending end", ath_channel_recv(out, buffer, 16, ATH_NONBLOCK), ATH_E_TYPE);
    check("unknown flags", ath_channel_send(out, buffer, 5, 2), ATH_E_INVALID);

    /* Forged handles. */
    check("handle 0", ath_channel_send(0, buffer, 5, ATH_NONBLOCK), ATH_E_BADHANDLE);
    check("negative handle", ath_channel_send(-5, buffer, 5, ATH_NONBLOCK), ATH_E_BADHANDLE);
    check("slot out of range", ath_channel_send((1 << 8) | 200, buffer, 5, 0), ATH_E_BADHANDLE);
    check("generation never issued", ath_channel_send(out + (5 << 8), buffer, 5, 0), ATH_E_BADHANDLE);
    check("free slot", ath_channel_send((1 << 8) | 20, buffer, 5, 0), ATH_E_BADHANDLE);
    check("close a forged handle", ath_handle_close(0x7fffff1f), ATH_E_BADHANDLE);

    /* Stale handles. */
    int32_t extra = open_channel("to-victim");
    check("close", ath_handle_close(extra), 0);
    check("send on a closed handle", ath_channel_send(extra, buffer, 5, 0), ATH_E_STALE);
    check("close it twice", ath_handle_close(extra), ATH_E_STALE);
    int32_t again = open_channel("to-victim");
    check("its slot is reused", again & 0xff, extra & 0xff);
    check("with a new generation", again != extra, 1);
    check("the old handle stays stale", ath_channel_send(extra, buffer, 5, 0), ATH_E_STALE);
    ath_handle_close(again);

    /* Pointers and lengths past the end of linear memory. */
    check("send from past the end", ath_channel_send(out, PAST(-4), 8, 0), ATH_E_FAULT);
    check("send from far away", ath_channel_send(out, (void *)(uintptr_t)0xfffffff0u, 8, 0), ATH_E_FAULT);
    check("random into past the end", ath_random(PAST(-3), 4), ATH_E_FAULT);
    check("random up to the end", ath_random(PAST(-4), 4), 0);
    check("random of nothing at the end", ath_random(PAST(0), 0), 0);
    check("random with a huge length", ath_random(buffer, 0x7fffffff), ATH_E_FAULT);
    int32_t handles[1] = { out };
    check("wait on handles past the end", ath_wait(PAST(-2), 1, 0), ATH_E_FAULT);
    check("batch past the end", ath_channel_send_batch(out, PAST(-100), 4, 68, 0), ATH_E_FAULT);
    check("batch of too many", ath_channel_send_batch(out, buffer, 100000, 4, 0), ATH_E_INVALID);

    /* Messages too big, and a batch with one bad length: nothing is sent. */
    check("message too big", ath_channel_send(out, buffer, 17, 0), ATH_E_TOOBIG);
    static uint8_t slots[3 * 20];
    uint32_t lengths[3] = { 3, 16, 17 };
    for (int i = 0; i < 3; i++)
        memcpy(slots + 20 * i, &lengths[i], 4);
    check("batch with a message too big", ath_channel_send_batch(out, slots, 3, 20, 0), ATH_E_TOOBIG);
    lengths[2] = 20;
    memcpy(slots + 40, &lengths[2], 4);
    check("batch longer than its slot", ath_channel_send_batch(out, slots, 3, 20, 0), ATH_E_TOOBIG);

    /* Waiting. */
    check("wait on nothing", ath_wait(handles, 0, 0), ATH_E_INVALID);
    check("wait on a forged handle", ath_wait((int32_t[]){ 77 }, 1, 0), ATH_E_BADHANDLE);
    check("wait on a sending end with room", ath_wait(handles, 1, 0), 0);

    /* Ports: inside and outside the grant port:0x2f8-0x2ff. */
    check("ports outside the grant", ath_port_open(0x3f8, 1), ATH_E_DENIED);
    check("ports overlapping the grant", ath_port_open(0x2f0, 16), ATH_E_DENIED);
    check("ports the kernel keeps", ath_port_open(0xf4, 1), ATH_E_DENIED);
    check("ports beyond 0xffff", ath_port_open(0xfffe, 4), ATH_E_RANGE);
    int32_t port = ath_port_open(0x2f8, 8);
    check("ports inside the grant", port > 0, 1);
    check("a port past the handle", ath_port_in(port, 0x300, 1), ATH_E_RANGE);
    check("a word across the end", ath_port_in(port, 0x2ff, 2), ATH_E_RANGE);
    check("a port below the handle", ath_port_out(port, 0x2f7, 1, 0), ATH_E_RANGE);
    check("width 3", ath_port_in(port, 0x2f8, 3), ATH_E_INVALID);
    check("read a granted port", ath_port_in(port, 0x2fb, 1) >= 0, 1);
    check("a port handle as a channel", ath_channel_send(port, buffer, 1, 0), ATH_E_TYPE);
    check("a channel handle as a port", ath_port_in(out, 0x2f8, 1), ATH_E_TYPE);

    /* IRQ lines: irq:3 granted. */
    check("an IRQ line not granted", ath_irq_open(5), ATH_E_DENIED);
    check("the tick's line", ath_irq_open(0), ATH_E_DENIED);
    check("a line beyond 15", ath_irq_open(16), ATH_E_RANGE);
    int32_t irq = ath_irq_open(3);
    check("a granted line", irq > 0, 1);
    check("wait on an IRQ with a timeout", ath_wait((int32_t[]){ irq }, 1, 1000000), ATH_E_TIMEOUT);

    /* Which machine: COM2's scratch register keeps a byte on x86-64; AArch64 has no ports
     * (they read all ones), and its appliance grants virt's PL031 instead of the HPET. */
    ath_port_out(port, 0x2ff, 1, 0x5a);
    if (ath_port_in(port, 0x2ff, 1) == 0xff) {
        check("MMIO outside the grant", ath_mmio_open(0x9010000, 0x800), ATH_E_DENIED);
        check("the GIC", ath_mmio_open(0x8000000, 4), ATH_E_DENIED);
        check("RAM", ath_mmio_open(0x40000000, 4096), ATH_E_DENIED);
        int32_t rtc = ath_mmio_open(0x9010000, 0x400);
        check("a granted window", rtc > 0, 1);
        check("the PL031's seconds (after 2020)", ath_mmio_read(rtc, 0, 4) > 1577836800, 1);
        check("past the window", ath_mmio_read(rtc, 0x400, 4), ATH_E_RANGE);
        check("across its end", ath_mmio_read(rtc, 0x3fe, 4), ATH_E_RANGE);
        check("misaligned", ath_mmio_read(rtc, 2, 4), ATH_E_RANGE);
        /* An interrupt that fires: the PL031's match register set to now raises its line
         * (virt's shared interrupt 2, which x86-64's kernel keeps as the PIC cascade). */
        int32_t alarm = ath_irq_open(2);
        check("the PL031's line", alarm > 0, 1);
        ath_mmio_write(rtc, 0x04, 4, ath_mmio_read(rtc, 0, 4));   /* MR: now */
        ath_mmio_write(rtc, 0x10, 4, 1);                           /* IMSC: interrupt on */
        check("an IRQ that fires: irq_wait", ath_irq_wait(alarm) >= 1, 1);
        ath_mmio_write(rtc, 0x10, 4, 0);
        ath_mmio_write(rtc, 0x1c, 4, 1);                           /* ICR: acknowledged */
        check("and is closed", ath_handle_close(alarm), 0);
    } else {
        devices_x86(port, irq);
    }
    ath_trace();                        /* the kernel's record of the refusals */

    /* Random bytes differ. */
    uint8_t a[16], b[16];
    ath_random(a, 16);
    ath_random(b, 16);
    check("random bytes differ", memcmp(a, b, 16) != 0, 1);

    /* Fill the handle table. */
    int32_t last = 0, opened = 0;
    while ((last = open_channel("to-victim")) > 0)
        opened++;
    check("a full handle table", last, ATH_E_FULL);
    check("holds 32 handles", opened + 4, 32);   /* out, port, irq, hpet were open */

    /* Two legitimate messages; the victim checks it got exactly those, then ends the
     * appliance: the summary goes first. */
    check("send hello", ath_channel_send(out, "hello", 5, 0), 0);
    ath_yield();                        /* the victim tries our IRQ line meanwhile */

    int at = 0;
    memcpy(line, "attacker: ", 10);
    at = 10 + put_number(line + 10, checks);
    memcpy(line + at, " checks, ", 9);
    at += 9;
    at += put_number(line + at, failures);
    memcpy(line + at, " failed", 7);
    ath_log(line, at + 7);
    if (failures)
        ath_exit(3);
    ath_channel_send(out, "done", 4, 0);
    return 0;
}
