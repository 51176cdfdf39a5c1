/*
 * White-box checks of ed25519.c's layers, which the public verify cannot
 * reach one at a time: field arithmetic on extreme limbs, point decoding,
 * reduction mod L, and the width-5 NAF.  It includes ed25519.c itself to
 * see the file-private functions, and links with sha512.c.
 *
 * Reads lines of hex from the files named (- is stdin), '#' for comments:
 *
 *   field <a limbs> <b limbs> <a> <a+b> <a-b> <a*b> <a^2> <a^((p-5)/8)>
 *       a and b given as five comma-separated 64-bit hex limbs (each below
 *       2^52, the weakly reduced bound); the rest as canonical encodings
 *   decode <encoding> valid|invalid
 *       a valid one must re-encode to itself and lie on the curve
 *   small-order <encoding> yes|no
 *   reduce <64 bytes> <the value mod L, 32 bytes>
 *   scalar <32 bytes> reduced|unreduced      (below L or not)
 *   wnaf <32 bytes>
 *       the digits must sum back to the scalar and have the NAF shape
 */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../athanor/crypto/ed25519.c"

static const char *current_file;
static int current_line;
static long checks, failures;

__attribute__((format(printf, 2, 3)))
static void check(bool ok, const char *format, ...)
{
    checks++;
    if (ok)
        return;
    failures++;
    va_list args;
    va_start(args, format);
    fprintf(stderr, "%s:%d: ", current_file, current_line);
    vfprintf(stderr, format, args);
    fputc('\n', stderr);
    va_end(args);
}

/* Exactly size bytes of hex into out. */
static bool parse_hex(const char *text, uint8_t *out, size_t size)
{
    if (strlen(text) != 2 * size)
        return false;
    for (size_t i = 0; i < size; i++) {
        unsigned byte;
        if (sscanf(text + 2 * i, "%2x", &byte) != 1)
            return false;
        out[i] = (uint8_t)byte;
    }
    return true;
}

static bool parse_limbs(const char *text, struct fe *f)
{
    char *end;
    for (int i = 0; i < 5; i++) {
        f->limb[i] = strtoull(text, &end, 16);
        if (end == text || (i < 4 && *end != ','))
            return false;
        text = end + 1;
    }
    return *end == '\0';
}

static void hex_of(char *out, const uint8_t *bytes, size_t size)
{
    for (size_t i = 0; i < size; i++)
        sprintf(out + 2 * i, "%02x", bytes[i]);
}

/* The field element's canonical encoding must be the expected one. */
static void check_fe(const char *what, const struct fe *got, const char *want_hex)
{
    uint8_t want[32], got_bytes[32];
    char got_hex[65];
    if (!parse_hex(want_hex, want, 32)) {
        check(false, "malformed %s", what);
        return;
    }
    fe_to_bytes(got_bytes, got);
    hex_of(got_hex, got_bytes, 32);
    check(memcmp(want, got_bytes, 32) == 0, "%s: got %s, want %s", what, got_hex, want_hex);
}

static void check_field(char **field)
{
    struct fe a, b, h;
    if (!parse_limbs(field[1], &a) || !parse_limbs(field[2], &b)) {
        check(false, "malformed limbs");
        return;
    }
    check_fe("a", &a, field[3]);
    fe_add(&h, &a, &b);
    check_fe("a+b", &h, field[4]);
    fe_sub(&h, &a, &b);
    check_fe("a-b", &h, field[5]);
    fe_mul(&h, &a, &b);
    check_fe("a*b", &h, field[6]);
    fe_square(&h, &a);
    check_fe("a^2", &h, field[7]);
    fe_pow_p58(&h, &a);
    check_fe("a^((p-5)/8)", &h, field[8]);
}

static bool on_curve(const struct point *p)
{
    /* -x^2 + y^2 = 1 + d x^2 y^2, with Z = 1 after decoding. */
    struct fe x2, y2, left, right;
    fe_square(&x2, &p->x);
    fe_square(&y2, &p->y);
    fe_sub(&left, &y2, &x2);
    fe_mul(&right, &x2, &y2);
    fe_mul(&right, &right, &fe_d);
    fe_add(&right, &right, &fe_one);
    return fe_equal(&left, &right);
}

static void check_decode(const char *hex, const char *expect)
{
    uint8_t s[32], again[32];
    struct point p;
    if (!parse_hex(hex, s, 32)) {
        check(false, "malformed encoding");
        return;
    }
    bool valid = point_decode(&p, s);
    check(valid == (strcmp(expect, "valid") == 0), "decode %s: expected %s", hex, expect);
    if (!valid)
        return;
    fe_to_bytes(again, &p.y);
    again[31] |= (uint8_t)(fe_is_negative(&p.x) << 7);
    check(memcmp(s, again, 32) == 0, "decode %s: does not re-encode to itself", hex);
    check(on_curve(&p), "decode %s: not on the curve", hex);
}

