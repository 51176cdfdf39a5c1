/*
 * The PL011 UART (QEMU virt's console, at the address the device tree gives): polled, no
 * interrupts, as COM1 is on x86-64. Before the device tree is read nothing is printed (the
 * early console starts at the first line ath_main prints).
 */
#include "aarch64.h"

#define UART_DR     0x00        /* data */
#define UART_FR     0x18        /* flags */
#define UART_FR_RXFE (1u << 4)  /* receive FIFO empty */
#define UART_FR_TXFF (1u << 5)  /* transmit FIFO full */
#define UART_IMSC   0x38        /* interrupt mask */
#define UART_ICR    0x44        /* interrupt clear */
#define SPIN_LIMIT  1000000

static uintptr_t uart;

void aarch64_pl011_init(uint64_t base)
{
    uart = base;
    if (uart) {
        mmio_write32(uart + UART_IMSC, 0);
        mmio_write32(uart + UART_ICR, 0x7ff);
    }
}

static void put_raw(char c)
{
    for (unsigned i = 0; i < SPIN_LIMIT && (mmio_read32(uart + UART_FR) & UART_FR_TXFF); i++)
        ;
    mmio_write32(uart + UART_DR, (uint8_t)c);
}

void ath_arch_console_putc(char c)
{
    if (!uart)
        return;
    if (c == '\n')
        put_raw('\r');
    put_raw(c);
}

bool ath_arch_console_getc(char *c)
{
    if (!uart || (mmio_read32(uart + UART_FR) & UART_FR_RXFE))
        return false;
    *c = (char)(mmio_read32(uart + UART_DR) & 0xff);
    return true;
}
