"""`./build.py build --format`: every deployable form of an appliance boots in QEMU with the
devices the matching cloud gives (virtio-blk disks on q35, BIOS and UEFI; microvm through PVH
for Firecracker's), prints the appliance's output and powers off by itself, with no debug-exit
device, and the exit code still reaches the host. A tampered disk is refused.

    /usr/bin/python3 -m pytest tests/test_disk_formats.py
"""
import json
import subprocess
import tarfile

import pytest

from conftest import build_py, logging_app, manifest_for, write_appliance
from azoth import disk, qemu
from azoth.qemu import Outcome

MESSAGE = "deployed"
CODE = 5


@pytest.fixture(scope="module")
def built(tools, tmp_path_factory):
    root = tmp_path_factory.mktemp("formats")
    app = write_appliance(root / "app", manifest_for("deploy", [("main", "main.wat", ["log"])]),
                          {"main.wat": logging_app(MESSAGE, code=CODE)})
    out = root / "images"
    done = build_py("build", app, "--out", out, "--format",
                    "qcow2,raw,vmdk,vhd,gce,firecracker,iso", timeout=300)
    assert done.returncode == 0, done.stderr
    return out, done.stdout.split()


def check_run(r):
    assert MESSAGE in r.output, r.output
    assert r.returncode == 0, "powered off, not the debug-exit device"
    assert r.exit.outcome is Outcome.EXIT and r.exit.code == CODE, (r.exit, r.output)


def test_every_format_is_written(built):
    out, printed = built
    names = {p.rsplit("/", 1)[-1] for p in printed}
    assert names == {"deploy.azi", "deploy.iso", "deploy.raw", "deploy.qcow2", "deploy.vmdk",
                     "deploy.vhd", "deploy.gce.tar.gz", "deploy.firecracker"}
    raw = out / "deploy.raw"
    assert raw.stat().st_size % (1 << 20) == 0
    assert disk.check_disk(raw) == []
    assert disk.qemu_img_info(out / "deploy.qcow2")["format"] == "qcow2"
    vmdk = disk.qemu_img_info(out / "deploy.vmdk")
    assert vmdk["format"] == "vmdk" and vmdk["format-specific"]["data"]["create-type"] == \
        "streamOptimized"
    vhd = out / "deploy.vhd"
    info = disk.qemu_img_info(vhd, "vpc")
    assert info["format"] == "vpc" and info["virtual-size"] % (1 << 20) == 0
    assert vhd.read_bytes()[-512:].startswith(b"conectix"), "a fixed VHD ends with its footer"


@pytest.mark.parametrize("fmt, qemu_format", [("raw", "raw"), ("qcow2", "qcow2"),
                                              ("vmdk", "vmdk"), ("vhd", "vpc")])
def test_disk_boots_under_bios(built, fmt, qemu_format):
    out, _ = built
    check_run(qemu.boot("bios", drive=qemu.disk_drive(out / f"deploy.{fmt}", qemu_format),
                        debug_exit=False, timeout=90))


@pytest.mark.parametrize("fmt", ["raw", "qcow2"])
def test_disk_boots_under_uefi(built, fmt):
    out, _ = built
    check_run(qemu.boot("uefi", drive=qemu.disk_drive(out / f"deploy.{fmt}", fmt),
                        debug_exit=False, timeout=120))


def test_gce_tarball_holds_one_disk_of_whole_gib(built, tmp_path):
    out, _ = built
    with tarfile.open(out / "deploy.gce.tar.gz") as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == ["disk.raw"]
        assert members[0].size % (1 << 30) == 0
    subprocess.run(["tar", "-xSzf", out / "deploy.gce.tar.gz", "-C", tmp_path], check=True)
    raw = tmp_path / "disk.raw"
    assert disk.check_disk(raw) == []
    check_run(qemu.boot("bios", drive=qemu.disk_drive(raw, "raw", "nvme"), debug_exit=False,
                        timeout=90))


def test_firecracker_folder_boots_as_firecracker_would(built):
    """Firecracker is not here: its folder's kernel, initrd and boot arguments, under QEMU's
    microvm (no PCI, hardware-reduced ACPI), loaded through PVH as Firecracker loads them."""
    out, _ = built
    folder = out / "deploy.firecracker"
    config = json.loads((folder / disk.FIRECRACKER_CONFIG).read_text())
    source = config["boot-source"]
    assert config["machine-config"]["mem_size_mib"] >= 16
    r = qemu.boot("kernel", kernel=folder / source["kernel_image_path"],
                  image=folder / source["initrd_path"], cmdline=source["boot_args"],
                  machine="microvm", debug_exit=False, timeout=60)
    assert "(pvh," in r.banner.text
    check_run(r)


def test_a_tampered_disk_is_refused(built, tmp_path):
    """One byte of the signed image flipped inside the disk: the kernel refuses it."""
    out, _ = built
    image = (out / "deploy.azi").read_bytes()
    data = bytearray((out / "deploy.raw").read_bytes())
    at = data.find(image[:4096])
    assert at > 0, "the image lies whole inside the disk"
    data[at + len(image) // 2] ^= 0x10
    bad = tmp_path / "bad.raw"
    bad.write_bytes(bytes(data))
    r = qemu.boot("bios", drive=qemu.disk_drive(bad, "raw"), debug_exit=False, timeout=90)
    assert r.exit.outcome is Outcome.KERNEL_FAILURE and r.exit.failure == "verify", r.output
    assert MESSAGE not in r.output


def test_grown_gpt_keeps_both_headers_valid(built, tmp_path):
    out, _ = built
    grown = disk.grow_gpt_disk(out / "deploy.iso", tmp_path / "big.raw", 64 << 20)
    assert grown.stat().st_size == 64 << 20 and disk.check_disk(grown) == []
    with pytest.raises(ValueError):
        disk.grow_gpt_disk(out / "deploy.iso", tmp_path / "small.raw", 4096)


def test_unknown_format_is_refused(tools, tmp_path):
    done = build_py("build", "appliances/hello", "--format", "qcow2,ova")
    assert done.returncode == 2 and "unknown format ova" in done.stderr
