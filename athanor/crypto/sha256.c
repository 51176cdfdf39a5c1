/*
 * SHA-256, FIPS 180-4 sections 4.1.2, 4.2.2, 5.1.1, 6.2.
 *
 * Big-endian throughout: message words, the length field and the digest
 * are read and written byte by byte, so alignment and host order never
 * matter.  memcpy and memset are spelled as compiler builtins: no header
 * is assumed, and -ffreestanding (which implies -fno-builtin) may still
 * inline them.
 */
#include "crypto.h"

/* FIPS 180-4 5.3.3: first 32 bits of the fractional parts of the square
 * roots of the first 8 primes. */
static const uint32_t sha256_initial_state[8] = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
    0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

/* FIPS 180-4 4.2.2: first 32 bits of the fractional parts of the cube
 * roots of the first 64 primes. */
static const uint32_t sha256_round_constants[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t rotate_right(uint32_t x, unsigned n)
{
    return (x >> n) | (x << (32 - n));
}

static uint32_t load_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void store_be32(uint8_t *p, uint32_t x)
{
    p[0] = (uint8_t)(x >> 24);
    p[1] = (uint8_t)(x >> 16);
    p[2] = (uint8_t)(x >> 8);
    p[3] = (uint8_t)x;
}

/* FIPS 180-4 6.2.2: one 64-byte block into the state. */
static void sha256_compress(uint32_t state[8], const uint8_t block[ATH_SHA256_BLOCK_SIZE])
{
    uint32_t schedule[64];
    for (int t = 0; t < 16; t++)
        schedule[t] = load_be32(block + 4 * t);
    for (int t = 16; t < 64; t++) {
        uint32_t w15 = schedule[t - 15], w2 = schedule[t - 2];
        uint32_t sigma0 = rotate_right(w15, 7) ^ rotate_right(w15, 18) ^ (w15 >> 3);
        uint32_t sigma1 = rotate_right(w2, 17) ^ rotate_right(w2, 19) ^ (w2 >> 10);
        schedule[t] = sigma1 + schedule[t - 7] + sigma0 + schedule[t - 16];
    }

    uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
    uint32_t e = state[4], f = state[5], g = state[6], h = state[7];
    for (int t = 0; t < 64; t++) {
        uint32_t big_sigma1 = rotate_right(e, 6) ^ rotate_right(e, 11) ^ rotate_right(e, 25);
        uint32_t choose = (e & f) ^ (~e & g);
        uint32_t t1 = h + big_sigma1 + choose + sha256_round_constants[t] + schedule[t];
        uint32_t big_sigma0 = rotate_right(a, 2) ^ rotate_right(a, 13) ^ rotate_right(a, 22);
        uint32_t majority = (a & b) ^ (a & c) ^ (b & c);
        uint32_t t2 = big_sigma0 + majority;
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    state[0] += a;
    state[1] += b;
    state[2] += c;
    state[3] += d;
    state[4] += e;
    state[5] += f;
    state[6] += g;
    state[7] += h;
}

void ath_sha256_init(struct ath_sha256_ctx *ctx)
{
    __builtin_memcpy(ctx->state, sha256_initial_state, sizeof ctx->state);
    ctx->total_bytes = 0;
    ctx->block_used = 0;
}

void ath_sha256_update(struct ath_sha256_ctx *ctx, const void *data, size_t len)
{
    const uint8_t *in = data;
    if (len == 0)
        return;         /* data may then be NULL, which memcpy must not see */
    ctx->total_bytes += len;

    if (ctx->block_used > 0) {
        size_t take = ATH_SHA256_BLOCK_SIZE - ctx->block_used;
        if (take > len)
            take = len;
        __builtin_memcpy(ctx->block + ctx->block_used, in, take);
        ctx->block_used += take;
        in += take;
        len -= take;
        if (ctx->block_used < ATH_SHA256_BLOCK_SIZE)
            return;
        sha256_compress(ctx->state, ctx->block);
        ctx->block_used = 0;
    }
    for (; len >= ATH_SHA256_BLOCK_SIZE; in += ATH_SHA256_BLOCK_SIZE, len -= ATH_SHA256_BLOCK_SIZE)
        sha256_compress(ctx->state, in);
    if (len > 0) {
        __builtin_memcpy(ctx->block, in, len);
        ctx->block_used = len;
    }
}

/*
 * FIPS 180-4 5.1.1 padding: 0x80, zeros, then the length in bits as a
 * 64-bit big-endian number closing the last block.
 *
 *   | message tail | 80 | 00 ... 00 | bit length (8 bytes) |
 */
void ath_sha256_final(struct ath_sha256_ctx *ctx, uint8_t out[ATH_SHA256_DIGEST_SIZE])
{
    uint64_t bit_length = ctx->total_bytes << 3;
    size_t used = ctx->block_used;

    ctx->block[used++] = 0x80;
    if (used > ATH_SHA256_BLOCK_SIZE - 8) {
        __builtin_memset(ctx->block + used, 0, ATH_SHA256_BLOCK_SIZE - used);
        sha256_compress(ctx->state, ctx->block);
        used = 0;
    }
    __builtin_memset(ctx->block + used, 0, ATH_SHA256_BLOCK_SIZE - 8 - used);
    store_be32(ctx->block + 56, (uint32_t)(bit_length >> 32));
    store_be32(ctx->block + 60, (uint32_t)bit_length);
    sha256_compress(ctx->state, ctx->block);

    for (int i = 0; i < 8; i++)
        store_be32(out + 4 * i, ctx->state[i]);
}

void ath_sha256(const void *data, size_t len, uint8_t out[ATH_SHA256_DIGEST_SIZE])
{
    struct ath_sha256_ctx ctx;
    ath_sha256_init(&ctx);
    ath_sha256_update(&ctx, data, len);
    ath_sha256_final(&ctx, out);
}
