/*
 * The serial console as a Wasm driver on AArch64: QEMU virt's PL011 (at 0x09000000, its
 * interrupt the device tree's shared interrupt 1), granted only mmio:0x9000000-0x9000fff and
 * irq:1. The same protocol and line discipline as serial.c, COM1's driver on x86-64 (an
 * appliance lists one per machine: appliances/echo):
 *
 *   channel console.in   (driver -> app)  one message per line typed, without its newline
 *   channel console.out  (app -> driver)  bytes to write ("\n" becomes "\r\n")
 *
 * Receiving is interrupt driven (receive and receive-timeout interrupts). The kernel keeps its
 * own polled writer on the same UART for its messages and panics.
 *
 * Another board's PL011 is the same driver built with its address and line (the manifest's
 * cflags): the Raspberry Pi 3's is at 0x3f201000, irq:9 (GPU interrupt 57; docs/ports.md).
 */
#include "../include/athanor.h"

#ifndef PL011_BASE
#define PL011_BASE 0x09000000
#endif
#define PL011_SIZE 0x1000
#ifndef PL011_IRQ
#define PL011_IRQ 1                     /* the device tree's SPI number */
#endif
#define UART_DR 0x00                    /* data */
#define UART_FR 0x18                    /* flags */
#define UART_IMSC 0x38                  /* interrupt mask set/clear */
#define UART_ICR 0x44                   /* interrupt clear */
#define FR_RXFE 0x10                    /* receive FIFO empty */
#define FR_TXFF 0x20                    /* transmit FIFO full */
#define INT_RX 0x10                     /* receive */
#define INT_RT 0x40                     /* receive timeout: bytes waiting below the FIFO level */

static int32_t uart, irq, to_app, from_app;
static char line[256];
static int line_length;
static char last;
static char output[4096];

static int32_t open_channel(const char *name, int32_t length)
{
    int32_t handle = ath_channel_open(name, length);
    return handle > 0 ? handle : 0;
}

static void put(char c)
{
    while (ath_mmio_read(uart, UART_FR, 4) & FR_TXFF) {
    }
    ath_mmio_write(uart, UART_DR, 4, (unsigned char)c);
}

static void write_bytes(const char *bytes, int length)
{
    for (int i = 0; i < length; i++) {
        if (bytes[i] == '\n')
            put('\r');
        put(bytes[i]);
    }
}

static void end_line(void)
{
    write_bytes("\n", 1);
    if (to_app)
        ath_channel_send(to_app, line, line_length, ATH_NONBLOCK);
    line_length = 0;
}

/* Clears the receive interrupts, then takes every byte the FIFO holds. In this order: a byte
 * that lands after the last look at the FIFO raises the interrupt again (cleared after the
 * loop, it would have been lost with its byte left in the FIFO, and QEMU's PL011 raises the
 * receive interrupt only when the FIFO stops being empty: the console went deaf). */
static void receive(void)
{
    ath_mmio_write(uart, UART_ICR, 4, INT_RX | INT_RT);
    while (!(ath_mmio_read(uart, UART_FR, 4) & FR_RXFE)) {
        char c = (char)ath_mmio_read(uart, UART_DR, 4);
        if (c == '\n' && last == '\r') {
            last = c;
            continue;                   /* CR LF is one end of line */
        }
        last = c;
        if (c == '\r' || c == '\n') {
            end_line();
        } else if (c == 0x7f || c == 0x08) {
            if (line_length) {
                line_length--;
                write_bytes("\b \b", 3);
            }
        } else if ((unsigned char)c >= 0x20 && line_length < (int)sizeof line) {
            line[line_length++] = c;
            put(c);
        }
    }
}

int main(void)
{
    uart = ath_mmio_open(PL011_BASE, PL011_SIZE);
    irq = ath_irq_open(PL011_IRQ);
    if (uart < 0 || irq < 0)
        __builtin_trap();
    to_app = open_channel("console.in", 10);
    from_app = open_channel("console.out", 11);
    ath_mmio_write(uart, UART_IMSC, 4, INT_RX | INT_RT);

    int32_t handles[2] = { irq, from_app };
    int32_t count = from_app ? 2 : 1;
    for (;;) {
        receive();
        int32_t ready = ath_wait(handles, count, ATH_FOREVER);
        if (ready == 0) {
            ath_irq_wait(irq);          /* takes the interrupt that woke us: does not block */
        } else if (ready == 1) {
            int32_t n = ath_channel_recv(from_app, output, sizeof output, ATH_NONBLOCK);
            if (n > 0)
                write_bytes(output, n);
        } else {
            __builtin_trap();
        }
    }
}
