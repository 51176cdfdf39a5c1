"""Athanor on AArch64 (issue 15): the kernel built with ARCH=aarch64 boots on QEMU virt
(cortex-a53 with GICv2, cortex-a72 with GICv3, entered at EL1 or at EL2), reads the device
tree, runs the self-tests that make sense there, verifies a signed image, refuses a tampered
one or one built for another machine, runs module code (hello and echo in both bounds modes:
`./build.py run --arch aarch64`), and powers off through PSCI.

    /usr/bin/python3 -m pytest tests/test_aarch64.py

Skips in one line when qemu-system-aarch64 or aarch64-linux-gnu-gcc is absent (Debian:
qemu-system-arm, gcc-aarch64-linux-gnu: azoth/tools.py's "aarch64" group, which ./build.py test
installs).
The runtime, WASI, supervision and hostile-module tests have AArch64 variants of their own
(tests/test_runtime.py's -a64 runs, tests/attacks.py's with_a64).
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
    """The kernel built with the signing key build.py uses, and hello's signed image for it."""
    kernel = make_kernel(tools.PUBKEY)
    out = tmp_path_factory.mktemp("aarch64-images")
    r = conftest.build_py("build", "--arch", "aarch64", "--out", out, ROOT / "appliances" / "hello",
                          timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    images = sorted(out.glob("*.azi"))
    assert [i.name for i in out.iterdir()] == ["hello.azi"], "no ISO for AArch64"
    return kernel, images[0]


# ---- The kernel image --------------------------------------------------------------------------

def test_image_has_the_arm64_header(signed):
    kernel, _ = signed
    head = kernel.read_bytes()[:64]
    code0, text_offset, image_size, flags = struct.unpack_from("<I4xQQQ", head)
    assert head[56:60] == b"ARM\x64"
    assert code0 >> 26 == 0b000101, "code0 is a branch"
    assert text_offset == 0x80000 and flags == 2     # from RAM's base: 0x40080000 on virt
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
    # linked at 0x80000, loaded at RAM's base + text_offset: it relocated itself (boot.S)
    assert re.search(r"bootinfo: kernel \[0x40080000, ", out), out
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

def test_signed_image_is_verified_and_runs(signed):
    """The verifier is the same portable C: hello's image passes it on AArch64, and its module,
    compiled by Alkahest's AArch64 back end, runs (cortex-a53 here; ./build.py run's cortex-a72
    below)."""
    kernel, image = signed
    status, out = qemu(kernel, initrd=image)
    assert re.search(r"\[athanor\] appliance hello \S+: 1 module, signature and hashes verified", out), out
    assert "Hello from Azoth" in out and status.ok and status.powered_off, (status, out)


# ---- Module code, the machine the image and the objects are for ---------------------------------

def bounds_copy(tmp_path, name, bounds):
    """appliances/NAME with its bounds mode set (its sources copied along)."""
    directory = tmp_path / f"{name}-{bounds}"
    shutil.copytree(ROOT / "appliances" / name, directory)
    if name == "echo":                  # its drivers are in ../drivers, which include ../include
        for shared in ("drivers", "include"):
            shutil.copytree(ROOT / "appliances" / shared, tmp_path / shared, dirs_exist_ok=True)
    manifest = directory / "appliance.toml"
    manifest.write_text(manifest.read_text().replace('bounds = "guard"', f'bounds = "{bounds}"'))
    assert f'bounds = "{bounds}"' in manifest.read_text()
    return directory


@pytest.mark.parametrize("bounds", ["guard", "checked"])
def test_hello_and_echo_run(tmp_path, tools, bounds):
    """./build.py run --arch aarch64 as a user runs it (qemu-system-aarch64 -M virt -cpu
    cortex-a72): hello logs its line and exits 0; echo's console is the PL011 driven by a Wasm
    driver (appliances/drivers/pl011.c: an MMIO grant and irq:1), answers what is typed and ends
    on "quit"."""
    r = conftest.build_py("run", "--arch", "aarch64", bounds_copy(tmp_path, "hello", bounds),
                          timeout=300)
    assert r.returncode == 0 and "Hello from Azoth" in r.stdout, r.stdout + r.stderr
    assert "(devicetree, 64 MiB)" in r.stdout, r.stdout
    echo = subprocess.run([sys.executable, str(conftest.BUILD_PY), "run", "--arch", "aarch64",
                           "--timeout", "120", bounds_copy(tmp_path, "echo", bounds)],
                          input="hello, virt\nquit\n", capture_output=True, text=True, timeout=300)
    assert echo.returncode == 0, echo.stdout + echo.stderr
    # All typed at once: the driver's echo of the keys may land inside the app's lines, but
    # it writes each message from the app whole
    assert "echo: hello, virt\n" in echo.stdout, echo.stdout
    assert "[echo] type a line; 'quit' ends\n" in echo.stdout, echo.stdout


def test_opt_tier_appliances_run(tmp_path, tools):
    """opt = "speed" on AArch64 (docs/opt-tier.md, "AArch64"): echo (guard mode), compiled by
    LLVM for the ARMv8.0-A baseline, runs on a cortex-a53 (build.py checks each object is of
    the tier asked for) and answers a line; an app that recurses without end (checked mode)
    traps with stack exhaustion and ends the appliance with 125. (The attacks of
    tests/test_attack_stack.py and test_attack_memory.py boot both modes.)"""
    echo = bounds_copy(tmp_path, "echo", "guard")
    manifest = echo / "appliance.toml"
    manifest.write_text(manifest.read_text().replace("[appliance]\n", '[appliance]\nopt = "speed"\n', 1))
    assert 'opt = "speed"' in manifest.read_text()
    done = subprocess.run([sys.executable, str(conftest.BUILD_PY), "run", "--arch", "aarch64",
                           "--cpu", "cortex-a53", "--timeout", "120", echo],
                          input="opt on arm\nquit\n", capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "echo: opt on arm\n" in done.stdout, done.stdout
    wat = """(module (func $f (param i64) (result i64)
      (i64.add (call $f (i64.add (local.get 0) (i64.const 1))) (local.get 0)))
      (func (export "_start") (drop (call $f (i64.const 0)))))"""
    deep = conftest.write_appliance(tmp_path / "deep-checked", """[appliance]
name = "deep"
bounds = "checked"
opt = "speed"
arch = "aarch64"

[[app]]
name = "a"
source = "a.wat"
""", {"a.wat": wat})
    r = conftest.build_py("run", deep, timeout=300)
    assert r.returncode == 125 and "trapped: call stack exhausted" in r.stdout, r.stdout + r.stderr


def test_an_image_for_another_machine_is_refused(signed, tools, tmp_path):
    """hello built for x86-64 on the AArch64 kernel, and for AArch64 on the x86-64 kernel: a
    boot error naming both machines (the header records the arch, signed), no module run.
    `./build.py boot` picks the kernel the image names; --arch forces the other."""
    kernel, a64_image = signed
    x86 = tools.build(ROOT / "appliances" / "hello", iso=False, images=tmp_path)
    status, out = qemu(kernel, initrd=x86.image)
    assert "[athanor] boot error: the image hello is built for x86_64, this kernel runs aarch64" \
        in out and "Hello from Azoth" not in out, out
    assert (status.outcome, status.failure) == (Outcome.KERNEL_FAILURE, "boot"), (status, out)
    r = conftest.build_py("boot", a64_image, "--arch", "x86_64", timeout=120)
    assert "[athanor] boot error: the image hello is built for aarch64, this kernel runs x86_64" \
        in r.stdout and "Hello from Azoth" not in r.stdout, r.stdout + r.stderr
    assert r.returncode == 125
    r = conftest.build_py("boot", a64_image, timeout=120)
    assert r.returncode == 0 and "Hello from Azoth" in r.stdout, r.stdout + r.stderr
    inspected = conftest.build_py("inspect", a64_image)
    assert "arch=aarch64" in inspected.stdout, inspected.stdout


def test_an_object_for_another_target_is_refused(tools, tmp_path, monkeypatch):
    """An AArch64 image whose module is x86-64 code (its header says aarch64 and it is signed:
    build.py's own checks bypassed) stops the kernel before the module runs, naming it."""
    import test_object_target
    from azoth import appliance
    compile_module = appliance.compile_module
    monkeypatch.setattr(appliance, "compile_module",
                        lambda wasm, bounds, out, module, target: compile_module(
                            wasm, bounds, out, module, "x86_64"))
    monkeypatch.setattr(appliance, "check_target", lambda module, obj, arch: None)
    test_object_target.force_image_arch(monkeypatch)
    built = tools.build(ROOT / "appliances" / "hello", iso=False, images=tmp_path, arch="aarch64")
    status, out = qemu(make_kernel(tools.PUBKEY), initrd=built.image)
    assert "boot error: module hello: compiled for x86_64, this runtime runs aarch64 code" in out, out
    assert "Hello from Azoth" not in out and status.failure == "boot", (status, out)


HOLE = """(module
  (import "athanor" "mmio_open" (func $open (param i64 i32) (result i32)))
  (import "athanor" "mmio_read" (func $read (param i32 i32 i32) (result i64)))
  (import "athanor" "mmio_write" (func $write (param i32 i32 i32 i64) (result i32)))
  (import "athanor" "log" (func $log (param i32 i32)))
  (import "athanor" "exit" (func $exit (param i32)))
  (memory 1)
  (data (i32.const 0) "bus errors, the kernel goes on")
  (func (export "_start") (local $h i32)
    (local.set $h (call $open (i64.const 0x9100000) (i32.const 4096)))
    (if (i32.le_s (local.get $h) (i32.const 0)) (then (call $exit (i32.const 3))))
    (if (i64.ne (call $read (local.get $h) (i32.const 16) (i32.const 4)) (i64.const -17))
      (then (call $exit (i32.const 4))))
    (if (i32.ne (call $write (local.get $h) (i32.const 0) (i32.const 1) (i64.const 1)) (i32.const -17))
      (then (call $exit (i32.const 5))))
    (call $log (i32.const 0) (i32.const 30))
    (call $exit (i32.const 0))))
"""


def test_a_window_where_nothing_answers_is_a_bus_error(tools, tmp_path):
    """A driver granted an MMIO window over a hole in virt's map (0x9100000: nothing decodes
    it, so the bus answers with a synchronous external abort where a PC reads all ones): its
    reads and writes fail with ATH_E_BUS (-17), the kernel does not panic."""
    directory = conftest.write_appliance(tmp_path / "hole", """[appliance]
name = "hole"
arch = "aarch64"

[[driver]]
name = "prober"
source = "prober.wat"
grants = ["mmio:0x9100000-0x9100fff", "log"]
""", {"prober.wat": HOLE})
    built = tools.build(directory, iso=False, images=tmp_path)
    status, out = qemu(make_kernel(tools.PUBKEY), initrd=built.image)
    assert "bus errors, the kernel goes on" in out and status.ok, (status, out)


def test_tampered_image_is_refused(signed, tmp_path):
    kernel, image = signed
    status, out = qemu(kernel, initrd=conftest.tampered(image, tmp_path))
    assert (status.outcome, status.failure) == (Outcome.KERNEL_FAILURE, "verify"), (status, out)
    assert "signature and hashes verified" not in out, out


def with_reserved_memory(tmp_path, blob, node):
    """The blob with node added to its root, through dtc (device tree source, then back)."""
    source = subprocess.run(["dtc", "-q", "-I", "dtb", "-O", "dts", "-"], input=bytes(blob),
                            capture_output=True, check=True, timeout=TIMEOUT).stdout.decode()
    end = source.rstrip().rindex("};")
    edited = source[:end] + node + "\n" + source[end:]
    return subprocess.run(["dtc", "-q", "-I", "dts", "-O", "dtb", "-"], input=edited.encode(),
                          capture_output=True, check=True, timeout=TIMEOUT).stdout


def test_reserved_memory_nodes_are_kept_from_the_allocator(tmp_path):
    """/reserved-memory's children with a reg are reserved (the allocator never hands them
    out); one with only a size is not (the OS would place it); a reg the reader cannot read
    in full stops the boot rather than leave memory unreserved."""
    good = dumped_dtb(tmp_path)
    blob = with_reserved_memory(tmp_path, good, """
    reserved-memory {
        #address-cells = <2>; #size-cells = <2>; ranges;
        monitor@4e000000 { reg = <0x0 0x4e000000 0x0 0x200000>; no-map; };
        frames@4f000000 { reg = <0x0 0x4f000000 0x0 0x10000 0x0 0x4f100000 0x0 0x20000>; };
        pool { size = <0x0 0x400000>; reusable; };
    };""")
    path = tmp_path / "reserved.dtb"
    path.write_bytes(blob)
    r = subprocess.run([fdt_tool(), str(path)], capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stdout + r.stderr
    reserved = [line for line in r.stdout.splitlines() if line.startswith("reserved ")]
    for line in ("reserved 0x4e000000 0x200000", "reserved 0x4f000000 0x10000",
                 "reserved 0x4f100000 0x20000"):
        assert line in reserved, r.stdout
    assert not any(line.endswith(" 0x400000") for line in reserved), r.stdout
    for bad in ("#address-cells = <2>; #size-cells = <2>;",            # no ranges
                "#address-cells = <2>; #size-cells = <2>; ranges;"):   # a cell missing
        reg = "<0x0 0x4e000000 0x0 0x200000>" if "ranges;" not in bad else \
            "<0x0 0x4e000000 0x0>"
        blob = with_reserved_memory(tmp_path, good, f"""
    reserved-memory {{ {bad} monitor@4e000000 {{ reg = {reg}; }}; }};""")
        assert refusal(tmp_path, blob) == \
            "a /reserved-memory node's reg cannot be read (its cells, or no ranges)"


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


@pytest.mark.parametrize("window", ["0x8000000-0x8000fff", "0x8010000-0x8010fff", "0x7ff0000-0x8000000"])
def test_a_window_over_the_gic_is_refused_at_boot(tools, tmp_path, window):
    """The GIC's distributor and CPU interface (virt's GICv2, where the device tree puts them)
    are the kernel's: a driver granted a window touching either does not boot (a PC's APICs are
    manifest/capabilities.toml's reserved ranges; the GIC's place is the firmware's to say)."""
    directory = conftest.write_appliance(tmp_path / "gic", f"""[appliance]
name = "gic"
arch = "aarch64"

[[driver]]
name = "prober"
source = "prober.wat"
grants = ["mmio:{window}", "log"]
""", {"prober.wat": HOLE})
    built = tools.build(directory, iso=False, images=tmp_path)
    status, out = qemu(make_kernel(tools.PUBKEY), initrd=built.image)
    assert re.search(r"boot error: module prober: an MMIO window over the interrupt controller the "
                     r"kernel drives 0x80[01]0000-0x80[01]ffff", out), out
    assert status.failure == "boot" and "bus errors" not in out, (status, out)


def test_stdin_beside_a_pl011_driver_is_refused(tools, tmp_path):
    """The kernel reads stdin from the console UART: no driver may own the PL011's registers
    meanwhile, as none may own COM1's ports on x86-64 (build.py refuses it, AZ-M017; the kernel
    refuses a re-signed image that has it anyway)."""
    import test_wasi_kernel
    from azoth import signing
    manifest = ('[appliance]\nname = "pl011stdin"\narch = "aarch64"\n\n[[driver]]\nname = "console"\n'
                'source = "d.wat"\ngrants = ["mmio:0x9000000-0x9000fff"]\n\n[[app]]\nname = "app"\n'
                'source = "a.wat"\n{}')
    empty = test_wasi_kernel.EMPTY
    refused = conftest.write_appliance(tmp_path / "refused", manifest.format('grants = ["stdin"]\n'),
                                       {"d.wat": empty, "a.wat": empty})
    r = conftest.build_py("build", "--no-iso", "--out", tmp_path / "out", refused)
    assert r.returncode == 1 and "AZ-M017" in r.stderr and "mmio:0x9000000-0x9000fff" in r.stderr, \
        r.stderr
    console = conftest.write_appliance(tmp_path / "console", manifest.format(""),
                                       {"d.wat": empty, "a.wat": empty})
    forged = test_wasi_kernel.console_image_with_stdin(tools, console, signing.ensure_key())
    status, out = qemu(make_kernel(tools.PUBKEY), initrd=forged)
    assert "the console UART is read for stdin and owned by module console" in out, out
    assert status.failure == "boot", (status, out)


@pytest.mark.parametrize("args", [["run", "--machine", "q35"], ["run", "--iso"],
                                  ["build", "--format", "raw"]])
def test_options_of_the_other_machine_are_refused(tmp_path, args):
    """A QEMU machine, a boot path or a disk form that is x86-64's, asked of an AArch64 build:
    AZ-T011 naming the option, nothing booted."""
    command, *options = args
    r = conftest.build_py(command, ROOT / "appliances" / "hello", "--arch", "aarch64", *options,
                          *(["--out", tmp_path] if command == "build" else []), timeout=300)
    assert r.returncode == 1 and "AZ-T011" in r.stderr and options[0] in r.stderr, r.stderr
    assert "Hello from Azoth" not in r.stdout
