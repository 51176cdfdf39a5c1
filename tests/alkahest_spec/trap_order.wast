;; What a trap leaves behind: every store before it in program order, none after it. In guard
;; mode the fault of an out-of-bounds access is the trap, and an optimizer that takes loads and
;; stores for operations that cannot fail would move a store to a location no other access
;; aliases across them: promote it out of a loop (stored once, at the exit the trap never
;; reaches), delete it as overwritten by a later store (that the trap skips), sink it from two
;; branches into the join (after the fault), or hoist one from after the fault to before it.
;; The addresses are constants, so that the near ones are provably apart from the far one
;; (70000, past the one page); each function traps, then the getters read what it left.
(module
  (memory 1)
  (global $g (mut i32) (i32.const 0))
  (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
  (func (export "global") (result i32) (global.get $g))

  ;; a store and a global.set in a loop, then a load that faults in the fourth iteration
  (func (export "loop_load") (local $i i32)
    (loop $l
      (i32.store (i32.const 16) (local.get $i))
      (global.set $g (local.get $i))
      (if (i32.eq (local.get $i) (i32.const 3))
        (then (drop (i32.load (i32.const 70000)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 10)))))

  ;; the same with a faulting store (fuzz seed 112153's shape)
  (func (export "loop_store") (local $i i32)
    (loop $l
      (i32.store (i32.const 20) (local.get $i))
      (global.set $g (i32.add (local.get $i) (i32.const 100)))
      (if (i32.eq (local.get $i) (i32.const 5))
        (then (i32.store (i32.const 70000) (i32.const 1))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 10)))))

  ;; a store, a fault, a store to the same place
  (func (export "overwrite_after_load")
    (i32.store (i32.const 32) (i32.const 1))
    (drop (i32.load (i32.const 70000)))
    (i32.store (i32.const 32) (i32.const 2)))
  (func (export "overwrite_after_store")
    (i32.store (i32.const 36) (i32.const 1))
    (i64.store (i32.const 70000) (i64.const 7))
    (i32.store (i32.const 36) (i32.const 2)))
  (func (export "global_overwrite")
    (global.set $g (i32.const 1))
    (drop (i64.load (i32.const 70000)))
    (global.set $g (i32.const 2)))

  ;; stores in both branches, one branch faulting after its store
  (func (export "branches") (param $c i32)
    (if (local.get $c)
      (then (i32.store (i32.const 48) (i32.const 1))
            (drop (f64.load (i32.const 70000))))
      (else (i32.store (i32.const 48) (i32.const 2)))))

  ;; stores after a fault never happen
  (func (export "after_fault")
    (drop (i32.load8_u (i32.const 70000)))
    (i32.store (i32.const 64) (i32.const 5))
    (global.set $g (i32.const 99)))

  ;; a loop that fills an array and faults part-way: the filled part stays filled
  (func (export "fill") (param $far i32) (local $i i32)
    (loop $l
      (i32.store8 offset=128 (local.get $i) (i32.const 0xab))
      (if (i32.eq (local.get $i) (i32.const 40))
        (then (drop (i32.load (local.get $far)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 64)))))
)

(assert_trap (invoke "loop_load") "out of bounds memory access")
(assert_return (invoke "load" (i32.const 16)) (i32.const 3))
(assert_return (invoke "global") (i32.const 3))

(assert_trap (invoke "loop_store") "out of bounds memory access")
(assert_return (invoke "load" (i32.const 20)) (i32.const 5))
(assert_return (invoke "global") (i32.const 105))

(assert_trap (invoke "overwrite_after_load") "out of bounds memory access")
(assert_return (invoke "load" (i32.const 32)) (i32.const 1))
(assert_trap (invoke "overwrite_after_store") "out of bounds memory access")
(assert_return (invoke "load" (i32.const 36)) (i32.const 1))
(assert_trap (invoke "global_overwrite") "out of bounds memory access")
(assert_return (invoke "global") (i32.const 1))

(assert_trap (invoke "branches" (i32.const 1)) "out of bounds memory access")
(assert_return (invoke "load" (i32.const 48)) (i32.const 1))

(assert_trap (invoke "after_fault") "out of bounds memory access")
(assert_return (invoke "load" (i32.const 64)) (i32.const 0))
(assert_return (invoke "global") (i32.const 1))

(assert_trap (invoke "fill" (i32.const 70000)) "out of bounds memory access")
(assert_return (invoke "load" (i32.const 164)) (i32.const 0xabababab))
(assert_return (invoke "load" (i32.const 168)) (i32.const 0xab))
