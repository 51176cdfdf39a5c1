"""Attack class: table confusion. call_indirect with indices past the table, at 2^32 - 1, to
null entries, with the wrong signature (a function of one type called as another, a kernel
function placed in the table called as something else), and the table instructions
(get, set, fill, copy, init, grow) past their bounds. Each must trap with its own kind; the
right calls, a kernel function called through the table included, work. Booted in both bounds
modes, through both compiler tiers.
"""
import pytest

from attacks import BOUNDS_TIERS, run_rounds

DECLARATIONS = """(import "athanor" "restart_count" (func $kernel (result i32)))
  (memory 1)
  (data (i32.const 0) "rounds over")
  (data (i32.const 16) "done")
  (type $none (func))
  (type $i32 (func (result i32)))
  (type $i64 (func (param i64) (result i64)))
  (table $t 8 16 funcref)
  (table $u 4 funcref)
  (func $answer (result i32) (i32.const 42))
  (func $twice (param i64) (result i64) (i64.add (local.get 0) (local.get 0)))
  (func $nothing)
  ;; 0 answer, 1 twice, 2 nothing, 3 the kernel's restart_count, 4..7 null
  (elem (table $t) (i32.const 0) func $answer $twice $nothing $kernel)
  (elem $passive func $answer $twice)"""

FIRST = """
      (if (i32.ne (call_indirect $t (type $i32) (i32.const 0)) (i32.const 42)) (then (unreachable)))
      (if (i64.ne (call_indirect $t (type $i64) (i64.const 21) (i32.const 1)) (i64.const 42))
        (then (unreachable)))
      (call_indirect $t (type $none) (i32.const 2))
      (drop (call_indirect $t (type $i32) (i32.const 3)))       ;; a kernel function, indirectly
      (table.set $t (i32.const 7) (table.get $t (i32.const 0)))
      (if (i32.ne (call_indirect $t (type $i32) (i32.const 7)) (i32.const 42)) (then (unreachable)))
      (if (i32.ne (table.grow $t (ref.null func) (i32.const 8)) (i32.const 8)) (then (unreachable)))
      (if (i32.ne (table.grow $t (ref.null func) (i32.const 1)) (i32.const -1)) (then (unreachable)))
      (table.init $u $passive (i32.const 2) (i32.const 0) (i32.const 2))
      (table.copy $t $u (i32.const 14) (i32.const 2) (i32.const 2))"""

ROUNDS = [
    ("(drop (call_indirect $t (type $i32) (i32.const 8)))", "undefined element"),
    ("(drop (call_indirect $t (type $i32) (i32.const -1)))", "undefined element"),
    ("(drop (call_indirect $t (type $i32) (i32.const 0x7fffffff)))", "undefined element"),
    ("(drop (call_indirect $t (type $i32) (i32.const 4)))", "uninitialized element"),
    ("(drop (call_indirect $t (type $i32) (i32.const 1)))", "indirect call type mismatch"),
    ("(call_indirect $t (type $none) (i32.const 0))", "indirect call type mismatch"),
    ("(drop (call_indirect $t (type $i64) (i64.const 1) (i32.const 3)))",
     "indirect call type mismatch"),                                   # the kernel's, mistyped
    ("(drop (table.get $t (i32.const 8)))", "out of bounds table access"),
    ("(table.set $t (i32.const -1) (ref.null func))", "out of bounds table access"),
    ("(table.fill $t (i32.const 7) (ref.null func) (i32.const 2))", "out of bounds table access"),
    ("(table.fill $t (i32.const 0) (ref.null func) (i32.const -1))", "out of bounds table access"),
    ("(table.copy $t $u (i32.const 0) (i32.const 3) (i32.const 2))", "out of bounds table access"),
    ("(table.copy $u $t (i32.const 3) (i32.const 0) (i32.const 2))", "out of bounds table access"),
    ("(table.init $t $passive (i32.const 0) (i32.const 1) (i32.const 2))",
     "out of bounds table access"),
    ("(elem.drop $passive) (table.init $t $passive (i32.const 0) (i32.const 0) (i32.const 1))",
     "out of bounds table access"),
    ("(drop (table.grow $t (ref.null func) (i32.const 8))) "
     "(drop (call_indirect $t (type $i32) (i32.const 15)))", "uninitialized element"),
]


@pytest.mark.parametrize("bounds", BOUNDS_TIERS)
def test_table_confusion_traps_with_its_own_kind(tmp_path, tools, bounds):
    kinds = run_rounds(tmp_path, tools, "tables", bounds, DECLARATIONS, FIRST,
                       [code for code, _ in ROUNDS])
    assert kinds == [kind for _, kind in ROUNDS], list(zip(kinds, ROUNDS))
