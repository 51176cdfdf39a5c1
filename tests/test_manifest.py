"""The manifest: every kind of bad input is an error naming the file, the key (with its line)
and what was expected; good input loads with the documented defaults."""
import re

import pytest

from conftest import ROOT, build_py, logging_app, manifest_for, write_appliance
from azoth import manifest as manifest_module
from azoth.errors import AzothError

HELLO = logging_app("hi")


def load_error(tmp_path, text, files=None):
    write_appliance(tmp_path, text, files if files is not None else {"a.wat": HELLO})
    with pytest.raises(AzothError) as info:
        manifest_module.load(tmp_path)
    return info.value


def test_defaults(tmp_path):
    write_appliance(tmp_path, '[appliance]\nname = "x"\n[[app]]\nname = "a"\nsource = "a.wat"\n',
                    {"a.wat": HELLO})
    m = manifest_module.load(tmp_path)
    assert (m.name, m.version, m.memory, m.bounds) == ("x", "0.1.0", 128 << 20, "guard")
    a = m.modules[0]
    assert (a.kind, a.grants, a.memory, a.args, a.env, a.restart) == \
        ("app", [], 64 << 20, [], {}, "never")


def test_unknown_key_names_key_and_line(tmp_path):
    e = load_error(tmp_path, '[appliance]\nname = "x"\n\n[[app]]\nname = "a"\nsource = "a.wat"\n'
                             'grant = ["log"]\n')
    assert e.code == "AZ-M002" and e.line == 7 and e.key == "app[0].grant"
    assert "unknown key 'grant'" in str(e) and "grants" in str(e)
    assert str(e).startswith(f"{tmp_path / 'appliance.toml'}:7: error AZ-M002")


def test_unknown_table(tmp_path):
    e = load_error(tmp_path, '[appliance]\nname = "x"\n[[service]]\nname = "a"\n')
    assert e.code == "AZ-M002" and e.line == 3


def test_wrong_type(tmp_path):
    e = load_error(tmp_path, '[appliance]\nname = "x"\n[[app]]\nname = "a"\nsource = "a.wat"\n'
                             'grants = "log"\n')
    assert e.code == "AZ-M003" and e.line == 6 and "expected a list of strings" in e.message


def test_bad_choice(tmp_path):
    e = load_error(tmp_path, '[appliance]\nname = "x"\nbounds = "fast"\n'
                             '[[app]]\nname = "a"\nsource = "a.wat"\n')
    assert e.code == "AZ-M005" and e.line == 3 and "'checked', 'guard'" in e.message


def test_opt_is_the_appliance_tier_unless_a_module_overrides_it(tmp_path):
    apps = ''.join(f'[[app]]\nname = "{n}"\nsource = "a.wat"\n{extra}'
                   for n, extra in (("a", ""), ("b", 'opt = "none"\n'), ("c", 'opt = "speed"\n')))
    for appliance_opt, expected in (("", ["none", "none", "speed"]),
                                    ('opt = "speed"\n', ["speed", "none", "speed"])):
        write_appliance(tmp_path, f'[appliance]\nname = "x"\n{appliance_opt}{apps}',
                        {"a.wat": HELLO})
        m = manifest_module.load(tmp_path)
        assert m.opt == ("speed" if appliance_opt else "none")
        assert [a.opt for a in m.modules] == expected
    e = load_error(tmp_path, '[appliance]\nname = "x"\nopt = "fast"\n'
                             '[[app]]\nname = "a"\nsource = "a.wat"\n')
    assert e.code == "AZ-M005" and e.line == 3 and "'none', 'speed'" in e.message
    e = load_error(tmp_path, '[appliance]\nname = "x"\n[[app]]\nname = "a"\nsource = "a.wat"\n'
                             'opt = "O3"\n')
    assert e.code == "AZ-M005" and e.line == 6 and "'speed'" in e.message


def test_bad_size(tmp_path):
    e = load_error(tmp_path, '[appliance]\nname = "x"\n[[app]]\nname = "a"\nsource = "a.wat"\n'
                             'memory = "lots"\n')
    assert e.code == "AZ-M003" and e.line == 6 and "64M" in e.message
    e = load_error(tmp_path, '[appliance]\nname = "x"\n[[app]]\nname = "a"\nsource = "a.wat"\n'
                             'memory = "100K"\n')
    assert e.code == "AZ-M019" and "multiple of 64K" in e.message


def test_missing_source_file(tmp_path):
    e = load_error(tmp_path, '[appliance]\nname = "x"\n[[app]]\nname = "a"\nsource = "nope.wat"\n')
    assert e.code == "AZ-M007" and e.line == 5 and "nope.wat" in e.message


