"""Running external tools, and making sure the Debian packages they come from are installed."""
import contextlib
import fcntl
import os
import shlex
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from .errors import AzothError

VERBOSE = False

# Debian package -> a file whose presence shows it is installed (checking files is much faster
# than asking dpkg). Grouped by what needs them.
PACKAGES = {
    "build": {
        "wabt": "/usr/bin/wat2wasm",
        "binaryen": "/usr/bin/wasm-opt",
        "clang": "/usr/bin/clang",
        "lld": "/usr/bin/wasm-ld",
        "wasi-libc": "/usr/include/wasm32-wasi/stdio.h",
        "libclang-rt-14-dev-wasm32": "/usr/lib/llvm-14/lib/clang/14.0.6/lib/wasi",
        "openssl": "/usr/bin/openssl",
        "make": "/usr/bin/make",
        "gcc": "/usr/bin/gcc",
        "grub-common": "/usr/bin/grub-mkrescue",
        "grub-pc-bin": "/usr/lib/grub/i386-pc",
        "grub-efi-amd64-bin": "/usr/lib/grub/x86_64-efi",
        "xorriso": "/usr/bin/xorriso",
        "mtools": "/usr/bin/mformat",
    },
    # The optimizing tier (alkahest/build/alkahest-opt.so), for modules with opt = "speed".
    "opt": {
        "llvm-19-dev": "/usr/bin/llvm-config-19",
    },
    "boot": {
        "qemu-system-x86": "/usr/bin/qemu-system-x86_64",
        "ovmf": "/usr/share/OVMF/OVMF_CODE.fd",
    },
    "aarch64": {                 # the kernel for AArch64 (make -C athanor ARCH=aarch64) and its QEMU
        "gcc-aarch64-linux-gnu": "/usr/bin/aarch64-linux-gnu-gcc",
        "qemu-system-arm": "/usr/bin/qemu-system-aarch64",
    },
    "test": {
        "python3-pytest": "/usr/lib/python3/dist-packages/pytest",
        "python3-pytest-xdist": "/usr/lib/python3/dist-packages/xdist",   # ./build.py test -j
        "libclang-rt-14-dev": "/usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.fuzzer-x86_64.a",
        "nodejs": "/usr/bin/node",
        "valgrind": "/usr/bin/valgrind",
        "device-tree-compiler": "/usr/bin/dtc",  # tests/test_aarch64.py: trees edited as text
        "iproute2": "/usr/sbin/ip",              # tests/test_net_ping.py: namespace, tap, bridge
        "iputils-ping": "/usr/bin/ping",
        "curl": "/usr/bin/curl",                 # tests/test_net_*.py: clients of httpd
        "apache2-utils": "/usr/bin/ab",
        "wrk": "/usr/bin/wrk",                   # ./build.py bench net
    },
    # Languages beyond C and WAT (azoth/sources.py), installed when a module needs them.
    "cpp": {
        "libc++-14-dev-wasm32": "/usr/lib/llvm-14/lib/wasm32-wasi/libc++.a",
        "libc++abi-14-dev-wasm32": "/usr/lib/llvm-14/lib/wasm32-wasi/libc++abi.a",
    },
    "rust": {
        "rustc": "/usr/bin/rustc",
        "libstd-rust-dev-wasm32": "/usr/lib/rustlib/wasm32-wasi/lib",
        "cargo": "/usr/bin/cargo",
    },
    "as": {                      # AssemblyScript itself comes from npm (azoth/sources.py)
        "nodejs": "/usr/bin/node",
        "npm": "/usr/bin/npm",
    },
    "cross": {                   # AArch64 without ARM hardware: the CLI cross-built, run by QEMU
        "gcc-aarch64-linux-gnu": "/usr/bin/aarch64-linux-gnu-gcc",
        "libc6-dev-arm64-cross": "/usr/aarch64-linux-gnu/lib/libc.a",
        "binutils-aarch64-linux-gnu": "/usr/bin/aarch64-linux-gnu-objdump",
        "qemu-user": "/usr/bin/qemu-aarch64",
    },
    "disk": {                    # ./build.py build --format qcow2,vmdk,vhd (azoth/disk.py)
        "qemu-utils": "/usr/bin/qemu-img",
    },
    "rpi": {                     # ./build.py build --format rpi: the SD card's FAT32 partition
        "dosfstools": "/usr/sbin/mkfs.fat",
        "mtools": "/usr/bin/mcopy",
    },
    "bench": {                   # bench/run.py: wasm2c is WABT's; SQLite comes through npm
        "nodejs": "/usr/bin/node",
        "npm": "/usr/bin/npm",
        "wabt": "/usr/bin/wasm2c",
        "libc6-dev": "/usr/include/stdio.h",
    },
}
# What `./build.py test` installs: everything a test may use.
TEST_GROUPS = ["build", "opt", "boot", "aarch64", "test", "cpp", "rust", "as", "cross", "disk",
               "rpi"]


