"""Diagnostics of the Alkahest front end on hand-built modules: the code and the byte offset of
each kind of error, the function it is in, and modules that must stay valid.

Covers the LEB128 edge cases (over-long encodings, unused bits, the largest encodings that are
fine), truncated and mis-sized sections, section order, counts that would allocate gigabytes if
trusted (run under a 256 MiB address-space limit), locals, UTF-8, the name section, and one or
more cases of every validation rule. All run through `alkahest validate` (-O2 build); the
hostile-size cases also through the ASan build.

    /usr/bin/python3 -m pytest tests/test_alkahest_validate_diagnostics.py
"""
import re
import resource
import subprocess

import pytest

from spec_validate import built

HEADER = b"\0asm\1\0\0\0"
I32, I64, F32, F64, V128, FUNCREF, EXTERNREF = 0x7F, 0x7E, 0x7D, 0x7C, 0x7B, 0x70, 0x6F
DIAG = re.compile(r"^ALK-E(\d{3}) at 0x([0-9a-f]+)(?: in function (\d+)(?: \((.*)\))?)?: (.*)$")


# ---- Building modules ---------------------------------------------------------------------

def uleb(n):
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def sleb(n):
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        done = (n == 0 and not byte & 0x40) or (n == -1 and byte & 0x40)
        out.append(byte | (0 if done else 0x80))
        if done:
            return bytes(out)


def vec(items):
    return uleb(len(items)) + b"".join(items)


def name(text):
    data = text.encode() if isinstance(text, str) else text
    return uleb(len(data)) + data


def section(section_id, payload):
    return bytes([section_id]) + uleb(len(payload)) + payload


def functype(params=b"", results=b""):
    return b"\x60" + vec([bytes([t]) for t in params]) + vec([bytes([t]) for t in results])


def locals_vec(local_groups):
    return vec([uleb(n) + bytes([t]) for n, t in local_groups])


def body(code, local_groups=()):
    """A code entry: local declarations (count, type) and instruction bytes (final end added)."""
    entry = locals_vec(local_groups) + code + b"\x0b"
    return uleb(len(entry)) + entry


SECTION_IDS = {"types": 1, "imports": 2, "functions": 3, "tables": 4, "memories": 5,
               "globals": 6, "exports": 7, "start": 8, "elements": 9, "datacount": 12,
               "code": 10, "data": 11, "custom": 0}
SECTION_ORDER = [1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 10, 11]


class Module:
    """One function of type `params -> results` with `code`; other sections by keyword."""

    def __init__(self, code=b"", params=b"", results=b"", local_groups=(), **extra):
        self.code = code
        self.local_groups = local_groups
        self.sections = {
            1: section(1, vec([functype(params, results)])),
            3: section(3, vec([b"\x00"])),
            10: section(10, vec([body(code, local_groups)])),
        }
        for key, payload in extra.items():
            self.sections[SECTION_IDS[key]] = section(SECTION_IDS[key], payload)

    def bytes(self):
        return HEADER + b"".join(self.sections[i] for i in SECTION_ORDER if i in self.sections)

    def code_offset(self):
        """Offset of the function's first instruction."""
        before = HEADER + b"".join(self.sections[i] for i in SECTION_ORDER[:10]
                                   if i in self.sections)
        entry = body(self.code, self.local_groups)  # size, locals, code, end
        # section id, section size, function count, then the entry up to its code
        return (len(before) + 1 + len(uleb(1 + len(entry))) + 1
                + len(entry) - len(self.code) - 1)


# ---- Running ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def alkahest():
    return built()


@pytest.fixture(scope="module")
def alkahest_asan():
    return built(asan=True)


def limit_address_space():
    resource.setrlimit(resource.RLIMIT_AS, (256 << 20, 256 << 20))


