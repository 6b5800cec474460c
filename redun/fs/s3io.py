"""Streams on S3 objects with bounded memory: a ranged reader and a multipart writer.

Reads stream the GetObject body (a seek re-opens at a byte range); writes hold
at most one part in memory, sending a single PutObject for small files and a
multipart upload otherwise (aborted if the upload fails, so no half-written
object appears).
"""

import io
from typing import Optional

# Parts of a multipart upload; S3 allows 10,000 parts of at least 5 MiB (the
# last may be smaller), so the part size doubles every 1,000 parts to allow
# objects far beyond 10,000 x PART_SIZE.
PART_SIZE = 16 << 20
_PARTS_PER_SIZE = 1000


class S3Reader(io.RawIOBase):
    """Reads one object from `loc` (an S3Location for its bucket) front to back,
    re-requesting from an offset when seeked."""

    def __init__(self, loc, key: str, head: Optional[dict] = None):
        super().__init__()
        self._loc = loc
        self._key = key
        self._pos = 0
        self._body = None
        self._size = head.get("ContentLength") if head else None
        self._started = False

    def _open_at(self, pos: int) -> bool:
        """Start streaming at pos. False if the object is missing."""
        if self._body is not None:
            self._body.close()
            self._body = None
        if self._size is not None and pos >= self._size:
            return True
        from botocore.exceptions import ClientError

        from ..objects.s3 import error_code

        extra = {"Range": f"bytes={pos}-"} if pos else {}
        with self._loc.guard("read", self._key):
            try:
                response = self._loc.client.get_object(Bucket=self._loc.bucket, Key=self._key, **extra)
            except ClientError as e:
                if error_code(e) in ("NoSuchKey", "404", "NotFound"):
                    return False
                raise
        self._body = response["Body"]
        if pos == 0:
            self._size = response.get("ContentLength")
        return True

    def start(self) -> None:
        """Open the stream now, so a missing object fails at open() as for local files."""
        if not self._open_at(0):
            raise FileNotFoundError(2, "No such S3 object")
        self._started = True

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if not self._started:
            self.start()
        if self._body is None:
            return 0
        with self._loc.guard("read", self._key):
            data = self._body.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self._pos += n
        return n

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            offset += self._pos
        elif whence == io.SEEK_END:
            if self._size is None:
                self.start()
            offset += self._size
        if offset < 0:
            raise ValueError("negative seek position")
        if offset != self._pos or not self._started:
            self._started = True
            self._open_at(offset)
            self._pos = offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        if self._body is not None:
            self._body.close()
            self._body = None
        super().close()


class S3Writer(io.RawIOBase):
    """Uploads what is written to one key when closed (parts go up as they fill)."""

    def __init__(self, loc, key: str, initial: Optional[io.RawIOBase] = None):
        super().__init__()
        self._loc = loc
        self._key = key
        self._buf = bytearray()
        self._upload_id: Optional[str] = None
        self._parts: list = []
        self._part_size = PART_SIZE
        if initial is not None:  # append mode: the old content goes first
            while True:
                chunk = initial.read(PART_SIZE)
                if not chunk:
                    break
                self.write(chunk)

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        if self.closed:
            raise ValueError("write to closed file")
        self._buf += data
        while len(self._buf) >= self._part_size:
            self._send_part(bytes(self._buf[: self._part_size]))
            del self._buf[: self._part_size]
        return len(data)

    def _send_part(self, data: bytes) -> None:
        if self._upload_id is None:
            r = self._loc.call("create_multipart_upload", "write", self._key, Key=self._key)
            self._upload_id = r["UploadId"]
        number = len(self._parts) + 1
        try:
            r = self._loc.call("upload_part", "write", self._key, Key=self._key,
                               UploadId=self._upload_id, PartNumber=number, Body=data)
        except BaseException:
            self.abort()
            raise
        self._parts.append({"PartNumber": number, "ETag": r["ETag"]})
        if number % _PARTS_PER_SIZE == 0:
            self._part_size *= 2

    def abort(self) -> None:
        """Drop the upload: nothing is written to the key."""
        if self._upload_id is not None:
            upload, self._upload_id = self._upload_id, None
            try:
                self._loc.call("abort_multipart_upload", "clean up", self._key, Key=self._key, UploadId=upload)
            except Exception:
                pass  # the failure that led here is the one to report
        self._buf = bytearray()
        super().close()

    def close(self) -> None:
        if self.closed:
            return
        try:
            if self._upload_id is None:
                self._loc.call("put_object", "write", self._key, Key=self._key, Body=bytes(self._buf))
            else:
                if self._buf or not self._parts:
                    self._send_part(bytes(self._buf))
                try:
                    self._loc.call("complete_multipart_upload", "write", self._key, Key=self._key,
                                   UploadId=self._upload_id, MultipartUpload={"Parts": self._parts})
                except BaseException:
                    self.abort()
                    raise
        finally:
            self._buf = bytearray()
            super().close()
