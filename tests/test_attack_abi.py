"""Attack class: the kernel ABI fed every kind of bad argument. A module generated from the
capability catalogue imports every kernel and WASI function it can be granted and calls each
one again and again with one argument at a time replaced by a hostile value: zero, past the
end of its memory, wrapping around 2^32, huge, negative; with buffers that overlap one another
(in and out at the same address) and real handles of each kind next to forged ones.

What must hold, booted in both bounds modes: the kernel survives every call; no call traps the
module (athanor.log is left out: a range outside memory is its one documented trap); a call
given a pointer outside the module's memory fails (returns non-zero) rather than touching
anything; and no call writes outside the buffers it was given: a canary over the rest of the
module's memory, and a sibling's memory, stay as they were.
"""
import pytest

from attacks import (BOUNDS, appliance, assert_clean_exit, boot, lines_of, text_of, victim,
                     with_a64)
from azoth import catalogue as catalogue_module
from azoth import qemu

MEMORY = 65536                   # the fuzzer's one page
DEFAULT_POINTER = 1024           # buffers the calls may write: [0, 2048)
CANARY = (4096, MEMORY)          # everything above: never a valid buffer of any call
STRINGS = 2048                   # its own strings, [2048, 4096)
HOSTILE_I32 = [0, 1, MEMORY - 1, MEMORY, MEMORY + 1, 0x7fffffff, 0x80000000, 0xfffffff0,
               0xffffffff]
HOSTILE_I64 = [0, 1, -1, 0x7fffffffffffffff, -0x8000000000000000, 0x100000000, 0xfffffff0]

# i32 parameters that are addresses in the caller's memory (the catalogue's names)
POINTERS = {"ptr", "name", "handles", "out", "iovs", "buf", "path", "argv", "argv_buf",
            "environ", "environ_buf", "argc", "argv_buf_size", "environc", "environ_buf_size",
            "resolution", "time", "stat", "nread", "nwritten", "newoffset", "opened_fd",
            "in", "nevents", "bufused", "old_path", "new_path", "fd_out", "ri_data",
            "si_data", "ro_datalen", "ro_flags", "so_datalen", "addr", "port_out"}
LENGTHS = {"len", "capacity", "path_len", "iovs_len", "buf_len", "old_path_len",
           "new_path_len", "ri_data_len", "si_data_len"}
# Calls that end the module, or are left out (see the docstring)
LEFT_OUT = {"athanor.exit", "wasi_snapshot_preview1.proc_exit", "athanor.log"}
GRANTS = ["log", "clock", "random", "entropy", "stdout", "args", "env", "files", "trace",
           "port:0x2f8-0x2ff", "irq:3", "mmio:0xfed00000-0xfed003ff", "pci:1af4:1041", "dma:64K",
           # the stack's functions (it is the appliance's stack: the build adds none) and the
           # socket extension; no tcp-listen: descriptor 4 stays the open file
           "netstack", "tcp-connect:10.0.2.2:80", "udp:10.0.2.2:53"]
# the device of the pci grant, with MSI-X (the grant of a DMA region turns it on); on AArch64
# virt a virtio-mmio transport, which the kernel presents as a platform function (no MSI-X)
DEVICES = ["-device", "virtio-net-pci,disable-legacy=on"]
DEVICES_A64 = ["-device", "virtio-net-device", *qemu.MMIO_MODERN]


def default(imp, name, value_type):
    """A plausible value for a parameter that is not the one under attack."""
    if value_type == "i64":
        return {"timeout_ns": 0, "base": 0xfed00000}.get(name, 0)
    if name == "handle":
        kind = imp.field.split("_")[0]
        # irq_wait on a real handle would wait for ever (nothing raises line 3)
        real = {"channel": "$channel", "port": "$port", "mmio": "$mmio", "pci": "$pci",
                "virtq": "$pci", "net": "$net"}.get(kind)
        return real or 0x7fff01
    if name in POINTERS or name == "offset" and imp.field == "fd_tell":
        return DEFAULT_POINTER
    if name in LENGTHS:
        return 16
    if name == "flags" and imp.field.startswith("channel"):
        return 1                                   # ATH_NONBLOCK: never block here
    return {"fd": 4, "count": 1, "slot_size": 16, "width": 4, "first": 0x2f8, "line": 3,
            "size": 16, "id": 1, "whence": 0, "nsubscriptions": 1, "port": 0x2f8}.get(name, 0)


