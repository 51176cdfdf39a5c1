#!/usr/bin/env python3
"""Writes modules with random, mostly well-typed function bodies, for differential.py.

The fuzzer's byte mutations rarely get past decoding; these modules reach the type rules: each
body is built instruction by instruction against a simulated operand stack (instructions typed
from opcodes.def's signatures, locals, globals, select, blocks and ifs with results, branches),
with a few wrong turns on purpose (out-of-range indices, alignments and lanes, arbitrary
instructions, often after `unreachable`). About a quarter of the modules come out valid.

    alkahest/fuzz/typed_bodies.py OUT_DIR COUNT SEED
    alkahest/fuzz/differential.py OUT_DIR
"""
import os
import random
import re
import shutil
import sys
from pathlib import Path

DEF = (Path(__file__).resolve().parents[1] / 'src' / 'opcodes.def').read_text()
T = {'_': 0, 'I32': 0x7f, 'I64': 0x7e, 'F32': 0x7d, 'F64': 0x7c, 'V128': 0x7b}
OPS = []
for m in re.finditer(r'^ALK_OP\((\w+),\s*(0x[0-9a-f]+|\d+),\s*(0x[0-9a-f]+|\d+),\s*"([^"]+)",\s*(\w+),\s*(SPECIAL|SIG\(([^)]*)\)),\s*\w+\)', DEF, re.M):
    name, prefix, code, text, imm, sig, args = m.groups()
    prefix, code = int(prefix, 0), int(code, 0)
    if sig == 'SPECIAL':
        ops, res = None, None
    else:
        a = [T[x.strip()] for x in args.split(',')]
        ops, res = [x for x in a[:3] if x], a[3]
    OPS.append(dict(name=name, prefix=prefix, code=code, imm=imm, ops=ops, res=res))
BYNAME = {o['name']: o for o in OPS}
SIMPLE = [o for o in OPS if o['ops'] is not None]
VALTYPES = [0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f]


def uleb(n):
    out = bytearray()
    while True:
        b, n = n & 0x7f, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def sleb(n):
    out = bytearray()
    while True:
        b, n = n & 0x7f, n >> 7
        done = (n == 0 and not b & 0x40) or (n == -1 and b & 0x40)
        out.append(b | (0 if done else 0x80))
        if done:
            return bytes(out)


def vec(items):
    return uleb(len(items)) + b''.join(items)


def sec(i, p):
    return bytes([i]) + uleb(len(p)) + p


ACCESS = {'MEM8': 0, 'MEM16': 1, 'MEM32': 2, 'MEM64': 3, 'MEM128': 4,
          'MEM8_LANE': 0, 'MEM16_LANE': 1, 'MEM32_LANE': 2, 'MEM64_LANE': 3}
LANES = {'LANE16': 16, 'LANE8': 8, 'LANE4': 4, 'LANE2': 2, 'MEM8_LANE': 16, 'MEM16_LANE': 8,
         'MEM32_LANE': 4, 'MEM64_LANE': 2}


