"""Hostile use of PCI registers (docs/runtime.md, "PCI devices"): a driver that writes the
registers through which a virtio device learns memory addresses (queue addresses, size, enable,
packed rings), reaches for MSI-X tables (a virtio device's, an e1000e's), reads BAR addresses,
and uses handles it closed (tests/devices/pci_attacker.c). Every attempt is refused, the device
works afterwards, a victim module's memory is untouched; in both bounds modes."""
import pytest

import attacks
import netdump as net
from test_attack_dma import run_attacker

E1000E = ["-netdev", "user,id=n1", "-device", "e1000e,netdev=n1"]


@pytest.mark.parametrize("bounds", attacks.BOUNDS)
def test_registers_the_kernel_keeps_are_refused(tmp_path, tools, bounds):
    result = run_attacker(tmp_path, tools, "pci-attack", bounds, net.DEVICES / "pci_attacker.c",
                          ["pci:1af4:1041", "pci:8086:10d3", "dma:64K"], devices=E1000E)
    lines = net.lines(result)
    assert len([line for line in lines if line.startswith("ok ")]) >= 50, lines
    assert "ok an ARP exchange after all that" in lines
