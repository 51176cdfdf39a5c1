"""The WebAssembly spec testsuite on the optimizing tier (`alkahest spec -O`, docs/opt-tier.md):
every script, SIMD included (all 146), in both bounds modes, must report 0 failed, and only the
text-form assert_malformed commands may be skipped (counted from the scripts themselves).

  - every script in `checked` and in `guard` mode, two processes at a time;
  - our own scripts in tests/alkahest_spec/ in both modes;
  - the ASan/UBSan CLI (loading the same alkahest-opt.so) on a handful of scripts, SIMD ones
    among them, in both modes (LeakSanitizer off: its tracer cannot stop libLLVM's process);
  - a broken expectation in a SIMD script fails (the v128 checks can fail).

    /usr/bin/python3 -m pytest tests/test_spec_opt.py
"""
import json
import os
import shutil
import subprocess

import pytest

from spec_validate import built
from test_spec import (MODES, OWN_CACHE, OWN_SCRIPTS, SUMMARY, assert_no_failures, convert,
                       run_all)

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


def test_a_wrong_v128_expectation_fails(all_scripts, tmp_path):
    source = all_scripts["simd_i8x16_arith"]
    for wasm in source.parent.glob("*.wasm"):
        shutil.copy(wasm, tmp_path)
    data = json.loads(source.read_text())
    changed = next(c for c in data["commands"] if c["type"] == "assert_return"
                   and c["expected"] and c["expected"][0]["type"] == "v128")
    lanes = changed["expected"][0]["value"]
    lanes[3] = str((int(lanes[3]) + 1) % 256)
    (tmp_path / "simd_i8x16_arith.json").write_text(json.dumps(data))
    result = subprocess.run([str(built()), "spec", str(tmp_path / "simd_i8x16_arith.json"), "-O"],
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert SUMMARY.findall(result.stdout)[-1][1] == "1"
    assert f"simd_i8x16_arith.wast:{changed['line']}: assert_return: FAIL" in result.stdout
