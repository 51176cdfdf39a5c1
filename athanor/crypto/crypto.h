/*
 * Athanor crypto: what the kernel needs to check a signed image, and no more.
 *
 *   SHA-256   FIPS 180-4            (image and section digests)
 *   SHA-512   FIPS 180-4            (inside Ed25519)
 *   Ed25519   RFC 8032, verify only (the image signature)
 *
 * Freestanding C11: the only outside calls are memcpy, memset and memcmp.
 * Nothing here keeps global state, allocates, or can fail except by
 * returning false from ath_ed25519_verify.  None of it is constant-time:
 * every input it sees at boot is public.
 */
#ifndef ATH_CRYPTO_H
#define ATH_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ATH_SHA256_BLOCK_SIZE  64
#define ATH_SHA256_DIGEST_SIZE 32
#define ATH_SHA512_BLOCK_SIZE  128
#define ATH_SHA512_DIGEST_SIZE 64

#define ATH_ED25519_PUBLIC_KEY_SIZE 32
#define ATH_ED25519_SIGNATURE_SIZE  64

/*
 * Incremental hashing: init, then update any number of times with pieces
 * of any length (zero included), then final once.  After final the context
 * holds nothing useful; init it again to hash another message.
 */
struct ath_sha256_ctx {
    uint32_t state[8];
    uint64_t total_bytes;     /* message length so far */
    size_t block_used;        /* bytes waiting in block[], always < 64 */
    uint8_t block[ATH_SHA256_BLOCK_SIZE];
};

struct ath_sha512_ctx {
    uint64_t state[8];
    uint64_t total_bytes;     /* FIPS allows 2^128 bits; 2^64 bytes is plenty */
    size_t block_used;        /* bytes waiting in block[], always < 128 */
    uint8_t block[ATH_SHA512_BLOCK_SIZE];
};

/* sha256.c */
void ath_sha256_init(struct ath_sha256_ctx *ctx);
void ath_sha256_update(struct ath_sha256_ctx *ctx, const void *data, size_t len);
void ath_sha256_final(struct ath_sha256_ctx *ctx, uint8_t out[ATH_SHA256_DIGEST_SIZE]);
void ath_sha256(const void *data, size_t len, uint8_t out[ATH_SHA256_DIGEST_SIZE]);

/* sha512.c */
void ath_sha512_init(struct ath_sha512_ctx *ctx);
void ath_sha512_update(struct ath_sha512_ctx *ctx, const void *data, size_t len);
void ath_sha512_final(struct ath_sha512_ctx *ctx, uint8_t out[ATH_SHA512_DIGEST_SIZE]);
void ath_sha512(const void *data, size_t len, uint8_t out[ATH_SHA512_DIGEST_SIZE]);

/*
 * ed25519.c
 *
 * True iff signature = R || S is a valid RFC 8032 Ed25519 signature (pure:
 * no context, no prehash) of message[0..len) under public_key A (message
 * may be NULL when len is 0):
 *   - A and R decode per RFC 8032 5.1.3: y < p, on the curve, and not
 *     x = 0 with the sign bit set;
 *   - A is not of small order (under such a key anyone can forge; OpenSSL
 *     does not refuse these keys, the one rule where this is stricter);
 *   - S < L, the order of the base point B;
 *   - [S]B - [k]A == R, k = SHA-512(R || A || message) mod L.  Cofactorless,
 *     as OpenSSL checks it.
 * docs/crypto.md gives the reasons for each rule.
 */
bool ath_ed25519_verify(const uint8_t public_key[ATH_ED25519_PUBLIC_KEY_SIZE],
                        const void *message, size_t len,
                        const uint8_t signature[ATH_ED25519_SIGNATURE_SIZE]);

#endif
