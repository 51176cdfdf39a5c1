"""Third-party sources the build compiles but the repository never holds: fetched once from Debian's
source packages into a cache (build/deps/), verified against the SHA-256 pinned here, unpacked,
and patched with the project's own patches.

    lwip()       lwIP 2.1.3 (Debian's source package `lwip`), for the TCP/IP stack module
                 (appliances/services/net): returns the unpacked tree
    linux_guest()  Debian's amd64 kernel (the binary package that linux-image-amd64 names),
                 unpacked: the guest bench/httpd.py measures appliances/httpd against
    raspi3b_dtb()  the Raspberry Pi 3 Model B's device tree (bcm2837-rpi-3-b.dtb), taken from
                 Debian's arm64 kernel package: what QEMU -M raspi3b hands the kernel (-dtb)

`apt-get source --download-only` runs with a sources list and a lists folder of its own
(`-o Dir::Etc::SourceList=...`), so the system's apt configuration is neither read nor changed.
"""
import hashlib
import io
import shutil
import tarfile
from pathlib import Path

from .errors import AzothError
from .tools import atomic_write, locked, progress, run

ROOT = Path(__file__).resolve().parent.parent
DEPS = ROOT / "build" / "deps"
DEBIAN_SOURCES = "deb-src http://deb.debian.org/debian bookworm main"
DEBIAN_BINARIES = "deb http://deb.debian.org/debian bookworm main"


class SourcePackage:
    def __init__(self, package, version, files, tree, patches=()):
        self.package = package
        self.version = version           # Debian's version, as apt-get source names it
        self.files = files               # file name -> SHA-256 (every file apt-get fetches)
        self.tree = tree                 # the folder the upstream tarball unpacks into
        self.patches = tuple(patches)    # the project's own, applied in order (patch -p1)


LWIP = SourcePackage(
    "lwip", "2.1.3+dfsg1-2",
    {"lwip_2.1.3+dfsg1.orig.tar.xz":
         "0a8276d09fc4e97bbba2f953d74af2388fc2195ea156be9d7589e297a68fde24",
     "lwip_2.1.3+dfsg1-2.debian.tar.xz":
         "c5a48413d362cc757032cdd58f528f75eb64ee781ca46ca24f010b49b0e62a90",
     "lwip_2.1.3+dfsg1-2.dsc":
         "8d8f944db8e6d542fc2d6f01559078fb1b5dda71651c67ee5fa3571ed1342c50"},
    "lwip-2.1.3",
    sorted((ROOT / "appliances" / "services" / "net" / "patches").glob("*.patch")))


def _extract(archive, into, name):
    """Unpacks a tar archive into `into`, refusing any member that would land outside it or
    is not a plain file, folder or link within it (tarfile's "data" filter where this Python
    has it: Debian 12's 3.11.2 does not)."""
    if hasattr(tarfile, "data_filter"):
        archive.extractall(into, filter="data")
        return
    root = Path(into).resolve()
    for member in archive.getmembers():
        target = (root / member.name).resolve()
        link = (target.parent / member.linkname).resolve() if member.issym() else \
            (root / member.linkname).resolve() if member.islnk() else target
        inside = all(p == root or root in p.parents for p in (target, link))
        if not inside or not (member.isfile() or member.isdir() or member.issym() or
                              member.islnk()):
            raise AzothError("AZ-T010", f"{name}: member {member.name!r} would unpack outside "
                             "its folder or is not a file")
    archive.extractall(into)


def _sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _apt_options(folder):
    return ["-o", f"Dir::Etc::SourceList={folder / 'sources.list'}",
            "-o", "Dir::Etc::SourceParts=/dev/null",
            "-o", f"Dir::State::Lists={folder / 'lists'}",
            "-o", f"Dir::Cache={folder / 'cache'}"]


