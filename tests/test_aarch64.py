"""Athanor on AArch64 (issue 15): the kernel built with ARCH=aarch64 boots on QEMU virt
(cortex-a53 with GICv2, cortex-a72 with GICv3, entered at EL1 or at EL2), reads the device
tree, runs the self-tests that make sense there, verifies a signed image, refuses a tampered
one, and powers off through PSCI.

    /usr/bin/python3 -m pytest tests/test_aarch64.py

Skips in one line when qemu-system-aarch64 or aarch64-linux-gnu-gcc is absent (Debian:
qemu-system-arm, gcc-aarch64-linux-gnu: azoth/tools.py's "aarch64" group, which ./build.py test
installs).
Module code does not run on AArch64 yet (the compiler's back end is issue 14): the image tests
stop at the kernel's refusal to enter it.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import conftest  # noqa: E402
from azoth import qemu as azoth_qemu  # noqa: E402
from azoth.qemu import Outcome  # noqa: E402

ATHANOR = ROOT / "athanor"
IMAGE = ATHANOR / "build" / "aarch64" / "Image"
TIMEOUT = 60
QEMU = azoth_qemu.QEMU_AARCH64

if not shutil.which(QEMU) or not shutil.which("aarch64-linux-gnu-gcc"):
    pytest.skip("qemu-system-aarch64 or aarch64-linux-gnu-gcc absent (./build.py test installs them)",
                allow_module_level=True)

CHECKS = "bootinfo,alloc,paging,interrupts,kcall,switch,redirect"   # the self-tests that end with exit code 0
# (machine options, CPU, the level the kernel is entered at): GICv2 at EL1, GICv3, and entry at
# EL2 (the kernel drops to EL1; PSCI through SMC then).
MACHINES = {
    "a53-gicv2": ("virt", "cortex-a53", 1),
    "a72-gicv3": ("virt,gic-version=3", "cortex-a72", 1),
    "a53-el2": ("virt,virtualization=on", "cortex-a53", 2),
    "a72-gicv3-el2": ("virt,virtualization=on,gic-version=3", "cortex-a72", 2),
}


def qemu(kernel, *, append="", initrd=None, machine="virt", cpu="cortex-a53", dtb=None, extra=()):
    """One boot; returns (how it ended, console output). There is no debug-exit device: PSCI
    SYSTEM_OFF ends QEMU with status 0, and the console's last line says how the appliance
    ended (azoth/qemu.py's decode_status reads it, as on a PC without the device). A hang is a
    timeout (a test failure)."""
    argv = azoth_qemu.aarch64_kernel_argv(kernel, initrd, append, memory_mib=256, cpu=cpu,
                                          machine=machine,
                                          extra=[*extra, *(["-dtb", str(dtb)] if dtb else [])])
    r = azoth_qemu.run(argv, timeout=TIMEOUT)
    assert r.exit.outcome is not Outcome.TIMEOUT, r.output
    return r.exit, r.output


def make_kernel(pubkey):
    p = conftest.make("-s", "-C", ATHANOR, "-j2", "ARCH=aarch64", f"PUBKEY={pubkey}", check=False,
                      capture_output=True)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "warning" not in (p.stdout + p.stderr).lower(), p.stdout + p.stderr
    return IMAGE


@pytest.fixture(scope="session")
def signed(tools, tmp_path_factory):
    """The kernel built with the signing key build.py uses, and hello's signed image."""
    kernel = make_kernel(tools.PUBKEY)
    out = tmp_path_factory.mktemp("aarch64-images")
    r = conftest.build_py("build", "--no-iso", "--out", out, ROOT / "appliances" / "hello", timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    images = sorted(out.glob("*.azi"))
    assert images, list(out.iterdir())
    return kernel, images[0]


# ---- The kernel image --------------------------------------------------------------------------

def test_image_has_the_arm64_header(signed):
    kernel, _ = signed
    head = kernel.read_bytes()[:64]
    code0, text_offset, image_size, flags = struct.unpack_from("<I4xQQQ", head)
    assert head[56:60] == b"ARM\x64"
    assert code0 >> 26 == 0b000101, "code0 is a branch"
    assert text_offset == 0x200000 and flags == 2
    assert image_size >= kernel.stat().st_size and image_size % 4096 == 0


# ---- Self-tests ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(MACHINES))
def test_checks(signed, name):
    machine, cpu, level = MACHINES[name]
    # Time from the instructions run (-icount), not the host's clock: the interrupt self-test's
    # 100 ms then hold the same number of ticks however loaded the machine is.
    status, out = qemu(signed[0], append=f"athanor.selftest={CHECKS}", machine=machine, cpu=cpu,
                       extra=azoth_qemu.STORM_QEMU_ARGS)
    for check in CHECKS.split(","):
        assert f"[athanor] selftest {check}: ok" in out, out
    assert "(devicetree, 256 MiB)" in out, out
    assert f"loader 'linux,dummy-virt, entered at EL{level}'" in out, out
    assert re.search(r"bootinfo: mem \[0x000040000000, 0x000050000000\) usable", out), out
    assert status.outcome is Outcome.EXIT and status.code == 0 and status.powered_off, (status, out)
    taken = int(re.search(r"ok, (\d+) interrupts taken with the stack pointer at 0x800", out).group(1))
    assert taken > 1000, out          # a tick every 5-40 us for 100 ms


FAULTS = {
    "pagefault": [r"exception: data abort, EC 0x25, esr 0x[0-9a-f]+ \[translation level \d\]",
                  r"far 0x0*(?P<addr>[0-9a-f]+)\n"],
    "nullderef": [r"exception: data abort", r"far 0x0{16} \(null pointer\)"],
    "wx": [r"\[athanor\] panic: vm\.c:\d+: W\^X violation"],
    "codefault": [r"exception: undefined instruction, EC 0x0", r"pc 0x[0-9a-f]+ in module fakemod\+0x0"],
    "stackoverflow": [r"exception: data abort, EC 0x25, esr 0x[0-9a-f]+ \[write translation level 3\]",
                      r"stack overflow: guard page of the boot stack",
                      r"reported from the exception stack"],
    "nested": [r"nested exception: data abort .* while handling esr 0x96"],
    "panic": [r"\[athanor\] panic: selftest\.c:\d+: selftest panic"],
    "hookoverflow": [r"kernel stack overflow: an exception was taken with sp 0x[0-9a-f]+, less than 4096 "
                     r"bytes above the bottom \(0x[0-9a-f]+\) of the exception stack",
                     r"stack overflow: guard page of the exception stack",
                     r"reported from the overflow stack"],
}


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_fault_selftest(signed, name):
    status, out = qemu(signed[0], append=f"athanor.selftest={name}")
    out += "\n"
    for pattern in FAULTS[name]:
        assert re.search(pattern, out), f"{pattern!r} missing:\n{out}"
    assert (status.outcome, status.failure) == (Outcome.KERNEL_FAILURE, "panic"), (status, out)
    if name == "pagefault":
        wanted = re.search(r"reading unmapped address 0x([0-9a-f]+)", out).group(1)
        assert re.search(FAULTS[name][1], out).group("addr") == wanted


def test_divzero_does_not_trap(signed):
    status, out = qemu(signed[0], append="athanor.selftest=divzero")
    assert "selftest divzero: skipped: integer division does not trap on aarch64" in out, out
    assert "selftest divzero: ok" in out and status.ok, (status, out)


@pytest.mark.parametrize("code", [0, 42, 200])
def test_exit_codes(signed, code):
    status, out = qemu(signed[0], append=f"athanor.selftest=exit athanor.exit_code={code}")
    assert status.outcome is Outcome.EXIT and status.code == code and status.powered_off, (status, out)


# ---- The device tree ----------------------------------------------------------------------------

def dumped_dtb(tmp_path):
    """QEMU virt's device tree, without the free space at its end: QEMU pads a blob it is given
    with -dtb to twice its size, and a 1 MiB blob would become one over ATH_FDT_SIZE_MAX (2 MiB,
    Linux's limit too), which the kernel refuses before it knows of a UART to say so on."""
    path = tmp_path / "virt.dtb"
    subprocess.run([QEMU, "-M", "virt,dumpdtb=" + str(path), "-cpu", "cortex-a53", "-m", "256",
                    "-nographic"], capture_output=True, timeout=TIMEOUT, check=True)
    blob = bytearray(path.read_bytes())
    off_strings, size_strings = struct.unpack_from(">I", blob, 12)[0], struct.unpack_from(">I", blob, 32)[0]
    end = (off_strings + size_strings + 7) & ~7
    struct.pack_into(">I", blob, 4, end)
    return blob[:end]


def properties(blob):
    """(offset of the property's name offset field, name) for every property in the blob."""
    off_struct, off_strings, size_struct = (struct.unpack_from(">I", blob, o)[0] for o in (8, 12, 36))
    at, end = off_struct, off_struct + size_struct
    while at < end:
        token = struct.unpack_from(">I", blob, at)[0]
        at += 4
        if token == 1:
            name_end = blob.index(b"\0", at)
            at = (name_end + 4) & ~3
        elif token == 3:
            length, name_offset = struct.unpack_from(">II", blob, at)
            name = blob[off_strings + name_offset:blob.index(b"\0", off_strings + name_offset)].decode()
            yield at + 4, name
            at = (at + 8 + length + 3) & ~3
        elif token == 9:
            return


def test_device_tree_property_name_outside_strings_is_refused(signed, tmp_path):
    """A property whose name lies past the strings block (here the last reg, which the walk
    reaches after the UART): a boot error naming the problem, no wild read."""
    blob = dumped_dtb(tmp_path)
    last_reg = [at for at, name in properties(blob) if name == "reg"][-1]
    struct.pack_into(">I", blob, last_reg, 0x7ffffff0)
    bad = tmp_path / "bad.dtb"
    bad.write_bytes(bytes(blob))
    status, out = qemu(signed[0], append="athanor.selftest=bootinfo", dtb=bad)
    assert "[athanor] boot error: a device tree property's name lies outside the strings block" in out, out
    assert status.failure == "boot" and status.powered_off and "selftest bootinfo" not in out, (status, out)


def fdt_tool():
    conftest.make("-s", "-C", ROOT / "tests" / "kernel_host", "../../build/kernel_host/fdt_read")
    return str(ROOT / "build" / "kernel_host" / "fdt_read")


def refusal(tmp_path, blob):
    """What the kernel's reader (on the host) says of the blob: None if accepted."""
    path = tmp_path / "case.dtb"
    path.write_bytes(bytes(blob))
    r = subprocess.run([fdt_tool(), str(path)], capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode in (0, 1), r.stdout + r.stderr
    return r.stdout.strip().removeprefix("refused: ") if r.returncode else None


def test_device_tree_refusals(tmp_path):
    """Hostile or broken trees, each refused with its reason (QEMU would repair some of them
    before the kernel sees them: -dtb gets a fresh /memory)."""
    good = dumped_dtb(tmp_path)
    assert refusal(tmp_path, good) is None
    off_struct = struct.unpack_from(">I", good, 8)[0]

    no_memory = bytearray(good)
    at = no_memory.index(b"memory\0", off_struct)          # device_type's value
    no_memory[at:at + 6] = b"nomemo"
    assert refusal(tmp_path, no_memory) == "the device tree describes no memory"

    bad_magic = bytearray(good)
    bad_magic[0] ^= 1
    assert refusal(tmp_path, bad_magic) == "the device tree blob has a bad magic number"

    too_big = bytearray(good)
    struct.pack_into(">I", too_big, 4, (2 << 20) + 8)
    assert refusal(tmp_path, too_big) == "the device tree blob's size or version is out of range"

    outside = bytearray(good)
    struct.pack_into(">I", outside, 36, len(good))           # structure block past the end
    assert refusal(tmp_path, outside) == "the device tree blob's blocks lie outside it"

    long_property = bytearray(good)
    first_prop = next(at for at, _ in properties(long_property)) - 4
    struct.pack_into(">I", long_property, first_prop, 0xfffffff0)
    assert refusal(tmp_path, long_property) == "a device tree property runs past the structure block"

    # A tree nested deeper than ATH_FDT_DEPTH_MAX: the root's first property replaced by
    # nodes opened one inside another (each FDT_BEGIN_NODE "" takes 8 bytes).
    deep = bytearray(good)
    root_props = next(at for at, _ in properties(deep)) - 8
    for i in range(20):
        struct.pack_into(">II", deep, root_props + 8 * i, 1, 0)
    assert refusal(tmp_path, deep) == "the device tree nests too deep"


# ---- Signed images ---------------------------------------------------------------------------------

def test_signed_image_is_verified(signed):
    """The verifier is the same portable C: hello's image passes it on AArch64. Running its
    module waits for the compiler's AArch64 back end (issue 14): the kernel says so."""
    kernel, image = signed
    status, out = qemu(kernel, initrd=image)
    assert re.search(r"\[athanor\] appliance hello \S+: 1 module, signature and hashes verified", out), out
    assert "cannot run module code on AArch64 yet" in out, out
    assert (status.outcome, status.failure) == (Outcome.KERNEL_FAILURE, "boot"), (status, out)


def test_tampered_image_is_refused(signed, tmp_path):
    kernel, image = signed
    data = bytearray(image.read_bytes())
    data[len(data) // 2] ^= 0x40
    bad = tmp_path / "tampered.img"
    bad.write_bytes(bytes(data))
    status, out = qemu(kernel, initrd=bad)
    assert (status.outcome, status.failure) == (Outcome.KERNEL_FAILURE, "verify"), (status, out)
    assert "signature and hashes verified" not in out, out


def test_device_tree_reader_survives_hostile_blobs(tmp_path):
    """The reader on the host under ASan and UBSan (tests/kernel_host/fdt_read.c): QEMU's own
    blob is read as the kernel reads it, then thousands of mutated copies (bytes flipped,
    header fields and property lengths and name offsets at edge values, truncations, tokens
    replaced), each from a buffer of exactly its claimed size: any read outside it, or any
    undefined behaviour, fails the run. AZOTH_FDT_MUTATIONS sets how many (default 5000)."""
    import os
    tool = fdt_tool()
    dtb = tmp_path / "virt.dtb"
    dtb.write_bytes(bytes(dumped_dtb(tmp_path)))
    once = subprocess.run([tool, str(dtb)], capture_output=True, text=True, timeout=TIMEOUT)
    assert once.returncode == 0, once.stdout + once.stderr
    assert "memory 0x40000000 0x10000000" in once.stdout and "uart 0x9000000 irq 33" in once.stdout
    assert "gic v2 dist 0x8000000 cpu 0x8010000" in once.stdout and "timer irq 30" in once.stdout
    assert "psci hvc" in once.stdout, once.stdout
    count = os.environ.get("AZOTH_FDT_MUTATIONS", "5000")
    fuzz = subprocess.run([tool, str(dtb), "--mutate", count], capture_output=True, text=True, timeout=600)
    assert fuzz.returncode == 0, fuzz.stdout + fuzz.stderr
    accepted, refused = map(int, re.match(r"(\d+) accepted, (\d+) refused", fuzz.stdout).groups())
    assert accepted + refused == int(count) and refused > int(count) // 2, fuzz.stdout


def test_virtio_mmio_devices_from_the_device_tree(signed):
    """virt's virtio-mmio transports come from the device tree ("virtio,mmio" nodes) and are
    presented as platform functions, as ACPI's are on microvm: the two with a device behind
    them are listed, with the GIC interrupt their node names (an SPI: 32 and up)."""
    kernel, image = signed
    devices = ["-device", "virtio-rng-device", "-device", "virtio-net-device,netdev=n0",
               "-netdev", "user,id=n0"]
    status, out = qemu(kernel, initrd=image, append="athanor.pci=list",
                       extra=["-global", "virtio-mmio.force-legacy=false", *devices])
    assert "[athanor] pci: 2 functions" in out, out
    for device in ("1041", "1044"):      # virtio-net, virtio-rng (modern IDs)
        m = re.search(rf"virtio-mmio 0x(a00[0-9a-f]+) 1af4:{device} .* intx A line (\d+) virtio", out)
        assert m and 32 <= int(m.group(2)) < 32 + 64, out
    # A legacy transport (QEMU's default) is named and left out.
    status, out = qemu(kernel, initrd=image, append="athanor.pci=list", extra=devices[:2])
    assert re.search(r"virtio-mmio 0xa00[0-9a-f]+: version 1 \(legacy\) is not supported", out), out
    assert "[athanor] pci: 0 functions" in out, out
