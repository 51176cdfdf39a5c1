#!/usr/bin/env python3
"""Azoth's host tool: from a manifest to a booted, verified appliance.

    ./build.py run appliances/hello      build, boot in QEMU, exit with the appliance's status
    ./build.py build appliances/hello    write images/hello.azi and images/hello.iso
    ./build.py boot images/hello.azi     boot an image already built (--iso: through GRUB)
    ./build.py inspect images/hello.azi  modules, grants, sizes, hashes, signature status
    ./build.py new NAME                  start appliances/NAME from a template
    ./build.py test                      the whole test suite
    ./build.py bench                     benchmarks: native vs Alkahest vs node vs wasm2c
    ./build.py bench net                 appliances/httpd against a Linux guest (root)

Standard library only. Installs missing Debian packages with apt-get when run as root.
"""
import argparse
import os
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from azoth import tools  # noqa: E402
from azoth.errors import AzothError  # noqa: E402

# Exit statuses of build.py itself when the appliance did not give one.
EXIT_ERROR = 1          # bad input or a failed build step (the message says which)
EXIT_BOOT_FAILURE = 125  # the kernel refused the image, panicked, or QEMU failed


def command_build(args):
    from azoth import appliance, disk
    formats = [] if args.no_iso else args.format
    if any(f in disk.FORMATS_NEEDING_TOOLS for f in formats):
        tools.ensure_packages(["disk"])
    if "rpi" in formats:
        tools.ensure_packages(["rpi"])
    # The Pi's SD card is an AArch64 form: it picks that arch unless told otherwise.
    arch = args.arch or ("aarch64" if any(f in disk.AARCH64_FORMATS for f in formats) else None)
    result = appliance.build(args.directory, iso=bool(set(formats) - {"firecracker", "rpi"}),
                             images=args.out, arch=arch,
                             machine="raspi3b" if "rpi" in formats else None)
    allowed = disk.AARCH64_FORMATS if result.manifest.arch != appliance.DEFAULT_ARCH else \
        tuple(f for f in disk.FORMATS if f not in disk.AARCH64_FORMATS)
    wrong = [f for f in formats if f not in allowed] if args.format != ["iso"] else []
    if wrong:
        raise AzothError("AZ-T011", f"--format {','.join(wrong)}: not a form of an "
                         f"{result.manifest.arch} appliance (x86_64: the disks and firecracker "
                         f"boot the x86-64 kernel; aarch64: {', '.join(disk.AARCH64_FORMATS)}, "
                         "or the signed image booted with the kernel, ./build.py boot)")
    formats = [f for f in formats if f in allowed]
    print(result.image)
    manifest = result.manifest
    for path in disk.write_formats(formats, result.iso, result.image, appliance.KERNEL_PVH,
                                   manifest.name, result.image.parent, manifest.memory >> 20,
                                   network=manifest.network != "none",
                                   entropy=any("entropy" in m.capabilities
                                               for m in manifest.modules),
                                   kernel8=appliance.KERNELS["aarch64"]):
        print(path)
    tools.log(f"built {result.manifest.name} in {result.seconds:.2f} s")
    return 0


