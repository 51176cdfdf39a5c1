"""Third-party sources the build compiles but the repository never holds: fetched once from Debian's
source packages into a cache (build/deps/), verified against the SHA-256 pinned here, unpacked,
and patched with the project's own patches.

    lwip()       lwIP 2.1.3 (Debian's source package `lwip`), for the TCP/IP stack module
                 (appliances/services/net): returns the unpacked tree
    linux_guest()  Debian's amd64 kernel (the binary package that linux-image-amd64 names),
                 unpacked: the guest bench/httpd.py measures appliances/httpd against

`apt-get source --download-only` runs with a sources list and a lists folder of its own
(`-o Dir::Etc::SourceList=...`), so the system's apt configuration is neither read nor changed.
"""
import hashlib
import shutil
import tarfile
from pathlib import Path

from .errors import AzothError
from .tools import locked, progress, run

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
    deb, tree = into / name, into / "tree"
    stamp = into / ".tree.stamp"
    if tree.is_dir() and stamp.is_file() and stamp.read_text() == digest:
        return tree
    if not deb.is_file():
        apt = into / "apt"
        (apt / "lists" / "partial").mkdir(parents=True, exist_ok=True)
        (apt / "cache").mkdir(parents=True, exist_ok=True)
        (apt / "sources.list").write_text(DEBIAN_BINARIES + "\n")
        with progress(f"fetching Debian's kernel package {package} {version} (once, 70 MB)"):
            try:
                run(["apt-get", *_apt_options(apt), "update"], capture=True)
                run(["apt-get", *_apt_options(apt), "download", f"{package}={version}"],
                    capture=True, cwd=into)
            except AzothError as e:
                raise AzothError("AZ-T010", f"cannot fetch Debian's package {package} {version} "
                                 "(apt-get download needs the Debian archive once)",
                                 detail=e.detail) from None
    if _sha256(deb) != digest:
        raise AzothError("AZ-T010", f"{name}: not the file pinned in azoth/deps.py "
                         f"(SHA-256 {digest[:16]}...); delete it to fetch it again", file=deb)
    if tree.exists():
        shutil.rmtree(tree)
    staging = into / ".tree.unpacking"
    if staging.exists():
        shutil.rmtree(staging)
    run(["dpkg-deb", "-x", deb, staging], capture=True)
    staging.rename(tree)
    stamp.write_text(digest)
    return tree
