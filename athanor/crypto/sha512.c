/*
 * SHA-512, FIPS 180-4 sections 4.1.3, 4.2.3, 5.1.2, 6.4.
 *
 * The same shape as sha256.c with 64-bit words, 80 rounds and 128-byte
 * blocks.  memcpy and memset are spelled as compiler builtins for the
 * reason given there.
 */
#include "crypto.h"

/* FIPS 180-4 5.3.5: first 64 bits of the fractional parts of the square
 * roots of the first 8 primes. */
static const uint64_t sha512_initial_state[8] = {
    0x6a09e667f3bcc908ull, 0xbb67ae8584caa73bull, 0x3c6ef372fe94f82bull, 0xa54ff53a5f1d36f1ull,
    0x510e527fade682d1ull, 0x9b05688c2b3e6c1full, 0x1f83d9abfb41bd6bull, 0x5be0cd19137e2179ull,
};

/* FIPS 180-4 4.2.3: first 64 bits of the fractional parts of the cube
 * roots of the first 80 primes. */
static const uint64_t sha512_round_constants[80] = {
    0x428a2f98d728ae22ull, 0x7137449123ef65cdull, 0xb5c0fbcfec4d3b2full, 0xe9b5dba58189dbbcull,
    0x3956c25bf348b538ull, 0x59f111f1b605d019ull, 0x923f82a4af194f9bull, 0xab1c5ed5da6d8118ull,
    0xd807aa98a3030242ull, 0x12835b0145706fbeull, 0x243185be4ee4b28cull, 0x550c7dc3d5ffb4e2ull,
    0x72be5d74f27b896full, 0x80deb1fe3b1696b1ull, 0x9bdc06a725c71235ull, 0xc19bf174cf692694ull,
    0xe49b69c19ef14ad2ull, 0xefbe4786384f25e3ull, 0x0fc19dc68b8cd5b5ull, 0x240ca1cc77ac9c65ull,
    0x2de92c6f592b0275ull, 0x4a7484aa6ea6e483ull, 0x5cb0a9dcbd41fbd4ull, 0x76f988da831153b5ull,
    0x983e5152ee66dfabull, 0xa831c66d2db43210ull, 0xb00327c898fb213full, 0xbf597fc7beef0ee4ull,
    0xc6e00bf33da88fc2ull, 0xd5a79147930aa725ull, 0x06ca6351e003826full, 0x142929670a0e6e70ull,
    0x27b70a8546d22ffcull, 0x2e1b21385c26c926ull, 0x4d2c6dfc5ac42aedull, 0x53380d139d95b3dfull,
    0x650a73548baf63deull, 0x766a0abb3c77b2a8ull, 0x81c2c92e47edaee6ull, 0x92722c851482353bull,
    0xa2bfe8a14cf10364ull, 0xa81a664bbc423001ull, 0xc24b8b70d0f89791ull, 0xc76c51a30654be30ull,
    0xd192e819d6ef5218ull, 0xd69906245565a910ull, 0xf40e35855771202aull, 0x106aa07032bbd1b8ull,
    0x19a4c116b8d2d0c8ull, 0x1e376c085141ab53ull, 0x2748774cdf8eeb99ull, 0x34b0bcb5e19b48a8ull,
    0x391c0cb3c5c95a63ull, 0x4ed8aa4ae3418acbull, 0x5b9cca4f7763e373ull, 0x682e6ff3d6b2b8a3ull,
    0x748f82ee5defb2fcull, 0x78a5636f43172f60ull, 0x84c87814a1f0ab72ull, 0x8cc702081a6439ecull,
    0x90befffa23631e28ull, 0xa4506cebde82bde9ull, 0xbef9a3f7b2c67915ull, 0xc67178f2e372532bull,
    0xca273eceea26619cull, 0xd186b8c721c0c207ull, 0xeada7dd6cde0eb1eull, 0xf57d4f7fee6ed178ull,
    0x06f067aa72176fbaull, 0x0a637dc5a2c898a6ull, 0x113f9804bef90daeull, 0x1b710b35131c471bull,
    0x28db77f523047d84ull, 0x32caab7b40c72493ull, 0x3c9ebe0a15c9bebcull, 0x431d67c49c100d4cull,
    0x4cc5d4becb3e42b6ull, 0x597f299cfc657e2aull, 0x5fcb6fab3ad6faecull, 0x6c44198c4a475817ull,
};

static uint64_t rotate_right(uint64_t x, unsigned n)
{
    return (x >> n) | (x << (64 - n));
}

static uint64_t load_be64(const uint8_t *p)
{
    uint64_t x = 0;
    for (int i = 0; i < 8; i++)
        x = x << 8 | p[i];
    return x;
}

