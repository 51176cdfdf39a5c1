#!/usr/bin/env python3
"""Frame rates of the virtio-net driver in Wasm under QEMU TCG (docs/performance.md, "Frames").

    bench/net.py [--seconds S] [--size BYTES] [--machine q35|pc]     (root: a network namespace)

Boots appliances/netdump on a tap bridged to a network namespace (azoth/netns.py) and measures:
    echo     a flood ping from the namespace (ping -f): echo requests in, replies out, per second
    in       frames a raw socket in the namespace sends as fast as it can (ethertype 0x88b5):
             how many netdump counted per second, and how many the driver dropped
    out      netdump --blast: frames the appliance sends as fast as the driver takes them, as a
             raw socket in the namespace counted them per second
Figures go to docs/performance.md by hand, with the machine.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from azoth import appliance, qemu, signing  # noqa: E402
from azoth.netns import Namespace  # noqa: E402

ETHERTYPE = 0x88b5
# A raw-socket sender and counter, run in the namespace (python3, standard library).
SENDER = """
import socket, struct, sys, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
frame = b"\\xff" * 6 + s.getsockname()[4][:6] + struct.pack("!H", 0x88b5) + bytes(int(sys.argv[3]) - 14)
end, sent = time.monotonic() + float(sys.argv[2]), 0
while time.monotonic() < end:
    for _ in range(64):
        try:
            s.send(frame); sent += 1
        except OSError:
            time.sleep(0.0001)
print(sent)
"""
COUNTER = """
import socket, sys, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x88b5))
s.bind((sys.argv[1], 0))
s.settimeout(0.5)
print("ready", flush=True)
count, first, last = 0, None, None
deadline = time.monotonic() + float(sys.argv[2])
while time.monotonic() < deadline:
    try:
        s.recv(2048)
    except socket.timeout:
        if count:
            break
        continue
    now = time.monotonic()
    first = first or now
    last, count = now, count + 1
print(count, (last - first) if count > 1 else 0)
"""


def write_appliance(directory, args):
    text = (ROOT / "appliances" / "netdump" / "appliance.toml").read_text()
    text = text.replace('"../drivers/', f'"{ROOT}/appliances/drivers/')
    text = text.replace('source = "netdump.c"', f'source = "{ROOT}/appliances/netdump/netdump.c"\n'
                        f'args = [{", ".join(repr(a).replace(chr(39), chr(34)) for a in args)}]')
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "appliance.toml").write_text(text)
    return directory


def boot(net, tmp, name, args, while_up, machine, timeout=120):
    """Boots netdump with args on the namespace's tap; while_up() runs once it answers."""
    directory = write_appliance(tmp / name, args)
    built = appliance.build(directory, iso=False, images=tmp / "images")
    done = {}

    def on_line(raw):
        if "answering ARP and ICMP echo" in raw and "thread" not in done:
            done["thread"] = threading.Thread(target=lambda: done.update(out=while_up()))
            done["thread"].start()

    result = qemu.boot("kernel", kernel=appliance.KERNEL, image=built.image, memory_mib=64,
                       timeout=timeout, on_line=on_line, machine=machine,
                       extra=qemu.network_argv("virtio-net", f"tap:{net.tap}"))
    if "thread" in done:
        done["thread"].join()
    return result, done.get("out")


def echo(net, tmp, seconds, machine):
    def flood():
        return net.run("ping", "-q", "-f", "-w", str(seconds), net.appliance_ip, check=False,
                       timeout=seconds + 30).stdout
    result, out = boot(net, tmp, "echo", ["--ip", net.appliance_ip, "--quiet", "--seconds",
                                          str(seconds + 4)], flood, machine)
    m = re.search(r"(\d+) packets transmitted, (\d+) received.*time (\d+)ms", out, re.S)
    sent, received, ms = int(m.group(1)), int(m.group(2)), int(m.group(3))
    print(f"echo  flood ping: {sent} requests, {received} replies in {ms / 1000:.1f} s: "
          f"{received * 1000 / ms:,.0f} echo/s (a frame in and a frame out each)")


def inbound(net, tmp, seconds, size, machine):
    def send():
        return net.run("python3", "-c", SENDER, net.peer, str(seconds), str(size), check=False,
                       timeout=seconds + 30).stdout.strip()
    result, out = boot(net, tmp, "in", ["--ip", net.appliance_ip, "--quiet", "--seconds",
                                        str(seconds + 4)], send, machine)
    text = "\n".join(line.text for line in result.lines)
    sent = int(out or 0)
    counted = int(re.search(r"netdump: rx (\d+) frames", text).group(1))
    drops = re.search(r"driver rx (\d+) frames, (\d+) dropped", text)
    print(f"in    raw socket: {sent:,} frames of {size} bytes sent in {seconds} s; netdump "
          f"counted {counted:,}: {counted / seconds:,.0f} frames/s; the driver dropped "
          f"{drops.group(2)} (the app's channel full); the rest the host dropped at the tap while the "
          f"device's receive queue was full")


def outbound(net, tmp, seconds, size, machine):
    frames = 200000
    counter = net.popen("python3", "-c", COUNTER, net.peer, str(seconds + 60))
    assert counter.stdout.readline().strip() == "ready"
    result, _ = boot(net, tmp, "out", ["--ip", net.appliance_ip, "--blast", str(frames),
                                       "--blast-size", str(size), "--seconds", "1"],
                     lambda: None, machine)
    count, span = counter.communicate(timeout=120)[0].split()
    text = "\n".join(line.text for line in result.lines)
    handed = re.search(r"netdump: blast .*", text)
    driver = re.search(r"netdump: driver rx .*", text)
    print(f"out   {handed.group(0) if handed else '(no blast line)'}")
    print(f"out   {driver.group(0) if driver else '(no driver line)'}")
    print(f"out   the namespace received {int(count):,} frames in {float(span):.2f} s: "
          f"{int(count) / max(float(span), 1e-9):,.0f} frames/s")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="length of each run (default 10)")
    parser.add_argument("--size", type=int, default=60, help="frame size for in/out (default 60)")
    parser.add_argument("--machine", default="q35", choices=qemu.MACHINES)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/net.py: a network namespace, tap and bridge need root")
    appliance.make_tools(signing.ensure_key())
    net = Namespace(f"b{os.getpid() % 10000}")
    net.down()
    problem = net.up()
    if problem:
        net.down()
        sys.exit(f"bench/net.py: {problem}")
    try:
        with tempfile.TemporaryDirectory(prefix="azoth-net-") as tmp:
            tmp = Path(tmp)
            echo(net, tmp, args.seconds, args.machine)
            inbound(net, tmp, args.seconds, args.size, args.machine)
            outbound(net, tmp, args.seconds, args.size, args.machine)
    finally:
        net.down()


if __name__ == "__main__":
    main()
