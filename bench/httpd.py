#!/usr/bin/env python3
"""appliances/httpd on Azoth against the same httpd.c in a Linux guest, in one run
(docs/performance.md, "HTTP: Azoth against a Linux guest").

    ./build.py bench net [--rounds N] [--seconds S] [--connections C] [--memory MIB]   (root)
    bench/httpd.py ...                  (the same)

Both guests boot in the same QEMU configuration (azoth/qemu.py's base_argv: q35, TCG, the same
CPU model and memory, virtio-net-pci on a tap bridged to a network namespace, azoth/netns.py),
one at a time, in alternation, N rounds:

    azoth   appliances/httpd's httpd.c built to Wasm, with the virtio-net driver and the TCP/IP
            stack module (lwIP) the build adds; static address 10.211.0.2/24
    linux   Debian's kernel (linux-image-amd64's package, azoth/deps.py linux_guest) with an
            initramfs holding only bench/linux_guest/init.c (static: loads the virtio modules,
            configures eth0) and httpd.c built natively (gcc -O2 -static), the same files

For each: QEMU's start to the first HTTP 200 from the namespace (boot to first response), then
wrk from the namespace (1 thread, C keep-alive connections, S seconds, after a 2 s warm-up):
requests/s and the p50 and p99 latency. The table shows medians over the rounds, and the size
of what each boots (kernel + image, kernel + initramfs, both compressed as booted).
"""
import argparse
import gzip
import io
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from azoth import appliance, deps, qemu, signing  # noqa: E402
from azoth.netns import Namespace  # noqa: E402
from azoth.tools import progress  # noqa: E402

HTTPD = ROOT / "appliances" / "httpd"
INIT = ROOT / "bench" / "linux_guest" / "init.c"
WWW = HTTPD / "www"
SITE = {"index.html": WWW / "index.html", "css/site.css": WWW / "css" / "site.css",
        "img/azoth.svg": WWW / "img" / "azoth.svg"}
# Debian's kernel has virtio-pci and virtio-net as modules: these, in dependency order.
MODULES = ["drivers/virtio/virtio.ko", "drivers/virtio/virtio_ring.ko",
           "drivers/virtio/virtio_pci_modern_dev.ko", "drivers/virtio/virtio_pci_legacy_dev.ko",
           "drivers/virtio/virtio_pci.ko", "net/core/failover.ko", "drivers/net/net_failover.ko",
           "drivers/net/virtio_net.ko"]

# Run in the namespace: the first HTTP 200 from the guest, as CLOCK_MONOTONIC (system-wide).
POLLER = """
import socket, sys, time
end = time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    try:
        with socket.create_connection((sys.argv[1], 80), timeout=0.05) as s:
            s.settimeout(5)
            s.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")
            if s.recv(64).startswith(b"HTTP/1.1 200"):
                print(time.monotonic(), flush=True)
                sys.exit(0)
    except OSError:
        time.sleep(0.01)
sys.exit(1)
"""


def azoth_appliance(tmp, memory, address):
    files = "".join(f'\n[[file]]\nhost = "{path}"\nguest = "/www/{guest}"\n'
                    for guest, path in SITE.items())
    directory = tmp / "azoth-httpd"
    directory.mkdir()
    (directory / "appliance.toml").write_text(f"""[appliance]
name = "httpd"
memory = "{memory}M"

[network]
mode = "static"
address = "{address}/24"

[[app]]
name = "httpd"
source = "{HTTPD / 'httpd.c'}"
grants = ["stdout", "args", "files", "tcp-listen:80"]
memory = "16M"
args = ["--root", "/www", "--quiet"]
restart = "on-failure"
{files}""")
    built = appliance.build(directory, iso=False, images=tmp / "images")
    return built.image


