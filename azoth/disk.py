"""Deployable forms of an appliance (`./build.py build --format ...`, docs/deploy.md).

    iso          images/NAME.iso       GRUB, BIOS and UEFI; a CD-ROM or a disk (the default)
    raw          images/NAME.raw       the same GPT disk grown to a whole MiB (QEMU, OpenStack)
    qcow2        images/NAME.qcow2     OpenStack, Proxmox, libvirt
    vmdk         images/NAME.vmdk      stream-optimized: AWS VM import, VMware
    vhd          images/NAME.vhd       fixed, a whole number of MiB: Azure
    gce          images/NAME.gce.tar.gz   disk.raw, a whole number of GiB: Google Compute Engine
    firecracker  images/NAME.firecracker/ the PVH kernel, the image and vm_config.json

Every disk is the hybrid image grub-mkrescue writes: a GPT disk (protective MBR, an EFI system
partition with GRUB for UEFI) whose MBR also holds GRUB's BIOS boot code, with the kernel and
the signed image in its ISO 9660 file system. A disk grown to the size a cloud asks for gets its
backup GPT moved to the new last sector, as the GPT requires. Conversions use qemu-img.
"""
import json
import shutil
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

from . import tools
from .errors import AzothError

FORMATS = ("iso", "raw", "qcow2", "vmdk", "vhd", "gce", "firecracker")
FORMATS_NEEDING_TOOLS = ("qcow2", "vmdk", "vhd")     # qemu-img: tools.PACKAGES["disk"]
SECTOR = 512
MIB = 1 << 20
GIB = 1 << 30
QEMU_IMG = "qemu-img"
FIRECRACKER_CONFIG = "vm_config.json"

# GPT header (UEFI 2.10, 5.3.2): the fields this module rewrites.
GPT_SIGNATURE = b"EFI PART"
GPT_HEADER = struct.Struct("<8sIIIIQQQQ16sQIII")
GPT_HEADER_CRC_OFFSET = 16


def parse_formats(text):
    """"qcow2,raw" -> ["qcow2", "raw"] in FORMATS' order; ValueError naming an unknown one."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in FORMATS]
    if unknown or not names:
        raise ValueError(f"unknown format {', '.join(unknown) or repr(text)} (formats: "
                         f"{', '.join(FORMATS)})")
    return [f for f in FORMATS if f in names]


def _gpt_header(disk, lba):
    disk.seek(lba * SECTOR)
    raw = disk.read(SECTOR)
    fields = GPT_HEADER.unpack_from(raw)
    if fields[0] != GPT_SIGNATURE:
        raise AzothError("AZ-I004", f"no GPT header at sector {lba}", file=disk.name)
    return raw, fields


def _with_crc(header_bytes, size):
    body = bytearray(header_bytes[:size])
    body[GPT_HEADER_CRC_OFFSET:GPT_HEADER_CRC_OFFSET + 4] = b"\0\0\0\0"
    struct.pack_into("<I", body, GPT_HEADER_CRC_OFFSET, zlib.crc32(bytes(body)))
    return bytes(body) + header_bytes[size:]


def grow_gpt_disk(source, out, size):
    """Copies the GPT disk SOURCE to OUT, SIZE bytes (a multiple of 512, not smaller), with the
    backup partition table and header moved to the new end and both headers updated."""
    source_size = Path(source).stat().st_size
    if size % SECTOR or size < source_size:
        raise ValueError(f"cannot grow {source} ({source_size} bytes) to {size} bytes")
    tmp = Path(out).with_name(f".{Path(out).name}.partial")
    shutil.copyfile(source, tmp)
    with open(tmp, "r+b") as disk:
        disk.truncate(size)
        raw, fields = _gpt_header(disk, 1)
        (_, revision, header_size, _, _, current, backup, first_usable, last_usable, guid,
         entries_lba, entry_count, entry_size, entries_crc) = fields
        entries_bytes = entry_count * entry_size
        entries_sectors = -(-entries_bytes // SECTOR)
        disk.seek(entries_lba * SECTOR)
        entries = disk.read(entries_bytes)
        if zlib.crc32(entries) != entries_crc:
            raise AzothError("AZ-I004", "the GPT's partition entries fail their CRC",
                             file=source)
        # The old backup (header and entries) is now just zeros inside the disk.
        disk.seek(backup * SECTOR)
        disk.write(bytes(SECTOR))
        old_backup_entries = backup - entries_sectors
        if old_backup_entries > entries_lba + entries_sectors:
            disk.seek(old_backup_entries * SECTOR)
            disk.write(bytes(entries_sectors * SECTOR))
        last = size // SECTOR - 1
        new_entries_lba = last - entries_sectors
        new_last_usable = new_entries_lba - 1

        def header(current_lba, other_lba, entries_at):
            packed = GPT_HEADER.pack(GPT_SIGNATURE, revision, header_size, 0, 0, current_lba,
                                     other_lba, first_usable, new_last_usable, guid, entries_at,
                                     entry_count, entry_size, entries_crc)
            return _with_crc(packed + raw[GPT_HEADER.size:], header_size)

        disk.seek(1 * SECTOR)
        disk.write(header(1, last, entries_lba))
        disk.seek(new_entries_lba * SECTOR)
        disk.write(entries)
        disk.seek(last * SECTOR)
        disk.write(header(last, 1, new_entries_lba))
        # The protective MBR's 0xEE partition covers the whole disk (or as much as 32 bits say).
        disk.seek(446)
        mbr = bytearray(disk.read(64))
        for i in range(4):
            if mbr[i * 16 + 4] == 0xEE:
                struct.pack_into("<I", mbr, i * 16 + 12, min(last, 0xFFFFFFFF))
        disk.seek(446)
        disk.write(mbr)
    tmp.replace(out)
    return Path(out)


def _round_up(n, unit):
    return -(-n // unit) * unit


def qemu_img_convert(raw, out, fmt, options=()):
    tmp = Path(out).with_name(f".{Path(out).name}.partial")
    tools.run([QEMU_IMG, "convert", "-f", "raw", "-O", fmt, *options, raw, tmp])
    tmp.replace(out)
    return Path(out)


def make_gce(raw_source, out):
    """disk.raw, a whole number of GiB, alone in a gzip'd GNU tar (what GCE's image import
    takes)."""
    with tempfile.TemporaryDirectory(prefix="azoth-gce-") as tmp:
        disk = Path(tmp) / "disk.raw"
        grow_gpt_disk(raw_source, disk, _round_up(Path(raw_source).stat().st_size, GIB))
        partial = Path(out).with_name(f".{Path(out).name}.partial")
        tools.run(["tar", "--format=oldgnu", "-Sczf", partial, "-C", tmp, "disk.raw"])
        partial.replace(out)
    return Path(out)


FIRECRACKER_TAP = "tap0"      # the host's tap device an appliance with a network is given


def make_firecracker(kernel_pvh, image, out_dir, memory_mib, cmdline="", network=False,
                     entropy=False):
    """A folder Firecracker boots as it is: `firecracker --no-api --config-file vm_config.json`
    run inside it. Firecracker loads the PVH kernel and passes the image as the initrd; it adds
    its virtio-mmio devices to the command line itself (virtio_mmio.device=...). An appliance
    with a network gets a virtio-net device on FIRECRACKER_TAP; one with a module granted
    entropy, Firecracker's virtio-rng ("entropy")."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(kernel_pvh, out_dir / Path(kernel_pvh).name)
    shutil.copyfile(image, out_dir / Path(image).name)
    config = {
        "boot-source": {
            "kernel_image_path": Path(kernel_pvh).name,
            "initrd_path": Path(image).name,
            "boot_args": cmdline,
        },
        "drives": [],
        "machine-config": {"vcpu_count": 1, "mem_size_mib": memory_mib, "smt": False},
        "network-interfaces": [{"iface_id": "net0", "host_dev_name": FIRECRACKER_TAP}]
        if network else [],
    }
    if entropy:
        config["entropy"] = {}
    (out_dir / FIRECRACKER_CONFIG).write_text(json.dumps(config, indent=2) + "\n")
    return out_dir


