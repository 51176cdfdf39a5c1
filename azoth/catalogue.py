"""The capability catalogue (manifest/capabilities.toml): what each grant links.

One source of truth: build.py checks imports against it, the image's import maps use its ids, and
formats/generate.py turns it into the kernel's table of import functions.
"""
import dataclasses
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from . import formats

CATALOGUE_PATH = Path(__file__).resolve().parent.parent / "manifest" / "capabilities.toml"
VALUE_TYPES = tuple(formats.TYPE_LETTERS)   # "i32", ... (formats/abi.toml)
ALWAYS = "always"
WASI_MODULE = "wasi_snapshot_preview1"   # alkahest/runtime/wasi.c implements it, not kernel=


@dataclass(frozen=True)
class KernelImport:
    name: str              # "athanor.log"
    id: int
    params: tuple
    results: tuple
    grants: tuple          # capability names any one of which links it, or ("always",)
    kernel: str            # implementing C function (None for WASI: alkahest/runtime/wasi.c)
    summary: str
    names: tuple = ()      # parameter names (docs, generated headers)

    @property
    def module(self):
        return self.name.split(".", 1)[0]

    @property
    def field(self):
        return self.name.split(".", 1)[1]

    @property
    def is_wasi(self):
        return self.module == WASI_MODULE

    @property
    def always(self):
        return self.grants == (ALWAYS,)

    def grants_text(self):
        """'stdin' or 'files', as docs and error messages write it."""
        return " or ".join(f"'{g}'" for g in self.grants)

    def signature(self):
        return f"({', '.join(self.params)}) -> ({', '.join(self.results)})"


PARAMETERS = ("range", "number", "channel", "pci", "size", "endpoint")

# PCI selectors (parameter "pci"): which function a grant names. The image's resource record
# holds the kind in its flags (with PCI_OPTIONAL), the key in `first` and a mask in `last`: the
# kernel grants the first function (in bus order) whose key, masked, equals it. The constants
# are the image format's (formats/image.toml).
#   id       VVVV:DDDD        key = vendor << 16 | device
#   class    class=CC.SS.PP   key = class << 16 | subclass << 8 | programming interface
#   address  BB:DD.F          key = bus << 8 | device << 3 | function
PCI_SELECT_ID, PCI_SELECT_CLASS, PCI_SELECT_ADDRESS, PCI_OPTIONAL = (
    formats.IMAGE.constant(name) for name in ("pci_select_id", "pci_select_class",
                                              "pci_select_address", "pci_optional"))
PAGE = 4096
SIZE_UNITS = {"": 1, "K": 1 << 10, "KiB": 1 << 10, "M": 1 << 20, "MiB": 1 << 20,
              "G": 1 << 30, "GiB": 1 << 30}


@dataclass(frozen=True)
class Capability:
    name: str
    summary: str
    imports: tuple
    bit: int               # position in the image's grant bitmap
    parameter: str = None  # None, or one of PARAMETERS
    resource: int = 0      # run-time resource kind in the image (parameterised capabilities)
    limit: int = 0         # largest parameter value
    reserved: tuple = ()   # ((arch, first, last), ...) the kernel keeps for itself (arch None: all)
    excludes: tuple = ()   # ((capability name, first, last), ...) no module may hold meanwhile


@dataclass(frozen=True)
class Grant:
    """One entry of a module's grants: a capability, with its parameter parsed."""
    text: str              # as written: "port:0x3f8-0x3ff"
    capability: Capability
    first: int = 0         # range / number: the inclusive range; pci: key and mask; size
    last: int = 0
    channel: str = None    # channel:NAME
    flags: int = 0         # pci: the selector's kind, PCI_OPTIONAL


def parse_number(text):
    """'0x3f8' or '1016' -> int; None when malformed."""
    text = text.strip()
    try:
        if re.fullmatch(r"0[xX][0-9a-fA-F]+", text):
            return int(text, 16)
        if re.fullmatch(r"[0-9]+", text):
            return int(text)
    except ValueError:
        pass
    return None


def parse_size_text(text):
    """'512K', '1M', '65536' -> bytes; None when malformed (the manifest's sizes too)."""
    m = re.fullmatch(r"([0-9]+)\s*(K|KiB|M|MiB|G|GiB)?", text.strip())
    return int(m.group(1)) * SIZE_UNITS[m.group(2) or ""] if m else None


