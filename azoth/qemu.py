"""Boot Athanor under QEMU: GRUB ISOs, QEMU command lines, runs, exit statuses.

Stdlib only (Python 3.11). build.py and tests/test_boot.py import it.

Three ways to boot, one kernel file (athanor/build/athanor.elf):
  kernel  QEMU's multiboot1 loader:   -kernel ELF -initrd IMAGE -append CMDLINE
  bios    the GRUB ISO (multiboot2) on a q35 machine with SeaBIOS
  uefi    the same ISO with OVMF (a private copy of the variable store per run)

The exit protocol (athanor/athanor.h, docs/boot.md): the kernel writes v to
the isa-debug-exit port and QEMU exits with status (v << 1) | 1.
  v = 2..5     kernel failure: verify, panic, boot, appliance
  v = 8..127   appliance exit code v - 8 (0..119)
  v = 127      also codes 120..255, announced by "[athanor] exit code N"
  status 0     triple fault (with -no-reboot), or the guest reset itself
  status 1     QEMU's own error
"""

from __future__ import annotations

import dataclasses
import enum
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from . import formats

QEMU = "qemu-system-x86_64"
GRUB_MKRESCUE = "grub-mkrescue"
OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS.fd")

DEFAULT_MEMORY_MIB = 128
# TCG's "max" CPU: every instruction set extension TCG implements (SSE4.1,
# SSE4.2, POPCNT, ... which compiled Wasm may use), without host warnings.
DEFAULT_CPU = "max"
DEFAULT_TIMEOUT = 60.0

BOOT_KINDS = ("kernel", "bios", "uefi")
# Every QEMU machine the project boots, and the arch it is for (`--machine` takes these):
# q35: PCIe, ECAM; pc: i440FX, PCI through ports only; microvm: no PCI and no firmware disk
# boot, virtio-mmio devices, hardware-reduced ACPI, booted through PVH (athanor-pvh.elf);
# virt: QEMU's AArch64 board (GIC, PSCI, virtio-mmio), the Image at 0x40080000; raspi3b: the
# Raspberry Pi 3 Model B (BCM2837), the same Image at 0x80000 with the board's device tree, 1 GiB.
MACHINE_ARCHES = {"q35": "x86_64", "pc": "x86_64", "microvm": "x86_64",
                  "virt": "aarch64", "raspi3b": "aarch64"}
MACHINES = tuple(m for m, arch in MACHINE_ARCHES.items() if arch == "x86_64")
PVH_MACHINES = ("microvm",)
RASPI_MACHINES = ("raspi3b",)
RASPI_MEMORY_MIB = 1024             # QEMU's raspi3b has exactly 1 GiB (the GPU's 64 MiB on top)


def booted_through_pvh(machine: str) -> bool:
    """Whether `machine` ("microvm", "microvm,acpi=off", ...) boots athanor-pvh.elf."""
    return machine.split(",")[0] in PVH_MACHINES


def is_raspi(machine: str) -> bool:
    """Whether `machine` is a Raspberry Pi (1 GiB, its CPUs, the board's device tree)."""
    return machine.split(",")[0] in RASPI_MACHINES

# The network devices a manifest may ask for ([appliance] network), as QEMU devices. virtio-net
# without its legacy interface: the kernel only lets a driver use a virtio device's modern one.
NETWORK_DEVICES = {"virtio-net": "virtio-net-pci,disable-legacy=on"}
# On a machine without PCI, the same devices on virtio-mmio (modern: version 2).
MMIO_NETWORK_DEVICES = {"virtio-net": "virtio-net-device"}
MMIO_MODERN = ("-global", "virtio-mmio.force-legacy=false")
NET_HELP = ("user (QEMU's user networking; user,hostfwd=udp::5555-:5555 and other -netdev user "
            "options after a comma), tap:NAME (an existing tap device), or none")

# The interrupt-storm mode of the tests (docs/runtime.md): the kernel's tick every few
# microseconds, at random (athanor.storm=MIN-MAX), and QEMU counting instructions (1 ns each)
# so that an interrupt lands at an instruction boundary rather than at the end of a block of
# translated code: the windows of a few instructions that a race needs are hit that way.
STORM_CMDLINE = "athanor.storm=5-40"
STORM_QEMU_ARGS = ("-icount", "shift=0,sleep=off")

