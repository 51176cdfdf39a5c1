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

MANIFEST_NAME = "appliance.toml"
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,30}$")
SIZE_PATTERN = re.compile(r"^([0-9]+)\s*(K|KiB|M|MiB|G|GiB)?$")
SIZE_UNITS = {None: 1, "K": 1 << 10, "KiB": 1 << 10, "M": 1 << 20, "MiB": 1 << 20,
              "G": 1 << 30, "GiB": 1 << 30}
SOURCE_SUFFIXES = (".wat", ".wasm", ".c")
WASM_PAGE = 65536


# ---- Schema ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Key:
    kind: str            # "string", "size", "choice", "list", "table", "source"
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
    "restart": Key("choice", "never", ("never", "on-failure", "always"),
                   doc="restart policy when the module traps or exits"),
}
SECTIONS = {"appliance": APPLIANCE_KEYS, "driver": MODULE_KEYS, "app": MODULE_KEYS}
MODULE_KINDS = ("driver", "app")


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

    @property
    def key(self):
        return f"{self.kind}[{self.index}]"


@dataclass
class Manifest:
    path: Path
    directory: Path
    name: str
    version: str
    memory: int
    bounds: str
    modules: list = field(default_factory=list)


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
        if kind == "string":
            if not isinstance(value, str):
                raise wrong("a string")
            if len(value.encode()) > 15:
                raise self.error("AZ-M005", "expected at most 15 bytes", section, index, name)
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
                          "[[driver]] or [[app]])", unknown[0],
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
        entries = data.get(kind, [])
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise check.error("AZ-M003", f"expected [[{kind}]] tables", kind)
        for index, entry in enumerate(entries):
            values = check.table(kind, index, entry, MODULE_KEYS)
            module = Module(kind, index, values["name"], [], values["grants"], values["memory"],
                            values["args"], values["env"], values["restart"])
            if module.name in names:
                raise check.error("AZ-M006", f"duplicate module name {module.name!r} (also "
                                  f"{names[module.name]})", kind, index, "name")
            names[module.name] = module.key
            if module.memory % WASM_PAGE or module.memory > 1 << 32:
                raise check.error("AZ-M005", "expected a multiple of 64K, at most 4G",
                                  kind, index, "memory")
            seen = set()
            for grant in module.grants:
                if grant not in catalogue.capabilities:
                    raise check.error("AZ-M009", f"unknown capability {grant!r} (known: "
                                      f"{', '.join(sorted(catalogue.capabilities))})",
                                      kind, index, "grants")
                if grant in seen:
                    raise check.error("AZ-M006", f"capability {grant!r} granted twice",
                                      kind, index, "grants")
                seen.add(grant)
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
            manifest.modules.append(module)
    if not manifest.modules:
        raise AzothError("AZ-M004", "the appliance has no [[driver]] or [[app]]", file=path)
    return manifest


def import_error(manifest, module, code, message):
    """An error about one module's imports, located at its `grants` key (or its table)."""
    checker = _Checker(manifest.path, manifest.path.read_text(encoding="utf-8"))
    return checker.error(code, message, module.kind, module.index, "grants")
