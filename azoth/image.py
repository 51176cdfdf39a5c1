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
from . import formats
from .errors import AzothError

IMAGE = formats.IMAGE            # the layout: formats/image.toml
MAGIC = IMAGE.constant("magic").encode()
VERSION = IMAGE.constant("version")
PAGE = IMAGE.constant("page")
SIGNED_HEADER = IMAGE.constant("signed_header")
SIGNATURE_SIZE = IMAGE.constant("signature_size")
TABLE_ALIGN = IMAGE.constant("table_align")
FILE_ALIGN = IMAGE.constant("file_align")
NO_PARENT = IMAGE.constant("no_parent")
CHILD_SUPERVISOR = IMAGE.constant("child_supervisor")     # a children entry naming a supervisor
NO_MODULE = IMAGE.constant("no_module")                   # a blob of no module: a file's contents
BLOB_FILE = IMAGE.constant("blob_file")                   # the kind of a file's blob
FLAG_BOUNDS_GUARD = IMAGE.constant("flag_bounds_guard")
RESOURCE_SEND = IMAGE.constant("channel_send")            # channel resource flags
RESOURCE_RECEIVE = IMAGE.constant("channel_receive")
# The machines an image may be for, as objects name them (formats/object.toml's target).
ARCH_NUMBERS = formats.OBJECT.enum("target")          # "x86_64": 62
ARCH_NAMES = {number: name for name, number in ARCH_NUMBERS.items()}
HEADER = IMAGE.record("header")
MODULE = IMAGE.record("module")
BLOB = IMAGE.record("blob")
IMPORT = IMAGE.record("import")
RESOURCE = IMAGE.record("resource")
CHANNEL = IMAGE.record("channel")
SUPERVISOR = IMAGE.record("supervisor")
CHILD = IMAGE.record("child")
FILE = IMAGE.record("file")
HEADER_SIZE = HEADER.size
MODULE_KINDS = IMAGE.enum("module_kind")               # "driver" -> 0, ...
RESTART_POLICIES = IMAGE.enum("restart")
STRATEGIES = IMAGE.enum("strategy")
ON_EXHAUSTED = IMAGE.enum("on_exhausted")


def name_of(value, enum):
    """The name of an enum's value, or the number as text."""
    return next((n for n, v in enum.items() if v == value), str(value))