def parse_pci_selector(text):
    """'1af4:1041', '00:03.0', 'class=02.00', each maybe ending in '?' ->
    (flags, key, mask); None when malformed."""
    flags = 0
    if text.endswith("?"):
        flags, text = PCI_OPTIONAL, text[:-1]
    m = re.fullmatch(r"([0-9a-fA-F]{4}):([0-9a-fA-F]{4})", text)
    if m:
        return flags | PCI_SELECT_ID, int(m.group(1), 16) << 16 | int(m.group(2), 16), 0xFFFFFFFF
    m = re.fullmatch(r"([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7])", text)
    if m and int(m.group(2), 16) < 32:
        key = int(m.group(1), 16) << 8 | int(m.group(2), 16) << 3 | int(m.group(3))
        return flags | PCI_SELECT_ADDRESS, key, 0xFFFF
    m = re.fullmatch(r"class=([0-9a-fA-F]{2})(?:\.([0-9a-fA-F]{2})(?:\.([0-9a-fA-F]{2}))?)?", text)
    if m:
        parts = [p for p in m.groups() if p is not None]
        key = sum(int(p, 16) << (16 - 8 * i) for i, p in enumerate(parts))
        mask = (0xFFFFFF << (8 * (3 - len(parts)))) & 0xFFFFFF
        return flags | PCI_SELECT_CLASS, key, mask
    return None


def format_pci_selector(flags, key, mask):
    """The selector as a manifest writes it (for messages and `inspect`)."""
    kind = flags & 0xFF
    optional = "?" if flags & PCI_OPTIONAL else ""
    if kind == PCI_SELECT_ID:
        return f"{key >> 16:04x}:{key & 0xFFFF:04x}{optional}"
    if kind == PCI_SELECT_ADDRESS:
        return f"{key >> 8:02x}:{key >> 3 & 0x1F:02x}.{key & 7}{optional}"
    parts = [f"{key >> shift & 0xFF:02x}" for shift in (16, 8, 0) if mask >> shift & 0xFF]
    return f"class={'.'.join(parts)}{optional}"


def parse_endpoint(text):
    """'10.0.2.2:8000', '10.0.2.0/24:80-443', '*:53', '10.0.2.3:*' -> (first, last): the image's
    resource holds address << 16 | port for the lowest and for the highest (inclusive, each of
    the two ranges on its own); None when malformed."""
    host, sep, ports = text.rpartition(":")
    if not sep or not host:
        return None
    if host == "*":
        low, high = 0, 0xFFFFFFFF
    else:
        address, slash, prefix = host.partition("/")
        parts = address.split(".")
        if len(parts) != 4 or not all(p.isdigit() and int(p) < 256 for p in parts):
            return None
        value = int.from_bytes(bytes(int(p) for p in parts), "big")
        bits = 32
        if slash:
            if not prefix.isdigit() or int(prefix) > 32:
                return None
            bits = int(prefix)
        span = (1 << (32 - bits)) - 1
        low, high = value & ~span & 0xFFFFFFFF, value | span
    if ports == "*":
        first_port, last_port = 1, 0xFFFF
    else:
        parsed = parse_range(ports)
        if parsed is None or parsed[0] < 1 or parsed[1] > 0xFFFF:
            return None
        first_port, last_port = parsed
    return low << 16 | first_port, high << 16 | last_port


def format_endpoint(first, last):
    """The endpoint grant's parameter as a manifest writes it (for `inspect`)."""
    low, high = first >> 16, last >> 16
    ports = (first & 0xFFFF, last & 0xFFFF)
    if (low, high) == (0, 0xFFFFFFFF):
        host = "*"
    else:
        size = high - low + 1
        bits = 32 - (size.bit_length() - 1)
        host = ".".join(str(b) for b in low.to_bytes(4, "big")) + ("" if bits == 32 else f"/{bits}")
    port = "*" if ports == (1, 0xFFFF) else str(ports[0]) if ports[0] == ports[1] else \
        f"{ports[0]}-{ports[1]}"
    return f"{host}:{port}"


def parse_range(text):
    """'FIRST-LAST' or 'VALUE' -> (first, last), inclusive; None when malformed."""
    parts = text.split("-")
    if len(parts) == 1:
        value = parse_number(parts[0])
        return None if value is None else (value, value)
    if len(parts) == 2:
        first, last = parse_number(parts[0]), parse_number(parts[1])
        if first is not None and last is not None and first <= last:
            return (first, last)
    return None


@dataclass(frozen=True)
class KernelError:
    name: str              # "BADHANDLE"
    value: int             # negative
    summary: str


