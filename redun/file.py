"""Local files and directories as workflow values, with stat-based staleness.

A File's hash is upstream's pseudo-hash of path (as written), size and
str(mtime): cheap, and it changes whenever the file is rewritten or touched.
A cached result holding a File is reused only while that hash still matches
the file on disk (`is_valid`). Files pickle as `redun.file.File` with state
{"path", "hash"} in that order, byte-compatible with upstream, so value
hashes of containers of Files agree with upstream's.
"""

import glob
import os
import shutil
from typing import Iterator, Optional

from .hashing import hash_struct


def _stat_hash(type_name: str, path: str) -> str:
    try:
        st = os.stat(path)
        size, mtime = st.st_size, st.st_mtime
    except OSError:
        size, mtime = -1, -1
    return hash_struct([type_name, "local", path, size, str(mtime)])


class _LocalPath:
    """What File and Dir share: a path, a lazily computed stat-based hash, and
    upstream's pickle state. Pickles name the concrete class (redun.file.File
    or redun.file.Dir), never this base, so value hashes stay upstream's."""

    type_name = ""
    _display = ""

    def __init__(self, path: str):
        self.path = os.fspath(path)
        self._hash: Optional[str] = None

    def _calc_hash(self) -> str:
        raise NotImplementedError

    @property
    def hash(self) -> str:
        if self._hash is None:
            self._hash = self._calc_hash()
        return self._hash

    @hash.setter
    def hash(self, value: str) -> None:
        self._hash = value

    def update_hash(self) -> None:
        self._hash = self._calc_hash()

    def is_valid(self) -> bool:
        """True while what is on disk still matches the recorded hash."""
        return self.hash == self._calc_hash()

    def __redun_hash__(self) -> str:
        return self.hash

    @property
    def __redun_file__(self) -> tuple:
        return (self.type_name, self.path, self.hash)

    def __getstate__(self) -> dict:
        return {"path": self.path, "hash": self.hash}

    def __setstate__(self, state: dict) -> None:
        self.path = state["path"]
        self._hash = state["hash"]

    def __repr__(self) -> str:
        return f"{self._display}(path={self.path}, hash={self.hash[:8]})"

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and other.path == self.path and other.hash == self.hash

    def __hash__(self) -> int:
        return hash((self._display, self.path))


class File(_LocalPath):
    """A local file path, hashed by path/size/mtime. Upstream type name: redun.File."""

    type_name = "redun.File"
    _display = "File"

    def _calc_hash(self) -> str:
        return _stat_hash("File", self.path)

    # -- file operations -----------------------------------------------------
    @property
    def basename(self) -> str:
        return os.path.basename(self.path)

    @property
    def dirname(self) -> str:
        return os.path.dirname(self.path)

    def exists(self) -> bool:
        return os.path.exists(self.path)

    def size(self) -> int:
        return os.stat(self.path).st_size

    def stat(self) -> dict:
        st = os.stat(self.path)
        return {"size": st.st_size, "mtime": st.st_mtime}

    def open(self, mode: str = "r", encoding: Optional[str] = None, **kwargs):
        if any(c in mode for c in "wax+"):
            d = os.path.dirname(self.path)
            if d:
                os.makedirs(d, exist_ok=True)
            return _HashUpdatingFile(self, open(self.path, mode, encoding=encoding, **kwargs))
        return open(self.path, mode, encoding=encoding, **kwargs)

    def read(self, mode: str = "r", encoding: Optional[str] = None):
        with self.open(mode, encoding=encoding) as f:
            return f.read()

    def readlines(self, mode: str = "r") -> list:
        with self.open(mode) as f:
            return f.readlines()

    def write(self, data, mode: Optional[str] = None, encoding: Optional[str] = None) -> None:
        if mode is None:
            mode = "wb" if isinstance(data, bytes) else "w"
        with self.open(mode, encoding=encoding) as f:
            f.write(data)

    def touch(self, time=None) -> None:
        with open(self.path, "a"):
            os.utime(self.path, time)
        self.update_hash()

    def remove(self) -> None:
        try:
            os.remove(self.path)
        except FileNotFoundError:
            pass
        self.update_hash()

    def copy_to(self, dest_file: "File", skip_if_exists: bool = False) -> "File":
        if not (skip_if_exists and dest_file.exists()):
            d = os.path.dirname(dest_file.path)
            if d:
                os.makedirs(d, exist_ok=True)
            shutil.copyfile(self.path, dest_file.path)
            dest_file.update_hash()
        return dest_file


class _HashUpdatingFile:
    """Wraps a writable file object; on close the File's hash is recomputed."""

    def __init__(self, file: File, fh):
        self._file = file
        self._fh = fh

    def __getattr__(self, name):
        return getattr(self._fh, name)

    def __iter__(self):
        return iter(self._fh)

    def close(self):
        self._fh.close()
        self._file.update_hash()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Dir(_LocalPath):
    """A local directory, hashed from the hashes of every file below it."""

    type_name = "redun.Dir"
    _display = "Dir"

    def __init__(self, path: str):
        super().__init__(os.fspath(path).rstrip("/") or "/")

    def _file_paths(self) -> list:
        pattern = os.path.join(self.path, "**")
        return sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))

    def files(self) -> Iterator[File]:
        for p in self._file_paths():
            yield File(p)

    def __iter__(self):
        return self.files()

    def _calc_hash(self) -> str:
        hashes = sorted(_stat_hash("File", p) for p in self._file_paths())
        return hash_struct(["Dir", self.path] + hashes)

    def exists(self) -> bool:
        return os.path.isdir(self.path)

    def mkdir(self) -> None:
        os.makedirs(self.path, exist_ok=True)

    def file(self, rel_path: str) -> File:
        return File(os.path.join(self.path, rel_path))

    def rel_path(self, path: str) -> str:
        return os.path.relpath(path, self.path)

    def copy_to(self, dest_dir: "Dir", skip_if_exists: bool = False) -> "Dir":
        for f in self.files():
            f.copy_to(dest_dir.file(self.rel_path(f.path)), skip_if_exists=skip_if_exists)
        dest_dir.update_hash()
        return dest_dir
