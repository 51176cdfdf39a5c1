#!/usr/bin/env python3
"""Writes pressure.wast: functions whose operand stacks hold dozens of computed values of all
four number types at once, more than the code generator has registers for, combined by
instructions that need particular registers (div/rem: rax/rdx, shifts: rcx) and interrupted by
calls (everything spilled). The expected results come from evaluating the same expressions
here, with Wasm's wrapping semantics.

    tests/alkahest_spec/gen_pressure.py > tests/alkahest_spec/pressure.wast
"""
import random
import struct

M32, M64 = (1 << 32) - 1, (1 << 64) - 1


def s32(x): return x - (1 << 32) if x >> 31 else x
def s64(x): return x - (1 << 64) if x >> 63 else x
def f32(x): return struct.unpack("<f", struct.pack("<f", x))[0]


def rotl(x, n, bits):
    n %= bits
    m = (1 << bits) - 1
    return ((x << n) | (x >> (bits - n))) & m


# Binary operations: (text, python function); operands and results unsigned bit patterns.
INT_OPS = [
    ("add", lambda a, b, w: (a + b) & w), ("sub", lambda a, b, w: (a - b) & w),
    ("mul", lambda a, b, w: (a * b) & w), ("xor", lambda a, b, w: a ^ b),
    ("and", lambda a, b, w: a & b), ("or", lambda a, b, w: a | b),
    ("shl", lambda a, b, w: (a << (b % (w.bit_length()))) & w),
    ("shr_u", lambda a, b, w: a >> (b % w.bit_length())),
    ("shr_s", lambda a, b, w: ((s32(a) if w == M32 else s64(a)) >> (b % w.bit_length())) & w),
    ("rotl", lambda a, b, w: rotl(a, b, w.bit_length())),
    ("rotr", lambda a, b, w: rotl(a, w.bit_length() - b % w.bit_length(), w.bit_length())),
]
# Sums of small multiples of 1/4 stay exact in f32: no multiplication here.
FLOAT_OPS = [("add", lambda a, b: a + b), ("sub", lambda a, b: a - b), ("min", min), ("max", max)]


class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)
        self.params = {"i32": 0x9e3779b9, "i64": 0x0123456789abcdef, "f32": 1.5, "f64": -2.25}

    # An expression is (type, value, text): its type, its value (an unsigned bit pattern for
    # integers, a Python float for floats) and its WAT text.

    def leaf(self):
        """A parameter times a constant: never zero, so no -0 ever arises (min/max below)."""
        t = self.r.choice(["i32", "i64", "f32", "f64"])
        p = f"(local.get ${t})"
        if t in ("i32", "i64"):
            w = M32 if t == "i32" else M64
            k = self.r.randrange(1, 1000)
            return t, (self.params[t] * k + k) & w, f"({t}.add ({t}.mul {p} ({t}.const {k})) ({t}.const {k}))"
        k = self.r.randrange(1, 64)
        v = self.params[t] * k
        return t, f32(v) if t == "f32" else v, f"({t}.mul {p} ({t}.const {k}))"

    def convert(self, e, t):
        """e as type t, exactly (values stay small: see leaf)."""
        if e[0] == t:
            return e
        if t == "i64":
            return self.to_i64(e)
        if t == "i32":
            e = self.to_i64(e)
            return "i32", e[1] & M32, f"(i32.wrap_i64 {e[2]})"
        if e[0] in ("f32", "f64"):   # promote, or demote a value that f32 holds exactly
            op = "promote" if t == "f64" else "demote"
            return t, e[1], f"({t}.{op}_{e[0]} {e[2]})"
        e = self.to_i64(e)
        return t, float(e[1] & 0xffff), f"({t}.convert_i64_u (i64.and {e[2]} (i64.const 65535)))"

    def combine(self, a, b):
        b = self.convert(b, a[0])
        t, w = a[0], (M32 if a[0] == "i32" else M64)
        choice = self.r.random()
        if t in ("i32", "i64"):
            if choice < 0.15:   # div_u / rem_u by a nonzero divisor
                d = b[1] | 1
                op = self.r.choice(["div_u", "rem_u"])
                v = a[1] // d if op == "div_u" else a[1] % d
                return t, v, f"({t}.{op} {a[2]} ({t}.or {b[2]} ({t}.const 1)))"
            if choice < 0.25:   # div_s: a positive divisor, so no overflow
                d = (b[1] | 1) & (w >> 1)
                sa = (s32 if t == "i32" else s64)(a[1])
                q = abs(sa) // d * (1 if sa >= 0 else -1)
                return t, q & w, (f"({t}.div_s {a[2]} ({t}.and ({t}.or {b[2]} ({t}.const 1)) "
                                  f"({t}.const {w >> 1})))")
            name, f = self.r.choice(INT_OPS)
            return t, f(a[1], b[1], w), f"({t}.{name} {a[2]} {b[2]})"
        name, f = self.r.choice(FLOAT_OPS)
        return t, f(a[1], b[1]), f"({t}.{name} {a[2]} {b[2]})"

    def to_i64(self, e):
        t, v, text = e
        if t == "i64":
            return e
        if t == "i32":
            return "i64", v, f"(i64.extend_i32_u {text})"
        # floats here are integral multiples of 1/4 well inside the i64 range
        return "i64", int(v * 4) & M64, f"(i64.trunc_{t}_s ({t}.mul {text} ({t}.const 4)))"

    def function(self, name, depth):
        """`depth` values live at once; returns (wat, expected i64)."""
        live = []
        for i in range(depth):
            e = self.leaf()
            if i % 9 == 8:   # a call in the middle: everything live is spilled
                e = (e[0], e[1], f"(call $id_{e[0]} {e[2]})")
            live.append(e)
        # fold: value i is combined with the result of folding i+1.., so all stay live
        result = live[-1]
        for e in reversed(live[:-1]):
            result = self.combine(e, result)
        result = self.to_i64(result)
        # emit as one folded expression
        wat = (f'  (func (export "{name}") (param $i32 i32) (param $i64 i64) (param $f32 f32) '
               f'(param $f64 f64) (result i64)\n    {result[2]})\n')
        return wat, result[1]


def main():
    out = [";; Generated by gen_pressure.py (see there); checked against wabt's interpreter.",
           ";; Run by tests/test_spec.py.",
           "(module",
           "  (func $id_i32 (param i32) (result i32) (local.get 0))",
           "  (func $id_i64 (param i64) (result i64) (local.get 0))",
           "  (func $id_f32 (param f32) (result f32) (local.get 0))",
           "  (func $id_f64 (param f64) (result f64) (local.get 0))"]
    asserts = []
    for i, depth in enumerate([8, 16, 24, 32, 48, 64]):
        g = Gen(i)
        wat, value = g.function(f"pressure-{depth}", depth)
        out.append(wat.rstrip("\n"))
        p = g.params
        asserts.append(f'(assert_return (invoke "pressure-{depth}" (i32.const {p["i32"]}) '
                       f'(i64.const {p["i64"]}) (f32.const {p["f32"]}) (f64.const {p["f64"]})) '
                       f'(i64.const {value}))')
    out.append(")")
    print("\n".join(out + asserts))


if __name__ == "__main__":
    main()
