"""Athanor on the Raspberry Pi 3 (issue 15), under QEMU -M raspi3b: the AArch64 kernel, the same
position-independent Image as virt's (build/aarch64/Image; kernel8.img on the SD card), boots
at 0x80000 with the board's device tree (Debian's bcm2837-rpi-3-b.dtb, azoth/deps.py), takes its timer tick through the BCM2836 local controller,
verifies and runs a signed image, refuses a tampered one and powers off through the PM
watchdog; `./build.py build --format rpi` writes the SD card the firmware boots.

    /usr/bin/python3 -m pytest tests/test_raspi.py

Echo and preemption on raspi3b are tests/test_runtime.py's -raspi3b runs. Skips in one line
without qemu-system-aarch64 or aarch64-linux-gnu-gcc, as tests/test_aarch64.py does.
"""

from __future__ import annotations

import os
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
from azoth import deps, disk  # noqa: E402
from azoth import qemu as azoth_qemu  # noqa: E402
from azoth.qemu import Outcome  # noqa: E402

ATHANOR = ROOT / "athanor"
KERNEL8 = ATHANOR / "build" / "aarch64" / "Image"
TIMEOUT = 60

if not shutil.which(azoth_qemu.QEMU_AARCH64) or not shutil.which("aarch64-linux-gnu-gcc"):
    pytest.skip("qemu-system-aarch64 or aarch64-linux-gnu-gcc absent (./build.py test installs them)",
                allow_module_level=True)

CHECKS = "bootinfo,alloc,paging,interrupts,kcall,switch,redirect"


def qemu(kernel, *, append="", initrd=None, dtb=None, extra=()):
    """One boot on raspi3b; (how it ended, console output). The kernel's power-off is the PM
    watchdog's reset, which ends QEMU under -no-reboot with status 0: the console's last line
    says how the appliance ended."""
    argv = azoth_qemu.aarch64_kernel_argv(kernel, initrd, append, cpu=None, machine="raspi3b",
                                          dtb=dtb or deps.raspi3b_dtb(), extra=extra)
    r = azoth_qemu.run(argv, timeout=TIMEOUT)
    assert r.exit.outcome is not Outcome.TIMEOUT, r.output
    return r.exit, r.output


