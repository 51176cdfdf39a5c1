#!/usr/bin/env python3
"""Validation throughput: `alkahest validate` against WABT's `wasm-validate`, on SQLite.

Measures the whole process (start, read, decode, validate, exit), the median of --runs runs
after one warm-up, and reports MB/s of code section (1 MB = 10^6 bytes).

The module is SQLite's amalgamation compiled to Wasm, built once into build/bench/:
`npm pack better-sqlite3` (which ships deps/sqlite3/sqlite3.c), then
`clang --target=wasm32-wasi -O3 -mllvm -inline-threshold=600` with a VFS-less configuration
(SQLITE_OS_OTHER, two stub functions) and most extensions on, linked with --export-all and
--no-entry: about 2.3 MB of code in a 2.5 MB module.

    bench/validate.py [--runs N] [--module FILE.wasm] [--alkahest PATH]
"""
import argparse
import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "build" / "bench"
MODULE = WORK / "sqlite3.wasm"
PACKAGE = "better-sqlite3@12.11.1"
CFLAGS = [
    "--target=wasm32-wasi", "-O3", "-mllvm", "-inline-threshold=600",
    "-DSQLITE_OS_OTHER=1", "-DSQLITE_THREADSAFE=0", "-DSQLITE_OMIT_LOAD_EXTENSION",
    "-DSQLITE_OMIT_WAL", "-DSQLITE_ENABLE_FTS3", "-DSQLITE_ENABLE_FTS4", "-DSQLITE_ENABLE_FTS5",
    "-DSQLITE_ENABLE_RTREE", "-DSQLITE_ENABLE_GEOPOLY", "-DSQLITE_ENABLE_MATH_FUNCTIONS",
    "-DSQLITE_ENABLE_SESSION", "-DSQLITE_ENABLE_PREUPDATE_HOOK", "-DSQLITE_ENABLE_DBSTAT_VTAB",
    "-DSQLITE_ENABLE_STAT4", "-DSQLITE_ENABLE_EXPLAIN_COMMENTS",
    "-DSQLITE_ENABLE_COLUMN_METADATA",
]
STUBS = """\
/* SQLITE_OS_OTHER leaves these to the embedder; main keeps wasi-libc's crt1 happy. */
int sqlite3_os_init(void) { return 0; }
int sqlite3_os_end(void) { return 0; }
int main(void) { return 0; }
"""


def run(argv, **kw):
    print("+ " + " ".join(map(str, argv)), file=sys.stderr)
    return subprocess.run(argv, check=True, **kw)


def build_module():
    """build/bench/sqlite3.wasm from the sqlite3.c that better-sqlite3's npm package ships."""
    WORK.mkdir(parents=True, exist_ok=True)
    source = WORK / "package" / "deps" / "sqlite3" / "sqlite3.c"
    if not source.exists():
        tarballs = sorted(WORK.glob("better-sqlite3-*.tgz"))
        if not tarballs:
            run(["npm", "pack", PACKAGE], cwd=WORK, capture_output=True)
            tarballs = sorted(WORK.glob("better-sqlite3-*.tgz"))
        with tarfile.open(tarballs[-1]) as tar:
            tar.extractall(WORK, members=[m for m in tar.getmembers()
                                          if m.name.startswith("package/deps/sqlite3/")])
    stubs = WORK / "sqlite_stubs.c"
    stubs.write_text(STUBS)
    obj = WORK / "sqlite3.o"
    run(["clang", *CFLAGS, "-c", "-o", obj, source])
    tmp = MODULE.with_suffix(".wasm.tmp")
    run(["clang", "--target=wasm32-wasi", "-O3", "-Wl,--export-all", "-Wl,--no-entry",
         "-o", tmp, obj, stubs])
    tmp.replace(MODULE)


def code_section_size(data):
    """Bytes of the code section (id 10), from the module's section headers."""
    def uleb(pos):
        value = shift = 0
        while True:
            byte = data[pos]
            value |= (byte & 0x7F) << shift
            pos, shift = pos + 1, shift + 7
            if not byte & 0x80:
                return value, pos
    pos = 8
    while pos < len(data):
        section_id = data[pos]
        size, pos = uleb(pos + 1)
        if section_id == 10:
            return size
        pos += size
    raise SystemExit("no code section")


def median_seconds(argv, runs):
    subprocess.run(argv, check=True, capture_output=True)  # warm-up: caches, page cache
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--module", type=Path, default=MODULE)
    parser.add_argument("--alkahest", type=Path, default=ROOT / "alkahest" / "build" / "alkahest")
    args = parser.parse_args()
    if args.module == MODULE and not MODULE.exists():
        build_module()
    if args.alkahest == ROOT / "alkahest" / "build" / "alkahest":
        run(["make", "-s", "-C", ROOT / "alkahest"], capture_output=True)
    code = code_section_size(args.module.read_bytes())
    print(f"module: {args.module} ({args.module.stat().st_size / 1e6:.2f} MB, "
          f"{code / 1e6:.2f} MB of code), median of {args.runs} runs, whole process")
    for label, argv in (("alkahest validate", [args.alkahest, "validate", args.module]),
                        ("wasm-validate (WABT)", ["wasm-validate", args.module])):
        seconds = median_seconds(argv, args.runs)
        print(f"  {label:22} {seconds * 1e3:8.2f} ms  {code / seconds / 1e6:8.1f} MB/s")


if __name__ == "__main__":
    main()
