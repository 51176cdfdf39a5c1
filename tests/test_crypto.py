"""Athanor's crypto (athanor/crypto) against FIPS 180-4, RFC 8032, OpenSSL and a Python model.

tests/crypto/Makefile builds the harness twice (plain and ASan/UBSan) from the kernel's own
sources, plus the three objects with the kernel's flags under gcc and clang. Each test below
writes a case file (format in tests/crypto/crypto_test.c) and runs it through both builds.
The rules being tested are in docs/crypto.md.
"""
import functools
import hashlib
import random
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HARNESS = ROOT / "tests" / "crypto"
OUT = ROOT / "build" / "tests" / "crypto"
sys.path.insert(0, str(HARNESS))
import ed25519_model as model  # noqa: E402
from conftest import make  # noqa: E402

PKCS8_ED25519_PREFIX = bytes.fromhex("302e020100300506032b657004220420")  # + 32-byte seed
SPKI_ED25519_PREFIX = bytes.fromhex("302a300506032b6570032100")           # + 32-byte key


@pytest.fixture(scope="module")
def built():
    make("-s", "-j2", "-C", HARNESS, f"OUT={OUT}")
    return OUT


def run_harness(built, program, cases):
    """Runs one harness build over the case text; fails with its report unless all pass."""
    result = subprocess.run([str(built / program), "-"], input=cases, capture_output=True, text=True)
    assert result.returncode == 0, f"{program}:\n{result.stderr[-4000:]}{result.stdout}"
    assert " 0 failed" in result.stdout
    return result.stdout


def run_both(built, program, cases):
    for suffix in ("", "_asan"):
        run_harness(built, program + suffix, cases)


def hex_or_dash(data):
    return data.hex() if data else "-"


def ed25519_line(expect, public_key, message, signature, label):
    return f"ed25519 {expect} {public_key.hex()} {hex_or_dash(message)} {signature.hex()} {label}\n"


def flips_line(public_key, message, signature, label):
    return f"ed25519-flips {public_key.hex()} {hex_or_dash(message)} {signature.hex()} {label}\n"


def openssl(*args, input_bytes=None):
    return subprocess.run(["openssl", *args], input=input_bytes, capture_output=True, check=True).stdout


def openssl_sign(key_path, message, tmp_path):
    message_path = tmp_path / "message"
    message_path.write_bytes(message)
    return openssl("pkeyutl", "-sign", "-inkey", str(key_path), "-rawin", "-in", str(message_path))


def openssl_verify(public_key, message, signature, tmp_path):
    (tmp_path / "public.der").write_bytes(SPKI_ED25519_PREFIX + public_key)
    (tmp_path / "message").write_bytes(message)
    (tmp_path / "signature").write_bytes(signature)
    result = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-keyform", "DER",
                             "-inkey", str(tmp_path / "public.der"), "-rawin",
                             "-in", str(tmp_path / "message"), "-sigfile", str(tmp_path / "signature")],
                            capture_output=True)
    return result.returncode == 0


def with_s(signature, s):
    return signature[:32] + s.to_bytes(32, "little")


# ---- Build ---------------------------------------------------------------------------------------

def test_kernel_objects_call_only_memcpy_memset_memcmp(built):
    """The kernel-flag objects (built warning-free by make, -Werror) need nothing from outside
    but memcpy/memset/memcmp and, for ed25519.o, the SHA-512 functions."""
    allowed = {"memcpy", "memset", "memcmp", "ath_sha512_init", "ath_sha512_update", "ath_sha512_final"}
    for compiler in ("gcc", "clang"):
        for name in ("sha256", "sha512", "ed25519"):
            obj = built / compiler / f"{name}.o"
            undefined = subprocess.run(["nm", "-u", str(obj)], capture_output=True, text=True,
                                       check=True).stdout.split()
            symbols = {s for s in undefined if s != "U"}
            assert symbols <= allowed, f"{obj}: {symbols - allowed}"


# ---- Fixed vectors -------------------------------------------------------------------------------