def validate(alkahest, data, tmp_path, limited=False):
    """Runs `alkahest validate`; returns None when valid, else (code, offset, function, name,
    message) parsed from its one line of diagnostic."""
    path = tmp_path / "module.wasm"
    path.write_bytes(data if isinstance(data, bytes) else data.bytes())
    result = subprocess.run([alkahest, "validate", path], capture_output=True, text=True,
                            preexec_fn=limit_address_space if limited else None, timeout=60)
    if result.returncode == 0:
        assert result.stderr == ""
        return None
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    match = DIAG.match(lines[0])
    assert match, lines[0]
    code, offset, function, function_name, message = match.groups()
    return (int(code), int(offset, 16), None if function is None else int(function),
            function_name, message)


def expect(alkahest, tmp_path, data, code, offset=None, function=None, message=None, **kw):
    verdict = validate(alkahest, data, tmp_path, **kw)
    assert verdict is not None, f"expected ALK-E{code:03}, the module was accepted"
    got_code, got_offset, got_function, _, got_message = verdict
    assert got_code == code, verdict
    if offset is not None:
        assert got_offset == offset, f"offset 0x{got_offset:x}, expected 0x{offset:x}: {verdict}"
    if function is not None:
        assert got_function == function, verdict
    if message is not None:
        assert got_message.startswith(message), verdict
    return verdict


def accept(alkahest, tmp_path, data, **kw):
    verdict = validate(alkahest, data, tmp_path, **kw)
    assert verdict is None, verdict


# ---- Preamble and sections ----------------------------------------------------------------

def test_preamble(alkahest, tmp_path):
    expect(alkahest, tmp_path, b"", 3, 0, message="unexpected end")
    expect(alkahest, tmp_path, b"\0as", 3, 0)
    expect(alkahest, tmp_path, b"\0asn\1\0\0\0", 1, 0, message="magic header not detected")
    expect(alkahest, tmp_path, b"\0asm\1\0\0", 3, 4)
    expect(alkahest, tmp_path, b"\0asm\2\0\0\0", 2, 4, message="unknown binary version")
    accept(alkahest, tmp_path, HEADER)


def test_section_framing(alkahest, tmp_path):
    expect(alkahest, tmp_path, HEADER + b"\x0d\x00", 6, 8, message="malformed section id")
    expect(alkahest, tmp_path, HEADER + b"\x01", 3, 9)  # no size
    # size past the end of the module: reported at the size
    expect(alkahest, tmp_path, HEADER + b"\x01\x05\x01\x60\x00\x00", 5, 9,
           message="length out of bounds")
    # one type, but the section claims a byte more than it holds
    expect(alkahest, tmp_path, HEADER + b"\x01\x05\x01\x60\x00\x00\x00", 7, 14,
           message="section size mismatch")
    # the type runs past its section: the section's end, not the module's
    expect(alkahest, tmp_path, HEADER + b"\x01\x03\x01\x60\x00" + b"\x03\x01\x00", 4, 13)


def test_section_order(alkahest, tmp_path):
    types = section(1, vec([functype()]))
    expect(alkahest, tmp_path, HEADER + types + types, 8, 8 + len(types),
           message="unexpected content after last section")
    functions = section(3, vec([b"\x00"]))
    expect(alkahest, tmp_path, HEADER + functions + types, 8, 8 + len(functions))
    # the data count section comes between the element and code sections
    datacount = section(12, b"\x00")
    code = section(10, vec([body(b"")]))
    accept(alkahest, tmp_path, HEADER + types + functions + datacount + code)
    expect(alkahest, tmp_path, HEADER + types + functions + code + datacount, 8)
    # custom sections go anywhere, any number of times
    custom = section(0, name("x") + b"payload")
    accept(alkahest, tmp_path, HEADER + custom + types + custom + functions + custom + code
           + custom)