def text(field):
    """A NUL-padded name field as text."""
    return field.rstrip(b"\0").decode(errors="replace")


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
          files=(), arch=None):
    """Lays out and signs an image. sign(message: bytes) -> 64-byte signature. arch: the
    machine the modules' objects are for (by default the first's; they must all agree)."""
    targets = {m.object.target for m in modules}
    arch = arch or (modules[0].object.target if modules else next(iter(ARCH_NUMBERS)))
    if arch not in ARCH_NUMBERS or targets - {arch}:
        raise AzothError("AZ-C011", f"an image for {arch} with objects for "
                         f"{', '.join(sorted(targets))}")
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
    tables_size = (len(modules) * MODULE.size + blob_count * BLOB.size + IMPORT.size * len(import_map))
    tables_size = align(tables_size, TABLE_ALIGN) + len(resources) * RESOURCE.size + \
        len(channels) * CHANNEL.size + len(supervisors) * SUPERVISOR.size + \
        CHILD.size * len(children) + len(files) * FILE.size
    tables_size = align(tables_size, TABLE_ALIGN) + len(strings.data)
    tables_size_estimate = align(tables_size, TABLE_ALIGN)
    payload_offset = align(HEADER_SIZE + tables_size_estimate, PAGE)

    position = payload_offset
    for index, m in enumerate(modules):
        object_offset = align(position, PAGE)
        first_blob = len(blob_records)
        for kind, _name, off, size in m.object.blobs():
            data = m.object.data[off:off + size]
            blob_records.append(BLOB.pack(module=index, kind=kind, offset=object_offset + off,
                                          size=size, sha256=hashlib.sha256(data).digest()))
        payload.append((object_offset, m.object.data))
        position = object_offset + len(m.object.data)
        module_records.append(MODULE.pack(
            name=m.name.encode(), kind=MODULE_KINDS[m.kind], restart=RESTART_POLICIES[m.restart],
            grants=m.grants_bitmap, max_memory=m.max_memory, first_blob=first_blob,
            blob_count=len(blob_records) - first_blob, object_offset=object_offset,
            object_size=len(m.object.data), import_first=import_slots[index][0],
            import_count=import_slots[index][1], args_offset=arg_slots[index][0],
            args_count=arg_slots[index][1], env_offset=env_slots[index][0],
            env_count=env_slots[index][1], supervisor=m.supervisor,
            resource_first=resource_slots[index][0], resource_count=resource_slots[index][1],
            stack_size=m.stack))
    file_records = []
    for f, path_offset in zip(files, file_paths):
        offset = align(position, FILE_ALIGN)
        file_records.append(FILE.pack(path=path_offset, blob=len(blob_records)))
        blob_records.append(BLOB.pack(module=NO_MODULE, kind=BLOB_FILE, offset=offset,
                                      size=len(f.data), sha256=hashlib.sha256(f.data).digest()))
        payload.append((offset, f.data))
        position = offset + len(f.data)
    image_size = align(position, PAGE)

    tables = bytearray()
    tables += b"".join(module_records)
    tables += b"".join(blob_records)
    tables += b"".join(IMPORT.pack(id=i) for i in import_map)
    tables += b"\0" * (align(len(tables), TABLE_ALIGN) - len(tables))
    for r in resources:
        tables += RESOURCE.pack(kind=r.kind, flags=r.flags, first=r.first, last=r.last)
    for c in channels:
        tables += CHANNEL.pack(name=c.name.encode(), sender=c.sender, receiver=c.receiver,
                               depth=c.depth, message_size=c.message_size)
    for sup, (first, count) in zip(supervisors, child_slots):
        tables += SUPERVISOR.pack(name=sup.name.encode(), parent=sup.parent,
                                  strategy=STRATEGIES[sup.strategy],
                                  max_restarts=sup.max_restarts,
                                  on_exhausted=ON_EXHAUSTED[sup.on_exhausted],
                                  window_ns=sup.window_ns, first_child=first, child_count=count)
    tables += b"".join(CHILD.pack(child=c) for c in children)
    tables += b"".join(file_records)
    tables += b"\0" * (align(len(tables), TABLE_ALIGN) - len(tables))
    strings_offset = len(tables)
    tables += strings.data
    tables += b"\0" * (align(len(tables), TABLE_ALIGN) - len(tables))
    assert len(tables) == tables_size_estimate

    flags = FLAG_BOUNDS_GUARD if bounds == "guard" else 0
    header = bytearray(HEADER.pack(
        magic=MAGIC, version=VERSION, header_size=HEADER_SIZE, image_size=image_size, flags=flags,
        module_count=len(modules), blob_count=len(blob_records), tables_offset=HEADER_SIZE,
        tables_size=len(tables), payload_offset=payload_offset, memory_mib=memory_bytes >> 20,
        name=name.encode(), version_string=version.encode(), strings_offset=strings_offset,
        import_count=len(import_map), resource_count=len(resources),
        channel_count=len(channels), supervisor_count=len(supervisors),
        children_count=len(children), file_count=len(files), arch=ARCH_NUMBERS[arch]))
    signature = sign(bytes(header[:SIGNED_HEADER]) + bytes(tables))
    if len(signature) != SIGNATURE_SIZE:
        raise AzothError("AZ-I003", f"signer returned {len(signature)} bytes, expected 64")
    header[HEADER.offsets["signature"]:] = signature

    image = bytearray(image_size)
    image[0:HEADER_SIZE] = header
    image[HEADER_SIZE:HEADER_SIZE + len(tables)] = tables
    for offset, data in payload:
        image[offset:offset + len(data)] = data
    return bytes(image)


