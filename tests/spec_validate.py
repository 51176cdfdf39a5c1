#!/usr/bin/env python3
"""Conformance of `alkahest validate` over the binary modules of the WebAssembly spec testsuite.

Every .wast file is converted with wast2json into build/spectest/NAME/ (reused while newer than
its .wast). Then each binary module must get the testsuite's verdict:

  accepted  the modules of `module`, `assert_trap`, `assert_unlinkable`,
            `assert_uninstantiable` and `assert_exhaustion` commands
  rejected  the modules of `assert_invalid` and of binary `assert_malformed` commands
            (text-form assert_malformed is the text parser's business, out of scope)

The modules go to a few `alkahest validate FILE...` processes (batch mode: one verdict line per
file). Prints passed/failed per .wast file and in total; exits 1 on any wrong verdict. Also
counts, for information, how many rejections give the testsuite's own message.

    tests/spec_validate.py [--alkahest PATH] [--jobs N] [-v] [--convert-only] [WAST_NAME...]
"""

import argparse
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import testdata

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))    # azoth.tools: the make lock
# None when absent: tests/testdata.py says where it looks and how to get it
TESTSUITE = testdata.TESTSUITE.find()
CACHE = ROOT / "build" / "spectest"
ALKAHEST = ROOT / "alkahest" / "build" / "alkahest"
ALKAHEST_ASAN = ROOT / "alkahest" / "build" / "alkahest-asan"

ACCEPT = {"module", "assert_trap", "assert_unlinkable", "assert_uninstantiable",
          "assert_exhaustion"}
REJECT = {"assert_invalid", "assert_malformed"}


@dataclass
class Case:
    wast: str
    line: int
    command: str
    path: Path
    expected_text: str = ""

    @property
    def should_accept(self):
        return self.command in ACCEPT


@dataclass
class FileResult:
    passed: int = 0
    failed: list = field(default_factory=list)


def built(asan=False) -> Path:
    """The alkahest binary, made up to date with `make -C alkahest [asan]`. ALKAHEST_BUILD=DIR
    uses DIR/alkahest[-asan] as it is instead (a private build, while developing)."""
    name = "alkahest-asan" if asan else "alkahest"
    if os.environ.get("ALKAHEST_BUILD"):
        return Path(os.environ["ALKAHEST_BUILD"]) / name
    from azoth import tools  # noqa: E402
    with tools.locked("make"):   # tests run in parallel processes (conftest.make)
        subprocess.run(["make", "-s", "-C", str(ROOT / "alkahest"), *(["asan"] if asan else [])],
                       check=True, capture_output=True)
    return ALKAHEST_ASAN if asan else ALKAHEST


def convert(wast: Path, cache: Path = CACHE) -> Path:
    """wast2json into the cache (build/spectest, or `cache`), unless the cached JSON is newer
    than the .wast. Converts into a private temporary directory renamed into place, so that an
    interrupted run leaves no half-written cache and concurrent callers do not collide."""
    out_dir = cache / wast.stem
    out_json = out_dir / (wast.stem + ".json")
    if out_json.exists() and out_json.stat().st_mtime >= wast.stat().st_mtime:
        return out_json
    cache.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=wast.stem + ".", dir=cache))
    try:
        subprocess.run(["wast2json", str(wast), "-o", str(tmp_dir / out_json.name)],
                       check=True, capture_output=True)
        if out_dir.exists():  # stale: older than its .wast
            shutil.rmtree(out_dir, ignore_errors=True)
        try:
            tmp_dir.rename(out_dir)
        except OSError:  # another process put a fresh one there first
            pass
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return out_json


def cases_of(json_path: Path, wast_name: str):
    data = json.loads(json_path.read_text())
    for command in data["commands"]:
        filename = command.get("filename")
        kind = command["type"]
        if not filename or not filename.endswith(".wasm"):
            continue
        if kind not in ACCEPT and kind not in REJECT:
            continue
        if kind == "assert_malformed" and command.get("module_type", "binary") != "binary":
            continue
        yield Case(wast_name, command["line"], kind, json_path.parent / filename,
                   command.get("text", ""))