def rfc8032_vectors():
    for line in (HARNESS / "rfc8032.txt").read_text().splitlines():
        if line.startswith("rfc8032 "):
            _, name, secret, public, message, signature = line.split()
            yield name, bytes.fromhex(secret), bytes.fromhex(public), \
                b"" if message == "-" else bytes.fromhex(message), bytes.fromhex(signature)


def test_fips_examples_and_rfc8032_vectors(built):
    """FIPS 180-4 examples (built into the harness) and RFC 8032 7.1, each vector with every
    single-bit flip of signature, key and message rejected."""
    cases = (HARNESS / "rfc8032.txt").read_text()
    run_both(built, "crypto_test", cases)


def test_rfc8032_file_matches_its_secret_keys(tmp_path):
    """Guards the transcription: each PUBLIC KEY and SIGNATURE in rfc8032.txt is rederived from
    its SECRET KEY by the model and by openssl (which cannot sign the empty TEST 1 message)."""
    names = []
    for name, secret, public, message, signature in rfc8032_vectors():
        names.append(name)
        assert model.public_key(secret) == public, name
        assert model.sign(secret, message) == signature, name
        key_path = tmp_path / "key.der"
        key_path.write_bytes(PKCS8_ED25519_PREFIX + secret)
        der = openssl("pkey", "-inform", "DER", "-in", str(key_path), "-pubout", "-outform", "DER")
        assert der[-32:] == public, name
        if message:
            assert openssl_sign(key_path, message, tmp_path) == signature, name
    assert names == ["TEST-1", "TEST-2", "TEST-3", "TEST-1024", "TEST-SHA(abc)"]


# ---- Hashes against OpenSSL ----------------------------------------------------------------------

def test_hashes_match_openssl(built, tmp_path):
    """Every length 0..300 and a few long messages; each digest from one openssl dgst run."""
    rng = random.Random(1804)
    lengths = list(range(301)) + [1000, 1024, 4097, 16384 + 3]
    paths = []
    for length in lengths:
        path = tmp_path / f"m{length}"
        path.write_bytes(rng.randbytes(length))
        paths.append(path)
    cases = []
    for algorithm in ("sha256", "sha512"):
        out = openssl("dgst", f"-{algorithm}", "-r", *map(str, paths)).decode()
        digests = [line.split()[0] for line in out.splitlines()]
        assert len(digests) == len(paths)
        for path, digest in zip(paths, digests):
            assert digest == getattr(hashlib, algorithm)(path.read_bytes()).hexdigest()
            cases.append(f"{algorithm} {hex_or_dash(path.read_bytes())} {digest}\n")
    run_both(built, "crypto_test", "".join(cases))


# ---- Ed25519 against OpenSSL ---------------------------------------------------------------------

def test_openssl_signatures(built, tmp_path):
    """Signatures from openssl genpkey/pkeyutl over messages of varied lengths: each accepted;
    S + L, a changed message and another key's signature rejected; for the short messages,
    every single-bit flip of signature, key and message rejected."""
    rng = random.Random(8032)
    lengths = [1, 2, 3, 16, 31, 32, 33, 63, 64, 65, 111, 112, 127, 128, 129, 255, 256, 1000,
               4096, 65537] + [rng.randrange(1, 3000) for _ in range(44)]
    keys = []
    for i in range(6):
        key_path = tmp_path / f"key{i}.pem"
        openssl("genpkey", "-algorithm", "ed25519", "-out", str(key_path))
        public = openssl("pkey", "-in", str(key_path), "-pubout", "-outform", "DER")[-32:]
        keys.append((key_path, public))

    assert lengths[9] == 65
    cases = []
    for n, length in enumerate(lengths):
        key_path, public = keys[n % len(keys)]
        other_public = keys[(n + 1) % len(keys)][1]
        message = rng.randbytes(length)
        signature = openssl_sign(key_path, message, tmp_path)
        assert len(signature) == 64
        s = int.from_bytes(signature[32:], "little")
        label = f"openssl-{n}-len{length}"
        if n < 10:                                 # the ten shortest, 1..65 bytes
            cases.append(flips_line(public, message, signature, label))
        else:
            cases.append(ed25519_line("accept", public, message, signature, label))
        cases.append(ed25519_line("reject", public, message, with_s(signature, s + model.L), label + "-S+L"))
        cases.append(ed25519_line("reject", public, message + b"\0", signature, label + "-longer"))
        cases.append(ed25519_line("reject", public, message[:-1], signature, label + "-shorter"))
        cases.append(ed25519_line("reject", other_public, message, signature, label + "-other-key"))
    run_both(built, "crypto_test", "".join(cases))


