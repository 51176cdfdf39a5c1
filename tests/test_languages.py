"""Every language build.py knows (azoth/sources.py): its example appliance, copied by
`./build.py new NAME --lang LANG` as a new user would, builds and runs and prints its args, its
environment and its file; a Cargo crate; C++ without exceptions; wasm-opt passes; and the
errors that name a source's language."""
import hashlib

import pytest

from conftest import ROOT, build_py, logging_app, long_run, manifest_for, write_appliance
from azoth import alko, appliance, sources, template

LANGUAGE_NAMES = {"c": "C", "cpp": "C++", "rust": "Rust", "as": "AssemblyScript",
                  "wat": "WebAssembly text"}


def run_or_skip_offline(path):
    """./build.py run PATH; an AssemblyScript build skips (in one line) when npm cannot reach
    its registry, as a machine without network cannot install the compiler."""
    result = build_py("run", path, timeout=300)
    if "AZ-T008" in result.stderr:
        pytest.skip("AssemblyScript needs the npm registry once (build/assemblyscript/): "
                    + result.stderr.strip().splitlines()[0])
    return result


def test_every_language_has_an_example():
    assert set(template.languages()) == set(LANGUAGE_NAMES)
    assert {lang.key for lang in sources.LANGUAGES} == set(LANGUAGE_NAMES) | {"wasm"}


@pytest.mark.parametrize("lang", sorted(LANGUAGE_NAMES))
def test_new_appliance_in_each_language_runs(lang, tools, tmp_path):
    path = template.create(tmp_path, f"my-{lang}", lang)
    assert f'name = "my-{lang}"' in (path / "appliance.toml").read_text()
    result = run_or_skip_offline(path)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if not line.startswith("[athanor]")]
    assert lines == [f"Hello from {LANGUAGE_NAMES[lang]}: main Ada Lovelace",
                     "/etc/motd: Baked into the image by build.py."], result.stdout


@pytest.mark.parametrize("bounds", ["guard", "checked"] if long_run() else ["guard"])
def test_c_appliance_on_the_optimizing_tier(bounds, tools, tmp_path):
    """The C example with opt = "speed" (docs/opt-tier.md): WASI, args, env and a file through
    the optimizing tier's code, booted in the kernel; checked mode with --long only (the attack
    tests boot the tier in both modes)."""
    path = template.create(tmp_path, "my-c", "c")
    toml = path / "appliance.toml"
    head = f'[appliance]\nopt = "speed"\nbounds = "{bounds}"\n'
    toml.write_text(toml.read_text().replace("[appliance]\n", head, 1))
    result = run_or_skip_offline(path)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if not line.startswith("[athanor]")]
    assert lines == ["Hello from C: main Ada Lovelace",
                     "/etc/motd: Baked into the image by build.py."], result.stdout
    where = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:10]
    obj = appliance.WORK / f"my-c-{where}" / f"main.{bounds}.opt.alko"
    assert alko.ObjectFile(obj.read_bytes(), str(obj)).tier == "speed"


def test_new_refuses_an_unknown_language_and_an_existing_folder(tmp_path):
    result = build_py("new", "x", "--lang", "cobol")
    assert result.returncode == 2 and "invalid choice: 'cobol'" in result.stderr
    template.create(tmp_path, "x", "c")
    with pytest.raises(Exception, match="already exists"):
        template.create(tmp_path, "x", "c")


def test_a_cargo_crate(tools, tmp_path):
    crate = write_appliance(tmp_path, manifest_for("crate", [("main", "Cargo.toml",
                                                               ["stdout", "args", "env"])]), {
        "Cargo.toml": '[package]\nname = "hello-crate"\nversion = "0.1.0"\nedition = "2021"\n',
        "src/main.rs": 'mod greet;\nfn main() { greet::hello(); std::process::exit(5); }\n',
        "src/greet.rs": 'pub fn hello() { println!("a crate of {} files", 2); }\n',
    })
    result = build_py("run", crate, timeout=300)
    assert result.returncode == 5, result.stdout + result.stderr
    assert "a crate of 2 files" in result.stdout.splitlines()
    # a change to another file of the crate rebuilds it
    (crate / "src" / "greet.rs").write_text('pub fn hello() { println!("changed"); }\n')
    result = build_py("run", crate, timeout=300)
    assert "changed" in result.stdout.splitlines(), result.stdout + result.stderr


