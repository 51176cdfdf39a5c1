"""`./build.py new NAME [--lang LANG]`: a new appliance, a copy of the example appliance of that
language (appliances/lang-LANG: a program that reads its args, env and a file), renamed."""
import re
import shutil
from pathlib import Path

from . import sources
from .errors import AzothError
from .manifest import MANIFEST_NAME, NAME_PATTERN, NAME_RULE

EXAMPLES = Path(__file__).resolve().parent.parent / "appliances"
DEFAULT_LANGUAGE = "c"


def languages():
    """The --lang choices: every language with an example appliance."""
    return [lang.key for lang in sources.LANGUAGES if (EXAMPLES / f"lang-{lang.key}").is_dir()]


def create(appliances, name, lang=DEFAULT_LANGUAGE):
    if not NAME_PATTERN.match(name):
        raise AzothError("AZ-M018", f"invalid appliance name {name!r}: expected {NAME_RULE}")
    if lang not in languages():
        raise AzothError("AZ-M020", f"no template for language {lang!r} (languages: "
                         f"{', '.join(languages())})")
    path = Path(appliances) / name
    if path.exists():
        raise AzothError("AZ-M006", f"{path} already exists")
    example = EXAMPLES / f"lang-{lang}"
    shutil.copytree(example, path, ignore=shutil.ignore_patterns("target", "node_modules"))
    manifest = path / MANIFEST_NAME
    text, count = re.subn(r'(?m)^name = "lang-[a-z]+"$', f'name = "{name}"',
                          manifest.read_text(), count=1)
    if count != 1:
        raise AssertionError(f"{example / MANIFEST_NAME} has no name line to rename")
    manifest.write_text(text)
    return path
