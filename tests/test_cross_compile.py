"""The compiler gives the same object whichever machine it runs on: `alkahest compile --target
aarch64` on this host is byte for byte what the CLI built for AArch64 produces under
qemu-aarch64 (its default target), and `--target x86_64` there is what the host produces; in
both bounds modes, with and without DWARF lines (tests/targets.py runs the other target's CLI).
The core does no floating-point arithmetic and no host-dependent layout, which is what makes
this hold; a difference here means a host dependence crept in. The sanitized compiler
(ASan/UBSan, with stack-use-after-return detection: a pointer into a dead frame is one such
dependence, and once made the AArch64 code depend on the host) compiles every module for every
target to the same object as the plain one."""
import os
import subprocess

import pytest

from conftest import ROOT
from spec_validate import CACHE, built, convert
from targets import HOST, TARGETS, require_cli

PROGRAMS = ("interp", "nbody", "trees")
SPEC_MODULES = ("br_table", "call_indirect", "conversions", "float_exprs")
# For the sanitized compiler, more control flow: blocks and ifs of one result, merged in a
# register, and branches out of them.
SANITIZED_SPEC_MODULES = SPEC_MODULES + ("block", "br", "br_if", "if", "labels", "loop",
                                         "select", "unwind")


def first_module(testsuite, name):
    convert(testsuite / f"{name}.wast")
    return CACHE / name / f"{name}.0.wasm"


@pytest.fixture(scope="module")
def modules(tmp_path_factory, testsuite):
    """Wasm files: bench programs at -O2 and one at -g (a lines section), and the first
    modules of a few spec scripts."""
    out = tmp_path_factory.mktemp("cross")
    files = []
    for name in PROGRAMS:
        wasm = out / f"{name}.wasm"
        subprocess.run(["clang", "--target=wasm32-wasi", "-O2",
                        str(ROOT / "bench" / "programs" / f"{name}.c"), "-o", str(wasm)],
                       check=True)
        files.append(wasm)
    debug = out / "sort-g.wasm"
    subprocess.run(["clang", "--target=wasm32-wasi", "-O1", "-g",
                    str(ROOT / "bench" / "programs" / "sort.c"), "-o", str(debug)], check=True)
    files.append(debug)
    return files + [first_module(testsuite, name) for name in SPEC_MODULES]


@pytest.mark.parametrize("target", [t for t in TARGETS if t != HOST])
def test_objects_are_the_same_on_every_host(target, modules, tmp_path):
    other = require_cli(target)
    host = [str(built())]
    compared = 0
    for wasm in modules:
        for bounds in ("checked", "guard"):
            for code_target in (HOST, target):
                here, there = tmp_path / "here.alko", tmp_path / "there.alko"
                subprocess.run([*host, "compile", str(wasm), "-o", str(here), "--bounds", bounds,
                                "--target", code_target], check=True)
                subprocess.run([*other, "compile", str(wasm), "-o", str(there), "--bounds",
                                bounds, *(["--target", code_target] if code_target != target
                                          else [])], check=True, timeout=300)
                assert here.read_bytes() == there.read_bytes(), \
                    f"{wasm.name} --bounds {bounds} --target {code_target}: the {HOST} and " \
                    f"{target} compilers disagree"
                compared += 1
    assert compared >= 4 * len(PROGRAMS)


def test_the_sanitized_compiler_gives_the_same_objects(modules, testsuite, tmp_path):
    asan = built(asan=True)
    env = dict(os.environ, ASAN_OPTIONS="detect_stack_use_after_return=1:"
               + os.environ.get("ASAN_OPTIONS", ""))
    # interp: the bench program that showed the dead-frame read; the spec modules are small
    wasms = [m for m in modules if m.stem == "interp"] + \
        [first_module(testsuite, n) for n in SANITIZED_SPEC_MODULES]
    compared = 0
    for wasm in wasms:
        for target in TARGETS:
            for bounds in ("checked", "guard"):
                plain, sanitized = tmp_path / "plain.alko", tmp_path / "sanitized.alko"
                argv = ["compile", str(wasm), "--bounds", bounds, "--target", target, "-o"]
                subprocess.run([str(built()), *argv, str(plain)], check=True)
                result = subprocess.run([str(asan), *argv, str(sanitized)], env=env,
                                        capture_output=True, text=True)
                where = f"{wasm.name} --target {target} --bounds {bounds}"
                assert result.returncode == 0, f"{where}:\n{result.stderr[-3000:]}"
                assert plain.read_bytes() == sanitized.read_bytes(), \
                    f"{where}: the sanitized compiler's object differs"
                compared += 1
    assert compared == len(wasms) * len(TARGETS) * 2