def test_missing_required_key(tmp_path):
    e = load_error(tmp_path, '[appliance]\nname = "x"\n[[app]]\nsource = "a.wat"\n')
    assert e.code == "AZ-M004" and e.line == 3 and "'name'" in e.message


def test_duplicate_names(tmp_path):
    e = load_error(tmp_path, '[appliance]\nname = "x"\n[[driver]]\nname = "a"\nsource = "a.wat"\n'
                             '[[app]]\nname = "a"\nsource = "a.wat"\n')
    assert e.code == "AZ-M006" and e.line == 7 and "also driver[0]" in e.message


def test_unknown_capability(tmp_path):
    e = load_error(tmp_path, manifest_for("x", [("a", "a.wat", ["logs"])]))
    assert e.code == "AZ-M009" and "'logs'" in e.message and "log" in e.message


def test_toml_syntax_error(tmp_path):
    e = load_error(tmp_path, '[appliance]\nname = "x\n')
    assert e.code == "AZ-M001" and e.line == 2


def test_no_modules(tmp_path):
    e = load_error(tmp_path, '[appliance]\nname = "x"\n')
    assert e.code == "AZ-M004"


def test_every_key_documented():
    readme = (ROOT / "manifest" / "README.md").read_text()
    for section, keys in manifest_module.SECTIONS.items():
        for key in keys:
            assert re.search(rf"^\| `{key}` \|", readme, re.M), f"[{section}] {key} undocumented"


# ---- Through build.py: the error is printed, the exit status is 1, nothing is written ----------

def test_ungranted_import_fails_the_build(tmp_path, out_dir, tools):
    app = write_appliance(tmp_path / "app", manifest_for("nolog", [("a", "a.wat", [])]),
                          {"a.wat": HELLO})
    result = build_py("build", app, "--out", out_dir)
    assert result.returncode == 1
    assert "AZ-M008" in result.stderr and "athanor.log" in result.stderr
    assert "add 'log' to its grants" in result.stderr
    assert "appliance.toml:" in result.stderr
    assert list(out_dir.iterdir()) == []


def test_import_the_kernel_lacks(tmp_path, out_dir, tools):
    wat = '(module (import "athanor" "teleport" (func)) (func (export "_start")))'
    app = write_appliance(tmp_path / "app", manifest_for("tp", [("a", "a.wat", ["log"])]),
                          {"a.wat": wat})
    result = build_py("build", app, "--out", out_dir)
    assert result.returncode == 1 and "AZ-M010" in result.stderr
    assert "athanor.teleport" in result.stderr and list(out_dir.iterdir()) == []


def test_import_with_the_wrong_signature(tmp_path, out_dir, tools):
    wat = '(module (import "athanor" "log" (func (param i32))) (func (export "_start")))'
    app = write_appliance(tmp_path / "app", manifest_for("sig", [("a", "a.wat", ["log"])]),
                          {"a.wat": wat})
    result = build_py("build", app, "--out", out_dir)
    assert result.returncode == 1 and "AZ-M011" in result.stderr
    assert "(i32) -> ()" in result.stderr and "(i32, i32) -> ()" in result.stderr


def test_invalid_wasm_is_a_compile_error(tmp_path, out_dir, tools):
    bad = b"\0asm\x01\0\0\0\x01\x04\x01\x60\x00"   # a truncated type section
    app = write_appliance(tmp_path / "app", manifest_for("bad", [("a", "a.wasm", [])]),
                          {"a.wasm": bad})
    result = build_py("build", app, "--out", out_dir)
    assert result.returncode == 1 and "AZ-C001" in result.stderr and "ALK-E" in result.stderr
    assert list(out_dir.iterdir()) == []


def test_wat_syntax_error(tmp_path, out_dir, tools):
    app = write_appliance(tmp_path / "app", manifest_for("syn", [("a", "a.wat", [])]),
                          {"a.wat": "(module (func"})
    result = build_py("build", app, "--out", out_dir)
    assert result.returncode == 1 and "AZ-S001" in result.stderr and "a.wat" in result.stderr
    assert list(out_dir.iterdir()) == []


def test_initial_memory_beyond_the_limit(tmp_path, out_dir, tools):
    wat = '(module (memory 4) (func (export "_start")))'
    text = manifest_for("big", [("a", "a.wat", [])]) + 'memory = "128K"\n'
    app = write_appliance(tmp_path / "app", text, {"a.wat": wat})
    result = build_py("build", app, "--out", out_dir)
    assert result.returncode == 1 and "AZ-M013" in result.stderr and "4 pages" in result.stderr


