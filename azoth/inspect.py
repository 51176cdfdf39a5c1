"""`./build.py inspect IMAGE.azi`: what an image holds and whether it verifies."""
from pathlib import Path

from . import catalogue as catalogue_module
from . import signing
from .alko import SECTION_IDS
from .image import (MODULE_KINDS, RESOURCE_RECEIVE, RESOURCE_SEND, RESTART_POLICIES, Image, name_of,
                    blob_name)


def _size(n):
    return f"{n} B" if n < 10240 else f"{n / 1024:.1f} KiB" if n < 10 << 20 else f"{n / 1048576:.1f} MiB"


def _resource(resource, by_resource, image):
    cap = by_resource.get(resource.kind)
    if cap is None:
        return f"kind {resource.kind} {resource.first:#x}-{resource.last:#x}"
    if cap.parameter == "channel":
        name = image.channels[resource.first].name if resource.first < len(image.channels) \
            else f"#{resource.first}"
        ends = [w for w, bit in (("send", RESOURCE_SEND), ("receive", RESOURCE_RECEIVE))
                if resource.flags & bit]
        return f"channel:{name} ({', '.join(ends)})"
    if cap.parameter == "pci":
        return f"{cap.name}:" + catalogue_module.format_pci_selector(resource.flags, resource.first,
                                                                     resource.last)
    if cap.parameter == "size":
        return f"{cap.name}:{resource.first >> 10}K"
    if cap.parameter == "number":
        return f"{cap.name}:{resource.first}"
    if cap.parameter == "endpoint":
        return f"{cap.name}:" + catalogue_module.format_endpoint(resource.first, resource.last)
    if resource.first == resource.last:
        return f"{cap.name}:{resource.first:#x}"
    return f"{cap.name}:{resource.first:#x}-{resource.last:#x}"


def main(path):
    data = Path(path).read_bytes()
    image = Image(data, str(path))
    catalogue = catalogue_module.load()
    by_bit = {c.bit: c.name for c in catalogue.capabilities.values()}
    by_id = {i.id: i.name for i in catalogue.imports.values()}
    by_resource = {c.resource: c for c in catalogue.capabilities.values() if c.parameter}

    key = signing.key_path()
    if key.exists():
        valid = signing.verify(signing.public_key_raw(key), image.signed_message(),
                               image.signature)
        status = f"{'valid' if valid else 'INVALID'} for {key}"
    else:
        valid = False
        status = f"unknown (no key at {key})"
    problems = image.check_blobs()

    print(f"image      {path}  ({_size(len(data))})")
    print(f"appliance  {image.name} {image.version}   arch={image.arch}   bounds={image.bounds}   "
          f"memory={image.memory_mib} MiB")
    print(f"signature  {status}")
    print(f"blobs      {len(image.blobs)}: " + ("all hashes match" if not problems else
                                                  f"{len(problems)} problem(s)"))
    for index, rec in enumerate(image.modules):
        name = image.module_name(index)
        grant_names = [by_bit.get(bit, f"bit{bit}") for bit in range(64) if rec.grants >> bit & 1]
        obj = image.object_of(index)
        code = obj.sections.get(SECTION_IDS["code"])
        print(f"\nmodule {name}  ({name_of(rec.kind, MODULE_KINDS)})")
        print(f"  grants    {', '.join(grant_names) or '(none)'}")
        supervisor = image.supervisors[rec.supervisor].name \
            if rec.supervisor < len(image.supervisors) else rec.supervisor
        print(f"  restart   {name_of(rec.restart, RESTART_POLICIES)}"
              f"   memory limit {_size(rec.max_memory)}   stack {_size(rec.stack_size)}"
              f"   supervisor {supervisor}")
        for resource in image.resources_of(index):
            print(f"  resource  {_resource(resource, by_resource, image)}")
        print(f"  object    {_size(rec.object_size)} at {rec.object_offset:#x}, "
              f"code {_size(code.size if code else 0)}"
              f", {obj.function_count} functions ({obj.imported_function_count} imported)")
        imports = obj.imports()
        for imp, ident in zip(imports, image.import_ids(index)):
            print(f"  import    {imp.name} {imp.signature()} -> kernel #{ident} "
                  f"{by_id.get(ident, '?')}")
        for export, kind_name, idx in obj.exports():
            print(f"  export    {export} ({kind_name} {idx})")
        args = image.strings(rec.args_offset, rec.args_count)
        env = image.strings(rec.env_offset, rec.env_count)
        if args:
            print(f"  args      {args}")
        if env:
            print(f"  env       {env}")
        print("  blobs")
        for blob in image.blobs:
            if blob.module == index:
                print(f"    {blob_name(blob.kind):14} {blob.offset:#10x} {blob.size:8}  "
                      f"{blob.sha256.hex()}")
    if image.file_records:
        readers = [image.module_name(i) for i, rec in enumerate(image.modules)
                   if "files" in catalogue.capabilities and
                   rec.grants >> catalogue.capabilities["files"].bit & 1]
        print(f"\nfiles      {len(image.file_records)}, read-only, for "
              f"{', '.join(readers) or 'no module (none is granted files)'}")
    for record in image.file_records:
        (path,) = image.strings(record.path, 1)
        blob = image.blobs[record.blob] if record.blob < len(image.blobs) else None
        size, where, digest = (blob.size, f"{blob.offset:#x}", blob.sha256.hex()) if blob \
            else (0, "?", "?")
        print(f"file {path}  {_size(size)} at {where}  {digest}")
    if image.channels:
        print()
    for channel in image.channels:
        print(f"channel {channel.name}  {image.module_name(channel.sender)} -> "
              f"{image.module_name(channel.receiver)}, depth {channel.depth}, "
              f"messages up to {channel.message_size} B")
    print()
    for sup in image.supervisors:
        kids = ", ".join((image.supervisors[i].name if is_sup and i < len(image.supervisors)
                          else image.module_name(i)) for is_sup, i in sup.children)
        print(f"supervisor {sup.name}  {sup.strategy}, at most {sup.max_restarts} restarts in "
              f"{sup.window_ns / 1e9:g} s, then {sup.on_exhausted}: {kids}")
    for problem in problems:
        print(f"\nproblem: {problem}")
    return 0 if valid and not problems else 2
