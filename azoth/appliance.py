"""Builds an appliance: manifest -> sources -> Wasm -> objects (Alkahest) -> linked, signed image
(with the manifest's files).

Each step has one place here, in data-path order. Nothing is written into images/ unless every
step succeeded; files are written whole (temp file + rename).
"""
import difflib
import hashlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import catalogue as catalogue_module
from . import deps
from . import limits
from . import network
from . import image as image_module
from . import manifest as manifest_module
from . import signing
from .alko import ObjectFile
from . import tools
from .errors import AzothError
from .sources import to_wasm
from .tools import atomic_write, progress, run

ROOT = Path(__file__).resolve().parent.parent
ALKAHEST = ROOT / "alkahest" / "build" / "alkahest"
KERNEL = ROOT / "athanor" / "build" / "athanor.elf"          # multiboot1 and 2: QEMU, GRUB
KERNEL_PVH = ROOT / "athanor" / "build" / "athanor-pvh.elf"  # PVH: microVMs, Firecracker
# The kernel for each machine (athanor/arch/<arch>/, make ARCH=): what QEMU loads with -kernel.
# Every module of an appliance is compiled for its arch ([appliance] arch, --arch).
# The AArch64 Image is position independent: the same file boots virt and the Raspberry Pi
# (its SD card names it kernel8.img).
KERNELS = {"x86_64": KERNEL, "aarch64": ROOT / "athanor" / "build" / "aarch64" / "Image"}
DEFAULT_ARCH = manifest_module.ARCHES[0]
PUBKEY = ROOT / "athanor" / "build" / "signing-pubkey.raw"
GUEST_HEADER = ROOT / "appliances" / "include" / "athanor.h"   # C modules include it
IMAGES = Path(os.environ.get("AZOTH_IMAGES") or ROOT / "images")   # tests redirect it
WORK = ROOT / "build" / "appliances"
ENTRY = "_start"                     # what the kernel calls after the start function


@dataclass
class BuildResult:
    manifest: manifest_module.Manifest
    image: Path
    iso: Path
    seconds: float
    objects: list = field(default_factory=list)     # alko.ObjectFile, in manifest order


def make_tools(key, arch=DEFAULT_ARCH):
    """Builds the compiler and the kernel for arch (make does nothing when they are up to
    date)."""
    if arch != DEFAULT_ARCH:
        tools.ensure_packages([arch])           # the cross compiler and QEMU
    with tools.locked("make"):
        with progress("building the compiler, Alkahest (the first time: about 30 s)"):
            run(["make", "-s", "-C", ROOT / "alkahest"])
        signing.write_public_key(key, PUBKEY)
        with progress(f"building the kernel, Athanor ({arch})"):
            run(["make", "-s", "-C", ROOT / "athanor", f"PUBKEY={PUBKEY}", f"ARCH={arch}"])


OPT_LIBRARY = ALKAHEST.with_name("alkahest-opt.so")
OBJECT_CACHE = ROOT / "build" / "cache" / "objects"
OBJECT_CACHE_MB = 2048          # the cache's default cap (AZOTH_CACHE_MB overrides)
_identities = {}


def _file_identity(path):
    """A file's bytes, by hash (once per process)."""
    if path not in _identities:
        _identities[path] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return _identities[path]


def _llvm_identity():
    """libLLVM as alkahest-opt.so loads it: its resolved path, size and time (a Debian update
    changes them; hashing 100 MB per build would cost more than some compiles)."""
    if "llvm" not in _identities:
        found = ""
        try:
            listing = run(["ldd", OPT_LIBRARY], capture=True, check=False).stdout.decode()
            library = next((line.split("=>")[1].split("(")[0].strip() for line in
                            listing.splitlines() if "libLLVM" in line and "=>" in line), "")
            if library:
                stat = Path(library).resolve().stat()
                found = f"{Path(library).resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
        except OSError:
            pass
        _identities["llvm"] = found
    return _identities["llvm"]


