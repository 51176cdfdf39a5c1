"""Every file generated from one of the single definitions (formats/*.toml, the capability
catalogue, the limits, the diagnostics table) is what formats/generate.py makes of it today, and
the check notices when one is not.

    /usr/bin/python3 -m pytest tests/test_generated.py
"""
import re
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


def copy_sources(tmp_path):
    (tmp_path / "athanor").mkdir()
    for part in ("formats", "azoth", "manifest", "alkahest/include", "alkahest/runtime",
                 "appliances/include", "docs"):
        shutil.copytree(ROOT / part, tmp_path / part,
                        ignore=shutil.ignore_patterns("__pycache__", "build"))
    for name in ("README.md", "athanor/image_format.h", "athanor/exit_protocol.h"):
        shutil.copy(ROOT / name, tmp_path / name)
    assert check(tmp_path).returncode == 0


def test_the_check_fails_when_a_definition_changes(tmp_path):
    """A copy of the sources with one trap renamed in formats/abi.toml: the header and the doc
    generated from it are out of date, and the check names them and nothing else."""
    copy_sources(tmp_path)
    abi = tmp_path / "formats" / "abi.toml"
    abi.write_text(abi.read_text().replace('message = "integer overflow"',
                                           'message = "integer overflowed"'))
    done = check(tmp_path)
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        f"{name} is out of date: run formats/generate.py"
        for name in ("alkahest/include/alkahest_abi.h", "docs/abi.md")]


def test_a_limit_changes_everywhere_it_is_written(tmp_path):
    """Lowering a limit in manifest/limits.toml makes the docs that state it stale; generating
    rewrites the table and each value written in prose, in its unit."""
    copy_sources(tmp_path)
    toml = tmp_path / "manifest" / "limits.toml"
    text = toml.read_text()
    text = text.replace("[limit.channels]\nvalue = 64", "[limit.channels]\nvalue = 48")
    text = text.replace("[limit.file_size]\nvalue = 268435456", "[limit.file_size]\nvalue = 134217728")
    toml.write_text(text)
    done = check(tmp_path)
    assert done.returncode == 1
    assert "manifest/README.md is out of date" in done.stdout
    assert "docs/runtime.md is out of date" in done.stdout
    subprocess.run([sys.executable, str(tmp_path / "formats" / "generate.py")], check=True,
                   capture_output=True, cwd=tmp_path)
    readme = (tmp_path / "manifest" / "README.md").read_text()
    assert "At most <!-- limit channels -->48<!-- --> channels." in readme
    assert "<!-- limit file_size -->128 MiB<!-- --> each." in readme
    assert "| `channels` | 48 |" in (tmp_path / "docs" / "runtime.md").read_text()
    assert check(tmp_path).returncode == 0


def test_every_error_code_raised_is_listed():
    """Every AZ- code the tool can raise is in azoth/errors.py's CODES (and so in
    manifest/README.md), and every listed code is raised somewhere."""
    from azoth.errors import CODES
    used = set()
    for path in [ROOT / "build.py", *(ROOT / "azoth").glob("*.py")]:
        if path.name != "errors.py":
            used |= set(re.findall(r"AZ-[A-Z][0-9]{3}", path.read_text()))
    assert used - set(CODES) == set(), "raised but not listed"
    assert set(CODES) - used == set(), "listed but never raised"
    readme = (ROOT / "manifest" / "README.md").read_text()
    for code, meaning in CODES.items():
        assert f"| {code} | {meaning} |" in readme
