"""Ping from a Linux network namespace to the appliance: the test makes the namespace, a tap and
a bridge between them (root; it skips in one line where that is not permitted), boots netdump on
the tap, and pings it. The appliance's own counters must agree with ping's. Then a flood ping
while the driver fails once and is restarted: packets are lost, the kernel is not."""
import re
import threading

import netdump as net


def boot_with_ping(tools, directory, namespace, ping_args, delay=3.0):
    """Boots the appliance on the namespace's tap and, once it is up, runs ping there."""
    outcome = {}

    def on_line(raw):
        if "answering ARP and ICMP echo" in raw and "ping" not in outcome:
            outcome["ping"] = None

            def ping():
                outcome["ping"] = namespace.run("ping", *ping_args, namespace.appliance_ip,
                                                check=False, timeout=120)
            thread = threading.Thread(target=ping)
            thread.start()
            outcome["thread"] = thread

    out = directory / "images"
    out.mkdir(exist_ok=True)
    built = tools.build(directory, iso=False, images=out)
    from azoth import qemu
    result = qemu.boot("kernel", kernel=tools.KERNEL, image=built.image, memory_mib=64,
                       timeout=150, on_line=on_line,
                       extra=qemu.network_argv("virtio-net", f"tap:{namespace.tap}"))
    if "thread" in outcome:
        outcome["thread"].join(timeout=150)
    return result, outcome.get("ping")


def test_ping_from_a_namespace_gets_replies_and_the_counters_agree(tmp_path, tools):
    with net.namespace() as namespace:
        directory = net.write(tmp_path, "ping-ns", args=["--ip", namespace.appliance_ip,
                                                         "--count", "20"])
        result, ping = boot_with_ping(tools, directory, namespace, ["-c", "20", "-i", "0.05",
                                                                    "-W", "2"])
    text = net.text(result)
    assert result.exit.ok, f"{result.exit}\n{text[-3000:]}"
    assert ping is not None and ping.returncode == 0, (ping and ping.stdout, text[-2000:])
    assert "20 packets transmitted, 20 received, 0% packet loss" in ping.stdout, ping.stdout
    # netdump answered exactly the 20 requests ping sent; the driver moved them
    assert re.search(r"netdump: rx \d+ frames \(arp requests \d+, echo requests 20,", text), text
    driver = re.search(r"netdump: driver rx (\d+) frames, 0 dropped; tx (\d+) frames, 0 dropped",
                       text)
    assert driver and int(driver.group(1)) >= 21 and int(driver.group(2)) >= 21, text
    assert len(re.findall(r"^rx icmp echo request 10.211.0.1 -> 10.211.0.2 ", text, re.M)) == 20


def test_a_flood_while_the_driver_is_restarted(tmp_path, tools):
    """The driver traps after 2000 frames, once, under a flood ping: its supervisor restarts
    it (device reset, queues and DMA region set up afresh) and the flood goes on."""
    with net.namespace() as namespace:
        directory = net.write(tmp_path, "flood-ns", driver_cflags=["-DVIRTIO_NET_TRAP_AFTER=2000"],
                              args=["--ip", namespace.appliance_ip, "--quiet", "--seconds", "12"])
        result, ping = boot_with_ping(tools, directory, namespace,
                                      ["-q", "-f", "-c", "6000", "-w", "8"])
    text = net.text(result)
    assert result.exit.ok, f"{result.exit}\n{text[-3000:]}"
    assert "panic" not in text and "exception" not in text
    assert len(re.findall(r"^\[supervisor\] restarted net \(trap: unreachable\)", text, re.M)) == 1
    stats = re.search(r"(\d+) packets transmitted, (\d+) received", ping.stdout)
    assert stats, ping.stdout
    sent, received = int(stats.group(1)), int(stats.group(2))
    assert received >= 0.95 * sent and received >= 5000, ping.stdout
    answered = int(re.search(r"echo requests (\d+),", text).group(1))
    assert received <= answered <= sent, (ping.stdout, text[-1500:])
    assert re.search(r"; 1 restarts$", text, re.M), text
