"""The formats Azoth's parts share, read from their one definition in formats/*.toml:

    ABI        formats/abi.toml      the instance ABI: vmctx, traps, builtins, value types
    OBJECT     formats/object.toml   Alkahest's compiled objects
    IMAGE      formats/image.toml    the signed appliance image

formats/generate.py writes the C headers and the docs' tables from the same files; here the
host tool gets records with named fields:

    layout = IMAGE.record("module")
    data = layout.pack(name=b"app", kind=1, ...)        # fields not given are 0
    fields = layout.unpack(data)                         # fields.name, fields.kind, ...

Little-endian, fixed size; a field is u8/u16/u32/u64 or bytes[N].
"""
import struct
import tomllib
from collections import namedtuple
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FORMATS = ROOT / "formats"

_CODES = {"u8": "B", "u16": "H", "u32": "I", "u64": "Q"}
_SIZES = {"u8": 1, "u16": 2, "u32": 4, "u64": 8}


def field_size(type_name):
    if type_name.startswith("bytes[") and type_name.endswith("]"):
        return int(type_name[6:-1])
    return _SIZES[type_name]


class Record:
    """A fixed-size little-endian record: fields at the offsets the description gives, every
    byte between them reserved (zero). A field whose type is another record (`nested`) packs
    from and unpacks to that record's named tuple."""

    def __init__(self, name, size, fields, nested=None):
        self.name, self.size, self.fields = name, size, fields
        self.nested = nested or {}
        self.offsets = {f["name"]: f["offset"] for f in fields}
        self.tuple = namedtuple(f"{name.title().replace('_', '')}Record",
                                [f["name"] for f in fields])
        fmt, at = "<", 0
        for f in fields:
            if f["offset"] < at:
                raise ValueError(f"{name}.{f['name']}: overlaps the field before it")
            fmt += "x" * (f["offset"] - at)
            t = f["type"]
            size_of = self.nested[t].size if t in self.nested else field_size(t)
            fmt += f"{size_of}s" if t.startswith("bytes[") or t in self.nested else _CODES[t]
            at = f["offset"] + size_of
        if at > size:
            raise ValueError(f"{name}: fields past its size {size}")
        self.struct = struct.Struct(fmt + "x" * (size - at))

    def _default(self, f):
        if f["type"] in self.nested:
            return self.nested[f["type"]].pack()
        return b"" if f["type"].startswith("bytes[") else 0

    def pack(self, **values):
        unknown = set(values) - set(self.offsets)
        if unknown:
            raise TypeError(f"{self.name}: no field {', '.join(sorted(unknown))}")
        out = []
        for f in self.fields:
            value = values.get(f["name"])
            if value is None:
                value = self._default(f)
            elif f["type"] in self.nested and not isinstance(value, bytes):
                value = self.nested[f["type"]].pack(**value._asdict())
            out.append(value)
        return self.struct.pack(*out)

    def unpack(self, data, offset=0):
        values = list(self.struct.unpack_from(data, offset))
        for i, f in enumerate(self.fields):
            if f["type"] in self.nested:
                values[i] = self.nested[f["type"]].unpack(values[i])
        return self.tuple(*values)


class Format:
    def __init__(self, path):
        self.path = Path(path)
        with open(self.path, "rb") as f:
            self.table = tomllib.load(f)

    def __getitem__(self, key):
        return self.table[key]

    def get(self, key, default=None):
        return self.table.get(key, default)

    def record(self, name):
        entry = self.table["record"][name]
        nested = {f["type"]: self.record(f["type"]) for f in entry["fields"]
                  if f["type"] in self.table["record"]}
        return Record(name, entry["size"], entry["fields"], nested)

    def constant(self, name):
        return self.table["constants"][name]["value"]

    def enum(self, name):
        """{value name: value} of one of the description's enums."""
        return dict(self.table["enum"][name]["values"])


ABI = Format(FORMATS / "abi.toml")
OBJECT = Format(FORMATS / "object.toml")
IMAGE = Format(FORMATS / "image.toml")
EXIT = Format(FORMATS / "exit.toml")

# Signature letters ("ii:I") and value type names, both ways.
LETTERS = {t["letter"]: t["name"] for t in ABI["value_type"]}
TYPE_LETTERS = {t["name"]: t["letter"] for t in ABI["value_type"]}
TRAP_MESSAGES = {t["code"]: t["message"] for t in ABI["trap"]}