def cache_key(wasm_bytes, bounds, tier, target=DEFAULT_ARCH):
    """What decides an object: the module's bytes, the compiler (its binaries), the target,
    the bounds mode and the tier. Equal keys, equal objects (Alkahest's output depends on
    nothing else, docs/opt-tier.md)."""
    parts = [hashlib.sha256(wasm_bytes).hexdigest(), _file_identity(ALKAHEST), target,
             bounds, tier]
    if tier == "speed":
        parts += [_file_identity(OPT_LIBRARY), _llvm_identity()]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def compile_module(wasm, bounds, out_dir, module, target=DEFAULT_ARCH):
    """Alkahest: validate and compile one module to an object for target, through the tier
    its manifest asks for. Objects are cached by (module hash, compiler, target, bounds, tier)
    in build/cache/objects/: an unchanged module is not compiled again, whichever appliance or
    folder it comes from."""
    tier = getattr(module, "opt", "none")
    machine = "" if target == DEFAULT_ARCH else f".{target}"
    out = Path(out_dir) / f"{module.name}.{bounds}{'.opt' if tier == 'speed' else ''}{machine}.alko"
    key = cache_key(Path(wasm).read_bytes(), bounds, tier, target)
    cached = OBJECT_CACHE / f"{key}.alko"
    data = _cache_read(cached)
    if data is None:
        OBJECT_CACHE.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_name(f"{cached.name}.{os.getpid()}.tmp")
        options = ["--bounds", bounds, "--target", target] + \
            (["-O"] if tier == "speed" else [])
        what = "the optimizing tier (LLVM)" if tier == "speed" else "Alkahest"
        with progress(f"compiling {module.name} with {what}"):
            result = run([ALKAHEST, "compile", wasm, "-o", tmp, *options], capture=True,
                         check=False)
        if result.returncode != 0:
            tmp.unlink(missing_ok=True)
            message = result.stderr.decode(errors="replace").strip() or \
                f"exit {result.returncode}"
            raise AzothError("AZ-C001", f"{module.key} ({module.name}): {message}",
                             file=module.sources[0])
        data = tmp.read_bytes()
        tmp.replace(cached)
    if not (out.exists() and out.stat().st_size == len(data) and out.read_bytes() == data):
        atomic_write(out, data)
    return out


def _cache_read(cached):
    """A cached object's bytes, marking it used (its time orders the pruning), or None when it
    is not there (never made, or pruned by another build.py a moment ago)."""
    try:
        data = cached.read_bytes()
        os.utime(cached)
        return data
    except FileNotFoundError:
        return None


def cache_limit():
    """The object cache's size cap in bytes: AZOTH_CACHE_MB (MiB; 0: no cap), else
    OBJECT_CACHE_MB."""
    value = os.environ.get("AZOTH_CACHE_MB", str(OBJECT_CACHE_MB))
    try:
        megabytes = int(value)
        if megabytes < 0:
            raise ValueError
    except ValueError:
        raise AzothError("AZ-T012", f"AZOTH_CACHE_MB={value!r}: expected a whole number of "
                         "MiB (0: no cap)") from None
    return megabytes << 20


def prune_object_cache(limit=None, now=None):
    """Keeps build/cache/objects/ under its cap: when it is over, removes the objects used
    longest ago until it is under three quarters of the cap (so a build does not prune on
    every run), and always the temporary files of compiles that died over an hour ago.
    Returns (files removed, bytes removed). Removing an object only costs a compile later."""
    limit = cache_limit() if limit is None else limit
    now = time.time() if now is None else now
    removed = [0, 0]

    def remove(path, size):
        try:
            path.unlink()
            removed[0] += 1
            removed[1] += size
        except FileNotFoundError:
            pass                                # another build.py pruned it first
    entries = []
    with tools.locked("object-cache-prune"):
        for path in OBJECT_CACHE.glob("*") if OBJECT_CACHE.is_dir() else []:
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            if path.name.endswith(".tmp"):
                if now - stat.st_mtime > 3600:
                    remove(path, stat.st_size)
            elif path.suffix == ".alko":
                entries.append((stat.st_mtime, stat.st_size, path))
        total = sum(size for _, size, _ in entries)
        if limit and total > limit:
            for _, size, path in sorted(entries):
                if total <= limit * 3 // 4:
                    break
                remove(path, size)
                total -= size
    return tuple(removed)


