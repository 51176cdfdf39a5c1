/*
 * Ed25519 signature verification, RFC 8032 section 5.1.7 (pure Ed25519).
 *
 * The curve is -x^2 + y^2 = 1 + d x^2 y^2 over GF(p), p = 2^255 - 19, with
 * d = -121665/121666 and base point B of prime order
 * L = 2^252 + 27742317777372353535851937790883648493.
 *
 * Everything here runs in variable time: the kernel only ever verifies,
 * and a public key, a message and a signature are all public.
 *
 * Layers, bottom up: field elements (fe_), points (point_), scalars mod L
 * (scalar_), then ath_ed25519_verify.  memcpy/memset/memcmp are spelled as
 * compiler builtins for the reason given in sha256.c.
 */
#include "crypto.h"

typedef unsigned __int128 uint128;

/* ---- Field elements mod p ------------------------------------------------------------------
 *
 * Five 51-bit limbs, little-endian: value = sum limb[i] * 2^(51 i).
 *
 *   bit 255       204       153       102        51         0
 *       | limb[4] | limb[3] | limb[2] | limb[1] | limb[0] |
 *
 * Invariant at rest: every limb < 2^52 ("weakly reduced").  The value may
 * then be any residue representative below 2^256, so two elements are
 * compared only through fe_to_bytes, which reduces fully.  fe_mul's
 * inputs may have limbs up to 2^54 without its 128-bit sums overflowing;
 * the invariant leaves a margin of 4x.
 */
struct fe {
    uint64_t limb[5];
};

#define LIMB_MASK ((UINT64_C(1) << 51) - 1)

static const struct fe fe_zero = {{0, 0, 0, 0, 0}};
static const struct fe fe_one = {{1, 0, 0, 0, 0}};

/* d = -121665/121666 mod p, and 2d. */
static const struct fe fe_d = {{
    0x34dca135978a3, 0x1a8283b156ebd, 0x5e7a26001c029, 0x739c663a03cbb, 0x52036cee2b6ff,
}};
static const struct fe fe_2d = {{
    0x69b9426b2f159, 0x35050762add7a, 0x3cf44c0038052, 0x6738cc7407977, 0x2406d9dc56dff,
}};

/* sqrt(-1) = 2^((p-1)/4) mod p. */
static const struct fe fe_sqrt_minus_one = {{
    0x61b274a0ea0b0, 0x0d5a5fc8f189d, 0x7ef5e9cbd0c60, 0x78595a6804c9e, 0x2b8324804fc1d,
}};

/*
 * Carries every limb into the next, the top one back into limb[0] times 19
 * (2^255 = 19 mod p).  Limbs below 2^63 in; weakly reduced out.
 *
 * The limb loops in this section are written out: gcc -O2 does not unroll
 * them, and unrolled they make verification a fifth faster.
 */
static void fe_carry(struct fe *h)
{
    uint64_t *l = h->limb;
    l[1] += l[0] >> 51;
    l[0] &= LIMB_MASK;
    l[2] += l[1] >> 51;
    l[1] &= LIMB_MASK;
    l[3] += l[2] >> 51;
    l[2] &= LIMB_MASK;
    l[4] += l[3] >> 51;
    l[3] &= LIMB_MASK;
    l[0] += 19 * (l[4] >> 51);
    l[4] &= LIMB_MASK;
}

static void fe_add(struct fe *h, const struct fe *f, const struct fe *g)
{
    h->limb[0] = f->limb[0] + g->limb[0];
    h->limb[1] = f->limb[1] + g->limb[1];
    h->limb[2] = f->limb[2] + g->limb[2];
    h->limb[3] = f->limb[3] + g->limb[3];
    h->limb[4] = f->limb[4] + g->limb[4];
    fe_carry(h);
}

/* f - g computed as f + 4p - g: each limb of 4p (2^53 - 76, then 2^53 - 4)
 * exceeds any weakly reduced limb of g, so nothing underflows. */
static void fe_sub(struct fe *h, const struct fe *f, const struct fe *g)
{
    const uint64_t four_p_0 = (UINT64_C(1) << 53) - 76, four_p_n = (UINT64_C(1) << 53) - 4;
    h->limb[0] = f->limb[0] + four_p_0 - g->limb[0];
    h->limb[1] = f->limb[1] + four_p_n - g->limb[1];
    h->limb[2] = f->limb[2] + four_p_n - g->limb[2];
    h->limb[3] = f->limb[3] + four_p_n - g->limb[3];
    h->limb[4] = f->limb[4] + four_p_n - g->limb[4];
    fe_carry(h);
}