# ---- Crafted edge cases --------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def crafted_cases():
    """(label, public key, message, signature, expected, does OpenSSL 3.0 agree) for the rules
    of docs/crypto.md. None in the last field: OpenSSL is not consulted."""
    seed = hashlib.sha256(b"azoth crafted case key").digest()
    a, _ = model.secret_expand(seed)
    A = model.public_key(seed)
    msg = b"crafted case"
    good = model.sign(seed, msg)
    s = int.from_bytes(good[32:], "little")
    torsion = model.small_order_points()          # torsion[i] = [i]T8, T8 of order 8
    cases = [("honest", A, msg, good, True, True),
             ("honest-empty-message", A, b"", model.sign(seed, b""), True, None),
             ("honest-100k-message", A, b"z" * 100_000, model.sign(seed, b"z" * 100_000), True, True)]

    # S must be below L; S + L and S + 2L describe the same point multiple.
    for name, bad_s in [("S+L", s + model.L), ("S+2L", s + 2 * model.L), ("S=L", model.L),
                        ("S=2^256-1", 2**256 - 1), ("S=2^255+S", s + 2**255)]:
        cases.append((name, A, msg, with_s(good, bad_s), False, True))
    cases.append(("S=L-1", A, msg, with_s(good, model.L - 1), False, True))   # reduced but wrong

    # A public key of small order: [k]A takes at most 8 values, so R = [S]B - [j]A for a
    # guessed j verifies whenever k = j (mod 8). Rejected here; OpenSSL accepts them.
    for i, point in enumerate(torsion):
        encoding = model.encode(point)
        for trial in range(1, 1000):
            j = trial % 8
            r_point = model.add(model.multiply(trial, model.BASE), model.negate(model.multiply(j, point)))
            r_bytes = model.encode(r_point)
            k = model.hash_to_scalar(r_bytes, encoding, msg)
            if model.multiply(k, point) == model.multiply(j, point):
                break
        forged = r_bytes + trial.to_bytes(32, "little")
        assert model.add(model.multiply(trial, model.BASE), model.negate(model.multiply(k, point))) == r_point
        cases.append((f"small-order-key-{i}", encoding, msg, forged, False, None))
    # The same small-order points under non-canonical encodings (y + p).
    for y in (0, 1):
        for sign in (0, 1):
            cases.append((f"noncanonical-small-key-y{y}-sign{sign}", model.encode_raw(y + model.P, sign),
                          msg, good, False, None))

    # A mixed-order key A + T8: the cofactorless equation holds iff k = 0 (mod 8). A
    # cofactored verifier ([8][S]B == [8]R + [8][k]A) would accept both.
    mixed = model.encode(model.add(model.multiply(a, model.BASE), torsion[1]))
    for want_zero in (True, False):
        for r in range(1, 1000):
            r_bytes = model.encode(model.multiply(r, model.BASE))
            if (model.hash_to_scalar(r_bytes, mixed, msg) % 8 == 0) == want_zero:
                break
        cases.append((f"mixed-order-key-k%8{'==' if want_zero else '!='}0", mixed, msg,
                      model.sign_with(a, mixed, r_bytes, r, msg), want_zero, True))

    # R = the identity: S = k a. Canonical: valid. With the sign bit (x = -0), or as y = p + 1:
    # a decoder that reduced y or ignored the sign of 0 would accept these.
    for name, r_bytes, expect in [("R-identity", model.encode_raw(1, 0), True),
                                  ("R-identity-sign-bit", model.encode_raw(1, 1), False),
                                  ("R-identity-y=p+1", model.encode_raw(1 + model.P, 0), False),
                                  ("R-identity-y=p+1-sign-bit", model.encode_raw(1 + model.P, 1), False)]:
        cases.append((name, A, msg, model.sign_with(a, A, r_bytes, 0, msg), expect, True))

    # R of order 4 (y = 0) under the key A + T4, where [S]B - [k](A + T4) = -[k]T4 for S = k a:
    # pick the message so that this is R. Canonical R verifies; R as y = p must not.
    t4 = torsion[2]
    key4 = model.encode(model.add(model.multiply(a, model.BASE), t4))
    for name, r_bytes, expect in [("R-order-4", model.encode(t4), True),
                                  ("R-order-4-y=p", model.encode_raw(model.P, model.encode(t4)[31] >> 7), False)]:
        assert model.decode(r_bytes, strict=False) == t4
        for counter in range(1000):
            m = msg + bytes([counter])
            if model.multiply(-model.hash_to_scalar(r_bytes, key4, m) % 8, t4) == t4:
                break
        cases.append((name, key4, m, model.sign_with(a, key4, r_bytes, 0, m), expect, True))

    # [S]B - [k]A = -R (S = k a - r) shares y with R, and under the key A + T2 (T2 = (0, -1)),
    # [S]B - [k]A = -R - T2 (k odd) shares x with R: equality must compare both coordinates.
    r = 7
    r_bytes = model.encode(model.multiply(r, model.BASE))
    cases.append(("R-negated", A, msg, model.sign_with(a, A, r_bytes, -r, msg), False, True))
    key2 = model.encode(model.add(model.multiply(a, model.BASE), torsion[4]))
    for counter in range(1000):
        m = msg + bytes([counter])
        if model.hash_to_scalar(r_bytes, key2, m) % 2 == 1:
            break
    cases.append(("R-same-x-only", key2, m, model.sign_with(a, key2, r_bytes, -r, m), False, True))

    # Encodings of no point at all: y with no x on the curve, as key and as R.
    y = 2
    while model.decode(model.encode_raw(y, 0)) is not None:
        y += 1
    off_curve = model.encode_raw(y, 0)
    cases.append(("key-not-on-curve", off_curve, msg, good, False, True))
    cases.append(("R-not-on-curve", A, msg, off_curve + good[32:], False, True))
    cases.append(("key-y=2^255-1", model.encode_raw(2**255 - 1, 0), msg, good, False, True))
    cases.append(("all-zero-signature", A, msg, bytes(64), False, True))
    cases.append(("all-ff-signature", A, msg, b"\xff" * 64, False, True))
    return tuple(cases)


