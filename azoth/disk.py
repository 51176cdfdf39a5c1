"""Deployable forms of an appliance (`./build.py build --format ...`, docs/deploy.md).

    iso          images/NAME.iso       GRUB, BIOS and UEFI; a CD-ROM or a disk (the default)
    raw          images/NAME.raw       the same GPT disk grown to a whole MiB (QEMU, OpenStack)
    qcow2        images/NAME.qcow2     OpenStack, Proxmox, libvirt
    vmdk         images/NAME.vmdk      stream-optimized: AWS VM import, VMware
    vhd          images/NAME.vhd       fixed, a whole number of MiB: Azure
    gce          images/NAME.gce.tar.gz   disk.raw, a whole number of GiB: Google Compute Engine
    firecracker  images/NAME.firecracker/ the PVH kernel, the image and vm_config.json
    rpi          images/aarch64/NAME.rpi.img  an SD card for the Raspberry Pi 3 (AArch64): MBR,
                 one FAT32 partition with config.txt, cmdline.txt, kernel8.img, NAME.azi

Every disk is the hybrid image grub-mkrescue writes: a GPT disk (protective MBR, an EFI system
partition with GRUB for UEFI) whose MBR also holds GRUB's BIOS boot code, with the kernel and
the signed image in its ISO 9660 file system. A disk grown to the size a cloud asks for gets its
backup GPT moved to the new last sector, as the GPT requires. Conversions use qemu-img.
"""
import json
import os
import shutil
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

from . import tools
from .errors import AzothError

FORMATS = ("iso", "raw", "qcow2", "vmdk", "vhd", "gce", "firecracker", "rpi")
FORMATS_NEEDING_TOOLS = ("qcow2", "vmdk", "vhd")     # qemu-img: tools.PACKAGES["disk"]
# The forms of an AArch64 appliance (the others boot the x86-64 kernel); rpi needs
# tools.PACKAGES["rpi"] (mkfs.fat, mcopy).
AARCH64_FORMATS = ("rpi",)
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


# The SD card (docs/deploy.md): an MBR, and from 1 MiB one FAT32 partition (type 0x0c, FAT32
# with LBA) of RPI_PARTITION_MIB, the Pi firmware's boot partition. 64 MiB at 512-byte clusters
# is well above FAT32's 65,525-cluster floor and holds the firmware files the user adds.
RPI_PARTITION_START = MIB
RPI_PARTITION_MIB = 64
RPI_PARTITION_TYPE = 0x0c
RPI_KERNEL = "kernel8.img"
MBR_PARTITION = struct.Struct("<B3sB3sII")     # status, CHS first, type, CHS last, LBA, sectors
CHS_BEYOND = b"\xfe\xff\xff"                   # "use the LBA fields" (past 8 GiB's CHS reach)


def rpi_config(name, image_name):
    """config.txt for the Pi firmware (start.elf): 64-bit, our kernel at 0x80000 (its link
    address, whatever the firmware's default), the signed image after it as the initramfs
    (the firmware names it in /chosen), the PL011 on the GPIO header's pins 14 and 15 at
    115200 (disable-bt: the Pi 3 wires it to Bluetooth otherwise)."""
    return (f"# Azoth appliance {name}: Athanor (kernel8.img) boots the signed image {image_name}\n"
            "# (docs/deploy.md). The firmware files are not on this card: add them.\n"
            "arm_64bit=1\n"
            f"kernel={RPI_KERNEL}\n"
            "kernel_address=0x80000\n"
            f"initramfs {image_name} followkernel\n"
            "enable_uart=1\n"
            "dtoverlay=disable-bt\n"
            "disable_splash=1\n")


def mbr(partitions, disk_id):
    """A DOS partition table: no boot code, the entries (start LBA, sectors, type), 0x55aa."""
    table = bytearray(SECTOR)
    struct.pack_into("<I", table, 440, disk_id)
    for i, (start, sectors, kind) in enumerate(partitions):
        MBR_PARTITION.pack_into(table, 446 + 16 * i, 0, CHS_BEYOND, kind, CHS_BEYOND, start, sectors)
    table[510:512] = b"\x55\xaa"
    return bytes(table)


def make_rpi(kernel8, image, out, name, cmdline=""):
    """The SD card image OUT: the MBR, then the FAT32 boot partition (mkfs.fat from dosfstools,
    files copied in with mcopy from mtools) holding config.txt, cmdline.txt (the kernel
    command line, which the firmware puts in /chosen/bootargs), kernel8.img and the image."""
    image_name = f"{name}.azi"
    sectors = RPI_PARTITION_MIB * MIB // SECTOR
    out = Path(out)
    with tempfile.TemporaryDirectory(prefix=".azoth-rpi-", dir=out.parent) as tmp:
        part, files = Path(tmp) / "boot.fat", Path(tmp) / "files"
        files.mkdir()
        (files / "config.txt").write_text(rpi_config(name, image_name))
        (files / "cmdline.txt").write_text(cmdline + "\n")
        shutil.copyfile(kernel8, files / RPI_KERNEL)
        shutil.copyfile(image, files / image_name)
        # A volume ID from the contents: the same inputs give the same card.
        volume_id = zlib.crc32(Path(kernel8).read_bytes() + Path(image).read_bytes())
        tools.run(["mkfs.fat", "-F", "32", "-S", str(SECTOR), "-s", "1", "-n", "AZOTH",
                   "--invariant", "-i", f"{volume_id:08x}", "-C", part,
                   str(RPI_PARTITION_MIB * 1024)], capture=True)
        for f in ("config.txt", "cmdline.txt", RPI_KERNEL, image_name):
            tools.run(["mcopy", "-i", part, "-m", files / f, f"::{f}"], capture=True,
                      env={**os.environ, "MTOOLS_SKIP_CHECK": "1"})
        partial = Path(tmp) / "card.img"
        with open(partial, "wb") as card:
            card.write(mbr([(RPI_PARTITION_START // SECTOR, sectors, RPI_PARTITION_TYPE)],
                           volume_id))
            card.seek(RPI_PARTITION_START)
            with open(part, "rb") as fat:
                shutil.copyfileobj(fat, card)
        partial.replace(out)
    return out


def write_formats(formats, iso, image, kernel_pvh, name, out, memory_mib, network=False,
                  entropy=False, kernel8=None):
    """Writes each of FORMATS into OUT (the iso is made already, at ISO); returns the paths.
    The disks start from the ISO: it stays in OUT whether or not "iso" was asked for. rpi
    takes the AArch64 image and kernel8 (the AArch64 kernel, kernel8.img on the card)."""
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
                elif fmt == "rpi":
                    written.append(make_rpi(kernel8, image, out / f"{name}.rpi.img", name))
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