# ---- Reading ---------------------------------------------------------------------------------
class Image:
    """A parsed image. verify() says, as a list of problems, what the kernel would refuse."""

    def __init__(self, data, origin="image"):
        self.data = bytes(data)
        self.origin = origin
        if len(self.data) < HEADER_SIZE:
            self._bad("shorter than the image header")
        h = self.header = HEADER.unpack(self.data)
        if h.magic != MAGIC:
            self._bad("not an Azoth image (bad magic)")
        if h.version != VERSION or h.header_size != HEADER_SIZE:
            self._bad(f"image format version {h.version}, this tool reads {VERSION}")
        self.size, self.flags, self.memory_mib = h.image_size, h.flags, h.memory_mib
        self.arch = ARCH_NAMES.get(h.arch, f"unknown machine {h.arch}")
        self.tables_offset, self.tables_size = h.tables_offset, h.tables_size
        self.payload_offset, self.strings_offset = h.payload_offset, h.strings_offset
        self.name, self.version = text(h.name), text(h.version_string)
        self.signature = h.signature
        fixed = h.module_count * MODULE.size + h.blob_count * BLOB.size + \
            IMPORT.size * h.import_count
        fixed = align(fixed, TABLE_ALIGN) + h.resource_count * RESOURCE.size + \
            h.channel_count * CHANNEL.size + h.supervisor_count * SUPERVISOR.size + \
            CHILD.size * h.children_count + h.file_count * FILE.size
        if self.tables_offset != HEADER_SIZE or \
                self.tables_offset + self.tables_size > len(self.data) or \
                fixed > self.strings_offset or self.strings_offset > self.tables_size:
            self._bad("tables out of bounds")
        at = self.tables_offset

        def records(layout, count):
            nonlocal at
            out = [layout.unpack(self.data, at + layout.size * i) for i in range(count)]
            at += layout.size * count
            return out

        self.modules = records(MODULE, h.module_count)
        self.blobs = records(BLOB, h.blob_count)
        self.import_map_offset = at
        self.import_map = [r.id for r in records(IMPORT, h.import_count)]
        at = self.tables_offset + align(at - self.tables_offset, TABLE_ALIGN)
        self.resources = [ImageResource(r.kind, r.first, r.last, r.flags)
                          for r in records(RESOURCE, h.resource_count)]
        self.channels = [ImageChannel(text(c.name), c.sender, c.receiver, c.depth,
                                      c.message_size) for c in records(CHANNEL, h.channel_count)]
        supervisor_records = records(SUPERVISOR, h.supervisor_count)
        children = [c.child for c in records(CHILD, h.children_count)]
        self.file_records = records(FILE, h.file_count)
        self.supervisors = []
        for s in supervisor_records:
            kids = [(bool(c & CHILD_SUPERVISOR), c & ~CHILD_SUPERVISOR)
                    for c in children[s.first_child:s.first_child + s.child_count]]
            self.supervisors.append(ImageSupervisor(
                text(s.name), s.parent, name_of(s.strategy, STRATEGIES), s.max_restarts,
                s.window_ns, name_of(s.on_exhausted, ON_EXHAUSTED), kids))

    def _bad(self, message):
        raise AzothError("AZ-I001", message, file=self.origin)

    @property
    def bounds(self):
        return "guard" if self.flags & FLAG_BOUNDS_GUARD else "checked"

    def signed_message(self):
        return self.data[:SIGNED_HEADER] + \
            self.data[self.tables_offset:self.tables_offset + self.tables_size]

    def module_name(self, index):
        if index < len(self.modules):
            return text(self.modules[index].name)
        return f"#{index}"

    @property
    def files(self):
        """ImageFile for each file record, in order."""
        out = []
        for record in self.file_records:
            (path,) = self.strings(record.path, 1)
            b = self.blobs[record.blob]
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
        return self.import_map[rec.import_first:rec.import_first + rec.import_count]

    def resources_of(self, module):
        rec = self.modules[module]
        return self.resources[rec.resource_first:rec.resource_first + rec.resource_count]

    def object_of(self, index):
        rec = self.modules[index]
        return ObjectFile(self.data[rec.object_offset:rec.object_offset + rec.object_size],
                          f"{self.origin}:{self.module_name(index)}")


def blob_name(kind):
    from .alko import SECTION_NAMES
    if kind == BLOB_FILE:
        return "file"
    return "object-header" if kind == 0 else SECTION_NAMES.get(kind, f"kind-{kind}")
