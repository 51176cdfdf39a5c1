/* Bit manipulation: table-driven CRC-32 and a bitwise Adler/popcount mix over a buffer. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static uint32_t table[256];

static void make_table(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
}

static uint32_t crc32(const uint8_t *p, uint32_t n, uint32_t crc)
{
    crc = ~crc;
    for (uint32_t i = 0; i < n; i++)
        crc = table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

static uint32_t bits(const uint8_t *p, uint32_t n)
{
    uint32_t a = 1, b = 0, ones = 0;
    for (uint32_t i = 0; i < n; i++) {
        a = (a + p[i]) % 65521;
        b = (b + a) % 65521;
        uint32_t x = p[i];
        x = x - ((x >> 1) & 0x55);
        x = (x & 0x33) + ((x >> 2) & 0x33);
        ones += (x + (x >> 4)) & 0x0F;
    }
    return ((b << 16) | a) ^ ones;
}

int main(int argc, char **argv)
{
    int32_t rounds = argc > 1 ? atoi(argv[1]) : 80;
    const uint32_t n = 1 << 18;
    uint8_t *buffer = malloc(n);
    for (uint32_t i = 0; i < n; i++)
        buffer[i] = (uint8_t)(i * 2654435761u >> 13);
    make_table();
    uint32_t crc = 0, mix = 0;
    for (int32_t r = 0; r < rounds; r++) {
        crc = crc32(buffer, n, crc);
        mix ^= bits(buffer + (r & 1023), n - 1024) + (uint32_t)r;
    }
    printf("crc %08x mix %08x\n", crc, mix);
    free(buffer);
    return 0;
}
