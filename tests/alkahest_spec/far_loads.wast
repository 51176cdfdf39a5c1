;; Loads whose addresses lie 2^32 bytes apart: an index near 2^32 plus an offset reaches past
;; 4 GiB, which no memory has, so the access traps, even next to loads of small addresses that
;; a compiler could take for the same or for its neighbours (LLVM's SLP vectorizer did:
;; docs/opt-tier.md, fuzz seed 100150). Each function's loaded values are dropped.
(module
  (memory 1)
  (data (i32.const 0) "\01\02\03\04")
  (func (export "far_then_near") (result i32)
    (i32.load8_u offset=4 (i32.const -1))
    (i32.load8_u (i32.const 3))
    (i32.load8_u (i32.const 2))
    (i32.load8_u (i32.const 1))
    (i32.load8_u (i32.const 0))
    (i32.add) (i32.add) (i32.add) (i32.add) (drop)
    (i32.const 161))
  (func (export "far_offset") (param $x i32) (result i32)
    (i32.load8_u offset=0xffffffff (local.get $x))
    (i32.load8_u (local.get $x))
    (i32.load8_u offset=1 (local.get $x))
    (i32.add) (i32.add) (drop)
    (i32.const 7))
  (func (export "near_only") (result i32)
    (i32.add (i32.add (i32.load8_u (i32.const 3)) (i32.load8_u (i32.const 2)))
             (i32.add (i32.load8_u (i32.const 1)) (i32.load8_u (i32.const 0))))))
(assert_trap (invoke "far_then_near") "out of bounds memory access")
(assert_trap (invoke "far_offset" (i32.const 0)) "out of bounds memory access")
(assert_trap (invoke "far_offset" (i32.const 1)) "out of bounds memory access")
(assert_return (invoke "near_only") (i32.const 10))