def check_target(module, obj, arch=DEFAULT_ARCH):
    """The kernel runs code for its own machine only (it refuses any other object too)."""
    if obj.target != arch:
        raise AzothError("AZ-C011", f"{module.key} ({module.name}): the object is compiled for "
                         f"{obj.target}, the kernel runs {arch} code", file=obj.origin)


def _how_to_grant(capability):
    if capability.parameter == "channel":
        return "make it the 'from' or 'to' module of a [[channel]]"
    if capability.parameter == "range":
        return f"add a grant such as '{capability.name}:FIRST-LAST' to its grants"
    if capability.parameter == "number":
        return f"add a grant such as '{capability.name}:N' to its grants"
    return f"add '{capability.name}' to its grants"


def link_imports(manifest, module, obj, catalogue):
    """Maps every import to a kernel function, refusing any that no grant covers."""
    granted = set(module.capabilities) | {catalogue_module.ALWAYS}
    ids = []
    for imp in obj.imports():
        if imp.kind != "function":
            raise manifest_module.import_error(
                manifest, module, "AZ-M012",
                f"module {module.name!r} imports {imp.kind} {imp.name}: the kernel provides "
                "functions only")
        kernel = catalogue.lookup(imp.module, imp.field)
        if kernel is None:
            same = sorted(k.field for k in catalogue.imports.values() if k.module == imp.module)
            modules = sorted({k.module for k in catalogue.imports.values()})
            known = f"{imp.module} provides: {', '.join(same)}" if same else \
                f"it provides the modules {', '.join(modules)}"
            raise manifest_module.import_error(
                manifest, module, "AZ-M010",
                f"module {module.name!r} imports {imp.name}, which the kernel does not provide "
                f"({known})")
        if not granted & set(kernel.grants):
            needs = "capability" if len(kernel.grants) == 1 else "one of the capabilities"
            caps = [catalogue.capabilities[g] for g in kernel.grants]
            how = f"add {kernel.grants_text()} to its grants" if \
                all(c.parameter is None for c in caps) else \
                " or ".join(_how_to_grant(c) for c in caps)
            raise manifest_module.import_error(
                manifest, module, "AZ-M008",
                f"module {module.name!r} imports {imp.name}, which no grant covers (it needs "
                f"{needs} {kernel.grants_text()}): {how}")
        if (imp.params, imp.results) != (kernel.params, kernel.results):
            raise manifest_module.import_error(
                manifest, module, "AZ-M011",
                f"module {module.name!r} imports {imp.name} as {imp.signature()}, but the kernel's "
                f"{imp.name} is {kernel.signature()}")
        ids.append(kernel.id)
    return ids


def module_index(manifest, name):
    return next(i for i, m in enumerate(manifest.modules) if m.name == name)


def supervisor_index(manifest, name):
    return next(i for i, s in enumerate(manifest.supervisors) if s.name == name)


def resources_of(manifest, module, catalogue):
    """The module's run-time resources: its parameterised grants, then its channel ends."""
    out = [image_module.ImageResource(g.capability.resource, g.first, g.last, g.flags)
           for g in module.parsed_grants if g.capability.parameter]
    kind = catalogue.capabilities["channel"].resource
    for channel in manifest.channels:
        flags = (image_module.RESOURCE_SEND if channel.sender == module.name else 0) | \
            (image_module.RESOURCE_RECEIVE if channel.receiver == module.name else 0)
        if flags:
            out.append(image_module.ImageResource(kind, channel.index, channel.index, flags))
    return out


def channels_of(manifest):
    return [image_module.ImageChannel(c.name, module_index(manifest, c.sender),
                                      module_index(manifest, c.receiver), c.depth,
                                      c.message_size) for c in manifest.channels]


