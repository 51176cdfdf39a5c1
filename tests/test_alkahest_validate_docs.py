"""The front end's tables against their documents and the specification:

  - docs/diagnostics.md lists every code of alkahest_diagnostics.def (that it is what
    formats/generate.py makes of it: tests/test_generated.py);
  - alkahest/src/opcodes.def holds exactly the opcodes of the spec's binary/instructions.rst
    (one-byte, 0xFC- and 0xFD-prefixed), each once, with the spec's text name.

    /usr/bin/python3 -m pytest tests/test_alkahest_validate_docs.py
"""
import re
import subprocess
import sys

from spec_validate import ROOT

DEF = ROOT / "alkahest" / "include" / "alkahest_diagnostics.def"
DOC = ROOT / "docs" / "diagnostics.md"
OPCODES = ROOT / "alkahest" / "src" / "opcodes.def"


def test_diagnostics_doc_lists_every_code():
    codes = re.findall(r"^ALK_DIAG\((ALK_E_\w+),\s*(\d+),", DEF.read_text(), re.M)
    assert len(codes) >= 50
    numbers = [int(n) for _, n in codes]
    assert len(set(numbers)) == len(numbers), "a code number is used twice"
    assert len({name for name, _ in codes}) == len(codes), "a name is used twice"
    assert 90 in numbers, "90 is out of memory"
    doc = DOC.read_text()
    missing = [n for n in numbers if f"| ALK-E{n:03} |" not in doc]
    assert not missing, f"docs/diagnostics.md lacks {missing}"


def spec_opcodes(spec_text):
    """{(prefix, code)} of every instruction encoding in binary/instructions.rst: the opcodes
    that begin a line of a production (the else of if's among them), and end (0x0B), which
    only ever closes one."""
    found = {(0, 0x0B)}
    for line in (spec_text / "binary" / "instructions.rst").read_text().splitlines():
        match = re.match(r"\s*\\hex\{([0-9A-F]{2})\}(?:~~(\d+)\{:\}\\Bu32)?", line)
        if match:
            byte, sub = int(match.group(1), 16), match.group(2)
            found.add((byte, int(sub)) if sub is not None else (0, byte))
    return found


def def_opcodes():
    rows = re.findall(r'^ALK_OP\((\w+),\s*(0x[0-9a-f]+|\d+),\s*(0x[0-9a-f]+|\d+),\s*"([^"]+)"',
                      OPCODES.read_text(), re.M)
    return [(name, int(prefix, 0), int(code, 0), text) for name, prefix, code, text in rows]


def test_opcode_table_matches_the_spec(spec_text):
    rows = def_opcodes()
    ours = [(prefix, code) for _, prefix, code, _ in rows]
    assert len(ours) == len(set(ours)), "an opcode is listed twice"
    spec = spec_opcodes(spec_text)
    assert len(spec) == 437  # 183 one-byte, 18 after 0xFC, 236 after 0xFD
    assert set(ours) == spec, (f"missing: {sorted(spec - set(ours))}, "
                               f"extra: {sorted(set(ours) - spec)}")


def test_opcode_names_follow_their_text():
    for name, _, _, text in def_opcodes():
        expected = text.upper().replace(".", "_").replace("/", "_")
        assert name == expected or (name == "SELECT_T" and text == "select"), (name, text)