def test_cpp_has_no_exceptions(tools, tmp_path):
    app = write_appliance(tmp_path, manifest_for("throws", [("main", "main.cc", ["stdout"])]), {
        "main.cc": 'int main() { try { throw 1; } catch (int) {} return 0; }\n'})
    result = build_py("build", app, "--no-iso")
    assert result.returncode == 1
    assert "AZ-S001" in result.stderr and "exceptions disabled" in result.stderr


def test_rust_is_debians_rustc():
    argv, _, _ = sources.command(type("M", (), {
        "sources": [ROOT / "appliances" / "lang-rust" / "main.rs"], "name": "main",
        "rustflags": []})(), "out.wasm", "work")
    assert argv[0] == "/usr/bin/rustc" and "wasm32-wasi" in argv


def test_wasm_opt_passes(tools, tmp_path, out_dir):
    # exported: wasm-opt drops a memory the module itself never reads, though the kernel does
    wat = logging_app("optimised").replace("(memory 1)", '(memory (export "memory") 1)')
    text = manifest_for("opt", [("a", "a.wat", ["log"])]) + 'wasm_opt = ["-O3", "--strip-debug"]\n'
    app = write_appliance(tmp_path / "app", text, {"a.wat": wat})
    result = build_py("-v", "run", app)
    assert result.returncode == 0 and "optimised" in result.stdout, result.stderr
    assert "wasm-opt --debuginfo -O3 --strip-debug" in result.stderr
    # a pass wasm-opt does not know fails the build, naming the module
    (app / "appliance.toml").write_text(text.replace('"-O3"', '"--no-such-pass"'))
    result = build_py("build", app, "--out", out_dir)
    assert result.returncode == 1 and "AZ-S003" in result.stderr and "app[0] (a)" in result.stderr


@pytest.mark.parametrize("source, files, code, words", [
    ('"main.py"', {"main.py": ""}, "AZ-M020", "not a language build.py knows"),
    ('["a.c", "b.rs"]', {"a.c": "", "b.rs": ""}, "AZ-M021", "the sources mix languages (C, Rust)"),
    ('["a.rs", "b.rs"]', {"a.rs": "", "b.rs": ""}, "AZ-M021",
     "several sources are allowed only for C"),
])
def test_source_errors(tmp_path, source, files, code, words):
    text = f'[appliance]\nname = "x"\n[[app]]\nname = "a"\nsource = {source}\n'
    app = write_appliance(tmp_path, text, files)
    result = build_py("build", app)
    assert result.returncode == 1 and code in result.stderr and words in result.stderr


def test_an_app_without_start_is_a_warning(tools, tmp_path, out_dir):
    wat = '(module (func (export "_star")))'
    app = write_appliance(tmp_path, manifest_for("nostart", [("a", "a.wat", [])]), {"a.wat": wat})
    result = build_py("build", app, "--out", out_dir, "--no-iso")
    assert result.returncode == 0, result.stderr
    assert "warning AZ-W001: app[0].source: app 'a' exports no '_start' function" in result.stderr
    assert "(its exported functions: _star): is '_star' a misspelt '_start'?" in result.stderr
    assert f"{app / 'appliance.toml'}:8: warning" in result.stderr


def test_manifest_readme_lists_every_language():
    readme = (ROOT / "manifest" / "README.md").read_text()
    for lang in sources.LANGUAGES:
        for suffix in lang.suffixes:
            assert f"`{suffix}`" in readme, f"manifest/README.md lacks {suffix} ({lang.name})"
        if lang.key != "wasm":
            assert f"| `{lang.key}` |" in readme, f"manifest/README.md lacks --lang {lang.key}"