def formats_argument(text):
    from azoth import disk
    try:
        return disk.parse_formats(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_arch_argument(parser, what, default="the manifest's [appliance] arch, x86_64 if it "
                      "says none"):
    from azoth import manifest
    parser.add_argument("--arch", default=None, choices=manifest.ARCHES, metavar="ARCH",
                        help=f"{what}: {' or '.join(manifest.ARCHES)} (default: {default})")


class _Passthrough:
    """Writes the console's bytes to our stdout as they come, from the kernel's first output on
    (firmware and GRUB output before it is dropped unless -v). Byte for byte: the serial line
    ends each line with CR LF where the guest wrote LF, so when stdout is not a terminal the CR
    is taken back out and a program's output arrives exactly as it wrote it."""
    MARK = b"[athanor]"

    def __init__(self, on_kernel_up):
        self.started = tools.VERBOSE
        self.pending = b""
        self.on_kernel_up = on_kernel_up
        self.translate = not sys.stdout.isatty()
        self.carriage_return = False        # a CR at the end of the last chunk, held back

    def __call__(self, chunk):
        if not self.started:
            self.pending += chunk
            at = self.pending.find(self.MARK)
            if at < 0:
                self.pending = self.pending[-len(self.MARK):]
                return
            self.started, chunk, self.pending = True, self.pending[at:], b""
            self.on_kernel_up()
        if self.translate:
            if self.carriage_return:
                chunk = b"\r" + chunk
            self.carriage_return = chunk.endswith(b"\r")
            if self.carriage_return:
                chunk = chunk[:-1]
            chunk = chunk.replace(b"\r\n", b"\n")
        sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()

    def finish(self):
        if self.carriage_return:
            sys.stdout.buffer.write(b"\r")
            sys.stdout.buffer.flush()


def boot_and_report(image, iso, uefi, memory_mib, build_seconds=None, timeout=None,
                    cmdline="", cpu=None, extra=(), machine="q35", arch="x86_64"):
    """Boots, streams the console to stdout, prints the timing breakdown on stderr and returns
    the appliance's exit code (or EXIT_BOOT_FAILURE). No time limit unless one is given: an
    appliance may serve for as long as it likes, from a terminal or from a script."""
    from azoth import appliance, qemu
    kind = "uefi" if uefi else "bios" if iso else "kernel"
    if timeout is not None and timeout <= 0:
        timeout = None
    firmware = tools.progress("waiting for the UEFI firmware (OVMF, about 10 s)") if uefi else None
    kernel_up = threading.Event()

    def on_kernel_up():
        if firmware:
            firmware.__exit__(None, None, None)
        kernel_up.set()

    passthrough = _Passthrough(on_kernel_up)
    # The serial console reads our stdin (interactive appliances such as echo). Input that is
    # not a terminal (a pipe, a file) is held back until the kernel has set up the UART: bytes
    # QEMU delivered before would be lost when its FIFOs are reset.
    stdin, on_start = None, None
    if sys.stdin is None or not sys.stdin.isatty():
        stdin = subprocess.PIPE

        def on_start(proc):
            def pump():
                # os.read on the descriptor, not sys.stdin's buffered reader: a daemon thread
                # blocked in the reader holds its lock, and Python aborts (SIGABRT, "could not
                # acquire lock ... at interpreter shutdown") when the appliance ends first.
                kernel_up.wait()
                try:
                    fd = sys.stdin.fileno() if sys.stdin else -1
                    while chunk := (os.read(fd, 4096) if fd >= 0 else b""):
                        proc.stdin.write(chunk)
                        proc.stdin.flush()
                    proc.stdin.close()
                except (OSError, ValueError):
                    pass
            threading.Thread(target=pump, daemon=True).start()

    if firmware:
        firmware.__enter__()
    try:
        kernel = appliance.KERNEL_PVH if qemu.booted_through_pvh(machine) else \
            appliance.KERNELS[arch]
        result = qemu.boot(kind, kernel=kernel, image=image, iso=iso, cmdline=cmdline,
                           memory_mib=memory_mib, timeout=timeout,
                           cpu=cpu or qemu.DEFAULT_CPUS[arch], on_chunk=passthrough,
                           on_start=on_start, verbose=tools.VERBOSE, stdin=stdin, extra=extra,
                           machine=machine, arch=arch)
    finally:
        if firmware:
            firmware.__exit__(None, None, None)
        passthrough.finish()
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
    tools.log(f"error: {result.exit}" + (f" after {timeout:g} s (--timeout)"
                                         if result.exit.outcome is qemu.Outcome.TIMEOUT else ""))
    if result.stderr.strip():
        tools.log(result.stderr.strip())
    return EXIT_BOOT_FAILURE


def network(args, device):
    """The QEMU options for --net (and the manifest's network device)."""
    from azoth import qemu
    net = args.net or ("user" if device != "none" or args.forward else "none")
    if net != "none" and device == "none":
        device = "virtio-net"           # --net on an appliance that did not ask for one
    for forward in args.forward or []:
        host, sep, guest = forward.partition(":")
        if not (sep and host.isdigit() and guest.isdigit() and 0 < int(host) < 65536 and
                0 < int(guest) < 65536):
            raise AzothError("AZ-T009", f"--forward {forward!r}: expected HOST:GUEST, two TCP "
                             "ports (8080:80)")
        if not (net == "user" or net.startswith("user,")):
            raise AzothError("AZ-T009", f"--forward {forward!r} needs QEMU's user networking, "
                             f"not --net {net}")
        # the host side listens on the loopback address only
        net += f",hostfwd=tcp:127.0.0.1:{host}-:{guest}"
    try:
        # virt has no PCI functions the kernel finds yet: its devices are on virtio-mmio, as
        # microvm's (docs/ports.md)
        machine = args.machine or "q35"     # before the build: the arch's machine is not known
        return qemu.network_argv(device, net, machine="microvm" if machine == "virt"
                                 else machine)
    except ValueError as e:
        raise AzothError("AZ-T009", str(e)) from None


def machine_for(args, arch):
    """--machine checked against the arch (default: the arch's QEMU machine)."""
    from azoth import qemu
    machine = args.machine or qemu.DEFAULT_MACHINES[arch]
    if qemu.MACHINE_ARCHES[machine] != arch or (arch != "x86_64" and args.iso):
        by_arch = "; ".join(f"{a}: " + ", ".join(m for m, b in qemu.MACHINE_ARCHES.items()
                                                  if b == a)
                            for a in dict.fromkeys(qemu.MACHINE_ARCHES.values()))
        raise AzothError("AZ-T011", f"--machine {machine}{' --iso' if args.iso else ''}: not "
                         f"for an {arch} appliance ({by_arch}; --iso and --uefi on x86_64 "
                         "only, the others boot through -kernel)")
    return machine


def command_run(args):
    from azoth import appliance, qemu
    network(args, "virtio-net")         # a malformed --net or --forward fails before the build
    # --machine names its arch: raspi3b builds for aarch64 as --arch aarch64 would
    machine_arch = qemu.MACHINE_ARCHES[args.machine] if args.machine else None
    result = appliance.build(args.directory, arch=args.arch or
                             (machine_arch if machine_arch != appliance.DEFAULT_ARCH else None),
                             machine=args.machine if machine_arch == (args.arch or machine_arch)
                             else None)
    arch = result.manifest.arch
    args.machine = machine_for(args, arch)
    return boot_and_report(result.image, result.iso if args.iso else None, args.uefi,
                           result.manifest.memory >> 20, result.seconds, args.timeout,
                           args.append, args.cpu, network(args, result.manifest.network),
                           args.machine, arch)


def command_boot(args):
    from azoth import appliance, image as image_module, signing
    path = Path(args.image)
    if not path.is_file():
        raise AzothError("AZ-I002", "no such image", file=path)
    try:
        image = image_module.Image(path.read_bytes(), str(path))
        memory_mib, arch = image.memory_mib, image.arch
    except AzothError:
        memory_mib, arch = 128, None   # the kernel will refuse it and say why
    # The kernel for the machine the image records (--arch: another, to see it refused).
    arch = args.arch or (arch if arch in appliance.KERNELS else appliance.DEFAULT_ARCH)
    appliance.make_tools(signing.ensure_key(), arch)
    args.machine = machine_for(args, arch)
    iso = None
    if args.iso:
        iso = path.with_suffix(".iso")
        appliance.make_iso_cached(path, iso)
    return boot_and_report(path, iso, args.uefi, max(memory_mib, 16), None, args.timeout,
                           args.append, args.cpu, network(args, "none"), args.machine, arch)


def command_inspect(args):
    from azoth import inspect
    return inspect.main(Path(args.image))


def command_new(args):
    from azoth import template
    path = template.create(ROOT / "appliances", args.name, args.lang)
    print(path.relative_to(ROOT))
    return 0


def _bench_module():
    """bench/run.py, which defines the benchmark's options once for both entry points."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("azoth_bench", ROOT / "bench" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BENCH_SUITES = {"net": "httpd.py", "frames": "net.py"}     # more benchmarks, as scripts


def command_bench(args):
    if args.suite in BENCH_SUITES:
        script = ROOT / "bench" / BENCH_SUITES[args.suite]
        return subprocess.run([sys.executable, str(script), *args.suite_args]).returncode
    if args.suite_args:
        raise AzothError("AZ-T007", f"bench: unexpected {' '.join(args.suite_args)}")
    try:
        return _bench_module().run_benchmarks(args)
    except ValueError as e:
        raise AzothError("AZ-T007", f"bench: {e}") from None


MAX_TEST_JOBS = 4     # QEMU under TCG takes a core per boot; more would only stretch timeouts


def default_test_jobs():
    return max(1, min(len(os.sched_getaffinity(0)), MAX_TEST_JOBS))


def test_argv(args):
    """pytest's command line: only the PATHs asked for (else tests/), -k, -x, the rest as is."""
    targets = []
    for target in args.paths:
        path, sep, node = target.partition("::")
        resolved = Path(path).resolve()
        if not resolved.exists():
            raise AzothError("AZ-T006", f"no such test file or folder: {path}")
        targets.append(str(resolved) + sep + node)
    argv = ["/usr/bin/python3", "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
            *(targets or [str(ROOT / "tests")])]
    if args.jobs > 1:
        # pytest-xdist: a file's tests stay on one worker (they share its module fixtures).
        argv += ["-n", str(args.jobs), "--dist", "loadfile"]
    if args.k:
        argv += ["-k", args.k]
    if args.exitfirst:
        argv.append("-x")
    return argv + args.pytest_args


def command_test(args):
    tools.ensure_packages(tools.TEST_GROUPS)
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    if args.long:
        env["AZOTH_LONG"] = "1"         # tests/conftest.py: long_run()
    argv = test_argv(args)
    if tools.VERBOSE:
        print("+ " + " ".join(argv), file=sys.stderr)
    return os.spawnve(os.P_WAIT, argv[0], argv, env)


def main(argv=None):
    from azoth import qemu
    parser = argparse.ArgumentParser(prog="build.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="print the commands run")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("build", help="build images/NAME.azi and images/NAME.iso (or other "
                       "forms: --format)")
    p.add_argument("directory", help="the appliance's folder (it holds appliance.toml)")
    p.add_argument("--format", type=formats_argument, default=["iso"], metavar="LIST",
                   help="what to write besides the signed image, comma-separated: iso "
                   "(default), raw, qcow2, vmdk, vhd, gce, firecracker; rpi (a Raspberry Pi 3 "
                   "SD card, AArch64: implies --arch aarch64) (docs/deploy.md)")
    p.add_argument("--no-iso", action="store_true", help="write the signed image only")
    p.add_argument("--out", help="write the image and the other forms here instead of images/")
    add_arch_argument(p, "the machine to build for")
    p.set_defaults(func=command_build, needs=["build"])

    for name, func, target in (("run", command_run, "directory"), ("boot", command_boot, "image")):
        p = sub.add_parser(name, help="build and boot" if name == "run" else "boot an image")
        p.add_argument(target, help="the appliance's folder (it holds appliance.toml)"
                       if name == "run" else "an image built before (images/NAME.azi)")
        p.add_argument("--iso", action="store_true", help="boot the GRUB ISO instead of -kernel")
        p.add_argument("--uefi", action="store_true", help="with --iso: boot under OVMF (UEFI)")
        p.add_argument("--timeout", type=float, default=None, metavar="S",
                       help="stop QEMU after S seconds and exit 125 (default: no limit)")
        p.add_argument("--append", default="", metavar="TEXT",
                       help="extra kernel command line (docs/boot.md)")
        p.add_argument("--cpu", default=None, metavar="MODEL", help="QEMU CPU model (default: "
                       "max on x86-64, where qemu64 lacks SSE4.1, POPCNT and LZCNT; cortex-a72 "
                       "on AArch64, or cortex-a53)")
        p.add_argument("--machine", default=None, choices=tuple(qemu.MACHINE_ARCHES),
                       metavar="M", help="QEMU machine: q35 (x86-64's default), pc (i440FX, "
                       "PCI configuration through ports only) or microvm (no PCI: virtio-mmio "
                       "devices, booted through PVH as Firecracker boots); virt (AArch64's "
                       "default) or raspi3b (the Raspberry Pi 3 Model B: the same kernel, the "
                       "board's device tree; implies --arch aarch64)")
        if name == "run":
            add_arch_argument(p, "the machine to build for and boot")
        else:
            add_arch_argument(p, "the kernel to boot", "the machine the image records")
        p.add_argument("--net", default=None, metavar="SPEC",
                       help="the network device's other end, when the manifest asks for one "
                       "([appliance] network) or here: user (default; user,hostfwd=...), "
                       "tap:NAME, none")
        p.add_argument("--forward", action="append", metavar="HOST:GUEST",
                       help="user networking: forward TCP port HOST of 127.0.0.1 to the "
                       "appliance's port GUEST (8080:80); may be given several times")
        p.set_defaults(func=func, needs=["build", "boot"])

    p = sub.add_parser("inspect", help="print an image's modules, hashes and signature status")
    p.add_argument("image", help="the image (images/NAME.azi)")
    p.set_defaults(func=command_inspect, needs=["build"])

    from azoth import template
    p = sub.add_parser("new", help="create appliances/NAME from a template",
                       description="Creates appliances/NAME: a program in LANG that reads its "
                       "args, its environment and a file, ready to build and run.")
    p.add_argument("name", help="the appliance's name (a-z, 0-9, _ or -, starting with a letter)")
    p.add_argument("--lang", default=template.DEFAULT_LANGUAGE, choices=template.languages(),
                   help=f"the program's language (default {template.DEFAULT_LANGUAGE}; "
                   "manifest/README.md, Languages)")
    p.set_defaults(func=command_new, needs=[])

    p = sub.add_parser("bench", help="run the benchmarks (docs/performance.md)",
                       description="Benchmarks: C programs native vs Alkahest (both bounds "
                       "modes) vs node vs wasm2c, compile throughput, boot times.")
    p.add_argument("suite", nargs="?", default="programs", choices=["programs", *BENCH_SUITES],
                   help="programs (the default: the options below), net (appliances/httpd "
                   "against the same server in a Linux guest: bench/httpd.py, root) or frames "
                   "(the virtio-net driver's frame rates: bench/net.py, root); net and frames "
                   "take their own options after the name (--help)")
    p.add_argument("suite_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    _bench_module().add_arguments(p)
    p.set_defaults(func=command_bench, needs=["build", "opt", "boot", "test", "bench", "cross"])

    p = sub.add_parser("test", help="run the test suite, or only the PATHs / -k asked for",
                       description="Runs the test suite with pytest (Debian's python3-pytest): "
                       "every file of tests/, or only the PATHs given. Options pytest knows "
                       "that are not listed here pass through to it.")
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="a test file or folder, or FILE::TEST (default: all of tests/)")
    p.add_argument("-k", metavar="EXPR", help="only tests whose name matches EXPR (pytest -k)")
    p.add_argument("-x", "--exitfirst", action="store_true", help="stop at the first failure")
    p.add_argument("-j", "--jobs", type=int, default=default_test_jobs(), metavar="N",
                   help="test files run at once, in N processes (pytest-xdist; default: "
                   f"{default_test_jobs()}, one per core up to {MAX_TEST_JOBS}; 1: in this process)")
    p.add_argument("--long", action="store_true",
                   help="also the long runs (AZOTH_LONG=1): the spec testsuite with lines on "
                   "every target, the longer fuzzing campaigns (the compiler's, 5 minutes of "
                   "the TCP/IP stack's input path), 20 MiB over the impaired link, hostile "
                   "traffic in QEMU (20 s of each kind), the network tests in both bounds modes")
    p.set_defaults(func=command_test, needs=[])

    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "test":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.pytest_args = extra
    tools.VERBOSE = args.verbose
    try:
        if args.needs:
            tools.ensure_packages(args.needs)
        if getattr(args, "uefi", False) and not args.iso:
            args.iso = True
        if getattr(args, "iso", False) and getattr(args, "machine", None) in ("microvm", "virt"):
            parser.error(f"--machine {args.machine} boots the kernel directly (PVH, -kernel): "
                         "no --iso or --uefi")
        return args.func(args)
    except AzothError as e:
        print(e, file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
