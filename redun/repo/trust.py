"""The trust model: `redun run` unpickles only what was produced here or by a source the
user trusts.

A pickle runs code when it is loaded. Values recorded by this repository's own
runs are as trusted as the workflow code itself; a Value record that arrived by
pull, by a push from elsewhere, by import or from a bundle (its pack carries an
origin: objects/origins.py) is not. When the cache offers such a value and it is
stored as a pickle, the engine reruns the job instead (one log line says why);
plain (native) values are decoded without unpickling and are always reused.

The user trusts a source with `trust = true` in its `[repos.NAME]` section (its
`config_dir` is compared with where the pack came from), or an import with
`redun import --trust`. Once a job has rerun here, its value is recorded in
this repository's own pack and is trusted from then on.
"""

import os
from typing import Optional

from ..errors import ConfigError
from ..objects.origins import describe

_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0", "")


def parse_bool(text: str, where: str) -> bool:
    low = text.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ConfigError(f"{where} = {text!r}: use true or false")


def _same_place(a: str, b: str) -> bool:
    if "://" in a or "://" in b:
        return a.rstrip("/") == b.rstrip("/")
    return os.path.realpath(a) == os.path.realpath(b)


def trusts(config, name: str) -> bool:
    """Whether `[repos.NAME] trust = true` (ConfigError on a value that is not a boolean).

    Such a repository is trusted as this one is: `redun run` unpickles its values, and a pull
    from it checks what a push of this repository's own packs does (index checksums and
    names, pack digests; each object's hash when objects go one by one) without decoding
    every record again (sync/packcheck.py). Every read verifies hashes anyway."""
    section = f"repos.{name}"
    return parse_bool(config.get(section, "trust", "false") or "false", f"[{section}] trust")


class Trust:
    """Answers, for a Value record, whether `redun run` may unpickle it."""

    def __init__(self, store, config):
        self.store = store
        self.config = config
        self._trusted = None  # [(repo name, location)] with trust = true

    def trusted_sources(self) -> list:
        if self._trusted is None:
            out = []
            for name in self.config.subsections("repos"):
                section = f"repos.{name}"
                if trusts(self.config, name):
                    loc = self.config.get(section, "config_dir")
                    if loc:
                        out.append((name, loc))
            self._trusted = out
        return self._trusted

    def why_not(self, oid: bytes) -> Optional[str]:
        """None when the Value record `oid` may be unpickled; else where it came from."""
        foreign = getattr(self.store, "foreign_origins", None)
        origins = foreign(oid) if foreign is not None else []
        if not origins:
            return None
        sources = self.trusted_sources()
        for origin in origins:
            if origin.get("via") == "sync" and any(_same_place(origin["from"], loc) for _, loc in sources):
                return None
        return describe(origins[0])
