;; WASI in the kernel, for a module granted stdout, files, args, env, clock and random but not
;; stdin, with /data/note.txt baked in ("0123456789abcdef\n", 17 bytes): bad pointers, lengths,
;; descriptors and paths return their errno and change nothing; descriptors follow the grants
;; (fd 0 is EBADF, fd 3 is "/"). Prints "ok" and returns; a wrong result exits with 100 + the
;; check's number. tests/test_wasi_kernel.py boots it.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_seek" (func $fd_seek (param i32 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_tell" (func $fd_tell (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_filestat_get" (func $fd_filestat_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_get" (func $fd_prestat_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_dir_name" (func $fd_prestat_dir_name (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $environ_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock_time_get (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_res_get" (func $clock_res_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory 1)
  ;; 0: iovec { 16, 3 } -> "ok\n"; 256: iovec { 512, 4 }; 272: an iovec running past the end
  (data (i32.const 0) "\10\00\00\00\03\00\00\00")
  (data (i32.const 16) "ok\n")
  (data (i32.const 128) "data/note.txt")          ;; 13 bytes
  (data (i32.const 160) "./data//note.txt")       ;; 16 bytes, the same file
  (data (i32.const 192) "../etc")                 ;; 6 bytes, above "/"
  (data (i32.const 208) "data/missing")           ;; 12 bytes
  (data (i32.const 224) "data/x/../note.txt")     ;; 18 bytes, the same file
  (data (i32.const 256) "\00\02\00\00\04\00\00\00")
  (data (i32.const 272) "\fa\ff\00\00\64\00\00\00")
  (data (i32.const 1024) "SENTINEL")
  ;; 2048: a clock subscription: userdata 0x1234, tag 0, monotonic, 2 ms, relative
  (data (i32.const 2048) "\34\12\00\00\00\00\00\00" "\00\00\00\00\00\00\00\00"
                         "\01\00\00\00\00\00\00\00" "\80\84\1e\00\00\00\00\00")

  (func $expect (param $got i32) (param $want i32) (param $check i32)
    (if (i32.ne (local.get $got) (local.get $want))
      (then (call $proc_exit (i32.add (i32.const 100) (local.get $check))))))
  (func $expect64 (param $ok i32) (param $check i32)
    (call $expect (local.get $ok) (i32.const 1) (local.get $check)))
  (func $open (param $path i32) (param $length i32) (param $oflags i32) (param $out i32) (result i32)
    (call $path_open (i32.const 3) (i32.const 0) (local.get $path) (local.get $length)
                     (local.get $oflags) (i64.const -1) (i64.const -1) (i32.const 0) (local.get $out)))

  (func (export "_start") (local $before i64)
    ;; descriptors follow the grants: no stdin, "/" at 3
    (call $expect (call $fd_read (i32.const 0) (i32.const 256) (i32.const 1) (i32.const 64)) (i32.const 8) (i32.const 1))
    (call $expect (call $fd_prestat_get (i32.const 3) (i32.const 64)) (i32.const 0) (i32.const 2))
    (call $expect (i32.load (i32.const 68)) (i32.const 1) (i32.const 3))
    (call $expect (call $fd_prestat_dir_name (i32.const 3) (i32.const 65534) (i32.const 4)) (i32.const 21) (i32.const 4))
    (call $expect (call $fd_prestat_dir_name (i32.const 3) (i32.const 96) (i32.const 1)) (i32.const 0) (i32.const 5))
    (call $expect (i32.load8_u (i32.const 96)) (i32.const 47) (i32.const 6))
    (call $expect (call $fd_prestat_get (i32.const 4) (i32.const 64)) (i32.const 8) (i32.const 7))
    ;; path_open: bad pointers, escapes, missing files, write flags, not a directory
    (call $expect (call $open (i32.const 128) (i32.const 13) (i32.const 0) (i32.const 65533)) (i32.const 21) (i32.const 8))
    (call $expect (call $open (i32.const 65530) (i32.const 13) (i32.const 0) (i32.const 64)) (i32.const 21) (i32.const 9))
    (call $expect (call $open (i32.const 192) (i32.const 6) (i32.const 0) (i32.const 64)) (i32.const 76) (i32.const 10))
    (call $expect (call $open (i32.const 208) (i32.const 12) (i32.const 0) (i32.const 64)) (i32.const 44) (i32.const 11))
    (call $expect (call $open (i32.const 128) (i32.const 13) (i32.const 1) (i32.const 64)) (i32.const 69) (i32.const 12))
    (call $expect (call $path_open (i32.const 1) (i32.const 0) (i32.const 128) (i32.const 13) (i32.const 0)
                                   (i64.const 0) (i64.const 0) (i32.const 0) (i32.const 64)) (i32.const 54) (i32.const 13))
    (call $expect (i32.load (i32.const 1024)) (i32.const 0x544e4553) (i32.const 14))
    ;; the file opens, under any spelling of its path, at the lowest free descriptor
    (call $expect (call $open (i32.const 160) (i32.const 16) (i32.const 0) (i32.const 64)) (i32.const 0) (i32.const 15))
    (call $expect (i32.load (i32.const 64)) (i32.const 4) (i32.const 16))
    (call $expect (call $open (i32.const 224) (i32.const 18) (i32.const 0) (i32.const 64)) (i32.const 0) (i32.const 17))
    (call $expect (i32.load (i32.const 64)) (i32.const 5) (i32.const 18))
    (call $expect (call $fd_close (i32.const 5)) (i32.const 0) (i32.const 19))
    ;; a read into a buffer past the end moves nothing
    (call $expect (call $fd_read (i32.const 4) (i32.const 272) (i32.const 1) (i32.const 80)) (i32.const 21) (i32.const 20))
    (call $expect (call $fd_read (i32.const 4) (i32.const 256) (i32.const 1) (i32.const 65534)) (i32.const 21) (i32.const 21))
    (call $expect (call $fd_tell (i32.const 4) (i32.const 88)) (i32.const 0) (i32.const 22))
    (call $expect64 (i64.eq (i64.load (i32.const 88)) (i64.const 0)) (i32.const 23))
    (call $expect (call $fd_read (i32.const 4) (i32.const 256) (i32.const 1) (i32.const 80)) (i32.const 0) (i32.const 24))
    (call $expect (i32.load (i32.const 80)) (i32.const 4) (i32.const 25))
    (call $expect (i32.load (i32.const 512)) (i32.const 0x33323130) (i32.const 26))
    ;; seeking, writing, attributes, the directory
    (call $expect (call $fd_seek (i32.const 4) (i64.const -1) (i32.const 2) (i32.const 88)) (i32.const 0) (i32.const 27))
    (call $expect64 (i64.eq (i64.load (i32.const 88)) (i64.const 16)) (i32.const 28))
    (call $expect (call $fd_seek (i32.const 4) (i64.const -100) (i32.const 0) (i32.const 88)) (i32.const 28) (i32.const 29))
    (call $expect (call $fd_seek (i32.const 4) (i64.const 0) (i32.const 7) (i32.const 88)) (i32.const 28) (i32.const 30))
    (call $expect (call $fd_seek (i32.const 4) (i64.const 0) (i32.const 0) (i32.const 65532)) (i32.const 21) (i32.const 31))
    (call $expect (call $fd_write (i32.const 4) (i32.const 0) (i32.const 1) (i32.const 80)) (i32.const 69) (i32.const 32))
    (call $expect (call $fd_filestat_get (i32.const 4) (i32.const 65500)) (i32.const 21) (i32.const 33))
    (call $expect (call $fd_filestat_get (i32.const 4) (i32.const 600)) (i32.const 0) (i32.const 34))
    (call $expect64 (i64.eq (i64.load (i32.const 632)) (i64.const 17)) (i32.const 35))
    (call $expect (call $fd_read (i32.const 3) (i32.const 256) (i32.const 1) (i32.const 80)) (i32.const 31) (i32.const 36))
    (call $expect (call $fd_close (i32.const 4)) (i32.const 0) (i32.const 37))
    (call $expect (call $fd_read (i32.const 4) (i32.const 256) (i32.const 1) (i32.const 80)) (i32.const 8) (i32.const 38))
    ;; clocks: realtime comes from the RTC (after 2020), CPU time runs, bad ids and pointers
    (call $expect (call $clock_time_get (i32.const 0) (i64.const 0) (i32.const 96)) (i32.const 0) (i32.const 39))
    (call $expect64 (i64.gt_u (i64.load (i32.const 96)) (i64.const 1577836800000000000)) (i32.const 40))
    (call $expect (call $clock_time_get (i32.const 2) (i64.const 0) (i32.const 96)) (i32.const 0) (i32.const 41))
    (call $expect64 (i64.gt_u (i64.load (i32.const 96)) (i64.const 0)) (i32.const 42))
    (call $expect (call $clock_time_get (i32.const 4) (i64.const 0) (i32.const 96)) (i32.const 28) (i32.const 43))
    (call $expect (call $clock_res_get (i32.const 1) (i32.const 65535)) (i32.const 21) (i32.const 44))
    (call $expect (call $clock_res_get (i32.const 1) (i32.const 96)) (i32.const 0) (i32.const 45))
    (call $expect64 (i64.le_u (i64.sub (i64.load (i32.const 96)) (i64.const 1)) (i64.const 999)) (i32.const 46))
    ;; poll_oneoff: a 2 ms sleep on the monotonic clock, and bad pointers
    (call $expect (call $clock_time_get (i32.const 1) (i64.const 0) (i32.const 96)) (i32.const 0) (i32.const 47))
    (local.set $before (i64.load (i32.const 96)))
    (call $expect (call $poll_oneoff (i32.const 2048) (i32.const 2304) (i32.const 1) (i32.const 96)) (i32.const 0) (i32.const 48))
    (call $expect (i32.load (i32.const 96)) (i32.const 1) (i32.const 49))
    (call $expect (i32.load (i32.const 2304)) (i32.const 0x1234) (i32.const 50))
    (call $expect (i32.load16_u (i32.const 2312)) (i32.const 0) (i32.const 51))
    (call $expect (call $clock_time_get (i32.const 1) (i64.const 0) (i32.const 96)) (i32.const 0) (i32.const 52))
    (call $expect64 (i64.ge_u (i64.sub (i64.load (i32.const 96)) (local.get $before)) (i64.const 2000000)) (i32.const 53))
    (call $expect (call $poll_oneoff (i32.const 2048) (i32.const 65530) (i32.const 1) (i32.const 96)) (i32.const 21) (i32.const 54))
    (call $expect (call $poll_oneoff (i32.const 65500) (i32.const 2304) (i32.const 1) (i32.const 96)) (i32.const 21) (i32.const 55))
    ;; arguments, environment, randomness
    (call $expect (call $args_sizes_get (i32.const 64) (i32.const 68)) (i32.const 0) (i32.const 56))
    (call $expect (i32.load (i32.const 64)) (i32.const 2) (i32.const 57))
    (call $expect (call $args_get (i32.const 65534) (i32.const 4096)) (i32.const 21) (i32.const 58))
    (call $expect (call $args_get (i32.const 4096) (i32.const 65530)) (i32.const 21) (i32.const 59))
    (call $expect (call $environ_sizes_get (i32.const 64) (i32.const 65533)) (i32.const 21) (i32.const 60))
    (call $expect (call $environ_sizes_get (i32.const 64) (i32.const 68)) (i32.const 0) (i32.const 61))
    (call $expect (i32.load (i32.const 64)) (i32.const 1) (i32.const 62))
    (call $expect (call $random_get (i32.const 65000) (i32.const 1000)) (i32.const 21) (i32.const 63))
    (call $expect (call $random_get (i32.const 3072) (i32.const 16)) (i32.const 0) (i32.const 64))
    (call $expect (call $fd_write (i32.const 1) (i32.const 0xfffffff0) (i32.const 1) (i32.const 8)) (i32.const 21) (i32.const 65))
    ;; nothing was written where it should not be, and a good write works
    (call $expect (i32.load (i32.const 1024)) (i32.const 0x544e4553) (i32.const 66))
    (call $expect (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)) (i32.const 0) (i32.const 67))))
