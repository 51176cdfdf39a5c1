"""The console is the program's own: `./build.py run` passes an appliance's output through byte
for byte (control bytes, trailing blanks, no final newline), kernel lines stay on lines of their
own, and there is no time limit unless one is asked for."""
import subprocess
import sys

from conftest import BUILD_PY, ROOT, write_appliance

# Writes OUTPUT with WASI fd_write, then exits with CODE (>= 120: reported by a kernel line).
WRITER_WAT = """(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "athanor" "sleep" (func $sleep (param i64)))
  (import "athanor" "exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "{data}")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const {length}))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (call $sleep (i64.const {sleep_ns}))
    (call $exit (i32.const {code}))))
"""
OUTPUT = b"a\x01b\x1b[0m  \r\n\tc \x7f\r"


def writer(tmp_path, output, code, sleep_ns=0):
    data = "".join(f"\\{b:02x}" for b in output)
    wat = WRITER_WAT.format(data=data, length=len(output), code=code, sleep_ns=sleep_ns)
    return write_appliance(tmp_path, '[appliance]\nname = "writer"\n[[app]]\nname = "writer"\n'
                           'source = "writer.wat"\ngrants = ["stdout"]\n', {"writer.wat": wat})


def run(app, *extra, timeout=120):
    return subprocess.run([sys.executable, str(BUILD_PY), "run", str(app), *extra],
                          capture_output=True, timeout=timeout, cwd=ROOT,
                          stdin=subprocess.DEVNULL)


def test_output_passes_through_byte_for_byte(tools, tmp_path):
    result = run(writer(tmp_path, OUTPUT, 200), "--timeout", "90")
    assert result.returncode == 200, result.stdout + result.stderr
    out = result.stdout
    # the kernel's lines before, the program's bytes exactly, then the kernel's exit line on
    # a line of its own (the program left its last line unfinished)
    assert OUTPUT + b"\n[athanor] exit code 200\n" in out, out
    before = out[:out.index(OUTPUT)]
    assert before.endswith(b"[athanor] random: RDRAND\n") or before.endswith(b"RDSEED\n") or \
        b"[athanor] random:" in before.splitlines()[-1], before


def test_no_time_limit_unless_asked(tools, tmp_path):
    app = writer(tmp_path, b"slow\n", 3, sleep_ns=3_000_000_000)
    limited = run(app, "--timeout", "1")
    assert limited.returncode == 125, limited.stdout + limited.stderr
    assert b"timeout after 1 s (--timeout)" in limited.stderr
    unlimited = run(app)
    assert unlimited.returncode == 3 and b"slow\n" in unlimited.stdout, unlimited.stderr


def test_run_help_says_there_is_no_default_limit():
    result = subprocess.run([sys.executable, str(BUILD_PY), "run", "--help"],
                            capture_output=True, text=True)
    assert "default: no limit" in " ".join(result.stdout.split())     # however argparse wraps
