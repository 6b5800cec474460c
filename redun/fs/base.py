"""The FileSystem base class, the protocol registry and the module-level helpers.

A path's protocol is its URL scheme ("s3", "http", ...) or "local". Each
protocol has one FileSystem class (`register_filesystem`) and, per process,
one instance (`get_filesystem`). File, Dir and friends in redun.file only talk
to a path through its FileSystem, so adding a protocol is adding a class.

Names, signatures and hash rules are upstream redun 0.44.1's, so user code and
recorded file hashes carry over.
"""

import abc
import io
import shutil
import sys
from shlex import quote
from typing import IO, Any, Iterator, Optional
from urllib.parse import urlparse

from ..errors import RedunError

_proto2filesystem_class: dict = {}
_filesystem_instances: dict = {}

# Bytes per read/write when a copy streams through this process.
COPY_CHUNK = 1 << 20


class FileSystemError(RedunError):
    """A file system cannot be used as asked: missing package, unreachable endpoint, bad URL."""


class _PathError:
    """Mixin for upstream's path-carrying OSErrors: `str()` names the path."""

    def __init__(self, path: str, *args):
        super().__init__(*args)
        self.path = path

    def __str__(self) -> str:
        return f"[Errno {self.errno}] {self.strerror}. {self.path}"


class RedunFileNotFoundError(_PathError, FileNotFoundError, RedunError):
    """A path that does not exist was opened for reading (upstream's name)."""


class RedunPermissionError(_PathError, PermissionError, RedunError):
    """Access to a path was denied (upstream's name)."""


class RedunOSError(_PathError, OSError, RedunError):
    """Any other OS-level failure on a path (upstream's name)."""


def register_filesystem(cls: type) -> type:
    """Class decorator: make `cls` the FileSystem for protocol `cls.name`."""
    _proto2filesystem_class[cls.name] = cls
    return cls


def get_proto(url: Optional[str] = None) -> str:
    """The protocol of a url: 'http' for 'http://example.com', 'local' for '/a/b' or ''."""
    if not url:
        return "local"
    return urlparse(url).scheme or "local"


def get_filesystem_class(proto: Optional[str] = None, url: Optional[str] = None) -> type:
    """The FileSystem class for a protocol, or for the protocol of a url."""
    if not proto:
        proto = get_proto(url)  # an empty path is a local one
    cls = _proto2filesystem_class.get(proto)
    if cls is None:
        known = ", ".join(sorted(_proto2filesystem_class))
        where = f" (in {url!r})" if url else ""
        raise FileSystemError(f"No file system for protocol {proto!r}{where}; known protocols: {known}.")
    return cls


def list_filesystems() -> list:
    """Every registered FileSystem class."""
    return list(_proto2filesystem_class.values())


def get_filesystem(proto: Optional[str] = None, url: Optional[str] = None) -> "FileSystem":
    """The process-wide FileSystem instance for a protocol or url."""
    cls = get_filesystem_class(proto=proto, url=url)
    fs = _filesystem_instances.get(cls)
    if fs is None:
        fs = _filesystem_instances[cls] = cls()
    return fs


def open_file(url: str, mode: str = "r", encoding: Optional[str] = None, **kwargs: Any) -> IO:
    """Open a stream on any file system ('r', 'w', 'a', with 'b' for bytes)."""
    return get_filesystem(url=url).open(url, mode=mode, encoding=encoding, **kwargs)


def glob_file(pattern: str) -> list:
    """Paths matching a glob pattern (`**` crosses directories) on the pattern's file system."""
    return get_filesystem(url=pattern).glob(pattern)


def copy_file(src_path: Optional[str], dest_path: Optional[str], recursive: bool = False) -> None:
    """Copy a file (or, with recursive, a directory tree) across file systems.
    None stands for stdin (as source) or stdout (as destination)."""
    from ..file import Dir, File

    if src_path is not None and dest_path is not None:
        if recursive:
            Dir(src_path).copy_to(Dir(dest_path))
        else:
            File(src_path).copy_to(File(dest_path))
        return
    if recursive:
        raise ValueError("recursive is not supported with stdin or stdout.")
    infile = sys.stdin.buffer if src_path is None else open_file(src_path, "rb")
    try:
        outfile = sys.stdout.buffer if dest_path is None else open_file(dest_path, "wb")
        try:
            shutil.copyfileobj(infile, outfile, COPY_CHUNK)
        finally:
            if dest_path is None:
                outfile.flush()
            else:
                outfile.close()
    finally:
        if src_path is not None:
            infile.close()


