"""At run time, the first refusal of something no grant covers (a WASI descriptor, a port, a
channel) prints one kernel line naming the module, the call and the grant that would allow it;
later refusals of the same module stay quiet (the trace ring keeps them)."""
import re

from conftest import build_py, write_appliance

READS_STDIN_C = """#include <stdio.h>
int main(void)
{
    char line[64];
    for (int i = 0; i < 2; i++)
        if (!fgets(line, sizeof line, stdin))
            printf("read %d: nothing\\n", i);
    return 3;
}
"""

OPENS_PORT_WAT = """(module
  (import "athanor" "port_open" (func $port_open (param i32 i32) (result i32)))
  (import "athanor" "channel_open" (func $channel_open (param i32 i32) (result i32)))
  (import "athanor" "exit" (func $exit (param i32)))
  (memory 1)
  (data (i32.const 0) "elsewhere")
  (func (export "_start")
    (local $a i32) (local $b i32) (local $c i32)
    (local.set $a (call $port_open (i32.const 0x60) (i32.const 1)))
    (local.set $b (call $port_open (i32.const 0x60) (i32.const 4)))
    (local.set $c (call $channel_open (i32.const 0) (i32.const 9)))
    ;; every one refused (a negative error), then exit 5
    (if (i32.and (i32.and (i32.lt_s (local.get $a) (i32.const 0))
                          (i32.lt_s (local.get $b) (i32.const 0)))
                 (i32.lt_s (local.get $c) (i32.const 0)))
      (then (call $exit (i32.const 5))))
    (call $exit (i32.const 1))))
"""

HINT = re.compile(r"^\[athanor\] module (\S+): (\S+) refused: no grant covers it; (.*)$", re.M)


def test_a_descriptor_no_grant_gives(tools, tmp_path):
    app = write_appliance(tmp_path, """[appliance]
name = "reader"
[[app]]
name = "reader"
source = "reader.c"
grants = ["stdout", "files"]
""", {"reader.c": READS_STDIN_C})
    result = build_py("run", app)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "read 0: nothing" in result.stdout and "read 1: nothing" in result.stdout
    assert HINT.findall(result.stdout) == \
        [("reader", "fd_read(0)", 'add "stdin" to its grants')], result.stdout


def prober(tmp_path, name, wat):
    """An appliance whose module NAME (granted ports 0x70-0x71, and the sending end of channel
    "mine") runs WAT, next to a module `other` that owns channel "elsewhere"."""
    return write_appliance(tmp_path, f"""[appliance]
name = "{name}"
[[app]]
name = "{name}"
source = "{name}.wat"
grants = ["port:0x70-0x71"]
[[app]]
name = "other"
source = "other.wat"
[[channel]]
name = "mine"
from = "{name}"
to = "other"
[[channel]]
name = "elsewhere"
from = "other"
to = "other"
""", {f"{name}.wat": wat, "other.wat": '(module (func (export "_start")))'})


def test_a_port_and_a_channel_no_grant_gives(tools, tmp_path):
    result = build_py("run", prober(tmp_path, "prober", OPENS_PORT_WAT))
    assert result.returncode == 5, result.stdout + result.stderr
    # the first refusal only: the second port and the channel are refused quietly
    assert HINT.findall(result.stdout) == \
        [("prober", "port_open", 'add "port:0x60" to its grants')], result.stdout


def test_the_first_refusal_of_each_module(tools, tmp_path):
    channel_only = OPENS_PORT_WAT.replace("(call $port_open (i32.const 0x60) (i32.const 1))",
                                          "(i32.const -1)").replace(
        "(call $port_open (i32.const 0x60) (i32.const 4))", "(i32.const -1)")
    result = build_py("run", prober(tmp_path, "asker", channel_only))
    assert result.returncode == 5, result.stdout + result.stderr
    assert HINT.findall(result.stdout) == \
        [("asker", "channel_open",
          "make it the 'from' or 'to' module of [[channel]] \"elsewhere\"")], result.stdout
