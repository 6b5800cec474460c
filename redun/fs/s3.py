"""s3:// paths, through boto3 and redun.objects.s3 (client, URL parsing, error messages).

Hash: upstream's hash_struct(["File", "s3", path, etag]) from a HeadObject
("" when the object is missing); a Dir's file hashes come from one listing of
the key prefix, with each key's ETag. Copies between local disk and S3 use
boto3's managed transfer (multipart, parallel parts, bounded memory); S3 to S3
is a server-side copy; anything else streams through this process.
"""

import io
import os
import re
from shlex import quote
from typing import IO, Any, Iterator, Optional

from ..hashing import hash_struct
from .base import FileSystem, get_proto, register_filesystem
from .s3io import S3Reader, S3Writer

BUFFER = 1 << 20  # bytes buffered between the caller and a stream's S3 requests


def glob_regex(pattern: str) -> "re.Pattern":
    """A glob over '/'-separated keys: `*` and `?` stay within a segment, `**` crosses
    segments (`**/` also matches no segment), `[...]` is a character class."""
    out, i, n = [], 0, len(pattern)
    while i < n:
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[" and "]" in pattern[i + 1 :]:
            end = pattern.index("]", i + 1)
            body = pattern[i + 1 : end]
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
            i = end + 1
        else:
            out.append(re.escape(c))
            i += 1
    return re.compile("".join(out) + r"\Z", re.S)


def _split(path: str) -> tuple:
    from ..objects.s3 import parse_s3_url

    url = parse_s3_url(path, "file")
    return url.bucket, url.key