def cpio_newc(entries):
    """An initramfs (the kernel's "newc" cpio format): entries are (name, mode, data or
    None, rdev major, rdev minor)."""
    out = io.BytesIO()
    for ino, (name, mode, data, major, minor) in enumerate(entries + [("TRAILER!!!", 0, b"", 0, 0)],
                                                            start=1):
        data = data or b""
        raw = name.encode() + b"\0"
        fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, major, minor, len(raw), 0]
        out.write(b"070701" + b"".join(b"%08X" % f for f in fields) + raw)
        out.write(b"\0" * (-(110 + len(raw)) % 4))
        out.write(data)
        out.write(b"\0" * (-len(data) % 4))
    return out.getvalue()


def linux_guest(tmp):
    """(vmlinuz, initramfs): Debian's kernel and an initramfs with init, httpd and the site."""
    tree = deps.linux_guest()
    vmlinuz = next((tree / "boot").glob("vmlinuz-*"))
    modules = next((tree / "lib" / "modules").iterdir()) / "kernel"
    with progress("building the Linux guest's init and httpd (gcc -O2 -static)"):
        for name, source in (("init", INIT), ("httpd", HTTPD / "httpd.c")):
            subprocess.run(["gcc", "-O2", "-static", "-Wall", "-Wextra", "-Werror", "-o",
                            str(tmp / name), str(source)], check=True)
            subprocess.run(["strip", str(tmp / name)], check=True)
    directory, regular, executable, char = 0o040755, 0o100644, 0o100755, 0o020600
    entries = [("dev", directory, None, 0, 0), ("dev/console", char, None, 5, 1),
               ("lib", directory, None, 0, 0), ("www", directory, None, 0, 0),
               ("www/css", directory, None, 0, 0), ("www/img", directory, None, 0, 0),
               ("init", executable, (tmp / "init").read_bytes(), 0, 0),
               ("httpd", executable, (tmp / "httpd").read_bytes(), 0, 0),
               ("modules", regular, "".join(Path(m).name + "\n" for m in MODULES).encode(), 0, 0)]
    entries += [(f"lib/{Path(m).name}", regular, (modules / m).read_bytes(), 0, 0) for m in MODULES]
    entries += [(f"www/{guest}", regular, path.read_bytes(), 0, 0) for guest, path in SITE.items()]
    initramfs = tmp / "initramfs.gz"
    initramfs.write_bytes(gzip.compress(cpio_newc(entries), 9))
    return vmlinuz, initramfs


class Guest:
    """One boot: QEMU in the background, its console kept, the time to the first 200."""

    def __init__(self, argv, net, timeout):
        self.lines = []
        poller = net.popen("python3", "-c", POLLER, net.appliance_ip, str(timeout))
        self.start = time.monotonic()
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        out = poller.communicate(timeout=timeout + 30)[0]
        if poller.returncode != 0:
            self.stop()
            raise SystemExit("bench/httpd.py: no HTTP answer from the guest; its console:\n" +
                             "\n".join(self.lines[-40:]))
        self.boot_ms = (float(out.strip().splitlines()[-1]) - self.start) * 1000

    def _read(self):
        for raw in self.proc.stdout:
            self.lines.append(qemu.clean_line(raw.decode(errors="replace")))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.reader.join(5)


def seconds_of(text):
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1.0}[unit]