class Catalogue:
    def __init__(self, capabilities, imports, errors=()):
        self.capabilities = capabilities   # name -> Capability
        self.imports = imports             # "module.field" -> KernelImport
        self.errors = list(errors)         # KernelError, by value descending (-1 first)

    def lookup(self, module, field):
        return self.imports.get(f"{module}.{field}")

    def parse_grant(self, text, channels=(), arch=None):
        """A grant as written in a manifest -> Grant, for a module of arch (None: any machine).
        Raises ValueError with a message naming what is wrong (the caller adds the location).
        channels: the appliance's channel names."""
        name, _, parameter = text.partition(":")
        cap = self.capabilities.get(name)
        if cap is None:
            raise LookupError(name)
        if cap.parameter is None:
            if parameter:
                raise ValueError(f"capability {name!r} takes no parameter (write {name!r})")
            return Grant(text, cap)
        if cap.parameter == "channel":
            raise ValueError(f"{text!r}: channel grants come from [[channel]]: a channel's "
                             "'from' module may send on it and its 'to' module receive")
        if not parameter:
            example = {"range": f"{name}:FIRST-LAST", "pci": f"{name}:1af4:1041",
                       "size": f"{name}:512K", "endpoint": f"{name}:10.0.2.2:8000"}.get(cap.parameter, f"{name}:N")
            raise ValueError(f"capability {name!r} needs a parameter, as in {example!r}")
        if cap.parameter == "pci":
            parsed = parse_pci_selector(parameter)
            if parsed is None:
                raise ValueError(f"{text!r}: expected {name}:VVVV:DDDD (vendor:device, hex), "
                                 f"{name}:BB:DD.F (bus address) or {name}:class=CC[.SS[.PP]], "
                                 "with a trailing '?' when the device is optional")
            flags, key, mask = parsed
            return Grant(text, cap, key, mask, flags=flags)
        if cap.parameter == "endpoint":
            parsed = parse_endpoint(parameter)
            if parsed is None:
                raise ValueError(f"{text!r}: expected {name}:ADDRESS:PORT, the address an IPv4 "
                                 f"address, a network (10.0.2.0/24) or *, the port a number "
                                 f"1-65535, a range (80-443) or *, as in '{name}:10.0.2.2:8000'")
            return Grant(text, cap, *parsed)
        if cap.parameter == "size":
            size = parse_size_text(parameter)
            if size is None or size == 0 or size % PAGE:
                raise ValueError(f"{text!r}: expected {name}:SIZE, a multiple of 4K such as "
                                 f"'{name}:512K' or '{name}:4M'")
            if size > cap.limit:
                raise ValueError(f"{text!r}: {size:,} bytes, more than the kernel's limit of "
                                 f"{cap.limit:,}")
            return Grant(text, cap, size, size)
        parsed = parse_range(parameter) if cap.parameter == "range" else \
            (lambda n: None if n is None else (n, n))(parse_number(parameter))
        if parsed is None:
            shape = "FIRST-LAST or a single value" if cap.parameter == "range" else "a number"
            raise ValueError(f"{text!r}: expected {name}:{shape} (decimal or 0x hexadecimal)")
        first, last = parsed
        show = (lambda v: f"{v:#x}") if cap.parameter == "range" else str
        if last > cap.limit:
            raise ValueError(f"{text!r}: {show(last)} is beyond the largest {name} value "
                             f"{show(cap.limit)}")
        for machine, lo, hi in cap.reserved:
            if machine in (None, arch) and first <= hi and lo <= last:
                kept = show(lo) if lo == hi else f"{show(lo)}-{show(hi)}"
                on = f" on {machine}" if machine else ""
                raise ValueError(f"{text!r} overlaps {name} {kept}, which the kernel keeps "
                                 f"for itself{on}")
        return Grant(text, cap, first, last)


def _fail(message):
    raise ValueError(f"{CATALOGUE_PATH}: {message}")