static void fe_negate(struct fe *h, const struct fe *f)
{
    fe_sub(h, &fe_zero, f);
}

/* Reduces the five 128-bit column sums of a product (each below 2^116)
 * to a weakly reduced element. */
static void fe_reduce_columns(struct fe *h, uint128 column[5])
{
    column[1] += column[0] >> 51;
    h->limb[0] = (uint64_t)column[0] & LIMB_MASK;
    column[2] += column[1] >> 51;
    h->limb[1] = (uint64_t)column[1] & LIMB_MASK;
    column[3] += column[2] >> 51;
    h->limb[2] = (uint64_t)column[2] & LIMB_MASK;
    column[4] += column[3] >> 51;
    h->limb[3] = (uint64_t)column[3] & LIMB_MASK;
    h->limb[4] = (uint64_t)column[4] & LIMB_MASK;
    /* column[4] < 2^117, so this carry is below 2^66: keep it wide. */
    uint128 low = (uint128)h->limb[0] + (column[4] >> 51) * 19;
    h->limb[0] = (uint64_t)low & LIMB_MASK;
    h->limb[1] += (uint64_t)(low >> 51);
}

/* Schoolbook product; a limb product landing at 2^(51 k), k >= 5, wraps to
 * 2^(51 (k - 5)) times 19. */
static void fe_mul(struct fe *h, const struct fe *f, const struct fe *g)
{
    const uint64_t *a = f->limb, *b = g->limb;
    uint64_t b1_19 = 19 * b[1], b2_19 = 19 * b[2], b3_19 = 19 * b[3], b4_19 = 19 * b[4];
    uint128 column[5];

    column[0] = (uint128)a[0] * b[0] + (uint128)a[1] * b4_19 + (uint128)a[2] * b3_19
              + (uint128)a[3] * b2_19 + (uint128)a[4] * b1_19;
    column[1] = (uint128)a[0] * b[1] + (uint128)a[1] * b[0] + (uint128)a[2] * b4_19
              + (uint128)a[3] * b3_19 + (uint128)a[4] * b2_19;
    column[2] = (uint128)a[0] * b[2] + (uint128)a[1] * b[1] + (uint128)a[2] * b[0]
              + (uint128)a[3] * b4_19 + (uint128)a[4] * b3_19;
    column[3] = (uint128)a[0] * b[3] + (uint128)a[1] * b[2] + (uint128)a[2] * b[1]
              + (uint128)a[3] * b[0] + (uint128)a[4] * b4_19;
    column[4] = (uint128)a[0] * b[4] + (uint128)a[1] * b[3] + (uint128)a[2] * b[2]
              + (uint128)a[3] * b[1] + (uint128)a[4] * b[0];
    fe_reduce_columns(h, column);
}

/* fe_mul(h, f, f) with each cross product formed once and doubled. */
static void fe_square(struct fe *h, const struct fe *f)
{
    const uint64_t *a = f->limb;
    uint64_t a0_2 = 2 * a[0], a1_2 = 2 * a[1];
    uint64_t a3_19 = 19 * a[3], a4_19 = 19 * a[4];
    uint128 column[5];

    column[0] = (uint128)a[0] * a[0] + (uint128)a1_2 * a4_19 + (uint128)(2 * a[2]) * a3_19;
    column[1] = (uint128)a0_2 * a[1] + (uint128)(2 * a[2]) * a4_19 + (uint128)a[3] * a3_19;
    column[2] = (uint128)a0_2 * a[2] + (uint128)a[1] * a[1] + (uint128)(2 * a[3]) * a4_19;
    column[3] = (uint128)a0_2 * a[3] + (uint128)a1_2 * a[2] + (uint128)a[4] * a4_19;
    column[4] = (uint128)a0_2 * a[4] + (uint128)a1_2 * a[3] + (uint128)a[2] * a[2];
    fe_reduce_columns(h, column);
}

/* h = f^(2^count). */
static void fe_square_times(struct fe *h, const struct fe *f, int count)
{
    fe_square(h, f);
    while (--count > 0)
        fe_square(h, h);
}

