"""PackWriter: the run's staging area, appending objects to a tmp pack.

Each `add()` is one write() to an O_APPEND file, so a kill -9 leaves a valid
prefix that `DirectoryStore.recover()` salvages: a finished record is never
lost. `add_many()` writes a batch with one write() per ~1 MiB (several times
faster; a kill -9 mid-batch keeps a prefix of the batch, in order, so closure
holds as long as the batch lists children before parents). The writer holds an
flock on its tmp pack for its whole life (through commit), which tells
recover() the file is not abandoned.
"""

import fcntl
import os
import struct
import threading
import uuid
from typing import Iterable, Optional

import blake3

from ..errors import RedunError
from . import compress
from .pack import ENTRY_HEAD, PACK_MAGIC

_U32 = struct.Struct("<I")
_BATCH_BYTES = 1 << 20


def _write_all(fd: int, data) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


class PackWriter:
    """Appends objects to a tmp pack; commit() turns it into an indexed pack.

    Objects added are readable through the store in this process at once; in
    other processes after commit(). Thread-safe. Use as a context manager:
    commit on success, abort on exception."""

    def __init__(self, store):
        self.store = store
        token = uuid.uuid4().hex
        self.tmp_path = os.path.join(store.packs_dir, f"tmp-{token}.pack")
        # Create and lock under a name recover() ignores, then rename: a concurrent
        # recover() must never see our tmp pack before we hold its lock.
        creating = os.path.join(store.packs_dir, f"tmp-{token}.creating")
        self.fd = os.open(creating, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.rename(creating, self.tmp_path)
        _write_all(self.fd, PACK_MAGIC)
        self.offset = len(PACK_MAGIC)
        self.entries: dict = {}  # oid -> (offset, size); ~150 bytes per object in memory
        self.digest = blake3.blake3(PACK_MAGIC)
        self.lock = threading.Lock()
        self.closed = False
        self.name: Optional[str] = None
        store._writers.append(self)

    def __len__(self):
        return len(self.entries)

    def __contains__(self, oid) -> bool:
        return oid in self.entries

    # -- writes -------------------------------------------------------------
    def add(self, canonical: bytes) -> bytes:
        """Add one object (canonical bytes); returns its id. One write()."""
        oid = blake3.blake3(canonical).digest()
        if oid not in self.entries:
            self.add_stored(oid, compress.compress(canonical))
        return oid

    def add_stored(self, oid: bytes, stored: bytes) -> None:
        """Add an object already in stored (compressed) form; the caller verified it."""
        entry = oid + _U32.pack(len(stored)) + stored
        with self.lock:
            if self.closed:
                raise self._closed_error()
            if oid in self.entries:
                return
            _write_all(self.fd, entry)
            self.digest.update(entry)
            self.entries[oid] = (self.offset, len(entry))
            self.offset += len(entry)

    def add_stored_parts(self, oid: bytes, parts: list) -> None:
        """add_stored for an object whose stored form is split in parts (a large
        blob): one writev() of the whole entry, so the payload is never joined
        in memory and a crash still leaves a valid prefix."""
        n = sum(len(p) for p in parts)
        entry = [oid, _U32.pack(n), *parts]
        size = ENTRY_HEAD + n
        with self.lock:
            if self.closed:
                raise self._closed_error()
            if oid in self.entries:
                return
            written = os.writev(self.fd, entry)
            if written != size:  # short write: finish it (rare on regular files)
                _write_all(self.fd, b"".join(entry)[written:])
            for p in entry:
                self.digest.update(p)
            self.entries[oid] = (self.offset, size)
            self.offset += size

    def add_many(self, canonicals: Iterable[bytes]) -> list:
        """Add objects in order with one write() per ~1 MiB; returns their ids.
        Streams: at most ~1 MiB of input is held at a time."""
        hasher, entries = blake3.blake3, self.entries
        oids, todo, size = [], [], 0
        for data in canonicals:
            oid = hasher(data).digest()
            oids.append(oid)
            if oid not in entries:
                todo.append((oid, data))
                size += len(data)
                if size >= _BATCH_BYTES:
                    self._add_batch(todo)
                    todo, size = [], 0
        if todo:
            self._add_batch(todo)
        return oids

    def _add_batch(self, todo: list) -> None:
        self.append_stored([oid for oid, _ in todo], compress.compress_many([d for _, d in todo]))

    def add_stored_many(self, items: Iterable[tuple]) -> None:
        """Add (oid, stored) pairs in order, batched like add_many; the caller verified them."""
        pack_len = _U32.pack
        self._write_entries(oid + pack_len(len(stored)) + stored for oid, stored in items)

    def append_stored(self, oids, stored) -> None:
        """add_stored_many for a small batch (one job's records, under ~1 MiB): one
        write(), without the generic batching (the run's per-job hot path)."""
        pack_len = _U32.pack
        self._flush_batch([oid + pack_len(len(data)) + data for oid, data in zip(oids, stored)])

    def _write_entries(self, entries_iter) -> None:
        batch, size = [], 0
        for entry in entries_iter:
            batch.append(entry)
            size += len(entry)
            if size >= _BATCH_BYTES:
                self._flush_batch(batch)
                batch, size = [], 0
        if batch:
            self._flush_batch(batch)

    def _flush_batch(self, batch: list) -> None:
        with self.lock:
            if self.closed:
                raise self._closed_error()
            seen, new, out, off = self.entries, {}, [], self.offset
            for entry in batch:
                oid = entry[:32]
                if oid in seen or oid in new:  # keep the first copy only
                    continue
                new[oid] = (off, len(entry))
                out.append(entry)
                off += len(entry)
            if not out:
                return
            data = b"".join(out)
            _write_all(self.fd, data)
            self.digest.update(data)
            seen.update(new)
            self.offset = off

    def _closed_error(self) -> RedunError:
        return RedunError(
            f"pack writer {self.tmp_path} was already committed or aborted; nothing more can be "
            "added to it (open a new one with store.pack_writer())"
        )

    # -- reads --------------------------------------------------------------
    def read(self, oid: bytes) -> Optional[bytes]:
        """Stored bytes of an object added here, or None."""
        with self.lock:
            hit = self.entries.get(oid)
            if hit is None or self.closed:
                return None
            off, size = hit
            return os.pread(self.fd, size - ENTRY_HEAD, off + ENTRY_HEAD)

    # -- finish -------------------------------------------------------------
    def commit(self) -> Optional[str]:
        """Make the pack durable and visible; returns its name (None if empty). Idempotent."""
        with self.lock:
            if self.closed:
                return self.name
            self.closed = True
        try:
            if not self.entries:
                os.unlink(self.tmp_path)
                return None
            os.fsync(self.fd)
            entries = [(o, off, sz) for o, (off, sz) in self.entries.items()]
            # The flock is held until after the index is installed (see recover()).
            self.name = self.store._install_pack(self.tmp_path, entries, self.digest.digest())
            return self.name
        finally:
            os.close(self.fd)
            self._detach()

    def abort(self) -> None:
        """Throw away everything added; nothing becomes visible to others."""
        with self.lock:
            if self.closed:
                return
            self.closed = True
        os.close(self.fd)
        self._detach()
        try:
            os.unlink(self.tmp_path)
        except FileNotFoundError:
            pass

    def _detach(self):
        try:
            self.store._writers.remove(self)
        except ValueError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.commit()
        else:
            self.abort()
