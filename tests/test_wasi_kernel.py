"""WASI preview1 in the kernel: C programs boot as appliances and print what their native builds
print, with their exit codes back through ./build.py run; hostile calls get errno values and
trap nothing; descriptors follow the grants; a restart makes the WASI state afresh; stdin comes
from the console; grants are checked at build time (and the console rule at boot too).

Every boot runs at once, in threads, in one fixture; the tests then read its results. The runs
named NAME-a64 are NAME built with --arch aarch64 and booted on QEMU virt (A64_SHORT in the
default suite, all of them with `./build.py test --long`); each test asserts the same of both."""
import concurrent.futures
import subprocess
import sys

import pytest

from conftest import ROOT, build_py, long_run, write_appliance
from azoth import catalogue, image as image_module, manifest as manifest_module, qemu, signing

WASI = ROOT / "tests" / "wasi"
NOTE = "0123456789abcdef\n"
C_APPLIANCES = ("motd", "greet", "showcase")

HOSTILE = """[appliance]
name = "wasihostile"
bounds = "{bounds}"

[[app]]
name = "plain"
source = "{wasi}/hostile.wat"
grants = ["stdout", "stdin", "files", "args", "env", "random", "clock"]

[[app]]
name = "bare"
source = "bare.wat"
grants = ["stdout"]

[[app]]
name = "files"
source = "{wasi}/hostile_files.wat"
grants = ["stdout", "files", "args", "env", "clock", "random"]
args = ["one"]
env = {{ K = "v" }}

[[file]]
host = "note.txt"
guest = "/data/note.txt"
"""

# Granted stdout only: it holds descriptors 1 and 2, not 0 (stdin) nor 3 ("/").
BARE = """(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_fdstat_get" (func $fdstat (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_get" (func $prestat (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory 1)
  (data (i32.const 0) "\\10\\00\\00\\00\\03\\00\\00\\00")
  (data (i32.const 16) "ok\\n")
  (func $expect (param $got i32) (param $want i32) (param $check i32)
    (if (i32.ne (local.get $got) (local.get $want))
      (then (call $exit (i32.add (i32.const 200) (local.get $check))))))
  (func (export "_start")
    (call $expect (call $prestat (i32.const 3) (i32.const 64)) (i32.const 8) (i32.const 1))
    (call $expect (call $fdstat (i32.const 0) (i32.const 64)) (i32.const 8) (i32.const 2))
    (call $expect (call $close (i32.const 0)) (i32.const 8) (i32.const 3))
    (call $expect (call $fdstat (i32.const 2) (i32.const 64)) (i32.const 0) (i32.const 4))
    (call $expect (i32.load8_u (i32.const 64)) (i32.const 2) (i32.const 5))
    (call $expect (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))
                  (i32.const 0) (i32.const 6))))
"""

RESTART = """[appliance]
name = "wasirestart"

[[app]]
name = "restarter"
source = "{wasi}/restart.c"
grants = ["stdout", "files", "args", "env"]
args = ["one"]
env = {{ MODE = "again" }}
restart = "on-failure"

[[file]]
host = "note.txt"
guest = "/data/note.txt"
"""

STDIN = """[appliance]
name = "wasistdin"

[[app]]
name = "reader"
source = "{wasi}/reader.c"
grants = ["stdin", "stdout"]
"""

EMPTY = '(module (func (export "_start")))'

# Typed on the console: a line, one edited with backspaces, one ended by CR LF, then ^D.
TYPED = "first line\nsexx\x7f\x7fcond\nthird\r\n\x04"


A64_SHORT = ("showcase", "hostile-checked", "stdin")


def run_appliance(directory, stdin_text=None, arch="x86_64"):
    if stdin_text is None:
        return build_py("run", directory, "--arch", arch)
    return subprocess.run([sys.executable, str(ROOT / "build.py"), "run", str(directory),
                           "--arch", arch], input=stdin_text, capture_output=True, text=True,
                          timeout=120, cwd=ROOT)


def variants(booted, name):
    """NAME and its AArch64 run when there is one."""
    return [name] + [f"{name}-a64"] * (f"{name}-a64" in booted)


def app_lines(stdout):
    """What the modules printed: the console without the kernel's own lines."""
    return [line for line in stdout.splitlines()
            if not line.startswith(("[athanor]", "[supervisor]"))]


