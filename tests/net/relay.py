"""An impaired link of our own: a relay between QEMU's socket netdev (Ethernet frames as UDP
datagrams on the loopback) and a tap device, which drops, duplicates and reorders frames both
ways (the kernel here has no netem). tests/test_net_impaired.py runs a transfer through it.

    relay = Relay("aztap123", drop=0.02, duplicate=0.02, reorder=0.02, seed=1)
    argv = relay.qemu_argv()         # -netdev socket,udp=...,localaddr=... -device virtio-net-pci
    relay.start(); ...; relay.stop(); relay.counts
"""
import fcntl
import os
import random
import select
import socket
import struct
import threading

TUNSETIFF = 0x400454CA
IFF_TAP, IFF_NO_PI = 0x0002, 0x1000


class Relay:
    def __init__(self, tap, drop=0.0, duplicate=0.0, reorder=0.0, seed=1):
        self.tap_name = tap
        self.drop, self.duplicate, self.reorder = drop, duplicate, reorder
        self.rng = random.Random(seed)
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.port = self.udp.getsockname()[1]
        self.qemu_port = None
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            self.qemu_port = probe.getsockname()[1]
        self.counts = {"frames": 0, "dropped": 0, "duplicated": 0, "reordered": 0}
        self.held = {}                   # direction -> a frame held back (reordering)
        self.running = False

    def qemu_argv(self):
        return ["-netdev", f"socket,id=net0,udp=127.0.0.1:{self.port},"
                f"localaddr=127.0.0.1:{self.qemu_port}",
                "-device", "virtio-net-pci,disable-legacy=on,netdev=net0"]

    def _open_tap(self):
        fd = os.open("/dev/net/tun", os.O_RDWR)
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", self.tap_name.encode(), IFF_TAP | IFF_NO_PI))
        return fd

    def _impair(self, direction, frame, send):
        self.counts["frames"] += 1
        r = self.rng.random()
        if r < self.drop:
            self.counts["dropped"] += 1
            return
        out = [frame]
        if r < self.drop + self.duplicate:
            self.counts["duplicated"] += 1
            out.append(frame)
        elif r < self.drop + self.duplicate + self.reorder and direction not in self.held:
            self.counts["reordered"] += 1
            self.held[direction] = frame      # goes after the next frame this way
            return
        for f in out:
            send(f)
        late = self.held.pop(direction, None)
        if late is not None:
            send(late)

    def _loop(self):
        tap = self._open_tap()
        to_qemu = lambda f: self.udp.sendto(f, ("127.0.0.1", self.qemu_port))   # noqa: E731
        to_tap = lambda f: os.write(tap, f)                                     # noqa: E731
        try:
            while self.running:
                ready, _, _ = select.select([tap, self.udp], [], [], 0.2)
                if tap in ready:
                    self._impair("in", os.read(tap, 65536), to_qemu)
                if self.udp in ready:
                    frame, _ = self.udp.recvfrom(65536)
                    self._impair("out", frame, to_tap)
                if not ready:                 # nothing came: let what is held go
                    for direction, send in (("in", to_qemu), ("out", to_tap)):
                        late = self.held.pop(direction, None)
                        if late is not None:
                            send(late)
        finally:
            os.close(tap)

    def start(self):
        self.running = True
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def stop(self):
        self.running = False
        self.thread.join(5)
        self.udp.close()
