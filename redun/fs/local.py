"""The local POSIX file system (protocol "local": plain paths)."""

import glob
import os
import shutil
from shlex import quote
from typing import IO, Any, Optional

from ..hashing import hash_struct
from .base import FileSystem, get_filesystem, get_proto, register_filesystem


def _ensure_parent(path: str) -> None:
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)


@register_filesystem
class LocalFileSystem(FileSystem):
    """Local paths. Hash: upstream's pseudo-hash of path (as written), size and str(mtime)."""

    name = "local"

    def _open(self, path: str, mode: str, **kwargs: Any) -> IO:
        if "w" in mode or "a" in mode:
            _ensure_parent(path)
        return open(path, mode, **kwargs)

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def remove(self, path: str) -> None:
        try:
            os.remove(path)
        except FileNotFoundError:
            pass

    def touch(self, path: str, time: Optional[tuple] = None) -> None:
        if not self.exists(path):
            self.open(path, "w").close()
        else:
            os.utime(path, time)

    def mkdir(self, path: str) -> None:
        os.makedirs(path, exist_ok=True)

    def rmdir(self, path: str, recursive: bool = False) -> None:
        if os.path.isdir(path):
            if recursive:
                shutil.rmtree(path)
            else:
                os.rmdir(path)

    def get_hash(self, path: str) -> str:
        try:
            st = os.stat(path)
            size, mtime = st.st_size, st.st_mtime
        except OSError:
            size, mtime = -1, -1
        return hash_struct(["File", "local", path, size, str(mtime)])

    def copy(self, src_path: str, dest_path: str) -> None:
        if get_proto(src_path) == get_proto(dest_path) == "local":
            _ensure_parent(dest_path)
            shutil.copyfile(src_path, dest_path)
        else:
            super().copy(src_path, dest_path)

    def shell_copy(
        self,
        src_path: Optional[str],
        dest_path: Optional[str],
        recursive: bool = False,
        as_mount: bool = False,
    ) -> str:
        protos = {get_proto(p) for p in (src_path, dest_path) if p}
        if "local" not in protos:
            return super().shell_copy(src_path, dest_path, recursive=recursive, as_mount=as_mount)
        other = next((p for p in protos if p != "local"), None)
        if other:
            # The remote side knows its own tools (aws s3 cp, gsutil, redun fs cp).
            return get_filesystem(other).shell_copy(src_path, dest_path, recursive=recursive, as_mount=as_mount)
        if src_path and dest_path:
            flag = "-r " if recursive else ""
            return f"cp {flag}{quote(src_path)} {quote(dest_path)}"
        if recursive:
            raise ValueError("recursive is not supported with stdin or stdout.")
        if src_path:
            return f"cat {quote(src_path)}"
        if dest_path:
            return f"cat > {quote(dest_path)}"
        raise ValueError("At least one path must be given.")

    def glob(self, pattern: str) -> list:
        return glob.glob(pattern, recursive=True)

    def isfile(self, path: str) -> bool:
        return os.path.isfile(path)

    def isdir(self, path: str) -> bool:
        return os.path.isdir(path)

    def filesize(self, path: str) -> int:
        return os.stat(path).st_size
