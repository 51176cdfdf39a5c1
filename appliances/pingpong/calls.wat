;; pingpong's call timer, in WAT so that no optimiser can inline the plain call (clang runs
;; wasm-opt on C, which inlines small functions whatever their attributes). On each message on
;; `calls` it times CALLS calls to $plain, a Wasm function that adds one, and CALLS calls into
;; the kernel (athanor.restart_count), and answers on `timed` with the two durations (i64 ns).
(module
  (import "athanor" "channel_open" (func $open (param i32 i32) (result i32)))
  (import "athanor" "channel_send" (func $send (param i32 i32 i32 i32) (result i32)))
  (import "athanor" "channel_recv" (func $recv (param i32 i32 i32 i32) (result i32)))
  (import "athanor" "clock" (func $clock (result i64)))
  (import "athanor" "restart_count" (func $restart_count (result i32)))
  (memory 1)
  (data (i32.const 0) "calls")
  (data (i32.const 8) "timed")
  (global $calls i32 (i32.const 4000))
  (func $plain (param $x i32) (result i32)
    (i32.add (local.get $x) (i32.const 1)))
  (func $plain_calls (result i64) (local $i i32) (local $x i32) (local $start i64)
    (local.set $start (call $clock))
    (loop $again
      (local.set $x (call $plain (local.get $x)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $i) (global.get $calls))))
    (i32.store (i32.const 32) (local.get $x))
    (i64.sub (call $clock) (local.get $start)))
  (func $host_calls (result i64) (local $i i32) (local $x i32) (local $start i64)
    (local.set $start (call $clock))
    (loop $again
      (local.set $x (i32.add (local.get $x) (call $restart_count)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $i) (global.get $calls))))
    (i32.store (i32.const 32) (local.get $x))
    (i64.sub (call $clock) (local.get $start)))
  (func (export "_start") (local $in i32) (local $out i32)
    (local.set $in (call $open (i32.const 0) (i32.const 5)))
    (local.set $out (call $open (i32.const 8) (i32.const 5)))
    (loop $serve
      (drop (call $recv (local.get $in) (i32.const 64) (i32.const 8) (i32.const 0)))
      (i64.store (i32.const 64) (call $plain_calls))
      (i64.store (i32.const 72) (call $host_calls))
      (drop (call $send (local.get $out) (i32.const 64) (i32.const 16) (i32.const 0)))
      (br $serve))))
