"""The TCP/IP stack's input path under libFuzzer on the host (tests/fuzz/net_input.c: lwIP and
the stack's port layer, ASan and UBSan, the kernel's socket functions as stubs): every input of
the committed corpus (tests/fuzz/net_corpus/) replays cleanly, and a short run from it finds no
crash, leak, sanitizer report or lwIP assertion (5 minutes with ./build.py test --long)."""
import shutil
import subprocess
import sys

import pytest

import nethttp
from conftest import ROOT

NET_FUZZ = ROOT / "tests" / "fuzz" / "net_fuzz.py"
CORPUS = ROOT / "tests" / "fuzz" / "net_corpus"
SECONDS = 300 if nethttp.LONG else 5

pytestmark = pytest.mark.skipif(shutil.which("clang") is None, reason="libFuzzer needs clang")


@pytest.fixture(scope="module")
def fuzzer():
    done = subprocess.run([sys.executable, str(NET_FUZZ), "build"], capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return done.stdout.strip()


def test_the_corpus_replays_cleanly(fuzzer):
    inputs = sorted(CORPUS.iterdir())
    assert len(inputs) >= 8
    done = subprocess.run([fuzzer, "-runs=1", *map(str, inputs)], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "[net] up: address 10.0.2.15" in done.stdout


def test_a_short_fuzzing_run_finds_nothing(fuzzer, tmp_path):
    done = subprocess.run([fuzzer, str(tmp_path), str(CORPUS), f"-max_total_time={SECONDS}",
                           "-max_len=8192", "-timeout=10", "-rss_limit_mb=2048",
                           f"-artifact_prefix={tmp_path}/"], capture_output=True, text=True,
                          timeout=SECONDS + 300, cwd=tmp_path)
    log = done.stderr
    assert done.returncode == 0, log[-4000:]
    assert "Done" in log and "ERROR" not in log and "runtime error" not in log, log[-4000:]
    assert not list(tmp_path.glob("crash-*")) and not list(tmp_path.glob("leak-*"))
