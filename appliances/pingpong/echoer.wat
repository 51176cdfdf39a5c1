;; pingpong's echoer: answers every "P" message on ping with an 8-byte message on pong; a "B"
;; message (u32 total at offset 4) makes it take `total` messages from batch, in batches, then
;; answer on pong.
(module
  (import "athanor" "channel_open" (func $open (param i32 i32) (result i32)))
  (import "athanor" "channel_send" (func $send (param i32 i32 i32 i32) (result i32)))
  (import "athanor" "channel_recv" (func $recv (param i32 i32 i32 i32) (result i32)))
  (import "athanor" "channel_recv_batch" (func $recv_batch (param i32 i32 i32 i32 i32) (result i32)))
  (memory 1)
  (data (i32.const 0) "ping")
  (data (i32.const 8) "pong")
  (data (i32.const 16) "batch")
  (func (export "_start")
    (local $ping i32) (local $pong i32) (local $batch i32) (local $left i32) (local $n i32)
    (local.set $ping (call $open (i32.const 0) (i32.const 4)))
    (local.set $pong (call $open (i32.const 8) (i32.const 4)))
    (local.set $batch (call $open (i32.const 16) (i32.const 5)))
    (loop $serve
      (if (i32.lt_s (call $recv (local.get $ping) (i32.const 64) (i32.const 8) (i32.const 0))
                    (i32.const 0))
        (then unreachable))
      (if (i32.eq (i32.load8_u (i32.const 64)) (i32.const 66))   ;; "B"
        (then
          (local.set $left (i32.load (i32.const 68)))
          (block $done
            (loop $take
              (br_if $done (i32.eqz (local.get $left)))
              (local.set $n (call $recv_batch (local.get $batch) (i32.const 1024) (i32.const 32)
                                              (i32.const 68) (i32.const 0)))
              (if (i32.le_s (local.get $n) (i32.const 0)) (then unreachable))
              (local.set $left (i32.sub (local.get $left) (local.get $n)))
              (br $take)))))
      (drop (call $send (local.get $pong) (i32.const 64) (i32.const 8) (i32.const 0)))
      (br $serve))))
