"""PackGroup: several packs made visible in a directory store together, or not at all.

A sync that sends whole packs installs each one as it is (the same pack and index bytes as
at the source). One pack alone may link to objects in another pack of the same sync, so a
crash between two installs must not leave the first visible without the second (a store
that has an object has its whole closure). The group does it in three steps:

1. stage: every pack is copied (or written through a PackWriter, `writer()`) into a
   `tmp-discard-<token>.pack` that its writer flocks, its index beside it as
   `tmp-discard-<token>.idx`. A crash here leaves only staging, which recover() deletes
   (discard prefix) and old-debris rules clear; nothing is visible.
2. journal: `install-<token>.journal` lists (token, pack name) for every staged pack; it is
   written whole (temp file, fsync, rename) and flocked by the installer.
3. install: every pack is renamed to `pack-<name>.pack` (invisible: no index yet), the
   directory fsynced, then every index to `pack-<name>.idx` (the index last, as
   PackFile.install); the directory is fsynced and the journal removed.
A crash during step 3 leaves a journal whose lock is free: `roll_forward()` finishes the
renames, so the group becomes visible whole. recover() does it first, and so does
DirectoryStore.refresh() when its listing shows a journal, so a reader never keeps a cut
group half visible. Packs named in a journal are never deleted by recover().
"""

import fcntl
import json
import os
from typing import Optional

from .ids import tmp_token
from .packfile import DISCARD_PREFIX, PackFile, fsync_dir, write_all
from .packwriter import PackWriter

JOURNAL_PREFIX = "install-"
JOURNAL_SUFFIX = ".journal"
_CHUNK = 8 << 20


class _StagedSink(PackFile):
    """A PackWriter sink whose install() only stages the index (the group installs)."""

    def __init__(self, group: "PackGroup"):
        super().__init__(group.directory, all_or_nothing=True)
        self.group = group

    def install(self, name: str, index: list) -> None:
        os.fsync(self.fd)
        self.group._stage_index(self, name, b"".join(index))

    def close(self) -> None:
        if self.group is None or self not in self.group._staged_sinks():
            super().close()  # discarded or empty: release at once; staged ones close with the group


class PackGroup:
    """Stage packs into `directory`, then install them all with commit()."""

    def __init__(self, directory: str, origin: Optional[dict] = None):
        self.directory = directory
        self.origin = origin  # objects/origins.py: written for each pack before it is visible
        self.staged: list = []  # (sink, pack name, staged idx path)
        self.closed = False

    def _staged_sinks(self) -> list:
        return [s for s, _, _ in self.staged]

    def _stage_index(self, sink: PackFile, name: str, idx: bytes) -> None:
        path = sink.path[: -len(".pack")] + ".idx"
        with open(path, "wb") as f:
            write_all(f.fileno(), idx)
            os.fsync(f.fileno())
        self.staged.append((sink, name, path))

    def stages_files(self) -> bool:
        """Whether add_pack's check is given the staged copy's path (sync/checkpool.py reads it)."""
        return True

    def names(self) -> list:
        return [name for _, name, _ in self.staged]

    def add_pack(self, name: str, chunks, idx: bytes, check=None) -> None:
        """Stage pack `name` from an iterable of its bytes (the whole file) with its index
        bytes. check(path): called with the staged copy after the last chunk, before anything
        is staged for install (the caller's streaming verification: it raises to refuse the pack)."""
        sink = PackFile(self.directory, all_or_nothing=True)
        try:
            for chunk in chunks:
                sink.write(chunk)
            if check is not None:
                check(sink.path)
            os.fsync(sink.fd)
            self._stage_index(sink, name, idx)
        except BaseException:
            sink.discard()
            raise

    def writer(self) -> PackWriter:
        """A PackWriter whose pack joins the group when it commits."""
        return PackWriter(_StagedSink(self))

    def commit(self) -> list:
        """Install every staged pack (all or, after a crash, all by roll_forward); returns names."""
        if self.closed:
            return self.names()
        self.closed = True
        if not self.staged:
            return []
        token = tmp_token()
        journal = os.path.join(self.directory, f"{JOURNAL_PREFIX}{token}{JOURNAL_SUFFIX}")
        entries = [[os.path.basename(s.path)[: -len(".pack")], name] for s, name, _ in self.staged]
        tmp = f"{journal}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            write_all(fd, json.dumps({"packs": entries, "origin": self.origin}).encode())
            os.fsync(fd)
            os.rename(tmp, journal)
            fsync_dir(self.directory)
            _install(self.directory, entries, self.origin)
            os.unlink(journal)
        finally:
            os.close(fd)
            for sink, _, _ in self.staged:
                PackFile.close(sink)
        return self.names()

    def abort(self) -> None:
        if self.closed:
            return
        self.closed = True
        for sink, _, idx in self.staged:
            try:
                os.unlink(idx)
            except FileNotFoundError:
                pass
            sink.discard()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.commit()
        else:
            self.abort()


