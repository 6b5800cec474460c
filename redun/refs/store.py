"""Ref stores. Contract (tests/test_refs_contract.py runs it on every implementation):

- get(name) -> oid or None.
- set(name, new, expected=ANY): atomically replace the ref if it currently
  holds `expected` (None = must not exist; ANY = whatever it holds). Raises
  RefConflictError otherwise and changes nothing.
- delete(name, expected=ANY): same rule, removes the ref.
- list(prefix) -> iterator of (name, oid), sorted by name.
- names(prefix) -> sorted names only (never reads a ref; fsck uses it to
  name a damaged ref instead of failing the whole listing).
Names are '/'-separated segments of [A-Za-z0-9._-], no '.' or '..' segments,
no segment ending in '.lock' or containing '.tmp-', validated before any path
is built. A name cannot be both a ref and a prefix directory of another ref
("a" and "a/b"): that is refused with InvalidIdError. Values are 32-byte ids.

Conventional names: execs/<uuid> (an execution's head record),
remotes/<remote>/... (remote-tracking copies).
"""

import fcntl
import os
import re
import threading
import uuid
from typing import Iterator, Optional

from ..errors import CorruptObjectError, InvalidIdError, RefConflictError
from ..objects.ids import parse_oid

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


def _check_value(name: str, new) -> bytes:
    if type(new) is not bytes or len(new) != 32:
        raise InvalidIdError(f"ref '{name}' must be set to a 32-byte object id, not {new!r:.80}")
    return new


def _conflict(name, expected, current):
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

    def list(self, prefix: str = "") -> Iterator[tuple]:
        raise NotImplementedError

    def names(self, prefix: str = "") -> list:
        return [name for name, _ in self.list(prefix)]


class MemoryRefs(RefStore):
    def __init__(self):
        self._refs: dict = {}
        self._lock = threading.Lock()

    def get(self, name):
        check_ref_name(name)
        return self._refs.get(name)

    def set(self, name, new, expected=ANY):
        check_ref_name(name)
        _check_value(name, new)
        with self._lock:
            for other in self._refs:
                if other.startswith(name + "/") or name.startswith(other + "/"):
                    raise InvalidIdError(f"ref '{name}' clashes with existing ref '{other}'")
            cur = self._refs.get(name)
            if expected is not ANY and cur != expected:
                raise _conflict(name, expected, cur)
            self._refs[name] = new

    def delete(self, name, expected=ANY):
        check_ref_name(name)
        with self._lock:
            cur = self._refs.get(name)
            if expected is not ANY and cur != expected:
                raise _conflict(name, expected, cur)
            self._refs.pop(name, None)

    def list(self, prefix=""):
        with self._lock:
            items = sorted(self._refs.items())
        for name, oid in items:
            if name.startswith(prefix):
                yield name, oid


class DirectoryRefs(RefStore):
    """refs/<name> files holding '<64 hex>\\n'. Updates hold an flock on
    refs/<name>.lock while they read, compare and rename, so a crash never
    leaves a lock behind and never a half-written ref."""

    def __init__(self, root: str):
        self.dir = os.path.join(root, "refs")
        os.makedirs(self.dir, exist_ok=True)

    def _path(self, name):
        return os.path.join(self.dir, *check_ref_name(name).split("/"))

    def _read(self, path) -> Optional[bytes]:
        try:
            with open(path, "r") as f:
                text = f.read().strip()
        except (FileNotFoundError, NotADirectoryError):
            return None
        try:
            return parse_oid(text)
        except InvalidIdError:
            raise CorruptObjectError(f"ref file {path} does not hold an object id") from None

    def get(self, name):
        return self._read(self._path(name))

    def _locked(self, path, name):
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            if os.path.isdir(path):
                raise NotADirectoryError
            fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        except (NotADirectoryError, FileExistsError):
            raise InvalidIdError(
                f"ref '{name}' clashes with an existing ref (a name cannot be both a ref and a "
                "prefix of other refs)"
            ) from None
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd

    def set(self, name, new, expected=ANY):
        path = self._path(name)
        _check_value(name, new)
        fd = self._locked(path, name)
        try:
            cur = self._read(path)
            if expected is not ANY and cur != expected:
                raise _conflict(name, expected, cur)
            tmp = f"{path}.tmp-{uuid.uuid4().hex}"
            with open(tmp, "w") as f:
                f.write(new.hex() + "\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        finally:
            os.close(fd)

    def delete(self, name, expected=ANY):
        path = self._path(name)
        if expected is ANY and not os.path.exists(path):
            return
        fd = self._locked(path, name)
        try:
            cur = self._read(path)
            if expected is not ANY and cur != expected:
                raise _conflict(name, expected, cur)
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        finally:
            os.close(fd)

    def names(self, prefix=""):
        out = []
        for dirpath, _dirs, files in os.walk(self.dir):
            rel = os.path.relpath(dirpath, self.dir)
            for f in files:
                if f.endswith(".lock") or ".tmp-" in f:
                    continue
                name = f if rel == "." else f"{rel}/{f}".replace(os.sep, "/")
                if name.startswith(prefix):
                    out.append(name)
        return sorted(out)

    def list(self, prefix=""):
        for name in self.names(prefix):
            oid = self._read(self._path(name))
            if oid is not None:
                yield name, oid