def test_function_and_code_counts(alkahest, tmp_path):
    types = section(1, vec([functype()]))
    two_functions = section(3, vec([b"\x00", b"\x00"]))
    one_body = section(10, vec([body(b"")]))
    data = HEADER + types + two_functions + one_body
    expect(alkahest, tmp_path, data, 21, len(HEADER + types + two_functions) + 2,
           message="function and code section have inconsistent lengths")
    expect(alkahest, tmp_path, HEADER + types + two_functions, 21)
    expect(alkahest, tmp_path, HEADER + types + one_body, 21)


# ---- LEB128 -------------------------------------------------------------------------------

def memory_module(limits):
    return HEADER + section(5, b"\x01" + limits)


def test_unsigned_leb128(alkahest, tmp_path):
    at = len(HEADER) + 4  # the minimum, after id, size, count and flags
    accept(alkahest, tmp_path, memory_module(b"\x00\x82\x80\x80\x80\x00"))  # 5 bytes: fine
    expect(alkahest, tmp_path, memory_module(b"\x00\x82\x80\x80\x80\x80\x00"), 9, at,
           message="integer representation too long")
    expect(alkahest, tmp_path, memory_module(b"\x00\x82\x80\x80\x80\x10"), 10, at,
           message="integer too large")
    expect(alkahest, tmp_path, memory_module(b"\x00\x82\x80\x80\x80\x40"), 10, at)
    # the largest u32, 0xffffffff, as the table maximum
    accept(alkahest, tmp_path, HEADER + section(4, b"\x01\x70\x01\x00\xff\xff\xff\xff\x0f"))
    # limits flags: one LEB128 byte holding 0 or 1
    expect(alkahest, tmp_path, memory_module(b"\x02\x00"), 10, at - 1)
    expect(alkahest, tmp_path, memory_module(b"\x81\x00\x00"), 9, at - 1)


def global_module(valtype, init):
    return HEADER + section(6, b"\x01" + bytes([valtype, 0]) + init + b"\x0b")


def test_signed_leb128(alkahest, tmp_path):
    at = len(HEADER) + 2 + 1 + 2 + 1  # the immediate, after the const opcode
    accept(alkahest, tmp_path, global_module(I32, b"\x41\xff\xff\xff\xff\x07"))  # INT32_MAX
    accept(alkahest, tmp_path, global_module(I32, b"\x41\x80\x80\x80\x80\x78"))  # INT32_MIN
    accept(alkahest, tmp_path, global_module(I32, b"\x41\x7f"))                  # -1
    expect(alkahest, tmp_path, global_module(I32, b"\x41\x80\x80\x80\x80\x80\x00"), 9, at)
    expect(alkahest, tmp_path, global_module(I32, b"\x41\x80\x80\x80\x80\x70"), 10, at)
    expect(alkahest, tmp_path, global_module(I32, b"\x41\xff\xff\xff\xff\x0f"), 10, at)
    accept(alkahest, tmp_path, global_module(I64, b"\x42" + b"\xff" * 9 + b"\x7f"))
    accept(alkahest, tmp_path, global_module(I64, b"\x42" + b"\x80" * 9 + b"\x00"))
    expect(alkahest, tmp_path, global_module(I64, b"\x42" + b"\x80" * 9 + b"\x02"), 10, at)
    expect(alkahest, tmp_path, global_module(I64, b"\x42" + b"\x80" * 10 + b"\x00"), 9, at)
    # a LEB128 cut by its section's end
    expect(alkahest, tmp_path, HEADER + section(6, b"\x01\x7f\x00\x41\x80"), 4)


def test_block_type_is_a_positive_s33(alkahest, tmp_path):
    m = Module(b"\x02\x40\x0b")
    accept(alkahest, tmp_path, m)
    # type index 0 encoded on 5 bytes (s33): fine
    accept(alkahest, tmp_path, Module(b"\x02\x80\x80\x80\x80\x00\x0b"))
    # a negative s33 that is no value type
    bad = Module(b"\x02\x7a\x0b")
    expect(alkahest, tmp_path, bad, 12, bad.code_offset() + 1, function=0)
    # type index 1: no such type
    unknown = Module(b"\x02\x01\x0b")
    expect(alkahest, tmp_path, unknown, 41, unknown.code_offset(), message="unknown type 1")


