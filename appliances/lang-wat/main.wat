;; Reads its args, its environment and a file, by calling WASI preview1 itself
;; (docs/kernel-abi.md, "WASI"): what a C library does for a C program.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $environ_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $environ_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)

  ;; 0 iovec, 8 bytes written or read, 16 counts, 24 a descriptor; text from 64;
  ;; pointers from 1024 (args) and 2048 (env), their strings from 4096 and 8192 (4 KiB each);
  ;; the file read through 12288 (4 KiB at a time).
  (global $args i32 (i32.const 1024))
  (global $args_text i32 (i32.const 4096))
  (global $env i32 (i32.const 2048))
  (global $env_text i32 (i32.const 8192))
  (global $chunk i32 (i32.const 12288))
  (data (i32.const 64) "GREETING=")                       ;; 9 bytes
  (data (i32.const 80) "Hi")                              ;; 2 bytes, when GREETING is unset
  (data (i32.const 96) " from WebAssembly text:")         ;; 23 bytes
  (data (i32.const 128) "etc/motd")                       ;; 8 bytes: below the preopened "/"
  (data (i32.const 144) "/etc/motd: ")                    ;; 11 bytes
  (data (i32.const 160) "/etc/motd: cannot open\n")       ;; 23 bytes
  (data (i32.const 192) " \n")

  (func $write (param $fd i32) (param $text i32) (param $length i32)
    (i32.store (i32.const 0) (local.get $text))
    (i32.store (i32.const 4) (local.get $length))
    (drop (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8))))

  (func $strlen (param $text i32) (result i32)
    (local $end i32)
    (local.set $end (local.get $text))
    (block $done (loop $next
      (br_if $done (i32.eqz (i32.load8_u (local.get $end))))
      (local.set $end (i32.add (local.get $end) (i32.const 1)))
      (br $next)))
    (i32.sub (local.get $end) (local.get $text)))

  ;; Whether the NUL-terminated string at $text starts with the $length bytes at $prefix.
  (func $starts_with (param $text i32) (param $prefix i32) (param $length i32) (result i32)
    (local $i i32)
    (block $differ (loop $next
      (if (i32.eq (local.get $i) (local.get $length)) (then (return (i32.const 1))))
      (br_if $differ (i32.ne (i32.load8_u (i32.add (local.get $text) (local.get $i)))
                             (i32.load8_u (i32.add (local.get $prefix) (local.get $i)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (i32.const 0))

  ;; The value of GREETING, or "Hi"; returns its address and leaves its length at 16.
  (func $greeting (result i32)
    (local $i i32) (local $entry i32)
    (drop (call $environ_sizes_get (i32.const 16) (i32.const 20)))
    (drop (call $environ_get (global.get $env) (global.get $env_text)))
    (block $none (loop $next
      (br_if $none (i32.ge_u (local.get $i) (i32.load (i32.const 16))))
      (local.set $entry (i32.load (i32.add (global.get $env) (i32.shl (local.get $i) (i32.const 2)))))
      (if (call $starts_with (local.get $entry) (i32.const 64) (i32.const 9))
        (then
          (local.set $entry (i32.add (local.get $entry) (i32.const 9)))
          (i32.store (i32.const 16) (call $strlen (local.get $entry)))
          (return (local.get $entry))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (i32.store (i32.const 16) (i32.const 2))
    (i32.const 80))

  (func $print_args
    (local $i i32) (local $arg i32)
    (drop (call $args_sizes_get (i32.const 16) (i32.const 20)))
    (drop (call $args_get (global.get $args) (global.get $args_text)))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (i32.load (i32.const 16))))
      (local.set $arg (i32.load (i32.add (global.get $args) (i32.shl (local.get $i) (i32.const 2)))))
      (call $write (i32.const 1) (i32.const 192) (i32.const 1))
      (call $write (i32.const 1) (local.get $arg) (call $strlen (local.get $arg)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (call $write (i32.const 1) (i32.const 193) (i32.const 1)))

  ;; Each line of /etc/motd, after "/etc/motd: ".
  (func $print_motd (result i32)
    (local $fd i32) (local $n i32) (local $i i32) (local $end i32) (local $line_start i32)
    (if (call $path_open (i32.const 3) (i32.const 0) (i32.const 128) (i32.const 8) (i32.const 0)
                         (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 24))
      (then (call $write (i32.const 2) (i32.const 160) (i32.const 23)) (return (i32.const 1))))
    (local.set $fd (i32.load (i32.const 24)))
    (local.set $line_start (i32.const 1))
    (block $eof (loop $read
      (i32.store (i32.const 0) (global.get $chunk))
      (i32.store (i32.const 4) (i32.const 4096))
      (br_if $eof (call $fd_read (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8)))
      (local.set $n (i32.load (i32.const 8)))
      (br_if $eof (i32.eqz (local.get $n)))
      (local.set $i (i32.const 0))
      (block $chunk_done (loop $line
        (br_if $chunk_done (i32.ge_u (local.get $i) (local.get $n)))
        (if (local.get $line_start)
          (then (call $write (i32.const 1) (i32.const 144) (i32.const 11))))
        ;; $end: just after the next newline, or the end of the chunk
        (local.set $end (local.get $i))
        (local.set $line_start (i32.const 0))
        (block $found (loop $scan
          (br_if $found (i32.ge_u (local.get $end) (local.get $n)))
          (local.set $end (i32.add (local.get $end) (i32.const 1)))
          (if (i32.eq (i32.load8_u (i32.add (global.get $chunk) (i32.sub (local.get $end) (i32.const 1))))
                      (i32.const 10))
            (then (local.set $line_start (i32.const 1)) (br $found)))
          (br $scan)))
        (call $write (i32.const 1) (i32.add (global.get $chunk) (local.get $i))
                     (i32.sub (local.get $end) (local.get $i)))
        (local.set $i (local.get $end))
        (br $line)))
      (br $read)))
    (drop (call $fd_close (local.get $fd)))
    (i32.const 0))

  (func (export "_start")
    (local $greeting i32)
    (local.set $greeting (call $greeting))
    (call $write (i32.const 1) (local.get $greeting) (i32.load (i32.const 16)))
    (call $write (i32.const 1) (i32.const 96) (i32.const 23))
    (call $print_args)
    (if (call $print_motd) (then (call $proc_exit (i32.const 1))))))