/*
 * f^((p-5)/8) = f^(2^252 - 3), the exponent of the square root in RFC 8032
 * 5.1.3.  The chain builds f^(2^n - 1) for n = 5, 10, 20, 40, 50, 100, 200,
 * 250 (each from two shorter ones: f^(2^(m+n) - 1) =
 * (f^(2^m - 1))^(2^n) * f^(2^n - 1)), then squares twice and multiplies by f.
 */
static void fe_pow_p58(struct fe *h, const struct fe *f)
{
    struct fe f2, f9, f11, pow5, pow10, pow20, pow40, pow50, pow100, pow200, pow250, t;

    fe_square(&f2, f);
    fe_square_times(&t, &f2, 2);
    fe_mul(&f9, &t, f);
    fe_mul(&f11, &f9, &f2);
    fe_square(&t, &f11);
    fe_mul(&pow5, &t, &f9);                 /* f^31 = f^22 * f^9 */
    fe_square_times(&t, &pow5, 5);
    fe_mul(&pow10, &t, &pow5);
    fe_square_times(&t, &pow10, 10);
    fe_mul(&pow20, &t, &pow10);
    fe_square_times(&t, &pow20, 20);
    fe_mul(&pow40, &t, &pow20);
    fe_square_times(&t, &pow40, 10);
    fe_mul(&pow50, &t, &pow10);
    fe_square_times(&t, &pow50, 50);
    fe_mul(&pow100, &t, &pow50);
    fe_square_times(&t, &pow100, 100);
    fe_mul(&pow200, &t, &pow100);
    fe_square_times(&t, &pow200, 50);
    fe_mul(&pow250, &t, &pow50);
    fe_square_times(&t, &pow250, 2);        /* f^(2^252 - 4) */
    fe_mul(h, &t, f);
}

static uint64_t load_le64(const uint8_t *p)
{
    uint64_t x = 0;
    for (int i = 7; i >= 0; i--)
        x = x << 8 | p[i];
    return x;
}

static void store_le64(uint8_t *p, uint64_t x)
{
    for (int i = 0; i < 8; i++, x >>= 8)
        p[i] = (uint8_t)x;
}

/* The low 255 bits of s, little-endian; bit 255 (the sign of x in a point
 * encoding) is ignored.  The result may be p..2^255-1 unreduced. */
static void fe_from_bytes(struct fe *h, const uint8_t s[32])
{
    uint64_t w0 = load_le64(s), w1 = load_le64(s + 8), w2 = load_le64(s + 16), w3 = load_le64(s + 24);
    h->limb[0] = w0 & LIMB_MASK;
    h->limb[1] = (w0 >> 51 | w1 << 13) & LIMB_MASK;
    h->limb[2] = (w1 >> 38 | w2 << 26) & LIMB_MASK;
    h->limb[3] = (w2 >> 25 | w3 << 39) & LIMB_MASK;
    h->limb[4] = (w3 >> 12) & LIMB_MASK;
}

/*
 * The canonical encoding: the unique value in [0, p), 32 bytes
 * little-endian, bit 255 clear.  After one carry the value v is below
 * 2^255 + 2^8 < 2p, so v mod p is v - q p with q = 1 iff v + 19 >= 2^255;
 * q is the carry out of bit 255 when 19 is added.
 */
static void fe_to_bytes(uint8_t s[32], const struct fe *f)
{
    struct fe h = *f;
    fe_carry(&h);

    uint64_t q = (h.limb[0] + 19) >> 51;
    for (int i = 1; i < 5; i++)
        q = (h.limb[i] + q) >> 51;

    h.limb[0] += 19 * q;
    for (int i = 0; i < 4; i++) {
        h.limb[i + 1] += h.limb[i] >> 51;
        h.limb[i] &= LIMB_MASK;
    }
    h.limb[4] &= LIMB_MASK;                 /* drops q * 2^255 */

    store_le64(s, h.limb[0] | h.limb[1] << 51);
    store_le64(s + 8, h.limb[1] >> 13 | h.limb[2] << 38);
    store_le64(s + 16, h.limb[2] >> 26 | h.limb[3] << 25);
    store_le64(s + 24, h.limb[3] >> 39 | h.limb[4] << 12);
}

