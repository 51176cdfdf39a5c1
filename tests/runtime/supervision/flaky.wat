;; A module that logs "NAME start N" (N its restart count) and traps while N < TRAPS, else
;; sleeps forever. NAME and TRAPS come from the data segments the test writes (see the test).
(module
  (import "athanor" "log" (func $log (param i32 i32)))
  (import "athanor" "sleep" (func $sleep (param i64)))
  (import "athanor" "restart_count" (func $restart_count (result i32)))
  (import "athanor" "exit" (func $exit (param i32)))
  (memory 1)
  (data (i32.const 0) "NAME start ?")     ;; patched by the test: a 4-letter name
  (data (i32.const 32) "\00")             ;; traps: the byte at 32
  (data (i32.const 33) "\00")             ;; 1: exit 0 once it stops trapping
  (func (export "_start")
    (i32.store8 (i32.const 11) (i32.add (i32.const 48) (call $restart_count)))
    (call $log (i32.const 0) (i32.const 12))
    (call $sleep (i64.const 2000000))
    (if (i32.lt_u (call $restart_count) (i32.load8_u (i32.const 32)))
      (then unreachable))
    (if (i32.load8_u (i32.const 33)) (then (call $sleep (i64.const 20000000)) (call $exit (i32.const 0))))
    (loop (call $sleep (i64.const 1000000000)) (br 0))))
