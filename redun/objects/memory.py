"""In-memory object store: the reference implementation of the contract."""

import threading
from typing import Iterator

from ..errors import InvalidIdError, NotFoundError
from .ids import OID_LEN, object_id
from .store import ObjectStore, verify


class MemoryStore(ObjectStore):
    name = "memory store"

    def __init__(self):
        self._objects: dict = {}
        self._lock = threading.Lock()

    def put_bytes(self, canonical: bytes) -> bytes:
        oid = object_id(canonical)
        with self._lock:
            self._objects.setdefault(oid, bytes(canonical))
        return oid

    def get_bytes(self, oid: bytes) -> bytes:
        if type(oid) is not bytes or len(oid) != OID_LEN:
            raise InvalidIdError(f"Not an object id (32 bytes): {oid!r:.80}")
        try:
            data = self._objects[oid]
        except KeyError:
            raise NotFoundError(f"No object {oid.hex()} in {self.name}.") from None
        return verify(oid, data, self.name)

    def has(self, oid: bytes) -> bool:
        return oid in self._objects

    def iter_ids(self) -> Iterator[bytes]:
        return iter(list(self._objects))

    def prefix_candidates(self, prefix: str, limit: int = 21) -> list:
        out = []
        for oid in self._objects:
            if oid.hex().startswith(prefix):
                out.append(oid)
                if len(out) >= limit:
                    break
        return out
