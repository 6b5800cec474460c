"""MappedPack: one installed pack of a DirectoryStore, opened for reads.

Its index and an mmap of the pack file are opened on first use, so a store
with hundreds of packs opens only those a command reads.
"""

import mmap
import os
from typing import Optional

from ..errors import CorruptObjectError
from .fileio import open_regular
from .pack import PackIndex, read_entry

_IDX_FIXED = 12 + 1024 + 64  # idx header, fanout and trailing digests (pack.py)
_IDX_PER_ID = 32 + 8 + 4  # id, offset, size


class MappedPack:
    """An installed pack: its index plus an mmap of the pack file, both opened on first
    use (a store with hundreds of packs opens only those a command reads)."""

    def __init__(self, store_dir: str, name: str):
        self.name = name
        self.path = os.path.join(store_dir, f"pack-{name}.pack")
        self.idx_path = os.path.join(store_dir, f"pack-{name}.idx")
        st = os.stat(self.idx_path)
        self.mtime = st.st_mtime
        # from the idx size (fixed layout, see pack.py); the real count is checked on open
        n, rest = divmod(st.st_size - _IDX_FIXED, _IDX_PER_ID)
        self.count_hint = n if n >= 0 and not rest else None
        self._index = None
        self._buf = None
        self._broken = False

    def _open(self) -> None:
        index = PackIndex.open(self.idx_path)
        try:
            fd = open_regular(self.path)  # a FIFO or /dev/zero here is damage, not a pack
            try:
                if os.fstat(fd).st_size == 0:
                    raise CorruptObjectError(f"pack {self.path} is empty")
                buf = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
            finally:
                os.close(fd)
        except BaseException:
            index.close()
            raise
        self._index, self._buf = index, buf

    @property
    def index(self) -> PackIndex:
        if self._index is None:
            self._open()
        return self._index

    @property
    def buf(self):
        if self._buf is None:
            self._open()
        return self._buf

    def usable(self) -> bool:
        """Open it now; False if it is gone or damaged (fsck reports damage; not retried)."""
        if self._index is not None:
            return True
        if self._broken:
            return False
        try:
            self._open()
            return True
        except (OSError, CorruptObjectError, ValueError):
            self._broken = True
            return False

    def read(self, oid: bytes) -> Optional[bytes]:
        if self._index is None and not self.usable():
            return None
        hit = self._index.find(oid)
        if hit is None:
            return None
        return read_entry(self._buf, hit[0], hit[1], oid, self.path)

    def release_pages(self) -> None:
        """Drop the resident pages of this pack's mmaps (file-backed: read again on use)."""
        if self._index is None:
            return
        for buf in (self._buf, self._index.data):
            try:
                buf.madvise(mmap.MADV_DONTNEED)
            except (AttributeError, OSError, ValueError):  # no madvise here, or already closed
                pass

    def close(self):
        if self._index is None:
            return
        self._index.close()
        try:
            self._buf.close()
        except BufferError:
            pass
