;; Logs one line and exits 0. Only `log` is granted; `exit` is always available.
(module
  (import "athanor" "log" (func $log (param i32 i32)))
  (import "athanor" "exit" (func $exit (param i32)))
  (memory 1 1)
  (data (i32.const 16) "Hello from Azoth")
  (func (export "_start")
    (call $log (i32.const 16) (i32.const 16))
    (call $exit (i32.const 0))))
