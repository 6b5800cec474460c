"""Files, file sets and directories as workflow values, on any file system.

`File(path)` works on local paths, s3://, http(s):// (read-only) and, when their
packages are installed, gs://, az:// and ftp://; the file systems live in
redun/fs/ and are chosen by the path's protocol. A File's hash is its file
system's cheap pseudo-hash (local: path, size and mtime; S3: path and ETag;
HTTP: URL and Content-Length), so a cached result holding a File is reused only
while the file is unchanged (`is_valid`).

Classes, type names, hashes and pickled state are upstream redun 0.44.1's:
File pickles as `redun.file.File` with state {"path", "hash"} (in that order),
so value hashes agree with upstream's records. The I* classes hash by path only
(immutable files), the Content* classes by content. Staging pairs a local path
with a remote one for script tasks (redun.scripting).
"""

import os
from typing import IO, Any, Generic, Iterator, Optional, TypeVar

from .fs import (  # noqa: F401 - upstream exposes these names in redun.file
    AzureBlobFileSystem,
    FileSystem,
    FileSystemError,
    FsspecFileSystem,
    FTPFileSystem,
    GSFileSystem,
    HTTPFileSystem,
    HTTPSFileSystem,
    LocalFileSystem,
    RedunFileNotFoundError,
    RedunOSError,
    RedunPermissionError,
    S3FileSystem,
    copy_file,
    get_filesystem,
    get_filesystem_class,
    get_proto,
    glob_file,
    list_filesystems,
    open_file,
    register_filesystem,
)
from .hashing import hash_stream, hash_struct
from .value import Value

T = TypeVar("T")


class FileClasses:
    """The related classes of one family (File, FileSet, Dir, StagingFile, StagingDir),
    so a method of IFile makes IFiles and a ContentDir yields ContentFiles."""

    _family = {"File": "File", "FileSet": "FileSet", "Dir": "Dir",
               "StagingFile": "StagingFile", "StagingDir": "StagingDir"}

    def __getattr__(self, attr: str) -> type:
        # Looked up on use: the classes are defined below this one.
        name = self._family.get(attr)
        if name is None:
            raise AttributeError(attr)
        return globals()[name]


class _Pathlike(Value):
    """What File, FileSet and Dir share: a lazily computed hash and validity."""

    type_basename = ""

    _hash: Optional[str]

    @property
    def hash(self) -> str:
        if not self._hash:
            self._hash = self._calc_hash()
        return self._hash

    def _calc_hash(self) -> str:
        raise NotImplementedError

    def get_hash(self, data: Optional[bytes] = None) -> str:
        return self.hash

    def __redun_hash__(self) -> str:
        return self.hash

    def update_hash(self) -> None:
        self._hash = self._calc_hash()

    def is_valid(self) -> bool:
        """True while what is stored still hashes as recorded (a value never hashed
        is hashed now, and is valid)."""
        if not self._hash:
            self.update_hash()
            return True
        return self.hash == self._calc_hash()

    @property
    def _key(self) -> str:
        return self.path

    @property
    def __redun_file__(self) -> tuple:
        # How the value codec stores any file-like natively (type, path or pattern, hash).
        return (self.type_name, self._key, self.hash)

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and other._key == self._key and other.hash == self.hash

    def __hash__(self) -> int:
        return hash((self.type_basename, self._key))


