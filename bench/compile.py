#!/usr/bin/env python3
"""Compile throughput: `alkahest compile` (decode, validate, compile, write the object) on SQLite.

The module is bench/validate.py's (SQLite's amalgamation for wasm32-wasi, ~2.3 MB of code),
built once into build/bench/. Whole process, median of --runs runs after a warm-up, MB/s of code
section (1 MB = 10^6 bytes), in both bounds modes, with the CLI's default parallelism (one
compile task per CPU) and with one thread (taskset to one CPU).

    bench/compile.py [--runs N] [--module FILE.wasm] [--target T,...]

--target x86_64,aarch64: the code generated for each of those machines (default: this one's),
always compiled here; the object is the same whichever machine compiles it.
"""
import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from validate import MODULE, ROOT, build_module, code_section_size, median_seconds, run  # noqa


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--module", type=Path, default=MODULE)
    parser.add_argument("--target", default="", help="targets, comma-separated")
    args = parser.parse_args()
    if args.module == MODULE and not MODULE.exists():
        build_module()
    run(["make", "-s", "-C", ROOT / "alkahest"], capture_output=True)
    alkahest = ROOT / "alkahest" / "build" / "alkahest"
    out = ROOT / "build" / "bench" / "compile-throughput.alko"
    code = code_section_size(args.module.read_bytes())
    print(f"module: {args.module} ({args.module.stat().st_size / 1e6:.2f} MB, "
          f"{code / 1e6:.2f} MB of code), median of {args.runs} runs, whole process")
    single = ["taskset", "-c", "0"] if shutil.which("taskset") else []
    for target in [t for t in args.target.split(",") if t] or [None]:
        for bounds in ("guard", "checked"):
            argv = [alkahest, "compile", args.module, "-o", out, "--bounds", bounds,
                    *(["--target", target] if target else [])]
            for label, prefix in (("all CPUs", []), ("one CPU", single)):
                if label == "one CPU" and not prefix:
                    continue
                seconds = median_seconds([*prefix, *argv], args.runs)
                name = f"--target {target:7} " if target else ""
                print(f"  alkahest compile {name}--bounds {bounds:7} {label:8} "
                      f"{seconds * 1e3:8.2f} ms {code / seconds / 1e6:8.1f} MB/s")
    print(f"object: {out.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
