"""Where a pack came from: `packs/pack-<name>.origin` beside packs that arrived from
elsewhere (pull, push into this repository, import, bundle).

A pack without this file was written here (a run, gc, repack of local packs).
The file is written before the pack is installed (so no foreign pack is ever
visible as local, even after a crash), it travels with the objects when gc
rewrites or repack merges packs, and it goes after its pack is removed. The
engine asks `DirectoryStore.foreign_origins(oid)` before unpickling a cached
value (repo/trust.py): only bytes produced here, or by a source the user
trusts, are ever unpickled by `redun run`.

File content: one JSON object, {"via": "sync" | "import" | "bundle", "from":
location (a path or URL)}. An unreadable file counts as an unknown foreign origin.
"""

import json
import os
from typing import Optional

from .fileio import read_regular
from .ids import tmp_token

SUFFIX = ".origin"
UNKNOWN = {"via": "unknown", "from": "?"}


def origin_path(packs_dir: str, name: str) -> str:
    return os.path.join(packs_dir, f"pack-{name}{SUFFIX}")


def write_origin(packs_dir: str, name: str, origin: dict) -> None:
    """Durably write pack `name`'s origin (temp file, fsync, rename)."""
    path = origin_path(packs_dir, name)
    tmp = f"{path}.tmp-{tmp_token()}"
    with open(tmp, "w") as f:
        f.write(json.dumps(origin, sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_origin(packs_dir: str, name: str) -> Optional[dict]:
    """The origin of pack `name`, or None for a pack written here."""
    path = origin_path(packs_dir, name)
    try:
        data = read_regular(path, 1 << 16)
    except FileNotFoundError:
        return None
    except Exception:
        return dict(UNKNOWN)  # something is there: never read it as "local"
    try:
        obj = json.loads(data)
    except ValueError:
        return dict(UNKNOWN)
    if not isinstance(obj, dict) or not isinstance(obj.get("from"), str):
        return dict(UNKNOWN)
    return obj


def remove_origin(packs_dir: str, name: str) -> None:
    try:
        os.unlink(origin_path(packs_dir, name))
    except FileNotFoundError:
        pass


def foreign_names(packs_dir: str) -> set:
    """Names of the packs that have an origin file."""
    try:
        entries = os.listdir(packs_dir)
    except FileNotFoundError:
        return set()
    return {e[5:-len(SUFFIX)] for e in entries if e.startswith("pack-") and e.endswith(SUFFIX)}


def describe(origin: dict) -> str:
    via, where = origin.get("via"), origin.get("from", "?")
    if via == "import":
        return f"imported from {where}"
    if via == "bundle":
        return f"unbundled from {where}"
    if via == "sync":
        return f"copied from {where}"
    return f"of unknown origin ({where})"
