"""Differential execution against Binaryen's interpreter (tests/fuzz_exec.py explains the
method) on a fixed range of seeds, in both bounds modes: every result, trap and logged value of
Alkahest's code must match. Longer campaigns: tests/fuzz_exec.py FIRST COUNT.

    /usr/bin/python3 -m pytest tests/test_fuzz_exec.py
"""
import concurrent.futures

import pytest

from fuzz_exec import check
from spec_validate import built

SEEDS = range(1, 81)


@pytest.mark.parametrize("bounds", ["checked", "guard"])
def test_binaryen_agrees(bounds, tmp_path):
    alkahest = built()
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(lambda s: (s, *check(s, alkahest, bounds, tmp_path)), SEEDS))
    bad = [f"seed {seed}: {status}\n{detail}" for seed, status, detail in outcomes
           if status != "ok"]
    assert not bad, f"{len(bad)} of {len(SEEDS)} seeds disagree (tests/fuzz_exec.py " \
                    f"--bounds {bounds} SEED reproduces one):\n" + "\n".join(bad[:10])
