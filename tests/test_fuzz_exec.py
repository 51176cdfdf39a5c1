"""Differential execution against Binaryen's interpreter (tests/fuzz/diff.py explains the
method) on a fixed range of seeds, in both bounds modes: every result, trap and logged value of
Alkahest's code must match; and every kept regression still passes. Longer campaigns:
tests/fuzz/diff.py --count N --seed S.

    /usr/bin/python3 -m pytest tests/test_fuzz_exec.py
"""
import concurrent.futures
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "fuzz"))
from diff import REGRESSIONS, check  # noqa: E402
from spec_validate import built  # noqa: E402

SEEDS = range(1, 81)


@pytest.mark.parametrize("bounds", ["checked", "guard"])
def test_binaryen_agrees(bounds, tmp_path):
    alkahest = built()
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(lambda s: (s, *check(s, alkahest, bounds, tmp_path)), SEEDS))
    bad = [f"seed {seed}: {status}\n{detail}" for seed, status, detail in outcomes
           if status != "ok"]
    assert not bad, f"{len(bad)} of {len(SEEDS)} seeds disagree (tests/fuzz/diff.py " \
                    f"--bounds {bounds} --seed SEED --count 1 reproduces one):\n" + \
                    "\n".join(bad[:10])


@pytest.mark.parametrize("bounds", ["checked", "guard"])
def test_kept_regressions(bounds):
    alkahest = built()
    for case in sorted(REGRESSIONS.glob("*/module.json")):
        result = subprocess.run([str(alkahest), "spec", str(case), "--bounds", bounds],
                                capture_output=True, text=True, cwd=case.parent)
        assert result.returncode == 0, f"{case.parent.name}: {result.stdout[-2000:]}"
