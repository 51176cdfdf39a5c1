;; The victim: fills its memory with a pattern, then takes messages from the attacker until
;; "done". It exits 0 if it got exactly "hello" then "done", its pattern is intact, and the IRQ
;; line both are granted was busy (the attacker holds it open), else 4.
(module
  (import "athanor" "log" (func $log (param i32 i32)))
  (import "athanor" "exit" (func $exit (param i32)))
  (import "athanor" "channel_open" (func $open (param i32 i32) (result i32)))
  (import "athanor" "channel_recv" (func $recv (param i32 i32 i32 i32) (result i32)))
  (import "athanor" "irq_open" (func $irq_open (param i32) (result i32)))
  (memory 2)
  (data (i32.const 0) "to-victim")
  (data (i32.const 16) "victim: intact")
  (data (i32.const 32) "victim: DAMAGED")
  (func $fill (local $a i32)
    (local.set $a (i32.const 4096))
    (loop
      (i32.store (local.get $a) (i32.xor (local.get $a) (i32.const 0x5a5a5a5a)))
      (local.set $a (i32.add (local.get $a) (i32.const 4)))
      (br_if 0 (i32.lt_u (local.get $a) (i32.const 131072)))))
  (func $intact (result i32) (local $a i32)
    (local.set $a (i32.const 4096))
    (loop
      (if (i32.ne (i32.load (local.get $a)) (i32.xor (local.get $a) (i32.const 0x5a5a5a5a)))
        (then (return (i32.const 0))))
      (local.set $a (i32.add (local.get $a) (i32.const 4)))
      (br_if 0 (i32.lt_u (local.get $a) (i32.const 131072))))
    (i32.const 1))
  (func (export "_start") (local $in i32) (local $ok i32)
    (call $fill)
    (local.set $in (call $open (i32.const 0) (i32.const 9)))
    ;; first "hello" (5 bytes), then "done" (4 bytes)
    (local.set $ok (i32.and
      (i32.eq (call $recv (local.get $in) (i32.const 64) (i32.const 32) (i32.const 0)) (i32.const 5))
      (i32.eq (i32.load8_u (i32.const 64)) (i32.const 104))))
    ;; the attacker, which yields after "hello", holds the IRQ line open: BUSY
    (local.set $ok (i32.and (local.get $ok)
      (i32.eq (call $irq_open (i32.const 3)) (i32.const -14))))
    (local.set $ok (i32.and (local.get $ok) (i32.and
      (i32.eq (call $recv (local.get $in) (i32.const 64) (i32.const 32) (i32.const 0)) (i32.const 4))
      (i32.eq (i32.load8_u (i32.const 64)) (i32.const 100)))))
    (local.set $ok (i32.and (local.get $ok) (call $intact)))

    (if (local.get $ok)
      (then (call $log (i32.const 16) (i32.const 14)) (call $exit (i32.const 0))))
    (call $log (i32.const 32) (i32.const 15))
    (call $exit (i32.const 4))))
