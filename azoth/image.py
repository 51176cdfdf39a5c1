"""The appliance image (.azi): writing, signing, reading and verifying (docs/image-format.md).

    header (256) | tables (modules, blobs, import maps, strings) | pad | objects, page-aligned

The Ed25519 signature covers the header (minus the signature field) and the tables; the tables
hold a SHA-256 of every blob, and blobs tile the payload with zero padding between them, so every
byte of the image is covered. Output is deterministic: the same inputs and key give the same bytes.
"""
import hashlib
import struct
from dataclasses import dataclass, field

from .alko import ObjectFile
from .errors import AzothError

MAGIC = b"AZOTHIMG"
VERSION = 1
PAGE = 4096
HEADER_SIZE = 256
SIGNATURE_OFFSET = 192
SIGNATURE_SIZE = 64
HEADER = struct.Struct("<8sIIQIIIIIII32s16s")        # the fields before the reserved bytes
MODULE = struct.Struct("<32sIIQQIIIIIIIIII32s")       # 128 bytes
BLOB = struct.Struct("<IIQQ32s8s")                     # 64 bytes
MODULE_KINDS = ("driver", "app")
RESTART_POLICIES = ("never", "on-failure", "always")
FLAG_BOUNDS_GUARD = 1

assert MODULE.size == 128 and BLOB.size == 64


def align(value, to):
    return (value + to - 1) // to * to


@dataclass
class ImageModule:
    name: str
    kind: str
    restart: str
    grants_bitmap: int
    max_memory: int
    object: ObjectFile
    import_ids: list           # kernel import id per function import, in import order
    args: list = field(default_factory=list)
    env: dict = field(default_factory=dict)


class _Strings:
    """The image's string pool: u32 length, bytes, NUL. Offset 0 is the empty string."""

    def __init__(self):
        self.data = bytearray(b"\0\0\0\0\0\0\0\0")

    def add(self, text):
        raw = text.encode("utf-8")
        offset = len(self.data)
        self.data += struct.pack("<I", len(raw)) + raw + b"\0"
        self.data += b"\0" * (align(len(self.data), 4) - len(self.data))
        return offset


def build(name, version, memory_bytes, bounds, modules, sign):
    """Lays out and signs an image. sign(message: bytes) -> 64-byte signature."""
    strings = _Strings()
    import_map = []
    module_records = []
    blob_records = []
    payload = []          # (offset, bytes)

    tables_size_estimate = None
    # Pass 1: lay out string pool and import maps (independent of payload offsets).
    arg_slots, env_slots, import_slots = [], [], []
    for m in modules:
        arg_slots.append((len(strings.data), len(m.args)))
        for a in m.args:
            strings.add(a)
        env_slots.append((len(strings.data), len(m.env)))
        for k in sorted(m.env):
            strings.add(f"{k}={m.env[k]}")
        import_slots.append((len(import_map), len(m.import_ids)))
        import_map.extend(m.import_ids)

    blob_count = sum(1 + len(m.object.sections) for m in modules)
    tables_size = (len(modules) * MODULE.size + blob_count * BLOB.size + 4 * len(import_map))
    tables_size = align(tables_size, 8) + len(strings.data)
    tables_size_estimate = align(tables_size, 8)
    payload_offset = align(HEADER_SIZE + tables_size_estimate, PAGE)

    position = payload_offset
    for index, m in enumerate(modules):
        object_offset = align(position, PAGE)
        first_blob = len(blob_records)
        for kind, _name, off, size in m.object.blobs():
            data = m.object.data[off:off + size]
            blob_records.append(BLOB.pack(index, kind, object_offset + off, size,
                                          hashlib.sha256(data).digest(), b"\0" * 8))
        payload.append((object_offset, m.object.data))
        position = object_offset + len(m.object.data)
        module_records.append(MODULE.pack(
            m.name.encode(), MODULE_KINDS.index(m.kind), RESTART_POLICIES.index(m.restart),
            m.grants_bitmap, m.max_memory, first_blob, len(blob_records) - first_blob,
            object_offset, len(m.object.data), import_slots[index][0], import_slots[index][1],
            arg_slots[index][0], arg_slots[index][1], env_slots[index][0], env_slots[index][1],
            b"\0" * 32))
    image_size = align(position, PAGE)

    tables = bytearray()
    tables += b"".join(module_records)
    tables += b"".join(blob_records)
    tables += b"".join(struct.pack("<I", i) for i in import_map)
    tables += b"\0" * (align(len(tables), 8) - len(tables))
    strings_offset = len(tables)
    tables += strings.data
    tables += b"\0" * (align(len(tables), 8) - len(tables))
    assert len(tables) == tables_size_estimate

    flags = FLAG_BOUNDS_GUARD if bounds == "guard" else 0
    header = bytearray(HEADER_SIZE)
    HEADER.pack_into(header, 0, MAGIC, VERSION, HEADER_SIZE, image_size, flags, len(modules),
                     len(blob_records), HEADER_SIZE, len(tables), payload_offset,
                     memory_bytes >> 20, name.encode(), version.encode())
    struct.pack_into("<I", header, HEADER.size, strings_offset)
    signature = sign(bytes(header[:SIGNATURE_OFFSET]) + bytes(tables))
    if len(signature) != SIGNATURE_SIZE:
        raise AzothError("AZ-I003", f"signer returned {len(signature)} bytes, expected 64")
    header[SIGNATURE_OFFSET:] = signature

    image = bytearray(image_size)
    image[0:HEADER_SIZE] = header
    image[HEADER_SIZE:HEADER_SIZE + len(tables)] = tables
    for offset, data in payload:
        image[offset:offset + len(data)] = data
    return bytes(image)


