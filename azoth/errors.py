"""Errors of the host tool: every one carries a stable code and, where it has one, a location.

CODES is the one list of the codes and what each means; formats/generate.py writes it into
manifest/README.md, and tests/test_generated.py checks that every code raised is in it.
  AZ-M0xx  the manifest             AZ-S0xx  turning sources into Wasm
  AZ-C0xx  compiling / linking      AZ-I0xx  reading or writing images
  AZ-T0xx  tools and set-up         AZ-L0xx  the kernel's limits (azoth/limits.py)
  AZ-W0xx  warnings
"""

CODES = {
    "AZ-M001": "no manifest, or it is not valid TOML",
    "AZ-M002": "an unknown key or table",
    "AZ-M003": "a value of the wrong type",
    "AZ-M004": "a required key or table is missing",
    "AZ-M005": "a value that is not one of the allowed choices",
    "AZ-M006": "a duplicate module, supervisor or channel name, a grant given twice, a "
               "duplicate `[[file]]` guest path, or `./build.py new` into a folder that exists",
    "AZ-M007": "a source file, or a `[[file]]`'s `host` file, that does not exist",
    "AZ-M008": "an import that no grant covers (names the import and the capability that would "
               "grant it)",
    "AZ-M009": "an unknown capability",
    "AZ-M010": "an import the kernel does not provide",
    "AZ-M011": "an import whose type differs from the kernel function's",
    "AZ-M012": "an import of a memory, table or global (the kernel provides functions only)",
    "AZ-M013": "a module whose initial linear memory exceeds its `memory` limit",
    "AZ-M014": "a channel or supervisor that names a module or supervisor that does not exist",
    "AZ-M015": "a malformed grant parameter, a parameter where none is taken (or none where one "
               "is needed), a range beyond the capability's limit or over what the kernel "
               "keeps, a `channel:` grant written by hand; a `dma` grant without a `pci` grant, a "
               "second one, or one larger than the module's `memory`",
    "AZ-M016": "a supervision tree that is not one tree: a child listed twice, no root or "
               "several, a cycle",
    "AZ-M017": "a grant another excludes: `stdin` in an appliance where a module is granted "
               "ports of the console UART (0x3f8–0x3ff)",
    "AZ-M018": "a name that is too long or not of `a-z 0-9 _ -` (a channel's may hold `.` too), "
               "starting with a letter",
    "AZ-M019": "a number or size out of its range: a module's `memory` or `stack`, the "
               "appliance's `memory`, a channel's `depth` or `message_size`, a supervisor's "
               "`within` or `max_restarts`, a negative integer, an overlong `version`",
    "AZ-M020": "a source whose name is not of a language build.py knows (or `./build.py new "
               "--lang` one without a template)",
    "AZ-M021": "sources that mix languages, or several sources for a language that takes one "
               "root file",
    "AZ-M022": "`cflags` or `rustflags` for sources of another language",
    "AZ-M023": "a `wasm_opt` entry that is not an option",
    "AZ-M024": "an argument or environment entry that cannot be passed: a NUL byte, an empty "
               "name or one holding `=`",
    "AZ-M025": "a `[[file]]` guest path that is not absolute and normal, is too long, or would "
               "be both a file and the directory of another",
    "AZ-M026": "two modules granted the same PCI device (the same `pci:` selector)",
    "AZ-L001": "an appliance over one of the kernel's limits (`manifest/limits.toml`): names the "
               "module and the limit (modules, channels, supervisors, files and their sizes, "
               "imports, distinct signatures, handles a module's grants need, the memory all "
               "modules need at boot, ...)",
    "AZ-S001": "a source could not be turned into Wasm (the tool's own message follows)",
    "AZ-S002": "a `Cargo.toml` that cannot be read or names no package",
    "AZ-S003": "`wasm-opt` failed with the module's `wasm_opt` options (its message follows)",
    "AZ-W001": "(warning) an app that exports no `_start` and has no start function: it would "
               "run nothing (names the exports it has, with a suggestion)",
    "AZ-C001": "Alkahest rejected the module (its `ALK-E` diagnostic follows)",
    "AZ-C010": "a compiled object is malformed",
    "AZ-C011": "a compiled object for another target than the kernel's (names both)",
    "AZ-C012": "a compiled object from another compiler tier than the manifest's `opt` asks for",
    "AZ-I001": "an image that is not valid: bad magic, version, sizes, offsets or signature",
    "AZ-I002": "no image at the path given",
    "AZ-I003": "the signer did not produce a 64-byte Ed25519 signature",
    "AZ-I004": "a disk whose GPT cannot be read or moved (`--format`: the GRUB image's)",
    "AZ-T001": "missing Debian packages (names them and the `apt-get install` line)",
    "AZ-T002": "apt-get could not install the packages named",
    "AZ-T003": "a tool that is not installed",
    "AZ-T004": "a signing key that is not an Ed25519 key",
    "AZ-T005": "a tool that failed (its exit status and output follow)",
    "AZ-T006": "`./build.py test PATH`: no such test file or folder",
    "AZ-T007": "`./build.py bench`: an unknown program or engine",
    "AZ-T008": "npm could not install AssemblyScript (it needs the npm registry once)",
    "AZ-T009": "`./build.py run --net`: not `user`, `user,OPTIONS`, `tap:NAME` or `none`; a malformed `--forward`",
    "AZ-T010": "a Debian package the build needs (lwIP's source, the benchmark's kernel) could not be fetched, or is not the file pinned in azoth/deps.py",
    "AZ-T011": "`--arch`, `--machine` or `--iso` that do not fit: an unknown machine, or a "
               "QEMU machine or boot path another arch's",
    "AZ-T012": "`AZOTH_CACHE_MB` (the object cache's cap) is not a whole number of MiB",
}


class AzothError(Exception):
    """A user-facing error: bad input or a failed step. Printed as one line, exit status 1."""

    def __init__(self, code, message, file=None, line=None, key=None, detail=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.file = file
        self.line = line
        self.key = key
        self.detail = detail

    def __str__(self):
        where = ""
        if self.file:
            where = str(self.file) + (f":{self.line}" if self.line else "") + ": "
        key = f"{self.key}: " if self.key else ""
        text = f"{where}error {self.code}: {key}{self.message}"
        if self.detail:
            text += "\n" + self.detail.rstrip()
        return text


class AzothErrors(AzothError):
    """Several errors found in one pass (a manifest's), printed one per line, by line."""
    LIMIT = 20

    def __init__(self, errors):
        errors = sorted(errors, key=lambda e: (e.line or 0))
        first = errors[0]
        super().__init__(first.code, first.message, first.file, first.line, first.key,
                         first.detail)
        self.errors = errors

    def __str__(self):
        shown = [str(e) for e in self.errors[:self.LIMIT]]
        if len(self.errors) > self.LIMIT:
            shown.append(f"... and {len(self.errors) - self.LIMIT} more errors")
        return "\n".join(shown)


def did_you_mean(word, known):
    """' (did you mean 'grants'?)' for a misspelt or abbreviated name, else ''."""
    import difflib
    if not isinstance(word, str) or not word:
        return ""
    known = list(known)
    close = difflib.get_close_matches(word, known, n=1, cutoff=0.6)
    if not close:     # a longer or shorter form: "environment" for env, "grant" for grants
        close = [k for k in known if min(len(k), len(word)) >= 3 and
                 (word.startswith(k) or k.startswith(word))]
    return f" (did you mean {close[0]!r}?)" if close else ""
