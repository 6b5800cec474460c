"""Blobs at `value_store_path = s3://bucket/prefix`: one key per object.

    <prefix>/objects/<2 hex>/<62 hex>    stored bytes (compress.py framing)

Content-addressed and immutable, so a put is skipped when the key exists and
a read is verified against its id. boto3 is imported on first use; endpoint
and credentials come from the usual AWS settings.
"""

from typing import Iterator

from ..errors import ConfigError, NotFoundError, RedunError
from . import compress
from .ids import object_id
from .store import ObjectStore, verify


class S3BlobStore(ObjectStore):
    def __init__(self, url: str, client=None):
        if not url.startswith("s3://") or not url[5:].split("/", 1)[0]:
            raise ConfigError(f"value_store_path {url!r} is not s3://bucket/prefix")
        self.url = url
        self.name = url
        self.bucket, _, prefix = url[5:].partition("/")
        self.prefix = prefix.strip("/")
        self._client = client

    @property
    def client(self):
        if self._client is None:
            import boto3  # lazy

            self._client = boto3.client("s3")
        return self._client

    def _key(self, oid: bytes) -> str:
        h = oid.hex()
        rel = f"objects/{h[:2]}/{h[2:]}"
        return f"{self.prefix}/{rel}" if self.prefix else rel

    def _fail(self, what: str, e) -> RedunError:
        return RedunError(f"value store {self.url}: cannot {what}: {e}")

    def has(self, oid: bytes) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(oid))
            return True
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise self._fail(f"check {oid.hex()}", e) from None

    def put_stored(self, oid: bytes, stored) -> None:
        if self.has(oid):
            return
        from botocore.exceptions import ClientError

        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(oid), Body=bytes(stored))
        except ClientError as e:
            raise self._fail(f"write {oid.hex()}", e) from None

    def put_bytes(self, canonical: bytes) -> bytes:
        oid = object_id(canonical)
        self.put_stored(oid, compress.compress(canonical))
        return oid

    def get_stored(self, oid: bytes) -> tuple:
        from botocore.exceptions import ClientError

        try:
            r = self.client.get_object(Bucket=self.bucket, Key=self._key(oid))
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                raise NotFoundError(f"No object {oid.hex()} in {self.url}.") from None
            raise self._fail(f"read {oid.hex()}", e) from None
        return r["Body"].read(), f"{self.url}/{self._key(oid)}"

    def get_bytes(self, oid: bytes) -> bytes:
        stored, where = self.get_stored(oid)
        return verify(oid, compress.decompress(stored, f"{oid.hex()} in {where}"), where)

    def iter_ids(self) -> Iterator[bytes]:
        yield from self._list("")

    def _list(self, hex_prefix: str) -> Iterator[bytes]:
        base = f"{self.prefix}/objects/" if self.prefix else "objects/"
        key_prefix = base + (hex_prefix[:2] + "/" + hex_prefix[2:] if len(hex_prefix) >= 2 else hex_prefix)
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=key_prefix)
        for page in pages:
            for item in page.get("Contents", ()):
                rest = item["Key"][len(base):].replace("/", "")
                if len(rest) == 64:
                    try:
                        yield bytes.fromhex(rest)
                    except ValueError:
                        continue

    def prefix_candidates(self, prefix: str, limit: int = 21) -> list:
        out = []
        for oid in self._list(prefix):
            out.append(oid)
            if len(out) >= limit:
                break
        return out
