"""http:// and https:// URLs: read-only, through the standard library.

Hash and size follow upstream (which reads them through fsspec's HTTP file
system): hash_struct(["File", "fsspec", url, str(size)]) where size is the
Content-Length of a HEAD request sent with `Accept-Encoding: identity` (a GET
when HEAD fails or gives no usable length; "None" when neither does; -1 when a
GET answers 400 or more). So an unchanged page served by a server that sends
Content-Length hashes the same here as in upstream's records.
"""

from typing import IO, Any, Optional

from ..hashing import hash_struct
from .base import FileSystem, FileSystemError, cli_copy_command, register_filesystem

TIMEOUT = 60  # seconds without progress before a request gives up


def _request(url: str, method: str, headers: Optional[dict] = None):
    import urllib.request  # lazy: it pulls in http.client, ssl and email, which most runs never need

    req = urllib.request.Request(url, method=method, headers=headers or {})
    return urllib.request.urlopen(req, timeout=TIMEOUT)


def _size_from_headers(headers) -> Optional[int]:
    length = headers.get("Content-Length")
    if length is not None:
        # A compressed body's length is not the file's size.
        if headers.get("Content-Encoding") in (None, "identity", ""):
            return int(length)
        return None
    content_range = headers.get("Content-Range")
    if content_range is not None:
        return int(content_range.split("/")[1])
    return None


def _raise_for_status(url: str, error):
    if error.code == 404:
        raise FileNotFoundError(2, f"HTTP 404 Not Found: {url}")
    if error.code in (401, 403):
        raise PermissionError(13, f"HTTP {error.code} {error.reason}: {url}")
    raise OSError(5, f"HTTP {error.code} {error.reason}: {url}")


class _HTTPBase(FileSystem):
    """Shared by http and https (two protocols, two registry entries, as upstream)."""

    def _read_only(self, what: str, path: str):
        return FileSystemError(f"Cannot {what} {path}: {self.name}:// URLs are read-only.")

    def _open(self, path: str, mode: str, **kwargs: Any) -> IO:
        import urllib.error

        if any(c in mode for c in "wax+"):
            raise self._read_only("write", path)
        if kwargs:
            raise FileSystemError(f"Unsupported open() options for {path}: {sorted(kwargs)}")
        try:
            response = _request(path, "GET")
        except urllib.error.HTTPError as e:
            _raise_for_status(path, e)
        except (urllib.error.URLError, OSError) as e:
            raise FileSystemError(f"Cannot reach {path}: {getattr(e, 'reason', e)}") from None
        if "b" in mode:
            return response
        import io

        return io.TextIOWrapper(response)

    def exists(self, path: str) -> bool:
        import urllib.error

        try:
            with _request(path, "GET") as response:
                return response.status < 400
        except urllib.error.HTTPError:
            return False
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def _info_size(self, path: str) -> Optional[int]:
        """The size as upstream reads it: HEAD, then GET if HEAD gives none."""
        size = None
        for method in ("HEAD", "GET"):
            try:
                with _request(path, method, {"Accept-Encoding": "identity"}) as response:
                    size = _size_from_headers(response.headers)
            except Exception as e:
                if method == "GET":
                    raise FileNotFoundError(2, f"Cannot get the size of {path}: {e}") from None
                continue
            if size is not None:
                break
        return size

    def get_hash(self, path: str) -> str:
        size = self._info_size(path) if self.exists(path) else -1
        return hash_struct(["File", "fsspec", path, str(size)])

    def filesize(self, path: str) -> int:
        return self._info_size(path)

    def isfile(self, path: str) -> bool:
        try:
            self._info_size(path)
            return True
        except FileNotFoundError:
            return False

    def isdir(self, path: str) -> bool:
        # A URL names a resource, not a listing; there is nothing to walk below it.
        return False

    def glob(self, pattern: str) -> list:
        if any(c in pattern for c in "*[]"):
            raise FileSystemError(f"Cannot glob {pattern}: {self.name}:// URLs cannot be listed.")
        return [pattern] if self.exists(pattern) else []

    def remove(self, path: str) -> None:
        raise self._read_only("remove", path)

    def touch(self, path: str, time: Optional[tuple] = None) -> None:
        raise self._read_only("touch", path)

    def mkdir(self, path: str) -> None:
        raise self._read_only("create directory", path)

    def rmdir(self, path: str, recursive: bool = False) -> None:
        raise self._read_only("remove directory", path)

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


@register_filesystem
class HTTPFileSystem(_HTTPBase):
    """http:// URLs (read-only)."""

    name = "http"


@register_filesystem
class HTTPSFileSystem(_HTTPBase):
    """https:// URLs (read-only)."""

    name = "https"