# ---- Sizes a hostile module can claim -----------------------------------------------------

@pytest.mark.parametrize("sanitized", [False, True])
def test_huge_counts_allocate_nothing(alkahest, alkahest_asan, tmp_path, sanitized):
    exe = alkahest_asan if sanitized else alkahest
    limited = not sanitized  # ASan reserves terabytes of address space: no RLIMIT_AS there
    # past the implementation limits
    for section_id in (1, 2, 3, 4, 6, 7, 9, 11):
        expect(exe, tmp_path, HEADER + section(section_id, b"\xff\xff\xff\xff\x0f"), 28,
               len(HEADER) + 2, message="implementation limit exceeded", limited=limited)
    # within the limits, but more entries than bytes
    expect(exe, tmp_path, HEADER + section(3, uleb(999_999) + b"\x00"), 4, len(HEADER) + 2,
           limited=limited)
    expect(exe, tmp_path, HEADER + section(10, uleb(900_000) + b"\x00"), 4, limited=limited)
    # element segment items, data bytes, a name, locals, br_table targets, select types
    tables = section(4, b"\x01\x70\x00\x00")
    expect(exe, tmp_path, HEADER + tables + section(9, b"\x01\x00\x41\x00\x0b" + uleb(9_999_999)),
           4, limited=limited)
    expect(exe, tmp_path, HEADER + section(5, b"\x01\x00\x00")
           + section(11, b"\x01\x01\xff\xff\xff\xff\x0f"), 5, limited=limited)
    expect(exe, tmp_path, HEADER + section(0, b"\xff\xff\xff\xff\x0f"), 5, limited=limited)
    expect(exe, tmp_path, Module(local_groups=[(0xFFFFFFFF, I32)]), 24, limited=limited)
    expect(exe, tmp_path, Module(b"\x41\x00\x0e\xff\xff\xff\xff\x0f"), 4, limited=limited)
    expect(exe, tmp_path, Module(b"\x1c\xff\xff\xff\xff\x0f"), 12, limited=limited)  # at end
    # a body that pushes a million and one values
    expect(exe, tmp_path, Module(b"\x41\x00" * 1_000_001), 28,
           message="implementation limit exceeded", limited=limited)


def test_deep_nesting_uses_no_c_stack(alkahest, alkahest_asan, tmp_path):
    depth = 200_000
    nested = Module(b"\x02\x40" * depth + b"\x0b" * depth)
    accept(alkahest, tmp_path, nested)
    accept(alkahest_asan, tmp_path, nested)
    unbalanced = Module(b"\x02\x40" * depth + b"\x0b" * (depth - 1))
    expect(alkahest, tmp_path, unbalanced, 4)


# ---- Locals, names, UTF-8 -----------------------------------------------------------------

