#!/usr/bin/env python3
"""The TCP/IP stack's input path under libFuzzer (tests/fuzz/net_input.c says what an input is).

    tests/fuzz/net_fuzz.py build                    build build/fuzz/net_input (clang, libFuzzer,
                                                    ASan, UBSan): lwIP from Debian's source
                                                    package and the stack's port layer
    tests/fuzz/net_fuzz.py run SECONDS [-jobs N]    fuzz from tests/fuzz/net_corpus/ (new inputs
                                                    go to build/fuzz/net_corpus/; copy the ones
                                                    worth keeping into the committed corpus)
    tests/fuzz/net_fuzz.py replay [FILE...]         every input of the corpus (or FILEs) once

A crash leaves crash-* in build/fuzz/; one in lwIP itself is fixed by a patch in
appliances/services/net/patches/ (azoth/deps.py applies them), its input kept in the corpus.
"""
import concurrent.futures
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT))
from azoth import deps, network  # noqa: E402

HARNESS = ROOT / "tests" / "fuzz" / "net_input.c"
CORPUS = ROOT / "tests" / "fuzz" / "net_corpus"
OUT = ROOT / "build" / "fuzz"
FUZZER = OUT / "net_input"
SANITIZE = ["-fsanitize=fuzzer,address,undefined", "-fno-sanitize-recover=undefined"]


def build():
    """The fuzzer, rebuilt when any of its sources is newer."""
    tree = deps.lwip()
    ours = [HARNESS, network.STACK / "net.c"]
    inputs = [*ours, *network.lwip_sources(tree), *network.stack_headers(),
              ROOT / "appliances" / "include" / "athanor.h"]
    if FUZZER.exists() and all(p.stat().st_mtime <= FUZZER.stat().st_mtime for p in inputs):
        return FUZZER
    OUT.mkdir(parents=True, exist_ok=True)
    objects = OUT / "net_input.objects"
    objects.mkdir(exist_ok=True)
    base = ["clang", "-O1", "-g", "-fno-omit-frame-pointer", *SANITIZE, "-DATH_IMPORT(name)=",
            *network.lwip_cflags(tree)]
    def compile_one(source):                        # lwIP is not ours: its warnings are not ours
        obj = objects / (source.stem + ".o")
        subprocess.run([*base, "-w", "-c", str(source), "-o", str(obj)], check=True)
        return str(obj)
    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        built = list(pool.map(compile_one, network.lwip_sources(tree)))
    tmp = FUZZER.with_name(f"net_input.{os.getpid()}.tmp")
    subprocess.run([*base, "-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter",
                    *[str(s) for s in ours], *built, "-o", str(tmp)], check=True)
    tmp.replace(FUZZER)
    return FUZZER


def run(seconds, jobs=1):
    fuzzer = build()
    fresh = OUT / "net_corpus"
    fresh.mkdir(parents=True, exist_ok=True)
    argv = [str(fuzzer), str(fresh), str(CORPUS), f"-max_total_time={seconds}", "-max_len=8192",
            "-timeout=10", "-rss_limit_mb=2048", "-print_final_stats=1",
            f"-artifact_prefix={OUT}/"]
    if jobs > 1:
        argv += [f"-jobs={jobs}", f"-workers={jobs}"]
    return subprocess.run(argv, cwd=OUT).returncode


def replay(files):
    fuzzer = build()
    files = files or sorted(str(p) for p in CORPUS.iterdir())
    return subprocess.run([str(fuzzer), "-runs=1", *files]).returncode


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    if not shutil.which("clang"):
        sys.exit("net_fuzz.py: clang is missing")
    if argv[0] == "build":
        print(build())
        return 0
    if argv[0] == "run" and len(argv) >= 2:
        jobs = int(argv[3]) if len(argv) == 4 and argv[2] == "-jobs" else 1
        return run(int(argv[1]), jobs)
    if argv[0] == "replay":
        return replay(argv[1:])
    sys.exit(f"net_fuzz.py: unknown command {' '.join(argv)} (--help)")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
