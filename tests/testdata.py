#!/usr/bin/env python3
"""The test data that is not ours to commit: the WebAssembly spec testsuite and the spec text.

Each is looked for, in order, at
  1. $WASM_TESTSUITE / $WASM_SPEC (a folder you point at),
  2. ../shared/wasm-testsuite, ../shared/wasm-spec (beside the checkout: the development workspace),
  3. tests/data/wasm-testsuite, tests/data/wasm-spec (what `tests/testdata.py fetch` clones, at the
     pinned commits below; ignored by git).
When none is there, the tests that need it are skipped with one line saying where it looked and how
to get it; with AZOTH_REQUIRE_TESTDATA=1 (.ci/run sets it) that line is a failure instead.

    tests/testdata.py            where each one was found, or that it is missing
    tests/testdata.py fetch      clone both into tests/data/ at the pinned commits (needs network)
"""
import argparse
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCAL = ROOT / "tests" / "data"
REQUIRE = "AZOTH_REQUIRE_TESTDATA"


@dataclass(frozen=True)
class Data:
    name: str              # the folder name under ../shared and tests/data
    variable: str          # the environment variable that points at it
    what: str
    repository: str
    commit: str            # pinned: WABT 1.0.32 (Debian's) pins this testsuite commit
    subdirectory: str      # the part of the repository the tests read
    probe: str             # a file that shows the folder is the right one

    def candidates(self):
        """(how the message names it, path) in search order."""
        found = []
        if os.environ.get(self.variable):
            found.append((f"${self.variable}={os.environ[self.variable]}",
                          Path(os.environ[self.variable])))
        found.append((f"../shared/{self.name}", ROOT.parent / "shared" / self.name))
        found.append((f"tests/data/{self.name}", LOCAL / self.name / self.subdirectory))
        return found

    def find(self):
        """The folder, or None."""
        for _, path in self.candidates():
            if (path / self.probe).is_file():
                return path
        return None

    def missing_message(self):
        looked = ", ".join(label for label, _ in self.candidates())
        if not os.environ.get(self.variable):
            looked = f"${self.variable} (unset), " + looked
        return (f"{self.what} not found (looked in {looked}): get it with "
                f"`tests/testdata.py fetch` (git, network) or set {self.variable}")


TESTSUITE = Data("wasm-testsuite", "WASM_TESTSUITE", "the WebAssembly spec testsuite",
                 "https://github.com/WebAssembly/testsuite.git",
                 "3a04b2cf93bd8fce277458d419eea8d9c326345c", "", "i32.wast")
SPEC = Data("wasm-spec", "WASM_SPEC", "the WebAssembly core specification 2.0 text",
            "https://github.com/WebAssembly/spec.git", "refs/tags/v2.0.0", "document/core",
            "binary/instructions.rst")
ALL = (TESTSUITE, SPEC)


def require(data):
    """For tests: the folder, else skip (or fail under AZOTH_REQUIRE_TESTDATA=1) in one line."""
    import pytest
    path = data.find()
    if path is None:
        if os.environ.get(REQUIRE) == "1":
            pytest.fail(f"{data.missing_message()} ({REQUIRE}=1)", pytrace=False)
        pytest.skip(data.missing_message())
    return path


def fetch(data):
    """Shallow-clones the pinned commit into tests/data/NAME (git init + fetch of one commit)."""
    target = LOCAL / data.name
    if (target / data.subdirectory / data.probe).is_file():
        print(f"{data.name}: already in {target.relative_to(ROOT)}")
        return 0
    target.mkdir(parents=True, exist_ok=True)
    print(f"{data.name}: fetching {data.repository} at {data.commit.removeprefix('refs/tags/')}",
          flush=True)
    for argv in (["git", "init", "-q"],
                 ["git", "fetch", "-q", "--depth", "1", data.repository, data.commit],
                 ["git", "-c", "advice.detachedHead=false", "checkout", "-q", "FETCH_HEAD"]):
        if subprocess.run(argv, cwd=target).returncode != 0:
            print(f"{data.name}: `{' '.join(argv)}` failed in {target}", file=sys.stderr)
            return 1
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("action", nargs="?", choices=("where", "fetch"), default="where",
                        help="where: say where each is found (default); fetch: clone what is "
                             "missing into tests/data/")
    args = parser.parse_args(argv)
    status = 0
    for data in ALL:
        if args.action == "fetch" and data.find() is None:
            status |= fetch(data)
        path = data.find()
        print(f"{data.name}: {path}" if path else f"{data.name}: {data.missing_message()}")
        status |= path is None
    return status


if __name__ == "__main__":
    sys.exit(main())