def download(package, folder=DEPS / "downloads"):
    """The package's files in FOLDER, fetched with apt-get source the first time and checked
    against their pinned SHA-256 every time (a mismatch is AZ-T010: nothing is unpacked)."""
    folder.mkdir(parents=True, exist_ok=True)
    if not all((folder / name).is_file() for name in package.files):
        apt = folder / "apt"
        (apt / "lists" / "partial").mkdir(parents=True, exist_ok=True)
        (apt / "cache").mkdir(parents=True, exist_ok=True)
        (apt / "sources.list").write_text(DEBIAN_SOURCES + "\n")
        with progress(f"fetching Debian's source package {package.package} "
                      f"{package.version} (once)"):
            try:
                run(["apt-get", *_apt_options(apt), "update"], capture=True)
                run(["apt-get", *_apt_options(apt), "source", "--download-only",
                     f"{package.package}={package.version}"], capture=True, cwd=folder)
            except AzothError as e:
                raise AzothError("AZ-T010", f"cannot fetch Debian's source package "
                                 f"{package.package} {package.version} (apt-get source needs "
                                 "the Debian archive once)", detail=e.detail) from None
    for name, digest in package.files.items():
        path = folder / name
        if not path.is_file() or _sha256(path) != digest:
            raise AzothError("AZ-T010", f"{name}: not the file pinned in azoth/deps.py "
                             f"(SHA-256 {digest[:16]}...); delete {folder} to fetch it again",
                             file=path)
    return folder


def unpack(package, into=DEPS):
    """The upstream tree, unpacked and patched (again when a patch changed), by one process at
    a time: the parallel test workers all want lwIP, and two unpacking into one staging folder
    left a tree without its sources (a fresh clone's first test run)."""
    with locked(f"deps-{package.tree}"):
        return _unpack(package, into)


def _unpack(package, into):
    folder = download(package)
    tree = into / package.tree
    stamp = into / f".{package.tree}.stamp"
    wanted = "\n".join([package.files[n] for n in sorted(package.files)] +
                       [_sha256(p) for p in package.patches])
    if tree.is_dir() and stamp.is_file() and stamp.read_text() == wanted:
        return tree
    if tree.exists():
        shutil.rmtree(tree)
    orig = next(n for n in package.files if ".orig.tar" in n)
    staging = into / f".{package.tree}.unpacking"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    with tarfile.open(folder / orig) as archive:
        _extract(archive, staging, orig)
    found = [p for p in staging.rglob(package.tree) if p.is_dir()]
    if not found:
        raise AzothError("AZ-T010", f"{orig}: no folder {package.tree} inside")
    for patch in package.patches:
        run(["patch", "-p1", "-s", "-i", patch], cwd=found[0], capture=True)
    found[0].rename(tree)
    shutil.rmtree(staging)
    stamp.write_text(wanted)
    return tree


def lwip():
    return unpack(LWIP)


# linux-image-amd64 6.1.176-1 depends on this one (bookworm); a newer point release is a new pin.
LINUX_GUEST = ("linux-image-6.1.0-50-amd64", "6.1.176-1",
               "linux-image-6.1.0-50-amd64_6.1.176-1_amd64.deb",
               "7b5597492a0a65aee61985a492e6bcc3f2cde830072a0e3b3d8c7e1b90279bd3")


def linux_guest(into=DEPS / "linux"):
    """Debian's amd64 kernel package, fetched once with apt-get download (its own lists, as
    download() does), checked against LINUX_GUEST's SHA-256 and unpacked (dpkg-deb -x) into
    INTO/tree: boot/vmlinuz-*, lib/modules/*/kernel/. Returns the tree."""
    with locked("deps-linux-guest"):
        return _linux_guest(into)


