"""Traps people can act on: a backtrace of the Wasm frames, each named (name section, else an
export), with file:line when the module carries DWARF line information (clang -g), the same
under `alkahest run` (on every target: tests/targets.py) and booted, in both bounds modes;
`alkahest inspect --at` maps an offset.

The program divides by zero three calls deep (divide <- middle <- outer <- main)."""
import re
import subprocess

import pytest

from conftest import ROOT, build_py, write_appliance
from spec_validate import built
from targets import TARGETS, require_cli
from azoth import sources

DIVIDE_C = """#include <stdio.h>

__attribute__((noinline)) int divide(int a, int b)
{
    return a / b;
}

__attribute__((noinline)) int middle(int a, int b)
{
    int q = divide(a, b);
    return q + 1;
}

__attribute__((noinline)) int outer(int a, int b)
{
    int r = middle(a * 2, b);
    return r * 3;
}

int main(int argc, char **argv)
{
    (void)argv;
    printf("dividing\\n");
    return outer(10, argc - 1);
}
"""
# (function, line) of frames #0..#3
FRAMES = [("divide", 5), ("middle", 10), ("outer", 16), ("main", 24)]
FRAME = re.compile(r"#(\d+) (.+?)(?:\+0x[0-9a-f]+)?(?: at (\S+):(\d+))?(?: \(wasm 0x[0-9a-f]+\))?"
                   r"(?: \(in what it called\))?$", re.M)


def frames(text):
    """[(depth, name, file, line)] of the backtrace lines in TEXT."""
    out = []
    for match in FRAME.finditer(text):
        depth, name, file, line = match.groups()
        out.append((int(depth), name, file, int(line) if line else None))
    return out


