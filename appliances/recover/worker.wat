;; The worker traps on its first three starts (it reads its restart count) and then prints
;; "worker done" and ends the appliance with status 0. Each start waits a little first, so that
;; its sibling's heartbeats show the rest of the appliance running on while it fails.
(module
  (import "athanor" "log" (func $log (param i32 i32)))
  (import "athanor" "exit" (func $exit (param i32)))
  (import "athanor" "sleep" (func $sleep (param i64)))
  (import "athanor" "restart_count" (func $restart_count (result i32)))
  (memory 1)
  (data (i32.const 0) "worker start ?")
  (data (i32.const 16) "worker done")
  (func (export "_start")
    (i32.store8 (i32.const 13) (i32.add (i32.const 48) (call $restart_count)))
    (call $log (i32.const 0) (i32.const 14))
    (call $sleep (i64.const 30000000))
    (if (i32.lt_u (call $restart_count) (i32.const 3))
      (then unreachable))
    (call $log (i32.const 16) (i32.const 11))
    (call $sleep (i64.const 30000000))
    (call $exit (i32.const 0))))