def test_crafted_cases(built):
    """S >= L, small-order and mixed-order keys, non-canonical and off-curve encodings: each
    case's expectation is also the model's verdict, so the case itself is checked."""
    lines = []
    for label, public, message, signature, expect, _ in crafted_cases():
        assert model.verify(public, message, signature) == expect, label
        lines.append(ed25519_line("accept" if expect else "reject", public, message, signature, label))
    run_both(built, "crypto_test", "".join(lines))


def test_openssl_agrees_on_crafted_cases(tmp_path):
    """Where docs/crypto.md says the rules match OpenSSL's verify, OpenSSL gives the same
    verdict (the kernel is stricter only on small-order keys)."""
    compared = 0
    for label, public, message, signature, expect, agrees in crafted_cases():
        if agrees:
            assert openssl_verify(public, message, signature, tmp_path) == expect, label
            compared += 1
    assert compared >= 15


# ---- White box -----------------------------------------------------------------------------------

def limbs_value(limbs):
    return sum(limb << (51 * i) for i, limb in enumerate(limbs))


def field_line(a_limbs, b_limbs):
    p = model.P
    a, b = limbs_value(a_limbs) % p, limbs_value(b_limbs) % p
    results = [a, (a + b) % p, (a - b) % p, a * b % p, a * a % p, pow(a, (p - 5) // 8, p)]
    return "field {} {} {}\n".format(",".join(f"{x:x}" for x in a_limbs), ",".join(f"{x:x}" for x in b_limbs),
                                     " ".join(v.to_bytes(32, "little").hex() for v in results))


def test_internals(built):
    """Field arithmetic at the limb bounds, point decoding, small-order detection, reduction mod L,
    the S < L check and the width-5 NAF, each against the model."""
    rng = random.Random(25519)
    p, top = model.P, (1 << 52) - 1
    lines = []

    # Field: limbs at the weakly reduced extremes, p and its neighbours, and random limbs.
    special = [0, 1, 18, 19, (1 << 51) - 20, (1 << 51) - 19, (1 << 51) - 1, 1 << 51, top]
    p_limbs = [(1 << 51) - 19] + [(1 << 51) - 1] * 4
    vectors = [[x] * 5 for x in special] + [p_limbs, [p_limbs[0] + 1] + p_limbs[1:],
                                            [p_limbs[0] - 1] + p_limbs[1:], [top, 0, 0, 0, top]]
    # Just below 2^256, where fe_to_bytes needs its first carry to stay canonical.
    vectors += [[(1 << 51) - k] + [(1 << 51) - 1] * 3 + [top] for k in range(1, 41)]
    vectors += [[rng.choice(special) for _ in range(5)] for _ in range(40)]
    vectors += [[rng.randrange(1 << 52) for _ in range(5)] for _ in range(150)]
    for a in vectors:
        lines.append(field_line(a, rng.choice(vectors)))

    # Decoding: valid points (the model's verdict is the expectation), y = p..p+18 and
    # 2^255-1 with either sign, x = 0 with the sign bit, and y with no x.
    encodings = [model.encode(model.BASE)] + [model.encode(t) for t in model.small_order_points()]
    encodings += [model.encode(model.multiply(rng.randrange(1, model.L), model.BASE)) for _ in range(20)]
    encodings += [model.encode_raw(y, sign) for y in list(range(p, 2**255)) + list(range(0, 40))
                  for sign in (0, 1)]
    encodings += [model.encode_raw(p - 1, 1), rng.randbytes(32), rng.randbytes(32)]
    invalid = 0
    for e in encodings:
        valid = model.decode(e) is not None
        invalid += not valid
        lines.append(f"decode {e.hex()} {'valid' if valid else 'invalid'}\n")
    assert invalid > 40

    # Small order: the 8 torsion points yes; B, random points and mixed-order points no.
    torsion = model.small_order_points()
    for t in torsion:
        lines.append(f"small-order {model.encode(t).hex()} yes\n")
    for _ in range(8):
        q = model.multiply(rng.randrange(1, model.L), model.BASE)
        lines.append(f"small-order {model.encode(q).hex()} no\n")
        lines.append(f"small-order {model.encode(model.add(q, rng.choice(torsion[1:]))).hex()} no\n")

    # Reduction mod L of 64-byte values: edges near multiples of L, extremes, random.
    wide = [0, 1, model.L - 1, model.L, model.L + 1, 2**512 - 1, 2**256, 2**256 - 1]
    for _ in range(40):
        m = rng.randrange(2**512 // model.L)
        wide += [m * model.L, m * model.L - 1 if m else 0, m * model.L + model.L - 1]
    wide += [rng.randrange(2**512) for _ in range(300)]
    for x in wide:
        lines.append(f"reduce {x.to_bytes(64, 'little').hex()} {(x % model.L).to_bytes(32, 'little').hex()}\n")

    # S < L, at the boundary and beyond.
    for s in [0, 1, model.L - 1, model.L, model.L + 1, 2**252, 2**253, 2**256 - 1,
              rng.randrange(model.L), rng.randrange(model.L, 2**256)]:
        lines.append(f"scalar {s.to_bytes(32, 'little').hex()} {'reduced' if s < model.L else 'unreduced'}\n")

    # wNAF of 256-bit values: patterns that carry far, and random ones.
    scalars = [0, 1, 15, 16, 17, 31, 2**256 - 1, 2**255, model.L - 1, (2**256 - 1) // 3,
               2 * ((2**256 - 1) // 3) + 1] + [(1 << n) - 1 for n in range(1, 257, 7)]
    scalars += [rng.randrange(2**256) for _ in range(100)]
    for s in scalars:
        lines.append(f"wnaf {s.to_bytes(32, 'little').hex()}\n")

    run_both(built, "ed25519_internal_test", "".join(lines))