# ---- exit protocol --------------------------------------------------------

# formats/exit.toml, the protocol's one definition
FAILURES = {f["value"]: f["name"] for f in formats.EXIT["failure"]}
FAILURE_DESCRIPTIONS = {f["name"]: f["summary"] for f in formats.EXIT["failure"]}
FAILURE_MESSAGES = {f["name"]: f["message"] for f in formats.EXIT["failure"]}
EXIT_CODE_BIAS = formats.EXIT.constant("code_bias")
EXIT_CODE_DIRECT_MAX = formats.EXIT.constant("code_direct_max")
EXIT_CODE_REPORTED = formats.EXIT.constant("code_reported")
EXIT_CODE_LINE = re.compile("^" + re.escape(formats.EXIT["lines"]["exit_code"]["text"]) + r"(\d+)$")
FAILED_PREFIX = formats.EXIT["lines"]["failed"]["text"]
POWER_OFF_NOTES = "[athanor] the machine cannot be powered off"
KERNEL_PREFIX = "[athanor]"
BANNER_PREFIX = "[athanor] Athanor "


class Outcome(enum.Enum):
    EXIT = "exit"                      # the appliance ended with an exit code
    KERNEL_FAILURE = "kernel-failure"  # one of FAILURES
    TRIPLE_FAULT = "triple-fault"      # status 0
    QEMU_ERROR = "qemu-error"          # status 1, or QEMU died some other way
    TIMEOUT = "timeout"                # killed after the time limit
    UNKNOWN = "unknown"                # a status the protocol does not define


@dataclasses.dataclass(frozen=True)
class ExitStatus:
    outcome: Outcome
    status: int | None                 # QEMU's exit status; None if we killed it
    code: int | None = None            # Outcome.EXIT: the appliance's exit code
    failure: str | None = None         # Outcome.KERNEL_FAILURE: "verify", "panic", ...
    powered_off: bool = False          # read from the console: the machine powered off

    def __str__(self) -> str:
        if self.outcome is Outcome.EXIT:
            return f"exit code {self.code}"
        if self.outcome is Outcome.KERNEL_FAILURE:
            return f"kernel failure: {FAILURE_DESCRIPTIONS[self.failure]}"
        if self.outcome is Outcome.TRIPLE_FAULT:
            return "triple fault (QEMU status 0)"
        if self.outcome is Outcome.QEMU_ERROR:
            return f"QEMU error (status {self.status})"
        if self.outcome is Outcome.TIMEOUT:
            return "timeout"
        return f"unknown exit status {self.status}"

    @property
    def ok(self) -> bool:
        """The appliance exited with code 0."""
        return self.outcome is Outcome.EXIT and self.code == 0


def reported_exit_code(lines: Iterable[str]) -> int | None:
    """The N of the last "[athanor] exit code N" line (N in 120..255)."""
    code = None
    for line in lines:
        m = EXIT_CODE_LINE.match(line.strip())
        if m and EXIT_CODE_DIRECT_MAX < int(m.group(1)) <= 255:
            code = int(m.group(1))
    return code


def final_report(lines: Iterable[str]) -> ExitStatus | None:
    """What the kernel's last line says, for a machine that powered off (QEMU status 0, no
    debug-exit device): "[athanor] exit code N" or "[athanor] failed: REASON"; None if the
    output ends with neither (a triple fault, a reset)."""
    last = None
    for line in lines:
        line = line.strip()
        m = EXIT_CODE_LINE.match(line)
        if m and int(m.group(1)) <= 255:
            last = ExitStatus(Outcome.EXIT, 0, code=int(m.group(1)), powered_off=True)
        elif line.startswith(FAILED_PREFIX):
            reason = line[len(FAILED_PREFIX):]
            failure = next((f for f, text in FAILURE_MESSAGES.items() if text == reason), None)
            if failure:
                last = ExitStatus(Outcome.KERNEL_FAILURE, 0, failure=failure, powered_off=True)
        elif line.startswith(KERNEL_PREFIX) and last is not None and \
                not line.startswith(POWER_OFF_NOTES):
            last = None                    # the kernel went on after it
    return last


