"""Differential execution against Binaryen's interpreter (tests/fuzz/diff.py explains the
method) on a fixed range of seeds, in both bounds modes, on every target (tests/targets.py:
AArch64 under qemu-aarch64, on fewer seeds; more with ./build.py test --long), through both
tiers on x86-64 (the single pass and the optimizing tier: each agrees with Binaryen, so with the
other), SIMD modules through the optimizing tier, and a handful of scalar and SIMD seeds
through the optimizing tier on AArch64 (objects the host's CLI compiles, replayed under
qemu-aarch64; more with --long): every result, trap and logged value of
Alkahest's code must match; and every kept regression still passes (the keeping can fail).
Longer campaigns: tests/fuzz/diff.py --count N --seed S [--target T] [--tier both] [--simd]
(docs/opt-tier.md); `./build.py test --long` runs 1,000 scalar and 250 SIMD seeds through the
optimizing tier.

    /usr/bin/python3 -m pytest tests/test_fuzz_exec.py
"""
import concurrent.futures
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "fuzz"))
from diff import REGRESSIONS, check, keep_regression, run_kept  # noqa: E402
from spec_validate import built  # noqa: E402
from conftest import long_run  # noqa: E402
from targets import HOST, TARGETS, require_cli  # noqa: E402

SEEDS = range(1, 81)
# Under QEMU a seed costs several times more: these by default, SEEDS with --long.
OTHER_TARGET_SEEDS = range(1001, 1013)
# the optimizing tier: each module costs LLVM's compile
OPT_SEEDS = range(1, 1001) if long_run() else range(1, 31)
SIMD_SEEDS = range(1000, 1250) if long_run() else range(1000, 1025)
# the optimizing tier on AArch64: LLVM's compile and QEMU per seed
A64_OPT_SEEDS = range(1, 201) if long_run() else range(1, 5)
A64_OPT_SIMD_SEEDS = range(1000, 1050) if long_run() else range(1000, 1003)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("bounds", ["checked", "guard"])
def test_binaryen_agrees(bounds, target, tmp_path):
    alkahest = built()
    runner = None if target == HOST else require_cli(target)
    seeds = SEEDS if target == HOST or long_run() else OTHER_TARGET_SEEDS
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(lambda s: (s, *check(s, alkahest, bounds, tmp_path,
                                                      runner=runner)), seeds))
    bad = [f"seed {seed}: {status}\n{detail}" for seed, status, detail in outcomes
           if status != "ok"]
    assert not bad, f"{len(bad)} of {len(seeds)} seeds disagree (tests/fuzz/diff.py " \
                    f"--target {target} --bounds {bounds} --seed SEED --count 1 reproduces " \
                    "one):\n" + "\n".join(bad[:10])


@pytest.mark.parametrize("simd", [False, True], ids=["scalar", "simd"])
def test_binaryen_agrees_with_the_optimizing_tier(simd, tmp_path):
    alkahest = built()
    seeds = SIMD_SEEDS if simd else OPT_SEEDS
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(lambda s: (s, *check(s, alkahest, "both", tmp_path,
                                                      tiers=("opt",), simd=simd)), seeds))
    bad = [f"seed {seed}: {status}\n{detail}" for seed, status, detail in outcomes
           if status != "ok"]
    assert not bad, f"{len(bad)} of {len(seeds)} seeds disagree (tests/fuzz/diff.py --tier opt " \
                    f"{'--simd ' if simd else ''}--seed SEED --count 1 reproduces one):\n" + \
                    "\n".join(bad[:10])


@pytest.mark.parametrize("simd", [False, True], ids=["scalar", "simd"])
def test_binaryen_agrees_with_the_optimizing_tier_on_aarch64(simd, tmp_path):
    alkahest = built()
    runner = require_cli("aarch64")
    runner = [runner[0], "-cpu", "cortex-a53", *runner[1:]]     # the ARMv8.0-A baseline
    seeds = A64_OPT_SIMD_SEEDS if simd else A64_OPT_SEEDS
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(lambda s: (s, *check(s, alkahest, "both", tmp_path,
                                                      tiers=("opt",), simd=simd, runner=runner,
                                                      runner_target="aarch64")), seeds))
    bad = [f"seed {seed}: {status}\n{detail}" for seed, status, detail in outcomes
           if status != "ok"]
    assert not bad, f"{len(bad)} of {len(seeds)} seeds disagree (tests/fuzz/diff.py --tier opt " \
                    f"--target aarch64 {'--simd ' if simd else ''}--seed SEED --count 1 " \
                    "reproduces one):\n" + "\n".join(bad[:10])


