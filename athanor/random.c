/*
 * Random bytes for athanor.random and WASI's random_get: the CPU's RDRAND (or RDSEED) where it
 * has one; otherwise a generator, SHA-256 over (pool, counter), whose pool is seeded at boot
 * from the cycle counter and timing jitter (weak: fine for jitter and IDs, not for keys) and
 * reseeded from what a module granted `entropy` feeds it (athanor.random_feed: a virtio-rng
 * driver). While an appliance has such a module and it has not fed the pool yet, other modules'
 * random calls wait for it (as getrandom waits for Linux's pool), at most ATH_RANDOM_WAIT_MS,
 * or until it says it has nothing to give (a feed of 0 bytes); the boot log says which source
 * seeded the pool.
 */
#include "kernel.h"
#include "crypto/crypto.h"
#include "kernel_abi.h"

#define SEEDED_BYTES 32                /* a feed of at least this many bytes seeds the pool */

static uint8_t pool[ATH_SHA256_DIGEST_SIZE];
static uint64_t counter;
static bool hardware;
static bool seeded;                    /* by a module's feed */
static bool awaited;                   /* an entropy module exists and has not fed yet */

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
    ath_sha256(material, sizeof material, pool);
}

void ath_random_expect_feed(const char *modules)
{
    if (hardware)
        return;
    if (modules) {
        awaited = true;
        ath_kprintf("[athanor] random: no " ATH_ARCH_RANDOM_INSTRUCTIONS "; waiting for %s to seed "
                    "the pool\n", modules);
    } else {
        ath_kprintf("[athanor] random: seeded SHA-256 generator (the CPU has no "
                    ATH_ARCH_RANDOM_INSTRUCTIONS " and no module is granted entropy: weak seed)\n");
    }
}

/* Before a module's random call: while the pool waits for its feed, sleep (preemptible) up to
 * ATH_RANDOM_WAIT_MS in all; then go on with the weak seed, saying so once. */
static void wait_for_feed(void)
{
    uint64_t deadline = ath_clock_ns() + ATH_RANDOM_WAIT_MS * 1000000ull;
    while (awaited && !seeded) {
        if (ath_clock_ns() >= deadline) {
            awaited = false;
            ath_kprintf("[athanor] random: no entropy within %d ms; weak seed\n",
                        ATH_RANDOM_WAIT_MS);
            return;
        }
        ath_sched_block(ath_clock_ns() + 1000000);      /* a millisecond, then look again */
    }
}

void ath_random_fill(uint8_t *out, size_t length)
{
    if (!hardware)
        wait_for_feed();
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
            memcpy(input, pool, sizeof pool);
            memcpy(input + sizeof pool, &counter, 8);
            counter++;
            ath_sha256(input, sizeof input, block);
            n = ATH_MIN(length, sizeof block);
            /* A SHA-256 block per 32 bytes is slow (AArch64 without RNDR: about 6 ms per
             * 64 KiB chunk under QEMU's -icount): a preemption point every 2 KiB. Only kernel
             * calls fill (abi.c, wasi.c), where blocking is allowed. */
            if (counter % 64 == 0)
                ath_sched_preempt_point();
        }
        memcpy(out, block, n);
        out += n;
        length -= n;
    }
}

/* athanor.random_feed(ptr, len): the bytes copied once into kernel memory, then
 * pool = SHA-256(pool, counter, bytes). Mixing can only add to what the pool holds: a module
 * that feeds constant bytes makes it no weaker than it was. */
int32_t ath_abi_random_feed(void *vmctx, uint32_t ptr, uint32_t len)
{
    struct ath_task *task = ath_caller(vmctx);
    if (len > ATH_RANDOM_FEED_MAX)
        return ath_refuse(ATH_E_RANGE);
    if (len == 0) {                     /* this module will feed nothing (no device) */
        if (awaited && !seeded)
            ath_kprintf("[athanor] random: module %s has no entropy to give; weak seed\n",
                        task->record.name);
        awaited = false;
        return hardware ? 1 : 0;
    }
    const uint8_t *bytes = ath_user_memory(vmctx, ptr, len);
    if (!bytes)
        return ath_refuse(ATH_E_FAULT);
    if (hardware)
        return 1;
    uint8_t copy[ATH_RANDOM_FEED_MAX];
    memcpy(copy, bytes, len);                               /* read once */
    struct ath_sha256_ctx ctx;
    ath_sha256_init(&ctx);
    ath_sha256_update(&ctx, pool, sizeof pool);
    ath_sha256_update(&ctx, &counter, sizeof counter);
    ath_sha256_update(&ctx, copy, len);
    ath_sha256_final(&ctx, pool);
    counter++;
    if (!seeded && len >= SEEDED_BYTES) {
        seeded = true;
        ath_kprintf("[athanor] random: pool seeded by module %s (%u bytes)\n",
                    task->record.name, len);
    }
    return 0;
}
