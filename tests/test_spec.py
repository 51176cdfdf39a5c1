"""The WebAssembly spec testsuite on the hosted runtime: `alkahest spec` over every non-SIMD
script, in both bounds modes, on every target (tests/targets.py: AArch64 through the CLI
cross-built and run by qemu-aarch64), must report 0 failed, with the same counts everywhere.

Each .wast is converted with wast2json into build/spectest/NAME/ (the cache that
tests/spec_validate.py keeps; reused while newer than its .wast). Then:

  - every script runs in `checked` and in `guard` mode, two processes at a time; the test
    fails listing each script with failures, and the failing commands' lines;
  - the runner can fail: a copy of a script with one expectation changed must fail;
  - a sample of assert_return cases of pure scripts is replayed through
    `alkahest run --invoke` and must print the same results;
  - every script runs again in both modes compiled as if it had DWARF lines (--lines): on the
    host's target always, on the others with `./build.py test --long` (by default their lines
    path runs in tests/test_traps.py's backtraces);
  - the ASan/UBSan build runs a handful of scripts in both modes;
  - our own scripts in tests/alkahest_spec/ (calls, control flow, division by constants and
    register pressure in the back ends, checked against wabt's interpreter or Python when
    written) run in both modes on every target, converted into build/spectest-alkahest/.

    /usr/bin/python3 -m pytest tests/test_spec.py
    ALKAHEST_BUILD=DIR ... uses DIR/alkahest[-asan] as they are (a private build)
"""
import concurrent.futures
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from spec_validate import ROOT, built, convert
from conftest import long_run
from targets import HOST, TARGETS, require_cli

OWN_SCRIPTS = ROOT / "tests" / "alkahest_spec"
OWN_CACHE = ROOT / "build" / "spectest-alkahest"
MODES = ("checked", "guard")
SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed, (\d+) skipped$", re.M)
TIMEOUT = 120  # seconds per script; the slowest takes well under one

# Scripts whose first module is pure (no imports, no state) for the `alkahest run` replays.
REPLAYED = ("i32", "i64", "f32", "f64", "conversions", "f32_cmp", "f64_bitwise", "int_exprs")
REPLAYS_PER_SCRIPT = 8
# A handful for the sanitizer build: linking, tables, memory growth, traps, float corner cases.
SANITIZED = ("linking", "imports", "call_indirect", "memory_grow", "bulk", "table_copy",
             "float_exprs", "skip-stack-guard-page")
# What the whole suite gives, per bounds mode, on every target (only text-form
# assert_malformed is skipped outside the SIMD scripts).
PASSED, SKIPPED = 27356, 567


def scripts(testsuite):
    return sorted(w.stem for w in testsuite.glob("*.wast") if not w.stem.startswith("simd_"))


@pytest.fixture(scope="module")
def converted(testsuite):
    """{name: JSON path} for every non-SIMD script, converting what the cache lacks."""
    names = scripts(testsuite)
    assert len(names) == 90, f"expected the 90 non-SIMD scripts in {testsuite}, found {len(names)}"
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        paths = list(pool.map(lambda n: convert(testsuite / f"{n}.wast"), names))
    return dict(zip(names, paths))


@pytest.fixture(scope="module")
def own_converted():
    """{name: JSON path} for the scripts of tests/alkahest_spec/."""
    return {w.stem: convert(w, OWN_CACHE) for w in sorted(OWN_SCRIPTS.glob("*.wast"))}


@pytest.fixture(scope="module")
def alkahest():
    return built()


@pytest.fixture(scope="module")
def alkahest_asan():
    return built(asan=True)


