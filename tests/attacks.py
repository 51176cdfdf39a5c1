"""Shared by the hostile-module tests (tests/test_attack_*.py): one file per attack class, each
booted in both bounds modes, the stack and preemption ones under the interrupt-storm mode.

    appliance(tmp, name, bounds, body, files)   writes appliances/NAME (bounds substituted)
    boot(directory, tools, storm=...)           builds and boots it, returns the RunResult
    huge_frame_function(name, bytes)            WAT text of a function whose frame is that big
    lines_of(result), text_of(result)           its console, cleaned

Every attack appliance ends by itself with a code the modules choose (0 when every check held);
a kernel panic, a triple fault or a timeout is a failure whatever the modules said.
"""
import functools
import subprocess

from conftest import ROOT, write_appliance
from azoth import qemu

ALKAHEST = ROOT / "alkahest" / "build" / "alkahest"
BOUNDS = ("guard", "checked")


def appliance(tmp, name, bounds, body, files):
    """An appliance directory: [appliance] with NAME-BOUNDS and `bounds`, then `body`."""
    full = f"{name}-{bounds}"
    head = f'[appliance]\nname = "{full}"\nbounds = "{bounds}"\n'
    return write_appliance(tmp / full, head + body, files)


def boot(directory, tools, *, storm=False, cpu="max", timeout=300, cmdline=""):
    """Builds the appliance with the test kernel and boots it with -kernel; storm: under the
    interrupt-storm mode (qemu.STORM_CMDLINE, QEMU counting instructions)."""
    out = directory / "images"
    out.mkdir(exist_ok=True)
    result = tools.build(directory, iso=False, images=out)
    if storm:
        cmdline = f"{cmdline} {qemu.STORM_CMDLINE}".strip()
    return qemu.boot("kernel", kernel=tools.KERNEL, image=result.image, cmdline=cmdline,
                     memory_mib=result.manifest.memory >> 20, cpu=cpu, timeout=timeout,
                     extra=qemu.STORM_QEMU_ARGS if storm else ())


def lines_of(result):
    return [qemu.clean_line(line.text) for line in result.lines]


def text_of(result):
    return "\n".join(lines_of(result))


def assert_clean_exit(result, code=0):
    """The appliance ended by itself with `code`: no panic, no triple fault, no timeout."""
    text = text_of(result)
    assert "panic" not in text and "exception: vector" not in text, text[-4000:]
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