class File(_Pathlike):
    """A file on any file system, hashed cheaply by its file system."""

    type_basename = "File"
    type_name = "redun.File"
    classes = FileClasses()

    def __init__(self, path: str):
        path = os.fspath(path)
        self.filesystem: FileSystem = get_filesystem(url=path)
        self.path: str = path
        self._hash: Optional[str] = None

    def __repr__(self) -> str:
        return f"{self.type_basename}(path={self.path}, hash={self.hash[:8]})"

    def __getstate__(self) -> dict:
        return {"path": self.path, "hash": self.hash}

    def __setstate__(self, state: dict) -> None:
        self.path = state["path"]
        self._hash = state["hash"]
        self.filesystem = get_filesystem(url=self.path)

    def _calc_hash(self) -> str:
        return self.filesystem.get_hash(self.path)

    def exists(self) -> bool:
        return self.filesystem.exists(self.path)

    def remove(self) -> None:
        self.filesystem.remove(self.path)

    def open(self, mode: str = "r", encoding: Optional[str] = None, **kwargs: Any) -> IO:
        """A stream on the file ('r', 'w', 'a', plus 'b' for bytes). Closing a stream
        re-hashes the file, so a File written through open() hashes its new content."""
        stream = self.filesystem.open(self.path, mode, encoding=encoding, **kwargs)
        original_close = stream.close

        def close() -> None:
            original_close()
            self.update_hash()
            stream.close = original_close  # a second close() does not hash again

        stream.close = close
        return stream

    def touch(self, time: Optional[tuple] = None) -> None:
        self.filesystem.touch(self.path, time)

    def read(self, mode: str = "r", encoding: Optional[str] = None):
        with self.open(mode=mode, encoding=encoding) as infile:
            return infile.read()

    def readlines(self, mode: str = "r") -> list:
        with self.open(mode=mode) as infile:
            return infile.readlines()

    def write(self, data, mode: Optional[str] = None, encoding: Optional[str] = None) -> None:
        """Write str (mode 'w') or bytes (mode 'wb'; chosen by default for bytes)."""
        if mode is None:
            mode = "wb" if isinstance(data, (bytes, bytearray, memoryview)) else "w"
        with self.open(mode=mode, encoding=encoding) as out:
            out.write(data)

    def copy_to(self, dest_file: "File", skip_if_exists: bool = False) -> "File":
        """Copy to dest_file (any file system), streaming; returns dest_file, re-hashed."""
        if skip_if_exists and dest_file.exists():
            return dest_file
        if self.filesystem.name == "local" and dest_file.filesystem.name != "local":
            # Uploads go through the destination's file system (its own transfer).
            dest_file.filesystem.copy(self.path, dest_file.path)
        else:
            self.filesystem.copy(self.path, dest_file.path)
        dest_file.update_hash()
        return dest_file

    def shell_copy_to(self, dest_path: Optional[str], as_mount: bool = False) -> str:
        """A shell command copying this file to dest_path (None: to stdout)."""
        return self.filesystem.shell_copy(self.path, dest_path, as_mount=as_mount)

    def isfile(self) -> bool:
        return self.filesystem.isfile(self.path)

    def isdir(self) -> bool:
        return self.filesystem.isdir(self.path)

    def stage(self, local: Optional[str] = None) -> "StagingFile":
        """Pair this (remote) file with a local path: its basename in the working
        directory by default, or inside `local` when it ends with '/'."""
        if not local:
            local = os.path.basename(self.path)
        elif local.endswith("/"):
            local = os.path.join(local, os.path.basename(self.path))
        return self.classes.StagingFile(local, self)

    def basename(self) -> str:
        return os.path.basename(self.path)

    def dirname(self) -> str:
        return os.path.dirname(self.path)

    def size(self) -> int:
        return self.filesystem.filesize(self.path)


class FileSet(_Pathlike):
    """The files matching a glob pattern (`**` crosses directories), hashed together."""

    type_basename = "FileSet"
    type_name = "redun.FileSet"
    classes = FileClasses()

    def __init__(self, pattern: str):
        self.pattern = os.fspath(pattern)
        self.filesystem: FileSystem = get_filesystem(url=self.pattern)
        self._hash: Optional[str] = None
        self._files: Optional[list] = None

    @property
    def _key(self) -> str:
        return self.pattern

    def __repr__(self) -> str:
        return f"{self.type_basename}(pattern={self.pattern}, hash={self.hash})"

    @property
    def hash(self) -> str:
        if not self._hash:
            self._files = list(self)
            self._hash = self._calc_hash(self._files)
        return self._hash

    def _calc_hash(self, files: Optional[list] = None) -> str:
        if files is None:
            files = list(self)
        return hash_struct([self.type_basename, self.pattern] + sorted(f.hash for f in files))

    def update_hash(self) -> None:
        self._files = list(self)
        self._hash = self._calc_hash(self._files)

    def __getstate__(self) -> dict:
        return {"pattern": self.pattern, "hash": self.hash}

    def __setstate__(self, state: dict) -> None:
        self.pattern = state["pattern"]
        self._hash = state["hash"]
        self.filesystem = get_filesystem(url=self.pattern)
        self._files = None

    def __iter__(self) -> Iterator[File]:
        for path in self.filesystem.glob_files(self.pattern):
            yield self.classes.File(path)

    def files(self) -> list:
        return list(self)

    def iter_subvalues(self) -> Iterator[Value]:
        return iter(self._files) if self._files is not None else iter(self)


class Dir(FileSet):
    """A directory (on object stores: a key prefix), hashed from the files below it."""

    type_basename = "Dir"
    type_name = "redun.Dir"
    classes = FileClasses()

    def __init__(self, path: str):
        path = os.fspath(path).rstrip("/") or "/"
        self.path = path
        super().__init__(os.path.join(path, "**"))

    @property
    def _key(self) -> str:
        return self.path

    def __repr__(self) -> str:
        return f"{self.type_basename}(path={self.path}, hash={self.hash[:8]})"

    def __getstate__(self) -> dict:
        return {"path": self.path, "hash": self.hash}

    def __setstate__(self, state: dict) -> None:
        self.path = state["path"]
        super().__setstate__({"pattern": os.path.join(self.path, "**"), "hash": state["hash"]})

    @property
    def hash(self) -> str:
        if not self._hash:
            self._hash = self._calc_hash()
        return self._hash

    def _calc_hash(self, files: Optional[list] = None) -> str:
        file_hashes = self.filesystem.iter_file_hashes(self.path)
        return hash_struct([self.type_basename, self.path] + sorted(file_hashes))

    def exists(self) -> bool:
        return self.filesystem.exists(self.path)

    def mkdir(self) -> None:
        self.filesystem.mkdir(self.path)
        self.update_hash()

    def rmdir(self, recursive: bool = False) -> None:
        self.filesystem.rmdir(self.path, recursive)
        self.update_hash()

    def file(self, rel_path: str) -> File:
        return self.classes.File(os.path.join(self.path, rel_path))

    def rel_path(self, path: str) -> str:
        return os.path.relpath(path, self.path)

    def copy_to(self, dest_dir: "Dir", skip_if_exists: bool = False) -> "Dir":
        """Copy every file below this directory to the same relative path below dest_dir."""
        for src_file in self:
            src_file.copy_to(dest_dir.file(self.rel_path(src_file.path)), skip_if_exists=skip_if_exists)
        return dest_dir

    def shell_copy_to(self, dest_path: str, as_mount: bool = False) -> str:
        return self.filesystem.shell_copy(self.path, dest_path, recursive=True, as_mount=as_mount)

    def stage(self, local: Optional[str] = None) -> "StagingDir":
        return self.classes.StagingDir(local or os.path.basename(self.path), self)


