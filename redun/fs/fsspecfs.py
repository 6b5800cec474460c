"""File systems served by fsspec and its plugins: ftp://, gs:// (gcsfs), az:// (adlfs).

These are optional: each names the package to install when it is missing
(`pip install 'redun[gcs]'`, `'redun[azure]'`, `'redun[fsspec]'` for ftp). Hashes
are upstream's: hash_struct(["File", "fsspec", path, str(size)]) for ftp and gs,
hash_struct(["File", "az", path, etag]) for az.
"""

import os
import re
from shlex import quote
from typing import IO, Any, Optional
from urllib.parse import urlparse

from ..hashing import hash_struct
from .base import FileSystem, FileSystemError, cli_copy_command, get_proto, register_filesystem

# protocol -> (module fsspec needs, pip extra that brings it)
_PACKAGES = {"ftp": ("fsspec", "fsspec"), "gs": ("gcsfs", "gcs"), "az": ("adlfs", "azure")}


def _require(proto: str):
    module, extra = _PACKAGES[proto]
    try:
        return __import__(module)
    except ImportError:
        raise FileSystemError(
            f"{proto}:// paths need the Python package {module!r}: pip install 'redun[{extra}]' "
            f"(or pip install {module})."
        ) from None


class FsspecFileSystem(FileSystem):
    """A FileSystem over one fsspec implementation (upstream's class of the same name)."""

    name: str = "fsspec"

    def __init__(self):
        self._fs = None

    @property
    def fs(self):
        if self._fs is None:
            _require(self.name)
            import fsspec

            self._fs = fsspec.get_filesystem_class(self.name)()
        return self._fs

    def fs_for(self, path: str):
        return self.fs

    def _open(self, path: str, mode: str, **kwargs: Any) -> IO:
        fs = self.fs_for(path)
        if "w" in mode or "a" in mode:
            fs.makedirs(os.path.dirname(path), exist_ok=True)
        return fs.open(path, mode, **kwargs)

    def exists(self, path: str) -> bool:
        return self.fs_for(path).exists(path)

    def remove(self, path: str) -> None:
        try:
            self.fs_for(path).rm(path)
        except FileNotFoundError:
            pass

    def mkdir(self, path: str) -> None:
        self.fs_for(path).makedirs(path, exist_ok=True)

    def rmdir(self, path: str, recursive: bool = False) -> None:
        try:
            self.fs_for(path).rm(path, recursive=recursive)
        except FileNotFoundError:
            pass

    def get_hash(self, path: str) -> str:
        size = self.fs_for(path).stat(path)["size"] if self.exists(path) else -1
        return hash_struct(["File", "fsspec", path, str(size)])

    def copy(self, src_path: str, dest_path: str) -> None:
        if get_proto(src_path) == get_proto(dest_path):
            self.fs_for(src_path).copy(src_path, dest_path)
        else:
            super().copy(src_path, dest_path)

    def shell_copy(
        self,
        src_path: Optional[str],
        dest_path: Optional[str],
        recursive: bool = False,
        as_mount: bool = False,
    ) -> str:
        if recursive and not (src_path and dest_path):
            raise ValueError("recursive is not supported with stdin or stdout.")
        return cli_copy_command(src_path, dest_path, recursive)

    def glob(self, pattern: str) -> list:
        return self.fs_for(pattern).glob(pattern, recursive=True)

    def isfile(self, path: str) -> bool:
        return self.fs_for(path).isfile(path)

    def isdir(self, path: str) -> bool:
        return self.fs_for(path).isdir(path)

    def filesize(self, path: str) -> int:
        return self.fs_for(path).stat(path)["size"]


@register_filesystem
class FTPFileSystem(FsspecFileSystem):
    """ftp:// URLs through fsspec."""

    name = "ftp"


