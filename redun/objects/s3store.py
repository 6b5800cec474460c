"""Blobs at `value_store_path = s3://bucket/prefix`: one key per object.

    <prefix>/objects/<2 hex>/<62 hex>    stored bytes (compress.py framing)

Content-addressed and immutable, so a put is skipped when the key exists and
a read is verified against its id. Client, URL and errors: objects/s3.py.
"""

from typing import Iterator

from ..errors import NotFoundError
from . import compress
from .ids import object_id
from .s3 import S3Location
from .store import ObjectStore, verify


class S3BlobStore(ObjectStore):
    def __init__(self, url: str, client=None):
        self.loc = S3Location(url, "value store", client=client)
        self.url = self.name = str(self.loc)

    def _rel(self, oid: bytes) -> str:
        h = oid.hex()
        return f"objects/{h[:2]}/{h[2:]}"

    def has(self, oid: bytes) -> bool:
        return self.loc.head(self._rel(oid)) is not None

    def put_stored(self, oid: bytes, stored) -> None:
        if not self.has(oid):
            self.loc.put(self._rel(oid), bytes(stored))

    def put_bytes(self, canonical: bytes) -> bytes:
        oid = object_id(canonical)
        self.put_stored(oid, compress.compress(canonical))
        return oid

    def get_stored(self, oid: bytes) -> tuple:
        rel = self._rel(oid)
        stored = self.loc.get(rel)
        if stored is None:
            raise NotFoundError(f"No object {oid.hex()} in value store {self.url}.")
        return stored, f"{self.url}/{rel}"

    def get_bytes(self, oid: bytes) -> bytes:
        stored, where = self.get_stored(oid)
        return verify(oid, compress.decompress(stored, f"{oid.hex()} in {where}"), where)

    def iter_ids(self) -> Iterator[bytes]:
        yield from self._list("")

    def _list(self, hex_prefix: str) -> Iterator[bytes]:
        rel = "objects/" + (hex_prefix[:2] + "/" + hex_prefix[2:] if len(hex_prefix) >= 2 else hex_prefix)
        base = self.loc.key("objects/")
        for key in self.loc.list(rel):
            rest = key[len(base):].replace("/", "")
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