def test_locals(alkahest, tmp_path):
    accept(alkahest, tmp_path, Module(b"\x20\x02\x1a", params=[I32], local_groups=[(2, I64)]))
    m = Module(b"\x20\x03\x1a", params=[I32], local_groups=[(2, I64)])
    expect(alkahest, tmp_path, m, 46, m.code_offset(), function=0, message="unknown local 3")
    # local.get of an i64 local into an i32 add
    m = Module(b"\x41\x00\x20\x01\x6a\x1a", params=[I32], local_groups=[(1, I64)])
    expect(alkahest, tmp_path, m, 40, m.code_offset() + 4, function=0,
           message="type mismatch: i32.add expects i32, found i64")
    # the sum of the groups overflows 32 bits
    expect(alkahest, tmp_path, Module(local_groups=[(0xFFFFFFFF, I32), (2, I64)]), 24,
           message="too many locals")
    # over our limit, 50,000
    expect(alkahest, tmp_path, Module(local_groups=[(50_001, I32)]), 24)
    accept(alkahest, tmp_path, Module(local_groups=[(25_000, I32), (25_000, V128)]))
    # many locals in a short body: found by binary search over the groups, not expanded
    groups = [(1, I32), (20_000, I64), (1, F32), (29_990, F64)]
    accept(alkahest, tmp_path, Module(b"\x20" + uleb(20_000) + b"\x50\x1a\x20" + uleb(49_991)
                                      + b"\x9a\x1a", local_groups=groups))  # i64, f64
    m = Module(b"\x20" + uleb(20_001) + b"\x50\x1a", local_groups=groups)  # f32
    expect(alkahest, tmp_path, m, 40, message="type mismatch: i64.eqz expects i64, found f32")
    # a local type that is no value type
    expect(alkahest, tmp_path, Module(local_groups=[(1, 0x40)]), 12)


def import_module(module_name, field_name):
    return HEADER + section(2, b"\x01" + name(module_name) + name(field_name)
                            + b"\x03\x7f\x00")


def test_utf8_names(alkahest, tmp_path):
    accept(alkahest, tmp_path, import_module("env", "caf\u00e9 \u20ac \U0001f600"))
    at = len(HEADER) + 2 + 1  # the name's length
    for bad in (b"\xc0\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82", b"\x80",
                b"\xf8\x88\x80\x80\x80", b"\xe0\x80\xaf"):
        expect(alkahest, tmp_path, import_module(bad, "f"), 11, at,
               message="malformed UTF-8 encoding")
    expect(alkahest, tmp_path, HEADER + section(0, name(b"\xff")), 11)
    expect(alkahest, tmp_path, HEADER + section(2, b"\x01" + name("a") + b"\x05ab"), 5,
           len(HEADER) + 5, message="length out of bounds")  # a name longer than the rest


def name_section(*subsections):
    return section(0, name("name") + b"".join(bytes([i]) + uleb(len(p)) + p
                                              for i, p in subsections))


def test_name_section_names_functions_and_never_invalidates(alkahest, tmp_path):
    good = name_section((0, name("mod")), (1, vec([uleb(0) + name("fac")])))
    m = Module(b"\x42\x00", results=[I32])  # i64 where the result is i32
    data = m.bytes() + good
    verdict = expect(alkahest, tmp_path, data, 40, function=0)
    assert verdict[3] == "fac"
    # malformed name sections: ignored, the module stays valid
    for bad in (name_section((1, b"\x05\x00")),                      # truncated map
                name_section((1, vec([uleb(7) + name("x")]))),       # no function 7
                name_section((1, vec([uleb(0) + name(b"\xff")]))),   # not UTF-8
                name_section((1, b""), (0, name("late"))),           # out of order
                section(0, name("name") + b"\x01\xff\xff\xff\xff\x0f")):
        accept(alkahest, tmp_path, Module().bytes() + bad)
        verdict = expect(alkahest, tmp_path, data.replace(good, bad), 40)
        assert verdict[3] is None  # and gives no names


# ---- Instructions -------------------------------------------------------------------------

def test_opcodes(alkahest, tmp_path):
    for code in (b"\xff", b"\x06", b"\xfc\x12", b"\xfd\x9a\x01", b"\xfd\x80\x02", b"\xfe\x00"):
        m = Module(code)
        expect(alkahest, tmp_path, m, 25, m.code_offset(), function=0, message="illegal opcode")
    # a prefixed opcode's sub-opcode is a u32: a redundant LEB128 byte is fine
    accept(alkahest, tmp_path, Module(b"\x43\x00\x00\x00\x00\xfc\x80\x00\x1a"))
    m = Module(b"\x3f\x01\x1a", memories=b"\x01\x00\x00")
    expect(alkahest, tmp_path, m, 26, m.code_offset() + 1, message="zero byte expected")
    m = Module(b"\x05")
    expect(alkahest, tmp_path, m, 27, m.code_offset(), message="END opcode expected")


