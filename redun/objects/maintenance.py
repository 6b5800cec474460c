"""DirectoryStore upkeep: pack loose objects, merge packs, salvage crash debris.

These only ever add packs, or delete files whose every object is already in
an installed pack (or that a crash left behind), so readers never lose an
object: a reader holding an mmap of a deleted pack keeps reading it, and one
that misses refreshes its pack list and retries.
"""

import fcntl
import json
import mmap
import os
import time
from typing import Optional

from ..errors import CorruptObjectError
from . import compress, origins
from .fileio import open_regular, read_regular
from .packfile import DISCARD_PREFIX
from .pack import read_entry, scan_entries
from .store import verify

DEBRIS_AGE = 3600  # seconds: a temp file older than this has no live writer


def read_loose_verified(store, oid: bytes) -> Optional[bytes]:
    """Stored bytes of a loose object, verified; None if it vanished."""
    path = store._loose_path(oid)
    try:
        stored = read_regular(path, compress.MAX_STORED_SIZE)
    except FileNotFoundError:
        return None
    verify(oid, compress.decompress(stored, path), path)
    return stored


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def pack_loose(store, oids=None) -> Optional[str]:
    """Move loose objects (all, or the given ones) into one pack, then delete them."""
    if oids is None:
        todo = list(store.iter_loose())
    else:
        todo = [o for o in oids if os.path.exists(store._loose_path(o))]
    if not todo:
        return None
    with store.pack_writer() as w:
        w.add_stored_many((o, s) for o, s in ((o, read_loose_verified(store, o)) for o in todo) if s)
    name = w.commit()
    for oid in todo:
        _unlink(store._loose_path(oid))
    prune_empty_dirs(store)
    return name


def prune_empty_dirs(store) -> None:
    """Remove objects/xx/ directories left empty (a writer racing this recreates its own:
    DirectoryStore.put_stored makes the directory when it is missing)."""
    try:
        subdirs = os.listdir(store.objects_dir)
    except FileNotFoundError:
        return
    for sub in subdirs:
        if len(sub) == 2:
            try:
                os.rmdir(os.path.join(store.objects_dir, sub))
            except OSError:
                pass  # not empty (the common case), or not a directory


def repack(store, include_loose: bool = True) -> Optional[str]:
    """Merge every installed pack (and loose objects) into one pack per origin (packs
    written here, plus one per place others came from: objects/origins.py); returns the
    name of the local one (or of the only one).

    Every object is verified while copied (a corrupt one aborts the repack,
    leaving everything as it was). Old packs are deleted only after the new
    indexes are installed, index first (then the origin file). Holds one entry
    per object in memory (the writer's offset table, ~150 bytes per object)."""
    with store._lock:
        store.refresh()
        old = store.packs()
    loose = list(store.iter_loose()) if include_loose else []
    groups: dict = {}  # origin (JSON text, "" for local) -> (origin, [packs])
    for p in old:
        origin = origins.read_origin(store.packs_dir, p.name)
        key = "" if origin is None else json.dumps(origin, sort_keys=True)
        groups.setdefault(key, (origin, []))[1].append(p)
    if loose:
        groups.setdefault("", (None, []))

    def stream(packs, with_loose):
        for p in packs:
            for oid, off, size in p.index.entries():
                stored = read_entry(p.buf, off, size, oid, p.path)
                verify(oid, compress.decompress(stored, f"{oid.hex()} in {p.path}"), p.path)
                yield oid, stored
        if with_loose:
            for oid in loose:
                stored = read_loose_verified(store, oid)
                if stored is not None:
                    yield oid, stored

    names = {}
    for key, (origin, packs) in groups.items():
        with_loose = key == "" and bool(loose)
        if len(packs) == 1 and not with_loose:
            names[key] = packs[0].name  # already one pack
            continue
        with store.pack_writer(origin=origin) as w:
            w.add_stored_many(stream(packs, with_loose))
        names[key] = w.commit()
    for p in old:
        if p.name not in names.values():
            _unlink(p.idx_path)  # idx first: a pack without idx is never read
            _unlink(p.path)
            origins.remove_origin(store.packs_dir, p.name)
    for oid in loose:
        _unlink(store._loose_path(oid))
    store.refresh()
    return names.get("") or next(iter(names.values()), None)


