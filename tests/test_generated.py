"""Every file generated from one of the single definitions (formats/*.toml, the capability
catalogue, the limits, the diagnostics table) is what formats/generate.py makes of it today, and
the check notices when one is not.

    /usr/bin/python3 -m pytest tests/test_generated.py
"""
import shutil
import subprocess
import sys

from conftest import ROOT

GENERATE = ROOT / "formats" / "generate.py"


def check(root):
    return subprocess.run([sys.executable, str(root / "formats" / "generate.py"), "--check"],
                          capture_output=True, text=True, cwd=root)


def test_every_generated_file_is_current():
    done = check(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_check_fails_when_a_definition_changes(tmp_path):
    """A copy of the sources with one trap renamed in formats/abi.toml: the header and the doc
    generated from it are out of date, and the check names them."""
    for part in ("formats", "azoth", "manifest", "alkahest/include", "appliances/include",
                 "docs"):
        shutil.copytree(ROOT / part, tmp_path / part,
                        ignore=shutil.ignore_patterns("__pycache__", "build"))
    abi = tmp_path / "formats" / "abi.toml"
    abi.write_text(abi.read_text().replace('message = "integer overflow"',
                                           'message = "integer overflowed"'))
    done = check(tmp_path)
    assert done.returncode == 1
    assert "alkahest/include/alkahest_abi.h is out of date" in done.stdout
    assert "docs/abi.md is out of date" in done.stdout