def run_batch(alkahest: Path, paths):
    """Validates many files in one process; returns {path: verdict line after 'path: '}."""
    verdicts = {}
    if len(paths) == 1:  # batch mode needs two files or more: repeat the one
        paths = paths * 2
    result = subprocess.run([str(alkahest), "validate", *map(str, paths)],
                            capture_output=True, text=True)
    if result.returncode not in (0, 1):
        raise RuntimeError(f"alkahest validate exited {result.returncode}: {result.stderr}")
    for line in result.stdout.splitlines():
        path, _, verdict = line.partition(": ")
        verdicts[path] = verdict
    return verdicts


def collect(names):
    wasts = sorted(TESTSUITE.glob("*.wast"))
    if names:
        wanted = {n.removesuffix(".wast") for n in names}
        wasts = [w for w in wasts if w.stem in wanted]
    cases = []
    for wast in wasts:
        cases.extend(cases_of(convert(wast), wast.stem))
    return wasts, cases


def run(alkahest: Path, names=(), jobs=2, chunk=600, verbose=False, out=sys.stdout):
    """Runs the conformance check; returns (total passed, list of failed cases with verdicts)."""
    wasts, cases = collect(names)
    chunks = [cases[i:i + chunk] for i in range(0, len(cases), chunk)]
    verdicts = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        for part in pool.map(lambda c: run_batch(alkahest, [x.path for x in c]), chunks):
            verdicts.update(part)

    per_file = {w.stem: FileResult() for w in wasts}
    agreeing = rejections = 0
    for case in cases:
        verdict = verdicts.get(str(case.path))
        if verdict is None:
            per_file[case.wast].failed.append((case, "no verdict"))
            continue
        accepted = verdict == "ok"
        if accepted == case.should_accept:
            per_file[case.wast].passed += 1
        else:
            per_file[case.wast].failed.append((case, verdict))
        if not case.should_accept and not accepted:
            rejections += 1
            message = verdict.split(": ", 1)[1] if ": " in verdict else verdict
            if message.startswith(case.expected_text):
                agreeing += 1

    total_passed = sum(r.passed for r in per_file.values())
    failures = [f for r in per_file.values() for f in r.failed]
    for name, result in per_file.items():
        if verbose or result.failed:
            print(f"{name + '.wast':40} passed {result.passed:5}  failed {len(result.failed)}",
                  file=out)
        for case, verdict in result.failed:
            expectation = "valid" if case.should_accept else f"rejected ({case.expected_text})"
            print(f"  {case.path.name} (line {case.line}, {case.command}): expected "
                  f"{expectation}, got: {verdict}", file=out)
    print(f"total: {len(cases)} binary modules in {len(wasts)} files, passed {total_passed}, "
          f"failed {len(failures)}", file=out)
    print(f"rejections with the testsuite's message: {agreeing}/{rejections}", file=out)
    return total_passed, failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alkahest", type=Path, default=ALKAHEST)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("-v", "--verbose", action="store_true", help="a line for every file")
    parser.add_argument("--convert-only", action="store_true",
                        help="only bring the wast2json cache up to date")
    parser.add_argument("names", nargs="*", help="only these .wast files (by name)")
    args = parser.parse_args()
    if TESTSUITE is None and args.convert_only:
        print(f"nothing to convert: {testdata.TESTSUITE.missing_message()}", file=sys.stderr)
        return
    if TESTSUITE is None:
        sys.exit(testdata.TESTSUITE.missing_message())
    if args.convert_only:
        collect(args.names)
        return
    if not args.alkahest.exists():
        sys.exit(f"{args.alkahest} not found: run `make -C alkahest` first")
    _, failures = run(args.alkahest, args.names, args.jobs, verbose=args.verbose)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