def hostile_values(imp, name, value_type):
    if value_type == "i64":
        if imp.field == "sleep":
            return [0, -1, -0x8000000000000000]    # never a long sleep: it is a valid request
        return HOSTILE_I64
    if name == "flags" and imp.field.startswith("channel"):
        return [1, 2, 3, 0x80000000, 0xffffffff]   # never 0: a blocking call on its own channel
    return HOSTILE_I32


def is_pointer(imp, name, value_type):
    return value_type == "i32" and (name in POINTERS or name == "offset" and imp.field == "fd_tell")


def const(value_type, value):
    if isinstance(value, str):
        return f"(global.get {value})"
    if value_type == "i64":
        return f"(i64.const {value})"
    return f"(i32.const {value if value < 0x80000000 else value - (1 << 32)})"


def calls(imports):
    """(WAT of one call, whether it must fail) for each case."""
    out = []
    for index, imp in enumerate(imports):
        params = list(zip(imp.names, imp.params))
        cases = [None] + [(p, v) for p, (name, t) in enumerate(params)
                          for v in hostile_values(imp, name, t)]
        # overlapping buffers: every pointer of the call at the same address
        cases.append("overlap")
        for case in cases:
            args, must_fail = [], False
            for p, (name, t) in enumerate(params):
                value = default(imp, name, t)
                if case == "overlap" and is_pointer(imp, name, t):
                    value = DEFAULT_POINTER
                elif isinstance(case, tuple) and case[0] == p:
                    value = case[1]
                    must_fail = is_pointer(imp, name, t) and value > MEMORY
                args.append(const(t, value))
            call = f"(call $f{index} {' '.join(args)})"
            if not imp.results:
                out.append((call, False))
            elif must_fail:
                rest = "(i64.eqz" if imp.results[0] == "i64" else "(i32.eqz"
                out.append((f"(if {rest} {call}) (then (call $violation (i32.const {index}))))",
                            True))
            else:
                out.append((f"(drop {call})", False))
    return out


