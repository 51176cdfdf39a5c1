"""The network an appliance's apps reach through WASI sockets: the [network] table of the manifest,
and the two modules the build adds for it without the user writing them (docs/runtime.md, "The
TCP/IP stack"):

    virtio-net   the virtio-net driver (appliances/drivers/virtio-net), granted its device
    tcpip        the TCP/IP stack (appliances/services/net: lwIP, built from Debian's source
                 package, with the project's port layer), granted netstack

with the channels net.rx, net.tx (frames) and net.status between them, all three visible in
`./build.py inspect`. The build adds them when an app is granted tcp-listen, tcp-connect or udp,
or when the manifest has a [network] table; [network] gives the stack its arguments.
"""
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DRIVERS = ROOT / "appliances" / "drivers"
STACK = ROOT / "appliances" / "services" / "net"
DRIVER_SOURCES = [DRIVERS / "virtio-net" / "virtio_net.c", DRIVERS / "virtio" / "virtio.c",
                  DRIVERS / "virtio" / "virtio_pci.c", DRIVERS / "virtio" / "virtio_mmio.c"]
STACK_SOURCES = [STACK / "main.c", STACK / "net.c"]
DRIVER_NAME, STACK_NAME = "virtio-net", "tcpip"
NETWORK_CAPABILITIES = ("tcp-listen", "tcp-connect", "udp")
FRAME_CHANNELS = (("net.rx", DRIVER_NAME, STACK_NAME, 256, 2048),
                  ("net.tx", STACK_NAME, DRIVER_NAME, 256, 2048),
                  ("net.status", DRIVER_NAME, STACK_NAME, 8, 64))

# lwIP's sources the stack needs (IPv4, ARP, ICMP, UDP, TCP, DHCP, DNS), relative to its tree.
LWIP_SOURCES = ["src/core/" + n for n in (
    "def.c", "dns.c", "inet_chksum.c", "init.c", "ip.c", "mem.c", "memp.c", "netif.c",
    "pbuf.c", "stats.c", "tcp.c", "tcp_in.c", "tcp_out.c", "timeouts.c", "udp.c")] + \
    ["src/core/ipv4/" + n for n in ("dhcp.c", "etharp.c", "icmp.c", "ip4.c", "ip4_addr.c",
                                    "ip4_frag.c")] + ["src/netif/ethernet.c"]


def stack_headers():
    """The stack's own headers and the frame protocol's: a change rebuilds it."""
    return [*sorted(STACK.rglob("*.h")), DRIVERS / "virtio-net" / "net.h"]


def driver_headers():
    return [DRIVERS / "virtio-net" / "net.h", DRIVERS / "virtio" / "virtio.h"]


def lwip_sources(tree):
    return [Path(tree) / s for s in LWIP_SOURCES]


def lwip_cflags(tree):
    """What the stack's sources compile with: the port layer first, then lwIP's headers."""
    return [f"-I{STACK / 'port'}", f"-I{Path(tree) / 'src' / 'include'}",
            "-Wno-address-of-packed-member"]


@dataclass
class NetworkConfig:
    mode: str = "dhcp"              # "dhcp" or "static"
    address: str = None             # "10.0.2.15/24"
    gateway: str = None
    dns: list = None
    mtu: int = 0
    hostname: str = None
    stats_every: int = 0            # ms
    extra: list = None              # stack_args

    def args(self):
        """The stack's command line (appliances/services/net/main.c)."""
        out = ["--dhcp"] if self.mode == "dhcp" else ["--address", self.address]
        if self.gateway:
            out += ["--gateway", self.gateway]
        for server in self.dns or []:
            out += ["--dns", server]
        if self.mtu:
            out += ["--mtu", str(self.mtu)]
        if self.hostname:
            out += ["--hostname", self.hostname]
        if self.stats_every:
            out += ["--stats-every", str(self.stats_every)]
        return out + list(self.extra or [])


def parse_ipv4(text, prefix=False):
    """'10.0.2.15' (or with prefix=True '10.0.2.15/24') -> True when well formed."""
    address, slash, bits = text.partition("/")
    parts = address.split(".")
    if len(parts) != 4 or not all(p.isdigit() and int(p) < 256 and len(p) <= 3 for p in parts):
        return False
    if slash:
        return prefix and bits.isdigit() and 0 <= int(bits) <= 32
    return not prefix or True


def needs_network(modules, has_table):
    """Whether the build adds the driver and the stack: the apps reach the network, and the
    appliance brings no stack of its own (a module granted netstack)."""
    grants = {g.capability.name for m in modules for g in m.parsed_grants}
    return "netstack" not in grants and (has_table or bool(grants & set(NETWORK_CAPABILITIES)))