def supervisors_of(manifest):
    """The tree, root first; a child is (is_supervisor, index)."""
    out = []
    for sup in manifest.supervisors:
        children = []
        for child in sup.children:
            if manifest.module(child) is not None:
                children.append((False, module_index(manifest, child)))
            else:
                children.append((True, supervisor_index(manifest, child)))
        parent = image_module.NO_PARENT if sup.parent is None else \
            supervisor_index(manifest, sup.parent)
        out.append(image_module.ImageSupervisor(sup.name, parent, sup.strategy, sup.max_restarts,
                                                sup.within_ns, sup.on_exhausted, children))
    return out


def check_memory(manifest, module, obj):
    memory = obj.memory()
    if memory is None:
        return
    minimum, _maximum, imported = memory
    if imported:
        raise manifest_module.import_error(manifest, module, "AZ-M012",
                                           f"module {module.name!r} imports a memory: the "
                                           "kernel gives each module its own")
    if minimum * manifest_module.WASM_PAGE > module.memory:
        checker = manifest_module._Checker(manifest.path, manifest.path.read_text())
        raise checker.error("AZ-M013", f"module {module.name!r} needs {minimum} pages "
                            f"({minimum * 64} KiB) of linear memory at start, more than its "
                            f"memory limit of {module.memory >> 10} KiB",
                            module.kind, module.index, "memory")


def warn_without_entry(manifest, module, obj):
    """An app that exports no `_start` and has no start function runs nothing at all: most
    likely a misspelt export. A warning (AZ-W001), not an error: a driver, or an app that only
    serves through its start function, is legitimate."""
    if module.kind != "app" or obj.start is not None:
        return
    exports = [name for name, kind, _ in obj.exports() if kind == "function"]
    if ENTRY in exports:
        return
    checker = manifest_module._Checker(manifest.path, manifest.path.read_text())
    where = checker.error("AZ-W001", "", module.kind, module.index, "source")
    listed = ", ".join(exports) if exports else "none"
    close = difflib.get_close_matches(ENTRY, exports, n=1, cutoff=0.6)
    hint = f": is {close[0]!r} a misspelt {ENTRY!r}?" if close else ""
    tools.log(f"{where.file}:{where.line}: warning AZ-W001: {where.key}: app {module.name!r} "
              f"exports no {ENTRY!r} function and has no start function, so it runs nothing "
              f"(its exported functions: {listed}){hint}")


def _build_service(module, bounds, arch=DEFAULT_ARCH):
    """The object of a module the build adds (azoth/network.py), in build/appliances/_services,
    for the appliance's arch."""
    if module.service == "tcpip":
        tree = deps.lwip()
        module.sources = module.sources + network.lwip_sources(tree)
        module.cflags = module.cflags + network.lwip_cflags(tree)
    headers = network.stack_headers() if module.service == "tcpip" else \
        network.driver_headers() if module.service == "virtio-net" else []
    folder = WORK / "_services"
    wasm = to_wasm(module, folder, [GUEST_HEADER, *headers])
    return compile_module(wasm, bounds, folder, module, target=arch)


def build(directory, key=None, make=True, iso=True, images=None, arch=None, machine=None):
    """Builds the appliance in directory for arch (default: its manifest's) and machine (the
    board its modules are picked for: default, the arch's QEMU machine). iso: also the GRUB
    ISO (x86-64 only: there is none for another machine). The image goes to images (default:
    images/, or images/ARCH/ for another machine than x86-64)."""
    started = time.monotonic()
    catalogue = catalogue_module.load()
    if arch and arch not in manifest_module.ARCHES:
        raise AzothError("AZ-T011", f"--arch {arch}: expected one of "
                         f"{', '.join(manifest_module.ARCHES)}")
    manifest = manifest_module.load(directory, catalogue, arch, machine)
    iso = iso and manifest.arch == DEFAULT_ARCH
    key = signing.ensure_key(key)
    if any(m.opt == "speed" for m in manifest.modules):
        tools.ensure_packages(["opt"])          # LLVM, before make builds alkahest-opt.so
    if make:
        make_tools(key, manifest.arch)
    # Cached Wasm and objects, per manifest location (two appliances may share a name).
    where = hashlib.sha256(str(manifest.directory.resolve()).encode()).hexdigest()[:10]
    with tools.locked(f"appliance-{manifest.name}-{where}"):
        return _build(manifest, catalogue, key, WORK / f"{manifest.name}-{where}", iso, images,
                      started)


