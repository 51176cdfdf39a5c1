"""PCI in the kernel: enumeration on q35 (ECAM, and the legacy ports) and pc (ports), with a
bridge and the bus behind it; pci grants resolved at boot, and what the boot refuses (an absent
device unless optional, two grants naming one function, a bridge, port and MMIO grants over
PCI, a legacy IRQ grant on a granted device's line); bus mastering and MSI-X only for a device
the kernel can confine, of a module with a DMA region."""
import re

import pytest

import netdump as net
from conftest import write_appliance
from azoth import qemu

RNG = ["-device", "virtio-rng-pci,disable-legacy=on,addr=0x5"]
E1000E = ["-netdev", "user,id=n1", "-device", "e1000e,netdev=n1,addr=0x6"]
VIRTIO_NET = ["-device", "virtio-net-pci,disable-legacy=on,addr=0x7"]
BRIDGE = ["-device", "pcie-root-port,id=rp1,bus=pcie.0,addr=0x8,chassis=1",
          "-device", "virtio-net-pci,disable-legacy=on,bus=rp1"]


def probe_appliance(tmp_path, name, grants, *, dma=False, extra="", grant_count=None):
    cflags = [f"-DPROBE_GRANTS={grant_count or sum(g.startswith('pci:') for g in grants)}"]
    if dma:
        cflags.append("-DPROBE_DMA")
    listed = ", ".join(f'"{g}"' for g in grants + ["log", "stdout"])
    flags = ", ".join(f'"{c}"' for c in cflags)
    return write_appliance(tmp_path / name, f"""[appliance]
name = "{name}"

[[app]]
name = "probe"
source = "{net.DEVICES / 'pci_probe.c'}"
grants = [{listed}]
cflags = [{flags}]
{extra}""", {})


def boot(tools, directory, devices=(), machine="q35", cmdline="athanor.pci=list"):
    return net.boot(directory, tools, network=False, devices=devices, machine=machine,
                    cmdline=cmdline, timeout=60)


def listing(result):
    """The function lines of athanor.pci=list, without the "[athanor] pci " prefix."""
    return [line[len("[athanor] pci "):] for line in net.lines(result)
            if re.match(r"\[athanor\] pci [0-9a-f]{2}:", line)]


def function(lines, address):
    return next((line for line in lines if line.startswith(address + " ")), None)


def test_enumeration_on_q35_through_ecam_and_the_ports(tmp_path, tools):
    directory = probe_appliance(tmp_path, "pci-q35", [], grant_count=0)
    ecam = boot(tools, directory, RNG + E1000E)
    ports = boot(tools, directory, RNG + E1000E, cmdline="athanor.pci=list,ports")
    assert ecam.exit.ok and ports.exit.ok, net.text(ecam)
    assert "[athanor] pci: 6 functions, configuration space through ECAM" in net.text(ecam)
    assert "configuration space through ports 0xcf8-0xcff" in net.text(ports)
    found = listing(ecam)
    assert found == listing(ports), (found, listing(ports))     # one machine, two ways in
    assert function(found, "00:00.0").startswith("00:00.0 8086:29c0 class 06.00.00")
    assert function(found, "00:1f.0").startswith("00:1f.0 8086:2918 class 06.01.00")
    assert function(found, "00:1f.2").startswith("00:1f.2 8086:2922 class 01.06.01")
    rng = function(found, "00:05.0")
    assert rng.startswith("00:05.0 1af4:1044 class 00.ff.00") and rng.endswith(" virtio"), rng
    assert re.search(r" bar4 mem 0x[0-9a-f]+\+16K msi-x 2 intx A line \d+ virtio$", rng), rng
    nic = function(found, "00:06.0")
    assert nic.startswith("00:06.0 8086:10d3 class 02.00.00") and "virtio" not in nic, nic
    assert re.search(r" bar0 mem 0x[0-9a-f]+\+128K .* bar2 io 0x[0-9a-f]+\+1K .* msi-x 5 ", nic)


def test_enumeration_on_pc_through_the_ports(tmp_path, tools):
    directory = probe_appliance(tmp_path, "pci-pc", [], grant_count=0)
    result = boot(tools, directory, RNG, machine="pc")
    assert result.exit.ok, net.text(result)
    assert "[athanor] pci: 5 functions, configuration space through ports 0xcf8-0xcff" in \
        net.text(result)
    found = listing(result)
    assert function(found, "00:00.0").startswith("00:00.0 8086:1237 class 06.00.00")
    assert function(found, "00:01.0").startswith("00:01.0 8086:7000 class 06.01.00")
    assert function(found, "00:01.1").startswith("00:01.1 8086:7010 class 01.01.80")
    assert function(found, "00:01.3").startswith("00:01.3 8086:7113 class 06.80.00")
    assert function(found, "00:05.0").startswith("00:05.0 1af4:1044 class 00.ff.00")


def test_a_bridge_and_the_function_behind_it(tmp_path, tools):
    behind = boot(tools, probe_appliance(tmp_path, "pci-behind", ["pci:01:00.0"]), BRIDGE)
    text = net.text(behind)
    assert behind.exit.ok, text
    assert function(listing(behind), "00:08.0").startswith("00:08.0 1b36:000c class 06.04.00 "
                                                           "bridge")
    assert function(listing(behind), "01:00.0").startswith("01:00.0 1af4:1041 class 02.00.00")
    assert "[athanor] pci 01:00.0 1af4:1041 (virtio) -> module probe" in text
    assert "probe: grant 0: 1af4:1041 class 020000 master 0 msi-x off" in text
    bridge = boot(tools, probe_appliance(tmp_path, "pci-bridge", ["pci:00:08.0"]), BRIDGE)
    assert bridge.exit.outcome is qemu.Outcome.KERNEL_FAILURE and bridge.exit.failure == "boot"
    assert "[athanor] boot error: module probe: pci:00:08.0 names 00:08.0, a bridge: only " \
        "endpoints are granted" in net.text(bridge)


