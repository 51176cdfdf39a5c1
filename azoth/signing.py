"""The appliance signing key: made on first use, kept outside git, used through openssl.

The key lives at $AZOTH_SIGNING_KEY, or ~/.config/azoth/signing-key.pem. Its raw 32-byte public
key is built into the kernel (make -C athanor PUBKEY=...), so a kernel accepts only images
signed with the key it was built with.
"""
import os
import subprocess
import tempfile
from pathlib import Path

from .errors import AzothError
from .tools import run


def key_path():
    env = os.environ.get("AZOTH_SIGNING_KEY")
    if env:
        return Path(env)
    return Path.home() / ".config" / "azoth" / "signing-key.pem"


def ensure_key(path=None, log=None):
    """Returns the key's path, generating a new Ed25519 key (mode 0600) if there is none."""
    path = Path(path or key_path())
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    old_umask = os.umask(0o077)
    try:
        run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(tmp)], log=log)
    finally:
        os.umask(old_umask)
    os.replace(tmp, path)
    if log:
        log(f"made a new signing key: {path}")
    return path


def public_key_raw(path, log=None):
    """The 32 raw bytes of the key's public half."""
    der = run(["openssl", "pkey", "-in", str(path), "-pubout", "-outform", "DER"],
              capture=True, log=log).stdout
    if len(der) != 44:
        raise AzothError("AZ-T004", f"{path}: not an Ed25519 key")
    return der[-32:]


def write_public_key(key, out, log=None):
    """Writes the raw public key to OUT only when it changed (so make rebuilds only then)."""
    raw = public_key_raw(key, log)
    out = Path(out)
    if out.exists() and out.read_bytes() == raw:
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(raw)
    os.replace(tmp, out)
    return out


def signer(key, log=None):
    """A function message -> 64-byte Ed25519 signature (deterministic, RFC 8032)."""
    def sign(message):
        with tempfile.TemporaryDirectory() as tmp:
            msg = Path(tmp) / "message"
            msg.write_bytes(message)
            out = run(["openssl", "pkeyutl", "-sign", "-inkey", str(key), "-rawin",
                       "-in", str(msg)], capture=True, log=log).stdout
        if len(out) != 64:
            raise AzothError("AZ-I003", f"openssl produced a {len(out)}-byte signature")
        return out
    return sign


def verify(public_raw, message, signature):
    """Verifies with openssl (for `inspect`); True when the signature is valid."""
    with tempfile.TemporaryDirectory() as tmp:
        der = bytes.fromhex("302a300506032b6570032100") + public_raw
        pub = Path(tmp) / "pub.der"
        pub.write_bytes(der)
        msg = Path(tmp) / "message"
        msg.write_bytes(message)
        sig = Path(tmp) / "sig"
        sig.write_bytes(signature)
        result = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-keyform", "DER",
                                 "-inkey", str(pub), "-rawin", "-in", str(msg),
                                 "-sigfile", str(sig)], capture_output=True)
        return result.returncode == 0