def wrk(net, connections, seconds):
    done = net.run("wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency",
                   f"http://{net.appliance_ip}/", check=False, timeout=seconds + 60)
    text = done.stdout + done.stderr
    rate = re.search(r"Requests/sec:\s+([\d.]+)", text)
    p50 = re.search(r"^\s+50%\s+(\S+)", text, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", text, re.M)
    if not (rate and p50 and p99):
        raise SystemExit(f"bench/httpd.py: wrk said:\n{text}")
    errors = re.search(r"Socket errors: (.*)", text)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return {"rate": float(rate.group(1)), "p50": seconds_of(p50.group(1)),
            "p99": seconds_of(p99.group(1)),
            "errors": (errors.group(1) if errors else "") + (f" non-2xx {non2xx.group(1)}"
                                                             if non2xx else "")}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="boots of each guest (default 3)")
    parser.add_argument("--seconds", type=int, default=10,
                        help="length of each wrk run (default 10)")
    parser.add_argument("--connections", type=int, default=64,
                        help="wrk's keep-alive connections (default 64)")
    parser.add_argument("--memory", type=int, default=256,
                        help="each guest's memory, MiB (default 256)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/httpd.py: a network namespace, tap and bridge need root")
    if not shutil.which("wrk"):
        sys.exit("bench/httpd.py: wrk is missing (./build.py bench net installs it)")
    appliance.make_tools(signing.ensure_key())
    net = Namespace(f"h{os.getpid()}")
    net.down()
    problem = net.up()
    if problem:
        net.down()
        sys.exit(f"bench/httpd.py: {problem}")
    try:
        with tempfile.TemporaryDirectory(prefix="azoth-httpd-bench-") as tmp:
            tmp = Path(tmp)
            image = azoth_appliance(tmp, args.memory, net.appliance_ip)
            vmlinuz, initramfs = linux_guest(tmp)
            network = qemu.network_argv("virtio-net", f"tap:{net.tap}")
            argv = {
                "azoth": qemu.kernel_argv(appliance.KERNEL, image, memory_mib=args.memory,
                                          extra=network),
                "linux": qemu.base_argv(args.memory, extra=network) +
                ["-kernel", str(vmlinuz), "-initrd", str(initramfs), "-append",
                 f"console=ttyS0 quiet no_timer_check azoth_address={net.appliance_ip}/24"],
            }
            sizes = {"azoth": Path(appliance.KERNEL).stat().st_size + Path(image).stat().st_size,
                     "linux": vmlinuz.stat().st_size + initramfs.stat().st_size}
            results = {name: [] for name in argv}
            for round_ in range(args.rounds):
                for name in argv:
                    with progress(f"round {round_ + 1}/{args.rounds}: {name}: boot, then wrk "
                                  f"{args.seconds} s"):
                        guest = Guest(argv[name], net, timeout=180)
                        try:
                            wrk(net, args.connections, 2)
                            figures = wrk(net, args.connections, args.seconds)
                        finally:
                            guest.stop()
                    figures["boot_ms"] = guest.boot_ms
                    results[name].append(figures)
                    print(f"  {name:6} boot to first response {guest.boot_ms:8.0f} ms  "
                          f"{figures['rate']:9.0f} requests/s  p50 {figures['p50'] * 1000:7.2f} ms"
                          f"  p99 {figures['p99'] * 1000:7.2f} ms  {figures['errors']}", flush=True)
    finally:
        net.down()

    def median(name, key):
        return statistics.median(r[key] for r in results[name])
    print(f"\nmedians of {args.rounds} rounds; wrk -t1 -c{args.connections} -d{args.seconds}s "
          f"from a network namespace on a tap; QEMU TCG, {qemu.DEFAULT_CPU}, "
          f"{args.memory} MiB\n")
    print(f"{'':28}{'Azoth':>14}{'Linux guest':>14}{'Azoth/Linux':>14}")
    rows = [("requests/s", "rate", "{:.0f}", 1), ("latency p50 (ms)", "p50", "{:.2f}", 1000),
            ("latency p99 (ms)", "p99", "{:.2f}", 1000),
            ("boot to first response (ms)", "boot_ms", "{:.0f}", 1)]
    for label, key, form, scale in rows:
        a, b = median("azoth", key) * scale, median("linux", key) * scale
        print(f"{label:28}{form.format(a):>14}{form.format(b):>14}{a / b:>14.2f}")
    a, b = sizes["azoth"] / 1024, sizes["linux"] / 1024
    print(f"{'booted size (KiB)':28}{a:>14.0f}{b:>14.0f}{a / b:>14.2f}")
    print("  (Azoth: the kernel ELF + the signed image; Linux: vmlinuz + the gzipped initramfs)")


if __name__ == "__main__":
    main()
