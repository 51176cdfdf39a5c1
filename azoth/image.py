"""The appliance image (.azi): writing, signing, reading and verifying (docs/image-format.md).

    header (256) | tables (modules, blobs, import maps, resources, channels, supervisors,
                   children, files, strings) | pad | objects, page-aligned | files' contents

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
VERSION = 3
PAGE = 4096
HEADER_SIZE = 256
SIGNATURE_OFFSET = 192
SIGNATURE_SIZE = 64
HEADER = struct.Struct("<8sIIQIIIIIII32s16s")        # the fields before the reserved bytes
HEADER_COUNTS = struct.Struct("<IIIIIII")             # at 100: strings offset, then the counts
                                                      # (imports, resources, channels,
                                                      # supervisors, children, files)
MODULE = struct.Struct("<32sIIQQIIIIIIIIIIIIII16s")   # 128 bytes
BLOB = struct.Struct("<IIQQ32s8s")                     # 64 bytes
RESOURCE = struct.Struct("<IIQQQ")                     # 32 bytes
CHANNEL = struct.Struct("<32sIIII16s")                 # 64 bytes
SUPERVISOR = struct.Struct("<32sIIIIQII")              # 64 bytes
FILE = struct.Struct("<II8s")                          # 16 bytes
MODULE_KINDS = ("driver", "app")
RESTART_POLICIES = ("never", "on-failure", "always")
STRATEGIES = ("one_for_one", "one_for_all", "rest_for_one")
ON_EXHAUSTED = ("escalate", "fail")
FLAG_BOUNDS_GUARD = 1
NO_PARENT = 0xFFFFFFFF
CHILD_SUPERVISOR = 1 << 31          # a children-table entry naming a supervisor
RESOURCE_SEND, RESOURCE_RECEIVE = 1, 2   # channel resource flags
NO_MODULE = 0xFFFFFFFF              # a blob that belongs to no module: a file's contents
BLOB_FILE = 256                     # the kind of a file's blob
FILE_ALIGN = 16                     # where each file's contents start in the payload

assert MODULE.size == 128 and BLOB.size == 64 and RESOURCE.size == 32
assert CHANNEL.size == 64 and SUPERVISOR.size == 64 and FILE.size == 16


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
    supervisor: int = 0        # index in the supervisor table
    resources: list = field(default_factory=list)   # ImageResource
    stack: int = 256 << 10


@dataclass
class ImageResource:
    kind: int                  # the capability's `resource` id (manifest/capabilities.toml)
    first: int
    last: int
    flags: int = 0             # channels: RESOURCE_SEND | RESOURCE_RECEIVE


@dataclass
class ImageChannel:
    name: str
    sender: int                # module indices
    receiver: int
    depth: int
    message_size: int


@dataclass
class ImageFile:
    path: str                  # the guest path, absolute ("/etc/motd")
    data: bytes


@dataclass
class ImageSupervisor:
    name: str
    parent: int                # NO_PARENT for the root (index 0)
    strategy: str
    max_restarts: int
    window_ns: int
    on_exhausted: str
    children: list             # (is_supervisor, index), in start order


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


def build(name, version, memory_bytes, bounds, modules, sign, channels=(), supervisors=(),
          files=()):
    """Lays out and signs an image. sign(message: bytes) -> 64-byte signature."""
    strings = _Strings()
    import_map = []
    module_records = []
    blob_records = []
    payload = []          # (offset, bytes)
    supervisors = list(supervisors) or [ImageSupervisor("root", NO_PARENT, "one_for_one", 3,
                                                        5_000_000_000, "escalate",
                                                        [(False, i) for i in range(len(modules))])]

    # Pass 1: string pool, import maps, resources, children (independent of payload offsets).
    arg_slots, env_slots, import_slots, resource_slots = [], [], [], []
    resources = []
    for m in modules:
        arg_slots.append((len(strings.data), len(m.args)))
        for a in m.args:
            strings.add(a)
        env_slots.append((len(strings.data), len(m.env)))
        for k in sorted(m.env):
            strings.add(f"{k}={m.env[k]}")
        import_slots.append((len(import_map), len(m.import_ids)))
        import_map.extend(m.import_ids)
        resource_slots.append((len(resources), len(m.resources)))
        resources.extend(m.resources)
    children, child_slots = [], []
    for sup in supervisors:
        child_slots.append((len(children), len(sup.children)))
        children.extend((CHILD_SUPERVISOR if is_sup else 0) | index
                        for is_sup, index in sup.children)
    file_paths = [strings.add(f.path) for f in files]

    blob_count = sum(1 + len(m.object.sections) for m in modules) + len(files)
    tables_size = (len(modules) * MODULE.size + blob_count * BLOB.size + 4 * len(import_map))
    tables_size = align(tables_size, 8) + len(resources) * RESOURCE.size + \
        len(channels) * CHANNEL.size + len(supervisors) * SUPERVISOR.size + 4 * len(children) + \
        len(files) * FILE.size
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
            m.supervisor, resource_slots[index][0], resource_slots[index][1], m.stack,
            b"\0" * 16))
    file_records = []
    for f, path_offset in zip(files, file_paths):
        offset = align(position, FILE_ALIGN)
        file_records.append(FILE.pack(path_offset, len(blob_records), b"\0" * 8))
        blob_records.append(BLOB.pack(NO_MODULE, BLOB_FILE, offset, len(f.data),
                                      hashlib.sha256(f.data).digest(), b"\0" * 8))
        payload.append((offset, f.data))
        position = offset + len(f.data)
    image_size = align(position, PAGE)

    tables = bytearray()
    tables += b"".join(module_records)
    tables += b"".join(blob_records)
    tables += b"".join(struct.pack("<I", i) for i in import_map)
    tables += b"\0" * (align(len(tables), 8) - len(tables))
    for r in resources:
        tables += RESOURCE.pack(r.kind, r.flags, r.first, r.last, 0)
    for c in channels:
        tables += CHANNEL.pack(c.name.encode(), c.sender, c.receiver, c.depth, c.message_size,
                               b"\0" * 16)
    for sup, (first, count) in zip(supervisors, child_slots):
        tables += SUPERVISOR.pack(sup.name.encode(), sup.parent, STRATEGIES.index(sup.strategy),
                                  sup.max_restarts, ON_EXHAUSTED.index(sup.on_exhausted),
                                  sup.window_ns, first, count)
    tables += b"".join(struct.pack("<I", c) for c in children)
    tables += b"".join(file_records)
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
    HEADER_COUNTS.pack_into(header, HEADER.size, strings_offset, len(import_map), len(resources),
                            len(channels), len(supervisors), len(children), len(files))
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
        (self.strings_offset, import_count, resource_count, channel_count, supervisor_count,
         children_count, file_count) = HEADER_COUNTS.unpack_from(self.data, HEADER.size)
        self.name = name.rstrip(b"\0").decode(errors="replace")
        self.version = version_string.rstrip(b"\0").decode(errors="replace")
        self.signature = self.data[SIGNATURE_OFFSET:HEADER_SIZE]
        fixed = module_count * MODULE.size + blob_count * BLOB.size + 4 * import_count
        fixed = align(fixed, 8) + resource_count * RESOURCE.size + \
            channel_count * CHANNEL.size + supervisor_count * SUPERVISOR.size + \
            4 * children_count + file_count * FILE.size
        if self.tables_offset != HEADER_SIZE or \
                self.tables_offset + self.tables_size > len(self.data) or \
                fixed > self.strings_offset or self.strings_offset > self.tables_size:
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
        at = self.tables_offset + align(at - self.tables_offset + 4 * import_count, 8)
        self.resources = []
        for _ in range(resource_count):
            kind, flags, first, last, _ = RESOURCE.unpack_from(self.data, at)
            self.resources.append(ImageResource(kind, first, last, flags))
            at += RESOURCE.size
        self.channels = []
        for _ in range(channel_count):
            name, sender, receiver, depth, size, _ = CHANNEL.unpack_from(self.data, at)
            self.channels.append(ImageChannel(name.rstrip(b"\0").decode(errors="replace"),
                                              sender, receiver, depth, size))
            at += CHANNEL.size
        supervisor_records = []
        for _ in range(supervisor_count):
            supervisor_records.append(SUPERVISOR.unpack_from(self.data, at))
            at += SUPERVISOR.size
        children = struct.unpack_from(f"<{children_count}I", self.data, at)
        at += 4 * children_count
        self.file_records = [FILE.unpack_from(self.data, at + FILE.size * i)[:2]
                             for i in range(file_count)]
        self.supervisors = []
        for name, parent, strategy, max_restarts, on_exhausted, window, first, count in \
                supervisor_records:
            kids = [(bool(c & CHILD_SUPERVISOR), c & ~CHILD_SUPERVISOR)
                    for c in children[first:first + count]]
            self.supervisors.append(ImageSupervisor(
                name.rstrip(b"\0").decode(errors="replace"), parent,
                STRATEGIES[strategy] if strategy < 3 else str(strategy), max_restarts, window,
                ON_EXHAUSTED[on_exhausted] if on_exhausted < 2 else str(on_exhausted), kids))

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

    @property
    def files(self):
        """ImageFile for each file record, in order."""
        out = []
        for path_offset, blob in self.file_records:
            (path,) = self.strings(path_offset, 1)
            b = self.blobs[blob]
            out.append(ImageFile(path, self.data[b.offset:b.offset + b.size]))
        return out

    def check_blobs(self):
        """Hashes and tiling, as the kernel checks them. Returns a list of problems."""
        problems = []
        position = self.payload_offset
        if self.size != len(self.data):
            problems.append(f"image size {self.size} in the header, {len(self.data)} in the file")
        for index, blob in enumerate(self.blobs):
            label = f"file contents (blob {index})" if blob.module == NO_MODULE else \
                f"module {self.module_name(blob.module)}, blob {blob_name(blob.kind)}"
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

    def resources_of(self, module):
        rec = self.modules[module]
        first, count = rec[16], rec[17]
        return self.resources[first:first + count]

    def object_of(self, index):
        rec = self.modules[index]
        offset, size = rec[7], rec[8]
        return ObjectFile(self.data[offset:offset + size], f"{self.origin}:{self.module_name(index)}")


def blob_name(kind):
    from .alko import SECTION_NAMES
    if kind == BLOB_FILE:
        return "file"
    return "object-header" if kind == 0 else SECTION_NAMES.get(kind, f"kind-{kind}")
