;; pingpong's yielder: takes a count from go, then yields that many times, and waits again.
(module
  (import "athanor" "channel_open" (func $open (param i32 i32) (result i32)))
  (import "athanor" "channel_recv" (func $recv (param i32 i32 i32 i32) (result i32)))
  (import "athanor" "yield" (func $yield))
  (memory 1)
  (data (i32.const 0) "go")
  (func (export "_start") (local $go i32) (local $left i32)
    (local.set $go (call $open (i32.const 0) (i32.const 2)))
    (loop $wait
      (drop (call $recv (local.get $go) (i32.const 64) (i32.const 4) (i32.const 0)))
      (local.set $left (i32.load (i32.const 64)))
      (block $done
        (loop $again
          (br_if $done (i32.eqz (local.get $left)))
          (call $yield)
          (local.set $left (i32.sub (local.get $left) (i32.const 1)))
          (br $again)))
      (br $wait))))
