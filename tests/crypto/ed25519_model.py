"""A slow, plain model of Ed25519 in Python integers, for building test cases.

Affine coordinates and modular inverses throughout: nothing shared with the C code but the
mathematics of RFC 8032. It signs (so the tests can make signatures with chosen R, or under
chosen public keys), decodes strictly or laxly (to write encodings a strict decoder must refuse),
and verifies under the rules athanor/crypto/ed25519.c claims, so every crafted case has a second
opinion besides the expectation written next to it.
"""
import hashlib

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_MINUS_ONE = pow(2, (P - 1) // 4, P)
IDENTITY = (0, 1)


def inverse(x):
    return pow(x, P - 2, P)


def add(p, q):
    """Affine Edwards addition on -x^2 + y^2 = 1 + d x^2 y^2 (complete: d is not a square)."""
    (x1, y1), (x2, y2) = p, q
    t = D * x1 * x2 * y1 * y2 % P
    return ((x1 * y2 + x2 * y1) * inverse(1 + t) % P, (y1 * y2 + x1 * x2) * inverse(1 - t) % P)


def negate(p):
    return (-p[0] % P, p[1])


def multiply(k, p):
    """[k]p by double-and-add in extended coordinates (x = X/Z, y = Y/Z, xy = T/Z), the one
    place the model avoids an inverse per step: it would otherwise dominate the test's time."""
    def extended_add(a, b):
        (x1, y1, z1, t1), (x2, y2, z2, t2) = a, b
        e = (y1 + x1) * (y2 + x2) - (y1 - x1) * (y2 - x2)
        h = (y1 + x1) * (y2 + x2) + (y1 - x1) * (y2 - x2)
        f = 2 * z1 * z2 - 2 * D * t1 * t2
        g = 2 * z1 * z2 + 2 * D * t1 * t2
        return (e * f % P, g * h % P, f * g % P, e * h % P)

    result, power = (0, 1, 1, 0), (p[0], p[1], 1, p[0] * p[1] % P)
    while k > 0:
        if k & 1:
            result = extended_add(result, power)
        power = extended_add(power, power)
        k >>= 1
    x, y, z, _ = result
    return (x * inverse(z) % P, y * inverse(z) % P)


def on_curve(p):
    x, y = p
    return (-x * x + y * y - 1 - D * x * x * y * y) % P == 0


def recover_x(y, sign):
    """The x with low bit sign on the curve at y (y already reduced), or None."""
    x2 = (y * y - 1) * inverse(D * y * y + 1) % P
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P != 0:
        x = x * SQRT_MINUS_ONE % P
    if (x * x - x2) % P != 0:
        return None
    if x == 0 and sign:
        return None
    return P - x if (x & 1) != sign and x != 0 else x


def decode(s, strict=True):
    """RFC 8032 5.1.3. Lax mode takes y mod p and lets x = 0 carry the sign bit, as a careless
    decoder would; it still needs a point on the curve."""
    value = int.from_bytes(s, "little")
    y, sign = value & (2**255 - 1), value >> 255
    if y >= P:
        if strict:
            return None
        y -= P
    if not strict and sign and y in (1, P - 1):
        sign = 0                                 # x = 0: a lax decoder ignores the sign bit
    x = recover_x(y, sign)
    return None if x is None else (x, y)


def encode(p):
    x, y = p
    return (y | (x & 1) << 255).to_bytes(32, "little")


def encode_raw(y, sign):
    """32 bytes for any 255-bit y and sign bit, canonical or not."""
    return (y | sign << 255).to_bytes(32, "little")


BASE = (recover_x(4 * inverse(5) % P, 0), 4 * inverse(5) % P)


def order_divides(p, n):
    return multiply(n, p) == IDENTITY


def small_order_points():
    """The 8 points of order dividing 8: the multiples of a point of order 8, found as [L]Q for
    the first decodable y whose [L]Q has full order 8."""
    y = 2
    while True:
        q = decode(encode_raw(y, 0))
        if q is not None:
            t = multiply(L, q)
            if not order_divides(t, 4):
                return [multiply(i, t) for i in range(8)]
        y += 1


def hash_to_scalar(*parts):
    return int.from_bytes(hashlib.sha512(b"".join(parts)).digest(), "little") % L


def secret_expand(seed):
    """RFC 8032 5.1.5: the clamped scalar a and the nonce prefix from a 32-byte seed."""
    h = hashlib.sha512(seed).digest()
    a = int.from_bytes(h[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    return a, h[32:]


def public_key(seed):
    return encode(multiply(secret_expand(seed)[0], BASE))


def sign(seed, message):
    """RFC 8032 5.1.6."""
    a, prefix = secret_expand(seed)
    A = encode(multiply(a, BASE))
    r = hash_to_scalar(prefix, message)
    R = encode(multiply(r, BASE))
    S = (r + hash_to_scalar(R, A, message) * a) % L
    return R + S.to_bytes(32, "little")


def sign_with(a, A, r_bytes, r, message):
    """S for a chosen R encoding r_bytes whose point is [r]B (r may be 0) under a public key
    encoding A whose prime-order part is [a]B: S = r + k a mod L."""
    k = hash_to_scalar(r_bytes, A, message)
    return r_bytes + ((r + k * a) % L).to_bytes(32, "little")


def verify(public_key_bytes, message, signature):
    """The rules ath_ed25519_verify implements: strict decoding of A and R, A not of small order,
    S < L, and [S]B - [k]A == R without the cofactor."""
    A = decode(public_key_bytes)
    R = decode(signature[:32])
    S = int.from_bytes(signature[32:], "little")
    if A is None or R is None or S >= L or order_divides(A, 8):
        return False
    k = hash_to_scalar(signature[:32], public_key_bytes, message)
    return add(multiply(S, BASE), negate(multiply(k, A))) == R
