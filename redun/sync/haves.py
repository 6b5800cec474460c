"""`has(oid)` over a remote's pack indexes, fast whatever the number of packs.

A push asks "has" once per object it may send, and nearly every answer is
"no", so every pack index is consulted: with P packs a push of N objects costs
N x P lookups. Up to MERGE_AT packs that is fine; past it we build, once per
sync, one sorted array of the first 8 bytes of every id (8 bytes per object,
built from the indexes' sorted id tables with C-level unpacking; timsort merges
the sorted runs). A prefix hit is then confirmed in the packs themselves.
"""

import bisect
from array import array

MERGE_AT = 16


class Haves:
    def __init__(self, indexes: list):
        self.indexes = list(indexes)
        self._merged = None

    def _build(self) -> array:
        runs = []
        for idx in self.indexes:
            runs += idx.id_prefixes()
        runs.sort()
        return array("Q", runs)

    def _in_packs(self, oid: bytes) -> bool:
        for idx in self.indexes:
            if idx.find(oid) is not None:
                return True
        return False

    def __contains__(self, oid: bytes) -> bool:
        if len(self.indexes) <= MERGE_AT:
            return self._in_packs(oid)
        if self._merged is None:
            self._merged = self._build()
        key = int.from_bytes(oid[:8], "big")
        i = bisect.bisect_left(self._merged, key)
        if i < len(self._merged) and self._merged[i] == key:
            return self._in_packs(oid)  # rare: the object is had (or shares 8 bytes)
        return False
