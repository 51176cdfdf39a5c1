"""Attack class: linear memory's edges. Loads and stores of every width at the last valid
address and one past it, at the very top of the 32-bit index space, with offsets that carry
past 2^32, after memory.grow moved the edge, and bulk operations (fill, copy, init) that run
over the end: every access that is out of bounds traps "out of bounds memory access", every
one that is not, works. In checked mode the attacker's memory sits right below other
reservations; in guard mode its 8 GiB reservation is mapped only up to its size. Booted in both
modes, through both compiler tiers; a sibling's memory is checked byte by byte afterwards.
"""
import pytest

from attacks import BOUNDS_TIERS, run_rounds

PAGES = 2
SIZE = PAGES * 65536
ACCESSES = [("i32.load8_u", 1), ("i32.load16_u", 2), ("i32.load", 4), ("i64.load", 8),
            ("f32.load", 4), ("f64.load", 8)]
STORES = [("i32.store8", 1, "i32"), ("i32.store16", 2, "i32"), ("i32.store", 4, "i32"),
          ("i64.store", 8, "i64"), ("f32.store", 4, "f32"), ("f64.store", 8, "f64")]


def u32(value):
    return value if value < 1 << 31 else value - (1 << 32)


def load(op, address, offset=0):
    return f"(drop ({op} offset={offset} (i32.const {u32(address)})))"


def store(op, value_type, address, offset=0):
    return f"({op} offset={offset} (i32.const {u32(address)}) ({value_type}.const 0))"


def in_bounds():
    """Every width at the last address it fits at, by index and by offset."""
    code = []
    for op, width in ACCESSES:
        code += [load(op, SIZE - width), load(op, 0, SIZE - width)]
    for op, width, t in STORES:
        code += [store(op, t, SIZE - width), store(op, t, 0, SIZE - width)]
    code += ["(memory.fill (i32.const 0) (i32.const 0) (i32.const %d))" % SIZE,
             "(memory.copy (i32.const 1) (i32.const 0) (i32.const %d))" % (SIZE - 1),
             "(drop (memory.grow (i32.const 1)))",                 # the edge moves up
             load("i64.load", SIZE + 65536 - 8)]
    return " ".join(code)


def out_of_bounds():
    rounds = []
    for op, width in ACCESSES:
        rounds += [load(op, SIZE - width + 1), load(op, SIZE), load(op, 0xffffffff),
                   load(op, 1, 0xffffffff), load(op, 0xffffffff, 0xffffffff),
                   load(op, 0, SIZE - width + 1), load(op, 0x80000000)]
    for op, width, t in STORES:
        rounds += [store(op, t, SIZE - width + 1), store(op, t, SIZE), store(op, t, 0xffffffff),
                   store(op, t, 1, 0xffffffff), store(op, t, 0, SIZE - width + 1)]
    rounds += [
        # the edge after a grow: the page past the new end
        f"(drop (memory.grow (i32.const 1))) {load('i32.load8_u', SIZE + 65536)}",
        f"(memory.fill (i32.const {SIZE - 1}) (i32.const 1) (i32.const 2))",
        "(memory.fill (i32.const 0) (i32.const 1) (i32.const -1))",
        f"(memory.copy (i32.const 0) (i32.const {SIZE - 1}) (i32.const 2))",
        f"(memory.copy (i32.const {SIZE - 1}) (i32.const 0) (i32.const 2))",
        "(memory.copy (i32.const -1) (i32.const 0) (i32.const 1))",
        "(memory.init $segment (i32.const 0) (i32.const 0) (i32.const 9))",   # past the segment
        f"(memory.init $segment (i32.const {SIZE - 4}) (i32.const 0) (i32.const 8))",
        "(data.drop $segment) (memory.init $segment (i32.const 0) (i32.const 0) (i32.const 1))",
    ]
    return rounds


DECLARATIONS = f"""(memory {PAGES} 8)
  (data (i32.const 0) "rounds over")
  (data (i32.const 16) "done")
  (data $segment "8 bytes!")"""


@pytest.mark.parametrize("bounds", BOUNDS_TIERS)
def test_every_access_past_the_edge_traps_and_none_before_it(tmp_path, tools, bounds):
    rounds = out_of_bounds()
    kinds = run_rounds(tmp_path, tools, "memory", bounds, DECLARATIONS, in_bounds(), rounds,
                       victim_pages=64, attacker_memory="512K")
    assert kinds == ["out of bounds memory access"] * len(rounds), \
        [(i, k) for i, k in enumerate(kinds) if k != "out of bounds memory access"]
