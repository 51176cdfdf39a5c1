"""Reads and checks appliances/NAME/appliance.toml.

Every key is declared once in SCHEMA (type, default, check); manifest/README.md documents each one
and tests/test_manifest.py keeps the two in step. Any problem raises AzothError naming the file,
the key, its line when it can be found, and what was expected. Nothing here writes files.
"""
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from . import catalogue as catalogue_module
from . import qemu
from . import sources as sources_module
from .errors import AzothError, AzothErrors, did_you_mean
from .formats import IMAGE, OBJECT, field_size
from .limits import LIMIT_ERROR, LIMITS, over, over_message

MANIFEST_NAME = "appliance.toml"
# Names fit the image's fields: at most LIMITS.name bytes with their NUL.
NAME_PATTERN = re.compile(rf"^[a-z][a-z0-9_-]{{0,{LIMITS.name - 2}}}$")
CHANNEL_PATTERN = re.compile(rf"^[a-z][a-z0-9_.-]{{0,{LIMITS.name - 2}}}$")
NAME_RULE = f"1-{LIMITS.name - 1} characters of a-z, 0-9, '_' or '-', starting with a letter"
CHANNEL_RULE = f"1-{LIMITS.name - 1} characters of a-z, 0-9, '_', '-' or '.', starting with " \
               "a letter"
