"""Hostile DMA (docs/runtime.md, "DMA without an IOMMU"): a driver that tries to make its
virtio-net device read or write the kernel's memory, another module's, its own rings, through
every kind of descriptor, and misuses athanor.dma_map and athanor.virtq_setup
(tests/devices/dma_attacker.c). Every attempt is refused, the device still works from the
kernel's copies of descriptors the driver rewrote afterwards, and a victim module's memory is
untouched; in both bounds modes."""
import re

import pytest

import attacks
import netdump as net
from conftest import write_appliance

ATTACKER = net.DEVICES / "dma_attacker.c"


def manifest(name, bounds, attacker, grants):
    listed = ", ".join(f'"{g}"' for g in grants + ["log", "stdout"])
    sources = ", ".join(f'"{s}"' for s in [attacker, *net.VIRTIO_LIBRARY])
    return f"""[appliance]
name = "{name}"
bounds = "{bounds}"
memory = "128M"

[[driver]]
name = "attacker"
source = [{sources}]
grants = [{listed}]
cflags = ["-I{net.DRIVERS / 'virtio'}", "-I{net.DEVICES}"]
memory = "4M"

[[app]]
name = "victim"
source = "victim.wat"
grants = ["log"]
memory = "1M"

[[channel]]
name = "done"
from = "attacker"
to = "victim"
depth = 1
message_size = 4
"""


def run_attacker(tmp_path, tools, name, bounds, attacker, grants, devices=(), storm=False,
                 machine="q35"):
    full = f"{name}-{bounds}{'-storm' if storm else ''}"
    directory = write_appliance(tmp_path / full, manifest(full, bounds, attacker, grants),
                                {"victim.wat": attacks.victim(16)})
    result = net.boot(directory, tools, devices=devices, storm=storm, machine=machine)
    text = net.text(result)
    failed = [line for line in net.lines(result) if line.startswith("FAIL ")]
    assert not failed, "\n".join(failed) + "\n" + text[-3000:]
    attacks.assert_clean_exit(result, 0)
    assert "every attack refused" in text and "victim memory intact" in text, text[-3000:]
    return result


@pytest.mark.parametrize("bounds,storm", [("guard", False), ("checked", False),
                                          ("guard", True)])
def test_descriptors_outside_the_dma_region_are_refused(tmp_path, tools, bounds, storm):
    """Also under the interrupt-storm mode: virtq_sync's checks and the device's interrupts
    interrupted at every few hundred instructions."""
    result = run_attacker(tmp_path, tools, "dma-attack", bounds, ATTACKER,
                          ["pci:1af4:1041", "dma:64K"], storm=storm)
    lines = net.lines(result)
    refused = [line for line in lines if line.startswith("ok ")]
    assert len(refused) >= 30, lines
    assert "ok an ARP exchange into the region after all that" in lines
    # the first refusal of a descriptor outside the region is said on the console
    assert any(re.match(r"\[athanor\] module attacker: virtq_sync refused: a descriptor of "
                        r"queue 1 points outside its DMA region", line) for line in lines)
