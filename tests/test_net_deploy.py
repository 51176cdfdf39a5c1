"""appliances/httpd where users deploy it (issue 13 with issue 12's stack): on QEMU microvm
through PVH, its virtio-net device on virtio-mmio (as Firecracker gives it); from the raw GPT
disk and from the qcow2 disk, each under SeaBIOS and under OVMF, on virtio-blk as clouds attach them,
without QEMU's debug-exit device. curl reaches it through QEMU's user networking each time and
gets the page byte for byte."""
import os

import pytest

import nethttp
from azoth import appliance as appliance_module
from azoth import disk, qemu

pytestmark = pytest.mark.skipif(not os.path.exists("/usr/bin/curl"), reason="curl is missing")


def microvm(net):
    def boot(built, **common):
        return qemu.boot("kernel", kernel=appliance_module.KERNEL_PVH, image=built.image,
                         machine="microvm", debug_exit=False,
                         extra=qemu.network_argv("virtio-net", net, machine="microvm"), **common)
    return boot


def from_disk(tools, fmt, firmware, net, folder):
    """Boots the appliance's `fmt` disk (written as `./build.py build --format fmt` writes it)
    under `firmware` ("bios" or "uefi")."""
    def boot(built, **common):
        folder.mkdir(exist_ok=True)
        result = tools.build(built.manifest.directory, iso=True, images=folder)
        path, = disk.write_formats([fmt], result.iso, result.image, appliance_module.KERNEL_PVH,
                                   built.manifest.name, folder, built.manifest.memory >> 20,
                                   network=True)
        return qemu.boot(firmware, drive=qemu.disk_drive(path, fmt), debug_exit=False,
                         extra=qemu.network_argv("virtio-net", net), **common)
    return boot


@pytest.mark.parametrize("where", ["microvm", "raw-bios", "raw-uefi", "qcow2-bios", "qcow2-uefi"])
def test_httpd_serves_where_users_deploy_it(tmp_path, tools, where):
    directory = nethttp.httpd(tmp_path, f"deploy-{where}")
    port = nethttp.free_port()
    net = f"user,hostfwd=tcp:127.0.0.1:{port}-:80"
    if where == "microvm":
        boot = microvm(net)
    else:
        fmt, firmware = where.split("-")
        boot = from_disk(tools, fmt, firmware, net, tmp_path / "disks")
    with nethttp.Running(directory, tools, boot=boot) as run:
        page = nethttp.curl(f"http://127.0.0.1:{port}/")
        assert page.returncode == 0, page.stderr
        assert page.stdout == (nethttp.WWW / "index.html").read_bytes()
        svg = nethttp.curl(f"http://127.0.0.1:{port}/img/azoth.svg")
        assert svg.stdout == (nethttp.WWW / "img" / "azoth.svg").read_bytes()
        text = run.text()
    if where == "microvm":
        assert "virtio-mmio" in text, text[-3000:]
    assert "panic" not in text and "trapped" not in text, text[-3000:]