def compile_c(tmp_path, debug):
    """div.c to Wasm the way build.py compiles C (sources.command)."""
    (tmp_path / "div.c").write_text(DIVIDE_C)
    wasm = tmp_path / ("div-g.wasm" if debug else "div.wasm")
    module = type("Module", (), {"sources": [tmp_path / "div.c"], "name": "div",
                                 "cflags": ["-g"] if debug else []})()
    argv, env, _ = sources.command(module, wasm, tmp_path)
    subprocess.run([str(a) for a in argv], env=env, check=True)
    return wasm


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("bounds", ["checked", "guard"])
def test_hosted_backtrace_with_lines(tmp_path, bounds, target):
    wasm = compile_c(tmp_path, debug=True)
    result = subprocess.run([*require_cli(target), "run", str(wasm), "--bounds", bounds],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 134, result.stderr
    assert result.stderr.startswith("trap: integer divide by zero\n"), result.stderr
    found = frames(result.stderr)
    assert [(d, n, f, line) for d, n, f, line in found[:4]] == \
        [(i, name, "div.c", line) for i, (name, line) in enumerate(FRAMES)], result.stderr
    assert found[-1][1].startswith("_start"), result.stderr


@pytest.mark.parametrize("target", TARGETS)
def test_hosted_backtrace_names_without_dwarf(tmp_path, target):
    wasm = compile_c(tmp_path, debug=False)
    result = subprocess.run([*require_cli(target), "run", str(wasm)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 134
    found = frames(result.stderr)
    assert [n for _, n, _, _ in found[:4]] == [name for name, _ in FRAMES], result.stderr
    assert all(f is None for _, _, f, _ in found[:4]), "no DWARF in div.c: no file:line"
    assert re.search(r"#0 divide\+0x[0-9a-f]+\n", result.stderr), result.stderr


@pytest.mark.parametrize("target", TARGETS)
def test_names_fall_back_to_exports_and_indices(tmp_path, target):
    """A module without a name section (wat2wasm without --debug-names): exported functions go
    by their export names, the others by index; a guard-page fault is frame 0 exactly."""
    wat = tmp_path / "m.wat"
    wat.write_text('(module (memory 1)'
                   ' (func $deep (i32.store (i32.const 70000) (i32.const 1)))'
                   ' (func (export "shallow") (call $deep))'
                   ' (func (export "_start") (call 1)))')
    wasm = tmp_path / "m.wasm"
    subprocess.run(["wat2wasm", str(wat), "-o", str(wasm)], check=True)
    for bounds in ("checked", "guard"):
        result = subprocess.run([*require_cli(target), "run", str(wasm), "--bounds", bounds],
                                capture_output=True, text=True, timeout=60)
        assert "out of bounds memory access" in result.stderr
        assert [n for _, n, _, _ in frames(result.stderr)] == ["function 0", "shallow", "_start"], \
            result.stderr
        assert "#0 function 0+0x" in result.stderr


def test_inspect_maps_an_offset(tmp_path):
    wasm = compile_c(tmp_path, debug=True)
    obj = tmp_path / "div.alko"
    subprocess.run([str(built()), "compile", str(wasm), "-o", str(obj)], check=True)
    listing = subprocess.run([str(built()), "inspect", str(obj)], capture_output=True,
                             text=True, check=True).stdout
    assert re.search(r"^  lines +offset", listing, re.M), listing
    trap = subprocess.run([str(built()), "run", str(wasm)], capture_output=True, text=True)
    # the trap names divide+OFFSET from the function's entry; inspect takes it as written
    offset = re.search(r"#0 divide at div.c:5", trap.stderr)
    assert offset, trap.stderr
    result = subprocess.run([str(built()), "inspect", str(obj), "--at", "divide+0x8",
                             "--at", "nosuch+0x1"], capture_output=True, text=True)
    assert result.returncode == 2 and "--at nosuch+0x1: not an offset" in result.stderr
    assert re.match(r"code\+0x[0-9a-f]+ divide at div.c:\d+", result.stdout), result.stdout


@pytest.mark.parametrize("bounds", ["checked", "guard"])
def test_booted_backtrace_with_lines(tools, tmp_path, bounds):
    app = write_appliance(tmp_path, f"""[appliance]
name = "divide"
bounds = "{bounds}"

[[app]]
name = "divide"
source = "div.c"
cflags = ["-g"]
grants = ["stdout", "args", "env"]
""", {"div.c": DIVIDE_C})
    result = build_py("run", app)
    assert result.returncode == 125, result.stdout + result.stderr
    out = result.stdout
    assert "[athanor] module divide: trapped: integer divide by zero (in divide+0x" in out, out
    lines = [line for line in out.splitlines() if re.match(r"\[athanor\]   #\d", line)]
    found = frames("\n".join(lines))
    assert [(d, n, f, line) for d, n, f, line in found[:4]] == \
        [(i, name, "div.c", line) for i, (name, line) in enumerate(FRAMES)], out
    assert len(found) <= 16 and found[-1][1].startswith("_start"), out


def test_booted_trap_in_a_kernel_function(tools, tmp_path):
    """athanor.log with a pointer outside the module's memory traps the caller: the backtrace
    starts at the call into the kernel."""
    wat = """(module
  (import "athanor" "log" (func $log (param i32 i32)))
  (memory 1)
  (func $speak (call $log (i32.const 65530) (i32.const 100)))
  (func (export "_start") (call $speak)))"""
    app = write_appliance(tmp_path, '[appliance]\nname = "loud"\n[[app]]\nname = "loud"\n'
                          'source = "loud.wat"\ngrants = ["log"]\n', {"loud.wat": wat})
    result = build_py("run", app)
    assert result.returncode == 125
    assert "[athanor]   #0 speak+0x" in result.stdout and "(in what it called)" in result.stdout
    assert "[athanor]   #1 _start+0x" in result.stdout, result.stdout


def test_the_object_format_documents_lines():
    doc = (ROOT / "docs" / "object-format.md").read_text()
    assert "| 14 | `lines` |" in doc and "**lines** (16" in doc


NESTED_WAT = """(module (memory 1)
 (func $deep {body})
 (func $shallow (call $deep))
 (func (export "_start") (call $shallow)))"""
BODIES = {
    # a store past the end: a guard-page fault, or the explicit check in checked mode
    "store": ("(i32.store (i32.const 70000) (i32.const 1))", False),
    # memory.fill past the end: the runtime's builtin traps, called from deep
    "fill": ("(memory.fill (i32.const 65530) (i32.const 0) (i32.const 100))", True),
}


@pytest.mark.parametrize("bounds", ["checked", "guard"])
@pytest.mark.parametrize("what", sorted(BODIES))
def test_nested_out_of_bounds_hosted_and_booted(tools, tmp_path, bounds, what):
    body, in_callee = BODIES[what]
    wat = NESTED_WAT.format(body=body)
    (tmp_path / "m.wat").write_text(wat)
    subprocess.run(["wat2wasm", "--debug-names", str(tmp_path / "m.wat"), "-o",
                    str(tmp_path / "m.wasm")], check=True)
    hosted = subprocess.run([str(built()), "run", str(tmp_path / "m.wasm"), "--bounds", bounds],
                            capture_output=True, text=True, timeout=60)
    app = write_appliance(tmp_path / "app", f'[appliance]\nname = "oob"\nbounds = "{bounds}"\n'
                          '[[app]]\nname = "oob"\nsource = "m.wat"\n', {"m.wat": wat})
    booted = build_py("run", app)
    assert booted.returncode == 125, booted.stdout + booted.stderr
    for text in (hosted.stderr, booted.stdout):
        assert "out of bounds memory access" in text
        assert [n for _, n, _, _ in frames(text)] == ["deep", "shallow", "_start"], text
        assert ("(in what it called)" in text) == in_callee, text
