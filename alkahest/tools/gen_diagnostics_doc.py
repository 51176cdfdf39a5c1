#!/usr/bin/env python3
"""Writes docs/diagnostics.md from alkahest/include/alkahest_diagnostics.def, the one table of
Alkahest's diagnostic codes.

    alkahest/tools/gen_diagnostics_doc.py           rewrite the document
    alkahest/tools/gen_diagnostics_doc.py --check   exit 1 if it is out of date
"""
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEF = ROOT / "alkahest" / "include" / "alkahest_diagnostics.def"
DOC = ROOT / "docs" / "diagnostics.md"
ROW = re.compile(r'^ALK_DIAG\((ALK_E(\d+)),\s*(\d+),\s*"((?:[^"\\]|\\.)*)"\)', re.M)

RANGES = [
    (1, 39, "Malformed", "the bytes are not a WebAssembly 2.0 binary (decoding)"),
    (40, 89, "Invalid", "well-formed, but a validation rule does not hold"),
    (90, 99, "Resources", "the allocator ran dry"),
    (100, 199, "Compiler", "compiling a valid module (compile.c, object.c, x86_64/)"),
]

INTRO = """\
# Alkahest diagnostics

Generated from `alkahest/include/alkahest_diagnostics.def` by
`alkahest/tools/gen_diagnostics_doc.py`; do not edit by hand (the tests check that this file is
up to date and lists every code).

Every error the library reports is an `alk_diag`: a stable code (`ALK-Ennn`, never reused for
another meaning), the byte offset in the Wasm binary, the function index and name when the error
is inside a function, and a message. The message is the code's summary, in the words of the
WebAssembly specification and its testsuite, optionally followed by detail. `alkahest validate`
prints it as one line:

    ALK-E040 at 0x1a in function 3 (fac): type mismatch: i32.add expects i32, found i64

Offsets point at the first byte of what is wrong: the instruction for typing errors, the
integer for LEB128 errors, the count or size that does not fit. The library never prints or
exits; implementation limits (ALK-E028) are listed in `alkahest/src/alk_internal.h` and
`docs/alkahest-frontend.md`.
"""


def rows(text):
    found = []
    for name, digits, number, summary in ROW.findall(text):
        if int(digits) != int(number):
            sys.exit(f"{DEF}: {name} carries number {number}")
        found.append((int(number), summary.replace('\\"', '"')))
    return found


def render(entries):
    out = [INTRO]
    for low, high, title, meaning in RANGES:
        inside = [(n, s) for n, s in entries if low <= n <= high]
        out.append(f"\n## {title}: {low}-{high}\n\n{meaning[0].upper() + meaning[1:]}.\n")
        if not inside:
            out.append("\nNone yet.\n")
            continue
        out.append("\n| Code | Summary |\n|------|---------|\n")
        for number, summary in inside:
            out.append(f"| ALK-E{number:03} | {summary} |\n")
    return "".join(out)


def main():
    text = render(rows(DEF.read_text()))
    if "--check" in sys.argv[1:]:
        if not DOC.exists() or DOC.read_text() != text:
            print(f"{DOC} is out of date: run {Path(__file__).relative_to(ROOT)}")
            return 1
        return 0
    DOC.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
