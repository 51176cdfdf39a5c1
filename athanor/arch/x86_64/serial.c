/*
 * COM1 (0x3f8), 115200 baud 8N1, polled, no interrupts. If no UART answers
 * (line status reads 0xff), output is dropped rather than waited for. Input is
 * polled too (WASI stdin, athanor/wasi.c), never while a Wasm driver owns the UART.
 */
#include "kernel.h"
#include "x86.h"

#define COM1            0x3f8
#define UART_DATA       0
#define UART_IER        1
#define UART_FCR        2
#define UART_LCR        3
#define UART_MCR        4
#define UART_LSR        5
#define UART_LSR_DATA   0x01    /* a received byte is waiting */
#define UART_LSR_THRE   0x20    /* transmit holding register empty */
#define UART_LSR_TEMT   0x40    /* transmitter completely empty */
#define SPIN_LIMIT      1000000

static bool present;

void x86_serial_init(void)
{
    x86_outb(COM1 + UART_IER, 0x00);    /* no interrupts */
    x86_outb(COM1 + UART_LCR, 0x80);    /* DLAB: divisor follows */
    x86_outb(COM1 + UART_DATA, 0x01);   /* divisor 1: 115200 baud */
    x86_outb(COM1 + UART_IER, 0x00);
    x86_outb(COM1 + UART_LCR, 0x03);    /* 8 bits, no parity, 1 stop bit */
    x86_outb(COM1 + UART_FCR, 0xc7);    /* FIFOs on and cleared */
    x86_outb(COM1 + UART_MCR, 0x03);    /* DTR, RTS; OUT2 off: no IRQ */
    present = x86_inb(COM1 + UART_LSR) != 0xff;
}

static void wait_for(uint8_t bits)
{
    for (int i = 0; i < SPIN_LIMIT && !(x86_inb(COM1 + UART_LSR) & bits); i++)
        x86_pause();
}

static void put_raw(char c)
{
    wait_for(UART_LSR_THRE);
    x86_outb(COM1 + UART_DATA, (uint8_t)c);
}

void ath_arch_console_putc(char c)
{
    if (!present)
        return;
    if (c == '\n')
        put_raw('\r');
    put_raw(c);
}

void x86_serial_flush(void)
{
    if (present)
        wait_for(UART_LSR_TEMT);
}

bool ath_arch_console_getc(char *c)
{
    if (!present || !(x86_inb(COM1 + UART_LSR) & UART_LSR_DATA))
        return false;
    *c = (char)x86_inb(COM1 + UART_DATA);
    return true;
}
