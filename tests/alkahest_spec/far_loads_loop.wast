;; Far accesses inside loops the loop vectorizer would widen: each iteration reads (or writes)
;; a byte at i and one at i + 0xffffffff, 2^32 - 1 bytes away. Truncated to 32 bits that
;; distance is -1, so an analysis that computed it in an `int` would take the pair for
;; neighbours and widen them into one vector access near i, dropping the fault. Every one of
;; these must trap on its first iteration; the near-only loops give their plain sums.
(module
  (memory 1)
  (func $fill (local $i i32)
    (loop $l
      (i32.store8 (local.get $i) (local.get $i))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 4096)))))
  (start $fill)
  (func (export "sum_far") (param $n i32) (result i32) (local $i i32) (local $s i32)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $s (i32.add (local.get $s)
          (i32.add (i32.load8_u (local.get $i))
                   (i32.load8_u offset=0xffffffff (local.get $i)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
    (local.get $s))
  (func (export "sum_far_first") (param $n i32) (result i32) (local $i i32) (local $s i32)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $s (i32.add (local.get $s)
          (i32.add (i32.load8_u offset=0xffffffff (local.get $i))
                   (i32.add (i32.load8_u (local.get $i))
                            (i32.load8_u offset=1 (local.get $i))))))
        (local.set $i (i32.add (local.get $i) (i32.const 2)))
        (br $l)))
    (local.get $s))
  (func (export "sum_far_i32") (param $n i32) (result i32) (local $i i32) (local $s i32)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $s (i32.add (local.get $s)
          (i32.add (i32.load (local.get $i))
                   (i32.load offset=0xfffffffc (local.get $i)))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $l)))
    (local.get $s))
  (func (export "copy_far") (param $n i32) (local $i i32)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (i32.store8 offset=8192 (local.get $i) (i32.load8_u (local.get $i)))
        (i32.store8 offset=0xffffffff (local.get $i) (i32.load8_u offset=1 (local.get $i)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l))))
  (func (export "sum_near") (param $n i32) (result i32) (local $i i32) (local $s i32)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $s (i32.add (local.get $s)
          (i32.add (i32.load8_u (local.get $i)) (i32.load8_u offset=1 (local.get $i)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
    (local.get $s))
  (func (export "peek") (param $a i32) (result i32) (i32.load8_u (local.get $a))))
(assert_trap (invoke "sum_far" (i32.const 1024)) "out of bounds memory access")
(assert_trap (invoke "sum_far" (i32.const 1)) "out of bounds memory access")
(assert_trap (invoke "sum_far_first" (i32.const 1024)) "out of bounds memory access")
(assert_trap (invoke "sum_far_i32" (i32.const 1024)) "out of bounds memory access")
(assert_trap (invoke "copy_far" (i32.const 1024)) "out of bounds memory access")
;; the first iteration's near store happened before its far one trapped; nothing after it
(assert_return (invoke "peek" (i32.const 8192)) (i32.const 0))
(assert_return (invoke "peek" (i32.const 8193)) (i32.const 0))
(assert_return (invoke "sum_far" (i32.const 0)) (i32.const 0))
(assert_return (invoke "sum_near" (i32.const 1024)) (i32.const 261120))