def test_body_ends(alkahest, tmp_path):
    types = section(1, vec([functype()]))
    functions = section(3, vec([b"\x00"]))
    # bytes after the function's final end
    entry = b"\x00\x0b\x01"
    data = HEADER + types + functions + section(10, vec([uleb(len(entry)) + entry]))
    expect(alkahest, tmp_path, data, 7, len(data) - 1, function=0,
           message="section size mismatch")
    # no final end
    entry = b"\x00\x01"
    data = HEADER + types + functions + section(10, vec([uleb(len(entry)) + entry]))
    expect(alkahest, tmp_path, data, 4, len(data), function=0)


def test_operand_typing(alkahest, tmp_path):
    accept(alkahest, tmp_path, Module(b"\x41\x01\x41\x02\x6a", results=[I32]))
    m = Module(b"\x41\x01\x6a", results=[I32])
    expect(alkahest, tmp_path, m, 40, m.code_offset() + 2,
           message="type mismatch: i32.add expects i32, found nothing")
    # the polymorphic stack after unreachable: operands of any type, but still checked
    accept(alkahest, tmp_path, Module(b"\x00\x6a\x1a"))
    accept(alkahest, tmp_path, Module(b"\x00\x1b", results=[I32]))
    m = Module(b"\x00\x42\x00\x6a\x1a")
    expect(alkahest, tmp_path, m, 40, m.code_offset() + 3)
    # block results, if without else must not change the operands
    accept(alkahest, tmp_path, Module(b"\x02\x7f\x41\x00\x0b", results=[I32]))
    expect(alkahest, tmp_path, Module(b"\x41\x01\x04\x7f\x41\x00\x0b", results=[I32]), 40)
    # br_table targets must agree on their arity
    expect(alkahest, tmp_path,
           Module(b"\x02\x7f\x02\x40\x41\x00\x0e\x01\x00\x01\x0b\x41\x00\x0b\x1a"), 40)
    m = Module(b"\x0c\x01")
    expect(alkahest, tmp_path, m, 47, m.code_offset(), message="unknown label 1")


def test_select(alkahest, tmp_path):
    accept(alkahest, tmp_path, Module(b"\x41\x01\x41\x02\x41\x00\x1b", results=[I32]))
    # untyped select refuses references; the typed one takes exactly one type
    expect(alkahest, tmp_path, Module(b"\xd0\x70\xd0\x70\x41\x00\x1b\x1a"), 40)
    accept(alkahest, tmp_path, Module(b"\xd0\x70\xd0\x70\x41\x00\x1c\x01\x70\x1a"))
    expect(alkahest, tmp_path, Module(b"\x41\x01\x41\x02\x41\x00\x1c\x02\x7f\x7f\x1a"), 50,
           message="invalid result arity")


def test_memory_rules(alkahest, tmp_path):
    memory = b"\x01\x00\x01"
    accept(alkahest, tmp_path, Module(b"\x41\x00\x28\x02\x00\x1a", memories=memory))
    m = Module(b"\x41\x00\x28\x03\x00\x1a", memories=memory)
    expect(alkahest, tmp_path, m, 51, m.code_offset() + 2,
           message="alignment must not be larger than natural")
    m = Module(b"\x41\x00\x28\x02\x00\x1a")
    expect(alkahest, tmp_path, m, 44, m.code_offset() + 2, message="unknown memory 0")
    expect(alkahest, tmp_path, HEADER + section(5, b"\x02\x00\x00\x00\x00"), 57,
           message="multiple memories")
    expect(alkahest, tmp_path, memory_module(b"\x00" + uleb(65537)), 58)
    expect(alkahest, tmp_path, memory_module(b"\x01\x02\x01"), 59)
    accept(alkahest, tmp_path, memory_module(b"\x01\x00" + uleb(65536)))