def log(message):
    print(f"[build] {message}", file=sys.stderr, flush=True)


class progress:
    """`with progress("building the kernel"):` a step that may take a while. On a terminal, once
    it has run for a second, one line says what it is doing and, when it ends, how long it took;
    quick steps, and every step when stderr is not a terminal, print nothing."""
    DELAY = 1.0

    def __init__(self, message):
        self.message = message
        self.shown = False
        self.lock = threading.Lock()
        self.timer = None

    def _show(self):
        with self.lock:
            if self.timer is not None:
                self.shown = True
                sys.stderr.write(f"[build] {self.message} ...")
                sys.stderr.flush()

    def __enter__(self):
        self.started = time.monotonic()
        if sys.stderr.isatty() and not VERBOSE:
            self.timer = threading.Timer(self.DELAY, self._show)
            self.timer.daemon = True
            self.timer.start()
        return self

    def __exit__(self, kind, value, traceback):
        with self.lock:
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None
            if self.shown:             # (once: a step may be ended early, then again)
                self.shown = False
                outcome = "failed" if kind else "done"
                sys.stderr.write(f" {outcome} in {time.monotonic() - self.started:.1f} s\n")
                sys.stderr.flush()
        return False


def missing_packages(groups):
    missing = [pkg for group in groups for pkg, probe in PACKAGES[group].items()
               if not os.path.exists(probe)]
    return list(dict.fromkeys(missing))


def ensure_packages(groups):
    """Installs what is missing through apt-get when root; otherwise says what to run."""
    missing = missing_packages(groups)
    if not missing:
        return
    command = ["apt-get", "install", "-y", "--no-install-recommends", *missing]
    if os.geteuid() != 0:
        raise AzothError("AZ-T001", "missing Debian packages: " + " ".join(missing),
                         detail="run: sudo " + shlex.join(command))
    log("installing " + " ".join(missing))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    update = subprocess.run(["apt-get", "update", "-qq"], env=env)
    result = subprocess.run(command, env=env, stdout=sys.stderr) if update.returncode == 0 else update
    still = missing_packages(groups)
    if result.returncode != 0 or still:
        raise AzothError("AZ-T002", "apt-get could not install: " + " ".join(still or missing))


def run(argv, capture=False, log=None, cwd=None, check=True, input=None, env=None):
    """Runs a command; prints it first with -v. A failure raises AzothError with its output."""
    argv = [str(a) for a in argv]
    if VERBOSE:
        print("+ " + shlex.join(argv), file=sys.stderr, flush=True)
    if not shutil.which(argv[0]) and not os.path.exists(argv[0]):
        raise AzothError("AZ-T003", f"{argv[0]}: command not found")
    result = subprocess.run(argv, cwd=cwd, input=input, env=env,
                            stdout=subprocess.PIPE if capture or not VERBOSE else None,
                            stderr=subprocess.PIPE if capture or not VERBOSE else None)
    if check and result.returncode != 0:
        output = b""
        if result.stdout:
            output += result.stdout if capture is False else b""
        if result.stderr:
            output += result.stderr
        raise AzothError("AZ-T005", f"{Path(argv[0]).name} failed (exit {result.returncode})",
                         detail=output.decode(errors="replace"))
    return result


LOCKS = Path(__file__).resolve().parent.parent / "build" / "locks"


@contextlib.contextmanager
def locked(name):
    """Holds build/locks/NAME.lock exclusively while the block runs: two build.py processes of one
    checkout (the tests run in parallel) never run make in one folder, nor build one appliance, at
    once. The lock goes with the process, however it ends."""
    LOCKS.mkdir(parents=True, exist_ok=True)
    with open(LOCKS / f"{name}.lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def atomic_write(path, data):
    """Writes via a temporary file in the same folder and renames: never a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