def decode_status(status: int | None, lines: Iterable[str] = ()) -> ExitStatus:
    """Decodes QEMU's exit status; lines is the serial output (for v = 127, and for status 0:
    the machine powered off, or reset, where no debug-exit device was there).

    None means QEMU did not exit by itself (the run timed out); a negative
    status is a signal (subprocess convention).
    """
    if status is None:
        return ExitStatus(Outcome.TIMEOUT, None)
    if status == 0:
        return final_report(lines) or ExitStatus(Outcome.TRIPLE_FAULT, status)
    if status < 0 or status == 1 or status % 2 == 0 or status > 255:
        return ExitStatus(Outcome.QEMU_ERROR if status <= 1 else Outcome.UNKNOWN, status)
    v = status >> 1
    if v in FAILURES:
        return ExitStatus(Outcome.KERNEL_FAILURE, status, failure=FAILURES[v])
    if v == EXIT_CODE_REPORTED:
        code = reported_exit_code(lines)
        return ExitStatus(Outcome.EXIT, status, code=EXIT_CODE_DIRECT_MAX if code is None else code)
    if v >= EXIT_CODE_BIAS:
        return ExitStatus(Outcome.EXIT, status, code=v - EXIT_CODE_BIAS)
    return ExitStatus(Outcome.UNKNOWN, status)


def status_for_exit_code(code: int) -> int:
    """The QEMU status the kernel produces for ath_exit(code) (the inverse, for tests)."""
    code &= 0xFF
    v = code + EXIT_CODE_BIAS if code <= EXIT_CODE_DIRECT_MAX else EXIT_CODE_REPORTED
    return (v << 1) | 1


def status_for_failure(failure: str) -> int:
    v = {name: value for value, name in FAILURES.items()}[failure]
    return (v << 1) | 1


# ---- GRUB ISO -------------------------------------------------------------

ISO_KERNEL = "/boot/athanor.elf"
ISO_IMAGE = "/boot/appliance.img"
ISO_IMAGE_STRING = "appliance"


def _grub_word(word: str) -> str:
    if "'" in word or "\n" in word:
        raise ValueError(f"kernel command line word {word!r}: quotes and newlines are not allowed")
    return f"'{word}'"


def grub_config(cmdline: str = "", with_image: bool = True) -> str:
    """grub.cfg for the ISO: no menu, boot at once; on failure, say so on
    COM1 and exit QEMU with the boot-error status."""
    words = " ".join(_grub_word(w) for w in cmdline.split())
    load = f"multiboot2 {ISO_KERNEL} {words}".rstrip()
    lines = [
        "# Generated by azoth/qemu.py. No menu: boots Athanor at once.",
        "set timeout=0",
        "set timeout_style=hidden",
        "# GRUB's messages while loading (under UEFI its console is the firmware's,",
        "# which is COM1) go to COM2 if there is one: azoth/qemu.py gives QEMU a",
        "# COM2 that discards everything. COM2 is probed through its scratch register",
        "# first: `serial` on a port that is not there prints an error of its own.",
        "outb 0x2ff 0x5a",
        "inb -v com2_scratch 0x2ff",
        'if [ "$com2_scratch" = "5a" ]; then',
        "  serial --port=0x2f8 --speed=115200",
        "  terminal_output serial",
        "fi",
        f"if {load}; then",
    ]
    if with_image:
        lines += [f"  if module2 {ISO_IMAGE} {ISO_IMAGE_STRING}; then", "    boot", "  fi"]
    else:
        lines += ["  boot"]
    lines += [
        "fi",
        "# Reached only if loading failed.",
        "serial --port=0x3f8 --speed=115200",
        "terminal_output serial",
        'echo "[athanor] boot error: GRUB could not load the kernel or the image"',
        'echo "[athanor] failed: boot error"',
        "# QEMU's debug-exit port only where fw_cfg says QEMU (its first signature byte, 'Q'),",
        "# as the kernel does; then GRUB's halt powers the machine off (ACPI).",
        "outw 0x510 0",
        "inb -v fw_cfg_q 0x511",
        'if [ "$fw_cfg_q" = "51" ]; then',
        "  outb 0xf4 4",
        "fi",
        "halt",
        "",
    ]
    return "\n".join(lines)