static bool fe_equal(const struct fe *f, const struct fe *g)
{
    uint8_t a[32], b[32];
    fe_to_bytes(a, f);
    fe_to_bytes(b, g);
    return __builtin_memcmp(a, b, 32) == 0;
}

static bool fe_is_zero(const struct fe *f)
{
    return fe_equal(f, &fe_zero);
}

/* RFC 8032 calls x "negative" when its canonical value is odd. */
static bool fe_is_negative(const struct fe *f)
{
    uint8_t s[32];
    fe_to_bytes(s, f);
    return s[0] & 1;
}

/* ---- Points ---------------------------------------------------------------------------------
 *
 * Extended homogeneous coordinates (RFC 8032 5.1.4): x = X/Z, y = Y/Z,
 * x y = T/Z, Z != 0.  The addition and doubling formulas are complete on
 * this curve (d is not a square mod p): they hold for every pair of
 * points, the identity and points of small order included, so no case
 * needs special handling.
 *
 * An addend used many times is kept "cached" as (Y+X, Y-X, 2Z, 2dT), the
 * four values the addition formula actually multiplies by.
 */
struct point {
    struct fe x, y, z, t;
};

struct cached_point {
    struct fe y_plus_x, y_minus_x, z2, t2d;
};

static const struct point point_identity = {{{0}}, {{1}}, {{1}}, {{0}}};

/* B = (x, 4/5) with x even (RFC 8032 5.1). */
static const struct point point_base = {
    {{0x62d608f25d51a, 0x412a4b4f6592a, 0x75b7171a4b31d, 0x1ff60527118fe, 0x216936d3cd6e5}},
    {{0x6666666666658, 0x4cccccccccccc, 0x1999999999999, 0x3333333333333, 0x6666666666666}},
    {{1, 0, 0, 0, 0}},
    {{0x68ab3a5b7dda3, 0x00eea2a5eadbb, 0x2af8df483c27e, 0x332b375274732, 0x67875f0fd78b7}},
};

static void point_to_cached(struct cached_point *c, const struct point *p)
{
    fe_add(&c->y_plus_x, &p->y, &p->x);
    fe_sub(&c->y_minus_x, &p->y, &p->x);
    fe_add(&c->z2, &p->z, &p->z);
    fe_mul(&c->t2d, &p->t, &fe_2d);
}

/* -(x, y) = (-x, y). */
static void point_negate(struct point *p)
{
    fe_negate(&p->x, &p->x);
    fe_negate(&p->t, &p->t);
}

/*
 * r = p + q, or p - q when subtract is set (negating q swaps Y+X with Y-X
 * and negates 2dT).  RFC 8032 5.1.4:
 *   A = (Y1-X1)(Y2-X2)  B = (Y1+X1)(Y2+X2)  C = T1 2d T2  D = Z1 2 Z2
 *   E = B-A  F = D-C  G = D+C  H = B+A
 *   X3 = E F  Y3 = G H  T3 = E H  Z3 = F G
 * r may be p.
 */
static void point_add_cached(struct point *r, const struct point *p, const struct cached_point *q,
                             bool subtract)
{
    struct fe a, b, c, d, e, f, g, h, sum, difference;

    fe_sub(&difference, &p->y, &p->x);
    fe_add(&sum, &p->y, &p->x);
    fe_mul(&a, &difference, subtract ? &q->y_plus_x : &q->y_minus_x);
    fe_mul(&b, &sum, subtract ? &q->y_minus_x : &q->y_plus_x);
    fe_mul(&c, &p->t, &q->t2d);
    fe_mul(&d, &p->z, &q->z2);
    fe_sub(&e, &b, &a);
    fe_add(&h, &b, &a);
    if (subtract) {
        fe_add(&f, &d, &c);
        fe_sub(&g, &d, &c);
    } else {
        fe_sub(&f, &d, &c);
        fe_add(&g, &d, &c);
    }
    fe_mul(&r->x, &e, &f);
    fe_mul(&r->y, &g, &h);
    fe_mul(&r->t, &e, &h);
    fe_mul(&r->z, &f, &g);
}

/*
 * r = 2p.  RFC 8032 5.1.4:
 *   A = X1^2  B = Y1^2  C = 2 Z1^2  H = A+B  E = H-(X1+Y1)^2  G = A-B  F = C+G
 *   X3 = E F  Y3 = G H  T3 = E H  Z3 = F G
 * T1 is not read, so T3 is only computed when want_t is set: a doubling
 * followed by another doubling never needs it.  r may be p.
 */
