"""Shared by the hostile-module tests (tests/test_attack_*.py): one file per attack class, each
booted in both bounds modes (BOUNDS), the stack and preemption ones under the interrupt-storm
mode. The attacks on what the compiler emits (stack limit, bounds, call_indirect, double fetch)
also run through the optimizing tier (BOUNDS_TIERS: "guard-opt" and "checked-opt" boot
appliances with opt = "speed", docs/opt-tier.md); the others attack the kernel. AArch64
(issue 15): "guard-a64" and "checked-a64" (A64) boot the same appliance with arch = "aarch64"
on QEMU virt, and "guard-opt-a64" and "checked-opt-a64" (A64_OPT) with opt = "speed" too
(docs/opt-tier.md, "AArch64"); with_a64(modes) adds them to a test's modes (the -opt-a64 ones
when modes have -opt ones), in the default suite for a short selection (default=True: the
stack and memory attacks) and with `./build.py test --long` for all the others.

    appliance(tmp, name, bounds, body, files)   writes appliances/NAME (bounds substituted)
    run_options(bounds)                         alkahest run's options for a BOUNDS entry
    boot(directory, tools, storm=...)           builds and boots it, returns the RunResult
    huge_frame_function(name, bytes)            WAT text of a function whose frame is that big
    lines_of(result), text_of(result)           its console, cleaned

Every attack appliance ends by itself with a code the modules choose (0 when every check held);
a kernel panic, a triple fault or a timeout is a failure whatever the modules said.
"""
import functools
import subprocess

from conftest import ROOT, long_run, write_appliance
from azoth import qemu

ALKAHEST = ROOT / "alkahest" / "build" / "alkahest"
BOUNDS = ("guard", "checked")
BOUNDS_TIERS = BOUNDS + ("guard-opt", "checked-opt")
A64 = tuple(f"{b}-a64" for b in BOUNDS)
A64_OPT = tuple(f"{b}-opt-a64" for b in BOUNDS)  # the optimizing tier on AArch64


def with_a64(modes, default=False):
    """modes and the AArch64 ones (with the optimizing tier's when modes have it): in the
    default suite when default, else with --long."""
    extra = A64 + (A64_OPT if any(m.endswith("-opt") for m in modes) else ())
    return tuple(modes) + (extra if default or long_run() else ())


def run_options(bounds):
    """`alkahest run`'s options for an entry of BOUNDS_TIERS."""
    mode, *variants = bounds.split("-")
    return ["--bounds", mode, *(["-O"] if "opt" in variants else [])]


def appliance(tmp, name, bounds, body, files):
    """An appliance directory: [appliance] with NAME-BOUNDS and the entry of BOUNDS_TIERS or
    A64 or A64_OPT (its bounds mode, opt = "speed" for the -opt ones, arch = "aarch64" for
    the -a64 ones and the -pi ones, which boot on raspi3b), then `body`."""
    full = f"{name}-{bounds}"
    mode, *variants = bounds.split("-")
    head = f'[appliance]\nname = "{full}"\nbounds = "{mode}"\n' + \
        ('opt = "speed"\n' if "opt" in variants else "") + \
        ('arch = "aarch64"\n' if {"a64", "pi"} & set(variants) else "")
    return write_appliance(tmp / full, head + body, files)


def boot(directory, tools, *, storm=False, icount=False, cpu="max", timeout=300, cmdline="",
         devices=()):
    """Builds the appliance with the test kernel and boots it with -kernel; storm: under the
    interrupt-storm mode (qemu.STORM_CMDLINE, QEMU counting instructions); icount: QEMU
    counting instructions (1 ns each: the modules' clock is virtual, unmoved by host load);
    devices: QEMU options adding devices."""
    out = directory / "images"
    out.mkdir(exist_ok=True)
    pi = directory.name.endswith("-pi")           # the Raspberry Pi 3 (QEMU raspi3b)
    result = tools.build(directory, iso=False, images=out, machine="raspi3b" if pi else None)
    tier = "speed" if directory.name.endswith(("-opt", "-opt-a64")) else "none"
    assert [o.tier for o in result.objects] == [tier] * len(result.objects), directory.name
    if storm:
        cmdline = f"{cmdline} {qemu.STORM_CMDLINE}".strip()
    arch = result.manifest.arch
    return qemu.boot("kernel", kernel=tools.KERNELS[arch],
                     image=result.image, cmdline=cmdline,
                     memory_mib=result.manifest.memory >> 20, cpu=cpu, timeout=timeout,
                     extra=(qemu.STORM_QEMU_ARGS if storm or icount else ()) + tuple(devices),
                     arch=arch, **({"machine": "raspi3b"} if pi else {}))


def lines_of(result):
    return [qemu.clean_line(line.text) for line in result.lines]


def text_of(result):
    return "\n".join(lines_of(result))


def assert_clean_exit(result, code=0):
    """The appliance ended by itself with `code`: no panic, no triple fault, no timeout."""
    text = text_of(result)
    assert "panic" not in text and "[athanor] exception: " not in text, text[-4000:]
    assert result.exit.outcome is qemu.Outcome.EXIT, f"{result.exit}\n{text[-4000:]}"
    assert result.exit.code == code, f"{result.exit}\n{text[-4000:]}"


