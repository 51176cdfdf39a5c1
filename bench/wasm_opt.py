#!/usr/bin/env python3
"""What the manifest's `wasm_opt` key does: each benchmark program compiled as build.py compiles C
(clang -O2, no implicit wasm-opt: azoth/sources.py), then through wasm-opt with each set of
passes; Wasm code-section size (debug sections aside), compiled object size and the median time under `alkahest run --bounds guard`
(the kernel's machine code, run on the host).

    bench/wasm_opt.py [--runs N] [--only NAME,...] [--passes "-O3;-Oz"]
"""
import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from azoth import sources  # noqa: E402
from azoth.tools import progress  # noqa: E402
from validate import code_section_size  # noqa: E402

PROGRAMS = ROOT / "bench" / "programs"
OUT = ROOT / "build" / "bench" / "wasm-opt"
ALKAHEST = ROOT / "alkahest" / "build" / "alkahest"


def compile_c(name, out):
    module = type("Module", (), {"sources": [PROGRAMS / f"{name}.c"], "name": name,
                                 "cflags": []})()
    argv, env, _ = sources.command(module, out, OUT)
    subprocess.run([str(a) for a in argv], env=env, check=True)


def measure(wasm, runs):
    obj = wasm.with_suffix(".alko")
    subprocess.run([str(ALKAHEST), "compile", str(wasm), "-o", str(obj)], check=True)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([str(ALKAHEST), "run", str(wasm), "--bounds", "guard"],
                       capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return code_section_size(wasm.read_bytes()), obj.stat().st_size, statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, metavar="N",
                        help="runs per variant; the median is shown (default 3)")
    parser.add_argument("--only", metavar="P,...", help="only these programs")
    parser.add_argument("--passes", default="-O2;-O3;-Oz", metavar="P;...",
                        help='wasm-opt option sets, separated by ";" (default "-O2;-O3;-Oz")')
    args = parser.parse_args()
    subprocess.run(["make", "-s", "-C", str(ROOT / "alkahest")], check=True)
    OUT.mkdir(parents=True, exist_ok=True)
    names = sorted(p.stem for p in PROGRAMS.glob("*.c"))
    if args.only:
        names = [n for n in names if n in args.only.split(",")]
    variants = [[]] + [v.split() for v in args.passes.split(";") if v.strip()]
    labels = ["none"] + [" ".join(v) for v in variants[1:]]
    print(f"{'program':12}" + "".join(f"{label:>30}" for label in labels))
    print(f"{'':12}" + "".join(f"{'code B':>10}{'object B':>10}{'time s':>10}" for _ in labels))
    ratios = {label: [] for label in labels[1:]}
    for name in names:
        plain = OUT / f"{name}.wasm"
        with progress(f"building and running {name}"):
            compile_c(name, plain)
            row, base = f"{name:12}", None
            for label, passes in zip(labels, variants):
                wasm = plain
                if passes:
                    wasm = OUT / f"{name}.{label.replace(' ', '').replace('-', '')}.wasm"
                    subprocess.run(["wasm-opt", "--debuginfo", *passes, str(plain), "-o",
                                    str(wasm)], check=True)
                size, obj, seconds = measure(wasm, args.runs)
                if base is None:
                    base = (size, seconds)
                else:
                    ratios[label].append((size / base[0], seconds / base[1]))
                row += f"{size:10}{obj:10}{seconds:10.3f}"
        print(row, flush=True)
    for label, values in ratios.items():
        if values:
            size = statistics.geometric_mean(v[0] for v in values)
            speed = statistics.geometric_mean(v[1] for v in values)
            print(f"wasm-opt {label}: Wasm code x{size:.2f}, run time x{speed:.2f} "
                  "(geometric means against none)")


if __name__ == "__main__":
    main()
