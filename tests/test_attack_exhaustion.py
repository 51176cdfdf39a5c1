"""Attack class: exhausting what the kernel has. A module grows its memory until the kernel has
no page left to give (its manifest limit set far above the appliance's memory), fills its
handle table, fills a channel, and asks for more of each: every request past the end fails
with its documented error (memory.grow -1, ATH_E_FULL, ATH_E_AGAIN), the kernel keeps running,
and a sibling that needs memory afterwards (a restart) still gets it once the hog's memory is
given back. Booted in both bounds modes.
"""
import pytest

from attacks import BOUNDS, appliance, assert_clean_exit, boot, lines_of, text_of, with_a64

HOG = """(module
  (import "athanor" "log" (func $log (param i32 i32)))
  (import "athanor" "port_open" (func $port_open (param i32 i32) (result i32)))
  (import "athanor" "handle_close" (func $close (param i32) (result i32)))
  (import "athanor" "channel_open" (func $open (param i32 i32) (result i32)))
  (import "athanor" "channel_send" (func $send (param i32 i32 i32 i32) (result i32)))
  (import "athanor" "restart_count" (func $restarts (result i32)))
  (memory 1)
  (data (i32.const 0) "self")
  (data (i32.const 16) "memory exhausted, grow refused")
  (data (i32.const 64) "handles exhausted: FULL")
  (data (i32.const 96) "channel full: AGAIN")
  (data (i32.const 128) "FAIL")
  (data (i32.const 144) "restarted with fresh memory")
  (func $fail (call $log (i32.const 128) (i32.const 4)) (unreachable))
  (func (export "_start") (local $pages i32) (local $i i32) (local $h i32) (local $first i32)
    (if (call $restarts)
      (then
        ;; after the trap below: a fresh memory of one page, and the kernel has pages again
        (if (i32.ne (memory.size) (i32.const 1)) (then (call $fail)))
        (if (i32.eq (memory.grow (i32.const 64)) (i32.const -1)) (then (call $fail)))
        (call $log (i32.const 144) (i32.const 27))
        (return)))
    ;; memory: 16 pages at a time until the kernel refuses, then one page, then 65535
    (loop $grow
      (br_if $grow (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
    (local.set $pages (memory.size))
    (drop (memory.grow (i32.const 1)))
    (if (i32.ne (memory.grow (i32.const 65535)) (i32.const -1)) (then (call $fail)))
    (if (i32.lt_u (memory.size) (local.get $pages)) (then (call $fail)))
    ;; the memory it got works to its last byte
    (i32.store8 (i32.sub (i32.mul (memory.size) (i32.const 65536)) (i32.const 1)) (i32.const 7))
    (call $log (i32.const 16) (i32.const 30))
    ;; handles: every slot, then one more
    (loop $open
      (local.set $h (call $port_open (i32.const 0x2f8) (i32.const 1)))
      (if (i32.eqz (local.get $first)) (then (local.set $first (local.get $h))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $open (i32.gt_s (local.get $h) (i32.const 0))))
    (if (i32.ne (local.get $h) (i32.const -10)) (then (call $fail)))     ;; ATH_E_FULL
    (if (i32.ne (local.get $i) (i32.const 33)) (then (call $fail)))      ;; 32 handles, then FULL
    (if (call $close (local.get $first)) (then (call $fail)))
    (if (i32.le_s (call $port_open (i32.const 0x2f8) (i32.const 1)) (i32.const 0)) (then (call $fail)))
    (if (i32.ne (call $close (local.get $first)) (i32.const -2)) (then (call $fail)))   ;; STALE
    (call $log (i32.const 64) (i32.const 23))
    ;; a channel to itself: full after its depth, then AGAIN
    (local.set $h (call $close (local.get $h)))
    (local.set $h (call $open (i32.const 0) (i32.const 4)))
    (if (i32.eq (local.get $h) (i32.const -10))          ;; no slot left: free one
      (then (drop (call $close (i32.add (local.get $first) (i32.const 1))))
            (local.set $h (call $open (i32.const 0) (i32.const 4)))))
    (local.set $i (i32.const 0))
    (loop $fill
      (if (call $send (local.get $h) (i32.const 0) (i32.const 4) (i32.const 1))
        (then (if (i32.ne (local.get $i) (i32.const 8)) (then (call $fail))))
        (else (local.set $i (i32.add (local.get $i) (i32.const 1))) (br $fill))))
    (if (i32.ne (call $send (local.get $h) (i32.const 0) (i32.const 4) (i32.const 1)) (i32.const -7))
      (then (call $fail)))
    (call $log (i32.const 96) (i32.const 19))
    ;; give everything back by trapping: the restart frees and remaps
    (unreachable)))
"""

SIBLING = """(module
  (import "athanor" "log" (func $log (param i32 i32)))
  (import "athanor" "exit" (func $exit (param i32)))
  (import "athanor" "sleep" (func $sleep (param i64)))
  (memory 1)
  (data (i32.const 0) "sibling ran")
  (func (export "_start")
    (call $sleep (i64.const 400000000))
    (call $log (i32.const 0) (i32.const 11))
    (call $exit (i32.const 0))))
"""


@pytest.mark.parametrize("bounds", with_a64(BOUNDS))
def test_exhausting_memory_handles_and_channels_fails_cleanly(tmp_path, tools, bounds):
    directory = appliance(tmp_path, "exhaust", bounds, """memory = "64M"

[[app]]
name = "hog"
source = "hog.wat"
grants = ["log", "port:0x2f8-0x2ff"]
memory = "4G"
restart = "on-failure"

[[app]]
name = "sibling"
source = "sibling.wat"
grants = ["log"]

[[channel]]
name = "self"
from = "hog"
to = "hog"
depth = 8
message_size = 4
""", {"hog.wat": HOG, "sibling.wat": SIBLING})
    result = boot(directory, tools)
    lines = lines_of(result)
    assert_clean_exit(result, 0)
    for line in ("memory exhausted, grow refused", "handles exhausted: FULL",
                 "channel full: AGAIN", "restarted with fresh memory", "sibling ran"):
        assert line in lines, (line, text_of(result)[-3000:])
    assert "FAIL" not in lines
