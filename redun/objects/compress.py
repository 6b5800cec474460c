"""Per-object compression: one header byte says how the rest is stored.

0 = raw, 1 = zstd. Objects are compressed one by one so a read by id touches
one object only. Small objects that do not shrink are kept raw.
"""

import threading

import zstandard

from ..errors import CorruptObjectError

RAW = 0
ZSTD = 1
_MIN_SIZE = 64
_local = threading.local()


def _codecs():
    c = getattr(_local, "codecs", None)
    if c is None:
        c = (zstandard.ZstdCompressor(level=3), zstandard.ZstdDecompressor())
        _local.codecs = c
    return c


def compress(data: bytes) -> bytes:
    if len(data) >= _MIN_SIZE:
        packed = _codecs()[0].compress(data)
        if len(packed) + 1 < len(data):
            return b"\x01" + packed
    return b"\x00" + data


def decompress(stored: bytes, where: str = "") -> bytes:
    if not stored:
        raise CorruptObjectError(f"empty object {where}".strip())
    codec = stored[0]
    if codec == RAW:
        return bytes(stored[1:])
    if codec == ZSTD:
        try:
            return _codecs()[1].decompress(stored[1:])
        except zstandard.ZstdError as e:
            raise CorruptObjectError(f"cannot decompress object {where}: {e}".strip()) from None
    raise CorruptObjectError(f"unknown compression code {codec} in object {where}".strip())