@pytest.fixture(scope="session")
def signed(tools, tmp_path_factory):
    """The AArch64 kernel built with build.py's signing key, and hello's signed image, with its
    SD card."""
    tools.make_tools(tools.signing.ensure_key(), "aarch64")
    out = tmp_path_factory.mktemp("raspi-images")
    r = conftest.build_py("build", "--format", "rpi", "--out", out, ROOT / "appliances" / "hello",
                          timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["hello.azi", "hello.rpi.img"], r.stdout
    return KERNEL8, out / "hello.azi", out / "hello.rpi.img"


def test_kernel_has_the_arm64_header_for_0x80000(signed):
    """The header asks for text_offset 0x80000 from RAM's base: where QEMU's raspi loader and
    the Pi firmware (kernel_address) put it; 0x40080000 on virt (the kernel relocates itself)."""
    kernel = signed[0]
    head = kernel.read_bytes()[:64]
    code0, text_offset, image_size, flags = struct.unpack_from("<I4xQQQ", head)
    assert head[56:60] == b"ARM\x64" and code0 >> 26 == 0b000101
    assert text_offset == 0x80000 and flags == 2
    assert image_size >= kernel.stat().st_size and image_size % 4096 == 0


def test_checks_on_raspi3b(signed):
    """The board from its device tree (the model, entered at EL2, the secondary cores parked,
    960 MiB: the GPU's 64 MiB are not RAM), the self-tests that end in exit code 0, among them `interrupts`: the generic
    timer's ticks every 5-40 us through the BCM2836 local controller, each taken on the kernel's
    stack while the stack pointer is on an unmapped page. Time from -icount, as on virt."""
    status, out = qemu(signed[0], append=f"athanor.selftest={CHECKS}",
                       extra=azoth_qemu.STORM_QEMU_ARGS)
    for check in CHECKS.split(","):
        assert f"[athanor] selftest {check}: ok" in out, out
    assert "(devicetree, 960 MiB)" in out, out
    # cores 1..3, which QEMU's loader holds in the spin table at 0xd8, released into a halt
    assert "loader 'raspberrypi,3-model-b, entered at EL2, secondary cores parked'" in out, out
    assert re.search(r"bootinfo: mem \[0x000000000000, 0x00003c000000\) usable", out), out
    assert re.search(r"bootinfo: kernel \[0x80000, ", out), out      # where raspi3b loads it
    assert status.outcome is Outcome.EXIT and status.code == 0 and status.powered_off, (status, out)
    taken = int(re.search(r"ok, (\d+) interrupts taken with the stack pointer at 0x800", out).group(1))
    assert taken > 1000, out


@pytest.mark.parametrize("code", [0, 42])
def test_exit_codes_through_the_watchdog(signed, code):
    status, out = qemu(signed[0], append=f"athanor.selftest=exit athanor.exit_code={code}")
    assert status.outcome is Outcome.EXIT and status.code == code and status.powered_off, (status, out)


def test_signed_image_runs_and_a_tampered_one_is_refused(signed, tmp_path):
    kernel, image, _ = signed
    status, out = qemu(kernel, initrd=image)
    assert re.search(r"\[athanor\] appliance hello \S+: 1 module, signature and hashes verified", out), out
    assert "Hello from Azoth" in out and status.ok and status.powered_off, (status, out)
    status, out = qemu(kernel, initrd=conftest.tampered(image, tmp_path))
    assert (status.outcome, status.failure) == (Outcome.KERNEL_FAILURE, "verify"), (status, out)
    assert "signature and hashes verified" not in out and "Hello from Azoth" not in out, out


def test_run_machine_raspi3b(tools):
    """./build.py run --machine raspi3b as a user runs it: builds for aarch64 (the machine
    names its arch), boots the kernel on raspi3b, the appliance's exit code is build.py's."""
    r = conftest.build_py("run", "--machine", "raspi3b", "--timeout", "120",
                          ROOT / "appliances" / "hello", timeout=300)
    assert r.returncode == 0 and "Hello from Azoth" in r.stdout, r.stdout + r.stderr
    assert "(devicetree, 960 MiB)" in r.stdout, r.stdout
    wrong = conftest.build_py("run", "--machine", "raspi3b", "--arch", "x86_64",
                              ROOT / "appliances" / "hello", timeout=300)
    assert wrong.returncode == 1 and "AZ-T011" in wrong.stderr and "raspi3b" in wrong.stderr, \
        wrong.stderr


def fat_files(card):
    """{name: bytes} of the card's first partition's root folder (mtools)."""
    entries = disk.MBR_PARTITION.unpack_from(card.read_bytes(), 446)
    offset = entries[4] * disk.SECTOR
    env = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}
    listing = subprocess.run(["mdir", "-b", "-i", f"{card}@@{offset}", "::"], capture_output=True,
                             text=True, check=True, env=env).stdout
    names = [line.rsplit("/", 1)[-1] for line in listing.split()]
    return {name: subprocess.run(["mtype", "-i", f"{card}@@{offset}", f"::{name}"],
                                 capture_output=True, check=True, env=env).stdout
            for name in names}


def test_sd_card_layout(signed, tmp_path):
    """--format rpi: a DOS partition table with one FAT32 (LBA) partition from 1 MiB, holding
    exactly config.txt, cmdline.txt, kernel8.img and the signed image, the last two byte for
    byte the built ones; config.txt boots them in 64-bit mode with the image as the initramfs.
    Then the card's own files boot on raspi3b (the firmware's part, which QEMU does not run,
    done by QEMU's loader)."""
    kernel, image, card = signed
    raw = card.read_bytes()
    assert raw[510:512] == b"\x55\xaa"
    status, _, kind, _, start, sectors = disk.MBR_PARTITION.unpack_from(raw, 446)
    assert (status, kind, start) == (0, 0x0c, 2048), (status, kind, start)
    assert raw[446 + 16:510] == bytes(48), "one partition"
    assert len(raw) == (start + sectors) * disk.SECTOR
    boot_sector = raw[start * 512:start * 512 + 512]
    assert boot_sector[82:90] == b"FAT32   " and boot_sector[510:512] == b"\x55\xaa"
    files = fat_files(card)
    assert sorted(files) == ["cmdline.txt", "config.txt", "hello.azi", "kernel8.img"], sorted(files)
    assert files["kernel8.img"] == kernel.read_bytes()
    assert files["hello.azi"] == image.read_bytes()
    config = files["config.txt"].decode().splitlines()
    for line in ("arm_64bit=1", "kernel=kernel8.img", "kernel_address=0x80000",
                 "initramfs hello.azi followkernel", "enable_uart=1", "dtoverlay=disable-bt"):
        assert line in config, config
    (tmp_path / "kernel8.img").write_bytes(files["kernel8.img"])
    (tmp_path / "hello.azi").write_bytes(files["hello.azi"])
    status, out = qemu(tmp_path / "kernel8.img", initrd=tmp_path / "hello.azi")
    assert "Hello from Azoth" in out and status.ok, (status, out)


