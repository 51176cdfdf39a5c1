/*
 * Host harness for athanor/crypto, linked with the same sources the kernel
 * builds.
 *
 *   crypto_test [CASE-FILE...]   the built-in FIPS 180-4 examples, then every
 *                                line of each file (- is stdin)
 *   crypto_test --bench [N]      median time of N verifies, and hash speeds
 *
 * A case file has one check per line ('#' starts a comment; '-' stands for an
 * empty message; everything else is hex):
 *
 *   sha256 <message> <digest>      one-shot, one byte per update, and split
 *   sha512 <message> <digest>      in two at each position must give the
 *                                  digest (see split_here for long ones)
 *   ed25519 accept|reject <public key> <message> <signature> [label]
 *   ed25519-flips <public key> <message> <signature> [label]
 *       valid, and every single-bit flip of the signature, of the public key
 *       and of the message must be rejected (of a message longer than
 *       FLIP_ALL_MESSAGE_BYTES, only the bits of its first and last 16 bytes)
 *   rfc8032 <name> <secret key> <public key> <message> <signature>
 *       as ed25519-flips; the secret key is for test_crypto.py
 *
 * Failures are printed as file:line: what; the exit status is 1 if any.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../athanor/crypto/crypto.h"

#define FLIP_ALL_MESSAGE_BYTES 128

static const char *current_file = "built-in";
static int current_line;
static long checks, failures;

__attribute__((format(printf, 1, 0)))
static void report(const char *format, va_list args)
{
    failures++;
    fprintf(stderr, "%s:%d: ", current_file, current_line);
    vfprintf(stderr, format, args);
    fputc('\n', stderr);
}

__attribute__((format(printf, 1, 2)))
static void fail(const char *format, ...)
{
    va_list args;
    va_start(args, format);
    report(format, args);
    va_end(args);
}

/* Counts one check; reports it when ok is false. */
__attribute__((format(printf, 2, 3)))
static void check(bool ok, const char *format, ...)
{
    checks++;
    if (!ok) {
        va_list args;
        va_start(args, format);
        report(format, args);
        va_end(args);
    }
}

/* ---- Hex fields ---------------------------------------------------------------------------- */