def _install(directory: str, entries: list, origin: Optional[dict]) -> None:
    """Rename the staged packs into place, then their indexes (a pack without its index is
    never read, so the group becomes visible only in the short run of index renames).
    Idempotent: roll_forward reruns it."""
    from .origins import write_origin

    todo = []
    for token, name in entries:
        pack = os.path.join(directory, f"pack-{name}.pack")
        idx = os.path.join(directory, f"pack-{name}.idx")
        staged_pack = os.path.join(directory, f"{token}.pack")
        staged_idx = os.path.join(directory, f"{token}.idx")
        if os.path.exists(idx) and os.path.exists(pack):
            for path in (staged_pack, staged_idx):  # the same pack is installed already
                if os.path.exists(path):
                    os.unlink(path)
            continue
        if origin is not None:
            write_origin(directory, name, origin)
        if os.path.exists(staged_pack):
            os.replace(staged_pack, pack)
        todo.append((staged_idx, idx))
    fsync_dir(directory)
    for staged_idx, idx in todo:
        if os.path.exists(staged_idx):
            os.replace(staged_idx, idx)
    fsync_dir(directory)


def has_journal(entries) -> bool:
    """Whether a listing of a packs directory shows a group install (live or cut)."""
    return any(e.startswith(JOURNAL_PREFIX) and e.endswith(JOURNAL_SUFFIX) for e in entries)


def roll_forward(directory: str) -> int:
    """Finish the installs of groups whose installer died mid-way (journal lock free).
    Returns how many journals were completed."""
    done = 0
    for entry in sorted(os.listdir(directory)):
        if not (entry.startswith(JOURNAL_PREFIX) and entry.endswith(JOURNAL_SUFFIX)):
            continue
        path = os.path.join(directory, entry)
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its installer is alive
            if not os.path.exists(path):
                continue
            try:
                body = json.loads(os.read(fd, 1 << 24))
                entries = [(t, n) for t, n in body["packs"]
                           if t.startswith(DISCARD_PREFIX) and _is_name(n) and "/" not in t]
                origin = body.get("origin")
            except (ValueError, KeyError, TypeError):
                os.unlink(path)  # torn or foreign: nothing was installed from it (written whole)
                continue
            _install(directory, entries, origin if isinstance(origin, dict) else None)
            os.unlink(path)
            done += 1
        finally:
            os.close(fd)
    return done


def journaled_tokens(directory: str) -> set:
    """Staging tokens named by the journals in `directory` (recover() must not delete them:
    the installer, or another process's roll_forward, is about to rename them)."""
    tokens = set()
    for entry in os.listdir(directory):
        if entry.startswith(JOURNAL_PREFIX) and entry.endswith(JOURNAL_SUFFIX):
            try:
                with open(os.path.join(directory, entry), "rb") as f:
                    body = json.loads(f.read(1 << 24))
                tokens.update(t for t, _ in body["packs"] if isinstance(t, str))
            except (OSError, ValueError, KeyError, TypeError):
                continue
    return tokens


def _is_name(name) -> bool:
    return isinstance(name, str) and len(name) == 40 and all(c in "0123456789abcdef" for c in name)


def chunks_of(path: str, size: int = _CHUNK):
    """The bytes of a file, `size` at a time."""
    with open(path, "rb", buffering=0) as f:
        while True:
            chunk = f.read(size)
            if not chunk:
                return
            yield chunk
