"""`./build.py new NAME`: a new appliance with one WAT app that logs a line."""
from .errors import AzothError
from .manifest import NAME_PATTERN

MANIFEST = """[appliance]
name = "{name}"
version = "0.1.0"
bounds = "guard"

[[app]]
name = "main"
source = "main.wat"
grants = ["log"]
"""

APP = """(module
  (import "athanor" "log" (func $log (param i32 i32)))
  (memory 1)
  (data (i32.const 0) "Hello from {name}")
  (func (export "_start")
    (call $log (i32.const 0) (i32.const {length}))))
"""


def create(appliances, name):
    if not NAME_PATTERN.match(name):
        raise AzothError("AZ-M005", f"invalid appliance name {name!r}: 1-31 characters of a-z, "
                         "0-9, '_' or '-', starting with a letter")
    path = appliances / name
    if path.exists():
        raise AzothError("AZ-M006", f"{path} already exists")
    path.mkdir(parents=True)
    (path / "appliance.toml").write_text(MANIFEST.format(name=name))
    (path / "main.wat").write_text(APP.format(name=name, length=len(f"Hello from {name}")))
    return path
