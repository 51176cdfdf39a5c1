/* Integer hashing: 64-bit multiply/rotate/xor mixing over a buffer, many rounds, and a
 * 32-bit FNV-1a over the same bytes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

static uint64_t mix_hash(const uint8_t *p, uint32_t n, uint64_t seed)
{
    const uint64_t k1 = 0x9E3779B185EBCA87ull, k2 = 0xC2B2AE3D27D4EB4Full;
    uint64_t h = seed ^ (n * k1);
    uint32_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v = (uint64_t)p[i] | (uint64_t)p[i + 1] << 8 | (uint64_t)p[i + 2] << 16 |
                     (uint64_t)p[i + 3] << 24 | (uint64_t)p[i + 4] << 32 |
                     (uint64_t)p[i + 5] << 40 | (uint64_t)p[i + 6] << 48 | (uint64_t)p[i + 7] << 56;
        h ^= rotl(v * k2, 31) * k1;
        h = rotl(h, 27) * k1 + 0x52dce729;
    }
    for (; i < n; i++)
        h = rotl(h ^ (p[i] * k1), 11) * k2;
    h ^= h >> 33;
    h *= k2;
    h ^= h >> 29;
    return h;
}

static uint32_t fnv1a(const uint8_t *p, uint32_t n)
{
    uint32_t h = 2166136261u;
    for (uint32_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

int main(int argc, char **argv)
{
    int32_t rounds = argc > 1 ? atoi(argv[1]) : 4000;
    const uint32_t n = 1 << 16;
    uint8_t *buffer = malloc(n);
    uint64_t state = 88172645463325252ull;
    for (uint32_t i = 0; i < n; i++) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        buffer[i] = (uint8_t)state;
    }
    uint64_t acc = 0;
    uint32_t acc32 = 0;
    for (int32_t r = 0; r < rounds; r++) {
        acc ^= mix_hash(buffer, n - (uint32_t)r, acc + (uint64_t)r);
        acc32 += fnv1a(buffer + r, n / 4);
    }
    printf("%016llx %08x\n", (unsigned long long)acc, acc32);
    free(buffer);
    return 0;
}
