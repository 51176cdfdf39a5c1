"""Appliances end to end: build, boot through each path, exit codes, traps, both bounds modes,
both CPU models."""
import pytest

from conftest import ROOT, build_py, logging_app, manifest_for, write_appliance


def test_hello_through_kernel_boot(tools):
    result = build_py("run", ROOT / "appliances" / "hello")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert "Hello from Azoth" in lines
    assert lines.index("Hello from Azoth") > 0 and lines[0].startswith("[athanor] Athanor")
    assert "QEMU start to first module output" in result.stderr


def test_an_appliance_that_ends_while_input_is_still_open(tools):
    """`run` with its stdin a pipe that stays open after the appliance ends (a script feeding
    an interactive appliance): the exit code comes back, and Python does not abort at shutdown
    over the thread that was forwarding input (it once did: SIGABRT, status -6)."""
    import subprocess
    import sys
    proc = subprocess.Popen([sys.executable, str(ROOT / "build.py"), "run",
                             str(ROOT / "appliances" / "fib")], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        status = proc.wait(timeout=120)             # stdin still open
        err = proc.stderr.read().decode()
    finally:
        proc.stdin.close()
        if proc.poll() is None:
            proc.kill()
    assert status == 55 and "Fatal Python error" not in err, (status, err[-2000:])


def test_fib_exit_code_comes_back(tools):
    result = build_py("run", ROOT / "appliances" / "fib")
    assert result.returncode == 55, result.stdout + result.stderr
    assert "fib(10) = 55" in result.stdout.splitlines()
    assert "fib(7) = 13" in result.stdout.splitlines()


def test_hello_through_grub_bios(tools):
    result = build_py("run", ROOT / "appliances" / "hello", "--iso")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "(multiboot2," in result.stdout and "Hello from Azoth" in result.stdout.splitlines()


def test_hello_through_grub_uefi(tools):
    result = build_py("run", ROOT / "appliances" / "hello", "--uefi", timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Hello from Azoth" in result.stdout.splitlines()


@pytest.mark.parametrize("cpu", ["qemu64", "max"])
def test_both_cpu_models(tools, cpu):
    result = build_py("run", ROOT / "appliances" / "fib", "--cpu", cpu)
    assert result.returncode == 55 and "fib(10) = 55" in result.stdout


@pytest.mark.parametrize("code", [1, 119, 120, 200, 255])
def test_exit_codes(tools, tmp_path, code):
    app = write_appliance(tmp_path, manifest_for("code", [("a", "a.wat", ["log"])]),
                          {"a.wat": logging_app("bye", code)})
    result = build_py("run", app)
    assert result.returncode == code, result.stdout + result.stderr
    assert "bye" in result.stdout.splitlines()


def test_returning_from_start_is_exit_zero(tools, tmp_path):
    app = write_appliance(tmp_path, manifest_for("ret", [("a", "a.wat", ["log"])]),
                          {"a.wat": logging_app("done")})
    result = build_py("run", app)
    assert result.returncode == 0 and "done" in result.stdout


def test_drivers_start_before_apps(tools, tmp_path):
    text = ('[appliance]\nname = "order"\n\n[[app]]\nname = "second"\nsource = "b.wat"\n'
            'grants = ["log"]\n\n[[driver]]\nname = "first"\nsource = "a.wat"\ngrants = ["log"]\n')
    app = write_appliance(tmp_path, text, {"a.wat": logging_app("driver up"),
                                           "b.wat": logging_app("app up", 3)})
    result = build_py("run", app)
    lines = result.stdout.splitlines()
    assert result.returncode == 3 and lines.index("driver up") < lines.index("app up")


TRAP = {
    "unreachable": "unreachable",
    "(drop (i32.div_u (i32.const 1) (i32.const 0)))": "integer divide by zero",
    "(drop (i32.load (i32.const 65534)))": "out of bounds memory access",
    "(i32.store (i32.const -1) (i32.const 1))": "out of bounds memory access",
    "(drop (i32.trunc_f32_s (f32.const nan)))": "invalid conversion to integer",
}


@pytest.mark.parametrize("bounds", ["checked", "guard"])
@pytest.mark.parametrize("body", list(TRAP))
def test_trap_ends_the_appliance(tools, tmp_path, bounds, body):
    wat = f'(module (memory 1) (func (export "_start") {body}))'
    app = write_appliance(tmp_path, manifest_for("trap", [("worker", "a.wat", [])], bounds),
                          {"a.wat": wat})
    result = build_py("run", app)
    assert result.returncode == 125, result.stdout + result.stderr
    assert f"[athanor] module worker: trapped: {TRAP[body]}" in result.stdout
    assert "appliance failed" in result.stderr


def test_log_outside_memory_traps(tools, tmp_path):
    wat = ('(module (import "athanor" "log" (func $log (param i32 i32))) (memory 1)'
           ' (func (export "_start") (call $log (i32.const 65530) (i32.const 100))))')
    app = write_appliance(tmp_path, manifest_for("oob", [("a", "a.wat", ["log"])]), {"a.wat": wat})
    result = build_py("run", app)
    assert result.returncode == 125
    assert "module a: trapped: out of bounds memory access" in result.stdout


def test_deep_recursion_is_stack_exhaustion(tools, tmp_path):
    wat = '(module (func $f (call $f)) (func (export "_start") (call $f)))'
    app = write_appliance(tmp_path, manifest_for("deep", [("a", "a.wat", [])]), {"a.wat": wat})
    result = build_py("run", app)
    assert result.returncode == 125 and "trapped: call stack exhausted" in result.stdout


def test_memory_grow_up_to_the_manifest_limit(tools, tmp_path):
    # memory = 256K: 4 pages; growing from 1 by 3 works, by 1 more fails
    wat = ('(module (import "athanor" "exit" (func $exit (param i32))) (memory 1)'
           ' (func (export "_start")'
           '  (if (i32.ne (memory.grow (i32.const 3)) (i32.const 1)) (then (call $exit (i32.const 1))))'
           '  (i32.store (i32.const 262140) (i32.const 7))'
           '  (if (i32.ne (memory.grow (i32.const 1)) (i32.const -1)) (then (call $exit (i32.const 2))))'
           '  (call $exit (i32.load (i32.const 262140)))))')
    text = manifest_for("grow", [("a", "a.wat", [])]) + 'memory = "256K"\n'
    app = write_appliance(tmp_path, text, {"a.wat": wat})
    result = build_py("run", app)
    assert result.returncode == 7, result.stdout + result.stderr


def test_echo_with_piped_input(tools):
    """All input at once, before the appliance is up: nothing is lost, everything is echoed,
    and the app's last replies are written before the appliance ends."""
    import subprocess
    import sys
    result = subprocess.run([sys.executable, str(ROOT / "build.py"), "run",
                             ROOT / "appliances" / "echo"], input="first\nsecond one\nquit\n",
                            capture_output=True, text=True, timeout=120, cwd=ROOT)
    lines = result.stdout.splitlines()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "echo: first" in lines and "echo: second one" in lines, lines
    assert "echo: quit" not in lines
