"""Shared by the TCP/IP tests (tests/test_net_*.py): appliances around appliances/httpd (the build
adds the virtio-net driver and the stack), booted in the background while clients on the host
or in a network namespace talk to them.

    httpd(tmp, name, bounds=..., network=..., files=...)    an httpd appliance; returns its folder
    Running(directory, tools, net=...)                     context manager: boots it, waits for
                                                           the stack's address and httpd, then
                                                           .lines(), .text(), .stop() -> result
    free_port()
"""
import socket
import subprocess
import threading
import time

from conftest import ROOT, long_run, write_appliance
from azoth import qemu

HTTPD = ROOT / "appliances" / "httpd" / "httpd.c"
WWW = ROOT / "appliances" / "httpd" / "www"
SITE = {"/www/index.html": WWW / "index.html", "/www/css/site.css": WWW / "css" / "site.css",
        "/www/img/azoth.svg": WWW / "img" / "azoth.svg"}
LONG = long_run()     # ./build.py test --long: the long versions
# The tests too long to run twice in the default suite run in guard mode there, in both with --long
# (the attack tests and the short ones run in both always).
LONG_BOUNDS = ("guard", "checked") if LONG else ("guard",)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def httpd(tmp, name, bounds="guard", network='mode = "dhcp"', files=None, memory="128M"):
    """An httpd appliance serving `files` ({guest path: host path or bytes}; the site's three by
    default) with [network] `network` (TOML lines)."""
    files = dict(SITE if files is None else files)
    extra_files, listed = {}, ""
    for i, (guest, host) in enumerate(sorted(files.items())):
        if isinstance(host, bytes):
            extra_files[f"file{i}.bin"] = host
            host = f"file{i}.bin"
        listed += f'\n[[file]]\nhost = "{host}"\nguest = "{guest}"\n'
    text = f"""[appliance]
name = "{name}"
bounds = "{bounds}"
memory = "{memory}"

[network]
{network}

[[app]]
name = "httpd"
source = "{HTTPD}"
grants = ["stdout", "args", "files", "tcp-listen:80"]
memory = "64M"
args = ["--root", "/www"]
restart = "on-failure"
{listed}"""
    return write_appliance(tmp / name, text, extra_files)


class Running:
    """Boots an appliance in a thread; entering waits until the stack has an address and httpd
    serves (or the boot ended). stop() ends QEMU and returns qemu.boot's result."""

    def __init__(self, directory, tools, net="user", timeout=300, ready=("[net] up:", "httpd: serving"),
                 netdev=None, boot=None):
        self.directory, self.tools, self.net, self.timeout = directory, tools, net, timeout
        self.netdev = netdev            # QEMU options instead of network_argv(net)
        # boot(built, **qemu.boot's keywords) -> RunResult, instead of the kernel on q35: another
        # machine, or a disk image under firmware (tests/test_net_deploy.py)
        self.boot = boot
        self.ready_marks = ready
        self.seen = []
        self.ready = threading.Event()
        self.proc = None
        self.result = None

    def _on_line(self, raw):
        line = qemu.clean_line(raw)
        self.seen.append(line)
        if all(any(m in l for l in self.seen) for m in self.ready_marks):
            self.ready.set()

    def _run(self):
        common = dict(memory_mib=self.built.manifest.memory >> 20, timeout=self.timeout,
                      on_line=self._on_line, on_start=lambda p: setattr(self, "proc", p))
        try:
            if self.boot:
                self.result = self.boot(self.built, **common)
            else:
                self.result = qemu.boot("kernel", kernel=self.tools.KERNEL, image=self.built.image,
                                        extra=self.netdev or qemu.network_argv("virtio-net",
                                                                               self.net),
                                        **common)
        finally:
            self.ready.set()

    def __enter__(self):
        out = self.directory / "images"
        out.mkdir(exist_ok=True)
        self.built = self.tools.build(self.directory, iso=False, images=out)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.ready.wait(120)
        assert self.result is None, "the appliance ended before serving:\n" + self.text()[-3000:]
        assert self.ready.is_set(), "not serving after 120 s:\n" + self.text()[-3000:]
        return self

    def lines(self):
        return list(self.seen)

    def text(self):
        return "\n".join(self.seen)

    def wait_for(self, mark, timeout=60):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if any(mark in line for line in self.seen):
                return True
            time.sleep(0.05)
        return False

    def wait_for_count(self, mark, count, timeout=60):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if sum(mark in line for line in self.seen) >= count:
                return True
            time.sleep(0.05)
        return False

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
        self.thread.join(30)
        return self.result

    def __exit__(self, *exc):
        self.stop()
        return False


def curl(url, *args, timeout=60):
    return subprocess.run(["curl", "-s", "-S", "--max-time", str(timeout), *args, url],
                          capture_output=True, timeout=timeout + 10)