class Gen:
    def __init__(self, r):
        self.r = r
        self.types = [(tuple(r.choice(VALTYPES) for _ in range(r.randrange(3))),
                       tuple(r.choice(VALTYPES) for _ in range(r.randrange(3)))) for _ in range(4)]
        self.types.append(((), ()))
        self.nfuncs = 3
        self.globals = [(r.choice(VALTYPES), r.random() < 0.5) for _ in range(3)]
        self.tables = [0x70, 0x6f]
        self.nelems = 2
        self.ndata = 2
        self.has_memory = r.random() < 0.9
        self.has_datacount = r.random() < 0.9

    def pick(self, n, slack=0.1):
        return self.r.randrange(n + 1) if self.r.random() < slack else self.r.randrange(max(n, 1))

    def imm(self, op, depth, nlocals):
        r, k = self.r, op['imm']
        if k == 'NONE': return b''
        if k == 'LABEL': return uleb(self.pick(depth))
        if k == 'FUNCTION': return uleb(self.pick(self.nfuncs, 0.05))
        if k == 'LOCAL': return uleb(self.pick(nlocals, 0.05))
        if k == 'GLOBAL': return uleb(self.pick(len(self.globals), 0.05))
        if k == 'TABLE': return uleb(self.pick(2, 0.05))
        if k == 'ELEM': return uleb(self.pick(self.nelems, 0.05))
        if k == 'DATA': return uleb(self.pick(self.ndata, 0.05))
        if k == 'BLOCK':
            c = r.random()
            if c < 0.3: return b'\x40'
            if c < 0.6: return bytes([r.choice(VALTYPES)])
            return sleb(self.pick(len(self.types), 0.05))
        if k == 'BR_TABLE':
            n = r.randrange(4)
            return uleb(n) + b''.join(uleb(self.pick(depth)) for _ in range(n + 1))
        if k == 'CALL_INDIRECT': return uleb(self.pick(len(self.types), 0.05)) + uleb(self.pick(2, 0.05))
        if k in ('TABLE_INIT',): return uleb(self.pick(self.nelems, 0.05)) + uleb(self.pick(2, 0.05))
        if k == 'TABLE_COPY': return uleb(self.pick(2, 0.05)) + uleb(self.pick(2, 0.05))
        if k == 'MEMORY': return b'\x00'
        if k == 'MEMORY_INIT': return uleb(self.pick(self.ndata, 0.05)) + b'\x00'
        if k == 'MEMORY_COPY': return b'\x00\x00'
        if k in ACCESS:
            a = ACCESS[k] if r.random() < 0.8 else r.randrange(ACCESS[k] + 2)
            out = uleb(a) + uleb(r.choice([0, 1, 100, 70000]))
            if k in LANES: out += bytes([self.pick(LANES[k], 0.1)])
            return out
        if k in LANES: return bytes([self.pick(LANES[k], 0.1)])
        if k == 'I32': return sleb(r.randrange(-2**31, 2**31))
        if k == 'I64': return sleb(r.randrange(-2**63, 2**63))
        if k == 'F32': return os.urandom(4)
        if k == 'F64': return os.urandom(8)
        if k == 'V128': return os.urandom(16)
        if k == 'SHUFFLE': return bytes(self.pick(32, 0.02) for _ in range(16))
        if k == 'SELECT_T':
            n = 1 if r.random() < 0.9 else r.choice([0, 2])
            return vec([bytes([r.choice(VALTYPES)]) for _ in range(n)])
        if k == 'REF_TYPE': return bytes([r.choice([0x70, 0x6f])])
        raise ValueError(k)

    def encode(self, op):
        if op['prefix'] == 0:
            return bytes([op['code']])
        return bytes([op['prefix']]) + uleb(op['code'])

    CONST = {0x7f: b'\x41\x00', 0x7e: b'\x42\x00', 0x7d: b'\x43' + bytes(4), 0x7c: b'\x44' + bytes(8),
             0x7b: b'\xfd\x0c' + bytes(16), 0x70: b'\xd0\x70', 0x6f: b'\xd0\x6f'}

    def close(self, out, stack, results):
        """Makes the operands exactly `results`: drops and constants, or unreachable."""
        if stack is None or self.r.random() < 0.15:
            out += b'\x00'
            return
        if list(stack[len(stack) - len(results):]) == list(results) and self.r.random() < 0.7:
            extra = len(stack) - len(results)
            if extra == 0:
                return
        out += b'\x1a' * len(stack)
        for t in results:
            out += self.CONST[t]

    def body(self, params, results):
        r = self.r
        local_types = [r.choice(VALTYPES) for _ in range(r.randrange(4))]
        nlocals = len(params) + len(local_types)
        locals_all = list(params) + local_types
        out = bytearray()
        stack = []                  # simulated operand types; None once lost
        ctrl = [(0, None, results)] # (kind, saved outer stack, block results)
        for _ in range(r.randrange(1, 30)):
            c = r.random()
            if c < 0.55 and stack is not None:
                fits = [o for o in SIMPLE if len(o['ops']) <= len(stack)
                        and list(stack[len(stack) - len(o['ops']):]) == o['ops']]
                producers = [o for o in SIMPLE if not o['ops']]
                o = r.choice(fits) if fits and r.random() < 0.8 else r.choice(producers)
                if o['imm'] in ACCESS and not self.has_memory and r.random() < 0.9:
                    continue
                out += self.encode(o) + self.imm(o, len(ctrl), nlocals)
                if o['ops']:
                    del stack[len(stack) - len(o['ops']):]
                if o['res']:
                    stack.append(o['res'])
            elif c < 0.7 and stack is not None:
                d = r.random()
                if d < 0.35 and nlocals:
                    i = r.randrange(nlocals)
                    out += b'\x20' + uleb(i)
                    stack.append(locals_all[i])
                elif d < 0.55 and stack and nlocals:
                    i = r.randrange(nlocals)
                    tee = r.random() < 0.5
                    out += (b'\x22' if tee else b'\x21') + uleb(i)
                    t = stack.pop()
                    if tee:
                        stack.append(locals_all[i])
                    if t != locals_all[i]:
                        stack = None
                elif d < 0.7 and stack:
                    out += b'\x1a'
                    stack.pop()
                elif d < 0.85:
                    i = r.randrange(len(self.globals))
                    out += b'\x23' + uleb(i)
                    stack.append(self.globals[i][0])
                elif len(stack) >= 3 and stack[-1] == 0x7f and stack[-2] == stack[-3]:
                    typed = stack[-2] in (0x70, 0x6f) or r.random() < 0.3
                    out += (b'\x1c\x01' + bytes([stack[-2]])) if typed else b'\x1b'
                    stack.pop(); stack.pop()
            elif c < 0.82:
                d = r.random()
                if d < 0.3:
                    res = tuple(r.choice(VALTYPES) for _ in range(r.randrange(2)))
                    out += b'\x02' + (bytes([res[0]]) if res else b'\x40')
                    ctrl.append((1, stack, res))
                    stack = [] if stack is not None else None
                elif d < 0.45 and stack and stack[-1] == 0x7f:
                    res = tuple(r.choice(VALTYPES) for _ in range(r.randrange(2)))
                    out += b'\x04' + (bytes([res[0]]) if res else b'\x40')
                    stack.pop()
                    ctrl.append((2, stack, res))
                    stack = []
                elif d < 0.55 and ctrl[-1][0] == 2:
                    self.close(out, stack, ctrl[-1][2])
                    out += b'\x05'
                    ctrl[-1] = (3,) + ctrl[-1][1:]
                    stack = []
                elif d < 0.8 and len(ctrl) > 1:
                    kind, outer, res = ctrl.pop()
                    if kind == 2 and res:  # an if with results needs an else
                        self.close(out, stack, res)
                        out += b'\x05'
                        stack = []
                    self.close(out, stack, res)
                    out += b'\x0b'
                    stack = None if outer is None else outer + list(res)
                elif d < 0.88:
                    out += b'\x00'
                    stack = None
                elif d < 0.94:
                    depth = self.pick(len(ctrl))
                    if r.random() < 0.7:
                        out += b'\x00'
                    out += b'\x0d' + uleb(depth)
                    stack = None
                else:
                    if r.random() < 0.5:
                        out += b'\x00'
                    out += b'\x0c' + uleb(self.pick(len(ctrl)))
                    stack = None
            elif c < 0.97:
                continue
            else:
                if r.random() < 0.6:
                    out += b'\x00'  # in unreachable code any operands do
                o = r.choice(OPS)
                if o['name'] in ('END', 'ELSE', 'BLOCK', 'LOOP', 'IF'):
                    continue
                out += self.encode(o) + self.imm(o, len(ctrl), nlocals)
                stack = None
        while len(ctrl) > 1:
            kind, outer, res = ctrl.pop()
            if kind == 2 and res:
                self.close(out, stack, res)
                out += b'\x05'
                stack = []
            self.close(out, stack, res)
            out += b'\x0b'
            stack = None if outer is None else outer + list(res)
        self.close(out, stack, results)
        groups = vec([b'\x01' + bytes([t]) for t in local_types])
        entry = groups + bytes(out) + b'\x0b'
        return uleb(len(entry)) + entry

    def module(self):
        r = self.r
        types = vec([b'\x60' + vec([bytes([t]) for t in p]) + vec([bytes([t]) for t in q])
                     for p, q in self.types])
        func_types = [r.randrange(len(self.types)) for _ in range(self.nfuncs)]
        funcs = vec([uleb(t) for t in func_types])
        tables = vec([bytes([t]) + b'\x00\x04' for t in self.tables])
        mem = sec(5, vec([b'\x00\x01'])) if self.has_memory else b''
        globals_ = vec([bytes([t, int(m)]) + {0x7f: b'\x41\x00', 0x7e: b'\x42\x00', 0x7d: b'\x43' + bytes(4),
                        0x7c: b'\x44' + bytes(8), 0x7b: b'\xfd\x0c' + bytes(16), 0x70: b'\xd0\x70',
                        0x6f: b'\xd0\x6f'}[t] + b'\x0b' for t, m in self.globals])
        exports = vec([b'\x01f\x00\x00'])  # declares function 0 for ref.func
        elems = vec([b'\x01\x00\x01\x01', b'\x05\x6f\x01\xd0\x6f\x0b'])
        datacount = sec(12, uleb(self.ndata)) if self.has_datacount else b''
        code = vec([self.body(self.types[t][0], self.types[t][1]) for t in func_types])
        data = vec([b'\x01\x02ab', b'\x01\x00'])
        return (b'\0asm\1\0\0\0' + sec(1, types) + sec(3, funcs) + sec(4, tables) + mem
                + sec(6, globals_) + sec(7, exports) + sec(9, elems) + datacount + sec(10, code)
                + sec(11, data))


if __name__ == '__main__':
    out, count, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    for i in range(count):
        g = Gen(random.Random(seed * 1000003 + i))
        open(f'{out}/{i}.wasm', 'wb').write(g.module())
