"""Attack class: the native stack. A module drives its stack pointer as far as compiled code
lets it: frames larger than its whole stack (past the guard page, across the gap, into the
neighbouring module's linear memory), and recursion without end. The stack-limit check must
trap before the stack pointer moves (docs/abi.md, "Stack limit"), and nothing the kernel does
(interrupts, faults, kernel calls) may ever be pushed where a module's stack pointer points
(docs/runtime.md, "Stacks"). Booted in both bounds modes under the interrupt-storm mode, where
an interrupt can land between any two instructions; and hosted, under a storm of signals.
"""
import subprocess

import pytest

from attacks import (A64_OPT, ALKAHEST, BOUNDS_TIERS, ROUNDS_MANIFEST, appliance, assert_clean_exit,
                     boot, huge_frame_function, lines_of, run_options, victim, wat2wasm,
                     with_a64)

ROUNDS = 1200
# Frame sizes, each past the attacker's 64 KiB stack: into the unmapped rest of its stack's
# reservation, across the 2 MiB gap into the victim's linear memory (the reservation just
# below it), and far beyond.
FRAMES = {"gap": 300 << 10, "neighbour": 3 << 20, "far": 8 << 20}


def opt_huge_frame_function(name, call_sites):
    """For the optimizing tier, which keeps no dead operand-stack values in its frames (LLVM):
    a function whose frame holds `call_sites` argument buffers of a call with 1000 v128
    arguments and results (abi.c's multi-result helper), about 32 KiB each, allocated by its
    prologue (through the stack probe) whether or not the calls run; they never do."""
    args = "(v128.const i64x2 0 0) " * 1000
    calls = "".join(f"(call_indirect (type $wide) {args} (i32.const 0)) " + "drop " * 1000
                    for _ in range(call_sites))
    return f'(func ${name} (export "{name}") (if (global.get $never) (then {calls})))\n'


# The optimizing tier's huge frame: about 128 KiB, twice the attacker's stack.
OPT_FRAMES = {"wide": 4}
OPT_DECLARATIONS = f"""(table 1 funcref)
  (type $wide (func (param {"v128 " * 1000}) (result {"v128 " * 1000})))
  (global $never (mut i32) (i32.const 0))"""


def attacker(rounds, opt=False):
    """Round n (its restart count) calls one huge-frame function or recurses without end; every
    round must trap with "call stack exhausted". After `rounds`, it tells the victim."""
    frames = OPT_FRAMES if opt else FRAMES
    functions = "".join(opt_huge_frame_function(name, size) if opt else
                        huge_frame_function(name, size) for name, size in frames.items())
    calls = "".join(f"""
          (call ${name}) (unreachable))""" for name in frames)
    table = " ".join(str(i) for i in range(len(frames) + 1))
    return f"""(module
  (import "athanor" "restart_count" (func $restarts (result i32)))
  (import "athanor" "channel_open" (func $open (param i32 i32) (result i32)))
  (import "athanor" "channel_send" (func $send (param i32 i32 i32 i32) (result i32)))
  (import "athanor" "log" (func $log (param i32 i32)))
  (memory 1)
  {OPT_DECLARATIONS if opt else ""}
  (data (i32.const 0) "done")
  (data (i32.const 16) "stack attacks over")
  {functions}
  (func $deep (param $n i32) (result i32)
    (i32.add (call $deep (i32.add (local.get $n) (i32.const 1))) (i32.const 1)))
  (func (export "_start") (local $n i32)
    (local.set $n (call $restarts))
    (if (i32.lt_u (local.get $n) (i32.const {rounds}))
      (then
        {"(block " * (len(frames) + 1)}
          (br_table {table} (i32.rem_u (local.get $n) (i32.const {len(frames) + 1}))))
          {calls}
          (drop (call $deep (i32.const 0))) (unreachable)))
    (call $log (i32.const 16) (i32.const 18))
    (drop (call $send (call $open (i32.const 0) (i32.const 4)) (i32.const 0) (i32.const 4)
                      (i32.const 0)))))
"""


# The attacker's stack is the smallest there is, right above the victim's memory reservation.
MANIFEST = ROUNDS_MANIFEST.format(victim_memory="4M", attacker_memory="64K", attacker_stack="64K")


@pytest.mark.parametrize("bounds", with_a64(BOUNDS_TIERS, default=True))
def test_huge_frames_and_endless_recursion_trap_under_an_interrupt_storm(tmp_path, tools, bounds):
    """On AArch64's optimizing tier (-opt-a64) the huge frame is checked by the internal
    entry against the frame size read off LLVM's code (docs/opt-tier.md, "AArch64")."""
    directory = appliance(tmp_path, "stack", bounds, MANIFEST,
                          {"victim.wat": victim(64),
                           "attacker.wat": attacker(ROUNDS, "-opt" in bounds)})
    result = boot(directory, tools, storm=True)
    lines = lines_of(result)
    assert_clean_exit(result, 0)
    assert "victim memory intact" in lines and "stack attacks over" in lines
    restarts = [line for line in lines if line.startswith("[supervisor] restarted attacker")]
    assert len(restarts) == ROUNDS, restarts[-5:]
    assert all("(trap: call stack exhausted)" in line for line in restarts), \
        [line for line in restarts if "call stack exhausted" not in line][:5]


@pytest.mark.parametrize("bounds", BOUNDS_TIERS + A64_OPT)
def test_huge_frame_traps_hosted_under_a_signal_storm(tmp_path, bounds):
    """Hosted: SIGALRM every 10 us, taken on the stack in use (no sigaltstack), as a timer
    interrupt would be, while a function whose frame is past the whole stack (8 MiB: past the
    main thread's stack limit) is called 200000 times. Were the stack pointer ever moved
    before the limit check, a signal would land out there and kill the process. The
    optimizing tier has no 8 MiB frames: there a function whose 32 KiB frame goes through the
    stack probe recurses until the probe traps, 2000 times; on AArch64 (-opt-a64: compiled
    here, run by the cross-built CLI under qemu-aarch64, whose signals land between
    translated blocks, one every 50 us: at 10 QEMU spends all its time delivering them) the
    frame is checked whole by the internal entry, 20000 times."""
    wasm = tmp_path / "huge.wasm"
    opt = "-opt" in bounds
    if opt:
        wasm.write_bytes(wat2wasm(f"""(module {OPT_DECLARATIONS}
  (func $huge (export "huge")
    (if (global.get $never) (then {opt_huge_frame_function("x", 1).split("(then ", 1)[1][:-4]}))
    (call $huge)))"""))
    else:
        wasm.write_bytes(wat2wasm(f"(module {huge_frame_function('huge', 8_400_000)})"))
    a64 = bounds.endswith("-a64")
    repeat = 20000 if a64 else 2000 if opt else 200000
    command = [str(ALKAHEST)]
    if a64:
        from targets import require_cli
        command = require_cli("aarch64")
        obj = tmp_path / "huge.alko"
        subprocess.run([str(ALKAHEST), "compile", str(wasm), "-o", str(obj), "--target",
                        "aarch64", *run_options(bounds)], check=True, capture_output=True)
        wasm = obj
    done = subprocess.run([*command, "run", str(wasm), *run_options(bounds), "--repeat",
                           str(repeat), "--stress-signals", "50" if a64 else "10",
                           "--invoke", "huge"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, (done.returncode, done.stderr)
    words = done.stdout.split()
    assert done.stdout.startswith(f"repeat: {repeat} calls, {repeat} trapped: call stack "
                                  "exhausted"), done.stdout
    assert int(words[words.index("signals") - 1]) > 100, done.stdout