def native_run(name, out):
    """Builds appliances/NAME's C program with gcc -O2 and runs it with the manifest's args and
    env, guest paths replaced by their host files; returns the CompletedProcess."""
    manifest = manifest_module.load(ROOT / "appliances" / name)
    (module,) = manifest.modules
    guest_to_host = {f.guest: str(f.host) for f in manifest.files}
    binary = out / name
    flags = []
    if name == "motd":   # it opens /etc/motd: give it the file the image holds instead
        (motd,) = manifest.files
        redirect = out / "redirect.h"
        redirect.write_text('#include <stdio.h>\n#include <string.h>\n#define fopen(path, mode) '
                            f'fopen(strcmp((path), "{motd.guest}") ? (path) : "{motd.host}", '
                            '(mode))\n')
        flags = ["-include", str(redirect)]
    subprocess.run(["gcc", "-O2", *flags, *map(str, module.sources), "-o", str(binary)],
                   check=True)
    args = [guest_to_host.get(a, a) for a in module.args]
    return subprocess.run([str(binary), *args], capture_output=True, text=True,
                          env=dict(module.env))


def console_image_with_stdin(tools, directory, key):
    """An image that build.py would refuse: a driver owning COM1's ports and an app granted
    stdin, made by re-signing a legal image with the app's grants changed."""
    built = tools.build(directory, iso=False, images=directory / "out")
    image = image_module.Image(built.image.read_bytes())
    stdin_bit = 1 << catalogue.load().capabilities["stdin"].bit
    modules = []
    for index, rec in enumerate(image.modules):
        kind = image_module.name_of(rec.kind, image_module.MODULE_KINDS)
        grants = rec.grants | (stdin_bit if kind == "app" else 0)
        modules.append(image_module.ImageModule(
            image.module_name(index), kind, image_module.name_of(rec.restart,
                                                                 image_module.RESTART_POLICIES),
            grants, rec.max_memory, image.object_of(index), image.import_ids(index), [], {},
            rec.supervisor, image.resources_of(index), rec.stack_size))
    data = image_module.build(image.name, image.version, 64 << 20, image.bounds, modules,
                              signing.signer(key), image.channels, image.supervisors)
    path = directory / "forged.azi"
    path.write_bytes(data)
    return path


@pytest.fixture(scope="module")
def booted(tools, tmp_path_factory):
    work = tmp_path_factory.mktemp("wasi-kernel")
    apps = {name: (ROOT / "appliances" / name, None) for name in C_APPLIANCES}
    for bounds in ("guard", "checked"):
        apps[f"hostile-{bounds}"] = (write_appliance(
            work / f"hostile-{bounds}", HOSTILE.format(bounds=bounds, wasi=WASI),
            {"note.txt": NOTE, "bare.wat": BARE}), None)
    apps["restart"] = (write_appliance(work / "restart", RESTART.format(wasi=WASI),
                                       {"note.txt": NOTE}), None)
    apps["stdin"] = (write_appliance(work / "stdin", STDIN.format(wasi=WASI), {}), TYPED)
    console = write_appliance(work / "console", (
        '[appliance]\nname = "wasiconsole"\n\n[[driver]]\nname = "console"\nsource = "d.wat"\n'
        'grants = ["port:0x3f8-0x3ff"]\n\n[[app]]\nname = "app"\nsource = "a.wat"\n'),
        {"d.wat": EMPTY, "a.wat": EMPTY})
    forged = console_image_with_stdin(tools, console, signing.ensure_key())
    a64 = {f"{name}-a64": entry for name, entry in apps.items() if long_run() or name in A64_SHORT}

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        runs = {name: pool.submit(run_appliance, path, text) for name, (path, text) in apps.items()}
        runs.update({name: pool.submit(run_appliance, path, text, "aarch64")
                     for name, (path, text) in a64.items()})
        natives = {name: pool.submit(native_run, name, work) for name in C_APPLIANCES}
        forged_boot = pool.submit(qemu.boot, "kernel", kernel=tools.KERNEL, image=forged,
                                  memory_mib=64, timeout=30)
        results = {name: future.result() for name, future in runs.items()}
        results.update({f"native-{n}": f.result() for n, f in natives.items()})
        results["forged"] = forged_boot.result()
    return results