static void point_double(struct point *r, const struct point *p, bool want_t)
{
    struct fe a, b, c, e, f, g, h, sum;

    fe_square(&a, &p->x);
    fe_square(&b, &p->y);
    fe_square(&c, &p->z);
    fe_add(&c, &c, &c);
    fe_add(&h, &a, &b);
    fe_add(&sum, &p->x, &p->y);
    fe_square(&sum, &sum);
    fe_sub(&e, &h, &sum);
    fe_sub(&g, &a, &b);
    fe_add(&f, &c, &g);
    fe_mul(&r->x, &e, &f);
    fe_mul(&r->y, &g, &h);
    if (want_t)
        fe_mul(&r->t, &e, &h);
    fe_mul(&r->z, &f, &g);
}

/*
 * RFC 8032 5.1.3, decoding a 32-byte point encoding:
 *
 *   bit 255     254 ...                                            0
 *       | x_0 |  y, 255 bits little-endian (must be < p)           |
 *
 * x^2 = (y^2 - 1) / (d y^2 + 1); x is the root whose low bit is x_0.
 * Fails when y >= p, when x^2 has no root (not a point on the curve), and
 * when x = 0 but x_0 = 1 (-0 has no encoding of its own).
 */
static bool y_is_canonical(const uint8_t s[32])
{
    /* p = 2^255 - 19 is 0xed, then 30 bytes of 0xff, then 0x7f. */
    if ((s[31] & 0x7f) != 0x7f)
        return true;
    for (int i = 30; i > 0; i--)
        if (s[i] != 0xff)
            return true;
    return s[0] < 0xed;
}

static bool point_decode(struct point *p, const uint8_t s[32])
{
    bool x_0 = s[31] >> 7;
    struct fe y, y2, u, v, v3, v7, x, t, check;

    if (!y_is_canonical(s))
        return false;
    fe_from_bytes(&y, s);

    fe_square(&y2, &y);
    fe_sub(&u, &y2, &fe_one);
    fe_mul(&v, &y2, &fe_d);
    fe_add(&v, &v, &fe_one);

    /* x = u v^3 (u v^7)^((p-5)/8), a root of u/v up to a factor sqrt(-1). */
    fe_square(&t, &v);
    fe_mul(&v3, &t, &v);
    fe_square(&t, &v3);
    fe_mul(&v7, &t, &v);
    fe_mul(&t, &u, &v7);
    fe_pow_p58(&t, &t);
    fe_mul(&t, &t, &v3);
    fe_mul(&x, &t, &u);

    fe_square(&t, &x);
    fe_mul(&check, &t, &v);
    if (!fe_equal(&check, &u)) {
        fe_negate(&u, &u);
        if (!fe_equal(&check, &u))
            return false;
        fe_mul(&x, &x, &fe_sqrt_minus_one);
    }

    if (fe_is_zero(&x) && x_0)
        return false;
    if (fe_is_negative(&x) != x_0)
        fe_negate(&x, &x);

    p->x = x;
    p->y = y;
    p->z = fe_one;
    fe_mul(&p->t, &x, &y);
    return true;
}

/* True iff [8]p is the identity (X = 0, Y = Z): p lies in the torsion
 * subgroup of order 8. */
static bool point_has_small_order(const struct point *p)
{
    struct point q;
    point_double(&q, p, false);
    point_double(&q, &q, false);
    point_double(&q, &q, false);
    return fe_is_zero(&q.x) && fe_equal(&q.y, &q.z);
}

/* p == (x, y, 1): projectively, X = x Z and Y = y Z.  Equal points have
 * equal encodings and vice versa, so this is the encoding comparison RFC
 * 8032 describes without the inversion that encoding p would cost. */
static bool point_equal_affine(const struct point *p, const struct point *affine)
{
    struct fe x, y;
    fe_mul(&x, &affine->x, &p->z);
    fe_mul(&y, &affine->y, &p->z);
    return fe_equal(&x, &p->x) && fe_equal(&y, &p->y);
}

/* ---- Scalars mod L --------------------------------------------------------------------------
 *
 * Four 64-bit words little-endian (a fifth during reduction).
 */