def make_iso(kernel_elf: str | os.PathLike, image_path: str | os.PathLike | None,
             out_iso: str | os.PathLike, cmdline: str = "", *, verbose: bool = False) -> Path:
    """Builds a BIOS+UEFI hybrid GRUB ISO (also bootable as a raw disk) that
    loads kernel_elf with multiboot2 and image_path as its first module.
    Written to a temporary file next to out_iso, then renamed."""
    out = Path(out_iso)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="azoth-iso-") as tmp:
        root = Path(tmp) / "root"
        (root / "boot" / "grub").mkdir(parents=True)
        shutil.copyfile(kernel_elf, root / ISO_KERNEL.lstrip("/"))
        if image_path is not None:
            shutil.copyfile(image_path, root / ISO_IMAGE.lstrip("/"))
        (root / "boot" / "grub" / "grub.cfg").write_text(grub_config(cmdline, image_path is not None))
        fd, partial = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent)
        os.close(fd)
        argv = [GRUB_MKRESCUE, "--fonts=", "--locales=", "--themes=", "-o", partial, str(root)]
        if verbose:
            print("+ " + " ".join(argv), file=sys.stderr)
        try:
            proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError(f"grub-mkrescue failed (status {proc.returncode}):\n{proc.stderr}")
            os.replace(partial, out)
        finally:
            if os.path.exists(partial):
                os.unlink(partial)
    return out


# ---- QEMU command lines -----------------------------------------------------

def _drive_path(path: str | os.PathLike) -> str:
    return str(path).replace(",", ",,")     # QEMU option syntax


def disk_drive(path: str | os.PathLike, fmt: str = "raw", interface: str = "virtio") -> list[str]:
    """A disk (--format raw, qcow2, vmdk, vpc) on the given controller ("virtio": virtio-blk,
    as clouds give; "ide": q35's AHCI; "nvme"), writes to a throw-away overlay."""
    drive = f"file={_drive_path(path)},format={fmt},snapshot=on"
    if interface == "nvme":
        return ["-drive", f"{drive},if=none,id=disk0", "-device", "nvme,drive=disk0,serial=azoth"]
    return ["-drive", f"{drive},if={interface},media=disk"]


def _iso_drive(iso: str | os.PathLike, as_disk: bool) -> str:
    """The ISO on the q35 AHCI controller: a read-only CD-ROM, or a hard disk
    whose writes go to a throw-away overlay (the ISO file never changes)."""
    if as_disk:
        return f"file={_drive_path(iso)},format=raw,if=ide,media=disk,snapshot=on"
    return f"file={_drive_path(iso)},format=raw,if=ide,media=cdrom,readonly=on"


def network_argv(device: str, net: str = "user", device_options: str = "",
                 machine: str = "q35") -> list[str]:
    """QEMU options for the appliance's network device (a NETWORK_DEVICES key) attached to
    `net`: "user" or "user,OPTIONS" (QEMU's user networking), "tap:NAME", or "none" (no
    device at all). device_options: more of the device's properties ("vectors=0": no MSI-X).
    On microvm the device is on virtio-mmio."""
    if net == "none" or device == "none":
        return []
    if net == "user" or net.startswith("user,"):
        backend = "user,id=net0" + net[len("user"):]
    elif net.startswith("tap:") and len(net) > 4:
        backend = f"tap,id=net0,ifname={net[4:]},script=no,downscript=no"
    else:
        raise ValueError(f"--net {net!r}: expected {NET_HELP}")
    options = f",{device_options}" if device_options else ""
    if booted_through_pvh(machine):
        return ["-netdev", backend, "-device",
                f"{MMIO_NETWORK_DEVICES[device]},netdev=net0{options}", *MMIO_MODERN]
    return ["-netdev", backend, "-device", f"{NETWORK_DEVICES[device]},netdev=net0{options}"]