def load(path=CATALOGUE_PATH):
    with open(path, "rb") as f:
        data = tomllib.load(f)
    unknown = set(data) - {"capability", "import", "error"}
    if unknown:
        _fail(f"unknown top-level tables {sorted(unknown)}")
    imports = {}
    ids = set()
    for name, entry in data.get("import", {}).items():
        if "." not in name:
            _fail(f"import {name!r} must be written module.field")
        wasi = name.split(".", 1)[0] == WASI_MODULE
        for key in ("id", "params", "results", "grant", "summary") + (() if wasi else ("kernel",)):
            if key not in entry:
                _fail(f"import {name!r} lacks {key!r}")
        if wasi and "kernel" in entry:
            _fail(f"import {name!r}: WASI functions are alkahest/runtime/wasi.c's, not kernel=")
        grants = entry["grant"]
        grants = (grants,) if isinstance(grants, str) else tuple(grants)
        if not grants or not all(isinstance(g, str) for g in grants) or len(set(grants)) != \
                len(grants) or (ALWAYS in grants and len(grants) > 1):
            _fail(f"import {name!r}: grant must be a capability, a list of them, or 'always'")
        if entry["id"] in ids:
            _fail(f"import id {entry['id']} used twice")
        ids.add(entry["id"])
        for t in entry["params"] + entry["results"]:
            if t not in VALUE_TYPES:
                _fail(f"import {name!r}: unknown value type {t!r}")
        names = tuple(entry.get("names", (f"a{i}" for i in range(len(entry["params"])))))
        if len(names) != len(entry["params"]):
            _fail(f"import {name!r}: {len(names)} names for {len(entry['params'])} params")
        imports[name] = KernelImport(name, entry["id"], tuple(entry["params"]),
                                     tuple(entry["results"]), grants, entry.get("kernel"),
                                     entry["summary"], names)
    capabilities = {}
    resources = set()
    for bit, (name, entry) in enumerate(sorted(data.get("capability", {}).items())):
        if name == ALWAYS:
            _fail("'always' is reserved")
        unknown = set(entry) - {"summary", "imports", "parameter", "resource", "limit", "reserved",
                                "excludes"}
        if unknown:
            _fail(f"capability {name!r}: unknown keys {sorted(unknown)}")
        listed = tuple(entry.get("imports", ()))
        for imp in listed:
            if imp not in imports:
                _fail(f"capability {name!r} lists unknown import {imp!r}")
            if name not in imports[imp].grants:
                _fail(f"capability {name!r} lists {imp!r}, whose grant is "
                      f"{imports[imp].grants_text()}")
        parameter = entry.get("parameter")
        resource = entry.get("resource", 0)
        if parameter is not None:
            if parameter not in PARAMETERS:
                _fail(f"capability {name!r}: parameter must be one of {PARAMETERS}")
            if not isinstance(resource, int) or resource <= 0 or resource in resources:
                _fail(f"capability {name!r}: needs a unique positive 'resource' kind")
            resources.add(resource)
        from .manifest import ARCHES
        # reserved: a list (on every machine) or a table of lists by arch
        kept = entry.get("reserved", ())
        by_arch = kept.items() if isinstance(kept, dict) else [(None, kept)]
        reserved = []
        for machine, texts in by_arch:
            if machine is not None and machine not in ARCHES:
                _fail(f"capability {name!r}: reserved names unknown arch {machine!r}")
            for text in texts:
                parsed = parse_range(text)
                if parsed is None:
                    _fail(f"capability {name!r}: bad reserved range {text!r}")
                reserved.append((machine, *parsed))
        limit = entry.get("limit", 0)
        if isinstance(limit, str):          # the name of a kernel limit (manifest/limits.toml)
            from .limits import LIMITS
            try:
                limit = LIMITS[limit].value
            except KeyError:
                _fail(f"capability {name!r}: limit {limit!r} is not in manifest/limits.toml")
        capabilities[name] = Capability(name, entry.get("summary", ""), listed, bit, parameter,
                                        resource, limit, tuple(reserved))
    catalogue = Catalogue(capabilities, imports)
    for name, entry in data.get("capability", {}).items():
        excludes = []
        for text in entry.get("excludes", ()):
            try:
                grant = catalogue.parse_grant(text)
            except (LookupError, ValueError) as e:
                _fail(f"capability {name!r}: bad excludes entry {text!r}: {e}")
            if grant.capability.parameter not in ("range", "number"):
                _fail(f"capability {name!r}: excludes must name ranges or numbers")
            excludes.append((grant.capability.name, grant.first, grant.last))
        if excludes:
            capabilities[name] = dataclasses.replace(capabilities[name], excludes=tuple(excludes))
    if len(capabilities) > 64:
        _fail("more than 64 capabilities: the image's grant bitmap is 64 bits")
    for imp in imports.values():
        for grant in imp.grants:
            if grant != ALWAYS and grant not in capabilities:
                _fail(f"import {imp.name!r} names unknown grant {grant!r}")
            if grant != ALWAYS and imp.name not in capabilities[grant].imports:
                _fail(f"import {imp.name!r} is not listed by its capability {grant!r}")
    errors = []
    for name, entry in data.get("error", {}).items():
        value = entry.get("value")
        if not isinstance(value, int) or value >= 0 or any(e.value == value for e in errors):
            _fail(f"error {name!r}: needs a unique negative 'value'")
        errors.append(KernelError(name, value, entry.get("summary", "")))
    errors.sort(key=lambda e: -e.value)
    return Catalogue(capabilities, imports, errors)