static const uint64_t group_order[5] = {
    0x5812631a5cf5d3edull, 0x14def9dea2f79cd6ull, 0x0000000000000000ull, 0x1000000000000000ull, 0,
};

/* floor(2^512 / L), the Barrett constant for 64-bit words (260 bits). */
static const uint64_t barrett_mu[5] = {
    0xed9ce5a30a2c131bull, 0x2106215d086329a7ull, 0xffffffffffffffebull, 0xffffffffffffffffull,
    0x000000000000000full,
};

/* a < b, both count words. */
static bool words_less(const uint64_t *a, const uint64_t *b, int count)
{
    for (int i = count - 1; i >= 0; i--)
        if (a[i] != b[i])
            return a[i] < b[i];
    return false;
}

/* a -= b mod 2^(64 count). */
static void words_subtract(uint64_t *a, const uint64_t *b, int count)
{
    uint64_t borrow = 0;
    for (int i = 0; i < count; i++) {
        uint64_t bi = b[i] + borrow;
        borrow = (bi < borrow) | (a[i] < bi);
        a[i] -= bi;
    }
}

/* out = a * b mod 2^(64 out_count); out must not overlap a or b. */
static void words_multiply(uint64_t *out, int out_count, const uint64_t *a, int a_count,
                           const uint64_t *b, int b_count)
{
    for (int i = 0; i < out_count; i++)
        out[i] = 0;
    for (int i = 0; i < a_count && i < out_count; i++) {
        uint64_t carry = 0;
        int j;
        for (j = 0; j < b_count && i + j < out_count; j++) {
            uint128 t = (uint128)a[i] * b[j] + out[i + j] + carry;
            out[i + j] = (uint64_t)t;
            carry = (uint64_t)(t >> 64);
        }
        if (i + j < out_count)
            out[i + j] = carry;
    }
}

static void scalar_load(uint64_t s[4], const uint8_t bytes[32])
{
    for (int i = 0; i < 4; i++)
        s[i] = load_le64(bytes + 8 * i);
}

/* RFC 8032 5.1.7 step 1: S must lie in [0, L). */
static bool scalar_is_reduced(const uint8_t bytes[32])
{
    uint64_t s[4];
    scalar_load(s, bytes);
    return words_less(s, group_order, 4);
}

/*
 * r = x mod L for a 64-byte little-endian x (a SHA-512 digest), by Barrett
 * reduction (Handbook of Applied Cryptography, 14.42) with base 2^64, k = 4:
 *   q = floor(floor(x / 2^192) mu / 2^320),   r = (x - q L) mod 2^320.
 * HAC bounds floor(x / L) - q by 2.  For this L it is at most 1: with
 * mu = 2^512/L - e, e = 0.2249..., x/L - q < x0/L + e + 1 < 1.23, x0 being
 * the 192 bits dropped.  So r < 2L and one subtraction finishes the job.
 */
static void scalar_reduce_wide(uint64_t r[4], const uint8_t bytes[64])
{
    uint64_t x[8], product[10], quotient_times_order[5], remainder[5];

    for (int i = 0; i < 8; i++)
        x[i] = load_le64(bytes + 8 * i);
    words_multiply(product, 10, x + 3, 5, barrett_mu, 5);
    words_multiply(quotient_times_order, 5, product + 5, 5, group_order, 4);
    for (int i = 0; i < 5; i++)
        remainder[i] = x[i];
    words_subtract(remainder, quotient_times_order, 5);
    if (!words_less(remainder, group_order, 5))
        words_subtract(remainder, group_order, 5);
    for (int i = 0; i < 4; i++)
        r[i] = remainder[i];
}

/*
 * Width-5 non-adjacent form: s = sum digit[i] 2^i with every digit 0 or
 * odd in [-15, 15], and any two nonzero digits at least 5 positions apart,
 * so a scalar of n bits has about n/6 nonzero digits.  A 256-bit scalar
 * needs at most 257 digits.
 */
#define WNAF_WIDTH  5
#define WNAF_DIGITS 257
#define WNAF_TABLE  (1 << (WNAF_WIDTH - 2))     /* odd multiples 1P, 3P, ..., 15P */

