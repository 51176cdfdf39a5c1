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
