"""The kernel's limits (manifest/limits.toml, their one definition) and the build-time checks
that keep every appliance within them, so that the kernel never meets one at boot.

    LIMITS.modules, LIMITS.signatures, ...   the values, by the names of limits.toml
    check_appliance(manifest, modules)       AZ-L001 naming the module and the limit

manifest.py checks what the manifest alone says (module, channel and supervisor counts, names,
sizes); check_appliance what the compiled modules add (imports, signatures, handles, tables,
the memory all of it needs).
"""
import tomllib
from dataclasses import dataclass
from pathlib import Path

from azoth.errors import AzothError

LIMITS_PATH = Path(__file__).resolve().parent.parent / "manifest" / "limits.toml"
LIMIT_ERROR = "AZ-L001"


@dataclass(frozen=True)
class Limit:
    name: str
    value: int
    macro: str
    summary: str
    build: bool


def load(path=LIMITS_PATH):
    """Every limit of limits.toml, by name, in file order."""
    with open(path, "rb") as f:
        table = tomllib.load(f)["limit"]
    return {name: Limit(name, int(entry["value"]), entry["macro"], entry["summary"],
                        bool(entry["build"]))
            for name, entry in table.items()}


class _Values:
    def __init__(self, limits):
        self._limits = limits
        for name, limit in limits.items():
            setattr(self, name, limit.value)

    def __getitem__(self, name):
        return self._limits[name]


LIMITS = _Values(load())


def over_message(what, value, limit):
    """WHAT is VALUE, more than the kernel's limit LIMIT allows: the text of an AZ-L001."""
    entry = LIMITS[limit]
    return (f"{what} {value:,}, more than the kernel's limit of {entry.value:,} ({limit}: "
            f"{entry.summary}; manifest/limits.toml)")


def over(what, value, limit, module=None, file=None):
    """The AZ-L001 error: WHAT is VALUE, more than the kernel's limit LIMIT allows."""
    where = f"module '{module}': " if module else ""
    return AzothError(LIMIT_ERROR, where + over_message(what, value, limit), file=file)


def check_appliance(manifest, objects, image_bytes=0, kernel_bytes=0):
    """Checks what the compiled modules bring against the kernel's limits. objects: the
    azoth.alko.ObjectFile of each module, in manifest order. Raises AZ-L001 naming the module."""
    seen = set()
    for module, obj in zip(manifest.modules, objects):
        imports = len(obj.imports())
        if imports > LIMITS.imports:
            raise over("imports", imports, "imports", module.name, manifest.path)
        seen.update(obj.type_signatures())
        if len(seen) > LIMITS.signatures:
            raise over("distinct function signatures, with the modules before it,", len(seen),
                       "signatures", module.name, manifest.path)
        resources = module_resources(manifest, module)
        if resources > LIMITS.handles:
            raise over("device grants and channel ends", resources, "handles", module.name,
                       manifest.path)
    check_memory(manifest, objects, image_bytes, kernel_bytes)


def module_resources(manifest, module):
    """What a module may hold a handle on at once: each device grant and each channel end."""
    devices = sum(1 for g in module.grants if ":" in g and not g.startswith("channel:"))
    ends = sum((c.sender == module.name) + (c.receiver == module.name)
               for c in manifest.channels)
    return devices + ends


# What the kernel itself takes of the appliance's memory before any module: its own image and
# boot stacks, page tables for the identity map, its heap's first pages (a generous bound; the
# boot figures in docs/performance.md show ~3 MiB in use before the first module).
KERNEL_OVERHEAD = 4 << 20


def check_memory(manifest, objects, image_bytes, kernel_bytes):
    """The memory the appliance needs at boot, module by module (initial linear memory, stacks,
    tables, channel rings), against its `memory`: a lower bound, so that an appliance that
    cannot fit fails here, naming the module, rather than at boot."""
    need = KERNEL_OVERHEAD + image_bytes + kernel_bytes
    need += sum(c.depth * ((4 + c.message_size + 7) & ~7) for c in manifest.channels)
    for module, obj in zip(manifest.modules, objects):
        need += module.stack + LIMITS.kernel_stack + 2 * 4096     # and their guard pages
        memory = obj.memory()
        need += (memory[0] * 65536 if memory else 0) + 8 * sum(t[0] for t in obj.tables())
        need += sum(g.first for g in module.parsed_grants if g.capability.parameter == "size")
        if need > manifest.memory:
            raise AzothError(LIMIT_ERROR, f"module '{module.name}': the appliance's memory "
                             f"({manifest.memory >> 20} MiB) cannot hold it: the modules up to "
                             f"it need at least {(need + (1 << 20) - 1) >> 20} MiB (initial "
                             f"linear memory, stacks, tables, DMA regions, channels, the kernel "
                             f"and the image); raise [appliance] memory", file=manifest.path)