def run_script(command, json_path: Path, mode: str, *extra: str):
    """Runs one script with the CLI `command` (a binary, or the argv that runs one); returns
    (passed, failed, skipped, report) with the failure lines."""
    command = [str(command)] if isinstance(command, (str, Path)) else command
    try:
        result = subprocess.run([*command, "spec", str(json_path), "--bounds", mode, *extra],
                                capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return 0, 1, 0, f"timed out after {TIMEOUT} s"
    summary = SUMMARY.findall(result.stdout)
    if not summary:
        tail = (result.stdout + result.stderr)[-2000:]
        return 0, 1, 0, f"exit status {result.returncode}, no summary:\n{tail}"
    passed, failed, skipped = map(int, summary[-1])
    failures = [line for line in result.stdout.splitlines() if ": FAIL" in line]
    report = "\n".join(failures[:20] + (["..."] if len(failures) > 20 else []))
    if failed == 0 and result.returncode != 0:
        failed = 1
        report = f"exit status {result.returncode} with 0 failed\n{result.stderr[-2000:]}"
    return passed, failed, skipped, report


def run_all(command, jobs, *extra: str):
    """Runs (name, JSON path, mode) jobs two at a time; returns {(name, mode): result}."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        futures = {(name, mode): pool.submit(run_script, command, path, mode, *extra)
                   for name, path, mode in jobs}
        return {key: future.result() for key, future in futures.items()}


def assert_no_failures(results):
    bad = {key: r for key, r in results.items() if r[1]}
    lines = [f"{name}.wast [{mode}]: {r[1]} failed\n{r[3]}"
             for (name, mode), r in sorted(bad.items())]
    assert not bad, "spec scripts with failures:\n" + "\n".join(lines)


@pytest.mark.parametrize("target", TARGETS)
def test_spec_testsuite_both_modes(target, converted):
    command = require_cli(target)
    results = run_all(command, [(n, p, m) for n, p in converted.items() for m in MODES])
    assert_no_failures(results)
    for mode in MODES:
        totals = [sum(r[i] for (_, m), r in results.items() if m == mode) for i in range(3)]
        print(f"{target} {mode}: {totals[0]} passed, {totals[1]} failed, {totals[2]} skipped")
        # Only text-form assert_malformed is skipped outside the SIMD scripts: both counts are
        # bounded, so that a command newly skipped cannot pass for a command run.
        assert totals[0] >= PASSED, f"{target} {mode}: only {totals[0]} commands passed"
        assert totals[2] <= SKIPPED, \
            f"{target} {mode}: {totals[2]} commands skipped, expected at most {SKIPPED}"


@pytest.mark.parametrize("target", TARGETS)
def test_spec_testsuite_with_lines(target, converted):
    """The back end's path for modules with DWARF line information (a trap stub per trapping
    instruction, the lines section) passes the whole suite too."""
    if target != HOST and not long_run():
        pytest.skip(f"{target}: the whole testsuite with lines runs with ./build.py test --long")
    command = require_cli(target)
    results = run_all(command, [(n, p, m) for n, p in converted.items() for m in MODES],
                      "--lines")
    assert_no_failures(results)
    assert all(sum(r[0] for (_, m), r in results.items() if m == mode) >= PASSED
               for mode in MODES)


def test_runner_reports_a_wrong_expectation(alkahest, converted, tmp_path):
    source = converted["i32"]
    for wasm in source.parent.glob("*.wasm"):
        shutil.copy(wasm, tmp_path)
    data = json.loads(source.read_text())
    changed = next(c for c in data["commands"]
                   if c["type"] == "assert_return" and c["expected"])
    changed["expected"][0]["value"] = str(int(changed["expected"][0]["value"]) ^ 1)
    trap = next(c for c in data["commands"] if c["type"] == "assert_trap")
    trap["text"] = "unreachable"
    (tmp_path / "i32.json").write_text(json.dumps(data))
    result = subprocess.run([str(alkahest), "spec", str(tmp_path / "i32.json")],
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert SUMMARY.findall(result.stdout)[-1][1] == "2"
    assert f"i32.wast:{changed['line']}: assert_return: FAIL" in result.stdout
    assert f"i32.wast:{trap['line']}: assert_trap: FAIL" in result.stdout


def replay_cases(json_path: Path):
    """assert_return cases on the script's first module, before any second module appears;
    every few, to spread the sample."""
    commands = json.loads(json_path.read_text())["commands"]
    modules = [i for i, c in enumerate(commands) if c["type"] == "module"]
    end = modules[1] if len(modules) > 1 else len(commands)
    wasm = json_path.parent / commands[modules[0]]["filename"]
    cases = [c for c in commands[modules[0]:end]
             if c["type"] == "assert_return" and c["action"]["type"] == "invoke"
             and "module" not in c["action"]
             and not any(v["value"].startswith("nan:") for v in c["expected"])]
    step = max(1, len(cases) // REPLAYS_PER_SCRIPT)
    return wasm, cases[::step][:REPLAYS_PER_SCRIPT]


def test_run_invoke_agrees_with_the_script(alkahest, converted):
    checked = 0
    for name in REPLAYED:
        wasm, cases = replay_cases(converted[name])
        for case in cases:
            action = case["action"]
            args = [f"{a['type']}:{a['value']}" for a in action["args"]]
            want = [f"{e['type']}:{e['value']}" for e in case["expected"]]
            result = subprocess.run([str(alkahest), "run", str(wasm), "--invoke", action["field"],
                                     *args], capture_output=True, text=True, timeout=30)
            where = f"{name}.wast:{case['line']} {action['field']} {' '.join(args)}"
            assert result.returncode == 0, f"{where}: {result.stderr}"
            assert result.stdout.split() == want, f"{where}: got {result.stdout.split()}"
            checked += 1
    assert checked >= len(REPLAYED) * 4


def test_sanitizer_build(alkahest_asan, converted):
    results = run_all(alkahest_asan, [(n, converted[n], m) for n in SANITIZED for m in MODES])
    assert_no_failures(results)


def test_own_scripts_both_modes(alkahest, alkahest_asan, own_converted):
    assert {"calls", "control", "deep", "divide", "pressure"} <= set(own_converted)
    jobs = [(n, p, m) for n, p in own_converted.items() for m in MODES]
    assert_no_failures(run_all(alkahest, jobs))
    assert_no_failures(run_all(alkahest_asan, jobs))


@pytest.mark.parametrize("target", [t for t in TARGETS if t != HOST])
def test_own_scripts_on_other_targets(target, own_converted):
    jobs = [(n, p, m) for n, p in own_converted.items() for m in MODES]
    assert_no_failures(run_all(require_cli(target), jobs))


@pytest.mark.parametrize("name", ["pressure", "divide"])
def test_generated_scripts_are_current(name):
    generator = OWN_SCRIPTS / f"gen_{name}.py"
    result = subprocess.run([sys.executable, str(generator)], capture_output=True, text=True,
                            check=True)
    assert result.stdout == (OWN_SCRIPTS / f"{name}.wast").read_text(), \
        f"{name}.wast is stale: regenerate it with gen_{name}.py"


@pytest.mark.parametrize("target", TARGETS)
def test_simd_is_skipped_not_failed(target, testsuite):
    """The back ends have no v128 yet: SIMD modules and their actions count as skipped."""
    jobs = [(n, convert(testsuite / f"{n}.wast"), m) for n in ("simd_const", "simd_lane")
            for m in MODES]
    results = run_all(require_cli(target), jobs)
    assert_no_failures(results)
    assert all(r[2] > 100 for r in results.values()), results
