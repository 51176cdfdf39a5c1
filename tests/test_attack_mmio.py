"""Hostile use of a virtio-mmio device (docs/runtime.md, "DMA without an IOMMU"), on QEMU's
microvm: a driver that writes the registers through which the device learns memory addresses
(QueueNum, QueueReady, the queue address registers, packed rings), reads where the kernel's
rings are, uses widths and offsets the window does not take and handles it closed
(tests/devices/mmio_attacker.c); and the DMA attacker of tests/test_attack_dma.py over this
transport. Every attempt is refused, the device works afterwards, a victim module's memory is
untouched; in both bounds modes."""
import pytest

import attacks
import netdump as net
from test_attack_dma import ATTACKER, run_attacker


@pytest.mark.parametrize("bounds", attacks.BOUNDS)
def test_registers_the_kernel_keeps_are_refused_on_virtio_mmio(tmp_path, tools, bounds):
    result = run_attacker(tmp_path, tools, "mmio-attack", bounds, net.DEVICES / "mmio_attacker.c",
                          ["pci:1af4:1041", "dma:64K"], machine="microvm")
    lines = net.lines(result)
    assert len([line for line in lines if line.startswith("ok ")]) >= 40, lines
    assert "ok an ARP exchange after all that" in lines
    assert any(line.startswith("[athanor] virtio-mmio 0x") for line in lines)


@pytest.mark.parametrize("bounds", attacks.BOUNDS)
def test_descriptors_outside_the_dma_region_are_refused_on_virtio_mmio(tmp_path, tools, bounds):
    result = run_attacker(tmp_path, tools, "mmio-dma-attack", bounds, ATTACKER,
                          ["pci:1af4:1041", "dma:64K"], machine="microvm")
    lines = net.lines(result)
    assert len([line for line in lines if line.startswith("ok ")]) >= 30, lines
    assert "ok an ARP exchange into the region after all that" in lines
