"""Attack class: double fetches. A kernel function that reads a structure from a module's
memory, checks it, then reads it again can be told one thing and do another, when its own
work (filling a read buffer) rewrites the structure in between. The kernel and WASI read each
such structure once, into their own memory, and act on that copy only (docs/kernel-abi.md,
"Read once"); a read whose buffer would overwrite its own iovec array is refused with EFAULT.

The classic attack: fd_read with iovec 0 pointing at the iovec array itself, so that the
bytes read make iovec 1 point outside the module's memory. Hosted (alkahest run) and booted,
in both bounds modes, the call returns EFAULT and nothing is written.
"""
import subprocess

import pytest

from attacks import (ALKAHEST, BOUNDS_TIERS, appliance, assert_clean_exit, boot, lines_of,
                     run_options, wat2wasm)

EFAULT = 21
# The file's bytes, read over the iovec array: iovec 1 becomes {ptr 0xfffffff0, len 0x100}.
FILE = bytes.fromhex("00000000 10000000 f0ffffff 00010000") + b"\x00" * 48

READER = """(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory 1)
  (data (i32.const 0) "data")
  ;; iovecs at 256: 0 = {256, 16} (itself: the array), 1 = {512, 64} (harmless as given)
  (data (i32.const 256) "\\00\\01\\00\\00\\10\\00\\00\\00\\00\\02\\00\\00\\40\\00\\00\\00")
  (func (export "_start") (local $error i32)
    (local.set $error (call $path_open (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 4)
                        (i32.const 0) (i64.const -1) (i64.const -1) (i32.const 0) (i32.const 128)))
    (if (local.get $error) (then (call $exit (i32.add (i32.const 100) (local.get $error)))))
    ;; fd_read(fd, iovs = 256, 2 iovecs, nread at 132)
    (local.set $error (call $fd_read (i32.load (i32.const 128)) (i32.const 256) (i32.const 2)
                                     (i32.const 132)))
    ;; nothing may have been read: the iovec array is as it was
    (if (i32.ne (i32.load (i32.const 264)) (i32.const 512)) (then (call $exit (i32.const 99))))
    (call $exit (local.get $error))))
"""


@pytest.mark.parametrize("bounds", BOUNDS_TIERS)
def test_self_overwriting_fd_read_is_efault_hosted(tmp_path, bounds):
    wasm = tmp_path / "reader.wasm"
    wasm.write_bytes(wat2wasm(READER))
    data = tmp_path / "data"
    data.write_bytes(FILE)
    done = subprocess.run([str(ALKAHEST), "run", str(wasm), *run_options(bounds), "--file",
                           f"/data={data}"], capture_output=True, text=True, timeout=60)
    assert done.returncode == EFAULT, (done.returncode, done.stderr)


@pytest.mark.parametrize("bounds", BOUNDS_TIERS)
def test_self_overwriting_fd_read_is_efault_booted(tmp_path, tools, bounds):
    directory = appliance(tmp_path, "doublefetch", bounds, """
[[app]]
name = "reader"
source = "reader.wat"
grants = ["files"]

[[file]]
guest = "/data"
host = "data"
""", {"reader.wat": READER, "data": FILE})
    result = boot(directory, tools)
    assert_clean_exit(result, EFAULT)
    assert not any("trapped" in line for line in lines_of(result))