class Staging(Value, Generic[T]):
    """A local path paired with a remote one; script tasks copy in (stage) and out (unstage)."""

    local: Any
    remote: Any

    def __init__(self, local: Any, remote: Any):
        self.local = self.classes.File(local) if isinstance(local, str) else local
        self.remote = self.classes.File(remote) if isinstance(remote, str) else remote

    def __repr__(self) -> str:
        return f"{self.type_basename}(local={self.local}, remote={self.remote})"

    def __getstate__(self) -> dict:
        return {"local": self.local, "remote": self.remote}

    def __setstate__(self, state: dict) -> None:
        self.local = state["local"]
        self.remote = state["remote"]

    def get_hash(self, data: Optional[bytes] = None) -> str:
        return hash_struct([self.type_name, self.local.path, self.remote.path])

    def stage(self):
        """Copy remote to local; returns the local value."""
        if self.local.path == self.remote.path:
            return self.local
        return self.remote.copy_to(self.local)

    def unstage(self):
        """Copy local to remote; returns the remote value."""
        if self.local.path == self.remote.path:
            return self.remote
        return self.local.copy_to(self.remote)

    def render_stage(self, as_mount: bool = False) -> str:
        """The shell command that stages (remote to local); '' when they are the same path."""
        if self.local.path == self.remote.path:
            return ""
        return self.remote.shell_copy_to(self.local.path, as_mount=as_mount)

    def render_unstage(self, as_mount: bool = False) -> str:
        """The shell command that unstages (local to remote); '' when they are the same path."""
        if self.local.path == self.remote.path:
            return ""
        return self.local.shell_copy_to(self.remote.path, as_mount=as_mount)

    @classmethod
    def parse_arg(cls, raw_type: type, arg: str) -> Any:
        raise NotImplementedError("Argument parsing is implemented for Staging Files and Dirs")


class StagingFile(Staging[File]):
    type_basename = "StagingFile"
    type_name = "redun.StagingFile"
    classes = FileClasses()


class StagingDir(Staging[Dir]):
    type_basename = "StagingDir"
    type_name = "redun.StagingDir"
    classes = FileClasses()

    def __init__(self, local: Any, remote: Any):
        self.local = self.classes.Dir(local) if isinstance(local, str) else local
        self.remote = self.classes.Dir(remote) if isinstance(remote, str) else remote


# The immutable (I*) and content-hashed (Content*) families, and ShardedS3Dataset, live
# in their own modules but are upstream's redun.file classes: they pickle under this name.
from .filekinds import (  # noqa: E402
    ContentDir,
    ContentFile,
    ContentFileClasses,
    ContentFileSet,
    ContentStagingDir,
    ContentStagingFile,
    IDir,
    IFile,
    IFileClasses,
    IFileSet,
    IStagingDir,
    IStagingFile,
)
from .sharded import ShardedS3Dataset  # noqa: E402

for _cls in (ContentDir, ContentFile, ContentFileClasses, ContentFileSet, ContentStagingDir,
             ContentStagingFile, IDir, IFile, IFileClasses, IFileSet, IStagingDir, IStagingFile,
             ShardedS3Dataset):
    _cls.__module__ = __name__

# type name -> class, for values read back from records (FileRefs).
FILE_CLASSES_BY_TYPE = {
    cls.type_name: cls
    for cls in (File, FileSet, Dir, IFile, IFileSet, IDir, ContentFile, ContentFileSet, ContentDir)
}


def file_from_record(type_name: str, path: str, hash: str) -> Optional[Value]:
    """The live file-like for a recorded (type, path or pattern, hash), without touching
    storage; None for an unknown type."""
    cls = FILE_CLASSES_BY_TYPE.get(type_name)
    if cls is None:
        return None
    obj = cls.__new__(cls)
    key = "pattern" if issubclass(cls, FileSet) and not issubclass(cls, Dir) else "path"
    obj.__setstate__({key: path, "hash": hash})
    return obj