# ---- Reading ---------------------------------------------------------------------------------
@dataclass
class Blob:
    module: int
    kind: int
    offset: int
    size: int
    sha256: bytes


class Image:
    """A parsed image. verify() says, as a list of problems, what the kernel would refuse."""

    def __init__(self, data, origin="image"):
        self.data = bytes(data)
        self.origin = origin
        if len(self.data) < HEADER_SIZE:
            self._bad("shorter than the image header")
        (magic, version, header_size, self.size, self.flags, module_count, blob_count,
         self.tables_offset, self.tables_size, self.payload_offset, self.memory_mib,
         name, version_string) = HEADER.unpack_from(self.data, 0)
        if magic != MAGIC:
            self._bad("not an Azoth image (bad magic)")
        if version != VERSION or header_size != HEADER_SIZE:
            self._bad(f"image format version {version}, this tool reads {VERSION}")
        (self.strings_offset,) = struct.unpack_from("<I", self.data, HEADER.size)
        self.name = name.rstrip(b"\0").decode(errors="replace")
        self.version = version_string.rstrip(b"\0").decode(errors="replace")
        self.signature = self.data[SIGNATURE_OFFSET:HEADER_SIZE]
        if self.tables_offset != HEADER_SIZE or \
                self.tables_offset + self.tables_size > len(self.data) or \
                module_count * MODULE.size + blob_count * BLOB.size > self.tables_size:
            self._bad("tables out of bounds")
        self.modules = []
        at = self.tables_offset
        for _ in range(module_count):
            self.modules.append(MODULE.unpack_from(self.data, at))
            at += MODULE.size
        self.blobs = []
        for _ in range(blob_count):
            module, kind, offset, size, digest, _ = BLOB.unpack_from(self.data, at)
            self.blobs.append(Blob(module, kind, offset, size, digest))
            at += BLOB.size
        self.import_map_offset = at

    def _bad(self, message):
        raise AzothError("AZ-I001", message, file=self.origin)

    @property
    def bounds(self):
        return "guard" if self.flags & FLAG_BOUNDS_GUARD else "checked"

    def signed_message(self):
        return self.data[:SIGNATURE_OFFSET] + \
            self.data[self.tables_offset:self.tables_offset + self.tables_size]

    def module_name(self, index):
        if index < len(self.modules):
            return self.modules[index][0].rstrip(b"\0").decode(errors="replace")
        return f"#{index}"

    def check_blobs(self):
        """Hashes and tiling, as the kernel checks them. Returns a list of problems."""
        problems = []
        position = self.payload_offset
        if self.size != len(self.data):
            problems.append(f"image size {self.size} in the header, {len(self.data)} in the file")
        for blob in self.blobs:
            label = f"module {self.module_name(blob.module)}, blob {blob_name(blob.kind)}"
            if blob.offset < position or blob.offset + blob.size > len(self.data):
                problems.append(f"{label}: out of order or out of bounds")
                continue
            if self.data[position:blob.offset].count(0) != blob.offset - position:
                problems.append(f"unsigned non-zero bytes before {label}")
            if hashlib.sha256(self.data[blob.offset:blob.offset + blob.size]).digest() != \
                    blob.sha256:
                problems.append(f"{label}: SHA-256 mismatch")
            position = blob.offset + blob.size
        if self.data[position:].count(0) != len(self.data) - position:
            problems.append("unsigned non-zero bytes after the last blob")
        return problems

    def strings(self, offset, count):
        out = []
        base = self.tables_offset + self.strings_offset
        for _ in range(count):
            (length,) = struct.unpack_from("<I", self.data, base + offset)
            out.append(self.data[base + offset + 4: base + offset + 4 + length].decode())
            offset = align(offset + 4 + length + 1, 4)
        return out

    def import_ids(self, module):
        rec = self.modules[module]
        first, count = rec[9], rec[10]
        return list(struct.unpack_from(f"<{count}I", self.data,
                                       self.import_map_offset + 4 * first))

    def object_of(self, index):
        rec = self.modules[index]
        offset, size = rec[7], rec[8]
        return ObjectFile(self.data[offset:offset + size], f"{self.origin}:{self.module_name(index)}")


def blob_name(kind):
    from .alko import SECTION_NAMES
    return "object-header" if kind == 0 else SECTION_NAMES.get(kind, f"kind-{kind}")
