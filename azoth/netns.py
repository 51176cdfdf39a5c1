"""A Linux network namespace joined to a tap device by a bridge: the other end of an appliance's
network when QEMU opens the tap (`--net tap:NAME`). Root only. tests/test_net_ping.py and
bench/net.py use it.

    net = Namespace("1234")          # azns1234, aztap1234, azbr1234, azv1234/azw1234
    problem = net.up()               # None, or why it could not be made (nothing left behind)
    net.run("ping", "-c", "3", net.appliance_ip)
    net.down()
"""
import subprocess


class Namespace:
    """A network namespace whose veth end (host_ip/24) is bridged with a tap device that QEMU
    opens (tap:TAP): the appliance (appliance_ip) is on the namespace's link."""

    def __init__(self, tag):
        self.ns = f"azns{tag}"
        self.bridge, self.tap = f"azbr{tag}", f"aztap{tag}"
        self.veth, self.peer = f"azv{tag}", f"azw{tag}"
        self.host_ip, self.appliance_ip = "10.211.0.1", "10.211.0.2"

    def run(self, *argv, check=True, timeout=60):
        return subprocess.run(["ip", "netns", "exec", self.ns, *argv], capture_output=True,
                              text=True, check=check, timeout=timeout)

    def popen(self, *argv):
        return subprocess.Popen(["ip", "netns", "exec", self.ns, *argv], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)

    def up(self):
        steps = [["ip", "netns", "add", self.ns],
                 ["ip", "link", "add", self.bridge, "type", "bridge"],
                 ["ip", "tuntap", "add", "dev", self.tap, "mode", "tap"],
                 ["ip", "link", "set", self.tap, "master", self.bridge],
                 ["ip", "link", "add", self.veth, "type", "veth", "peer", "name", self.peer],
                 ["ip", "link", "set", self.peer, "netns", self.ns],
                 ["ip", "link", "set", self.veth, "master", self.bridge],
                 ["ip", "link", "set", self.bridge, "up"],
                 ["ip", "link", "set", self.tap, "up"],
                 ["ip", "link", "set", self.veth, "up"],
                 ["ip", "netns", "exec", self.ns, "ip", "addr", "add", f"{self.host_ip}/24",
                  "dev", self.peer],
                 ["ip", "netns", "exec", self.ns, "ip", "link", "set", self.peer, "up"],
                 ["ip", "netns", "exec", self.ns, "ip", "link", "set", "lo", "up"]]
        for step in steps:
            done = subprocess.run(step, capture_output=True, text=True)
            if done.returncode != 0:
                return f"{' '.join(step)}: {done.stderr.strip()}"
        return None

    def down(self):
        for step in (["ip", "link", "del", self.tap], ["ip", "link", "del", self.veth],
                     ["ip", "link", "del", self.bridge], ["ip", "netns", "del", self.ns]):
            subprocess.run(step, capture_output=True)