def _linux_guest(into):
    package, version, name, digest = LINUX_GUEST
    tree, stamp = into / "tree", into / ".tree.stamp"
    if tree.is_dir() and stamp.is_file() and stamp.read_text() == digest:
        return tree
    deb = _fetch_deb(LINUX_GUEST, into, "amd64", "70 MB")
    if tree.exists():
        shutil.rmtree(tree)
    staging = into / ".tree.unpacking"
    if staging.exists():
        shutil.rmtree(staging)
    run(["dpkg-deb", "-x", deb, staging], capture=True)
    staging.rename(tree)
    stamp.write_text(digest)
    return tree


def _fetch_deb(pinned, into, arch, size):
    """The binary package PINNED (package, version, file, SHA-256) for ARCH in INTO, fetched
    once with apt-get download through lists of its own and checked against its digest."""
    package, version, name, digest = pinned
    deb = into / name
    if not deb.is_file():
        apt = into / "apt"
        (apt / "lists" / "partial").mkdir(parents=True, exist_ok=True)
        (apt / "cache").mkdir(parents=True, exist_ok=True)
        (apt / "sources.list").write_text(DEBIAN_BINARIES.replace("deb ", f"deb [arch={arch}] ", 1) + "\n")
        options = [*_apt_options(apt), "-o", f"APT::Architecture={arch}",
                   "-o", f"APT::Architectures={arch}"]
        with progress(f"fetching Debian's package {package} {version} ({arch}, once, {size})"):
            try:
                run(["apt-get", *options, "update"], capture=True)
                run(["apt-get", *options, "download", f"{package}:{arch}={version}"],
                    capture=True, cwd=into)
            except AzothError as e:
                raise AzothError("AZ-T010", f"cannot fetch Debian's package {package} {version} "
                                 "(apt-get download needs the Debian archive once)",
                                 detail=e.detail) from None
    if _sha256(deb) != digest:
        raise AzothError("AZ-T010", f"{name}: not the file pinned in azoth/deps.py "
                         f"(SHA-256 {digest[:16]}...); delete it to fetch it again", file=deb)
    return deb


# linux-image-arm64 6.1.176-1 depends on this one (bookworm): its upstream device trees include
# the Raspberry Pi 3 Model B's. The blob's own digest is pinned too.
LINUX_ARM64 = ("linux-image-6.1.0-50-arm64", "6.1.176-1",
               "linux-image-6.1.0-50-arm64_6.1.176-1_arm64.deb",
               "914f75b57a8e165d85fb910c3e2dcc7000a05a9fea3f42f90b26e8dd590d5f06")
RASPI3B_DTB = ("usr/lib/linux-image-6.1.0-50-arm64/broadcom/bcm2837-rpi-3-b.dtb",
               "452eb81cde2331942cf000af509e2b3e9736c742612339ba449b34a591d1849e")


def raspi3b_dtb(into=DEPS / "raspi3b"):
    """The Raspberry Pi 3 Model B's device tree blob (INTO/bcm2837-rpi-3-b.dtb), taken once
    from Debian's arm64 kernel package (60 MB, deleted once the blob is out). Returns its path."""
    with locked("deps-raspi3b-dtb"):
        member, digest = RASPI3B_DTB
        dtb = into / Path(member).name
        if dtb.is_file() and _sha256(dtb) == digest:
            return dtb
        into.mkdir(parents=True, exist_ok=True)
        deb = _fetch_deb(LINUX_ARM64, into, "arm64", "60 MB")
        files = run(["dpkg-deb", "--fsys-tarfile", deb], capture=True).stdout
        with tarfile.open(fileobj=io.BytesIO(files), mode="r:") as archive:
            try:
                data = archive.extractfile("./" + member).read()
            except (KeyError, AttributeError):
                raise AzothError("AZ-T010", f"{deb.name} holds no {member}", file=deb) from None
        if hashlib.sha256(data).hexdigest() != digest:
            raise AzothError("AZ-T010", f"{member} in {deb.name}: not the blob pinned in "
                             "azoth/deps.py", file=deb)
        atomic_write(dtb, data)
        deb.unlink()
        return dtb
