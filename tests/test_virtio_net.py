"""The virtio-net driver in Wasm, end to end, under QEMU's user networking (no privileges
needed): netdump asks for the gateway's MAC address and pings it, using frames only, through
the driver, on q35 and pc, with MSI-X and with the INTx line through the I/O APIC, in both
bounds modes; and the driver restarted by its supervisor while frames flow."""
import re

import pytest

import netdump as net


def probe(tmp_path, tools, name, *, bounds="guard", machine="q35", device_options="",
          args=(), driver_cflags=(), storm=False):
    directory = net.write(tmp_path, name, bounds=bounds, driver_cflags=driver_cflags,
                          args=["--probe", net.GATEWAY, *args])
    return net.boot(directory, tools, machine=machine, device_options=device_options,
                    storm=storm)


@pytest.mark.parametrize("machine,interrupts,bounds", [
    ("q35", "msi-x", "guard"), ("q35", "intx", "guard"), ("pc", "msi-x", "guard"),
    ("pc", "intx", "checked"), ("q35", "msi-x", "checked"), ("microvm", "intx", "guard"),
    ("microvm", "intx", "checked")])
def test_frames_both_ways(tmp_path, tools, machine, interrupts, bounds):
    result = probe(tmp_path, tools, f"vnet-{machine}-{interrupts.replace('-', '')}-{bounds}",
                   bounds=bounds, machine=machine,
                   device_options="vectors=0" if interrupts == "intx" and machine != "microvm"
                   else "")
    text = net.text(result)
    assert result.exit.ok, f"{result.exit}\n{text[-3000:]}"
    # the driver says which path its interrupts take: MSI-X when the device offers it
    assert re.search(rf"netdump: driver up: mac 52:54:00:12:34:56 mtu \d+ link up, {interrupts}$",
                     text, re.M), text
    assert re.search(rf"^rx arp {re.escape(net.GATEWAY)} is-at 52:55:0a:00:02:02$", text, re.M)
    replies = re.findall(rf"^rx icmp echo reply {re.escape(net.GATEWAY)} -> 10.0.2.15 ", text,
                         re.M)
    assert len(replies) == 3, text
    # both sides counted the same frames (4 each way, more when a slow host made netdump ask
    # again for the gateway's address)
    own = re.search(r"netdump: rx (\d+) frames .*, tx (\d+) frames, 0 not sent", text)
    counters = re.search(r"netdump: driver rx (\d+) frames, 0 dropped; tx (\d+) frames, "
                         r"0 dropped", text)
    assert own and counters and counters.groups() == own.groups(), text
    assert int(own.group(1)) >= 4 and int(own.group(2)) >= 4, text
    where = "[athanor] virtio-mmio 0x" if machine == "microvm" else "[athanor] pci 00:0"
    assert where in text and "(virtio) -> module net" in text


@pytest.mark.parametrize("storm", [False, True], ids=["", "storm"])
def test_the_driver_restarted_while_frames_flow(tmp_path, tools, storm):
    """The driver traps after 6 frames (once): its supervisor restarts it, the kernel resets
    the device before anything it was told about is reused, and the pings go on; also under
    the interrupt-storm mode (the restart's steps, the DMA region's pages given back and
    mapped again, interrupted at every few hundred instructions)."""
    result = probe(tmp_path, tools, f"vnet-restart{'-storm' if storm else ''}",
                   args=["--pings", "12"], driver_cflags=["-DVIRTIO_NET_TRAP_AFTER=6"],
                   storm=storm)
    text = net.text(result)
    assert result.exit.ok, f"{result.exit}\n{text[-3000:]}"
    assert len(re.findall(r"^\[supervisor\] restarted net \(trap: unreachable\)", text, re.M)) == 1
    assert "netdump: driver restarted: mac 52:54:00:12:34:56" in text
    assert "panic" not in text
    replies = re.findall(r"^rx icmp echo reply ", text, re.M)
    assert len(replies) >= 12, text
    assert re.search(r"netdump: driver rx \d+ frames, \d+ dropped; tx \d+ frames, \d+ dropped; "
                     r"1 restarts", text), text


def test_microvm_without_acpi_as_firecracker_announces_its_devices(tmp_path, tools):
    """No ACPI tables: the virtio-mmio device comes from the command line's
    virtio_mmio.device=SIZE@BASE:IRQ (QEMU adds it there then, as Firecracker does), and its
    interrupt reaches an I/O APIC the kernel assumes at the standard address."""
    result = probe(tmp_path, tools, "vnet-microvm-noacpi", machine="microvm,acpi=off")
    text = net.text(result)
    assert result.exit.ok, f"{result.exit}\n{text[-3000:]}"
    assert "[athanor] virtio-mmio 0xfeb00e00 1af4:1041 (virtio) -> module net" in text, text
    assert len(re.findall(r"^rx icmp echo reply ", text, re.M)) == 3, text


def test_under_uefi_with_the_bars_above_the_identity_map(tmp_path, tools):
    """OVMF puts the 64-bit BAR of the virtio structures far above memory (0xe000000000 here,
    beyond the identity-mapped space): the kernel maps it through a reservation of its own."""
    from azoth import qemu
    directory = net.write(tmp_path, "vnet-uefi", args=["--probe", net.GATEWAY])
    out = directory / "images"
    out.mkdir()
    built = tools.build(directory, iso=False, images=out)
    iso = qemu.make_iso(tools.KERNEL, built.image, out / "vnet.iso", cmdline="athanor.pci=list")
    result = qemu.boot("uefi", iso=iso, memory_mib=64, timeout=180,
                       extra=qemu.network_argv("virtio-net", "user"))
    text = net.text(result)
    assert result.exit.ok, f"{result.exit}\n{text[-3000:]}"
    bar = re.search(r"^\[athanor\] pci 00:0\d\.0 1af4:1041 .* bar4 mem (0x[0-9a-f]+)\+16K", text,
                    re.M)
    assert bar, text[-3000:]
    assert "netdump: driver up: mac 52:54:00:12:34:56 mtu 1500 link up, msi-x" in text
    assert len(re.findall(r"^rx icmp echo reply ", text, re.M)) == 3


def test_build_py_run_gives_the_appliance_its_network(tools):
    """appliances/netdump asks for a network in its manifest: `./build.py run` adds the
    virtio-net device on QEMU's user networking (netdump serves until stopped); a --net it
    cannot read is AZ-T009."""
    from conftest import ROOT, build_py
    result = build_py("run", ROOT / "appliances" / "netdump", "--timeout", "8", timeout=120)
    assert "[athanor] pci 00:01.0 1af4:1041 (virtio) -> module net" in result.stdout, \
        result.stdout + result.stderr
    assert "netdump: 10.0.2.15, answering ARP and ICMP echo" in result.stdout
    assert result.returncode == 125 and "timeout after 8 s" in result.stderr
    bad = build_py("run", ROOT / "appliances" / "netdump", "--net", "wire:eth0")
    assert bad.returncode == 1 and "AZ-T009" in bad.stderr and "tap:NAME" in bad.stderr
