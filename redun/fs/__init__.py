"""File systems behind redun.file's File and Dir, one module per kind of storage.

    base.py      FileSystem, the protocol registry, open_file/copy_file/glob_file
    local.py     plain paths
    s3.py        s3:// (boto3 via redun.objects.s3); s3io.py: its streams
    http.py      http:// and https:// (read-only, standard library)
    fsspecfs.py  ftp://, gs:// (gcsfs), az:// (adlfs), when those packages are installed

Importing this package registers every protocol; the storage libraries
themselves (boto3, fsspec, ...) are imported only when a path needs them.
"""

from .base import (
    FileSystem,
    FileSystemError,
    RedunFileNotFoundError,
    RedunOSError,
    RedunPermissionError,
    copy_file,
    get_filesystem,
    get_filesystem_class,
    get_proto,
    glob_file,
    list_filesystems,
    open_file,
    register_filesystem,
)
from .fsspecfs import AzureBlobFileSystem, FsspecFileSystem, FTPFileSystem, GSFileSystem
from .http import HTTPFileSystem, HTTPSFileSystem
from .local import LocalFileSystem
from .s3 import S3FileSystem

__all__ = [
    "AzureBlobFileSystem", "FileSystem", "FileSystemError", "FsspecFileSystem", "FTPFileSystem",
    "GSFileSystem", "HTTPFileSystem", "HTTPSFileSystem", "LocalFileSystem", "RedunFileNotFoundError",
    "RedunOSError", "RedunPermissionError", "S3FileSystem", "copy_file", "get_filesystem",
    "get_filesystem_class", "get_proto", "glob_file", "list_filesystems", "open_file",
    "register_filesystem",
]