def fuzzer(imports):
    declared = "\n  ".join(
        f'(import "{imp.module}" "{imp.field}" (func $f{i} (param {" ".join(imp.params)}) '
        f'{"(result " + imp.results[0] + ")" if imp.results else ""}))'
        for i, imp in enumerate(imports))
    body = "\n    ".join(call for call, _ in calls(imports))
    names = {imp.field: i for i, imp in enumerate(imports)}
    return f"""(module
  {declared}
  (import "athanor" "log" (func $log (param i32 i32)))
  (import "athanor" "exit" (func $exit (param i32)))
  (import "athanor" "channel_open" (func $open_done (param i32 i32) (result i32)))
  (import "athanor" "channel_send" (func $send_done (param i32 i32 i32 i32) (result i32)))
  (memory 1 1)
  (global $channel (mut i32) (i32.const 0))
  (global $port (mut i32) (i32.const 0))
  (global $mmio (mut i32) (i32.const 0))
  (global $pci (mut i32) (i32.const 0))
  (global $net (mut i32) (i32.const 0))
  (global $violations (mut i32) (i32.const 0))
  (data (i32.const {STRINGS}) "self")
  (data (i32.const {STRINGS + 16}) "data")
  (data (i32.const {STRINGS + 32}) "fuzz: a call with a pointer outside memory succeeded: #")
  (data (i32.const {STRINGS + 128}) "fuzz: the canary changed")
  (data (i32.const {STRINGS + 160}) "fuzz: done")
  (data (i32.const {STRINGS + 192}) "done")
  (func $violation (param $index i32)
    (i32.store8 (i32.const {STRINGS + 87}) (i32.add (i32.const 48) (i32.rem_u (local.get $index) (i32.const 10))))
    (i32.store8 (i32.const {STRINGS + 86}) (i32.add (i32.const 48) (i32.div_u (local.get $index) (i32.const 10))))
    (call $log (i32.const {STRINGS + 32}) (i32.const 56))
    (global.set $violations (i32.add (global.get $violations) (i32.const 1))))
  (func (export "_start") (local $at i32)
    (local.set $at (i32.const {CANARY[0]}))
    (loop $fill
      (i64.store (local.get $at) (i64.const 0x5a5a5a5a5a5a5a5a))
      (local.set $at (i32.add (local.get $at) (i32.const 8)))
      (br_if $fill (i32.lt_u (local.get $at) (i32.const {CANARY[1]}))))
    ;; real handles of each kind, and a real open file (descriptor 4)
    (global.set $channel (call $f{names["channel_open"]} (i32.const {STRINGS}) (i32.const 4)))
    (global.set $port (call $f{names["port_open"]} (i32.const 0x2f8) (i32.const 8)))
    (global.set $mmio (call $f{names["mmio_open"]} (i64.const 0xfed00000) (i32.const 1024)))
    (global.set $pci (call $f{names["pci_open"]} (i32.const 0)))
    (global.set $net (call $f{names["net_open"]}))
    (drop (call $f{names["path_open"]} (i32.const 3) (i32.const 0) (i32.const {STRINGS + 16})
            (i32.const 4) (i32.const 0) (i64.const -1) (i64.const -1) (i32.const 0)
            (i32.const {STRINGS + 48})))
    {body}
    (local.set $at (i32.const {CANARY[0]}))
    (loop $check
      (if (i64.ne (i64.load (local.get $at)) (i64.const 0x5a5a5a5a5a5a5a5a))
        (then (call $log (i32.const {STRINGS + 128}) (i32.const 24)) (call $exit (i32.const 3))))
      (local.set $at (i32.add (local.get $at) (i32.const 8)))
      (br_if $check (i32.lt_u (local.get $at) (i32.const {CANARY[1]}))))
    (call $log (i32.const {STRINGS + 160}) (i32.const 10))
    (if (global.get $violations) (then (call $exit (i32.const 5))))
    ;; the sibling checks its memory and ends the appliance
    (drop (call $send_done (call $open_done (i32.const {STRINGS + 192}) (i32.const 4))
                           (i32.const {STRINGS + 192}) (i32.const 4) (i32.const 0)))))
"""


def imports_to_fuzz():
    cat = catalogue_module.load()
    return [imp for imp in sorted(cat.imports.values(), key=lambda i: i.id)
            if imp.name not in LEFT_OUT]


@pytest.mark.parametrize("bounds", with_a64(BOUNDS))
def test_every_kernel_function_survives_hostile_arguments(tmp_path, tools, bounds):
    imports = imports_to_fuzz()
    cases = calls(imports)
    assert len(imports) >= 60 and sum(must for _, must in cases) >= 300
    granted = ", ".join(f'"{g}"' for g in GRANTS)
    directory = appliance(tmp_path, "abifuzz", bounds, f"""
[[app]]
name = "fuzzer"
source = "fuzzer.wat"
grants = [{granted}]
args = ["--fuzz"]
env = {{ FUZZ = "1" }}

[[app]]
name = "sibling"
source = "sibling.wat"
grants = ["log"]

[[channel]]
name = "self"
from = "fuzzer"
to = "fuzzer"
depth = 1
message_size = 16

[[channel]]
name = "done"
from = "fuzzer"
to = "sibling"
depth = 1
message_size = 4

[[file]]
guest = "/data"
host = "data"
""", {"fuzzer.wat": fuzzer(imports), "sibling.wat": victim(1), "data": "fuzz data\n" * 10})
    result = boot(directory, tools, timeout=300,
                  devices=DEVICES_A64 if bounds.endswith("-a64") else DEVICES)
    lines = lines_of(result)
    assert "fuzz: done" in lines, text_of(result)[-3000:]
    assert not [line for line in lines if "succeeded" in line]
    assert not [line for line in lines if "trapped" in line]
    assert "victim memory intact" in lines
    assert any(line.endswith("(virtio) -> module fuzzer") for line in lines)   # a real device
    assert_clean_exit(result, 0)
