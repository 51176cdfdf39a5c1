;; pingpong's crasher (64 KiB of linear memory, restart = "always"): on every start it reports
;; how long the kernel took to bring it back (athanor.restart_ns), waits for a poke, and traps.
(module
  (import "athanor" "restart_ns" (func $restart_ns (result i64)))
  (import "athanor" "channel_open" (func $open (param i32 i32) (result i32)))
  (import "athanor" "channel_send" (func $send (param i32 i32 i32 i32) (result i32)))
  (import "athanor" "channel_recv" (func $recv (param i32 i32 i32 i32) (result i32)))
  (memory 1 1)
  (data (i32.const 0) "restarts")
  (data (i32.const 8) "crash")
  (func (export "_start") (local $out i32) (local $in i32)
    (local.set $out (call $open (i32.const 0) (i32.const 8)))
    (local.set $in (call $open (i32.const 8) (i32.const 5)))
    (i64.store (i32.const 64) (call $restart_ns))
    (drop (call $send (local.get $out) (i32.const 64) (i32.const 8) (i32.const 0)))
    (drop (call $recv (local.get $in) (i32.const 128) (i32.const 16) (i32.const 0)))
    unreachable))
