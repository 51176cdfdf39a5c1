"""The architecture boundary (docs/ports.md): the core kernel names no register and no
instruction, and every port implements everything athanor/arch.h lists.

    /usr/bin/python3 -m pytest tests/test_arch_boundary.py
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ATHANOR = ROOT / "athanor"
ARCHES = sorted(p.name for p in (ATHANOR / "arch").iterdir() if p.is_dir())
CORE = sorted([*ATHANOR.glob("*.c"), *ATHANOR.glob("*.h"), *ATHANOR.glob("crypto/*.[ch]")])

# Register names of both ports (AArch64's 64-bit ones: w0.. are common variable names), their
# system registers, the AArch64 trap frame's fields, and inline assembly.
FORBIDDEN = re.compile(
    r"\b(r[abcd]x|r[sd]i|r[sbi]p|r(8|9|1[0-5])|e[abcd]x|[re]flags|cr[0-4]|"
    r"x([12]?[0-9]|30)|sp_el[0-3]|elr_el[0-3]|spsr_el[0-3]|esr_el[0-3]|far_el[0-3]|"
    r"__asm__|asm)\b|->(x\[|pstate\b|esr\b|far\b)")


def code_of(text: str) -> str:
    """The C without its comments and string literals (which may name anything)."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    return re.sub(r'"(\\.|[^"\\])*"', '""', text)


def test_core_names_no_register_or_instruction():
    found = []
    for path in CORE:
        for number, line in enumerate(code_of(path.read_text()).splitlines(), 1):
            m = FORBIDDEN.search(line)
            if m:
                found.append(f"{path.relative_to(ROOT)}:{number}: {m.group(0)}: {line.strip()}")
    assert not found, "core files must reach the machine through arch.h:\n" + "\n".join(found)


def test_the_check_can_fail():
    assert FORBIDDEN.search(code_of("frame->rsp = 0;"))
    assert FORBIDDEN.search(code_of('__asm__ volatile("wfi");'))
    assert FORBIDDEN.search(code_of("uint64_t vmctx = frame->x[28];"))
    assert FORBIDDEN.search(code_of("return x28;"))
    assert FORBIDDEN.search(code_of("uint32_t w2 = 0x28;")) is None
    assert not FORBIDDEN.search(code_of("/* rsp */ int a = 0x10; // r15"))


def arch_functions() -> list[str]:
    text = code_of((ATHANOR / "arch.h").read_text())
    return sorted(set(re.findall(r"\b(ath_(?:arch|pagetable)_\w+)\s*\(", text)))


@pytest.mark.parametrize("arch", ARCHES)
def test_port_implements_arch_h(arch):
    """Every function arch.h declares is defined in arch/ARCH/ (C or assembly), or in what the
    ports share (arch/*.c)."""
    files = [*(ATHANOR / "arch" / arch).iterdir(), *(ATHANOR / "arch").glob("*.c")]
    sources = "\n".join(code_of(p.read_text()) for p in files if p.suffix in (".c", ".S"))
    # A definition starts in column 0 and does not end in ";" (a declaration does); assembly
    # defines labels.
    missing = [name for name in arch_functions()
               if not re.search(rf"^\S[^\n]*\b{name}\s*\([^\n]*[^;\n]$|^{name}:", sources, flags=re.M)]
    assert not missing, f"arch/{arch} lacks: {', '.join(missing)}"
    assert len(arch_functions()) > 30


def test_core_calls_only_what_arch_h_declares():
    declared = set(arch_functions())
    used = set()
    for path in CORE:
        used |= set(re.findall(r"\b(ath_arch_\w+)\s*\(", code_of(path.read_text())))
    assert used <= declared, f"not in arch.h: {sorted(used - declared)}"