def huge_frame_function(name, frame_bytes):
    """A function (exported as NAME) whose frame is about frame_bytes: that many bytes of
    operand stack (8 per value, at most the compiler's million) and locals (at most 50000).
    It never gets past its prologue: the stack-limit check traps first."""
    values = min(frame_bytes // 8, 999_000)
    locals_ = min(max(0, frame_bytes // 8 - values), 50_000)
    declared = f" (local{' i64' * locals_})" if locals_ else ""
    return (f'(func ${name} (export "{name}"){declared}\n' + "i32.const 0\n" * values +
            "return)\n")


@functools.lru_cache(maxsize=None)
def wat2wasm(text):
    """WAT text to Wasm bytes (WABT)."""
    done = subprocess.run(["wat2wasm", "-", "--output=-"], input=text.encode(),
                          capture_output=True, check=True)
    return done.stdout


ROUNDS_MANIFEST = """memory = "256M"

[[app]]
name = "victim"
source = "victim.wat"
grants = ["log"]
memory = "{victim_memory}"

[[app]]
name = "attacker"
source = "attacker.wat"
grants = ["log"]
memory = "{attacker_memory}"
stack = "{attacker_stack}"
restart = "on-failure"

[[channel]]
name = "done"
from = "attacker"
to = "victim"
depth = 1
message_size = 4

[[supervisor]]
name = "root"
max_restarts = 10000
within = "10ms"
children = ["victim", "attacker"]
"""


def victim(pages):
    """A module that fills its memory (past its first 64 bytes) with a pattern, waits for the
    attacker's "done", and ends the appliance: 0 when every byte is as it left it, else 3."""
    end = pages * 65536
    return f"""(module
  (import "athanor" "log" (func $log (param i32 i32)))
  (import "athanor" "exit" (func $exit (param i32)))
  (import "athanor" "channel_open" (func $open (param i32 i32) (result i32)))
  (import "athanor" "channel_recv" (func $recv (param i32 i32 i32 i32) (result i32)))
  (memory {pages} {pages})
  (data (i32.const 0) "done")
  (data (i32.const 8) "victim memory intact")
  (data (i32.const 32) "victim memory changed")
  (func (export "_start") (local $at i32)
    (local.set $at (i32.const 64))
    (loop $fill
      (i64.store (local.get $at) (i64.const 0xa5a5a5a5a5a5a5a5))
      (local.set $at (i32.add (local.get $at) (i32.const 8)))
      (br_if $fill (i32.lt_u (local.get $at) (i32.const {end}))))
    (drop (call $recv (call $open (i32.const 0) (i32.const 4)) (i32.const 48) (i32.const 4)
                      (i32.const 0)))
    (local.set $at (i32.const 64))
    (loop $check
      (if (i64.ne (i64.load (local.get $at)) (i64.const 0xa5a5a5a5a5a5a5a5))
        (then (call $log (i32.const 32) (i32.const 21)) (call $exit (i32.const 3))))
      (local.set $at (i32.add (local.get $at) (i32.const 8)))
      (br_if $check (i32.lt_u (local.get $at) (i32.const {end}))))
    (call $log (i32.const 8) (i32.const 20))
    (call $exit (i32.const 0))))
"""


def rounds_attacker(declarations, first, rounds):
    """An attacker that runs `first` on its first start (code that must not trap, ending in
    `unreachable`), then one of `rounds` per restart (each must trap), then tells the victim.
    declarations: its memory, tables, types, functions (WAT). Imports: restart_count, log,
    channel_open, channel_send as $restarts, $log, $open, $send."""
    blocks = "(block " * (len(rounds) + 2)
    arms = "".join(f"\n        {code} (unreachable))" for code in rounds)
    targets = " ".join(str(i) for i in range(len(rounds) + 2))   # the last: every round done
    return f"""(module
  (import "athanor" "restart_count" (func $restarts (result i32)))
  (import "athanor" "log" (func $log (param i32 i32)))
  (import "athanor" "channel_open" (func $open (param i32 i32) (result i32)))
  (import "athanor" "channel_send" (func $send (param i32 i32 i32 i32) (result i32)))
  {declarations}
  (func $attack (param $n i32)
    {blocks}
      (br_table {targets} (local.get $n)))
      {first} (unreachable)){arms}
    ;; every round done
    (call $log (i32.const 0) (i32.const 12))
    (drop (call $send (call $open (i32.const 16) (i32.const 4)) (i32.const 16) (i32.const 4)
                      (i32.const 0))))
  (func (export "_start") (call $attack (call $restarts))))
"""


def restart_kinds(lines, module="attacker"):
    """The trap kind of each "[supervisor] restarted MODULE (trap: KIND)" line, in order."""
    prefix = f"[supervisor] restarted {module} (trap: "
    return [line[len(prefix):line.index(")", len(prefix))] for line in lines
            if line.startswith(prefix)]


def run_rounds(tmp_path, tools, name, bounds, declarations, first, rounds, victim_pages=16,
               attacker_memory="64K"):
    """Boots rounds_attacker(declarations, first, rounds) beside victim(victim_pages) and checks
    the end: the appliance exits 0, the victim's memory is intact, every round ran. Returns the
    trap kind of each restart: the first start's ("unreachable": every access of `first`
    worked) and then one per round."""
    directory = appliance(tmp_path, name, bounds,
                          ROUNDS_MANIFEST.format(victim_memory=f"{victim_pages * 64}K",
                                                 attacker_memory=attacker_memory,
                                                 attacker_stack="256K"),
                          {"victim.wat": victim(victim_pages),
                           "attacker.wat": rounds_attacker(declarations, first, rounds)})
    result = boot(directory, tools)
    lines = lines_of(result)
    assert_clean_exit(result, 0)
    assert "victim memory intact" in lines and "rounds over" in lines
    kinds = restart_kinds(lines)
    assert kinds[:1] == ["unreachable"], text_of(result)[-2000:]
    return kinds[1:]
