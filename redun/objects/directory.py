"""Directory object store: loose objects for staging, packs for storage.

Layout under the repo root (a `.redun` directory or a copy of one):
    objects/<2 hex>/<62 hex>     loose object (compress.py framing)
    packs/pack-<40 hex>.pack     pack + its .idx (the idx is written last)
    packs/tmp-<uuid>.pack        a pack being written; its writer holds an
                                 flock on it. A tmp pack whose lock is free was
                                 left by a crash and is salvaged by recover().
Every write is temp file + rename, so a reader sees all of an object or none.
"""

import fcntl
import mmap
import os
import threading
import uuid
from typing import Iterator, Optional

import blake3

from ..errors import CorruptObjectError, NotFoundError
from . import compress
from .ids import object_id
from .pack import PACK_MAGIC, PackIndex, build_index, entry_bytes, pack_name, read_entry, scan_entries
from .store import ObjectStore, verify


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class _Pack:
    """An open, indexed pack: its index plus an mmap of the pack file."""

    def __init__(self, store_dir: str, name: str):
        self.name = name
        self.path = os.path.join(store_dir, f"pack-{name}.pack")
        self.index = PackIndex.open(os.path.join(store_dir, f"pack-{name}.idx"))
        with open(self.path, "rb") as f:
            if f.seek(0, 2) == 0:
                raise CorruptObjectError(f"pack {self.path} is empty")
            self.buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)

    def read(self, oid: bytes) -> Optional[bytes]:
        hit = self.index.find(oid)
        if hit is None:
            return None
        return read_entry(self.buf, hit[0], hit[1], oid, self.path)

    def close(self):
        self.index.close()
        try:
            self.buf.close()
        except BufferError:
            pass