def base_argv(memory_mib: int = DEFAULT_MEMORY_MIB, *, cpu: str = DEFAULT_CPU,
              extra: Sequence[str] = (), machine: str = "q35", debug_exit: bool = True) -> list[str]:
    """The options every boot uses: q35 (or `machine`), TCG, no default devices, no reboot
    (a triple fault ends QEMU), no display, COM1 on stdio, COM2 discarded
    (GRUB's own messages go there, see grub_config), and the debug-exit device unless
    debug_exit is false (then the kernel powers the machine off, and the status is read from
    its last line, as on a cloud VM)."""
    return [
        QEMU, "-machine", machine, "-accel", "tcg", "-cpu", cpu, "-m", str(memory_mib),
        "-nodefaults", "-no-reboot", "-display", "none", "-serial", "stdio", "-serial", "null",
        *(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"] if debug_exit else []),
        *extra,
    ]


def kernel_argv(kernel_elf: str | os.PathLike, image: str | os.PathLike | None = None,
                cmdline: str = "", *, memory_mib: int = DEFAULT_MEMORY_MIB, cpu: str = DEFAULT_CPU,
                extra: Sequence[str] = (), machine: str = "q35", debug_exit: bool = True) -> list[str]:
    """QEMU's multiboot1 loader. QEMU passes "KERNEL_PATH CMDLINE" as the
    command line and the image path as the module string."""
    argv = base_argv(memory_mib, cpu=cpu, extra=extra, machine=machine, debug_exit=debug_exit) + \
        ["-kernel", str(kernel_elf)]
    if image is not None:
        if any(c in str(image) for c in ", "):
            raise ValueError(f"QEMU's -initrd cannot take a path with commas or spaces: {image}")
        argv += ["-initrd", str(image)]
    if cmdline:
        argv += ["-append", cmdline]
    return argv


# AArch64 (issue 15): QEMU virt loads the kernel through the Linux arm64 Image protocol
# (athanor/build/aarch64/Image), the appliance image as the initrd. There is no debug-exit
# device: the kernel powers off through PSCI, QEMU exits with status 0, and decode_status reads
# the kernel's last line.
QEMU_AARCH64 = "qemu-system-aarch64"
AARCH64_MACHINE = "virt"
AARCH64_CPU = "cortex-a72"          # ./build.py run's; the tests also boot cortex-a53
# Per arch: the QEMU machine and CPU `./build.py run` uses unless told otherwise.
DEFAULT_MACHINES = {"x86_64": "q35", "aarch64": AARCH64_MACHINE}
DEFAULT_CPUS = {"x86_64": DEFAULT_CPU, "aarch64": AARCH64_CPU}


def aarch64_kernel_argv(kernel_image: str | os.PathLike, image: str | os.PathLike | None = None,
                        cmdline: str = "", *, memory_mib: int = DEFAULT_MEMORY_MIB,
                        cpu: str | None = AARCH64_CPU, machine: str = AARCH64_MACHINE,
                        extra: Sequence[str] = (), dtb: str | os.PathLike | None = None) -> list[str]:
    """virt (or `machine`, e.g. "virt,gic-version=3" or "virt,virtualization=on" to enter at
    EL2), TCG, no default devices, no reboot, the PL011 on stdio. On raspi3b: the board's CPU
    (cpu None; its cortex-a53s), its 1 GiB whatever memory_mib says, and the device tree dtb
    (QEMU makes none for it; it adds /chosen and the memory to this one). With -no-reboot the
    PM watchdog's reset, the kernel's power-off there, ends QEMU."""
    raspi = is_raspi(machine)
    if raspi and dtb is None:
        raise ValueError(f"-M {machine} needs the board's device tree (dtb=)")
    argv = [QEMU_AARCH64, "-machine", machine, "-accel", "tcg",
            *(["-cpu", cpu] if cpu and not (raspi and cpu == AARCH64_CPU) else []),
            "-m", str(RASPI_MEMORY_MIB if raspi else memory_mib),
            "-nodefaults", "-no-reboot", "-display", "none", "-serial", "stdio", *extra,
            "-kernel", str(kernel_image), *(["-dtb", str(dtb)] if dtb is not None else [])]
    if image is not None:
        if any(c in str(image) for c in ", "):
            raise ValueError(f"QEMU's -initrd cannot take a path with commas or spaces: {image}")
        argv += ["-initrd", str(image)]
    if cmdline:
        argv += ["-append", cmdline]
    return argv


def iso_bios_argv(iso: str | os.PathLike, *, as_disk: bool = False, memory_mib: int = DEFAULT_MEMORY_MIB,
                  cpu: str = DEFAULT_CPU, extra: Sequence[str] = (),
                  debug_exit: bool = True, drive: Sequence[str] | None = None) -> list[str]:
    """The ISO under SeaBIOS, as a CD-ROM or (as_disk) as a raw hard disk; or the disk
    `drive` gives (disk_drive)."""
    return base_argv(memory_mib, cpu=cpu, extra=extra, debug_exit=debug_exit) + \
        (list(drive) if drive else ["-drive", _iso_drive(iso, as_disk)])


def iso_uefi_argv(iso: str | os.PathLike, vars_copy: str | os.PathLike, *, as_disk: bool = False,
                  memory_mib: int = DEFAULT_MEMORY_MIB, cpu: str = DEFAULT_CPU,
                  extra: Sequence[str] = (), debug_exit: bool = True,
                  drive: Sequence[str] | None = None) -> list[str]:
    """The ISO under OVMF (or the disk `drive` gives). vars_copy must be a writable copy of
    OVMF_VARS.fd (see ovmf_vars_copy); the firmware writes boot entries into it."""
    return base_argv(memory_mib, cpu=cpu, extra=extra, debug_exit=debug_exit) + [
        "-drive", f"if=pflash,format=raw,readonly=on,file={_drive_path(OVMF_CODE)}",
        "-drive", f"if=pflash,format=raw,file={_drive_path(vars_copy)}",
        *(drive or ["-drive", _iso_drive(iso, as_disk)]),
    ]


def ovmf_vars_copy(directory: str | os.PathLike) -> Path:
    """A fresh writable copy of the OVMF variable store in directory."""
    dest = Path(directory) / "OVMF_VARS.fd"
    shutil.copyfile(OVMF_VARS, dest)
    return dest


# ---- running ----------------------------------------------------------------

_CSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


# Once QEMU has exited, how long its output may take to be read to the end (the pipe is closed:
# this bounds only a reader that is behind, on a loaded machine).
READER_GRACE_S = 60


def clean_line(raw: str) -> str:
    """A serial line without terminal escape sequences and control bytes
    (firmware and GRUB paint the screen with them)."""
    return _CONTROL.sub("", _CSI.sub("", raw)).rstrip()


@dataclasses.dataclass(frozen=True)
class Line:
    time: float        # seconds from QEMU's start to the line's end
    text: str          # cleaned (clean_line)
    raw: str           # as received, decoded as UTF-8 with replacement


@dataclasses.dataclass
class RunResult:
    argv: list[str]
    exit: ExitStatus
    returncode: int | None     # None: killed after the timeout
    lines: list[Line]
    stderr: str
    elapsed: float             # seconds from start to QEMU's exit (or kill)

    @property
    def output(self) -> str:
        return "\n".join(line.text for line in self.lines)

    @property
    def texts(self) -> list[str]:
        return [line.text for line in self.lines]

    def first(self, predicate: Callable[[str], bool]) -> Line | None:
        return next((line for line in self.lines if predicate(line.text)), None)

    @property
    def banner(self) -> Line | None:
        """The kernel's "[athanor] Athanor VERSION (...)" line."""
        return self.first(lambda t: t.startswith(BANNER_PREFIX))

    @property
    def banner_time(self) -> float | None:
        return self.banner.time if self.banner else None

    @property
    def first_appliance_line(self) -> Line | None:
        """The first line after the banner that is not the kernel's own
        (does not start with "[athanor]"): the appliance speaking."""
        seen_banner = False
        for line in self.lines:
            if line.text.startswith(BANNER_PREFIX):
                seen_banner = True
            elif seen_banner and line.text and not line.text.startswith(KERNEL_PREFIX):
                return line
        return None

    @property
    def firmware_lines(self) -> list[Line]:
        """Non-empty lines before the kernel's first line (firmware, GRUB)."""
        out = []
        for line in self.lines:
            if line.text.startswith(KERNEL_PREFIX):
                break
            if line.text:
                out.append(line)
        return out


def _terminal_state(stdin):
    """The terminal settings of our stdin when QEMU will share it (QEMU puts it in raw mode
    and restores it only if it exits cleanly), to restore them ourselves; None otherwise."""
    if stdin is not None:
        return None
    try:
        import termios
        if not os.isatty(0):
            return None
        return termios.tcgetattr(0)
    except (ImportError, OSError):
        return None


def _restore_terminal(state):
    if state is not None:
        import termios
        try:
            termios.tcsetattr(0, termios.TCSADRAIN, state)
        except OSError:
            pass


def _die_with_parent() -> None:
    """In QEMU's process before exec: end it when whoever started it dies (build.py killed by a
    script's own time limit must not leave a guest running forever; Linux's PR_SET_PDEATHSIG)."""
    try:
        import ctypes
        import signal
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM first (QEMU then restores the terminal), SIGKILL if it lingers."""
    proc.terminate()
    try:
        proc.wait(timeout=2)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run(argv: Sequence[str], *, timeout: float | None = DEFAULT_TIMEOUT,
        on_line: Callable[[str], None] | None = None, echo: bool = False,
        stdin: int | None = subprocess.DEVNULL, verbose: bool = False,
        on_start: Callable[[subprocess.Popen], None] | None = None,
        on_chunk: Callable[[bytes], None] | None = None) -> RunResult:
    """Runs QEMU, streaming the serial console line by line to on_line (the
    raw text) and/or stdout (echo) while recording it with timestamps.
    on_chunk gets the console's bytes as they arrive, partial lines included
    (an interactive console echoes what is typed before the line ends).
    Stops QEMU after timeout seconds (None: never). stdin defaults to
    /dev/null; pass None to inherit ours (the console then reads the
    terminal), or subprocess.PIPE and write to proc.stdin from on_start or
    on_line."""
    argv = list(argv)
    if verbose:
        print("+ " + " ".join(argv), file=sys.stderr)
    lines: list[Line] = []
    stderr_chunks: list[bytes] = []
    terminal = _terminal_state(stdin)
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=_die_with_parent)
    if on_start is not None:
        on_start(proc)

    def emit(data: bytes) -> None:
        raw = data.decode("utf-8", "replace").rstrip("\r")
        lines.append(Line(time.monotonic() - start, clean_line(raw), raw))
        if echo:
            sys.stdout.write(raw + "\n")
            sys.stdout.flush()
        if on_line is not None:
            on_line(raw)

    def read_stdout() -> None:
        # The line in progress as a list of chunks: a module that writes megabytes without a
        # newline must not make each chunk cost the whole line again (the reader would fall
        # behind QEMU, and its last lines would be missing when QEMU has exited).
        pending: list[bytes] = []
        while chunk := proc.stdout.read1(65536):
            if on_chunk is not None:
                on_chunk(chunk)
            *complete, rest = chunk.split(b"\n")
            if complete:
                emit(b"".join(pending) + complete[0])
                for data in complete[1:]:
                    emit(data)
                pending = []
            if rest:
                pending.append(rest)
        if pending:
            emit(b"".join(pending))

    def read_stderr() -> None:
        while chunk := proc.stderr.read1(65536):
            stderr_chunks.append(chunk)

    readers = [threading.Thread(target=read_stdout, daemon=True),
               threading.Thread(target=read_stderr, daemon=True)]
    for t in readers:
        t.start()
    try:
        returncode: int | None = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop(proc)
        returncode = None
    except BaseException:
        _stop(proc)
        raise
    finally:
        _restore_terminal(terminal)
    elapsed = time.monotonic() - start
    for t in readers:
        t.join(timeout=READER_GRACE_S)
    texts = [line.text for line in lines]
    return RunResult(argv, decode_status(returncode, texts), returncode, lines,
                     b"".join(stderr_chunks).decode("utf-8", "replace"), elapsed)


def boot(kind: str, *, kernel: str | os.PathLike | None = None, image: str | os.PathLike | None = None,
         iso: str | os.PathLike | None = None, cmdline: str = "", memory_mib: int = DEFAULT_MEMORY_MIB,
         cpu: str = DEFAULT_CPU, as_disk: bool = False, timeout: float | None = DEFAULT_TIMEOUT,
         on_line: Callable[[str], None] | None = None, echo: bool = False,
         verbose: bool = False, stdin: int | None = subprocess.DEVNULL,
         on_start: Callable[[subprocess.Popen], None] | None = None,
         on_chunk: Callable[[bytes], None] | None = None, extra: Sequence[str] = (),
         machine: str = "q35", debug_exit: bool = True,
         drive: Sequence[str] | None = None, arch: str = "x86_64",
         dtb: str | os.PathLike | None = None) -> RunResult:
    """One boot of the given kind ("kernel", "bios" or "uefi"). "kernel"
    needs kernel (and image, cmdline); "bios" and "uefi" need an iso made by
    make_iso (the command line is baked into it). stdin, on_start and on_chunk as for run;
    extra: more QEMU options (devices: network_argv); machine: "q35" or "pc"; debug_exit: false
    for a machine without QEMU's debug-exit device (the kernel powers it off); drive: boot
    that disk (disk_drive) instead of the ISO. arch "aarch64": kernel is the Image, booted
    through -kernel on virt (machine "q35" and cpu DEFAULT_CPU then mean virt and
    AARCH64_CPU); there is no debug-exit device, the kernel powers off through PSCI. On
    raspi3b, kernel is the same Image and dtb the board's device tree (default: the one
    azoth/deps.py takes from Debian's arm64 kernel package); the kernel powers off through the
    PM watchdog."""
    common = dict(timeout=timeout, on_line=on_line, echo=echo, verbose=verbose, stdin=stdin,
                  on_start=on_start, on_chunk=on_chunk)
    if arch == "aarch64":
        if kind != "kernel" or kernel is None:
            raise ValueError("an aarch64 boot is a kernel boot (-kernel Image -initrd IMAGE)")
        machine = AARCH64_MACHINE if machine == "q35" else machine
        if is_raspi(machine) and dtb is None:
            from . import deps
            dtb = deps.raspi3b_dtb()
        argv = aarch64_kernel_argv(
            kernel, image, cmdline, memory_mib=memory_mib,
            cpu=AARCH64_CPU if cpu == DEFAULT_CPU else cpu, machine=machine, extra=extra, dtb=dtb)
        return run(argv, **common)
    if arch != "x86_64":
        raise ValueError(f"arch {arch!r}: expected x86_64 or aarch64")
    if kind == "kernel":
        if kernel is None:
            raise ValueError("kernel boot needs kernel=")
        argv = kernel_argv(kernel, image, cmdline, memory_mib=memory_mib, cpu=cpu, extra=extra,
                           machine=machine, debug_exit=debug_exit)
        return run(argv, **common)
    if kind not in BOOT_KINDS:
        raise ValueError(f"boot kind {kind!r}: expected one of {', '.join(BOOT_KINDS)}")
    if iso is None and not drive:
        raise ValueError(f"{kind} boot needs iso= or drive=")
    if kind == "bios":
        argv = iso_bios_argv(iso, as_disk=as_disk, memory_mib=memory_mib, cpu=cpu, extra=extra,
                             debug_exit=debug_exit, drive=drive)
        return run(argv, **common)
    with tempfile.TemporaryDirectory(prefix="azoth-ovmf-") as tmp:
        argv = iso_uefi_argv(iso, ovmf_vars_copy(tmp), as_disk=as_disk, memory_mib=memory_mib,
                             cpu=cpu, extra=extra, debug_exit=debug_exit, drive=drive)
        return run(argv, **common)
