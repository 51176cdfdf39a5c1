;; WASI calls with bad pointers, lengths and descriptors: each must return its errno and change
;; nothing; the module then prints "ok" and returns (exit 0). A wrong errno exits with 100 + the
;; check's number. Whatever its grants, descriptors 5, 9 and 99 are never held. Run by `alkahest
;; run` (tests/test_wasi.py) and in the kernel (tests/test_wasi_kernel.py, beside
;; hostile_files.wat, the kernel's variant for files and grants).
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_seek" (func $fd_seek (param i32 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_sync" (func $fd_sync (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_get" (func $fd_prestat_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $environ_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock_time_get (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "sched_yield" (func $sched_yield (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory 1)
  ;; iovec at 0: { buf = 16, len = 3 }; "ok\n" at 16; sentinel at 1024
  (data (i32.const 0) "\10\00\00\00\03\00\00\00")
  (data (i32.const 16) "ok\n")
  (data (i32.const 1024) "SENTINEL")
  ;; an iovec pointing past the end of memory, at 32
  (data (i32.const 32) "\fa\ff\00\00\64\00\00\00")

  (func $expect (param $got i32) (param $want i32) (param $check i32)
    (if (i32.ne (local.get $got) (local.get $want))
      (then (call $proc_exit (i32.add (i32.const 100) (local.get $check))))))

  (func (export "_start")
    (call $expect (call $fd_write (i32.const 1) (i32.const 0xfffffff0) (i32.const 1) (i32.const 8)) (i32.const 21) (i32.const 1))
    (call $expect (call $fd_write (i32.const 1) (i32.const 32) (i32.const 1) (i32.const 8)) (i32.const 21) (i32.const 2))
    (call $expect (call $fd_write (i32.const 99) (i32.const 0) (i32.const 1) (i32.const 8)) (i32.const 8) (i32.const 3))
    (call $expect (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 65534)) (i32.const 21) (i32.const 4))
    (call $expect (call $fd_write (i32.const 1) (i32.const 0) (i32.const 100000) (i32.const 8)) (i32.const 28) (i32.const 5))
    (call $expect (call $args_sizes_get (i32.const 65535) (i32.const 8)) (i32.const 21) (i32.const 6))
    (call $expect (call $args_get (i32.const 65534) (i32.const 64)) (i32.const 21) (i32.const 7))
    (call $expect (call $environ_get (i32.const 64) (i32.const 0xffffff00)) (i32.const 21) (i32.const 8))
    (call $expect (call $random_get (i32.const 65000) (i32.const 1000)) (i32.const 21) (i32.const 9))
    (call $expect (call $random_get (i32.const 2048) (i32.const 16)) (i32.const 0) (i32.const 10))
    (call $expect (call $clock_time_get (i32.const 99) (i64.const 0) (i32.const 64)) (i32.const 28) (i32.const 11))
    (call $expect (call $clock_time_get (i32.const 1) (i64.const 0) (i32.const 65532)) (i32.const 21) (i32.const 12))
    (call $expect (call $fd_read (i32.const 5) (i32.const 0) (i32.const 1) (i32.const 8)) (i32.const 8) (i32.const 13))
    (call $expect (call $path_open (i32.const 9) (i32.const 0) (i32.const 16) (i32.const 2) (i32.const 0)
                                   (i64.const 0) (i64.const 0) (i32.const 0) (i32.const 64)) (i32.const 8) (i32.const 14))
    (call $expect (call $fd_close (i32.const 1234)) (i32.const 8) (i32.const 15))
    (call $expect (call $fd_seek (i32.const 1) (i64.const 0) (i32.const 0) (i32.const 64)) (i32.const 70) (i32.const 16))
    (call $expect (call $fd_prestat_get (i32.const 9) (i32.const 64)) (i32.const 8) (i32.const 17))
    (call $expect (call $poll_oneoff (i32.const 128) (i32.const 256) (i32.const 0) (i32.const 64)) (i32.const 28) (i32.const 18))
    (call $expect (call $sched_yield) (i32.const 0) (i32.const 19))
    (call $expect (call $fd_sync (i32.const 1)) (i32.const 52) (i32.const 20))
    ;; nothing was written where it should not be
    (call $expect (i32.load (i32.const 1024)) (i32.const 0x544e4553) (i32.const 21))
    ;; and a good write still works
    (call $expect (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)) (i32.const 0) (i32.const 22))
    (call $expect (i32.load (i32.const 8)) (i32.const 3) (i32.const 23))))