def test_a_kept_regression_runs_and_can_fail(tmp_path):
    """What keeping a divergent seed writes runs as its own test, and a wrong expectation in
    it fails (the mechanism the kept regressions below rely on)."""
    alkahest = built()
    seed = next(s for s in SEEDS
                if check(s, alkahest, "checked", tmp_path, keep_files=True)[0] == "ok")
    case = keep_regression(seed, work=tmp_path, regressions=tmp_path / "kept")
    passed, output = run_kept(case, alkahest, "checked")
    assert passed, output
    script = json.loads((case / "module.json").read_text())
    returns = [c for c in script["commands"] if c["type"] == "assert_return"
               and c.get("expected") and c["expected"][0]["type"] in ("i32", "i64")]
    assert returns, "a kept script checks results"
    returns[0]["expected"][0]["value"] = str(int(returns[0]["expected"][0]["value"]) ^ 1)
    (case / "module.json").write_text(json.dumps(script))
    passed, output = run_kept(case, alkahest, "checked")
    assert not passed and ": FAIL" in output, output


# Divergences that tests/fuzz/diff.py found and kept (tests/fuzz/regressions/seed*/, committed
# with their fix). None is kept yet: then there is no test here rather than one that checks
# nothing.
KEPT = sorted(p.parent for p in REGRESSIONS.glob("*/module.json"))
if KEPT:
    @pytest.mark.parametrize("target", TARGETS)
    @pytest.mark.parametrize("bounds", ["checked", "guard"])
    @pytest.mark.parametrize("case", KEPT, ids=[p.name for p in KEPT])
    def test_kept_regression(case, bounds, target):
        runner = None if target == HOST else require_cli(target)
        passed, output = run_kept(case, built(), bounds, runner=runner)
        assert passed, f"{case.name}: {output}"

# Those found through the optimizing tier (a file `opt-tier` in the folder says why) run
# through it too.
KEPT_OPT = [p for p in KEPT if (p / "opt-tier").exists()]
if KEPT_OPT:
    @pytest.mark.parametrize("bounds", ["checked", "guard"])
    @pytest.mark.parametrize("case", KEPT_OPT, ids=[p.name for p in KEPT_OPT])
    def test_kept_regression_on_the_optimizing_tier(case, bounds):
        passed, output = run_kept(case, built(), bounds, tier="opt")
        assert passed, f"{case.name}: {output}"


def test_simd_constants_lose_their_nans(tmp_path):
    """diff.py's rewrite (denan_constants): a v128.const lane that is a NaN, as an f32 lane or
    an f64 half, is no NaN after it, and every other lane keeps its bits."""
    from diff import denan_constants, is_nan_bits, run
    source = tmp_path / "m.wat"
    source.write_text("(module (func (export \"f\") (result v128)\n"
                      "  (v128.const i32x4 0x7fc00001 0x3f800000 0x00000001 0xfff80000)))")
    wasm = tmp_path / "m.wasm"
    run(["wat2wasm", str(source), "-o", str(wasm)]).check_returncode()
    assert denan_constants(wasm) is None
    text = run(["wasm-dis", str(wasm)]).stdout
    lanes = [int(t, 16) for t in text.split("v128.const i32x4")[1].split(")")[0].split()]
    # lane 0 an f32 NaN; the high half (lanes 2, 3) an f64 NaN; lane 1 (1.0f) unchanged
    assert lanes[1] == 0x3f800000 and lanes[2] == 0x00000001
    assert not any(is_nan_bits(x, 32) for x in lanes)
    assert not is_nan_bits(lanes[2] | lanes[3] << 32, 64)
    assert lanes[0] == 0x3fc00001 and lanes[3] == 0xbff80000


def test_a_nan_payload_from_a_simd_constant_is_no_divergence(tmp_path):
    """Seed 121318 of the SIMD campaign: f32x4.min of a v128.const's NaN lane, stored and
    hashed with the memory; Binaryen gives the canonical NaN and the tier the input's, both
    right. Without denan_constants the seed is reported in both modes."""
    status, detail = check(121318, built(), "both", tmp_path, tiers=("opt",), simd=True)
    assert status == "ok", detail
