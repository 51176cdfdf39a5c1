"""The test suite runs its files in parallel processes (./build.py test -j, pytest-xdist): build.py
processes of one checkout take turns at make and at building one appliance (azoth.tools.locked),
and each worker has its own images folder.

    /usr/bin/python3 -m pytest tests/test_parallel.py
"""
import importlib.util
import os
import subprocess
import sys

from conftest import BUILD_PY, ROOT, logging_app, manifest_for, write_appliance

HOLDER = """
import sys, time
sys.path.insert(0, {root!r})
from azoth import tools
with tools.locked("test-parallel"):
    start = time.monotonic()
    time.sleep(0.3)
    print(start, time.monotonic())
"""


def test_a_lock_is_held_by_one_process_at_a_time():
    code = HOLDER.format(root=str(ROOT))
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
             for _ in range(3)]
    spans = sorted(tuple(map(float, p.communicate(timeout=30)[0].split())) for p in procs)
    assert all(p.returncode == 0 for p in procs)
    for (_, end), (start, _) in zip(spans, spans[1:]):
        assert start >= end, f"two holders at once: {spans}"


def test_one_appliance_built_by_two_processes_at_once(tools, tmp_path):
    modules = [(f"m{i}", f"m{i}.wat", ["log"]) for i in range(4)]
    app = write_appliance(tmp_path / "twice", manifest_for("twice", modules),
                          {f"m{i}.wat": logging_app(f"module {i}") for i in range(4)})
    procs = [subprocess.Popen([sys.executable, str(BUILD_PY), "build", str(app), "--no-iso",
                               "--out", str(tmp_path / f"out{n}")], cwd=ROOT,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for n in range(2)]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, out + err
    images = [(tmp_path / f"out{n}" / "twice.azi").read_bytes() for n in range(2)]
    assert images[0] == images[1]


def load_build_py():
    spec = importlib.util.spec_from_file_location("build_py", BUILD_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_jobs_spread_test_files_over_processes():
    build = load_build_py()

    def argv(jobs):
        args = type("Args", (), dict(paths=[], k=None, exitfirst=False, jobs=jobs,
                                     pytest_args=[]))()
        return build.test_argv(args)
    assert argv(2)[-4:] == ["-n", "2", "--dist", "loadfile"]
    assert "-n" not in argv(1)
    assert 1 <= build.default_test_jobs() <= build.MAX_TEST_JOBS


def test_each_worker_has_its_own_images_folder():
    def images(worker):
        env = {k: v for k, v in os.environ.items() if k not in ("AZOTH_IMAGES", "PYTEST_XDIST_WORKER")}
        env.update(PYTHONPATH=str(ROOT / "tests"), **({"PYTEST_XDIST_WORKER": worker} if worker else {}))
        return subprocess.run([sys.executable, "-c", "import os, conftest; "
                               "print(os.environ['AZOTH_IMAGES'])"], env=env,
                              capture_output=True, text=True, check=True).stdout.strip()
    alone, first, second = images(""), images("gw0"), images("gw1")
    assert first == alone + "gw0" and second == alone + "gw1"
