/*
 * The serial console as a Wasm driver: COM1 (a 16550 UART at 0x3f8, IRQ 4), granted only
 * port:0x3f8-0x3ff and irq:4. Receiving is interrupt driven: the driver sleeps in athanor.wait
 * until the UART's interrupt or output to write arrives.
 *
 *   channel console.in   (driver -> app)  one message per line typed, without its newline
 *   channel console.out  (app -> driver)  bytes to write ("\n" becomes "\r\n")
 *
 * It is the line discipline too: typed characters are echoed, backspace erases, Enter (CR or
 * LF) ends the line. Either channel may be missing from an appliance. When an app is not
 * reading, lines that do not fit in console.in are dropped rather than block the console.
 * The kernel keeps its own polled writer on the same UART for its messages and panics.
 */
#include "../include/athanor.h"

#define COM1 0x3f8
#define UART_DATA (COM1 + 0)
#define UART_IER (COM1 + 1)
#define UART_MCR (COM1 + 4)
#define UART_LSR (COM1 + 5)
#define LSR_DATA_READY 0x01
#define LSR_THR_EMPTY 0x20
#define IER_RECEIVED 0x01
#define MCR_DTR_RTS_OUT2 0x0b           /* OUT2 routes the UART's interrupt to the PIC */

static int32_t port, irq, to_app, from_app;
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
    while (!(ath_port_in(port, UART_LSR, 1) & LSR_THR_EMPTY)) {
    }
    ath_port_out(port, UART_DATA, 1, (unsigned char)c);
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

/* Takes every byte the UART holds (the interrupt stays asserted until it is empty). */
static void receive(void)
{
    while (ath_port_in(port, UART_LSR, 1) & LSR_DATA_READY) {
        char c = (char)ath_port_in(port, UART_DATA, 1);
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
    port = ath_port_open(COM1, 8);
    irq = ath_irq_open(4);
    if (port < 0 || irq < 0)
        __builtin_trap();
    to_app = open_channel("console.in", 10);
    from_app = open_channel("console.out", 11);
    ath_port_out(port, UART_IER, 1, IER_RECEIVED);
    ath_port_out(port, UART_MCR, 1, MCR_DTR_RTS_OUT2);

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