def test_data_count_rules(alkahest, tmp_path):
    memory = b"\x01\x00\x01"
    passive = b"\x01\x01\x01\x61"
    m = Module(b"\xfc\x09\x00", memories=memory, data=passive)
    expect(alkahest, tmp_path, m, 23, m.code_offset(), function=0,
           message="data count section required")
    accept(alkahest, tmp_path, Module(b"\xfc\x09\x00", memories=memory, data=passive,
                                      datacount=b"\x01"))
    expect(alkahest, tmp_path, Module(b"\xfc\x09\x01", memories=memory, data=passive,
                                      datacount=b"\x01"), 49, message="unknown data segment 1")
    expect(alkahest, tmp_path, Module(memories=memory, data=passive, datacount=b"\x02"), 22)
    expect(alkahest, tmp_path, Module(memories=memory, datacount=b"\x01"), 22)
    accept(alkahest, tmp_path, Module(memories=memory, datacount=b"\x00"))


def test_segments(alkahest, tmp_path):
    tables = b"\x01\x70\x00\x01"
    expect(alkahest, tmp_path, Module(tables=tables, elements=b"\x01\x08"), 18)
    expect(alkahest, tmp_path, Module(tables=tables, elements=b"\x01\x01\x01\x00"), 19)
    expect(alkahest, tmp_path, Module(memories=b"\x01\x00\x01", data=b"\x01\x03"), 20)
    # function indices in elements must exist; active segments need their table
    expect(alkahest, tmp_path, Module(tables=tables, elements=b"\x01\x00\x41\x00\x0b\x01\x05"),
           42, message="unknown function 5")
    expect(alkahest, tmp_path, Module(elements=b"\x01\x00\x41\x00\x0b\x01\x00"), 43,
           message="unknown table 0")
    # an externref segment into a funcref table
    expect(alkahest, tmp_path,
           Module(tables=tables, elements=b"\x01\x06\x00\x41\x00\x0b\x6f\x01\xd0\x6f\x0b"), 40)
    expect(alkahest, tmp_path, Module(data=b"\x01\x00\x41\x00\x0b\x00"), 44,
           message="unknown memory 0")
    # table.init of an unknown segment
    expect(alkahest, tmp_path, Module(b"\x41\x00\x41\x00\x41\x00\xfc\x0c\x00\x00",
                                      tables=tables), 48, message="unknown elem segment 0")


def test_constant_expressions(alkahest, tmp_path):
    expect(alkahest, tmp_path, global_module(I32, b"\x41\x00\x41\x00\x6a"), 54,
           message="constant expression required")
    expect(alkahest, tmp_path, global_module(I32, b""), 40)
    expect(alkahest, tmp_path, global_module(I32, b"\x41\x00\x41\x00"), 40)
    expect(alkahest, tmp_path, global_module(I32, b"\x42\x00"), 40)
    # global.get reaches imported immutable globals only
    imported = section(2, b"\x01" + name("m") + name("g") + b"\x03\x7f\x00")
    imported_mutable = section(2, b"\x01" + name("m") + name("g") + b"\x03\x7f\x01")
    defined = section(6, b"\x01\x7f\x00\x23\x00\x0b")
    accept(alkahest, tmp_path, HEADER + imported + defined)
    expect(alkahest, tmp_path, HEADER + imported_mutable + defined, 54)
    expect(alkahest, tmp_path, HEADER + section(6, b"\x02\x7f\x00\x41\x00\x0b\x7f\x00\x23\x00\x0b"),
           45, message="unknown global 0")