@register_filesystem
class GSFileSystem(FsspecFileSystem):
    """Google Cloud Storage (gs://) through gcsfs; shell copies use gsutil, as upstream."""

    name = "gs"

    def shell_copy(
        self,
        src_path: Optional[str],
        dest_path: Optional[str],
        recursive: bool = False,
        as_mount: bool = False,
    ) -> str:
        if as_mount:
            cmd, src_path, dest_path = _gs_mount_copy(src_path, dest_path, recursive)
            if cmd:
                return cmd
        protos = {get_proto(p) for p in (src_path, dest_path) if p}
        if "gs" not in protos or not protos <= {"local", "gs"}:
            return super().shell_copy(src_path, dest_path, recursive=recursive, as_mount=as_mount)
        if src_path and dest_path:
            flag = "-r " if recursive else ""
            return f"gsutil cp {flag}{quote(src_path)} {quote(dest_path)}"
        if recursive:
            raise ValueError("recursive is not supported with stdin or stdout.")
        if src_path:
            return f"gsutil cp {quote(src_path)} -"
        if dest_path:
            return f"gsutil cp - {quote(dest_path)}"
        raise ValueError("At least one path must be given.")

    def glob(self, pattern: str) -> list:
        return ["gs://" + key for key in self.fs.glob(pattern)]


def _gs_mount_copy(src_path: Optional[str], dest_path: Optional[str], recursive: bool) -> tuple:
    """Shell copy where gs:// buckets are mounted at /mnt/disks/<bucket> (upstream's layout):
    (command or None, src, dest rewritten to their mount paths). None: no mount-specific
    command for this pair (local to local, gs to gs), the caller goes on with the paths."""

    def mounted(path):
        parsed = urlparse(path)
        return f"/mnt/disks/{parsed.netloc}{parsed.path}"

    src_proto, dest_proto = get_proto(src_path), get_proto(dest_path)
    if src_proto == "gs":
        src_path = mounted(src_path)
    if dest_proto == "gs":
        dest_path = mounted(dest_path)
    mk_dest_dir = f"mkdir -p {quote(os.path.dirname(dest_path))}" if dest_path else ""
    if src_path and dest_path:
        flag = "-r " if recursive else ""
        if src_proto == "gs" and dest_proto == "local":
            return f"cp {quote(src_path)} {quote(dest_path)}", src_path, dest_path
        if src_proto == "local" and dest_proto == "gs":
            return f"{mk_dest_dir} && cp {flag}{quote(src_path)} {quote(dest_path)}", src_path, dest_path
        return None, src_path, dest_path
    if recursive:
        raise ValueError("recursive is not supported with stdin or stdout.")
    if src_path:
        return f"cat {quote(src_path)}", src_path, dest_path
    if dest_path:
        # mkdir runs in a subshell so that cat still reads this command's stdin.
        return f"$({mk_dest_dir}) cat - > {quote(dest_path)}", src_path, dest_path
    raise ValueError("At least one path must be given.")


_AZ_HOST = re.compile(r"(?P<account>.+)\.blob\.core\.windows\.net")


@register_filesystem
class AzureBlobFileSystem(FsspecFileSystem):
    """Azure Blob Storage: az://<container>@<account>.blob.core.windows.net/<path>, via adlfs."""

    name = "az"

    def __init__(self):
        super().__init__()
        self._accounts: dict = {}  # (pid, account) -> adlfs file system

    @staticmethod
    def get_account_name_from_path(path: str) -> str:
        host = urlparse(path).netloc.rpartition("@")[2]
        match = _AZ_HOST.match(host)
        if not match:
            raise FileSystemError(
                f"Invalid Azure Blob Storage URL {path!r}. "
                "Expected az://<container>@<account>.blob.core.windows.net/<path>"
            )
        return match.group("account")

    def fs_for(self, path: str):
        account = self.get_account_name_from_path(path)
        key = (os.getpid(), account)
        fs = self._accounts.get(key)
        if fs is None:
            adlfs = _require("az")
            fs = self._accounts[key] = adlfs.AzureBlobFileSystem(account_name=account, anon=False)
        return fs

    def get_hash(self, path: str) -> str:
        etag = self.fs_for(path).stat(path)["etag"] if self.exists(path) else ""
        return hash_struct(["File", "az", path, etag])

    def copy(self, src_path: str, dest_path: str) -> None:
        same_account = (
            get_proto(src_path) == get_proto(dest_path) == "az"
            and self.get_account_name_from_path(src_path) == self.get_account_name_from_path(dest_path)
        )
        if same_account:
            self.fs_for(src_path).copy(src_path, dest_path, on_error="raise")
        else:
            FileSystem.copy(self, src_path, dest_path)

    def glob(self, pattern: str) -> list:
        fs = self.fs_for(pattern)
        out = []
        for key in fs.glob(pattern, recursive=True):
            container, rest = key.split("/", 1)
            out.append(f"az://{container}@{fs.account_name}.blob.core.windows.net/{rest}")
        return out