def _build(manifest, catalogue, key, work, iso, images, started):
    modules, objects = [], []
    for module in manifest.modules:
        if module.service:
            # The driver and the stack the build adds are the same for every appliance: built
            # once for all of them (their arguments come from the image, not the compiler), by
            # one build.py at a time (the tests build appliances in parallel).
            with tools.locked(f"service-{module.service}"):
                obj_path = _build_service(module, manifest.bounds, manifest.arch)
        else:
            wasm = to_wasm(module, work, [GUEST_HEADER])
            obj_path = compile_module(wasm, manifest.bounds, work, module, target=manifest.arch)
        obj = ObjectFile(obj_path.read_bytes(), str(obj_path))
        check_target(module, obj, manifest.arch)
        if obj.tier != module.opt:
            raise AzothError("AZ-C012", f"{module.key} ({module.name}): {obj_path} was compiled "
                             f"with opt = {obj.tier!r}, the manifest asks for {module.opt!r} "
                             "(a stale cache entry? remove build/cache/objects)",
                             file=module.sources[0])
        import_ids = link_imports(manifest, module, obj, catalogue)
        check_memory(manifest, module, obj)
        warn_without_entry(manifest, module, obj)
        objects.append(obj)
        bitmap = sum(1 << catalogue.capabilities[c].bit for c in module.capabilities)
        modules.append(image_module.ImageModule(
            module.name, module.kind, module.restart, bitmap, module.memory, obj, import_ids,
            module.args, module.env, supervisor_index(manifest, module.supervisor),
            resources_of(manifest, module, catalogue), module.stack))
    files = [image_module.ImageFile(f.guest, f.host.read_bytes()) for f in manifest.files]
    kernel = KERNELS[manifest.arch]
    limits.check_appliance(manifest, objects,
                           image_bytes=sum(len(o.data) for o in objects) +
                           sum(len(f.data) for f in files),
                           kernel_bytes=kernel.stat().st_size if kernel.exists() else 0)
    data = image_module.build(manifest.name, manifest.version, manifest.memory, manifest.bounds,
                              modules, signing.signer(key), channels_of(manifest),
                              supervisors_of(manifest), files, arch=manifest.arch)
    # Another machine's image beside the x86-64 one, not over it: images/aarch64/NAME.azi
    images = Path(images) if images else \
        IMAGES if manifest.arch == DEFAULT_ARCH else IMAGES / manifest.arch
    image_path = images / f"{manifest.name}.azi"
    if not (image_path.exists() and image_path.read_bytes() == data):
        atomic_write(image_path, data)
    iso_path = images / f"{manifest.name}.iso"
    if iso:
        make_iso_cached(image_path, iso_path)
    prune_object_cache()
    return BuildResult(manifest, image_path, iso_path, time.monotonic() - started, objects)


def make_iso_cached(image_path, iso_path):
    """grub-mkrescue takes a second: redo it only when the kernel or the image changed."""
    from . import qemu
    digest = hashlib.sha256(KERNEL.read_bytes() + image_path.read_bytes()).hexdigest()
    stamp = iso_path.with_name(f".{iso_path.name}.sha256")
    if iso_path.exists() and stamp.exists() and stamp.read_text() == digest:
        return iso_path
    with progress(f"making {iso_path.name} (GRUB, BIOS and UEFI)"):
        qemu.make_iso(KERNEL, image_path, iso_path)
    iso_path.chmod(0o644)
    atomic_write(stamp, digest.encode())
    return iso_path