def test_references(alkahest, tmp_path):
    # ref.func needs the function declared outside function bodies (C.refs)
    m = Module(b"\xd2\x00\x1a")
    expect(alkahest, tmp_path, m, 60, m.code_offset(), message="undeclared function reference")
    accept(alkahest, tmp_path, Module(b"\xd2\x00\x1a", exports=b"\x01" + name("f") + b"\x00\x00"))
    accept(alkahest, tmp_path, Module(b"\xd2\x00\x1a", elements=b"\x01\x03\x00\x01\x00"))
    expect(alkahest, tmp_path, Module(b"\xd2\x01\x1a"), 42, message="unknown function 1")
    expect(alkahest, tmp_path, Module(b"\x41\x00\xd1\x1a"), 40)
    # call_indirect needs a funcref table
    m = Module(b"\x41\x00\x11\x00\x00", tables=b"\x01\x6f\x00\x01")
    expect(alkahest, tmp_path, m, 40, m.code_offset() + 2)


def test_globals_start_exports(alkahest, tmp_path):
    immutable = b"\x01\x7f\x00\x41\x00\x0b"
    m = Module(b"\x41\x01\x24\x00", globals=immutable)
    expect(alkahest, tmp_path, m, 53, m.code_offset() + 2, message="global is immutable")
    accept(alkahest, tmp_path, Module(b"\x41\x01\x24\x00", globals=b"\x01\x7f\x01\x41\x00\x0b"))
    accept(alkahest, tmp_path, Module(start=b"\x00"))
    expect(alkahest, tmp_path, Module(params=[I32], start=b"\x00"), 56,
           message="start function")
    expect(alkahest, tmp_path, Module(start=b"\x01"), 42)
    exports = b"\x02" + name("f") + b"\x00\x00" + name("f") + b"\x00\x00"
    expect(alkahest, tmp_path, Module(exports=exports), 55, message='duplicate export name "f"')
    expect(alkahest, tmp_path, Module(exports=b"\x01" + name("g") + b"\x03\x00"), 45)


def test_simd_immediates(alkahest, tmp_path):
    v128 = b"\xfd\x0c" + bytes(16)
    accept(alkahest, tmp_path, Module(v128 + b"\xfd\x15\x0f\x1a"))
    m = Module(v128 + b"\xfd\x15\x10\x1a")
    expect(alkahest, tmp_path, m, 52, m.code_offset() + 18, message="invalid lane index")
    accept(alkahest, tmp_path, Module(v128 + v128 + b"\xfd\x0d" + bytes(range(16, 32)) + b"\x1a"))
    expect(alkahest, tmp_path, Module(v128 + v128 + b"\xfd\x0d" + bytes([32] * 16) + b"\x1a"), 52)
    memory = b"\x01\x00\x01"
    accept(alkahest, tmp_path, Module(b"\x41\x00" + v128 + b"\xfd\x54\x00\x00\x0f\x1a",
                                      memories=memory))
    expect(alkahest, tmp_path, Module(b"\x41\x00" + v128 + b"\xfd\x54\x01\x00\x00\x1a",
                                      memories=memory), 51)
    expect(alkahest, tmp_path, Module(b"\x41\x00" + v128 + b"\xfd\x57\x00\x00\x02\x1a",
                                      memories=memory), 52)


def test_malformed_kinds(alkahest, tmp_path):
    expect(alkahest, tmp_path, HEADER + section(2, b"\x01" + name("m") + name("f") + b"\x04\x00"),
           15, message="malformed import kind")
    expect(alkahest, tmp_path, Module(exports=b"\x01" + name("f") + b"\x04\x00"), 16)
    expect(alkahest, tmp_path, HEADER + section(6, b"\x01\x7f\x02\x41\x00\x0b"), 17)
    expect(alkahest, tmp_path, HEADER + section(4, b"\x01\x7f\x00\x00"), 13)
    expect(alkahest, tmp_path, HEADER + section(1, b"\x01\x60\x01\x40\x00"), 12)
    expect(alkahest, tmp_path, HEADER + section(1, b"\x01\x61\x00\x00"), 14)
