#!/usr/bin/env python3
"""Compile throughput: `alkahest compile` (decode, validate, compile, write the object) on SQLite.

The module is bench/validate.py's (SQLite's amalgamation for wasm32-wasi, ~2.3 MB of code),
built once into build/bench/. Whole process, median of --runs runs after a warm-up, MB/s of code
section (1 MB = 10^6 bytes), in both bounds modes, with the CLI's default parallelism (one
compile task per CPU) and with one thread (taskset to one CPU).
Then the optimizing tier (`-O`, docs/opt-tier.md), which takes seconds: --opt-runs runs (no
warm-up), with one compile task (ALKAHEST_JOBS=1) and with one per CPU, each as wall time and
CPU time (user + system, all threads: what a busy machine inflates least), and the object's
size against the single pass's.

    bench/compile.py [--runs N] [--opt-runs N] [--no-opt] [--module FILE.wasm] [--target T,...]

--target x86_64,aarch64: the single pass's code for each of those machines (default: this
one's), always compiled here; the object is the same whichever machine compiles it. The
optimizing tier is measured for x86-64.
"""
import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from validate import MODULE, ROOT, build_module, code_section_size, median_seconds, run  # noqa


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--module", type=Path, default=MODULE)
    parser.add_argument("--target", default="", help="targets, comma-separated")
    parser.add_argument("--opt-runs", type=int, default=1, metavar="N",
                        help="runs of the optimizing tier per setting (default 1)")
    parser.add_argument("--no-opt", action="store_true", help="the single pass only")
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
    if not args.no_opt:
        optimizing(alkahest, args.module, code, out, args.opt_runs)


def cpu_and_wall(argv, env):
    """One run: (wall seconds, CPU seconds of the process and its threads)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([str(a) for a in argv], check=True, capture_output=True, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def optimizing(alkahest, module, code, single_pass_object, runs):
    """The optimizing tier's figures (guard mode; checked adds one compare per access)."""
    out = single_pass_object.with_name("compile-throughput.opt.alko")
    print(f"optimizing tier (-O), median of {runs}, guard mode:")
    cpus = os.cpu_count() or 1
    objects = set()
    for label, jobs in (("one task", "1"), (f"{min(cpus, 8)} tasks", "")):
        env = {**os.environ, "ALKAHEST_JOBS": jobs}
        runs_of = [cpu_and_wall([alkahest, "compile", module, "-o", out, "--bounds", "guard",
                                 "-O"], env) for _ in range(runs)]
        wall = statistics.median(r[0] for r in runs_of)
        cpu = statistics.median(r[1] for r in runs_of)
        objects.add(out.read_bytes())
        print(f"  alkahest compile -O {label:9} wall {wall:8.2f} s {code / wall / 1e6:6.3f} MB/s"
              f"   CPU {cpu:8.2f} s {code / cpu / 1e6:6.3f} MB/s of CPU")
    subprocess.run([str(alkahest), "compile", str(module), "-o",
                             str(single_pass_object), "--bounds", "guard"], check=True)
    ratio = out.stat().st_size / single_pass_object.stat().st_size
    print(f"object: {out.stat().st_size / 1e6:.2f} MB, {ratio:.2f}x the single pass's (guard); "
          f"{'the same' if len(objects) == 1 else 'NOT the same'} bytes for both task counts")


if __name__ == "__main__":
    main()