class PackWriter:
    """Appends objects to a tmp pack; commit() turns it into an indexed pack.

    Each add() is one write() to an O_APPEND file, so a kill -9 leaves a valid
    prefix that recover() salvages. Objects added are readable through the
    store in this process at once; in other processes after commit()."""

    def __init__(self, store: "DirectoryStore"):
        self.store = store
        self.tmp_path = os.path.join(store.packs_dir, f"tmp-{uuid.uuid4().hex}.pack")
        self.fd = os.open(self.tmp_path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(self.fd, PACK_MAGIC)
        self.offset = len(PACK_MAGIC)
        self.entries: dict = {}  # oid -> (offset, size)
        self.digest = blake3.blake3(PACK_MAGIC)
        self.lock = threading.Lock()
        self.closed = False
        store._writers.append(self)

    def __len__(self):
        return len(self.entries)

    def add(self, canonical: bytes) -> bytes:
        oid = object_id(canonical)
        self.add_stored(oid, compress.compress(canonical))
        return oid

    def add_stored(self, oid: bytes, stored: bytes) -> None:
        """Add an object already in stored (compressed) form; the caller verified it."""
        with self.lock:
            if oid in self.entries or self.closed:
                return
            entry = entry_bytes(oid, stored)
            os.write(self.fd, entry)
            self.digest.update(entry)
            self.entries[oid] = (self.offset, len(entry))
            self.offset += len(entry)

    def read(self, oid: bytes) -> Optional[bytes]:
        with self.lock:
            hit = self.entries.get(oid)
            if hit is None or self.closed:
                return None
            off, size = hit
            return os.pread(self.fd, size, off)[36:]

    def commit(self) -> Optional[str]:
        """Make the pack durable and visible; returns its name (None if empty)."""
        with self.lock:
            if self.closed:
                return None
            self.closed = True
        try:
            if not self.entries:
                os.unlink(self.tmp_path)
                return None
            os.fsync(self.fd)
            name = self.store._install_pack(
                self.tmp_path, [(o, off, sz) for o, (off, sz) in self.entries.items()], self.digest.digest()
            )
            return name
        finally:
            os.close(self.fd)
            self.store._writers.remove(self)

    def abort(self) -> None:
        with self.lock:
            if self.closed:
                return
            self.closed = True
        os.close(self.fd)
        self.store._writers.remove(self)
        try:
            os.unlink(self.tmp_path)
        except FileNotFoundError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.commit()
        else:
            self.abort()


class DirectoryStore(ObjectStore):
    def __init__(self, root: str, durable: bool = False):
        self.root = root
        self.name = root
        self.objects_dir = os.path.join(root, "objects")
        self.packs_dir = os.path.join(root, "packs")
        self.durable = durable  # fsync loose objects (packs are always fsynced)
        os.makedirs(self.objects_dir, exist_ok=True)
        os.makedirs(self.packs_dir, exist_ok=True)
        self._packs: dict = {}  # name -> _Pack
        self._order: list = []  # newest first
        self._writers: list = []
        self._lock = threading.RLock()
        self.refresh()

    # -- packs --------------------------------------------------------------
    def pack_names(self) -> list:
        names = []
        for entry in os.listdir(self.packs_dir):
            if entry.startswith("pack-") and entry.endswith(".idx"):
                names.append(entry[5:-4])
        return names

    def refresh(self) -> bool:
        """Pick up packs written by other processes. Returns True if any were new."""
        with self._lock:
            names = self.pack_names()
            new = [n for n in names if n not in self._packs]
            for n in new:
                try:
                    self._packs[n] = _Pack(self.packs_dir, n)
                except (FileNotFoundError, CorruptObjectError):
                    continue  # being installed or damaged; fsck reports damage
            if new:
                def mtime(n):
                    try:
                        return os.stat(os.path.join(self.packs_dir, f"pack-{n}.idx")).st_mtime
                    except OSError:
                        return 0

                self._order = sorted(self._packs.values(), key=lambda p: mtime(p.name), reverse=True)
            return bool(new)

    def packs(self) -> list:
        return list(self._order)

    def _install_pack(self, tmp_path: str, entries: list, digest: bytes) -> str:
        name = pack_name(sorted(e[0] for e in entries))
        final = os.path.join(self.packs_dir, f"pack-{name}.pack")
        idx_final = os.path.join(self.packs_dir, f"pack-{name}.idx")
        if os.path.exists(idx_final):
            os.unlink(tmp_path)  # identical pack already installed
            return name
        os.replace(tmp_path, final)
        idx_tmp = os.path.join(self.packs_dir, f"tmp-{uuid.uuid4().hex}.idx")
        with open(idx_tmp, "wb") as f:
            f.write(build_index(entries, digest))
            f.flush()
            os.fsync(f.fileno())
        os.replace(idx_tmp, idx_final)
        _fsync_dir(self.packs_dir)
        self.refresh()
        return name

    def pack_writer(self) -> PackWriter:
        return PackWriter(self)

    def write_pack(self, canonicals) -> Optional[str]:
        """Write an iterable of canonical bytes as one pack."""
        with self.pack_writer() as w:
            for data in canonicals:
                w.add(data)
        return w.commit()

    # -- loose --------------------------------------------------------------
    def _loose_path(self, oid: bytes) -> str:
        h = oid.hex()
        return os.path.join(self.objects_dir, h[:2], h[2:])

    def put_bytes(self, canonical: bytes) -> bytes:
        oid = object_id(canonical)
        self.put_stored(oid, compress.compress(canonical))
        return oid

    def put_stored(self, oid: bytes, stored: bytes) -> None:
        """Write a loose object in stored form (caller has verified it)."""
        if self.has(oid):
            return
        path = self._loose_path(oid)
        d = os.path.dirname(path)
        tmp = os.path.join(d, f".tmp-{uuid.uuid4().hex}")
        try:
            f = open(tmp, "wb")
        except FileNotFoundError:
            os.makedirs(d, exist_ok=True)
            f = open(tmp, "wb")
        with f:
            f.write(stored)
            if self.durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)

    def iter_loose(self) -> Iterator[bytes]:
        try:
            subdirs = os.listdir(self.objects_dir)
        except FileNotFoundError:
            return
        for sub in subdirs:
            if len(sub) != 2:
                continue
            try:
                names = os.listdir(os.path.join(self.objects_dir, sub))
            except FileNotFoundError:
                continue
            for n in names:
                if len(n) == 62 and not n.startswith("."):
                    try:
                        yield bytes.fromhex(sub + n)
                    except ValueError:
                        continue

    # -- reads --------------------------------------------------------------
    def get_stored(self, oid: bytes) -> tuple:
        """(stored bytes, where) without decompressing; raises NotFoundError."""
        for w in list(self._writers):
            s = w.read(oid)
            if s is not None:
                return s, w.tmp_path
        for attempt in (0, 1):
            for p in self._order:
                s = p.read(oid)
                if s is not None:
                    return s, p.path
            path = self._loose_path(oid)
            try:
                with open(path, "rb") as f:
                    return f.read(), path
            except FileNotFoundError:
                pass
            if attempt == 0 and not self.refresh():
                break
        raise NotFoundError(f"No object {oid.hex()} in {self.name}.")

    def get_bytes(self, oid: bytes) -> bytes:
        stored, where = self.get_stored(oid)
        return verify(oid, compress.decompress(stored, f"{oid.hex()} in {where}"), where)

    def has(self, oid: bytes) -> bool:
        for w in self._writers:
            if oid in w.entries:
                return True
        for p in self._order:
            if p.index.find(oid) is not None:
                return True
        if os.path.exists(self._loose_path(oid)):
            return True
        if self.refresh():
            return any(p.index.find(oid) is not None for p in self._order)
        return False

    def iter_ids(self) -> Iterator[bytes]:
        seen = set()
        for p in list(self._order):
            for oid in p.index:
                if oid not in seen:
                    seen.add(oid)
                    yield oid
        for oid in self.iter_loose():
            if oid not in seen:
                seen.add(oid)
                yield oid

    def prefix_candidates(self, prefix: str, limit: int = 21) -> list:
        self.refresh()
        found = []
        for p in self._order:
            for oid in p.index.with_prefix(prefix, limit):
                if oid not in found:
                    found.append(oid)
        if len(prefix) >= 2:
            d = os.path.join(self.objects_dir, prefix[:2])
            try:
                for n in os.listdir(d):
                    if len(n) == 62 and (prefix[:2] + n).startswith(prefix):
                        oid = bytes.fromhex(prefix[:2] + n)
                        if oid not in found:
                            found.append(oid)
            except FileNotFoundError:
                pass
        else:
            found.extend(o for o in self.iter_loose() if o.hex().startswith(prefix) and o not in found)
        return found[:limit]

    # -- maintenance --------------------------------------------------------
    def pack_loose(self, oids=None) -> Optional[str]:
        """Move loose objects (all, or the given ones) into one pack, then delete them."""
        todo = list(self.iter_loose()) if oids is None else [o for o in oids if os.path.exists(self._loose_path(o))]
        if not todo:
            return None
        w = self.pack_writer()
        try:
            for oid in todo:
                path = self._loose_path(oid)
                try:
                    with open(path, "rb") as f:
                        stored = f.read()
                except FileNotFoundError:
                    continue
                verify(oid, compress.decompress(stored, path), path)
                w.add_stored(oid, stored)
        except BaseException:
            w.abort()
            raise
        name = w.commit()
        for oid in todo:
            try:
                os.unlink(self._loose_path(oid))
            except FileNotFoundError:
                pass
        return name

    def recover(self) -> list:
        """Salvage packs left by crashed writers: tmp packs whose lock is free and
        packs without an index. Returns the names of the packs installed."""
        installed = []
        for entry in os.listdir(self.packs_dir):
            path = os.path.join(self.packs_dir, entry)
            if entry.startswith("tmp-") and entry.endswith(".pack"):
                try:
                    fd = os.open(path, os.O_RDWR)
                except FileNotFoundError:
                    continue
                try:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        continue  # a live writer owns it
                    name = self._salvage(path)
                    if name:
                        installed.append(name)
                finally:
                    os.close(fd)
            elif entry.startswith("pack-") and entry.endswith(".pack"):
                if not os.path.exists(path[:-5] + ".idx"):
                    name = self._salvage(path)
                    if name:
                        installed.append(name)
            elif entry.startswith("tmp-") and entry.endswith(".idx"):
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass
        return installed

    def _salvage(self, path: str) -> Optional[str]:
        with open(path, "rb") as f:
            data = f.read()
        good = []
        try:
            for oid, off, size, stored in scan_entries(data, path):
                try:
                    verify(oid, compress.decompress(stored, path), path)
                except CorruptObjectError:
                    break
                good.append((oid, stored))
        except CorruptObjectError:
            good = []
        if good:
            w = self.pack_writer()
            for oid, stored in good:
                w.add_stored(oid, stored)
            name = w.commit()
        else:
            name = None
        os.unlink(path)
        return name

    def close(self):
        with self._lock:
            for p in self._packs.values():
                p.close()
            self._packs.clear()
            self._order = []
