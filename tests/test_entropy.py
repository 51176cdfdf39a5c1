"""Entropy where the CPU has no RDRAND (qemu64): the virtio-rng driver in Wasm feeds the kernel's
random pool (athanor.random_feed), and the apps' random calls wait for it at boot instead of
running on the weak boot-time seed; the boot log says which source seeded the pool. On PCI (q35)
and virtio-mmio (microvm), both bounds modes; with RDRAND the feed is not needed; an optional
device that is absent does not hold the boot up; a hostile feeder is refused.

    /usr/bin/python3 -m pytest tests/test_entropy.py
"""
import re

import pytest

from conftest import ROOT, write_appliance
from azoth import qemu
from azoth.qemu import Outcome

DRIVERS = ROOT / "appliances" / "drivers"
RNG_SOURCES = [DRIVERS / "virtio-rng" / "virtio_rng.c", DRIVERS / "virtio" / "virtio.c",
               DRIVERS / "virtio" / "virtio_pci.c", DRIVERS / "virtio" / "virtio_mmio.c"]
APP = r"""
#include <stdio.h>
#include <unistd.h>
int main(void)
{
    unsigned char bytes[16];
    if (getentropy(bytes, sizeof bytes) != 0)
        return 1;
    printf("random ");
    for (unsigned i = 0; i < sizeof bytes; i++)
        printf("%02x", bytes[i]);
    printf("\n");
    return 0;
}
"""
FEEDER = r"""
#include <stdio.h>
#include "athanor.h"
static char buffer[8192];
int main(void)
{
    printf("too long %d\n", ath_random_feed(buffer, 4097));
    printf("outside memory %d\n", ath_random_feed((void *)0x7ffffff0, 64));
    printf("wrapping %d\n", ath_random_feed((void *)0xfffffff0, 64));
    printf("fed %d\n", ath_random_feed(buffer, 64));
    return 0;
}
"""


def manifest(name, bounds, optional=False, feeder=False):
    sources = ", ".join(f'"{s}"' for s in RNG_SOURCES)
    device = '"pci:1af4:1044?"' if optional else '"pci:1af4:1044"'
    driver = f"""[[driver]]
name = "rng"
source = [{sources}]
grants = [{device}, "dma:4K", "entropy", "log"]
memory = "1M"
""" if not feeder else f"""[[driver]]
name = "feeder"
source = "feeder.c"
grants = ["entropy", "stdout"]
cflags = ["-I{ROOT / 'appliances' / 'include'}"]
memory = "1M"
"""
    return f"""[appliance]
name = "{name}"
bounds = "{bounds}"
memory = "64M"

{driver}
[[app]]
name = "app"
source = "app.c"
grants = ["random", "stdout"]
memory = "1M"
"""


def boot(tools, tmp_path, name, machine="q35", cpu="qemu64", device=True, bounds="guard",
         optional=False, feeder=False):
    directory = write_appliance(tmp_path / name, manifest(name, bounds, optional, feeder),
                                {"app.c": APP, "feeder.c": FEEDER})
    built = tools.build(directory, iso=False, images=tmp_path / "images")
    extra = []
    if device:
        extra = (["-device", "virtio-rng-device", *qemu.MMIO_MODERN] if machine == "microvm"
                 else ["-device", "virtio-rng-pci,disable-legacy=on"])
    kernel = tools.KERNEL_PVH if qemu.booted_through_pvh(machine) else tools.KERNEL
    return qemu.boot("kernel", kernel=kernel, image=built.image, machine=machine, cpu=cpu,
                     extra=extra, timeout=60)


@pytest.mark.parametrize("machine,bounds", [("q35", "guard"), ("q35", "checked"),
                                            ("microvm", "guard"), ("microvm", "checked")])
def test_the_driver_seeds_the_pool_before_apps_draw(tools, tmp_path, machine, bounds):
    r = boot(tools, tmp_path, f"rng-{machine}-{bounds}", machine=machine, bounds=bounds)
    text = r.output
    assert r.exit.ok, text
    waiting = text.index("[athanor] random: no RDRAND or RDSEED; waiting for module rng")
    seeded = text.index("[athanor] random: pool seeded by module rng (64 bytes)")
    drawn = re.search(r"^random ([0-9a-f]{32})$", text, re.M)
    assert drawn and waiting < seeded < drawn.start(), text
    assert "weak seed" not in text


def test_two_boots_draw_different_bytes(tools, tmp_path):
    draws = set()
    for i in range(2):
        r = boot(tools, tmp_path / str(i), "rng-twice")
        draws.add(re.search(r"^random ([0-9a-f]{32})$", r.output, re.M).group(1))
    assert len(draws) == 2


def test_with_rdrand_the_feed_is_not_needed(tools, tmp_path):
    r = boot(tools, tmp_path, "rng-rdrand", cpu="max")
    assert r.exit.ok and "[athanor] random: RDRAND" in r.output, r.output
    assert "pool seeded" not in r.output and "waiting for" not in r.output


def test_an_absent_optional_device_does_not_hold_the_boot(tools, tmp_path):
    r = boot(tools, tmp_path, "rng-absent", device=False, optional=True)
    assert r.exit.ok, r.output
    assert "virtio-rng: no device" in r.output
    assert "[athanor] random: module rng has no entropy to give; weak seed" in r.output
    seen = r.first(lambda t: t.startswith("random "))
    assert seen is not None, r.output
    banner = r.banner
    assert seen.time - banner.time < 1.5, "did not wait the whole ATH_RANDOM_WAIT_MS"


def test_a_hostile_feeder_is_refused(tools, tmp_path):
    r = boot(tools, tmp_path, "rng-feeder", device=False, feeder=True)
    text = r.output
    assert r.exit.ok, text
    for line in ("too long -5", "outside memory -6", "wrapping -6", "fed 0"):
        assert line in text.replace("\r", ""), text
    assert "[athanor] random: pool seeded by module feeder (64 bytes)" in text
