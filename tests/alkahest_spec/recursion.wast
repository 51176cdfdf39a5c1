;; Small functions that call themselves: the optimizing tier folds inline copies of their
;; bodies into them (docs/opt-tier.md, "Recursive inlining"), and the copies run without a stack
;; check of their own. The results must be the recursion's, every level of a runaway recursion
;; must still count against the stack (each real call checks), and in guard mode a load whose
;; value is unused must still fault inside a copy.
(module
  (memory 1)
  (func $fib (export "fib") (param i32) (result i32)
    (if (result i32) (i32.lt_u (local.get 0) (i32.const 2))
      (then (local.get 0))
      (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1)))
                     (call $fib (i32.sub (local.get 0) (i32.const 2)))))))
  (func $ackermann (export "ackermann") (param i32 i32) (result i32)
    (if (result i32) (i32.eqz (local.get 0))
      (then (i32.add (local.get 1) (i32.const 1)))
      (else
        (if (result i32) (i32.eqz (local.get 1))
          (then (call $ackermann (i32.sub (local.get 0) (i32.const 1)) (i32.const 1)))
          (else (call $ackermann (i32.sub (local.get 0) (i32.const 1))
                                 (call $ackermann (local.get 0)
                                                  (i32.sub (local.get 1) (i32.const 1)))))))))
  ;; never returns: a non-tail self-call with a value live across it
  (func $runaway (export "runaway") (param i32) (result i32)
    (i32.add (call $runaway (i32.add (local.get 0) (i32.const 1))) (local.get 0)))
  ;; the same with eight values live across the call, so each frame holds more
  (func $runaway_wide (export "runaway_wide") (param i64) (result i64)
    (local i64 i64 i64 i64 i64 i64 i64)
    (local.set 1 (i64.mul (local.get 0) (i64.const 3)))
    (local.set 2 (i64.mul (local.get 0) (i64.const 5)))
    (local.set 3 (i64.mul (local.get 0) (i64.const 7)))
    (local.set 4 (i64.mul (local.get 0) (i64.const 11)))
    (local.set 5 (i64.mul (local.get 0) (i64.const 13)))
    (local.set 6 (i64.mul (local.get 0) (i64.const 17)))
    (local.set 7 (i64.mul (local.get 0) (i64.const 19)))
    (i64.add
      (i64.add (i64.add (local.get 1) (local.get 2)) (i64.add (local.get 3) (local.get 4)))
      (i64.add (i64.add (local.get 5) (local.get 6))
               (i64.add (local.get 7) (call $runaway_wide (i64.add (local.get 0) (i64.const 1)))))))
  ;; counts down to 0 and then loads (value unused) from the address given
  (func $load_at_bottom (export "load_at_bottom") (param i32 i32) (result i32)
    (if (result i32) (i32.eqz (local.get 0))
      (then (drop (i32.load (local.get 1))) (i32.const 0))
      (else (i32.add (call $load_at_bottom (i32.sub (local.get 0) (i32.const 1)) (local.get 1))
                     (i32.const 1)))))
)

(assert_return (invoke "fib" (i32.const 0)) (i32.const 0))
(assert_return (invoke "fib" (i32.const 1)) (i32.const 1))
(assert_return (invoke "fib" (i32.const 2)) (i32.const 1))
(assert_return (invoke "fib" (i32.const 7)) (i32.const 13))
(assert_return (invoke "fib" (i32.const 20)) (i32.const 6765))
(assert_return (invoke "ackermann" (i32.const 2) (i32.const 3)) (i32.const 9))
(assert_return (invoke "ackermann" (i32.const 3) (i32.const 3)) (i32.const 61))
(assert_exhaustion (invoke "runaway" (i32.const 0)) "call stack exhausted")
(assert_exhaustion (invoke "runaway_wide" (i64.const 0)) "call stack exhausted")
(assert_return (invoke "load_at_bottom" (i32.const 0) (i32.const 65532)) (i32.const 0))
(assert_return (invoke "load_at_bottom" (i32.const 9) (i32.const 65532)) (i32.const 9))
(assert_trap (invoke "load_at_bottom" (i32.const 0) (i32.const 65533)) "out of bounds memory access")
(assert_trap (invoke "load_at_bottom" (i32.const 1) (i32.const 65533)) "out of bounds memory access")
(assert_trap (invoke "load_at_bottom" (i32.const 5) (i32.const 65533)) "out of bounds memory access")
(assert_trap (invoke "load_at_bottom" (i32.const 13) (i32.const 65536)) "out of bounds memory access")
(assert_return (invoke "fib" (i32.const 10)) (i32.const 55))
