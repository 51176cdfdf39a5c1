"""The WebAssembly spec testsuite on the optimizing tier (`alkahest spec -O`, docs/opt-tier.md):
every script, SIMD included (all 146), in both bounds modes, must report 0 failed, and only the
text-form assert_malformed commands may be skipped (counted from the scripts themselves).

  - every script in `checked` and in `guard` mode, two processes at a time;
  - our own scripts in tests/alkahest_spec/ in both modes;
  - the ASan/UBSan CLI (loading the same alkahest-opt.so) on a handful of scripts, SIMD ones
    among them, in both modes (LeakSanitizer off: its tracer cannot stop libLLVM's process);
  - a broken expectation in a SIMD script fails (the v128 checks can fail);
  - AArch64 (docs/opt-tier.md, "AArch64"): the host's CLI compiles each script's modules with
    `-O --target aarch64` (tests/targets.py's precompiled_script), and the CLI cross-built for
    AArch64 runs them under qemu-aarch64 emulating a cortex-a53 (the ARMv8.0-A baseline), in
    both modes: a representative dozen scripts (SIMD,
    calls, traps, memory growth, our own scripts with deep recursion) by default, all 146 with
    `./build.py test --long` or ALKAHEST_A64_OPT_ALL=1.

    /usr/bin/python3 -m pytest tests/test_spec_opt.py
"""
import json
import os
import shutil
import subprocess

import pytest

from conftest import long_run
from spec_validate import built
from targets import precompiled_script, require_cli
from test_spec import (MODES, OWN_CACHE, OWN_SCRIPTS, SUMMARY, assert_no_failures, convert,
                       run_all, run_script)

SANITIZED = ("simd_lane", "simd_load", "simd_i16x8_q15mulr_sat_s", "call_indirect", "linking",
             "float_exprs", "memory_grow", "skip-stack-guard-page")


@pytest.fixture(scope="module")
def all_scripts(testsuite):
    """{name: JSON path} for all 146 scripts, SIMD ones included."""
    import concurrent.futures
    names = sorted(w.stem for w in testsuite.glob("*.wast"))
    assert len(names) == 146, f"expected the testsuite's 146 scripts, found {len(names)}"
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        paths = list(pool.map(lambda n: convert(testsuite / f"{n}.wast"), names))
    return dict(zip(names, paths))


def text_form_malformed(paths):
    """The commands the runner skips by design: assert_malformed on text modules."""
    return sum(1 for p in paths for c in json.loads(p.read_text())["commands"]
               if c["type"] == "assert_malformed" and c.get("module_type") == "text")


def test_whole_testsuite_both_modes(all_scripts):
    alkahest = built()
    results = run_all(alkahest, [(n, p, m) for n, p in all_scripts.items() for m in MODES], "-O")
    assert_no_failures(results)
    skippable = text_form_malformed(all_scripts.values())
    for mode in MODES:
        passed, failed, skipped = (sum(r[i] for (_, m), r in results.items() if m == mode)
                                   for i in range(3))
        print(f"optimizing tier, {mode}: {passed} passed, {failed} failed, {skipped} skipped")
        assert skipped == skippable, f"{mode}: {skipped} skipped, {skippable} are text-form"
        assert passed >= 52822, f"{mode}: only {passed} commands passed"


def test_own_scripts_both_modes():
    scripts = {w.stem: convert(w, OWN_CACHE) for w in sorted(OWN_SCRIPTS.glob("*.wast"))}
    assert {"calls", "control", "deep", "pressure", "far_loads"} <= set(scripts)
    assert_no_failures(run_all(built(), [(n, p, m) for n, p in scripts.items() for m in MODES],
                               "-O"))


def test_sanitizer_build(all_scripts, monkeypatch):
    monkeypatch.setenv("ASAN_OPTIONS", os.environ.get("ASAN_OPTIONS", "") + ":detect_leaks=0")
    built()             # alkahest-opt.so, which the ASan CLI loads too
    results = run_all(built(asan=True), [(n, all_scripts[n], m) for n in SANITIZED for m in MODES],
                      "-O")
    assert_no_failures(results)