static void scalar_to_wnaf(int8_t digit[WNAF_DIGITS], const uint64_t s[4])
{
    const uint64_t window = (1 << WNAF_WIDTH) - 1;
    uint64_t k[5] = {s[0], s[1], s[2], s[3], 0};

    for (int i = 0; i < WNAF_DIGITS; i++) {
        digit[i] = 0;
        if (k[0] & 1) {
            /* The digit is k mod 2^WNAF_WIDTH taken into (-16, 16); k -= digit
             * then clears the low bits, adding 2^WNAF_WIDTH when it is negative. */
            uint64_t low = k[0] & window;
            digit[i] = (int8_t)(low > window / 2 ? (int)low - (int)(window + 1) : (int)low);
            k[0] -= low;
            if (digit[i] < 0) {
                uint64_t carry = window + 1;
                for (int w = 0; w < 5 && carry; w++) {
                    k[w] += carry;
                    carry = k[w] < carry;
                }
            }
        }
        for (int w = 0; w < 4; w++)
            k[w] = k[w] >> 1 | k[w + 1] << 63;
        k[4] >>= 1;
    }
}

/* ---- Verification ---------------------------------------------------------------------------- */

/* table[i] = (2i + 1) p. */
static void odd_multiples(struct cached_point table[WNAF_TABLE], const struct point *p)
{
    struct point twice, current = *p;
    struct cached_point twice_cached;

    point_double(&twice, p, true);
    point_to_cached(&twice_cached, &twice);
    point_to_cached(&table[0], p);
    for (int i = 1; i < WNAF_TABLE; i++) {
        point_add_cached(&current, &current, &twice_cached, false);
        point_to_cached(&table[i], &current);
    }
}

/* r += digit q, for a wNAF digit and q's odd multiples. */
static void add_digit(struct point *r, const struct cached_point table[WNAF_TABLE], int digit)
{
    if (digit > 0)
        point_add_cached(r, r, &table[digit / 2], false);
    else if (digit < 0)
        point_add_cached(r, r, &table[-digit / 2], true);
}

/* r = [a]B + [b]p, both scalars in one left-to-right pass over their wNAF
 * digits (Straus), sharing the doublings. */
static void double_scalar_multiply(struct point *r, const uint64_t a[4], const uint64_t b[4],
                                   const struct point *p)
{
    int8_t a_digit[WNAF_DIGITS], b_digit[WNAF_DIGITS];
    struct cached_point base_table[WNAF_TABLE], p_table[WNAF_TABLE];

    scalar_to_wnaf(a_digit, a);
    scalar_to_wnaf(b_digit, b);
    odd_multiples(base_table, &point_base);
    odd_multiples(p_table, p);

    int top = WNAF_DIGITS - 1;
    while (top >= 0 && a_digit[top] == 0 && b_digit[top] == 0)
        top--;

    *r = point_identity;
    for (int i = top; i >= 0; i--) {
        bool adds = a_digit[i] != 0 || b_digit[i] != 0;
        if (i < top)
            point_double(r, r, adds);
        add_digit(r, base_table, a_digit[i]);
        add_digit(r, p_table, b_digit[i]);
    }
}

bool ath_ed25519_verify(const uint8_t public_key[ATH_ED25519_PUBLIC_KEY_SIZE],
                        const void *message, size_t len,
                        const uint8_t signature[ATH_ED25519_SIGNATURE_SIZE])
{
    const uint8_t *r_bytes = signature, *s_bytes = signature + 32;
    struct point a, r, check;

    /* Every check on the inputs, cheapest first, before any real work. */
    if (!scalar_is_reduced(s_bytes))
        return false;
    if (!point_decode(&a, public_key) || point_has_small_order(&a))
        return false;
    if (!point_decode(&r, r_bytes))
        return false;

    /* k = SHA-512(R || A || M) mod L */
    struct ath_sha512_ctx hash;
    uint8_t digest[ATH_SHA512_DIGEST_SIZE];
    uint64_t k[4], s[4];
    ath_sha512_init(&hash);
    ath_sha512_update(&hash, r_bytes, 32);
    ath_sha512_update(&hash, public_key, 32);
    ath_sha512_update(&hash, message, len);
    ath_sha512_final(&hash, digest);
    scalar_reduce_wide(k, digest);
    scalar_load(s, s_bytes);

    /* [S]B - [k]A == R */
    point_negate(&a);
    double_scalar_multiply(&check, s, k, &a);
    return point_equal_affine(&check, &r);
}
