;; fib(n) recursively and iteratively; logs "fib(N) = V" for N = 0..10, then exits with fib(10).
(module
  (import "athanor" "log" (func $log (param i32 i32)))
  (import "athanor" "exit" (func $exit (param i32)))
  (memory 1)
  (data (i32.const 0) "fib(")

  (func $fib_recursive (param $n i32) (result i32)
    (if (result i32) (i32.lt_u (local.get $n) (i32.const 2))
      (then (local.get $n))
      (else (i32.add (call $fib_recursive (i32.sub (local.get $n) (i32.const 1)))
                     (call $fib_recursive (i32.sub (local.get $n) (i32.const 2)))))))

  (func $fib_iterative (param $n i32) (result i32)
    (local $a i32) (local $b i32) (local $t i32)
    (local.set $b (i32.const 1))
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $t (i32.add (local.get $a) (local.get $b)))
        (local.set $a (local.get $b))
        (local.set $b (local.get $t))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next)))
    (local.get $a))

  ;; Writes the decimal digits of $value at $at; returns the address just past them.
  (func $decimal (param $at i32) (param $value i32) (result i32)
    (local $digits i32) (local $v i32)
    (local.set $v (local.get $value))
    (loop $count
      (local.set $digits (i32.add (local.get $digits) (i32.const 1)))
      (local.set $v (i32.div_u (local.get $v) (i32.const 10)))
      (br_if $count (local.get $v)))
    (local.set $at (i32.add (local.get $at) (local.get $digits)))
    (local.set $v (local.get $at))
    (loop $emit
      (local.set $v (i32.sub (local.get $v) (i32.const 1)))
      (i32.store8 (local.get $v)
        (i32.add (i32.const 48) (i32.rem_u (local.get $value) (i32.const 10))))
      (local.set $value (i32.div_u (local.get $value) (i32.const 10)))
      (br_if $emit (local.get $value)))
    (local.get $at))

  (func (export "_start")
    (local $n i32) (local $end i32) (local $f i32)
    (loop $each
      (local.set $f (call $fib_recursive (local.get $n)))
      (if (i32.ne (local.get $f) (call $fib_iterative (local.get $n)))
        (then unreachable))
      (local.set $end (call $decimal (i32.const 4) (local.get $n)))
      (i32.store8 (local.get $end) (i32.const 41))              ;; ')'
      (i32.store (i32.add (local.get $end) (i32.const 1)) (i32.const 0x203d20)) ;; " = "
      (local.set $end (call $decimal (i32.add (local.get $end) (i32.const 4)) (local.get $f)))
      (call $log (i32.const 0) (local.get $end))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br_if $each (i32.le_u (local.get $n) (i32.const 10))))
    (call $exit (local.get $f))))