# ---- [[file]], args, env, cflags, and grants that exclude each other ----------------------------

FILE_APP = '[appliance]\nname = "x"\n[[app]]\nname = "a"\nsource = "a.wat"\ngrants = ["files"]\n'


def test_files_load_with_their_guest_paths(tmp_path):
    write_appliance(tmp_path, FILE_APP + '[[file]]\nhost = "m.txt"\nguest = "/etc/motd"\n'
                    '[[file]]\nhost = "sub/d.bin"\nguest = "/data/d.bin"\n',
                    {"a.wat": HELLO, "m.txt": "hi\n", "sub/d.bin": b"\0\1"})
    m = manifest_module.load(tmp_path)
    assert [(f.host, f.guest) for f in m.files] == [(tmp_path / "m.txt", "/etc/motd"),
                                                     (tmp_path / "sub" / "d.bin", "/data/d.bin")]


@pytest.mark.parametrize("entry, code, key, words", [
    ('host = "none.txt"\nguest = "/x"', "AZ-M007", "host", "'none.txt' not found"),
    ('host = "m.txt"\nguest = "etc/motd"', "AZ-M025", "guest", "absolute path"),
    ('host = "m.txt"\nguest = "/etc/../motd"', "AZ-M025", "guest", "normal path"),
    ('host = "m.txt"\nguest = "/etc//motd"', "AZ-M025", "guest", "normal path"),
    ('host = "m.txt"\nguest = "/etc/"', "AZ-M025", "guest", "trailing '/'"),
    ('host = "m.txt"\nguest = "/"', "AZ-M025", "guest", "normal path"),
    (f'host = "m.txt"\nguest = "/{"a" * 255}"', "AZ-M025", "guest", "path too long: 256 bytes"),
    ('host = "m.txt"', "AZ-M004", None, "'guest'"),
    ('host = "m.txt"\nguest = 7', "AZ-M003", "guest", "expected a string"),
    ('host = "m.txt"\nguest = "/a"\nmode = "rw"', "AZ-M002", "mode", "unknown key 'mode'"),
])
def test_bad_files(tmp_path, entry, code, key, words):
    e = load_error(tmp_path, FILE_APP + f"[[file]]\n{entry}\n", {"a.wat": HELLO, "m.txt": "hi"})
    assert e.code == code and words in e.message, e
    assert e.key == (f"file[0].{key}" if key else "file[0]") and e.line is not None, e


def test_duplicate_and_nested_guest_paths(tmp_path):
    files = {"a.wat": HELLO, "m.txt": "hi"}
    e = load_error(tmp_path, FILE_APP + '[[file]]\nhost = "m.txt"\nguest = "/etc/motd"\n'
                   '[[file]]\nhost = "m.txt"\nguest = "/etc/motd"\n', files)
    assert e.code == "AZ-M006" and e.key == "file[1].guest" and e.line == 12
    assert "duplicate guest path '/etc/motd' (also file[0])" in e.message
    e = load_error(tmp_path, FILE_APP + '[[file]]\nhost = "m.txt"\nguest = "/etc/motd"\n'
                   '[[file]]\nhost = "m.txt"\nguest = "/etc"\n', files)
    assert e.code == "AZ-M025" and "'/etc' would be both a file and the directory" in e.message


@pytest.mark.parametrize("extra, key, words", [
    ('env = { "A=B" = "x" }', "env", "without '='"),
    ('env = { "" = "x" }', "env", "non-empty"),
    ('env = { A = "x\\u0000y" }', "env", "NUL"),
    ('args = ["a\\u0000b"]', "args", "NUL"),
    ('cflags = ["-O3"]', "cflags", "C and C++ sources only"),
    ('cflags = "-O3"', "cflags", "a list of strings"),
])
def test_bad_args_env_and_cflags(tmp_path, extra, key, words):
    e = load_error(tmp_path, '[appliance]\nname = "x"\n[[app]]\nname = "a"\nsource = "a.wat"\n'
                   + extra + "\n")
    assert words in e.message and e.key in (f"app[0].{key}", f"app[0].{key}.A") and e.line == 6, e