def test_bus_mastering_only_for_a_confined_device_of_a_module_with_a_dma_region(tmp_path, tools):
    grants = ["pci:1af4:1041", "pci:8086:10d3"]
    without = boot(tools, probe_appliance(tmp_path, "pci-nodma", grants), VIRTIO_NET + E1000E)
    with_dma = boot(tools, probe_appliance(tmp_path, "pci-dma", grants + ["dma:64K"], dma=True),
                    VIRTIO_NET + E1000E)
    assert without.exit.ok and with_dma.exit.ok, net.text(with_dma)
    assert "probe: grant 0: 1af4:1041 class 020000 master 0 msi-x off" in net.text(without)
    assert "probe: grant 1: 8086:10d3 class 020000 master 0 msi-x off" in net.text(without)
    assert "probe: dma_map 0" in net.text(with_dma)
    assert "probe: grant 0: 1af4:1041 class 020000 master 1 msi-x on" in net.text(with_dma)
    # the kernel does not know where an e1000e would write: it never masters the bus
    assert "probe: grant 1: 8086:10d3 class 020000 master 0 msi-x off" in net.text(with_dma)


def test_an_optional_device_may_be_absent_and_a_required_one_may_not(tmp_path, tools):
    optional = boot(tools, probe_appliance(tmp_path, "pci-optional", ["pci:1af4:1044?"]))
    assert optional.exit.ok, net.text(optional)
    assert "[athanor] pci: no function matches pci:1af4:1044? of module probe (optional)" in \
        net.text(optional)
    assert "probe: grant 0: pci_open -16" in net.text(optional)        # NODEV
    required = boot(tools, probe_appliance(tmp_path, "pci-required", ["pci:1af4:1044"]))
    assert required.exit.failure == "boot", net.text(required)
    assert "[athanor] boot error: module probe: no PCI function matches pci:1af4:1044 (write " \
        "pci:1af4:1044? if the appliance may run without it)" in net.text(required)
    by_class = boot(tools, probe_appliance(tmp_path, "pci-class", ["pci:class=00.ff"]), RNG)
    assert "probe: grant 0: 1af4:1044 class 00ff00" in net.text(by_class)


def second_module(grant):
    return f"""
[[app]]
name = "other"
source = "{net.DEVICES / 'pci_probe.c'}"
grants = ["{grant}", "log", "stdout"]
cflags = ["-DPROBE_GRANTS={int(grant.startswith('pci:'))}"]
"""


@pytest.mark.parametrize("grant,extra_grant,words", [
    # two grants naming one function, by vendor:device and by bus address
    ("pci:1af4:1044", "pci:00:05.0", "module other: pci:00:05.0 names 00:05.0, which module "
                                     "probe's pci grant names too"),
    # ECAM is the kernel's (q35: 256 MiB at 0xb0000000)
    ("pci:1af4:1044", "mmio:0xb0000000-0xb0000fff", "module other: an MMIO window over PCI configuration "
                                         "space (ECAM)"),
])
def test_the_boot_refuses_grants_that_reach_pci_around_the_kernel(tmp_path, tools, grant,
                                                                  extra_grant, words):
    directory = probe_appliance(tmp_path, "pci-twice", [grant],
                                extra=second_module(extra_grant))
    result = boot(tools, directory, RNG)
    assert result.exit.failure == "boot", net.text(result)
    assert f"[athanor] boot error: {words}" in net.text(result)


def test_the_boot_refuses_port_mmio_and_irq_grants_over_a_pci_function(tmp_path, tools):
    """The BARs and the INTx line of a function are reached through its pci grant only."""
    found = listing(boot(tools, probe_appliance(tmp_path, "pci-where", [], grant_count=0),
                         E1000E))
    nic = function(found, "00:06.0")
    bar0 = int(re.search(r" bar0 mem (0x[0-9a-f]+)", nic).group(1), 16)
    io = int(re.search(r" bar2 io (0x[0-9a-f]+)", nic).group(1), 16)
    line = int(re.search(r" intx A line (\d+)", nic).group(1))
    cases = [(f"mmio:{bar0 + 0x1000:#x}-{bar0 + 0x1fff:#x}", "an MMIO window"),
             (f"port:{io:#x}-{io + 7:#x}", "ports")]
    for grant, what in cases:
        directory = probe_appliance(tmp_path, f"pci-over-{what.split()[-1].lower()}", ["pci:8086:10d3"],
                                    extra=second_module(grant))
        result = boot(tools, directory, E1000E)
        assert result.exit.failure == "boot", net.text(result)
        assert re.search(rf"boot error: module other: {what} 0x[0-9a-f]+-0x[0-9a-f]+ cover BAR "
                         rf"\d of PCI function 00:06.0 \(8086:10d3\): grant the device with "
                         rf"pci:8086:10d3", net.text(result)), net.text(result)
    directory = probe_appliance(tmp_path, "pci-irq", ["pci:8086:10d3"],
                                extra=second_module(f"irq:{line}"))
    result = boot(tools, directory, E1000E)
    assert result.exit.failure == "boot", net.text(result)
    assert f"boot error: module other: irq:{line} is the INTx line of PCI function 00:06.0, " \
        "granted to module probe" in net.text(result)
