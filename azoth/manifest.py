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
from .errors import AzothError
from .limits import LIMITS

MANIFEST_NAME = "appliance.toml"
# Names fit the image's fields: at most LIMITS.name bytes with their NUL.
NAME_PATTERN = re.compile(rf"^[a-z][a-z0-9_-]{{0,{LIMITS.name - 2}}}$")
CHANNEL_PATTERN = re.compile(rf"^[a-z][a-z0-9_.-]{{0,{LIMITS.name - 2}}}$")
DURATION_PATTERN = re.compile(r"^([0-9]+)\s*(ms|s|m)$")
DURATION_UNITS = {"ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000}
SIZE_PATTERN = re.compile(r"^([0-9]+)\s*(K|KiB|M|MiB|G|GiB)?$")
SIZE_UNITS = {None: 1, "K": 1 << 10, "KiB": 1 << 10, "M": 1 << 20, "MiB": 1 << 20,
              "G": 1 << 30, "GiB": 1 << 30}
SOURCE_SUFFIXES = (".wat", ".wasm", ".c")
WASM_PAGE = 65536
FILES_MAX = LIMITS.files
FILE_PATH_MAX = LIMITS.file_path   # bytes of a guest path, '/' included
FILE_SIZE_MAX = LIMITS.file_size


# ---- Schema ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Key:
    kind: str            # "name", "string", "text", "size", "choice", "list", "table",
                         # "source", "channel", "integer", "duration"
    default: object      # None: required
    choices: tuple = ()
    doc: str = ""


APPLIANCE_KEYS = {
    "name": Key("name", None, doc="appliance name; names images/NAME.azi"),
    "version": Key("string", "0.1.0", doc="free-form version string, at most 15 bytes"),
    "memory": Key("size", "128M", doc="guest RAM given to QEMU"),
    "bounds": Key("choice", "guard", ("checked", "guard"), doc="how linear memory is confined"),
}
MODULE_KEYS = {
    "name": Key("name", None, doc="module name, unique in the appliance"),
    "source": Key("source", None, doc=".wat, .wasm or .c file(s), relative to the manifest"),
    "grants": Key("list", [], doc="capabilities granted to the module"),
    "memory": Key("size", "64M", doc="largest linear memory the module may have"),
    "args": Key("list", [], doc="command-line arguments (argv[1..])"),
    "env": Key("table", {}, doc="environment variables"),
    "cflags": Key("list", [], doc="extra clang flags for C sources"),
    "restart": Key("choice", "never", ("never", "on-failure", "always"),
                   doc="restart policy when the module traps or exits"),
    "stack": Key("size", "256K", doc="native stack of the module's task"),
}
CHANNEL_KEYS = {
    "name": Key("channel", None, doc="channel name, as modules open it"),
    "from": Key("name", None, doc="the module that sends"),
    "to": Key("name", None, doc="the module that receives"),
    "depth": Key("integer", 16, doc="messages the channel holds"),
    "message_size": Key("size", 256, doc="largest message, bytes"),
}
SUPERVISOR_KEYS = {
    "name": Key("name", None, doc="supervisor name, unique among modules and supervisors"),
    "strategy": Key("choice", "one_for_one", ("one_for_one", "one_for_all", "rest_for_one"),
                    doc="which children restart when one fails"),
    "max_restarts": Key("integer", 3, doc="restarts allowed within the window"),
    "within": Key("duration", "5s", doc="the window of max_restarts"),
    "children": Key("list", [], doc="modules and supervisors it supervises, in start order"),
    "on_exhausted": Key("choice", "escalate", ("escalate", "fail"),
                        doc="what happens when the budget is spent"),
}
FILE_KEYS = {
    "host": Key("text", None, doc="the file on the build machine, relative to the manifest"),
    "guest": Key("text", None, doc="its absolute path for modules granted `files`"),
}
SECTIONS = {"appliance": APPLIANCE_KEYS, "driver": MODULE_KEYS, "app": MODULE_KEYS,
            "channel": CHANNEL_KEYS, "supervisor": SUPERVISOR_KEYS, "file": FILE_KEYS}
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
    parsed_grants: list = field(default_factory=list)   # catalogue.Grant, in grants order
    capabilities: set = field(default_factory=set)      # capability names, channel included
    supervisor: str = ROOT_SUPERVISOR

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

    def line_of(self, section, index=None, key=None):
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
    m = SIZE_PATTERN.match(value.strip())
    if not m:
        return None
    return int(m.group(1)) * SIZE_UNITS[m.group(2)]


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
    def __init__(self, path, text):
        self.path = path
        self.locator = _Locator(text)

    def error(self, code, message, section=None, index=None, key=None):
        line = self.locator.line_of(section, index, key) if section else None
        if line is None and section:
            line = self.locator.line_of(section, index)
        label = section if index is None else f"{section}[{index}]"
        if key:
            label = f"{label}.{key}" if label else key
        return AzothError(code, message, file=self.path, line=line, key=label)

    def table(self, section, index, table, keys):
        unknown = sorted(set(table) - set(keys))
        if unknown:
            raise self.error("AZ-M002", f"unknown key {unknown[0]!r} (expected one of: "
                             f"{', '.join(keys)})", section, index, unknown[0])
        values = {}
        for name, spec in keys.items():
            if name not in table:
                if spec.default is None:
                    raise self.error("AZ-M004", f"missing required key {name!r}", section, index)
                values[name] = self.value(section, index, name, spec, spec.default)
                continue
            values[name] = self.value(section, index, name, spec, table[name])
        return values

    def value(self, section, index, name, spec, value):
        def wrong(expected, code="AZ-M003"):
            return self.error(code, f"expected {expected}, got {_type_name(value)}"
                              + (f" {value!r}" if not isinstance(value, (dict, list)) else ""),
                              section, index, name)
        kind = spec.kind
        if kind == "name":
            if not isinstance(value, str):
                raise wrong("a string")
            if not NAME_PATTERN.match(value):
                raise self.error("AZ-M005", f"invalid name {value!r}: expected 1-31 characters "
                                 "of a-z, 0-9, '_' or '-', starting with a letter",
                                 section, index, name)
            return value
        if kind == "channel":
            if not isinstance(value, str):
                raise wrong("a string")
            if not CHANNEL_PATTERN.match(value):
                raise self.error("AZ-M005", f"invalid channel name {value!r}: expected 1-31 "
                                 "characters of a-z, 0-9, '_', '-' or '.', starting with a "
                                 "letter", section, index, name)
            return value
        if kind == "integer":
            if isinstance(value, bool) or not isinstance(value, int):
                raise wrong("an integer")
            if value < 0:
                raise self.error("AZ-M005", f"expected a number >= 0, got {value}",
                                 section, index, name)
            return value
        if kind == "duration":
            ns = parse_duration(value)
            if ns is None:
                raise wrong('a duration such as "5s", "500ms", "2m" or a number of milliseconds')
            return ns
        if kind == "string":
            if not isinstance(value, str):
                raise wrong("a string")
            if len(value.encode()) > 15:
                raise self.error("AZ-M005", "expected at most 15 bytes", section, index, name)
            return value
        if kind == "text":
            if not isinstance(value, str):
                raise wrong("a string")
            return value
        if kind == "choice":
            if not isinstance(value, str):
                raise wrong("a string")
            if value not in spec.choices:
                raise self.error("AZ-M005", f"expected one of {', '.join(map(repr, spec.choices))},"
                                 f" got {value!r}", section, index, name)
            return value
        if kind == "size":
            size = parse_size(value)
            if size is None:
                raise wrong('a size such as "64M", "512K" or a number of bytes')
            return size
        if kind == "list":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise wrong("a list of strings")
            return list(value)
        if kind == "table":
            if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                raise wrong('a table of strings such as { KEY = "value" }')
            return dict(value)
        if kind == "source":
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not value or \
                    not all(isinstance(v, str) for v in value):
                raise wrong("a file name or a list of file names")
            return value
        raise AssertionError(f"unknown schema kind {kind}")


def load(directory, catalogue=None):
    """Loads and checks DIRECTORY/appliance.toml; returns a Manifest."""
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

    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise check.error("AZ-M002", f"unknown table {unknown[0]!r} (expected [appliance], "
                          "[[driver]], [[app]], [[channel]], [[supervisor]] or [[file]])",
                          unknown[0],
                          0 if isinstance(data[unknown[0]], list) else None)
    if "appliance" not in data or not isinstance(data["appliance"], dict):
        raise AzothError("AZ-M004", "missing the [appliance] table", file=path)
    top = check.table("appliance", None, data["appliance"], APPLIANCE_KEYS)
    if top["memory"] < 16 << 20 or top["memory"] % (1 << 20):
        raise check.error("AZ-M005", "guest memory must be a whole number of MiB, at least 16M",
                          "appliance", None, "memory")
    manifest = Manifest(path, directory, top["name"], top["version"], top["memory"],
                        top["bounds"])

    names = {}
    for kind in MODULE_KINDS:
        for index, entry in enumerate(_entries(check, data, kind)):
            values = check.table(kind, index, entry, MODULE_KEYS)
            module = Module(kind, index, values["name"], [], values["grants"], values["memory"],
                            values["args"], values["env"], values["restart"], values["stack"],
                            values["cflags"])
            if module.name in names:
                raise check.error("AZ-M006", f"duplicate module name {module.name!r} (also "
                                  f"{names[module.name]})", kind, index, "name")
            names[module.name] = module.key
            if module.memory % WASM_PAGE or module.memory > LIMITS.module_memory:
                raise check.error("AZ-M005", "expected a multiple of 64K, at most 4G",
                                  kind, index, "memory")
            if module.stack % 4096 or not LIMITS.stack_min <= module.stack <= LIMITS.stack_max:
                raise check.error("AZ-M005", "expected a multiple of 4K between 64K and 16M",
                                  kind, index, "stack")
            _grants(check, catalogue, module)
            for source in values["source"]:
                source_path = (directory / source)
                if Path(source).suffix not in SOURCE_SUFFIXES:
                    raise check.error("AZ-M005", f"source {source!r}: expected a .wat, .wasm "
                                      "or .c file", kind, index, "source")
                if not source_path.is_file():
                    raise check.error("AZ-M007", f"source file {source!r} not found "
                                      f"(looked for {source_path})", kind, index, "source")
                module.sources.append(source_path)
            suffixes = {p.suffix for p in module.sources}
            if len(module.sources) > 1 and suffixes != {".c"}:
                raise check.error("AZ-M005", "several sources are allowed only for C",
                                  kind, index, "source")
            if module.cflags and suffixes != {".c"}:
                raise check.error("AZ-M005", "cflags apply to C sources only",
                                  kind, index, "cflags")
            _args_and_env(check, module)
            manifest.modules.append(module)
    if not manifest.modules:
        raise AzothError("AZ-M004", "the appliance has no [[driver]] or [[app]]", file=path)
    if len(manifest.modules) > MODULES_MAX:
        raise AzothError("AZ-M005", f"{len(manifest.modules)} modules, at most {MODULES_MAX}",
                         file=path)
    _exclusions(check, manifest)
    _channels(check, data, manifest, catalogue)
    _supervisors(check, data, manifest)
    _files(check, data, manifest)
    return manifest


def _entries(check, data, kind):
    entries = data.get(kind, [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise check.error("AZ-M003", f"expected [[{kind}]] tables", kind)
    return entries


def _grants(check, catalogue, module):
    """Parses each grant against the catalogue (capability, parameter, reserved ranges)."""
    seen = set()
    for grant in module.grants:
        try:
            parsed = catalogue.parse_grant(grant)
        except LookupError:
            raise check.error("AZ-M009", f"unknown capability {grant.partition(':')[0]!r} "
                              f"(known: {', '.join(sorted(catalogue.capabilities))})",
                              module.kind, module.index, "grants") from None
        except ValueError as e:
            raise check.error("AZ-M015", str(e), module.kind, module.index, "grants") from None
        if grant in seen:
            raise check.error("AZ-M006", f"capability {grant!r} granted twice",
                              module.kind, module.index, "grants")
        seen.add(grant)
        module.parsed_grants.append(parsed)
        module.capabilities.add(parsed.capability.name)


def _args_and_env(check, module):
    """Strings that become C strings in the guest: no NUL inside; environment names as POSIX
    has them (non-empty, no '=')."""
    for arg in module.args:
        if "\0" in arg:
            raise check.error("AZ-M005", f"argument {arg!r} contains a NUL byte",
                              module.kind, module.index, "args")
    for key, value in module.env.items():
        if not key or "=" in key or "\0" in key:
            raise check.error("AZ-M005", f"environment variable name {key!r}: expected a "
                              "non-empty name without '=' or NUL", module.kind, module.index,
                              "env")
        if "\0" in value:
            raise check.error("AZ-M005", f"environment variable {key!r}: its value contains a "
                              "NUL byte", module.kind, module.index, "env")


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
                            raise check.error(
                                "AZ-M017", f"{grant.text!r}: the kernel reads stdin from the "
                                f"console UART, whose ports {other.key} ({other.name}) is "
                                f"granted ({g.text!r}); give the console to one or the other"
                                if grant.capability.name == "stdin" else
                                f"{grant.text!r} excludes {g.text!r}, which {other.key} "
                                f"({other.name}) is granted", holder.kind, holder.index, "grants")


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
        host = manifest.directory / values["host"]
        if not host.is_file():
            raise check.error("AZ-M007", f"file {values['host']!r} not found (looked for "
                              f"{host})", "file", index, "host")
        if host.stat().st_size > FILE_SIZE_MAX:
            raise check.error("AZ-M005", f"file {values['host']!r} is {host.stat().st_size} "
                              f"bytes, at most {FILE_SIZE_MAX >> 20} MiB", "file", index, "host")
        guest = values["guest"]
        problem = _guest_path_problem(guest)
        if problem:
            raise check.error("AZ-M005", f"guest path {guest!r}: {problem}", "file", index,
                              "guest")
        if guest in by_guest:
            raise check.error("AZ-M006", f"duplicate guest path {guest!r} (also "
                              f"file[{by_guest[guest]}])", "file", index, "guest")
        for other in by_guest:
            shorter, longer = sorted((guest, other), key=len)
            if longer.startswith(shorter + "/"):
                raise check.error("AZ-M005", f"guest path {guest!r}: {shorter!r} would be both "
                                  f"a file and the directory of {longer!r}", "file", index,
                                  "guest")
        by_guest[guest] = index
        manifest.files.append(File(index, host, guest))
    if len(manifest.files) > FILES_MAX:
        raise AzothError("AZ-M005", f"{len(manifest.files)} files, at most {FILES_MAX}",
                         file=manifest.path)


def _channels(check, data, manifest, catalogue):
    """[[channel]]: each names existing modules; its ends get the channel capability."""
    seen = {}
    for index, entry in enumerate(_entries(check, data, "channel")):
        values = check.table("channel", index, entry, CHANNEL_KEYS)
        channel = Channel(index, values["name"], values["from"], values["to"], values["depth"],
                          values["message_size"])
        if channel.name in seen:
            raise check.error("AZ-M006", f"duplicate channel name {channel.name!r}",
                              "channel", index, "name")
        seen[channel.name] = channel
        for key, module_name in (("from", channel.sender), ("to", channel.receiver)):
            if manifest.module(module_name) is None:
                raise check.error("AZ-M014", f"no module named {module_name!r} (modules: "
                                  f"{', '.join(m.name for m in manifest.modules)})",
                                  "channel", index, key)
        if not 1 <= channel.depth <= CHANNEL_DEPTH_MAX:
            raise check.error("AZ-M005", f"expected 1 to {CHANNEL_DEPTH_MAX} messages",
                              "channel", index, "depth")
        if not 1 <= channel.message_size <= CHANNEL_MESSAGE_MAX:
            raise check.error("AZ-M005", f"expected 1 to {CHANNEL_MESSAGE_MAX} bytes",
                              "channel", index, "message_size")
        if channel.depth * channel.message_size > CHANNEL_BYTES_MAX:
            total = channel.depth * channel.message_size
            raise check.error("AZ-M005", f"depth x message_size is {total} bytes, at most "
                              f"{CHANNEL_BYTES_MAX}",
                              "channel", index, "depth")
        manifest.channels.append(channel)
        for module_name in (channel.sender, channel.receiver):
            manifest.module(module_name).capabilities.add("channel")
    if len(manifest.channels) > CHANNELS_MAX:
        raise AzothError("AZ-M005", f"{len(manifest.channels)} channels, at most {CHANNELS_MAX}",
                         file=manifest.path)


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
        sup = Supervisor(index, values["name"], values["strategy"], values["max_restarts"],
                         values["within"], values["children"], values["on_exhausted"])
        if manifest.module(sup.name) or any(s.name == sup.name for s in declared):
            raise check.error("AZ-M006", f"duplicate name {sup.name!r} (names are shared by "
                              "modules and supervisors)", "supervisor", index, "name")
        if not 1_000_000 <= sup.within_ns <= 3_600_000_000_000:
            raise check.error("AZ-M005", "expected a window between 1ms and 60m",
                              "supervisor", index, "within")
        if sup.max_restarts > MAX_RESTARTS:
            raise check.error("AZ-M005", f"expected at most {MAX_RESTARTS}", "supervisor", index,
                              "max_restarts")
        declared.append(sup)
    if len(declared) > SUPERVISORS_MAX:
        raise AzothError("AZ-M005", f"{len(declared)} supervisors, at most {SUPERVISORS_MAX}",
                         file=manifest.path)
    by_name = {s.name: s for s in declared}
    parent_of = {}
    for sup in declared:
        for child in sup.children:
            if child not in by_name and manifest.module(child) is None:
                raise check.error("AZ-M014", f"child {child!r} is neither a module nor a "
                                  "supervisor", "supervisor", sup.index, "children")
            if child == sup.name:
                raise check.error("AZ-M016", f"{child!r} supervises itself",
                                  "supervisor", sup.index, "children")
            if child in parent_of:
                raise check.error("AZ-M016", f"{child!r} is listed by two supervisors "
                                  f"({parent_of[child]} and {sup.name})",
                                  "supervisor", sup.index, "children")
            parent_of[child] = sup.name
    roots = [s for s in declared if s.name not in parent_of]
    if len(roots) != 1:
        which = ", ".join(s.name for s in roots) if roots else "none (a cycle)"
        raise check.error("AZ-M016", f"the supervision tree needs exactly one root supervisor "
                          f"(one that no other lists); found {which}", "supervisor",
                          (roots[1] if len(roots) > 1 else declared[0]).index, "children")
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
            raise check.error("AZ-M016", f"supervisor {sup.name!r} is not below the root "
                              f"{root.name!r} (a cycle)", "supervisor", sup.index, "name")
        sup.parent = parent_of.get(sup.name)
    for module in manifest.modules:
        if module.name not in parent_of:
            root.children.append(module.name)
            parent_of[module.name] = root.name
        module.supervisor = parent_of[module.name]
    manifest.supervisors = [root] + [s for s in declared if s is not root]


def import_error(manifest, module, code, message):
    """An error about one module's imports, located at its `grants` key (or its table)."""
    checker = _Checker(manifest.path, manifest.path.read_text(encoding="utf-8"))
    return checker.error(code, message, module.kind, module.index, "grants")