def wrong_v128_script(all_scripts, directory, lane):
    """simd_i8x16_arith's script copied into directory with one lane of its first v128
    expectation changed; returns (the copy's path, the changed command's line)."""
    source = all_scripts["simd_i8x16_arith"]
    for wasm in source.parent.glob("*.wasm"):
        shutil.copy(wasm, directory)
    data = json.loads(source.read_text())
    changed = next(c for c in data["commands"] if c["type"] == "assert_return"
                   and c["expected"] and c["expected"][0]["type"] == "v128")
    lanes = changed["expected"][0]["value"]
    lanes[lane] = str((int(lanes[lane]) + 1) % 256)
    copy = directory / "simd_i8x16_arith.json"
    copy.write_text(json.dumps(data))
    return copy, changed["line"]


def test_a_wrong_v128_expectation_fails(all_scripts, tmp_path):
    copy, line = wrong_v128_script(all_scripts, tmp_path, 3)
    result = subprocess.run([str(built()), "spec", str(copy), "-O"],
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert SUMMARY.findall(result.stdout)[-1][1] == "1"
    assert f"simd_i8x16_arith.wast:{line}: assert_return: FAIL" in result.stdout


# AArch64's default sample (LLVM compiles every module of a script on the host: few modules
# each): integers, conversions, calls through tables, linking, memory growth, the stack guard,
# SIMD loads, arithmetic, saturation and floats.
A64_SAMPLE = ("i32", "conversions", "call_indirect", "linking", "memory_grow",
              "skip-stack-guard-page", "simd_load", "simd_i8x16_arith",
              "simd_i16x8_q15mulr_sat_s", "simd_f32x4")


def run_aarch64(scripts, work):
    """{(name, mode): (passed, failed, skipped, report)}: each script's modules compiled by the
    host's CLI for AArch64 on this tier, run by the AArch64 CLI under QEMU, two at a time."""
    import concurrent.futures
    command, alkahest = require_cli("aarch64"), built()
    # QEMU's user mode emulates its "max" CPU by default, which has every extension: the code
    # must run on the ARMv8.0-A baseline, which cortex-a53 is (crc and crypto besides)
    command = [command[0], "-cpu", "cortex-a53", *command[1:]]

    def one(name, path, mode):
        copy = precompiled_script(path, mode, "aarch64", work / f"{name}.{mode}", alkahest, "-O")
        # -O: were a module left a .wasm, this CLI (no LLVM in it) would refuse it (ALK-E104)
        # rather than compile it with the single pass
        return run_script(command, copy, mode, "-O")

    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        futures = {(n, m): pool.submit(one, n, p, m) for n, p in scripts.items() for m in MODES}
        return {key: future.result() for key, future in futures.items()}


def test_aarch64_scripts_both_modes(all_scripts, tmp_path):
    every = long_run() or os.environ.get("ALKAHEST_A64_OPT_ALL") == "1"
    chosen = all_scripts if every else {n: all_scripts[n] for n in A64_SAMPLE}
    own = {w.stem: convert(w, OWN_CACHE) for w in sorted(OWN_SCRIPTS.glob("*.wast"))}
    assert {"deep", "recursion"} <= set(own)
    results = run_aarch64({**chosen, **{f"alkahest_spec/{n}": p for n, p in own.items()}},
                          tmp_path)
    assert_no_failures(results)
    for mode in MODES:
        passed, failed, skipped = (sum(r[i] for (n, m), r in results.items()
                                       if m == mode and n in chosen) for i in range(3))
        print(f"optimizing tier, aarch64, {mode}: {len(chosen)} scripts, {passed} passed, "
              f"{failed} failed, {skipped} skipped")
        if every:
            assert skipped == text_form_malformed(chosen.values())
            assert passed >= 52822, f"aarch64 {mode}: only {passed} commands passed"


def test_aarch64_wrong_expectation_fails(all_scripts, tmp_path):
    """The AArch64 path can fail: a changed v128 expectation is reported."""
    copy, _ = wrong_v128_script(all_scripts, tmp_path, 0)
    results = run_aarch64({"simd_i8x16_arith": copy}, tmp_path / "work")
    assert all(r[1] == 1 for r in results.values()), results
