"""Shared by the device and network tests: appliances around the virtio-net driver and netdump
(appliances/drivers/virtio-net, appliances/netdump), or around a test module of tests/devices/,
booted with QEMU devices; and a Linux network namespace joined to a tap by a bridge.

    write(tmp, name, args=..., bounds=..., driver_cflags=...)   a netdump appliance
    boot(directory, tools, net="user", device_options="", machine="q35", devices=())
    namespace()                                  context manager: an azoth.netns.Namespace
"""
import contextlib
import os

import pytest

from conftest import ROOT, write_appliance
from azoth import qemu
from azoth.netns import Namespace

DRIVERS = ROOT / "appliances" / "drivers"
VIRTIO_LIBRARY = [DRIVERS / "virtio" / "virtio.c", DRIVERS / "virtio" / "virtio_pci.c",
                  DRIVERS / "virtio" / "virtio_mmio.c"]
DRIVER_SOURCES = [DRIVERS / "virtio-net" / "virtio_net.c", *VIRTIO_LIBRARY]
NETDUMP = ROOT / "appliances" / "netdump" / "netdump.c"
DEVICES = ROOT / "tests" / "devices"
GATEWAY = "10.0.2.2"                    # QEMU's user networking: it answers ARP and ping


def _list(items):
    return "[" + ", ".join(f'"{i}"' for i in items) + "]"


CHANNELS = """
[[channel]]
name = "net.rx"
from = "net"
to = "netdump"
depth = 256
message_size = "2K"

[[channel]]
name = "net.tx"
from = "netdump"
to = "net"
depth = 256
message_size = "2K"

[[channel]]
name = "net.status"
from = "net"
to = "netdump"
depth = 8
message_size = 64
"""


def manifest(name, args=(), bounds="guard", driver_cflags=(), driver_grants=None, extra="",
             arch="x86_64"):
    grants = driver_grants or ["pci:1af4:1041", "dma:1M"]
    return f"""[appliance]
name = "{name}"
bounds = "{bounds}"
arch = "{arch}"
memory = "64M"
network = "virtio-net"

[[driver]]
name = "net"
source = {_list(DRIVER_SOURCES)}
grants = {_list(grants)}
memory = "4M"
restart = "always"
cflags = {_list(driver_cflags)}

[[app]]
name = "netdump"
source = "{NETDUMP}"
grants = ["stdout", "args", "clock"]
args = {_list(args)}
{CHANNELS}
{extra}"""


def write(tmp, name, **options):
    """A netdump appliance in tmp/NAME (options: those of manifest())."""
    return write_appliance(tmp / name, manifest(name, **options), {})


def boot(directory, tools, *, net="user", device_options="", machine="q35", devices=(),
         cmdline="", timeout=120, on_start=None, network=True, storm=False):
    """Builds with the test kernel and boots with -kernel, a virtio-net device on `net` (none
    without `network`) and `devices` (more QEMU options); storm: under the interrupt-storm
    mode (qemu.STORM_CMDLINE, QEMU counting instructions). An AArch64 appliance (arch in its
    manifest) boots on virt, its device on virtio-mmio as microvm's."""
    out = directory / "images"
    out.mkdir(exist_ok=True)
    result = tools.build(directory, iso=False, images=out)
    extra = list(devices) + (list(qemu.STORM_QEMU_ARGS) if storm else [])
    if storm:
        cmdline = f"{cmdline} {qemu.STORM_CMDLINE}".strip()
    arch = result.manifest.arch
    if network:
        extra = qemu.network_argv("virtio-net", net, device_options,
                                  machine="microvm" if arch == "aarch64" else machine) + extra
    kernel = tools.KERNEL_PVH if qemu.booted_through_pvh(machine) else tools.KERNELS[arch]
    return qemu.boot("kernel", kernel=kernel, image=result.image, cmdline=cmdline,
                     memory_mib=result.manifest.memory >> 20, timeout=timeout, extra=extra,
                     machine=machine, on_start=on_start, arch=arch)


def lines(result):
    return [line.text for line in result.lines]


def text(result):
    return "\n".join(lines(result))


# ---- A network namespace, a tap and a bridge -----------------------------------------------------
@contextlib.contextmanager
def namespace():
    """Makes an azoth.netns.Namespace (root only; skips in one line where that is not
    permitted) and removes it afterwards."""
    if os.geteuid() != 0:
        pytest.skip("a network namespace, tap and bridge need root: run the tests as root")
    # The whole process id (at most 7 digits: names stay within Linux's 15 characters): tests
    # running at once (pytest-xdist workers, other checkouts) never share a name.
    net = Namespace(str(os.getpid()))
    net.down()                          # leftovers of a run that was killed
    problem = net.up()
    if problem:
        net.down()
        pytest.skip(f"cannot make a network namespace, tap and bridge here ({problem})")
    try:
        yield net
    finally:
        net.down()