DURATION_PATTERN = re.compile(r"^([0-9]+)\s*(ms|s|m)$")
DURATION_UNITS = {"ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000}
WASM_PAGE = 65536
FILES_MAX = LIMITS.files
FILE_PATH_MAX = LIMITS.file_path   # bytes of a guest path, '/' included
FILE_SIZE_MAX = LIMITS.file_size


# ---- Schema ---------------------------------------------------------------------------------
def _size(n):
    """Bytes as the manifest writes a size: 64K, 16M, 4G."""
    for unit, shift in (("G", 30), ("M", 20), ("K", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift}{unit}"
    return str(n)


@dataclass(frozen=True)
class Key:
    """One manifest key: how it is checked (kind, choices), its default (None: required), and
    its row of manifest/README.md's tables (type, doc), which formats/generate.py writes."""
    kind: str            # "name", "string", "text", "size", "choice", "list", "table",
                         # "source", "channel", "integer", "duration"
    default: object      # None: required
    choices: tuple = ()
    type: str = ""
    doc: str = ""


_NAME = f"string, 1–{LIMITS.name - 1} of `a-z 0-9 _ -`, starting with a letter"
# bytes of a version: the image header's field, less its NUL
VERSION_MAX = field_size(next(f["type"] for f in IMAGE.record("header").fields
                             if f["name"] == "version_string")) - 1

# The machines an appliance may run on: Alkahest's targets (formats/object.toml), x86_64 first
# (the default).
ARCHES = tuple(OBJECT.enum("target"))

APPLIANCE_KEYS = {
    "name": Key("name", None, type=_NAME,
                doc="the appliance's name: `images/NAME.azi`, `images/NAME.iso`"),
    "version": Key("string", "0.1.0", type=f"string, at most {VERSION_MAX} bytes",
                   doc="free-form, recorded in the image and printed at boot"),
    "memory": Key("size", "128M", type="size",
                  doc="guest RAM given to QEMU; a whole number of MiB, at least 16M"),
    "arch": Key("choice", ARCHES[0], ARCHES,
                doc="the machine the appliance runs on: every module is compiled for it "
                "(Alkahest's `--target`) and it picks the kernel (`athanor/arch/`) and, for "
                "`./build.py run`, the QEMU (`qemu-system-x86_64` q35, or "
                "`qemu-system-aarch64` virt); the image records it and a kernel for another "
                "refuses it. `--arch` on `build` and `run` overrides it — `docs/ports.md`"),
    "bounds": Key("choice", "guard", ("checked", "guard"),
                  doc="how every module's linear memory is confined: explicit checks against "
                  "its size (works without an MMU), or guard pages around an 8 GiB reservation "
                  "(faster) — `docs/abi.md`"),
    "opt": Key("choice", "none", ("none", "speed"),
               doc="which compiler tier builds the modules: `none`, Alkahest's single pass "
               "(milliseconds per module: the edit-build-run loop), or `speed`, its optimizing "
               "tier (LLVM: seconds per module, code near native speed, the same sandbox) — "
               "`docs/opt-tier.md`; a module may choose otherwise"),
    "network": Key("choice", "none", ("none", "virtio-net"),
                   doc="the network device `./build.py run` gives the machine (a virtio-net PCI "
                   "function, modern interface only), attached to QEMU's user networking unless "
                   "`--net` says otherwise (`--net tap:NAME`, `--net "
                   "user,hostfwd=udp::5555-:5555`); the appliance still needs a driver granted "
                   "the device (`appliances/netdump`)"),
}
MODULE_KEYS = {
    "name": Key("name", None, type="string, as the appliance name",
                doc="the module's name, in logs and fault reports"),
    "source": Key("source", None, type="file name, or a list of file names in one language",
                  doc="relative to the manifest; the language is the file's name (below, "
                  "\"Languages\"). Several files only for C or C++ (compiled and linked "
                  "together). Example: `\"main.rs\"`, `[\"main.c\", \"list.c\"]`"),
    "cflags": Key("list", [], type="list of strings",
                  doc="extra arguments for clang, after `--target=wasm32-wasi -O2` and before "
                  "the sources (`[\"-DVERBOSE=1\", \"-O3\", \"-Iinclude\", \"-g\"]`; relative "
                  "paths are taken from the directory `build.py` runs in); only with C and C++ "
                  "sources. `-g` keeps DWARF line information: a trap then names `file:line` "
                  "for each frame. A change rebuilds the module"),
    "rustflags": Key("list", [], type="list of strings",
                     doc="extra arguments for rustc (or `RUSTFLAGS` for a `Cargo.toml`), such "
                     "as `[\"-g\"]` or `[\"-C\", \"opt-level=3\"]`; only with Rust sources"),
    "wasm_opt": Key("list", [], type="list of strings",
                    doc="when not empty, Binaryen's `wasm-opt` runs on the module's Wasm with "
                    "these options before Alkahest compiles it: `[\"-O3\"]`, `[\"-Oz\", "
                    "\"--strip-debug\"]` (`docs/performance.md` shows what it does to size and "
                    "speed). wasm-opt sees one module alone: it removes what that module never "
                    "uses itself, so a memory only the kernel reads (a WAT module's, through "
                    "`athanor.log`) must be exported to survive; C, C++, Rust and AssemblyScript "
                    "modules export theirs. A change rebuilds the module"),
    "opt": Key("choice", "appliance", ("appliance", "none", "speed"),
               doc="this module's compiler tier (the appliance's `opt` key): `appliance` "
               "takes the appliance's, `none` or `speed` overrides it"),
    "arch": Key("list", [], type="list of `x86_64`, `aarch64`",
                doc="the machines this module is part of the appliance on (default: every "
                "one): a driver for one machine's device, such as the console's UART (COM1's "
                "ports, or the PL011's MMIO window), is listed once per machine, each with its "
                "grants, under one name (`appliances/echo`)"),
    "machine": Key("list", [], type="list of `q35`, `pc`, `microvm`, `virt`, `raspi3b`",
                   doc="the boards this module is part of the appliance on (default: every "
                   "one), where one arch has several whose devices differ: the machine "
                   "`./build.py run --machine` boots, `virt` for AArch64 unless told; "
                   "`raspi3b` for `--machine raspi3b` and `build --format rpi` "
                   "(`appliances/echo`'s PL011 driver, at virt's address or the Pi's)"),
    "grants": Key("list", [], type="list of capability names, some with a parameter",
                  doc="the capabilities the module gets (below); an import no grant covers "
                  "fails the build"),
    "memory": Key("size", "64M",
                  type=f"size, a multiple of 64K, at most {_size(LIMITS.module_memory)}",
                  doc="the largest linear memory the module may have: `memory.grow` fails "
                  "beyond it, and a module whose initial memory is larger does not build"),
    "stack": Key("size", "256K", type=f"size, a multiple of 4K, {_size(LIMITS.stack_min)} to "
                 f"{_size(LIMITS.stack_max)}",
                 doc="the native stack of the module's task (an unmapped guard page lies below "
                 "it); Wasm frames stay 4 KiB above its end and trap with `call stack "
                 "exhausted` there; kernel code runs on a kernel stack of its own"),
    "args": Key("list", [], type="list of strings",
                doc="command-line arguments, recorded in the image: a C program's `argv[1..]` "
                "(`argv[0]` is the module's name), through WASI with the `args` grant. Example: "
                "`[\"--verbose\", \"Ada\"]`. No NUL bytes"),
    "env": Key("table", {}, type="table of strings",
               doc="environment variables, recorded in the image (sorted by name): a C "
               "program's `environ`/`getenv`, through WASI with the `env` grant. Example: "
               "`{ LANG = \"C\", GREETING = \"hi\" }`. Names are not empty and hold no `=`; no "
               "NUL bytes"),
    "restart": Key("choice", "never", ("never", "on-failure", "always"),
                   doc="what its supervisor does when it ends: `never` — a trap ends the "
                   "appliance with the \"appliance failed\" status, a return just ends the "
                   "module; `on-failure` — a trap restarts it, a return ends it; `always` — a "
                   "trap or a return restarts it"),
}
CHANNEL_KEYS = {
    "name": Key("channel", None, type=f"string, 1–{LIMITS.name - 1} of `a-z 0-9 _ - .`, "
                "starting with a letter", doc="what modules open it by, e.g. `\"console.in\"`"),
    "from": Key("name", None, type="module name", doc="the module that sends"),
    "to": Key("name", None, type="module name",
              doc="the module that receives (may be `from` itself)"),
    "depth": Key("integer", 16, type=f"integer, 1–{LIMITS.channel_depth}",
                 doc="messages it holds; a sender blocks (or gets `AGAIN`) when it is full"),
    "message_size": Key("size", 256, type=f"size, 1 to {_size(LIMITS.channel_message)} bytes",
                        doc=f"the longest message; `depth × message_size` is at most "
                        f"{LIMITS.channel_bytes >> 20} MiB"),
}
SUPERVISOR_KEYS = {
    "name": Key("name", None, type="string, as a module name",
                doc="unique among modules and supervisors; in the kernel's `[supervisor]` "
                "lines"),
    "strategy": Key("choice", "one_for_one", ("one_for_one", "one_for_all", "rest_for_one"),
                    doc="when a child fails, restart it alone; restart every child; or restart "
                    "it and the children after it"),
    "max_restarts": Key("integer", 3, type=f"integer, 0–{LIMITS.restarts}",
                        doc="restarts allowed within the window (0: any failure escalates)"),
    "within": Key("duration", "5s",
                  type="duration: `\"500ms\"`, `\"5s\"`, `\"2m\"`, or milliseconds",
                  doc="the window, 1 ms to 60 min"),
    "children": Key("list", [], type="list of module and supervisor names",
                    doc="what it supervises, in start order"),
    "on_exhausted": Key("choice", "escalate", ("escalate", "fail"),
                        doc="when the budget is spent: hand the failure to the parent (the root "
                        "fails the appliance), or fail the appliance at once"),
}
FILE_KEYS = {
    "host": Key("text", None, type="file name",
                doc="the file on the build machine, relative to the manifest (`\"motd.txt\"`, "
                "`\"../data/words.txt\"`); it must exist (AZ-M007)"),
    "guest": Key("text", None, type="absolute path",
                 doc="where modules find it (`\"/etc/motd\"`): it starts with `/`, has no "
                 f"empty, `.` or `..` component and no trailing `/`, is at most "
                 f"{LIMITS.file_path} bytes, and is unique; a path cannot be both a file "
                 "and the directory of another (`/etc` and `/etc/motd`)"),
}
NETWORK_KEYS = {
    "mode": Key("choice", "dhcp", ("dhcp", "static"),
                doc="how the TCP/IP stack gets its address: from a DHCP server (QEMU's user "
                "networking has one), or `address`, `gateway` and `dns` below"),
    "address": Key("text", "", type="IPv4 address with a prefix length",
                   doc="with `mode = \"static\"`: the appliance's address and network, "
                   "`\"10.0.2.15/24\"`"),
    "gateway": Key("text", "", type="IPv4 address",
                   doc="with `mode = \"static\"`: the router, `\"10.0.2.2\"` (none: only "
                   "the local network is reached)"),
    "dns": Key("list", [], type="list of IPv4 addresses, at most 2",
               doc="name servers the stack records and prints when it is up (with DHCP, the "
               "server's); an app asks one itself, over a `udp` grant (`appliances/fetch`)"),
    "mtu": Key("integer", 0, type="integer, 576–9000, or 0",
               doc="the largest IP packet; 0: the device's (1500 on QEMU)"),
    "hostname": Key("text", "", type="string, as a module name",
                    doc="the name DHCP gives the server (none: the appliance's name)"),
    "stack_args": Key("list", [], type="list of strings",
                      doc="more arguments for the stack (`appliances/services/net/main.c` lists "
                      "them): `[\"--verbose\"]`; tests use `--trap-after N` (the stack traps "
                      "once, after N frames)"),
    "stats_every": Key("duration", "0ms", type="duration",
                       doc="when not 0, the stack prints a line of figures this often (its "
                       "memory, pools, connections, frames): `\"1s\"`"),
}
SECTIONS = {"appliance": APPLIANCE_KEYS, "driver": MODULE_KEYS, "app": MODULE_KEYS,
            "channel": CHANNEL_KEYS, "supervisor": SUPERVISOR_KEYS, "file": FILE_KEYS,
            "network": NETWORK_KEYS}
MODULE_KINDS = ("driver", "app")
STRATEGIES = SUPERVISOR_KEYS["strategy"].choices
CHANNEL_DEPTH_MAX = LIMITS.channel_depth
CHANNEL_MESSAGE_MAX = LIMITS.channel_message
CHANNEL_BYTES_MAX = LIMITS.channel_bytes
CHANNELS_MAX = LIMITS.channels
SUPERVISORS_MAX = LIMITS.supervisors
MODULES_MAX = LIMITS.modules
MAX_RESTARTS = LIMITS.restarts
ROOT_SUPERVISOR = "root"          # the implicit one, when the manifest declares none


@dataclass
class Module:
    kind: str                  # "driver" or "app"
    index: int                 # position among its kind, for error locations
    name: str
    sources: list
    grants: list
    memory: int                # bytes, a multiple of 64 KiB
    args: list
    env: dict
    restart: str
    stack: int = 256 << 10
    cflags: list = field(default_factory=list)
    rustflags: list = field(default_factory=list)
    wasm_opt: list = field(default_factory=list)
    opt: str = "none"          # the compiler tier: "none" (single pass) or "speed"
    parsed_grants: list = field(default_factory=list)   # catalogue.Grant, in grants order
    capabilities: set = field(default_factory=set)      # capability names, channel included
    supervisor: str = ROOT_SUPERVISOR
    service: str = None        # a module the build added: "tcpip" (azoth/network.py), ...

    @property
    def key(self):
        return f"{self.kind}[{self.index}]"


@dataclass
class Channel:
    index: int
    name: str
    sender: str                # module names
    receiver: str
    depth: int
    message_size: int


@dataclass
class File:
    index: int
    host: Path                 # resolved: the manifest's directory / host
    guest: str                 # absolute and normal: "/etc/motd"


@dataclass
class Supervisor:
    index: int                 # -1: the implicit root
    name: str
    strategy: str
    max_restarts: int
    within_ns: int
    children: list             # names of modules and supervisors, in start order
    on_exhausted: str
    parent: str = None


@dataclass
class Manifest:
    path: Path
    directory: Path
    name: str
    version: str
    memory: int
    bounds: str
    network: str = "none"
    opt: str = "none"
    arch: str = "x86_64"
    machine: str = "q35"             # the board the modules are picked for (qemu.MACHINE_ARCHES)
    network_config: object = None     # azoth.network.NetworkConfig when the appliance has one
    modules: list = field(default_factory=list)
    channels: list = field(default_factory=list)
    supervisors: list = field(default_factory=list)   # the root first
    files: list = field(default_factory=list)

    def module(self, name):
        return next((m for m in self.modules if m.name == name), None)


# ---- Locations --------------------------------------------------------------------------------
class _Locator:
    """Finds the line of a key in the TOML text (tomllib keeps no positions)."""

    HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\"-]+)\s*\]\]?")
    KEY = re.compile(r"^\s*([A-Za-z0-9_-]+|\"[^\"]*\")\s*=")

    def __init__(self, text):
        self.lines = text.splitlines()

    def line_of(self, section, index=None, key=None, element=None):
        """The line of [section] / the index-th [[section]], of its key, or of one element of
        the key's value (a list item or an inline table's key) when it spans several lines."""
        line = self._line_of(section, index, key)
        if line is None or element is None:
            return line
        quoted = (f'"{element}"', f"'{element}'") if isinstance(element, str) else ()
        word = re.escape(str(element).lower() if isinstance(element, bool) else str(element))
        bare = re.compile(rf"(^|[{{,\s]){word}\s*=" if isinstance(element, str) else
                          rf"(^|[\[,\s]){word}\s*(,|\]|$)")      # a key, or a bare value
        for number in range(line, len(self.lines) + 1):
            text = self.lines[number - 1]
            if number > line and (self.HEADER.match(text) or self.KEY.match(text)):
                break
            if any(q in text for q in quoted) or bare.search(text):
                return number
        return line

    def _line_of(self, section, index=None, key=None):
        seen = -1
        inside = section is None
        for number, line in enumerate(self.lines, 1):
            header = self.HEADER.match(line)
            if header:
                name = header.group(2)
                is_array = header.group(1) == "[["
                if name == section and (is_array == (index is not None)):
                    seen += 1
                    inside = index is None or seen == index
                    if inside and key is None:
                        return number
                else:
                    inside = False
                continue
            if inside and key is not None:
                m = self.KEY.match(line)
                if m and m.group(1).strip('"') == key:
                    return number
        return None


# ---- Checks -------------------------------------------------------------------------------------
def parse_size(value):
    """'64M' -> 67108864. Integers are bytes. Returns None when malformed."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if not isinstance(value, str):
        return None
    return catalogue_module.parse_size_text(value)


def parse_duration(value):
    """'5s' -> 5e9 ns; integers are milliseconds. None when malformed."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value * 1_000_000 if value >= 0 else None
    if not isinstance(value, str):
        return None
    m = DURATION_PATTERN.match(value.strip())
    return int(m.group(1)) * DURATION_UNITS[m.group(2)] if m else None


def _type_name(value):
    return {str: "a string", int: "an integer", float: "a number", bool: "a boolean",
            list: "a list", dict: "a table"}.get(type(value), type(value).__name__)


class _Checker:
    """Checks values and gathers every problem: the manifest's errors are reported all at once
    (AzothErrors), each at the line of what is wrong, not only the first."""

    def __init__(self, path, text):
        self.path = path
        self.locator = _Locator(text)
        self.errors = []

    def error(self, code, message, section=None, index=None, key=None, element=None):
        line = self.locator.line_of(section, index, key, element) if section else None
        if line is None and section:
            line = self.locator.line_of(section, index)
        label = section if index is None else f"{section}[{index}]"
        if key:
            label = f"{label}.{key}" if label else key
        if isinstance(element, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", element) and \
                key in SECTIONS.get(section, {}) and SECTIONS[section][key].kind == "table":
            label = f"{label}.{element}"        # env.PORT
        return AzothError(code, message, file=self.path, line=line, key=label)

    def report(self, error):
        self.errors.append(error)

    def finish(self):
        """Raises what was found, if anything."""
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise AzothErrors(self.errors)

    def table(self, section, index, table, keys):
        """The table's values by the schema; a bad or missing value is reported and stands
        as its default (None for a required key) so that checking goes on."""
        for unknown in sorted(set(table) - set(keys)):
            self.report(self.error("AZ-M002", f"unknown key {unknown!r}"
                                   f"{did_you_mean(unknown, keys)} (expected one of: "
                                   f"{', '.join(keys)})", section, index, unknown))
        values = {}
        for name, spec in keys.items():
            if name not in table and spec.default is None:
                self.report(self.error("AZ-M004", f"missing required key {name!r}", section,
                                       index))
                values[name] = None
                continue
            try:
                values[name] = self.value(section, index, name, spec,
                                          table.get(name, spec.default))
            except AzothError as e:
                self.report(e)
                values[name] = None if spec.default is None else \
                    self.value(section, index, name, spec, spec.default)
        return values

    def value(self, section, index, name, spec, value):
        def wrong(expected, code="AZ-M003"):
            return self.error(code, f"expected {expected}, got {_type_name(value)}"
                              + (f" {value!r}" if not isinstance(value, (dict, list)) else ""),
                              section, index, name)
        kind = spec.kind
        if kind in ("name", "channel", "string", "text", "choice"):
            if not isinstance(value, str):
                raise wrong("a string")
            problem = _string_problem(kind, spec, value)
            if problem:
                raise self.error(*problem, section, index, name)
            return value
        if kind == "integer":
            if isinstance(value, bool) or not isinstance(value, int):
                raise wrong("an integer")
            if value < 0:
                raise self.error("AZ-M019", f"expected a number >= 0, got {value}",
                                 section, index, name)
            return value
        if kind == "duration":
            ns = parse_duration(value)
            if ns is None:
                raise wrong('a duration such as "5s", "500ms", "2m" or a number of milliseconds')
            return ns
        if kind == "size":
            size = parse_size(value)
            if size is None:
                raise wrong('a size such as "64M", "512K" or a number of bytes')
            return size
        if kind == "list":
            if not isinstance(value, list):
                raise wrong("a list of strings")
            for i, item in enumerate(value):
                if not isinstance(item, str):
                    raise self.error("AZ-M003", f"item {i + 1}: expected a string, got "
                                     f"{_type_name(item)} {item!r}", section, index, name,
                                     item if isinstance(item, (int, float)) else None)
            return list(value)
        if kind == "table":
            if not isinstance(value, dict):
                raise wrong('a table of strings such as { KEY = "value" }')
            for key, item in value.items():
                if not isinstance(item, str):
                    quoted = f'{key} = "{item}"' if isinstance(item, (int, float)) and \
                        not isinstance(item, bool) else f'{key} = "..."'
                    raise self.error("AZ-M003", f"expected a string, got "
                                     f"{_type_name(item)} {item!r} (write {quoted})",
                                     section, index, name, key)
            return dict(value)
        if kind == "source":
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not value or \
                    not all(isinstance(v, str) for v in value):
                raise wrong("a file name or a list of file names")
            return value
        raise AssertionError(f"unknown schema kind {kind}")


def _string_problem(kind, spec, value):
    """(code, message) when VALUE, a string, is not what a key of KIND takes; else None."""
    if kind == "name" and not NAME_PATTERN.match(value):
        return "AZ-M018", f"invalid name {value!r}: expected {NAME_RULE}"
    if kind == "channel" and not CHANNEL_PATTERN.match(value):
        return "AZ-M018", f"invalid channel name {value!r}: expected {CHANNEL_RULE}"
    if kind == "string" and len(value.encode()) > VERSION_MAX:
        return "AZ-M019", f"expected at most {VERSION_MAX} bytes"
    if kind == "choice" and value not in spec.choices:
        return "AZ-M005", f"expected one of {', '.join(map(repr, spec.choices))}, got {value!r}"
    return None


def load(directory, catalogue=None, arch=None, machine=None):
    """Loads and checks DIRECTORY/appliance.toml for arch (default: the manifest's
    [appliance] arch) and machine (default: the arch's QEMU machine); returns a Manifest with
    the modules of that arch and machine. Every problem found is reported at once
    (AzothErrors), each at its line."""
    directory = Path(directory)
    path = directory / MANIFEST_NAME if directory.is_dir() else directory
    directory = path.parent
    if not path.is_file():
        raise AzothError("AZ-M001", f"no {MANIFEST_NAME} here", file=path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise AzothError("AZ-M001", f"cannot read: {e}", file=path) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"line (\d+)", str(e))
        raise AzothError("AZ-M001", f"not valid TOML: {e}", file=path,
                         line=int(m.group(1)) if m else None) from None
    if catalogue is None:
        catalogue = catalogue_module.load()
    check = _Checker(path, text)

    for unknown in sorted(set(data) - set(SECTIONS)):
        check.report(check.error(
            "AZ-M002", f"unknown table {unknown!r}{did_you_mean(unknown, SECTIONS)} (expected "
            "[appliance], [network], [[driver]], [[app]], [[channel]], [[supervisor]] or "
            "[[file]])",
            unknown, 0 if isinstance(data[unknown], list) else None))
    if "appliance" not in data or not isinstance(data["appliance"], dict):
        check.report(AzothError("AZ-M004", "missing the [appliance] table", file=path))
        top = {k: (None if v.default is None else check.value("appliance", None, k, v, v.default))
               for k, v in APPLIANCE_KEYS.items()}
    else:
        top = check.table("appliance", None, data["appliance"], APPLIANCE_KEYS)
    if top["memory"] < 16 << 20 or top["memory"] % (1 << 20):
        check.report(check.error("AZ-M019", "guest memory must be a whole number of MiB, at "
                                 "least 16M", "appliance", None, "memory"))
    arch = arch or top["arch"]
    manifest = Manifest(path, directory, top["name"], top["version"], top["memory"],
                        top["bounds"], top["network"], top["opt"], arch,
                        machine or qemu.DEFAULT_MACHINES.get(arch, ""))

    names = {}
    for kind in MODULE_KINDS:
        for index, entry in enumerate(_entries(check, data, kind)):
            _module(check, catalogue, manifest, kind, index, entry, names)
    if not manifest.modules and not check.errors:
        check.report(AzothError("AZ-M004", "the appliance has no [[driver]] or [[app]]",
                                file=path))
    if len(manifest.modules) > MODULES_MAX:
        check.report(over("modules", len(manifest.modules), "modules", file=path))
    _network(check, data, manifest, catalogue, names)
    _exclusions(check, manifest)
    _devices(check, manifest)
    _channels(check, data, manifest, catalogue)
    _supervisors(check, data, manifest)
    _files(check, data, manifest)
    check.finish()
    return manifest


def _module(check, catalogue, manifest, kind, index, entry, names):
    """One [[driver]] or [[app]]: its values, then what they must satisfy together."""
    values = check.table(kind, index, entry, MODULE_KEYS)
    if values["name"] is None:
        return
    unknown = [a for a in values["arch"] if a not in ARCHES]
    if unknown:
        check.report(check.error("AZ-M005", f"unknown arch {unknown[0]!r} (expected "
                                 f"{', '.join(ARCHES)})", kind, index, "arch"))
        return
    if values["arch"] and manifest.arch not in values["arch"]:
        return                          # not part of the appliance on this machine
    unknown = [m for m in values["machine"] if m not in qemu.MACHINE_ARCHES]
    if unknown:
        check.report(check.error("AZ-M005", f"unknown machine {unknown[0]!r} (expected "
                                 f"{', '.join(qemu.MACHINE_ARCHES)})", kind, index, "machine"))
        return
    if values["machine"] and manifest.machine not in values["machine"]:
        return                          # not part of the appliance on this board
    module = Module(kind, index, values["name"], [], values["grants"], values["memory"],
                    values["args"], values["env"], values["restart"], values["stack"],
                    values["cflags"], values["rustflags"], values["wasm_opt"],
                    manifest.opt if values["opt"] == "appliance" else values["opt"])
    if module.name in names:
        check.report(check.error("AZ-M006", f"duplicate module name {module.name!r} (also "
                                 f"{names[module.name]})", kind, index, "name"))
        return
    names[module.name] = module.key
    if module.memory % WASM_PAGE or module.memory > LIMITS.module_memory:
        check.report(check.error("AZ-M019", "expected a multiple of 64K, at most "
                                 f"{_size(LIMITS.module_memory)}", kind, index, "memory"))
    if module.stack % 4096 or not LIMITS.stack_min <= module.stack <= LIMITS.stack_max:
        check.report(check.error("AZ-M019", "expected a multiple of 4K between "
                                 f"{_size(LIMITS.stack_min)} and {_size(LIMITS.stack_max)}",
                                 kind, index, "stack"))
    _grants(check, catalogue, module, manifest.arch)
    _sources(check, manifest, module, values["source"] or [])
    _args_and_env(check, module)
    manifest.modules.append(module)


def _sources(check, manifest, module, names):
    """The module's source files: they exist, and are of one language that takes them all."""
    kind, index = module.kind, module.index
    languages = set()
    for source in names:
        source_path = manifest.directory / source
        language = sources_module.language_of(source)
        if language is None:
            known = ", ".join(s for lang in sources_module.LANGUAGES for s in lang.suffixes)
            check.report(check.error("AZ-M020", f"source {source!r}: not a language build.py "
                                     f"knows (by its name: {known})", kind, index, "source",
                                     source))
            continue
        languages.add(language)
        if not source_path.is_file():
            check.report(check.error("AZ-M007", f"source file {source!r} not found (looked "
                                     f"for {source_path})", kind, index, "source", source))
            continue
        module.sources.append(source_path)
    if len(languages) > 1:
        check.report(check.error("AZ-M021", "the sources mix languages ("
                                 f"{', '.join(sorted(lang.name for lang in languages))}): a "
                                 "module is built from one", kind, index, "source"))
        return
    language = languages.pop() if languages else None
    if language and len(names) > 1 and not language.several:
        several = " and ".join(lang.name for lang in sources_module.LANGUAGES if lang.several)
        check.report(check.error("AZ-M021", f"several sources are allowed only for {several} "
                                 f"({language.name} has one root file)", kind, index, "source"))
    for key in ("cflags", "rustflags"):
        if getattr(module, key) and (language is None or language.flags != key):
            takes = [lang.name for lang in sources_module.LANGUAGES if lang.flags == key]
            check.report(check.error("AZ-M022", f"{key} apply to {' and '.join(takes)} sources "
                                     "only", kind, index, key))
    if module.wasm_opt and any(not f.startswith("-") for f in module.wasm_opt):
        bad = next(f for f in module.wasm_opt if not f.startswith("-"))
        check.report(check.error("AZ-M023", f"{bad!r}: expected wasm-opt options such as "
                                 '"-O3" or "--strip-debug"', kind, index, "wasm_opt", bad))


def _entries(check, data, kind):
    entries = data.get(kind, [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        check.report(check.error("AZ-M003", f"expected [[{kind}]] tables", kind))
        return []
    return entries


def _network(check, data, manifest, catalogue, names):
    """[network], and the virtio-net driver and TCP/IP stack the build adds (azoth/network.py)
    when the apps reach the network: first among the modules, with their channels."""
    from . import network
    table = data.get("network")
    if table is not None and not isinstance(table, dict):
        check.report(check.error("AZ-M003", "expected a [network] table", "network"))
        table = None
    if not network.needs_network(manifest.modules, table is not None):
        return
    values = check.table("network", None, table or {}, NETWORK_KEYS)
    config = network.NetworkConfig(values["mode"], values["address"] or None,
                                   values["gateway"] or None, values["dns"], values["mtu"],
                                   values["hostname"] or manifest.name,
                                   (values["stats_every"] or 0) // 1_000_000,
                                   values["stack_args"])
    if config.mode == "static" and not (config.address and network.parse_ipv4(config.address, True)
                                        and "/" in config.address):
        check.report(check.error("AZ-M019", "expected the appliance's address with its prefix "
                                 "length, as \"10.0.2.15/24\" (mode = \"static\")", "network",
                                 None, "address" if config.address else "mode"))
    if config.mode == "dhcp" and config.address:
        check.report(check.error("AZ-M019", "an address is for mode = \"static\" (DHCP gives "
                                 "one)", "network", None, "address"))
    if config.gateway and not network.parse_ipv4(config.gateway):
        check.report(check.error("AZ-M019", f"expected an IPv4 address, got {config.gateway!r}",
                                 "network", None, "gateway"))
    for server in config.dns:
        if not network.parse_ipv4(server):
            check.report(check.error("AZ-M019", f"expected an IPv4 address, got {server!r}",
                                     "network", None, "dns", server))
    if len(config.dns) > 2:
        check.report(check.error("AZ-M019", "at most 2 name servers", "network", None, "dns"))
    if config.mtu and not 576 <= config.mtu <= 9000:
        check.report(check.error("AZ-M019", "expected 576 to 9000, or 0 for the device's",
                                 "network", None, "mtu"))
    if config.hostname and not NAME_PATTERN.match(config.hostname):
        check.report(check.error("AZ-M018", f"invalid hostname {config.hostname!r}: expected "
                                 f"{NAME_RULE}", "network", None, "hostname"))
    manifest.network_config = config
    manifest.network = "virtio-net"
    holders = {g.capability.name for m in manifest.modules for g in m.parsed_grants}
    added = []
    if "pci" not in holders:
        added.append(Module("driver", -1, network.DRIVER_NAME, list(network.DRIVER_SOURCES),
                            ["pci:1af4:1041", "dma:1M"], 4 << 20, [], {}, "always",
                            service="virtio-net"))
    if "netstack" not in holders:
        added.append(Module("driver", -1, network.STACK_NAME, list(network.STACK_SOURCES),
                            ["stdout", "args", "clock", "random", "netstack"], 8 << 20,
                            config.args(), {}, "always", service="tcpip"))
    for module in added:
        if module.name in names:
            check.report(check.error("AZ-M006", f"module name {module.name!r} ({names[module.name]}"
                                     ") is the build's own when the apps reach the network: "
                                     "rename it", "network" if table is not None else None))
            return
        for grant in module.grants:
            parsed = catalogue.parse_grant(grant, arch=manifest.arch)
            module.parsed_grants.append(parsed)
            module.capabilities.add(parsed.capability.name)
        names[module.name] = module.key
    manifest.modules[0:0] = added
    manifest.implicit_channels = [Channel(-1, *c) for c in network.FRAME_CHANNELS] \
        if len(added) == 2 else []


def _grants(check, catalogue, module, arch):
    """Parses each grant against the catalogue (capability, parameter, the ranges the kernel
    keeps on arch)."""
    seen = set()
    for grant in module.grants:
        where = (module.kind, module.index, "grants", grant)
        try:
            parsed = catalogue.parse_grant(grant, arch=arch)
        except LookupError:
            name = grant.partition(':')[0]
            check.report(check.error("AZ-M009", f"unknown capability {name!r}"
                                     f"{did_you_mean(name, catalogue.capabilities)} (known: "
                                     f"{', '.join(sorted(catalogue.capabilities))})", *where))
            continue
        except ValueError as e:
            check.report(check.error("AZ-M015", str(e), *where))
            continue
        if grant in seen:
            check.report(check.error("AZ-M006", f"capability {grant!r} granted twice", *where))
            continue
        seen.add(grant)
        module.parsed_grants.append(parsed)
        module.capabilities.add(parsed.capability.name)


def _args_and_env(check, module):
    """Strings that become C strings in the guest: no NUL inside; environment names as POSIX
    has them (non-empty, no '=')."""
    for arg in module.args:
        if "\0" in arg:
            check.report(check.error("AZ-M024", f"argument {arg!r} contains a NUL byte",
                                     module.kind, module.index, "args"))
    for key, value in module.env.items():
        if not key or "=" in key or "\0" in key:
            check.report(check.error("AZ-M024", f"environment variable name {key!r}: expected "
                                     "a non-empty name without '=' or NUL", module.kind,
                                     module.index, "env", key))
        elif "\0" in value:
            check.report(check.error("AZ-M024", f"environment variable {key!r}: its value "
                                     "contains a NUL byte", module.kind, module.index, "env",
                                     key))


def _exclusions(check, manifest):
    """A capability's `excludes` (the catalogue): while a module holds it, no module may hold a
    grant overlapping those ranges (stdin: the kernel polls the console UART, so no driver may
    own its ports)."""
    for holder in manifest.modules:
        for grant in holder.parsed_grants:
            for name, first, last in grant.capability.excludes:
                for other in manifest.modules:
                    for g in other.parsed_grants:
                        if g.capability.name == name and g.first <= last and first <= g.last:
                            check.report(check.error(
                                "AZ-M017", f"{grant.text!r}: the kernel reads stdin from the "
                                f"console UART, whose registers {other.key} ({other.name}) is "
                                f"granted ({g.text!r}); give the console to one or the other"
                                if grant.capability.name == "stdin" else
                                f"{grant.text!r} excludes {g.text!r}, which {other.key} "
                                f"({other.name}) is granted", holder.kind, holder.index,
                                "grants", grant.text))


def _devices(check, manifest):
    """pci and dma grants: a DMA region serves the module's devices (one region, inside its
    memory); a PCI function belongs to one module (the kernel refuses at boot two grants that
    name one function differently, say by vendor:device and by bus address)."""
    claimed = {}
    for module in manifest.modules:
        pci = [g for g in module.parsed_grants if g.capability.parameter == "pci"]
        dma = [g for g in module.parsed_grants if g.capability.parameter == "size"]
        where = (module.kind, module.index, "grants")
        for g in dma[1:]:
            check.report(check.error("AZ-M015", f"{g.text!r}: a module has one DMA region "
                                     f"(also {dma[0].text!r})", *where, g.text))
        if dma and not pci:
            check.report(check.error("AZ-M015", f"{dma[0].text!r}: a DMA region serves the "
                                     "module's devices: grant one too (pci:VVVV:DDDD)",
                                     *where, dma[0].text))
        if dma and dma[0].first > module.memory:
            check.report(check.error("AZ-M015", f"{dma[0].text!r}: the region is mapped into "
                                     f"the module's linear memory, which holds at most "
                                     f"{module.memory >> 10} KiB (memory)", *where, dma[0].text))
        for g in pci:
            device = (g.flags & 0xFF, g.first, g.last)
            if device in claimed and claimed[device][0] is not module:
                other, text = claimed[device]
                check.report(check.error("AZ-M026", f"{g.text!r}: {other.key} ({other.name}) "
                                         f"claims the same device ({text!r}); a device belongs "
                                         "to one driver", *where, g.text))
            elif device in claimed:
                check.report(check.error("AZ-M006", f"{g.text!r}: the device is granted twice "
                                         f"(also {claimed[device][1]!r})", *where, g.text))
            else:
                claimed[device] = (module, g.text)


def _guest_path_problem(path):
    """Why a [[file]]'s guest path is not an absolute, normal path, or None."""
    if not path.startswith("/"):
        return "expected an absolute path, starting with '/'"
    if "\0" in path:
        return "a path cannot contain a NUL byte"
    if len(path.encode()) > FILE_PATH_MAX:
        return f"path too long: {len(path.encode())} bytes, at most {FILE_PATH_MAX}"
    parts = path[1:].split("/")
    if path == "/" or any(p in ("", ".", "..") for p in parts):
        return "expected a normal path to a file: no empty, '.' or '..' component, no " \
               "trailing '/'"
    return None


def _files(check, data, manifest):
    """[[file]]: read-only files for the modules granted `files`, at their guest paths."""
    by_guest = {}
    for index, entry in enumerate(_entries(check, data, "file")):
        values = check.table("file", index, entry, FILE_KEYS)
        if values["host"] is None or values["guest"] is None:
            continue
        host = manifest.directory / values["host"]
        if not host.is_file():
            check.report(check.error("AZ-M007", f"file {values['host']!r} not found (looked "
                                     f"for {host})", "file", index, "host"))
            continue
        if host.stat().st_size > FILE_SIZE_MAX:
            check.report(check.error(LIMIT_ERROR, over_message(
                f"file {values['host']!r}: bytes", host.stat().st_size, "file_size"),
                "file", index, "host"))
            continue
        guest = values["guest"]
        problem = _guest_path_problem(guest)
        if problem:
            check.report(check.error("AZ-M025", f"guest path {guest!r}: {problem}", "file",
                                     index, "guest"))
            continue
        if guest in by_guest:
            check.report(check.error("AZ-M006", f"duplicate guest path {guest!r} (also "
                                     f"file[{by_guest[guest]}])", "file", index, "guest"))
            continue
        clash = next((other for other in by_guest
                      if max(guest, other, key=len).startswith(min(guest, other, key=len) + "/")),
                     None)
        if clash is not None:
            shorter, longer = sorted((guest, clash), key=len)
            check.report(check.error("AZ-M025", f"guest path {guest!r}: {shorter!r} would be "
                                     f"both a file and the directory of {longer!r}", "file",
                                     index, "guest"))
            continue
        by_guest[guest] = index
        manifest.files.append(File(index, host, guest))
    if len(manifest.files) > FILES_MAX:
        check.report(over("files", len(manifest.files), "files", file=manifest.path))


def _channels(check, data, manifest, catalogue):
    """[[channel]]: each names existing modules; its ends get the channel capability."""
    seen = {}
    for index, entry in enumerate(_entries(check, data, "channel")):
        values = check.table("channel", index, entry, CHANNEL_KEYS)
        if None in (values["name"], values["from"], values["to"]):
            continue
        channel = Channel(index, values["name"], values["from"], values["to"], values["depth"],
                          values["message_size"])
        if channel.name in seen:
            check.report(check.error("AZ-M006", f"duplicate channel name {channel.name!r}",
                                     "channel", index, "name"))
            continue
        seen[channel.name] = channel
        missing = False
        for key, module_name in (("from", channel.sender), ("to", channel.receiver)):
            if manifest.module(module_name) is None:
                names = [m.name for m in manifest.modules]
                check.report(check.error("AZ-M014", f"no module named {module_name!r}"
                                         f"{did_you_mean(module_name, names)} (modules: "
                                         f"{', '.join(names)})", "channel", index, key))
                missing = True
        problems = [(not 1 <= channel.depth <= CHANNEL_DEPTH_MAX, "depth",
                     f"expected 1 to {CHANNEL_DEPTH_MAX} messages"),
                    (not 1 <= channel.message_size <= CHANNEL_MESSAGE_MAX, "message_size",
                     f"expected 1 to {CHANNEL_MESSAGE_MAX} bytes")]
        if not any(bad for bad, _, _ in problems) and \
                channel.depth * channel.message_size > CHANNEL_BYTES_MAX:
            problems.append((True, "depth", f"depth x message_size is "
                             f"{channel.depth * channel.message_size} bytes, at most "
                             f"{CHANNEL_BYTES_MAX}"))
        for bad, key, message in problems:
            if bad:
                check.report(check.error("AZ-M019", message, "channel", index, key))
        if missing:
            continue
        manifest.channels.append(channel)
        for module_name in (channel.sender, channel.receiver):
            manifest.module(module_name).capabilities.add("channel")
    for channel in getattr(manifest, "implicit_channels", []):
        if channel.name in seen:
            check.report(check.error("AZ-M006", f"channel name {channel.name!r} is the build's "
                                     "own (between the network driver and the TCP/IP stack)",
                                     "channel", seen[channel.name].index, "name"))
            continue
        channel.index = len(manifest.channels)
        manifest.channels.append(channel)
        for module_name in (channel.sender, channel.receiver):
            manifest.module(module_name).capabilities.add("channel")
    if len(manifest.channels) > CHANNELS_MAX:
        check.report(over("channels", len(manifest.channels), "channels", file=manifest.path))


def _supervisors(check, data, manifest):
    """[[supervisor]]: a tree with one root; modules no supervisor lists belong to the root.
    Without any [[supervisor]], an implicit root supervises every module."""
    entries = _entries(check, data, "supervisor")
    if not entries:
        default = {k: v.default for k, v in SUPERVISOR_KEYS.items() if k != "name"}
        root = Supervisor(-1, ROOT_SUPERVISOR, default["strategy"], default["max_restarts"],
                          parse_duration(default["within"]), [m.name for m in manifest.modules],
                          default["on_exhausted"])
        manifest.supervisors.append(root)
        return
    declared = []
    for index, entry in enumerate(entries):
        values = check.table("supervisor", index, entry, SUPERVISOR_KEYS)
        if values["name"] is None:
            continue
        sup = Supervisor(index, values["name"], values["strategy"], values["max_restarts"],
                         values["within"], values["children"], values["on_exhausted"])
        if manifest.module(sup.name) or any(s.name == sup.name for s in declared):
            check.report(check.error("AZ-M006", f"duplicate name {sup.name!r} (names are shared "
                                     "by modules and supervisors)", "supervisor", index, "name"))
            continue
        if not 1_000_000 <= sup.within_ns <= 3_600_000_000_000:
            check.report(check.error("AZ-M019", "expected a window between 1ms and 60m",
                                     "supervisor", index, "within"))
        if sup.max_restarts > MAX_RESTARTS:
            check.report(check.error("AZ-M019", f"expected at most {MAX_RESTARTS}",
                                     "supervisor", index, "max_restarts"))
        declared.append(sup)
    if len(declared) > SUPERVISORS_MAX:
        check.report(over("supervisors", len(declared), "supervisors", file=manifest.path))
    if not declared:
        return
    by_name = {s.name: s for s in declared}
    parent_of = {}
    for sup in declared:
        for child in sup.children:
            where = ("supervisor", sup.index, "children", child)
            if child not in by_name and manifest.module(child) is None:
                known = [m.name for m in manifest.modules] + list(by_name)
                check.report(check.error("AZ-M014", f"child {child!r} is neither a module nor a "
                                         f"supervisor{did_you_mean(child, known)}", *where))
            elif child == sup.name:
                check.report(check.error("AZ-M016", f"{child!r} supervises itself", *where))
            elif child in parent_of:
                check.report(check.error("AZ-M016", f"{child!r} is listed by two supervisors "
                                         f"({parent_of[child]} and {sup.name})", *where))
            else:
                parent_of[child] = sup.name
    roots = [s for s in declared if s.name not in parent_of]
    if len(roots) != 1:
        which = ", ".join(s.name for s in roots) if roots else "none (a cycle)"
        check.report(check.error("AZ-M016", f"the supervision tree needs exactly one root "
                                 f"supervisor (one that no other lists); found {which}",
                                 "supervisor", (roots[1] if len(roots) > 1 else declared[0]).index,
                                 "children"))
        return
    root = roots[0]
    # every supervisor must hang below the root (no cycles apart from it)
    reachable, stack = set(), [root.name]
    while stack:
        name = stack.pop()
        if name in reachable:
            continue
        reachable.add(name)
        stack.extend(c for c in by_name[name].children if c in by_name)
    for sup in declared:
        if sup.name not in reachable:
            check.report(check.error("AZ-M016", f"supervisor {sup.name!r} is not below the root "
                                     f"{root.name!r} (a cycle)", "supervisor", sup.index, "name"))
        sup.parent = parent_of.get(sup.name)
    for module in manifest.modules:
        if module.name not in parent_of:
            root.children.append(module.name)
            parent_of[module.name] = root.name
        module.supervisor = parent_of[module.name]
    manifest.supervisors = [root] + [s for s in declared if s is not root]


def import_error(manifest, module, code, message, element=None):
    """An error about one module's imports, located at its `grants` key (or its table)."""
    checker = _Checker(manifest.path, manifest.path.read_text(encoding="utf-8"))
    return checker.error(code, message, module.kind, module.index, "grants", element)