def write_formats(formats, iso, image, kernel_pvh, name, out, memory_mib, network=False,
                  entropy=False):
    """Writes each of FORMATS into OUT (the iso is made already, at ISO); returns the paths.
    The disks start from the ISO: it stays in OUT whether or not "iso" was asked for."""
    out = Path(out)
    written = []
    raw_needed = any(f in formats for f in ("raw", "qcow2", "vmdk", "vhd", "gce"))
    with tempfile.TemporaryDirectory(prefix=".azoth-disk-", dir=out) as tmp:
        raw = Path(tmp) / "disk.raw"
        if raw_needed:
            grow_gpt_disk(iso, raw, _round_up(Path(iso).stat().st_size, MIB))
        for fmt in formats:
            with tools.progress(f"writing the {fmt} form of {name}"):
                if fmt == "iso":
                    written.append(Path(iso))
                elif fmt == "raw":
                    path = out / f"{name}.raw"
                    shutil.copyfile(raw, path)
                    written.append(path)
                elif fmt == "qcow2":
                    written.append(qemu_img_convert(raw, out / f"{name}.qcow2", "qcow2"))
                elif fmt == "vmdk":
                    written.append(qemu_img_convert(raw, out / f"{name}.vmdk", "vmdk",
                                                    ["-o", "subformat=streamOptimized"]))
                elif fmt == "vhd":
                    written.append(qemu_img_convert(raw, out / f"{name}.vhd", "vpc",
                                                    ["-o", "subformat=fixed,force_size=on"]))
                elif fmt == "gce":
                    written.append(make_gce(raw, out / f"{name}.gce.tar.gz"))
                elif fmt == "firecracker":
                    written.append(make_firecracker(kernel_pvh, image,
                                                    out / f"{name}.firecracker", memory_mib,
                                                    network=network, entropy=entropy))
    return written


def check_disk(path):
    """Problems with a GPT disk's headers (tests): [] when both agree and their CRCs hold."""
    problems = []
    size = Path(path).stat().st_size
    with open(path, "rb") as disk:
        raw, primary = _gpt_header(disk, 1)
        last = size // SECTOR - 1
        if primary[6] != last:
            problems.append(f"primary header points to a backup at {primary[6]}, not {last}")
        for lba in (1, last):
            raw, fields = _gpt_header(disk, lba)
            header_size = fields[2]
            if _with_crc(raw, header_size)[:header_size] != raw[:header_size]:
                problems.append(f"header at {lba}: bad CRC")
            disk.seek(fields[10] * SECTOR)
            if zlib.crc32(disk.read(fields[11] * fields[12])) != fields[13]:
                problems.append(f"entries of the header at {lba}: bad CRC")
    return problems


def qemu_img_info(path, fmt=None):
    """qemu-img's description of a disk (fmt: read it as that format, not as probed: a fixed
    VHD probes as raw)."""
    out = subprocess.run([QEMU_IMG, "info", "--output=json", *(["-f", fmt] if fmt else []),
                          str(path)], capture_output=True, text=True, check=True).stdout
    return json.loads(out)
