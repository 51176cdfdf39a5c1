"""Reads Alkahest objects (.alko, docs/object-format.md) on the host.

build.py needs an object's imports (to check grants and link kernel functions), its section
layout (each section becomes a hashed blob of the image) and its exports and names for
`inspect`. Every offset is checked against the file size.
"""
import struct
from dataclasses import dataclass

from . import formats
from .errors import AzothError

MAGIC = b"ALKO"
VERSION = 1
HEADER = struct.Struct("<4sHHIIIIIIIIIIII8s")
SECTION = struct.Struct("<IIII")
SECTION_NAMES = {1: "types", 2: "imports", 3: "functions", 4: "exports", 5: "memory",
                 6: "tables", 7: "globals", 8: "elements", 9: "element-items", 10: "data",
                 11: "data-bytes", 12: "code", 13: "strings"}
KINDS = ("function", "table", "memory", "global")
LETTERS = formats.LETTERS           # signature letters: "i" -> "i32" (formats/abi.toml)
CODE_ALIGN = 4096


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
        fields = HEADER.unpack_from(self.data, 0)
        (magic, version, header_size, self.flags, section_count, table_offset,
         self.vmctx_size, self.function_count, self.imported_function_count, start,
         *_rest) = fields
        self.wasm_code_size = fields[14]
        if magic != MAGIC:
            self._bad("not an Alkahest object (bad magic)")
        if version != VERSION or header_size != HEADER.size:
            self._bad(f"object version {version} (this tool reads version {VERSION})")
        self.start = None if start == 0xFFFFFFFF else start
        end_of_table = table_offset + section_count * SECTION.size
        if table_offset < HEADER.size or end_of_table > len(self.data):
            self._bad("section table out of bounds")
        self.header_size = end_of_table
        self.sections = {}
        for i in range(section_count):
            s = Section(*SECTION.unpack_from(self.data, table_offset + i * SECTION.size))
            if s.offset + s.size > len(self.data) or s.offset < end_of_table:
                self._bad(f"section {s.name} out of bounds")
            if s.id in self.sections:
                self._bad(f"section {s.name} appears twice")
            self.sections[s.id] = s
        code = self.sections.get(12)
        if code and code.offset % CODE_ALIGN:
            self._bad("code section is not page-aligned")

    def _bad(self, message):
        raise AzothError("AZ-C010", f"malformed object: {message}", file=self.origin)

    @property
    def bounds(self):
        return "guard" if self.flags & 1 else "checked"

    def _records(self, section_id, size):
        s = self.sections.get(section_id)
        if s is None:
            return []
        if s.count * size > s.size:
            self._bad(f"section {s.name}: {s.count} records do not fit")
        return [self.data[s.offset + i * size: s.offset + (i + 1) * size] for i in range(s.count)]

    def string(self, offset):
        s = self.sections.get(13)
        if s is None or offset + 4 > s.size:
            if offset == 0:
                return ""
            self._bad("string out of bounds")
        (length,) = struct.unpack_from("<I", self.data, s.offset + offset)
        start = s.offset + offset + 4
        if offset + 4 + length > s.size:
            self._bad("string out of bounds")
        return self.data[start:start + length].decode("utf-8", errors="replace")

    def types(self):
        result = []
        for rec in self._records(1, 8):
            (sig, _) = struct.unpack("<II", rec)
            params, _, results = self.string(sig).partition(":")
            result.append((tuple(LETTERS[c] for c in params), tuple(LETTERS[c] for c in results)))
        return result

    def type_signatures(self):
        """Each type's signature string ("ii:I"), as the kernel gives them canonical ids."""
        return [self.string(struct.unpack("<II", rec)[0]) for rec in self._records(1, 8)]

    def tables(self):
        """(initial size, maximum or None, imported) of each table, imported first."""
        out = []
        for rec in self._records(6, 16):
            _element, has_max, imported, _r, minimum, maximum, _r2 = \
                struct.unpack("<BBBBIII", rec)
            out.append((minimum, maximum if has_max else None, bool(imported)))
        return out

    def imports(self):
        types = self.types()
        result = []
        for rec in self._records(2, 32):
            kind, _vt, _mut, _hasmax, mod, field, index, _min, _max, _r1, _r2 = \
                struct.unpack("<BBBBIIIIIII", rec)
            imp = Import(KINDS[kind] if kind < 4 else f"kind-{kind}", self.string(mod),
                         self.string(field))
            if kind == 0:
                if index >= len(types):
                    self._bad("import type index out of range")
                imp.params, imp.results = types[index]
            result.append(imp)
        return result

    def exports(self):
        out = []
        for rec in self._records(4, 12):
            name, kind, index = struct.unpack("<III", rec)
            out.append((self.string(name), KINDS[kind] if kind < 4 else str(kind), index))
        return out

    def functions(self):
        out = []
        for rec in self._records(3, 16):
            type_index, offset, size, name = struct.unpack("<IIII", rec)
            out.append((type_index, offset, size, self.string(name)))
        return out

    def memory(self):
        recs = self._records(5, 16)
        if not recs:
            return None
        minimum, maximum, flags, _ = struct.unpack("<IIII", recs[0])
        return minimum, (maximum if flags & 1 else None), bool(flags & 2)

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
