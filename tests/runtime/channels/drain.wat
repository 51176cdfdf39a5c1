;; Takes one message from `slow` every 5 ms, forever.
(module
  (import "athanor" "channel_open" (func $open (param i32 i32) (result i32)))
  (import "athanor" "channel_recv" (func $recv (param i32 i32 i32 i32) (result i32)))
  (import "athanor" "sleep" (func $sleep (param i64)))
  (memory 1)
  (data (i32.const 0) "slow")
  (func (export "_start") (local $in i32)
    (local.set $in (call $open (i32.const 0) (i32.const 4)))
    (loop
      (call $sleep (i64.const 5000000))
      (drop (call $recv (local.get $in) (i32.const 64) (i32.const 16) (i32.const 0)))
      (br 0))))
