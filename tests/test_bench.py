"""bench/run.py's measuring pieces that need no benchmark run (a callgrind run of one program
takes minutes): the instruction count `--instructions` reports, and its refusal of another
target.

    /usr/bin/python3 -m pytest tests/test_bench.py
"""
import argparse
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import run as bench  # noqa: E402


@pytest.mark.skipif(not shutil.which("valgrind"), reason="valgrind not installed")
def test_instructions_are_counted_and_exact():
    """The count is callgrind's: the program's own output and status come back, a longer run
    counts more, and the same run counts the same (no noise)."""
    short = ["sh", "-c", "echo 1"]
    longer = ["sh", "-c", "i=0; while [ $i -lt 5000 ]; do i=$((i+1)); done; echo $i"]
    counts = []
    for argv in (short, longer, longer):
        count, result = bench.counted(argv)
        assert result.returncode == 0
        counts.append(count)
    assert result.stdout.strip() == b"5000"
    assert 0 < counts[0] < counts[1]
    assert counts[1] == counts[2]       # the shell is deterministic: so is the count


def test_instructions_refuse_another_target():
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    args = parser.parse_args(["--instructions", "--target", "aarch64"])
    with pytest.raises(ValueError, match="--instructions counts this machine"):
        bench.run_benchmarks(args)
