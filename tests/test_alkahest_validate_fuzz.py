"""The front end's fuzz target: every input that ever crashed it, and a short smoke run.

  - each file in alkahest/fuzz/regressions/ runs through the fuzz target (ASan, UBSan and the
    target's own contract checks) and through `alkahest-asan validate`, which must give a
    verdict (exit 0 or 1), never a crash;
  - alkahest/fuzz/run.sh fuzzes for 20 seconds from the testsuite's modules and must end with
    no crash, leak, sanitizer report or broken contract;
  - the verdicts on the fuzz corpus, the regressions and the testsuite's modules agree with
    V8's (node), but for its known differences (alkahest/fuzz/differential.py), and so do they
    on 3,000 modules of random, mostly well-typed bodies (alkahest/fuzz/typed_bodies.py).

    /usr/bin/python3 -m pytest tests/test_alkahest_validate_fuzz.py
"""
import shutil
import subprocess

import pytest

from spec_validate import ROOT, built
from conftest import make

FUZZ_DIR = ROOT / "alkahest" / "fuzz"
REGRESSIONS = sorted((FUZZ_DIR / "regressions").iterdir())
FUZZER = ROOT / "alkahest" / "build" / "fuzz_validate"

pytestmark = pytest.mark.skipif(shutil.which("clang") is None, reason="libFuzzer needs clang")


@pytest.fixture(scope="module")
def fuzzer():
    make("-s", "-C", ROOT / "alkahest", "fuzz", capture_output=True)
    return FUZZER


def test_there_are_regressions():
    assert REGRESSIONS, "alkahest/fuzz/regressions/ is empty"


@pytest.mark.parametrize("path", REGRESSIONS, ids=[p.name for p in REGRESSIONS])
def test_regression(fuzzer, path):
    result = subprocess.run([fuzzer, path], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-3000:]
    asan = subprocess.run([built(asan=True), "validate", path], capture_output=True, text=True,
                          timeout=60)
    assert asan.returncode in (0, 1), asan.stderr[-3000:]


def test_smoke_run():
    result = subprocess.run([FUZZ_DIR / "run.sh", "20"], capture_output=True, text=True,
                            timeout=300)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-4000:]
    assert "Done" in log and "ERROR" not in log, log[-4000:]


@pytest.mark.skipif(shutil.which("node") is None, reason="the differential check needs node")
def test_verdicts_agree_with_v8():
    result = subprocess.run([FUZZ_DIR / "differential.py", "--alkahest", built()],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


@pytest.mark.skipif(shutil.which("node") is None, reason="the differential check needs node")
def test_typed_bodies_agree_with_v8(tmp_path):
    subprocess.run([FUZZ_DIR / "typed_bodies.py", tmp_path, "3000", "1"], check=True)
    result = subprocess.run([FUZZ_DIR / "differential.py", "--alkahest", built(), tmp_path],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    valid = subprocess.run([built(), "validate", *sorted(tmp_path.iterdir())],
                           capture_output=True, text=True).stdout.count(": ok\n")
    assert valid > 300, "the generator should make valid modules too"
