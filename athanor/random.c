/*
 * Random bytes for athanor.random: the CPU's RDRAND (or RDSEED) where it has one; otherwise a
 * generator seeded at boot, SHA-256 over (seed, counter). The seed then comes only from the
 * cycle counter and timing jitter, which is weak: fine for jitter and IDs, not for keys. The
 * boot log says which one runs.
 */
#include "loader.h"
#include "crypto/crypto.h"

static uint8_t seed[ATH_SHA256_DIGEST_SIZE];
static uint64_t counter;
static bool hardware;

void ath_random_init(void)
{
    const char *source = ath_arch_random_source();
    uint64_t probe;
    hardware = source && ath_arch_random64(&probe);
    if (hardware) {
        ath_kprintf("[athanor] random: %s\n", source);
        return;
    }
    uint64_t material[8];
    for (unsigned i = 0; i < 8; i++) {
        material[i] = ath_arch_cycles();
        for (volatile unsigned spin = 0; spin < 100 + (material[i] & 0xff); spin++) {
        }
    }
    ath_sha256(material, sizeof material, seed);
    ath_kprintf("[athanor] random: seeded SHA-256 generator (the CPU has no RDRAND or RDSEED; "
                "weak seed)\n");
}

void ath_random_fill(uint8_t *out, size_t length)
{
    while (length) {
        uint8_t block[ATH_SHA256_DIGEST_SIZE];
        size_t n;
        if (hardware) {
            uint64_t value = 0;
            if (!ath_arch_random64(&value))
                ath_panic("the CPU's random number instruction keeps failing");
            memcpy(block, &value, 8);
            n = ATH_MIN(length, 8u);
        } else {
            uint8_t input[ATH_SHA256_DIGEST_SIZE + 8];
            memcpy(input, seed, sizeof seed);
            memcpy(input + sizeof seed, &counter, 8);
            counter++;
            ath_sha256(input, sizeof input, block);
            n = ATH_MIN(length, sizeof block);
        }
        memcpy(out, block, n);
        out += n;
        length -= n;
    }
}