class FileSystem(abc.ABC):
    """How File/Dir reach one kind of storage. Subclasses set `name` (the protocol)."""

    name: str = "base"

    def open(self, path: str, mode: str, encoding: Optional[str] = None, **kwargs: Any) -> IO:
        """A stream on path. With `encoding`, a text stream over the binary one."""
        if encoding:
            if "b" in mode:
                raise ValueError("Binary mode 'b' cannot be used with encoding.")
            mode += "b"
        try:
            stream = self._open(path, mode, **kwargs)
        except RedunError:
            raise
        except FileNotFoundError as e:
            raise RedunFileNotFoundError(path, *e.args) from e
        except PermissionError as e:
            raise RedunPermissionError(path, *e.args) from e
        except OSError as e:
            raise RedunOSError(path, *e.args) from e
        if encoding:
            stream = io.TextIOWrapper(stream, encoding)
        return stream

    @abc.abstractmethod
    def _open(self, path: str, mode: str, **kwargs: Any) -> IO:
        """Open path in mode; the subclass's own stream."""

    @abc.abstractmethod
    def exists(self, path: str) -> bool:
        """True if path is a file or a directory."""

    @abc.abstractmethod
    def remove(self, path: str) -> None:
        """Delete a file; a missing file is not an error."""

    def touch(self, path: str, time: Optional[tuple] = None) -> None:
        """Create path if missing. Only the local file system can set a time."""
        if time is not None:
            raise FileSystemError(f"touch with a time is only supported on local files, not {path!r}.")
        if not self.exists(path):
            self.open(path, "wb").close()

    @abc.abstractmethod
    def mkdir(self, path: str) -> None:
        """Create a directory (and its parents)."""

    @abc.abstractmethod
    def rmdir(self, path: str, recursive: bool = False) -> None:
        """Remove a directory; with recursive, everything under it too."""

    @abc.abstractmethod
    def get_hash(self, path: str) -> str:
        """The file's pseudo-hash (cheap; changes when the file does)."""

    def iter_file_hashes(self, path: str) -> Iterator[str]:
        """The hashes of every file below a directory (feeds Dir's hash)."""
        from ..file import Dir

        for file in Dir(path):
            yield file.hash

    def copy(self, src_path: str, dest_path: str) -> None:
        """Copy one file, streaming through this process in chunks."""
        with open_file(src_path, "rb") as infile, open_file(dest_path, "wb") as outfile:
            shutil.copyfileobj(infile, outfile, COPY_CHUNK)

    def shell_copy(
        self,
        src_path: Optional[str],
        dest_path: Optional[str],
        recursive: bool = False,
        as_mount: bool = False,
    ) -> str:
        """A shell command copying src to dest (None: stdin / stdout), piping two file
        systems' own commands together when both ends are given."""
        if recursive:
            if src_path and dest_path:
                return f"redun fs cp --recursive {quote(src_path)} {quote(dest_path)}"
            raise ValueError("recursive is not supported with stdin or stdout.")
        src_cmd = get_filesystem(url=src_path).shell_copy(src_path, None, as_mount=as_mount) if src_path else None
        dest_cmd = get_filesystem(url=dest_path).shell_copy(None, dest_path, as_mount=as_mount) if dest_path else None
        if src_cmd and dest_cmd:
            return f"({src_cmd}) | ({dest_cmd})"
        if src_cmd:
            return src_cmd
        if dest_cmd:
            return dest_cmd
        raise ValueError("At least one path must be defined.")

    @abc.abstractmethod
    def glob(self, pattern: str) -> list:
        """Paths matching pattern (`**` crosses directories)."""

    def glob_files(self, pattern: str) -> list:
        """The files (not directories) among glob(pattern)."""
        return [path for path in self.glob(pattern) if self.isfile(path)]

    @abc.abstractmethod
    def isfile(self, path: str) -> bool:
        """True if path is a file."""

    @abc.abstractmethod
    def isdir(self, path: str) -> bool:
        """True if path is a directory (on object stores: a prefix with keys below it)."""

    @abc.abstractmethod
    def filesize(self, path: str) -> int:
        """Size in bytes; FileNotFoundError if missing."""


def cli_copy_command(src_path: str, dest_path: str, recursive: bool = False) -> str:
    """`redun fs cp` between two paths, '-' for stdin/stdout (the generic shell copy)."""
    flag = "--recursive " if recursive else ""
    return f"redun fs cp {flag}{quote(src_path or '-')} {quote(dest_path or '-')}"
