"""Errors of the host tool: every one carries a stable code and, where it has one, a location.

Codes (listed with their meaning in manifest/README.md and docs/build.md):
  AZ-M0xx  the manifest             AZ-S0xx  turning sources into Wasm
  AZ-C0xx  compiling / linking      AZ-I0xx  reading or writing images
  AZ-T0xx  tools and set-up         AZ-L0xx  the kernel's limits (azoth/limits.py)
"""


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