static void check_small_order(const char *hex, const char *expect)
{
    uint8_t s[32];
    struct point p;
    if (!parse_hex(hex, s, 32) || !point_decode(&p, s)) {
        check(false, "small-order %s: not a valid encoding", hex);
        return;
    }
    check(point_has_small_order(&p) == (strcmp(expect, "yes") == 0), "small-order %s: expected %s",
          hex, expect);
}

static void check_reduce(const char *wide_hex, const char *want_hex)
{
    uint8_t wide[64], want[32], got[32];
    uint64_t r[4];
    if (!parse_hex(wide_hex, wide, 64) || !parse_hex(want_hex, want, 32)) {
        check(false, "malformed reduce line");
        return;
    }
    scalar_reduce_wide(r, wide);
    for (int i = 0; i < 4; i++)
        store_le64(got + 8 * i, r[i]);
    check(memcmp(got, want, 32) == 0, "reduce %s: wrong result", wide_hex);
}

static void check_scalar(const char *hex, const char *expect)
{
    uint8_t s[32];
    if (!parse_hex(hex, s, 32)) {
        check(false, "malformed scalar");
        return;
    }
    check(scalar_is_reduced(s) == (strcmp(expect, "reduced") == 0), "scalar %s: expected %s", hex,
          expect);
}

/* Sums the digits back (Horner, two's complement in five words) and checks
 * the shape: every digit 0 or odd in [-15, 15], nonzero ones WNAF_WIDTH apart. */
static void check_wnaf(const char *hex)
{
    uint8_t s[32];
    uint64_t scalar[4], sum[5] = {0};
    int8_t digit[WNAF_DIGITS];
    if (!parse_hex(hex, s, 32)) {
        check(false, "malformed scalar");
        return;
    }
    scalar_load(scalar, s);
    scalar_to_wnaf(digit, scalar);

    bool shape = true;
    int last_nonzero = -WNAF_WIDTH;
    for (int i = WNAF_DIGITS - 1; i >= 0; i--) {
        for (int w = 4; w > 0; w--)
            sum[w] = sum[w] << 1 | sum[w - 1] >> 63;
        sum[0] <<= 1;
        uint64_t addend = (uint64_t)(int64_t)digit[i];       /* sign-extended */
        uint64_t extension = digit[i] < 0 ? UINT64_MAX : 0;
        uint64_t carry = 0;
        for (int w = 0; w < 5; w++) {
            uint64_t term = w == 0 ? addend : extension;
            uint64_t total = sum[w] + term;
            uint64_t next_carry = total < term;
            total += carry;
            next_carry |= total < carry;
            sum[w] = total;
            carry = next_carry;
        }
        if (digit[i] != 0) {
            shape = shape && (digit[i] & 1) && digit[i] >= -15 && digit[i] <= 15;
            shape = shape && (last_nonzero - i >= WNAF_WIDTH || last_nonzero < 0);
            last_nonzero = i;
        }
    }
    check(memcmp(sum, scalar, sizeof scalar) == 0 && sum[4] == 0, "wnaf %s: digits do not sum back",
          hex);
    check(shape, "wnaf %s: digits out of shape", hex);
}

static void run_file(const char *path)
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
        char *field[10];
        int count = 0;
        for (char *t = strtok(line, " \t\r\n"); t && count < 10; t = strtok(NULL, " \t\r\n"))
            field[count++] = t;
        if (count == 0)
            continue;
        if (strcmp(field[0], "field") == 0 && count == 9)
            check_field(field);
        else if (strcmp(field[0], "decode") == 0 && count == 3)
            check_decode(field[1], field[2]);
        else if (strcmp(field[0], "small-order") == 0 && count == 3)
            check_small_order(field[1], field[2]);
        else if (strcmp(field[0], "reduce") == 0 && count == 3)
            check_reduce(field[1], field[2]);
        else if (strcmp(field[0], "scalar") == 0 && count == 3)
            check_scalar(field[1], field[2]);
        else if (strcmp(field[0], "wnaf") == 0 && count == 2)
            check_wnaf(field[1]);
        else
            check(false, "unknown check or wrong field count: %s", field[0]);
    }
    free(line);
    if (f != stdin)
        fclose(f);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        run_file(argv[i]);
    printf("ed25519_internal_test: %ld checks, %ld failed\n", checks, failures);
    return failures == 0 && checks > 0 ? 0 : 1;
}
