"""The ref store contract, ref names, and the RefStore base class.

Implementations: MemoryRefs (memory.py), DirectoryRefs (directory.py); the
contract suite tests/test_refs_contract.py runs on both.

Contract:
- get(name) -> oid or None.
- set(name, new, expected=ANY): atomically replace the ref if it currently
  holds `expected` (None = must not exist; ANY = whatever it holds). Raises
  RefConflictError otherwise and changes nothing.
- delete(name, expected=ANY): same rule, removes the ref.
- set_many({name: (expected, new)}) -> sorted names that conflicted: each
  ref is one set() (same CAS rule, same validation); conflicting ones are
  left as they are and reported, the others are set. Not atomic as a
  whole. DirectoryRefs writes them in one packed-file update.
- list(prefix) -> iterator of (name, oid), sorted by name.
- names(prefix) -> sorted names only (never reads a ref; fsck uses it to
  name a damaged ref instead of failing the whole listing).
- pack_refs() -> int: maintenance, no visible change: store refs compactly
  (DirectoryRefs: into refs/.packed) so that list() is one read; returns
  how many refs moved. Safe against concurrent get/set/delete/list/pack_refs
  in other threads and processes; CAS semantics are unchanged.
Names are '/'-separated segments of [A-Za-z0-9._-], no '.' or '..' segments,
no segment ending in '.lock' or containing '.tmp-', validated before any path
is built. A name cannot be both a ref and a prefix directory of another ref
("a" and "a/b"): that is refused with InvalidIdError. Values are 32-byte ids.

Conventional names: execs/<uuid> (an execution's head record),
remotes/<remote>/... (remote-tracking copies).
"""

import re
from typing import Iterator, Optional

from ..errors import InvalidIdError, RefConflictError

ANY = object()
_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}\Z")


def check_ref_name(name: str) -> str:
    if not isinstance(name, str) or not name or len(name) > 512:
        raise InvalidIdError(f"Not a ref name: {name!r}")
    for seg in name.split("/"):
        if not _SEGMENT.match(seg) or seg.endswith(".lock") or ".tmp-" in seg:
            raise InvalidIdError(
                f"Not a ref name: {name!r} (use '/'-separated segments of letters, digits, '._-')"
            )
    return name


def check_ref_value(name: str, new) -> bytes:
    if type(new) is not bytes or len(new) != 32:
        raise InvalidIdError(f"ref '{name}' must be set to a 32-byte object id, not {new!r:.80}")
    return new


def conflict_error(name, expected, current):
    def show(v):
        return "nothing" if v is None else v.hex()[:12]

    return RefConflictError(
        f"ref '{name}' changed underneath us: expected {show(expected)}, found {show(current)}"
    )


class RefStore:
    def get(self, name: str) -> Optional[bytes]:
        raise NotImplementedError

    def set(self, name: str, new: bytes, expected=ANY) -> None:
        raise NotImplementedError

    def delete(self, name: str, expected=ANY) -> None:
        raise NotImplementedError

    def set_many(self, updates: dict) -> list:
        conflicts = []
        for name in sorted(updates):
            expected, new = updates[name]
            try:
                self.set(name, new, expected)
            except RefConflictError:
                conflicts.append(name)
        return conflicts

    def list(self, prefix: str = "") -> Iterator[tuple]:
        raise NotImplementedError

    def names(self, prefix: str = "") -> list:
        return [name for name, _ in self.list(prefix)]

    def pack_refs(self) -> int:
        return 0
