"""Athanor boot tests: build the kernel, boot it the three ways, run every self-test.

    /usr/bin/python3 -m pytest tests/test_boot.py

Booting goes through azoth/qemu.py, as build.py does. The kernel is built once
per session with a throw-away public key; the appliance image is arbitrary
bytes (nothing verifies it yet), so boots that need a verdict run an in-kernel
self-test (athanor.selftest=...) instead of the appliance.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import conftest  # noqa: E402
from azoth import qemu  # noqa: E402
from azoth.qemu import Outcome  # noqa: E402

ATHANOR = ROOT / "athanor"
# Its own build folder: its throw-away keys must not touch the kernel other tests boot.
BUILD = ROOT / "build" / "test-boot-kernel"
KERNEL = BUILD / "athanor.elf"
TIMEOUT = 30.0
UEFI_TIMEOUT = 60.0
CHECKS = "bootinfo,alloc,paging,interrupts"   # the self-tests that end with exit code 0


def fnv1a(data: bytes) -> int:
    h = 2166136261
    for b in data:
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h


def make(*args: str) -> subprocess.CompletedProcess:
    return conftest.make("-C", ATHANOR, "-j2", f"BUILD={BUILD}", *args, check=False,
                         capture_output=True)


# ---- fixtures ---------------------------------------------------------------

@pytest.fixture(scope="session")
def keys(tmp_path_factory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("keys")
    a, b = d / "a.pub", d / "b.pub"
    a.write_bytes(bytes(range(0x40, 0x60)))
    b.write_bytes(bytes(range(0xA0, 0xC0)))
    return a, b


@pytest.fixture(scope="session")
def kernel(keys) -> Path:
    proc = make(f"PUBKEY={keys[0]}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "warning" not in (proc.stdout + proc.stderr).lower()
    return KERNEL


@pytest.fixture(scope="session")
def image(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("image") / "appliance.img"
    path.write_bytes(bytes((i * 7 + (i >> 8)) & 0xFF for i in range(20000)))
    return path


@pytest.fixture(scope="session")
def checks_iso(kernel, image, tmp_path_factory) -> Path:
    return qemu.make_iso(kernel, image, tmp_path_factory.mktemp("iso") / "checks.iso",
                         cmdline=f"athanor.selftest={CHECKS}")


def boot_kernel(kernel: Path, image: Path | None, cmdline: str = "") -> qemu.RunResult:
    return qemu.boot("kernel", kernel=kernel, image=image, cmdline=cmdline, timeout=TIMEOUT)


def assert_checks_passed(result: qemu.RunResult, protocol: str, image: Path) -> None:
    """The bootinfo,alloc,paging run: banner, module intact, every check ok, exit 0."""
    out = result.output
    assert result.banner is not None, out
    assert re.fullmatch(rf"\[athanor\] Athanor \S+ \({protocol}, \d+ MiB\)", result.banner.text), out
    data = image.read_bytes()
    assert f"size {len(data)} fnv1a 0x{fnv1a(data):08x}" in out, out
    for name in CHECKS.split(","):
        assert f"[athanor] selftest {name}: ok" in out, out
    assert result.exit.outcome is Outcome.EXIT and result.exit.code == 0, (result.exit, out)


# ---- exit status protocol (no QEMU) -------------------------------------------

def test_decode_appliance_codes_direct():
    for code in range(0, 120):
        status = ((code + 8) << 1) | 1
        assert qemu.status_for_exit_code(code) == status
        assert qemu.decode_status(status) == qemu.ExitStatus(Outcome.EXIT, status, code=code)


def test_decode_appliance_codes_reported():
    for code in range(120, 256):
        assert qemu.status_for_exit_code(code) == 255
        lines = ["[athanor] selftest exit: exiting", f"[athanor] exit code {code}"]
        assert qemu.decode_status(255, lines) == qemu.ExitStatus(Outcome.EXIT, 255, code=code)
    # v = 127 without the line is code 119 (119 + 8 = 127); a line naming a
    # code that would not have used v = 127 is not believed.
    assert qemu.decode_status(255, ["hello"]).code == 119
    assert qemu.decode_status(255, ["[athanor] exit code 5"]).code == 119
    assert qemu.decode_status(255, ["[athanor] exit code 300"]).code == 119
    assert qemu.status_for_exit_code(256 + 3) == qemu.status_for_exit_code(3)


def test_decode_kernel_failures():
    for v, name in ((2, "verify"), (3, "panic"), (4, "boot"), (5, "appliance")):
        status = (v << 1) | 1
        assert qemu.status_for_failure(name) == status
        decoded = qemu.decode_status(status)
        assert (decoded.outcome, decoded.failure) == (Outcome.KERNEL_FAILURE, name)


def test_decode_other_statuses():
    assert qemu.decode_status(0).outcome is Outcome.TRIPLE_FAULT
    assert qemu.decode_status(1).outcome is Outcome.QEMU_ERROR
    assert qemu.decode_status(-9).outcome is Outcome.QEMU_ERROR
    assert qemu.decode_status(None).outcome is Outcome.TIMEOUT
    for v in (1, 6, 7):                       # reserved exit values
        assert qemu.decode_status((v << 1) | 1).outcome is Outcome.UNKNOWN
    for status in (2, 4, 100, 254, 256, 257):  # not (v << 1) | 1 within a byte
        assert qemu.decode_status(status).outcome is Outcome.UNKNOWN
    assert qemu.decode_status(17).ok and not qemu.decode_status(19).ok


def test_grub_config():
    cfg = qemu.grub_config("athanor.selftest=paging a=b", with_image=True)
    assert "multiboot2 /boot/athanor.elf 'athanor.selftest=paging' 'a=b'" in cfg
    assert "module2 /boot/appliance.img appliance" in cfg
    assert "outb 0xf4 4" in cfg                # load failure -> boot-error status
    assert "module2" not in qemu.grub_config("", with_image=False)
    with pytest.raises(ValueError):
        qemu.grub_config("a='b'")


# ---- build ------------------------------------------------------------------

def test_build_needs_pubkey(kernel):
    proc = make()
    assert proc.returncode != 0
    assert "PUBKEY is not set" in proc.stderr


def test_build_rejects_bad_pubkey(kernel, tmp_path):
    short = tmp_path / "short.pub"
    short.write_bytes(b"\x01" * 31)
    proc = make(f"PUBKEY={short}")
    assert proc.returncode != 0 and "32 raw bytes" in proc.stderr
    proc = make(f"PUBKEY={tmp_path / 'missing.pub'}")
    assert proc.returncode != 0 and "not found" in proc.stderr


def test_build_follows_pubkey_content(kernel, keys):
    a, b = keys
    before = KERNEL.stat().st_mtime_ns
    assert make(f"PUBKEY={a}").returncode == 0
    assert KERNEL.stat().st_mtime_ns == before, "same key: nothing to rebuild"
    try:
        assert make(f"PUBKEY={b}").returncode == 0
        data = KERNEL.read_bytes()
        assert b.read_bytes() in data and a.read_bytes() not in data
    finally:
        assert make(f"PUBKEY={a}").returncode == 0
    assert a.read_bytes() in KERNEL.read_bytes()


def test_elf_is_multiboot1_and_multiboot2(kernel):
    head = kernel.read_bytes()[:20]
    assert head[:4] == b"\x7fELF" and head[4] == 1, "ELFCLASS32 for QEMU -kernel"
    assert int.from_bytes(head[18:20], "little") == 3, "EM_386"
    if shutil.which("grub-file"):
        for kind in ("--is-x86-multiboot", "--is-x86-multiboot2"):
            assert subprocess.run(["grub-file", kind, str(kernel)]).returncode == 0, kind


# ---- booting --------------------------------------------------------------------

def test_kernel_boot_reaches_banner(kernel, image):
    r = boot_kernel(kernel, image)
    assert r.banner and re.fullmatch(r"\[athanor\] Athanor \S+ \(multiboot1, 128 MiB\)", r.banner.text), r.output
    # Whatever the appliance does next, the kernel must be the one ending the run.
    assert r.exit.outcome in (Outcome.EXIT, Outcome.KERNEL_FAILURE), (r.exit, r.output)
    assert r.firmware_lines == [], "nothing precedes the kernel on the -kernel path"


def test_kernel_boot_checks(kernel, image):
    r = boot_kernel(kernel, image, f"athanor.selftest={CHECKS}")
    assert_checks_passed(r, "multiboot1", image)


def test_iso_bios_boot(checks_iso, image):
    r = qemu.boot("bios", iso=checks_iso, timeout=TIMEOUT)
    assert_checks_passed(r, "multiboot2", image)
    assert "[athanor] bootinfo: cmdline 'athanor.selftest=" in r.output
    assert "string 'appliance'" in r.output


def test_iso_uefi_boot(checks_iso, image):
    r = qemu.boot("uefi", iso=checks_iso, timeout=UEFI_TIMEOUT)
    assert_checks_passed(r, "multiboot2", image)
    assert "acpi rsdp 36 bytes, signature 'RSD PTR '" in r.output
    # GRUB's loading messages went to the discarded COM2.
    assert not any("video mode" in line.text or "WARNING" in line.text for line in r.lines), r.output


def test_iso_uefi_boot_without_com2(checks_iso, image, tmp_path):
    """The ISO booted outside build.py, on a machine with COM1 only: GRUB probes for COM2
    instead of asking `serial` for it, which printed "error: serial port `port2f8' isn't
    found" on the console."""
    argv = qemu.iso_uefi_argv(checks_iso, qemu.ovmf_vars_copy(tmp_path))
    at = argv.index("null")
    assert argv[at - 1] == "-serial"
    del argv[at - 1:at + 1]
    r = qemu.run(argv, timeout=UEFI_TIMEOUT)
    assert_checks_passed(r, "multiboot2", image)
    assert "serial port" not in r.output and "port2f8" not in r.output, r.output


