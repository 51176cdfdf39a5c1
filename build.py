#!/usr/bin/env python3
"""Azoth's host tool: from a manifest to a booted, verified appliance.

    ./build.py run appliances/hello      build, boot in QEMU, exit with the appliance's status
    ./build.py build appliances/hello    write images/hello.azi and images/hello.iso
    ./build.py boot images/hello.azi     boot an image already built (--iso: through GRUB)
    ./build.py inspect images/hello.azi  modules, grants, sizes, hashes, signature status
    ./build.py new NAME                  start appliances/NAME from a template
    ./build.py test                      the whole test suite
    ./build.py bench                     benchmarks: native vs Alkahest vs node vs wasm2c

Standard library only. Installs missing Debian packages with apt-get when run as root.
"""
import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from azoth import tools  # noqa: E402
from azoth.errors import AzothError  # noqa: E402

# Exit statuses of build.py itself when the appliance did not give one.
EXIT_ERROR = 1          # bad input or a failed build step (the message says which)
EXIT_BOOT_FAILURE = 125  # the kernel refused the image, panicked, or QEMU failed


def command_build(args):
    from azoth import appliance
    result = appliance.build(args.directory, iso=not args.no_iso, images=args.out)
    print(f"{result.image}" + ("" if args.no_iso else f"\n{result.iso}"))
    tools.log(f"built {result.manifest.name} in {result.seconds:.2f} s")
    return 0


class _Passthrough:
    """Writes the console's bytes to our stdout as they come, from the kernel's first output
    on (firmware and GRUB output before it is dropped unless -v)."""
    MARK = b"[athanor]"

    def __init__(self):
        self.started = tools.VERBOSE
        self.pending = b""

    def __call__(self, chunk):
        if not self.started:
            self.pending += chunk
            at = self.pending.find(self.MARK)
            if at < 0:
                self.pending = self.pending[-len(self.MARK):]
                return
            self.started, chunk, self.pending = True, self.pending[at:], b""
        sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()


def boot_and_report(image, iso, uefi, memory_mib, build_seconds=None, timeout=None,
                    cmdline="", cpu=None):
    """Boots, streams the console to stdout, prints the timing breakdown on stderr and returns
    the appliance's exit code (or EXIT_BOOT_FAILURE)."""
    from azoth import appliance, qemu
    kind = "uefi" if uefi else "bios" if iso else "kernel"
    started = False

    def show(raw):
        # Firmware and GRUB paint the screen first: show the console from the kernel's first line.
        nonlocal started
        text = qemu.clean_line(raw)
        started = started or text.startswith(qemu.KERNEL_PREFIX)
        if started or tools.VERBOSE:
            print(text, flush=True)

    # At a terminal the console passes through byte by byte (what is typed is echoed by the
    # appliance before the line ends), from the kernel's first output on.
    passthrough = _Passthrough() if sys.stdout.isatty() else None

    # The serial console reads our stdin (interactive appliances such as echo). At a terminal
    # there is no time limit unless one is asked for; otherwise the default one.
    if timeout is None:
        timeout = None if sys.stdin is not None and sys.stdin.isatty() else qemu.DEFAULT_TIMEOUT
    elif timeout <= 0:
        timeout = None
    # Input that is not a terminal (a pipe, a file) is held back until the kernel has set up
    # the UART: bytes QEMU delivered before would be lost when its FIFOs are reset.
    stdin, on_start, kernel_up = None, None, threading.Event()
    if sys.stdin is None or not sys.stdin.isatty():
        stdin = subprocess.PIPE

        def on_start(proc):
            def pump():
                kernel_up.wait()
                try:
                    while chunk := (sys.stdin.buffer.read1(4096) if sys.stdin else b""):
                        proc.stdin.write(chunk)
                        proc.stdin.flush()
                    proc.stdin.close()
                except (OSError, ValueError):
                    pass
            threading.Thread(target=pump, daemon=True).start()

    def on_line(raw):
        if qemu.clean_line(raw).startswith(qemu.KERNEL_PREFIX):
            kernel_up.set()
        if not passthrough:
            show(raw)

    def on_chunk(chunk):
        passthrough(chunk)
        if passthrough.started:
            kernel_up.set()

    result = qemu.boot(kind, kernel=appliance.KERNEL, image=image, iso=iso, cmdline=cmdline,
                       memory_mib=memory_mib, timeout=timeout, cpu=cpu or qemu.DEFAULT_CPU,
                       on_line=on_line, on_chunk=on_chunk if passthrough else None,
                       on_start=on_start, verbose=tools.VERBOSE, stdin=stdin)
    parts = []
    if build_seconds is not None:
        parts.append(f"build {build_seconds:.2f} s")
    first = result.first_appliance_line
    if first is not None:
        parts.append(f"QEMU start to first module output {first.time:.3f} s")
    parts.append(f"QEMU total {result.elapsed:.2f} s ({kind})")
    tools.log(", ".join(parts))
    if result.exit.outcome is qemu.Outcome.EXIT:
        return result.exit.code
    tools.log(f"error: {result.exit}")
    if result.stderr.strip():
        tools.log(result.stderr.strip())
    return EXIT_BOOT_FAILURE