def test_stdin_and_a_driver_on_the_console_exclude_each_other(tmp_path):
    e = load_error(tmp_path, '[appliance]\nname = "x"\n[[driver]]\nname = "console"\n'
                   'source = "a.wat"\ngrants = ["port:0x3f8-0x3ff", "irq:4"]\n'
                   '[[app]]\nname = "a"\nsource = "a.wat"\ngrants = ["stdin", "stdout"]\n')
    assert e.code == "AZ-M017" and e.key == "app[0].grants" and e.line == 10, e
    assert "driver[0] (console)" in e.message and "'port:0x3f8-0x3ff'" in e.message
    write_appliance(tmp_path, '[appliance]\nname = "x"\n[[driver]]\nname = "com2"\n'
                    'source = "a.wat"\ngrants = ["port:0x2f8-0x2ff"]\n'
                    '[[app]]\nname = "a"\nsource = "a.wat"\ngrants = ["stdin"]\n',
                    {"a.wat": HELLO})
    assert manifest_module.load(tmp_path).modules[1].capabilities == {"stdin"}


NEEDS_FLAG = ("#ifndef GREETING\n#error GREETING is not defined\n#endif\n"
              "const char *greeting(void) { return GREETING; }\n")
MAIN = ('#include <stdio.h>\nconst char *greeting(void);\n'
        'int main(void) { puts(greeting()); return 0; }\n')


def test_several_c_sources_and_cflags(tmp_path, out_dir, tools):
    text = ('[appliance]\nname = "flags"\n[[app]]\nname = "a"\nsource = ["main.c", "greeting.c"]\n'
            'grants = ["stdout"]\ncflags = ["-DGREETING=\\"hi\\"", "-Wall"]\n')
    app = write_appliance(tmp_path / "app", text, {"main.c": MAIN, "greeting.c": NEEDS_FLAG})
    result = build_py("build", app, "--out", out_dir, "--no-iso")
    assert result.returncode == 0, result.stderr
    # the flags are part of what is cached: without them the same sources no longer build
    (app / "appliance.toml").write_text(text.replace('cflags = ["-DGREETING=\\"hi\\"", "-Wall"]\n',
                                                     ""))
    result = build_py("build", app, "--out", out_dir, "--no-iso")
    assert result.returncode == 1 and "AZ-S001" in result.stderr
    assert "GREETING is not defined" in result.stderr


# ---- Every error at once, each at its element, with suggestions -------------------------------

SEVERAL_ERRORS = """[appliance]
name = "x"

[[app]]
name = "a"
source = "a.wat"
grnats = ["log"]
env = { PORT = 8080, HOST = "h" }

[[app]]
name = "b"
source = "a.wat"
grants = [
  "log",
  "clocks",
  "environment",
]

[[channel]]
name = "c"
from = "a"
to = "bb"

[[apps]]
name = "c"
"""


def test_all_errors_at_once_each_at_its_line(tmp_path):
    e = load_error(tmp_path, SEVERAL_ERRORS)
    found = [(x.line, x.code, x.key) for x in e.errors]
    assert found == [(7, "AZ-M002", "app[0].grnats"), (8, "AZ-M003", "app[0].env.PORT"),
                     (15, "AZ-M009", "app[1].grants"), (16, "AZ-M009", "app[1].grants"),
                     (22, "AZ-M014", "channel[0].to"), (24, "AZ-M002", "apps[0]")], found
    text = str(e).splitlines()
    assert len(text) == 6 and all(line.startswith(f"{tmp_path / 'appliance.toml'}:")
                                  for line in text)
    assert "unknown key 'grnats' (did you mean 'grants'?)" in text[0]
    assert "expected a string, got an integer 8080 (write PORT = \"8080\")" in text[1]
    assert "unknown capability 'clocks' (did you mean 'clock'?)" in text[2]
    assert "unknown capability 'environment' (did you mean 'env'?)" in text[3]
    assert "no module named 'bb' (did you mean 'b'?)" in text[4]
    assert "unknown table 'apps' (did you mean 'app'?)" in text[5]


def test_errors_stop_at_a_limit(tmp_path):
    grants = ", ".join(f'"nope{i}"' for i in range(30))
    e = load_error(tmp_path, manifest_for("x", [("a", "a.wat", [])]).replace(
        "grants = []", f"grants = [{grants}]"))
    assert len(e.errors) == 30
    lines = str(e).splitlines()
    assert len(lines) == 21 and lines[-1] == "... and 10 more errors"


def test_a_list_item_of_the_wrong_type_is_named(tmp_path):
    e = load_error(tmp_path, manifest_for("x", [("a", "a.wat", [])]) + "args = [\n  \"a\",\n  7,\n]\n")
    assert e.code == "AZ-M003" and "item 2: expected a string, got an integer 7" in e.message
    assert e.line == 12