struct bytes {
    uint8_t *data;
    size_t len;
};

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes a hex field ("-" is empty) into a fresh buffer; false if malformed. */
static bool parse_hex(const char *text, struct bytes *out)
{
    size_t n = strlen(text);
    if (strcmp(text, "-") == 0)
        n = 0;
    if (n % 2 != 0)
        return false;
    out->len = n / 2;
    out->data = malloc(out->len + 1);       /* + 1: never malloc(0) */
    if (!out->data) {
        perror("malloc");
        exit(2);
    }
    for (size_t i = 0; i < out->len; i++) {
        int hi = hex_digit(text[2 * i]), lo = hex_digit(text[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out->data[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

/* ---- Hashes -------------------------------------------------------------------------------- */

/* One hash algorithm seen through its incremental interface; the contexts
 * differ in type, so each algorithm supplies a function that hashes a
 * message given as a list of pieces. */
struct hash_algorithm {
    const char *name;
    size_t digest_size;
    void (*one_shot)(const void *data, size_t len, uint8_t *out);
    void (*pieces)(const uint8_t *data, const size_t *cuts, int cut_count, size_t len, uint8_t *out);
};

/* Hashes data[0..len) fed as the pieces between successive cuts. */
static void sha256_pieces(const uint8_t *data, const size_t *cuts, int cut_count, size_t len,
                          uint8_t *out)
{
    struct ath_sha256_ctx ctx;
    size_t start = 0;
    ath_sha256_init(&ctx);
    for (int i = 0; i <= cut_count; i++) {
        size_t end = i < cut_count ? cuts[i] : len;
        ath_sha256_update(&ctx, data + start, end - start);
        start = end;
    }
    ath_sha256_final(&ctx, out);
}

static void sha512_pieces(const uint8_t *data, const size_t *cuts, int cut_count, size_t len,
                          uint8_t *out)
{
    struct ath_sha512_ctx ctx;
    size_t start = 0;
    ath_sha512_init(&ctx);
    for (int i = 0; i <= cut_count; i++) {
        size_t end = i < cut_count ? cuts[i] : len;
        ath_sha512_update(&ctx, data + start, end - start);
        start = end;
    }
    ath_sha512_final(&ctx, out);
}

static const struct hash_algorithm sha256_algorithm = {"sha256", 32, ath_sha256, sha256_pieces};
static const struct hash_algorithm sha512_algorithm = {"sha512", 64, ath_sha512, sha512_pieces};

static bool digest_is(const struct hash_algorithm *h, const uint8_t *got, const uint8_t *want)
{
    return memcmp(got, want, h->digest_size) == 0;
}

/* Where check_hash cuts a message in two: everywhere in a short one; in a
 * long one, within SPLIT_ENDS bytes of either end and every SPLIT_STRIDE
 * bytes (a prime, so the cuts fall at every offset within a block). */
#define SPLIT_ALL_BYTES 1024
#define SPLIT_ENDS      300
#define SPLIT_STRIDE    1009

static bool split_here(size_t cut, size_t len)
{
    return len <= SPLIT_ALL_BYTES || cut <= SPLIT_ENDS || len - cut <= SPLIT_ENDS
        || cut % SPLIT_STRIDE == 0;
}

/* The digest of message[0..len) must be want however the message is cut:
 * whole, in two (at the positions split_here picks), and into single bytes. */
static void check_hash(const struct hash_algorithm *h, const uint8_t *message, size_t len,
                       const uint8_t *want)
{
    uint8_t got[64];

    h->one_shot(message, len, got);
    check(digest_is(h, got, want), "%s: one-shot digest differs", h->name);

    bool all_splits = true;
    for (size_t cut = 0; cut <= len; cut++) {
        if (!split_here(cut, len))
            continue;
        h->pieces(message, &cut, 1, len, got);
        all_splits = all_splits && digest_is(h, got, want);
    }
    check(all_splits, "%s: digest differs when the message is split in two", h->name);

    if (len <= SPLIT_ALL_BYTES) {
        size_t *cuts = malloc((len + 1) * sizeof *cuts);
        for (size_t i = 0; i < len; i++)
            cuts[i] = i + 1;
        h->pieces(message, cuts, (int)len, len, got);
        check(digest_is(h, got, want), "%s: digest differs when fed byte by byte", h->name);
        free(cuts);
    }
}

/* FIPS 180-4 examples (NIST CSRC "Examples with intermediate values"). */
static void check_fips_examples(void)
{
    static const char m448[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    static const char m896[] = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
                               "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    static const struct {
        const char *message, *sha256, *sha512;
    } examples[] = {
        {"abc",
         "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
         "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
         "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"},
        {"",
         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
         "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
         "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"},
        {m448,
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
         "204a8fc6dda82f0a0ced7beb8e08a41657c16ef468b228a8279be331a703c335"
         "96fd15c13b1b07f9aa1d3bea57789ca031ad85c7a71dd70354ec631238ca3445"},
        {m896,
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1",
         "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018"
         "501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909"},
    };
    struct bytes want;

    for (size_t i = 0; i < sizeof examples / sizeof examples[0]; i++) {
        const uint8_t *m = (const uint8_t *)examples[i].message;
        size_t len = strlen(examples[i].message);
        current_line = (int)i + 1;
        parse_hex(examples[i].sha256, &want);
        check_hash(&sha256_algorithm, m, len, want.data);
        free(want.data);
        parse_hex(examples[i].sha512, &want);
        check_hash(&sha512_algorithm, m, len, want.data);
        free(want.data);
    }

    /* One million 'a': whole, and in pieces of 1, 2, ..., 1413 bytes (the
     * last piece shorter), so every block boundary meets a different cut. */
    size_t len = 1000000;
    uint8_t *a = malloc(len);
    memset(a, 'a', len);
    size_t *cuts = malloc(1500 * sizeof *cuts);
    int cut_count = 0;
    for (size_t at = 1, step = 1; at < len; at += ++step)
        cuts[cut_count++] = at;
    uint8_t got[64];
    current_line = 5;

    parse_hex("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0", &want);
    ath_sha256(a, len, got);
    check(digest_is(&sha256_algorithm, got, want.data), "sha256: million 'a' one-shot");
    sha256_pieces(a, cuts, cut_count, len, got);
    check(digest_is(&sha256_algorithm, got, want.data), "sha256: million 'a' in pieces");
    free(want.data);

    parse_hex("e718483d0ce769644e2e42c7bc15b4638e1f98b13b2044285632a803afa973eb"
              "de0ff244877ea60a4cb0432ce577c31beb009c5c2c49aa2e4eadb217ad8cc09b", &want);
    ath_sha512(a, len, got);
    check(digest_is(&sha512_algorithm, got, want.data), "sha512: million 'a' one-shot");
    sha512_pieces(a, cuts, cut_count, len, got);
    check(digest_is(&sha512_algorithm, got, want.data), "sha512: million 'a' in pieces");
    free(want.data);

    free(cuts);
    free(a);
}

/* ---- Ed25519 ------------------------------------------------------------------------------- */

static bool verify(const struct bytes *key, const struct bytes *message, const struct bytes *sig)
{
    return ath_ed25519_verify(key->data, message->data, message->len, sig->data);
}

/* Flips each bit of field[first..end) in turn; every flip must be rejected. */
static void check_flips(const char *what, struct bytes *field, size_t first, size_t end,
                        const struct bytes *key, const struct bytes *message,
                        const struct bytes *sig)
{
    long accepted = 0;
    for (size_t i = first; i < end; i++) {
        for (int bit = 0; bit < 8; bit++) {
            field->data[i] ^= (uint8_t)(1u << bit);
            accepted += verify(key, message, sig);
            field->data[i] ^= (uint8_t)(1u << bit);
        }
    }
    check(accepted == 0, "a single-bit flip of the %s was accepted", what);
}

static void check_signature_flips(const char *label, struct bytes *key, struct bytes *message,
                                  struct bytes *sig)
{
    check(verify(key, message, sig), "valid signature rejected (%s)", label);
    check_flips("signature", sig, 0, sig->len, key, message, sig);
    check_flips("public key", key, 0, key->len, key, message, sig);
    if (message->len <= FLIP_ALL_MESSAGE_BYTES) {
        check_flips("message", message, 0, message->len, key, message, sig);
    } else {
        check_flips("message", message, 0, 16, key, message, sig);
        check_flips("message", message, message->len - 16, message->len, key, message, sig);
    }
}

/* ---- Case files ---------------------------------------------------------------------------- */

#define MAX_FIELDS 8

static void run_case(char **field, int count)
{
    struct bytes value[MAX_FIELDS] = {{0}};
    const char *kind = field[0];
    int first_hex = 1, hex_count = 0;
    const char *label = "";

    if (strcmp(kind, "sha256") == 0 || strcmp(kind, "sha512") == 0) {
        hex_count = 2;
    } else if (strcmp(kind, "ed25519") == 0) {
        first_hex = 2;
        hex_count = 3;
    } else if (strcmp(kind, "ed25519-flips") == 0) {
        hex_count = 3;
    } else if (strcmp(kind, "rfc8032") == 0) {
        first_hex = 3;              /* name and secret key are not used here */
        hex_count = 3;
    } else {
        fail("unknown check '%s'", kind);
        return;
    }
    if (count < first_hex + hex_count) {
        fail("too few fields for '%s'", kind);
        return;
    }
    if (count > first_hex + hex_count)
        label = field[first_hex + hex_count];
    if (strcmp(kind, "rfc8032") == 0)
        label = field[1];
    for (int i = 0; i < hex_count; i++) {
        if (!parse_hex(field[first_hex + i], &value[i])) {
            fail("malformed hex field '%s'", field[first_hex + i]);
            goto out;
        }
    }

    if (strcmp(kind, "sha256") == 0 || strcmp(kind, "sha512") == 0) {
        const struct hash_algorithm *h = kind[3] == '2' ? &sha256_algorithm : &sha512_algorithm;
        if (value[1].len != h->digest_size)
            fail("a %s digest has the wrong length", kind);
        else
            check_hash(h, value[0].data, value[0].len, value[1].data);
    } else if (value[0].len != 32 || value[2].len != 64) {
        fail("a public key is 32 bytes and a signature 64 (%s)", label);
    } else if (strcmp(kind, "ed25519") == 0) {
        bool want = strcmp(field[1], "accept") == 0;
        if (!want && strcmp(field[1], "reject") != 0)
            fail("expected accept or reject, not '%s'", field[1]);
        else if (want)
            check(verify(&value[0], &value[1], &value[2]), "valid signature rejected (%s)", label);
        else
            check(!verify(&value[0], &value[1], &value[2]), "invalid signature accepted (%s)", label);
    } else {
        check_signature_flips(label, &value[0], &value[1], &value[2]);
    }
out:
    for (int i = 0; i < hex_count; i++)
        free(value[i].data);
}

static void run_case_file(const char *path)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!f) {
        perror(path);
        exit(2);
    }
    current_file = path;
    current_line = 0;

    char *line = NULL;
    size_t capacity = 0;
    while (getline(&line, &capacity, f) != -1) {
        current_line++;
        char *comment = strchr(line, '#');
        if (comment)
            *comment = '\0';
        char *field[MAX_FIELDS];
        int count = 0;
        for (char *token = strtok(line, " \t\r\n"); token; token = strtok(NULL, " \t\r\n")) {
            if (count == MAX_FIELDS) {
                fail("more than %d fields", MAX_FIELDS);
                count = 0;
                break;
            }
            field[count++] = token;
        }
        if (count > 0)
            run_case(field, count);
    }
    free(line);
    if (f != stdin)
        fclose(f);
}

/* ---- Benchmark ----------------------------------------------------------------------------- */

static double seconds_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* RFC 8032 TEST 2 verified n times, each timed alone; then hash throughput. */
static void bench(int n)
{
    struct bytes key, message, sig;
    parse_hex("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", &key);
    parse_hex("72", &message);
    parse_hex("92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
              "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00", &sig);

    double *times = malloc((size_t)n * sizeof *times);
    long accepted = 0;
    for (int i = 0; i < n; i++) {
        double start = seconds_now();
        accepted += verify(&key, &message, &sig);
        times[i] = seconds_now() - start;
    }
    qsort(times, (size_t)n, sizeof *times, compare_doubles);
    printf("ed25519 verify: median %.1f us, min %.1f us, over %d runs (%ld accepted)\n",
           times[n / 2] * 1e6, times[0] * 1e6, n, accepted);

    /* Hash speed: the median of HASH_RUNS passes over 64 KiB (short runs, so
     * the median escapes interference on a shared machine). */
    enum { HASH_RUNS = 301 };
    size_t len = 64 << 10;
    uint8_t *data = malloc(len), digest[64];
    memset(data, 0x5a, len);
    double hash_times[2][HASH_RUNS];
    for (int run = 0; run < HASH_RUNS; run++) {
        double start = seconds_now();
        ath_sha256(data, len, digest);
        double middle = seconds_now();
        ath_sha512(data, len, digest);
        hash_times[0][run] = middle - start;
        hash_times[1][run] = seconds_now() - middle;
    }
    for (int h = 0; h < 2; h++) {
        qsort(hash_times[h], HASH_RUNS, sizeof hash_times[h][0], compare_doubles);
        printf("%s: %.0f MB/s\n", h == 0 ? "sha256" : "sha512",
               (double)len / hash_times[h][HASH_RUNS / 2] / 1e6);
    }

    free(data);
    free(times);
    free(key.data);
    free(message.data);
    free(sig.data);
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "--bench") == 0) {
        bench(argc >= 3 ? atoi(argv[2]) : 2001);
        return 0;
    }

    check_fips_examples();
    for (int i = 1; i < argc; i++)
        run_case_file(argv[i]);

    printf("crypto_test: %ld checks, %ld failed\n", checks, failures);
    return failures == 0 ? 0 : 1;
}