def recover(store) -> list:
    """Salvage what crashed writers left: tmp packs whose lock is free and packs
    without an index (the valid prefix of each becomes a pack); old temp files
    are deleted. Returns the names of the packs installed. Safe beside live
    writers: they hold an flock on their tmp pack until its index is installed."""
    from .packgroup import journaled_tokens, roll_forward

    installed = []
    now = time.time()
    pdir = store.packs_dir
    roll_forward(pdir)  # a pack group whose installer died mid-install becomes visible whole
    journaled = journaled_tokens(pdir)  # groups another process is rolling forward right now
    for entry in sorted(os.listdir(pdir)):
        path = os.path.join(pdir, entry)
        if entry.endswith(".pack") and entry.startswith(("tmp-", "pack-")):
            if entry.startswith("pack-") and os.path.exists(path[:-5] + ".idx"):
                continue
            try:
                fd = open_regular(path)
            except (OSError, CorruptObjectError):
                continue  # gone, or a FIFO/device where a pack should be: fsck names it
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a live writer owns it (or is installing it)
                if not os.path.exists(path):
                    continue  # installed meanwhile
                if entry.startswith("pack-") and os.path.exists(path[:-5] + ".idx"):
                    continue
                if entry.startswith(DISCARD_PREFIX):
                    if entry[: -len(".pack")] in journaled:
                        continue  # staged for a group install: roll_forward owns it
                    _unlink(path)  # all-or-nothing staging (an import): its writer died, it goes
                    continue
                if entry.startswith("pack-") and os.path.exists(path[:-5] + origins.SUFFIX):
                    _unlink(path)  # a foreign pack whose install was cut: a salvage would look local
                    origins.remove_origin(pdir, entry[5:-5])
                    continue
                name = _salvage(store, path, fd)
                if name:
                    installed.append(name)
            finally:
                os.close(fd)
        elif entry.startswith("pack-") and ".idx.tmp-" in entry:
            _unlink_if_unlocked(path, os.path.join(pdir, entry.split(".idx.tmp-")[0] + ".pack"))
        elif entry.startswith("tmp-") and entry.endswith((".idx", ".creating")):
            if entry.rsplit(".", 1)[0] in journaled:
                continue
            _unlink_if_old(path, now)  # a live writer may be writing it right now
    for sub in os.listdir(store.objects_dir):  # loose temp files of crashed writers
        d = os.path.join(store.objects_dir, sub)
        if len(sub) == 2 and os.path.isdir(d):
            for n in os.listdir(d):
                if n.startswith(".tmp-"):
                    _unlink_if_old(os.path.join(d, n), now)
    prune_empty_dirs(store)
    return installed


def _unlink_if_unlocked(path: str, pack_path: str) -> None:
    """Delete an index temp file unless the writer of its pack still holds the pack's lock."""
    try:
        fd = os.open(pack_path, os.O_RDONLY)
    except FileNotFoundError:
        _unlink(path)
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return  # being installed right now
    finally:
        os.close(fd)
    _unlink(path)


def _unlink_if_old(path: str, now: float) -> None:
    try:
        if now - os.stat(path).st_mtime > DEBRIS_AGE:
            os.unlink(path)
    except FileNotFoundError:
        pass


def _salvage(store, path: str, fd: int) -> Optional[str]:
    """Copy the verified prefix of a pack file into a new pack (streamed), then drop the file."""
    name = None
    if os.fstat(fd).st_size:
        buf = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
        try:
            with store.pack_writer() as w:

                def good():
                    try:
                        for oid, _off, _size, stored in scan_entries(buf, path):
                            verify(oid, compress.decompress(stored, path), path)
                            yield oid, stored
                    except CorruptObjectError:
                        return  # keep the valid prefix only

                w.add_stored_many(good())
            name = w.commit()
        finally:
            buf.close()
    if name is None or os.path.join(store.packs_dir, f"pack-{name}.pack") != path:
        _unlink(path)
    return name