def test_device_tree_reader_on_the_pi_blob():
    """The Pi's blob through the reader on the host under ASan and UBSan: the peripherals'
    addresses translated through /soc's ranges (bus 0x7e000000 -> 0x3f000000), the timer's
    interrupt from the local controller it names by phandle (CNTPNSIRQ: 16 + 1), the UART's
    from the BCM2835 (bank 2, 25: GPU 57 -> 32 + 57), the four cores' spin-table slots; then
    mutated copies, none read outside its buffer."""
    conftest.make("-s", "-C", ROOT / "tests" / "kernel_host", "../../build/kernel_host/fdt_read")
    tool = str(ROOT / "build" / "kernel_host" / "fdt_read")
    dtb = str(deps.raspi3b_dtb())
    once = subprocess.run([tool, dtb], capture_output=True, text=True, timeout=TIMEOUT)
    assert once.returncode == 0, once.stdout + once.stderr
    assert "model raspberrypi,3-model-b" in once.stdout and "memory 0x0 0x40000000" in once.stdout
    assert "uart 0x3f201000 irq 89" in once.stdout and "timer irq 17" in once.stdout, once.stdout
    assert "bcm2836 local 0x40000000 armctrl 0x3f00b200 pm 0x3f100000" in once.stdout, once.stdout
    spin = re.findall(r"spin-table cpu 0x(\d) release 0x([0-9a-f]+)", once.stdout)
    assert spin == [("0", "d8"), ("1", "e0"), ("2", "e8"), ("3", "f0")], once.stdout
    count = os.environ.get("AZOTH_FDT_MUTATIONS", "5000")
    fuzz = subprocess.run([tool, dtb, "--mutate", count], capture_output=True, text=True, timeout=600)
    assert fuzz.returncode == 0, fuzz.stdout + fuzz.stderr
    accepted, refused = map(int, re.match(r"(\d+) accepted, (\d+) refused", fuzz.stdout).groups())
    assert accepted + refused == int(count), fuzz.stdout


def test_a_timer_whose_controller_is_unknown_is_refused(signed, tmp_path):
    """The timer names its controller by phandle; one naming none the tree has (here the local
    controller's phandle changed) is a boot error, not a kernel without a tick."""
    blob = bytearray(deps.raspi3b_dtb().read_bytes())
    off_struct, off_strings = struct.unpack_from(">I", blob, 8)[0], struct.unpack_from(">I", blob, 12)[0]
    marker = b"brcm,bcm2836-l1-intc\0"
    node = blob.index(marker)
    name_offset = blob.index(b"phandle\0", off_strings) - off_strings
    at = node
    while True:            # the node's phandle property: FDT_PROP, length 4, the name's offset
        at = blob.index(struct.pack(">III", 3, 4, name_offset), at)
        if at > node:
            break
    assert at - node < 256 and off_struct < at
    struct.pack_into(">I", blob, at + 12, 0x7777)
    bad = tmp_path / "bad.dtb"
    bad.write_bytes(bytes(blob))
    status, out = qemu(signed[0], append="athanor.selftest=bootinfo", dtb=bad)
    assert "[athanor] boot error: the timer node's interrupts are malformed" in out, out
    assert status.failure == "boot" and status.powered_off, (status, out)
