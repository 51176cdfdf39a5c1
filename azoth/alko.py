"""Reads Alkahest objects (.alko, docs/object-format.md) on the host.

build.py needs an object's imports (to check grants and link kernel functions), its section
layout (each section becomes a hashed blob of the image) and its exports and names for
`inspect`. Every offset is checked against the file size.
"""
import struct
from dataclasses import dataclass

from . import formats
from .errors import AzothError

OBJECT = formats.OBJECT           # the layout: formats/object.toml
MAGIC = OBJECT.constant("magic").encode()
VERSION = OBJECT.constant("version")
CODE_ALIGN = OBJECT.constant("code_align")
NO_START = OBJECT.constant("no_start")
HEADER = OBJECT.record("header")
SECTION = OBJECT.record("section")
SECTION_NAMES = {s["id"]: s["name"] for s in OBJECT["section"]}
SECTION_IDS = {s["name"]: s["id"] for s in OBJECT["section"]}
RECORDS = {s["id"]: OBJECT.record(s["record"]) for s in OBJECT["section"] if "record" in s}
KINDS = tuple(name for name, _ in OBJECT["enum"]["extern_kind"]["values"])
TARGETS = {number: name for name, number in OBJECT["enum"]["target"]["values"]}  # 62: "x86_64"
LETTERS = formats.LETTERS           # signature letters: "i" -> "i32" (formats/abi.toml)


@dataclass
class Section:
    id: int
    offset: int
    size: int
    count: int

    @property
    def name(self):
        return SECTION_NAMES.get(self.id, f"section-{self.id}")


@dataclass
class Import:
    kind: str
    module: str
    field: str
    params: tuple = ()
    results: tuple = ()

    @property
    def name(self):
        return f"{self.module}.{self.field}"

    def signature(self):
        return f"({', '.join(self.params)}) -> ({', '.join(self.results)})"


class ObjectFile:
    def __init__(self, data, origin="object"):
        self.data = bytes(data)
        self.origin = origin
        if len(self.data) < HEADER.size:
            self._bad("shorter than its header")
        h = HEADER.unpack(self.data)
        if h.magic != MAGIC:
            self._bad("not an Alkahest object (bad magic)")
        if h.version != VERSION or h.header_size != HEADER.size:
            self._bad(f"object version {h.version} (this tool reads version {VERSION})")
        self.flags, self.vmctx_size = h.flags, h.vmctx_size
        self.target = TARGETS.get(h.target, f"unknown target {h.target}")
        self.function_count = h.function_count
        self.imported_function_count = h.imported_function_count
        self.wasm_code_size = h.wasm_code_size
        self.start = None if h.start == NO_START else h.start
        end_of_table = h.section_table + h.section_count * SECTION.size
        if h.section_table < HEADER.size or end_of_table > len(self.data):
            self._bad("section table out of bounds")
        self.header_size = end_of_table
        self.sections = {}
        for i in range(h.section_count):
            s = Section(*SECTION.unpack(self.data, h.section_table + i * SECTION.size))
            if s.offset + s.size > len(self.data) or s.offset < end_of_table:
                self._bad(f"section {s.name} out of bounds")
            if s.id in self.sections:
                self._bad(f"section {s.name} appears twice")
            self.sections[s.id] = s
        code = self.sections.get(SECTION_IDS["code"])
        if code and code.offset % CODE_ALIGN:
            self._bad("code section is not page-aligned")

    def _bad(self, message):
        raise AzothError("AZ-C010", f"malformed object: {message}", file=self.origin)

    @property
    def bounds(self):
        return "guard" if self.flags & 1 else "checked"

    @property
    def tier(self):
        """The manifest's `opt` value the object was compiled for: "speed" (the optimizing
        tier, flags bit 1) or "none"."""
        return "speed" if self.flags & 2 else "none"

    def _records(self, name):
        """The records of section NAME, unpacked (named fields)."""
        section_id = SECTION_IDS[name]
        s = self.sections.get(section_id)
        if s is None:
            return []
        layout = RECORDS[section_id]
        if s.count * layout.size > s.size:
            self._bad(f"section {s.name}: {s.count} records do not fit")
        return [layout.unpack(self.data, s.offset + i * layout.size) for i in range(s.count)]

    def string(self, offset):
        s = self.sections.get(SECTION_IDS["strings"])
        if s is None or offset + 4 > s.size:
            if offset == 0:
                return ""
            self._bad("string out of bounds")
        (length,) = struct.unpack_from("<I", self.data, s.offset + offset)
        start = s.offset + offset + 4
        if offset + 4 + length > s.size:
            self._bad("string out of bounds")
        return self.data[start:start + length].decode("utf-8", errors="replace")

    def type_signatures(self):
        """Each type's signature string ("ii:I"), as the kernel gives them canonical ids."""
        return [self.string(rec.signature) for rec in self._records("types")]

    def types(self):
        result = []
        for signature in self.type_signatures():
            params, _, results = signature.partition(":")
            result.append((tuple(LETTERS[c] for c in params), tuple(LETTERS[c] for c in results)))
        return result

    def tables(self):
        """(initial size, maximum or None, imported) of each table, imported first."""
        return [(t.min, t.max if t.has_max else None, bool(t.imported))
                for t in self._records("tables")]

    def imports(self):
        types = self.types()
        result = []
        for rec in self._records("imports"):
            kind = KINDS[rec.kind] if rec.kind < len(KINDS) else f"kind-{rec.kind}"
            imp = Import(kind, self.string(rec.module), self.string(rec.field))
            if kind == "function":
                if rec.index >= len(types):
                    self._bad("import type index out of range")
                imp.params, imp.results = types[rec.index]
            result.append(imp)
        return result

    def exports(self):
        return [(self.string(rec.name), KINDS[rec.kind] if rec.kind < len(KINDS) else str(rec.kind),
                 rec.index) for rec in self._records("exports")]

    def functions(self):
        return [(rec.type_index, rec.offset, rec.size, self.string(rec.name))
                for rec in self._records("functions")]

    def memory(self):
        recs = self._records("memory")
        if not recs:
            return None
        flags = OBJECT.enum("memory_flag")
        m = recs[0]
        return m.min, (m.max if m.flags & flags["has_max"] else None), \
            bool(m.flags & flags["imported"])

    def blobs(self):
        """The object's hashed regions, in file order: (kind id, name, offset, size).

        Kind 0 is the header with the section table; the others are the sections. Bytes not in
        any region (alignment padding) must be zero: the kernel checks that too.
        """
        regions = [(0, "header", 0, self.header_size)]
        for s in sorted(self.sections.values(), key=lambda s: s.offset):
            regions.append((s.id, s.name, s.offset, s.size))
        position = 0
        for _, name, off, size in regions:
            if off < position:
                self._bad(f"region {name} overlaps another")
            if self.data[position:off].count(0) != off - position:
                self._bad(f"non-zero padding before region {name}")
            position = off + size
        if self.data[position:].count(0) != len(self.data) - position:
            self._bad("non-zero bytes after the last section")
        return regions
