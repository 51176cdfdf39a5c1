"""The capability catalogue (manifest/capabilities.toml): what each grant links.

One source of truth: build.py checks imports against it, the image's import maps use its ids, and
manifest/gen_kernel_abi.py turns it into the kernel's table of import functions.
"""
import tomllib
from dataclasses import dataclass
from pathlib import Path

CATALOGUE_PATH = Path(__file__).resolve().parent.parent / "manifest" / "capabilities.toml"
VALUE_TYPES = ("i32", "i64", "f32", "f64", "v128", "funcref", "externref")
ALWAYS = "always"


@dataclass(frozen=True)
class KernelImport:
    name: str              # "athanor.log"
    id: int
    params: tuple
    results: tuple
    grant: str             # capability name, or "always"
    kernel: str            # implementing C function
    summary: str

    @property
    def module(self):
        return self.name.split(".", 1)[0]

    @property
    def field(self):
        return self.name.split(".", 1)[1]

    def signature(self):
        return f"({', '.join(self.params)}) -> ({', '.join(self.results)})"


@dataclass(frozen=True)
class Capability:
    name: str
    summary: str
    imports: tuple
    bit: int               # position in the image's grant bitmap


class Catalogue:
    def __init__(self, capabilities, imports):
        self.capabilities = capabilities   # name -> Capability
        self.imports = imports             # "module.field" -> KernelImport

    def lookup(self, module, field):
        return self.imports.get(f"{module}.{field}")


def _fail(message):
    raise ValueError(f"{CATALOGUE_PATH}: {message}")


def load(path=CATALOGUE_PATH):
    with open(path, "rb") as f:
        data = tomllib.load(f)
    unknown = set(data) - {"capability", "import"}
    if unknown:
        _fail(f"unknown top-level tables {sorted(unknown)}")
    imports = {}
    ids = set()
    for name, entry in data.get("import", {}).items():
        if "." not in name:
            _fail(f"import {name!r} must be written module.field")
        for key in ("id", "params", "results", "grant", "kernel", "summary"):
            if key not in entry:
                _fail(f"import {name!r} lacks {key!r}")
        if entry["id"] in ids:
            _fail(f"import id {entry['id']} used twice")
        ids.add(entry["id"])
        for t in entry["params"] + entry["results"]:
            if t not in VALUE_TYPES:
                _fail(f"import {name!r}: unknown value type {t!r}")
        imports[name] = KernelImport(name, entry["id"], tuple(entry["params"]),
                                     tuple(entry["results"]), entry["grant"], entry["kernel"],
                                     entry["summary"])
    capabilities = {}
    for bit, (name, entry) in enumerate(sorted(data.get("capability", {}).items())):
        if name == ALWAYS:
            _fail("'always' is reserved")
        listed = tuple(entry.get("imports", ()))
        for imp in listed:
            if imp not in imports:
                _fail(f"capability {name!r} lists unknown import {imp!r}")
            if imports[imp].grant != name:
                _fail(f"capability {name!r} lists {imp!r}, whose grant is {imports[imp].grant!r}")
        capabilities[name] = Capability(name, entry.get("summary", ""), listed, bit)
    if len(capabilities) > 64:
        _fail("more than 64 capabilities: the image's grant bitmap is 64 bits")
    for imp in imports.values():
        if imp.grant != ALWAYS and imp.grant not in capabilities:
            _fail(f"import {imp.name!r} names unknown grant {imp.grant!r}")
        if imp.grant != ALWAYS and imp.name not in capabilities[imp.grant].imports:
            _fail(f"import {imp.name!r} is not listed by its capability {imp.grant!r}")
    return Catalogue(capabilities, imports)