@register_filesystem
class S3FileSystem(FileSystem):
    """s3://bucket/key paths on AWS S3 or an S3-compatible server (AWS_ENDPOINT_URL)."""

    name = "s3"

    def location(self, bucket: str):
        """The S3Location (client + error mapping) for one bucket. Built per use: the
        client is the process's one for the current AWS_* settings."""
        from ..errors import StorageError
        from ..objects.s3 import S3Location, s3_client

        try:
            client = s3_client()
        except StorageError as e:
            raise StorageError(f"s3://{bucket}: {e}") from None
        return S3Location(f"s3://{bucket}", what="file", error=StorageError, client=client)

    @staticmethod
    def get_bucket_and_key(path: str) -> tuple:
        """(bucket, key) of an s3:// path (upstream's name)."""
        return _split(path)

    def _head(self, path: str) -> Optional[dict]:
        bucket, key = _split(path)
        if not key:
            return None
        return self.location(bucket).head(key)

    def _any_below(self, bucket: str, prefix: str) -> bool:
        r = self.location(bucket).call("list_objects_v2", "list", prefix, Prefix=prefix, MaxKeys=1)
        return r.get("KeyCount", 0) > 0

    def _bucket_exists(self, bucket: str) -> bool:
        from botocore.exceptions import ClientError

        from ..objects.s3 import error_code

        loc = self.location(bucket)
        with loc.guard("check bucket"):
            try:
                loc.client.head_bucket(Bucket=bucket)
                return True
            except ClientError as e:
                if error_code(e) in ("404", "NoSuchBucket", "NotFound"):
                    return False
                raise

    def exists(self, path: str) -> bool:
        bucket, key = _split(path)
        if not key:
            return self._bucket_exists(bucket)
        if self.location(bucket).head(key) is not None:
            return True
        return self._any_below(bucket, key + "/")

    def isfile(self, path: str) -> bool:
        return self._head(path) is not None

    def isdir(self, path: str) -> bool:
        bucket, key = _split(path)
        if not key:
            return self._bucket_exists(bucket)
        return self._any_below(bucket, key + "/")

    def filesize(self, path: str) -> int:
        head = self._head(path)
        if head is None:
            raise FileNotFoundError(2, "No such S3 object", path)
        return head["ContentLength"]

    def get_hash(self, path: str) -> str:
        # A missing object hashes with an empty ETag; denied access raises (as upstream).
        head = self._head(path)
        etag = head["ETag"] if head is not None else ""
        return hash_struct(["File", "s3", path, etag])

    def _list(self, bucket: str, prefix: str) -> Iterator[dict]:
        loc = self.location(bucket)
        token = None
        while True:
            kwargs = {"Prefix": prefix}
            if token:
                kwargs["ContinuationToken"] = token
            page = loc.call("list_objects_v2", "list", prefix, **kwargs)
            yield from page.get("Contents", ())
            if not page.get("IsTruncated"):
                return
            token = page.get("NextContinuationToken")

    def iter_file_hashes(self, path: str) -> Iterator[str]:
        # Upstream lists the bare key prefix (no trailing '/'), so s3://b/dir also
        # takes in s3://b/dir2/...; kept, or Dir hashes would not match its records.
        bucket, key = _split(path)
        for obj in self._list(bucket, key):
            yield hash_struct(["File", "s3", os.path.join("s3://", bucket, obj["Key"]), obj["ETag"]])

    def glob(self, pattern: str) -> list:
        bucket, key_pattern = _split(pattern)
        cut = min((key_pattern.find(c) for c in "*?[" if c in key_pattern), default=-1)
        if cut < 0:  # no wildcard: the path itself, if it is a file or a directory
            return [pattern] if self.exists(pattern) else []
        regex = glob_regex(key_pattern)
        return [f"s3://{bucket}/{obj['Key']}" for obj in self._list(bucket, key_pattern[:cut])
                if regex.match(obj["Key"])]

    def glob_files(self, pattern: str) -> list:
        if any(c in pattern for c in "*?["):
            return self.glob(pattern)  # a listing only yields objects: no HEAD per match
        return super().glob_files(pattern)

    def _open(self, path: str, mode: str, **kwargs: Any) -> IO:
        if kwargs:
            raise ValueError(f"Unsupported open() options for {path}: {sorted(kwargs)}")
        if "+" in mode or "x" in mode:
            raise ValueError(f"Mode {mode!r} is not supported on S3 (use 'r', 'w' or 'a').")
        bucket, key = _split(path)
        loc = self.location(bucket)
        if "r" in mode:
            raw = S3Reader(loc, key)
            raw.start()
            stream = io.BufferedReader(raw, buffer_size=BUFFER)
        else:
            initial = None
            if "a" in mode and loc.head(key) is not None:
                initial = io.BufferedReader(S3Reader(loc, key), buffer_size=BUFFER)
            try:
                stream = io.BufferedWriter(S3Writer(loc, key, initial), buffer_size=BUFFER)
            finally:
                if initial is not None:
                    initial.close()
        if "b" not in mode:
            stream = io.TextIOWrapper(stream)
        return stream

    def remove(self, path: str) -> None:
        bucket, key = _split(path)
        self.location(bucket).call("delete_object", "delete", key, Key=key)

    def mkdir(self, path: str) -> None:
        # As upstream: S3 has no directories, so mkdir leaves an empty object at the key.
        if not self.exists(path):
            bucket, key = _split(path)
            self.location(bucket).call("put_object", "write", key, Key=key, Body=b"")

    def rmdir(self, path: str, recursive: bool = False) -> None:
        bucket, key = _split(path)
        loc = self.location(bucket)
        below = [obj["Key"] for obj in self._list(bucket, key + "/")]
        if below and not recursive:
            raise OSError(39, "Directory not empty", path)
        for start in range(0, len(below), 1000):
            batch = [{"Key": k} for k in below[start : start + 1000]]
            loc.call("delete_objects", "delete", key, Delete={"Objects": batch, "Quiet": True})
        if loc.head(key) is not None:
            loc.call("delete_object", "delete", key, Key=key)

    def copy(self, src_path: str, dest_path: str) -> None:
        src_proto, dest_proto = get_proto(src_path), get_proto(dest_path)
        if src_proto == dest_proto == "s3":
            sb, sk = _split(src_path)
            db, dk = _split(dest_path)
            loc = self.location(db)
            with loc.guard("copy to", dk):
                loc.client.copy({"Bucket": sb, "Key": sk}, db, dk)
        elif src_proto == "s3" and dest_proto == "local":
            bucket, key = _split(src_path)
            if self._head(src_path) is None:
                raise FileNotFoundError(2, "No such S3 object", src_path)
            parent = os.path.dirname(dest_path)
            if parent:
                os.makedirs(parent, exist_ok=True)
            loc = self.location(bucket)
            with loc.guard("download", key):
                loc.client.download_file(bucket, key, dest_path)
        elif src_proto == "local" and dest_proto == "s3":
            bucket, key = _split(dest_path)
            loc = self.location(bucket)
            with loc.guard("upload to", key):
                loc.client.upload_file(src_path, bucket, key)
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
        if "s3" not in protos or not protos <= {"local", "s3"}:
            return super().shell_copy(src_path, dest_path, recursive=recursive)
        if src_path and dest_path:
            flag = "--recursive " if recursive else ""
            return f"aws s3 cp --no-progress {flag}{quote(src_path)} {quote(dest_path)}"
        if recursive:
            raise ValueError("recursive is not supported with stdin or stdout.")
        if src_path:
            return f"aws s3 cp --no-progress {quote(src_path)} -"
        if dest_path:
            return f"aws s3 cp --no-progress - {quote(dest_path)}"
        raise ValueError("At least one path must be given.")

