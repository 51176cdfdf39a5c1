;; A handle does not survive a restart: on its first start the module opens its loopback
;; channel, sends itself the handle's value, and traps; restarted, it takes the old value from
;; the channel (messages survive a restart) and uses it: ATH_E_STALE (-2). Exit code 0 if so.
(module
  (import "athanor" "log" (func $log (param i32 i32)))
  (import "athanor" "exit" (func $exit (param i32)))
  (import "athanor" "restart_count" (func $restart_count (result i32)))
  (import "athanor" "channel_open" (func $open (param i32 i32) (result i32)))
  (import "athanor" "channel_send" (func $send (param i32 i32 i32 i32) (result i32)))
  (import "athanor" "channel_recv" (func $recv (param i32 i32 i32 i32) (result i32)))
  (memory 1)
  (data (i32.const 0) "keep")
  (data (i32.const 16) "stale handle refused")
  (func (export "_start") (local $h i32)
    (local.set $h (call $open (i32.const 0) (i32.const 4)))
    (if (i32.eqz (call $restart_count))
      (then
        (i32.store (i32.const 64) (local.get $h))
        (drop (call $send (local.get $h) (i32.const 64) (i32.const 4) (i32.const 0)))
        unreachable))
    (drop (call $recv (local.get $h) (i32.const 64) (i32.const 4) (i32.const 0)))
    ;; the old handle: stale, even though its slot is live again under a new generation
    (if (i32.ne (call $send (i32.load (i32.const 64)) (i32.const 0) (i32.const 1) (i32.const 1))
                (i32.const -2))
      (then (call $exit (i32.const 5))))
    (call $log (i32.const 16) (i32.const 20))
    (call $exit (i32.const 0))))