@pytest.mark.parametrize("name", C_APPLIANCES)
def test_c_appliance_prints_what_its_native_build_prints(booted, name):
    native = booted[f"native-{name}"]
    for run in variants(booted, name):
        ours = booted[run]
        assert app_lines(ours.stdout) == native.stdout.splitlines(), ours.stdout + ours.stderr
        assert ours.returncode == native.returncode, ours.stdout + ours.stderr
        assert "QEMU start to first module output" in ours.stderr


def test_exit_codes_come_back(booted):
    assert (booted["motd"].returncode, booted["greet"].returncode,
            booted["showcase"].returncode) == (0, 3, 7)
    assert "Bonjour, Grace !" in booted["greet"].stdout.splitlines()
    assert "first line: Notes baked into the image" in booted["showcase"].stdout


@pytest.mark.parametrize("bounds", ["guard", "checked"])
def test_hostile_calls_get_errors_and_trap_nothing(booted, bounds):
    for run in variants(booted, f"hostile-{bounds}"):
        result = booted[run]
        assert result.returncode == 0, \
            f"check {result.returncode} - 100 (200: bare) failed\n{result.stdout}{result.stderr}"
        assert app_lines(result.stdout) == ["ok", "ok", "ok"], result.stdout
        assert "trapped" not in result.stdout


def test_restart_makes_the_wasi_state_afresh(booted):
    for run in variants(booted, "restart"):
        result = booted[run]
        lines = result.stdout.splitlines()
        first = "round 0: restarter one again: fd 4, read 4 '0123', at 4"
        again = "round 1: restarter one again: fd 4, read 4 '0123', at 4"
        assert result.returncode == 42, result.stdout + result.stderr
        assert first in lines and again in lines and "stderr is back" in lines, lines
        restarted = next(i for i, line in enumerate(lines)
                         if line.startswith("[supervisor] restarted"))
        assert lines.index(first) < restarted < lines.index(again)


def test_stdin_reads_typed_lines_until_control_d(booted):
    for run in variants(booted, "stdin"):
        result = booted[run]
        got = [line for line in app_lines(result.stdout) if line.startswith(("got", "end"))]
        assert got == ["got 'first line'", "got 'second'", "got 'third'",
                       "end of input after 3 lines"], result.stdout + result.stderr
        assert result.returncode == 3


def test_kernel_refuses_stdin_beside_a_console_driver(booted):
    result = booted["forged"]
    assert result.exit.failure == "boot", result.output
    assert "the console UART is read for stdin and owned by module console" in result.output


# ---- Grants at build time (no boot) --------------------------------------------------------------

WRITER = ('(module (import "wasi_snapshot_preview1" "fd_write" '
          '(func (param i32 i32 i32 i32) (result i32))) (memory 1) (func (export "_start")))')
READER = ('(module (import "wasi_snapshot_preview1" "fd_read" '
          '(func (param i32 i32 i32 i32) (result i32))) (memory 1) (func (export "_start")))')


def build_error(tmp_path, grants, source, files):
    grant_list = ", ".join(f'"{g}"' for g in grants)
    app = write_appliance(tmp_path / "app", '[appliance]\nname = "nogrant"\n\n[[app]]\n'
                          f'name = "a"\nsource = "{source}"\ngrants = [{grant_list}]\n', files)
    out = tmp_path / "out"
    out.mkdir()
    result = build_py("build", app, "--out", out, "--no-iso")
    assert result.returncode == 1 and list(out.iterdir()) == [], result.stderr
    return result.stderr


def test_fd_write_without_stdout_fails_the_build(tmp_path, tools):
    error = build_error(tmp_path, ["log"], "a.wat", {"a.wat": WRITER})
    assert "AZ-M008" in error and "wasi_snapshot_preview1.fd_write" in error
    assert "capability 'stdout'" in error and "add 'stdout' to its grants" in error


def test_a_c_program_names_the_grant_it_lacks(tmp_path, tools):
    error = build_error(tmp_path, ["args", "env"], "greet.c",
                        {"greet.c": (ROOT / "appliances" / "greet" / "greet.c").read_text()})
    assert "AZ-M008" in error and "wasi_snapshot_preview1.fd_write" in error
    assert "'stdout'" in error


def test_fd_read_names_either_capability(tmp_path, tools):
    error = build_error(tmp_path, ["stdout"], "a.wat", {"a.wat": READER})
    assert "AZ-M008" in error and "wasi_snapshot_preview1.fd_read" in error
    assert "one of the capabilities 'stdin' or 'files'" in error
    assert "add 'stdin' or 'files' to its grants" in error