def command_run(args):
    from azoth import appliance
    result = appliance.build(args.directory)
    return boot_and_report(result.image, result.iso if args.iso else None, args.uefi,
                           result.manifest.memory >> 20, result.seconds, args.timeout,
                           args.append, args.cpu)


def command_boot(args):
    from azoth import appliance, image as image_module, signing
    path = Path(args.image)
    if not path.is_file():
        raise AzothError("AZ-I002", "no such image", file=path)
    appliance.make_tools(signing.ensure_key())
    try:
        memory_mib = image_module.Image(path.read_bytes(), str(path)).memory_mib
    except AzothError:
        memory_mib = 128   # the kernel will refuse it and say why
    iso = None
    if args.iso:
        iso = path.with_suffix(".iso")
        appliance.make_iso_cached(path, iso)
    return boot_and_report(path, iso, args.uefi, max(memory_mib, 16), None, args.timeout,
                           args.append, args.cpu)


def command_inspect(args):
    from azoth import inspect
    return inspect.main(Path(args.image))


def command_new(args):
    from azoth import template
    path = template.create(ROOT / "appliances", args.name)
    print(path.relative_to(ROOT))
    return 0


def command_bench(args):
    argv = [sys.executable, str(ROOT / "bench" / "run.py"), *args.bench_args]
    if tools.VERBOSE:
        print("+ " + " ".join(argv), file=sys.stderr)
    return os.spawnv(os.P_WAIT, argv[0], argv)


def command_test(args):
    tools.ensure_packages(["build", "boot", "test"])
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    argv = ["/usr/bin/python3", "-m", "pytest", "-q", "-p", "no:cacheprovider",
            str(ROOT / "tests"), *args.pytest_args]
    if tools.VERBOSE:
        print("+ " + " ".join(argv), file=sys.stderr)
    return os.spawnve(os.P_WAIT, argv[0], argv, env)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="build.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="print the commands run")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("build", help="build images/NAME.azi and images/NAME.iso")
    p.add_argument("directory")
    p.add_argument("--no-iso", action="store_true", help="skip the GRUB ISO")
    p.add_argument("--out", help="write the image and ISO here instead of images/")
    p.set_defaults(func=command_build, needs=["build"])

    for name, func, target in (("run", command_run, "directory"), ("boot", command_boot, "image")):
        p = sub.add_parser(name, help="build and boot" if name == "run" else "boot an image")
        p.add_argument(target)
        p.add_argument("--iso", action="store_true", help="boot the GRUB ISO instead of -kernel")
        p.add_argument("--uefi", action="store_true", help="with --iso: boot under OVMF (UEFI)")
        p.add_argument("--timeout", type=float, default=None,
                       help="seconds (default: 60, none when stdin is a terminal; 0: none)")
        p.add_argument("--append", default="", help="extra kernel command line")
        p.add_argument("--cpu", default=None, help="QEMU CPU model (default: max; qemu64 lacks "
                       "SSE4.1, POPCNT and LZCNT)")
        p.set_defaults(func=func, needs=["build", "boot"])

    p = sub.add_parser("inspect", help="print an image's modules, hashes and signature status")
    p.add_argument("image")
    p.set_defaults(func=command_inspect, needs=["build"])

    p = sub.add_parser("new", help="create appliances/NAME from a template")
    p.add_argument("name")
    p.set_defaults(func=command_new, needs=[])

    p = sub.add_parser("bench", help="run the benchmarks (extra arguments go to bench/run.py)")
    p.set_defaults(func=command_bench, needs=["build", "boot", "test"])

    p = sub.add_parser("test", help="run the test suite (extra arguments go to pytest)")
    p.set_defaults(func=command_test, needs=[])

    args, extra = parser.parse_known_args(argv)
    if extra and args.command not in ("bench", "test"):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.bench_args = args.pytest_args = extra
    tools.VERBOSE = args.verbose
    try:
        if args.needs:
            tools.ensure_packages(args.needs)
        if getattr(args, "uefi", False) and not args.iso:
            args.iso = True
        return args.func(args)
    except AzothError as e:
        print(e, file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