def test_no_module_is_boot_error(kernel):
    r = boot_kernel(kernel, None)
    assert r.banner is not None, r.output
    assert (r.exit.outcome, r.exit.failure) == (Outcome.KERNEL_FAILURE, "boot"), (r.exit, r.output)


def test_grub_load_failure_is_boot_error(tmp_path, image):
    bogus = tmp_path / "bogus.elf"
    bogus.write_bytes(b"\x7fELF" + bytes(4092))
    iso = qemu.make_iso(bogus, image, tmp_path / "bogus.iso")
    r = qemu.boot("bios", iso=iso, timeout=TIMEOUT)
    assert "[athanor] boot error: GRUB could not load" in r.output, r.output
    assert (r.exit.outcome, r.exit.failure) == (Outcome.KERNEL_FAILURE, "boot"), r.exit


# Each fault self-test: what the report must contain, and the panic status.
FAULTS = {
    "pagefault": [r"exception: vector 14 \(page fault #PF\)", r"cr2 0x0*(?P<addr>[0-9a-f]+)\n"],
    "nullderef": [r"exception: vector 14 \(page fault #PF\)", r"cr2 0x0{16} \(null pointer\)"],
    "wx": [r"\[athanor\] panic: vm\.c:\d+: W\^X violation"],
    "codefault": [r"exception: vector 6 \(invalid opcode #UD\)", r"rip 0x[0-9a-f]+ in module fakemod\+0x0"],
    "divzero": [r"exception: vector 0 \(divide error #DE\)"],
    "stackoverflow": [r"exception: vector 14 \(page fault #PF\)",
                      r"stack overflow: guard page of the boot stack",
                      r"reported from the page-fault IST stack"],
    "nested": [r"nested exception: vector 14 .* while handling vector 0"],
    "panic": [r"\[athanor\] panic: selftest\.c:\d+: selftest panic"],
}


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_fault_selftest(kernel, image, name):
    r = boot_kernel(kernel, image, f"athanor.selftest={name}")
    out = r.output + "\n"
    for pattern in FAULTS[name]:
        assert re.search(pattern, out), f"{pattern!r} missing:\n{out}"
    assert (r.exit.outcome, r.exit.failure) == (Outcome.KERNEL_FAILURE, "panic"), (r.exit, out)
    assert "[athanor] failed: panic" in out
    if name == "pagefault":
        wanted = re.search(r"reading unmapped address 0x([0-9a-f]+)", out).group(1)
        assert re.search(r"cr2 0x0*(?P<addr>[0-9a-f]+)\n", out).group("addr") == wanted


@pytest.mark.parametrize("name", CHECKS.split(","))
def test_check_selftest(kernel, image, name):
    r = boot_kernel(kernel, image, f"athanor.selftest={name}")
    assert f"[athanor] selftest {name}: ok" in r.output, r.output
    assert r.exit.outcome is Outcome.EXIT and r.exit.code == 0, (r.exit, r.output)


def test_unknown_selftest_is_boot_error(kernel, image):
    r = boot_kernel(kernel, image, "athanor.selftest=alloc,nosuchtest")
    assert "no test named 'nosuchtest'" in r.output
    assert "selftest alloc: expect" not in r.output, "names are resolved before anything runs"
    assert r.exit.failure == "boot", r.exit


@pytest.mark.parametrize("code", [0, 42, 119, 120, 255])
def test_exit_codes_end_to_end(kernel, image, code):
    r = boot_kernel(kernel, image, f"athanor.selftest=exit athanor.exit_code={code}")
    assert r.returncode == qemu.status_for_exit_code(code)
    assert r.exit.outcome is Outcome.EXIT and r.exit.code == code, (r.exit, r.output)
    assert r.output.rstrip().endswith(f"[athanor] exit code {code}"), r.output