static void store_be64(uint8_t *p, uint64_t x)
{
    for (int i = 7; i >= 0; i--, x >>= 8)
        p[i] = (uint8_t)x;
}

/* FIPS 180-4 6.4.2: one 128-byte block into the state. */
static void sha512_compress(uint64_t state[8], const uint8_t block[ATH_SHA512_BLOCK_SIZE])
{
    uint64_t schedule[80];
    for (int t = 0; t < 16; t++)
        schedule[t] = load_be64(block + 8 * t);
    for (int t = 16; t < 80; t++) {
        uint64_t w15 = schedule[t - 15], w2 = schedule[t - 2];
        uint64_t sigma0 = rotate_right(w15, 1) ^ rotate_right(w15, 8) ^ (w15 >> 7);
        uint64_t sigma1 = rotate_right(w2, 19) ^ rotate_right(w2, 61) ^ (w2 >> 6);
        schedule[t] = sigma1 + schedule[t - 7] + sigma0 + schedule[t - 16];
    }

    uint64_t a = state[0], b = state[1], c = state[2], d = state[3];
    uint64_t e = state[4], f = state[5], g = state[6], h = state[7];
    for (int t = 0; t < 80; t++) {
        uint64_t big_sigma1 = rotate_right(e, 14) ^ rotate_right(e, 18) ^ rotate_right(e, 41);
        uint64_t choose = (e & f) ^ (~e & g);
        uint64_t t1 = h + big_sigma1 + choose + sha512_round_constants[t] + schedule[t];
        uint64_t big_sigma0 = rotate_right(a, 28) ^ rotate_right(a, 34) ^ rotate_right(a, 39);
        uint64_t majority = (a & b) ^ (a & c) ^ (b & c);
        uint64_t t2 = big_sigma0 + majority;
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

void ath_sha512_init(struct ath_sha512_ctx *ctx)
{
    __builtin_memcpy(ctx->state, sha512_initial_state, sizeof ctx->state);
    ctx->total_bytes = 0;
    ctx->block_used = 0;
}

void ath_sha512_update(struct ath_sha512_ctx *ctx, const void *data, size_t len)
{
    const uint8_t *in = data;
    if (len == 0)
        return;         /* data may then be NULL, which memcpy must not see */
    ctx->total_bytes += len;

    if (ctx->block_used > 0) {
        size_t take = ATH_SHA512_BLOCK_SIZE - ctx->block_used;
        if (take > len)
            take = len;
        __builtin_memcpy(ctx->block + ctx->block_used, in, take);
        ctx->block_used += take;
        in += take;
        len -= take;
        if (ctx->block_used < ATH_SHA512_BLOCK_SIZE)
            return;
        sha512_compress(ctx->state, ctx->block);
        ctx->block_used = 0;
    }
    for (; len >= ATH_SHA512_BLOCK_SIZE; in += ATH_SHA512_BLOCK_SIZE, len -= ATH_SHA512_BLOCK_SIZE)
        sha512_compress(ctx->state, in);
    if (len > 0) {
        __builtin_memcpy(ctx->block, in, len);
        ctx->block_used = len;
    }
}

/*
 * FIPS 180-4 5.1.2 padding: 0x80, zeros, then the length in bits as a
 * 128-bit big-endian number closing the last block.
 *
 *   | message tail | 80 | 00 ... 00 | bit length (16 bytes) |
 */
void ath_sha512_final(struct ath_sha512_ctx *ctx, uint8_t out[ATH_SHA512_DIGEST_SIZE])
{
    uint64_t bit_length_high = ctx->total_bytes >> 61;
    uint64_t bit_length_low = ctx->total_bytes << 3;
    size_t used = ctx->block_used;

    ctx->block[used++] = 0x80;
    if (used > ATH_SHA512_BLOCK_SIZE - 16) {
        __builtin_memset(ctx->block + used, 0, ATH_SHA512_BLOCK_SIZE - used);
        sha512_compress(ctx->state, ctx->block);
        used = 0;
    }
    __builtin_memset(ctx->block + used, 0, ATH_SHA512_BLOCK_SIZE - 16 - used);
    store_be64(ctx->block + 112, bit_length_high);
    store_be64(ctx->block + 120, bit_length_low);
    sha512_compress(ctx->state, ctx->block);

    for (int i = 0; i < 8; i++)
        store_be64(out + 8 * i, ctx->state[i]);
}

void ath_sha512(const void *data, size_t len, uint8_t out[ATH_SHA512_DIGEST_SIZE])
{
    struct ath_sha512_ctx ctx;
    ath_sha512_init(&ctx);
    ath_sha512_update(&ctx, data, len);
    ath_sha512_final(&ctx, out);
}
