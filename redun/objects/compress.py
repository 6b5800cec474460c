"""Per-object compression: one header byte says how the rest is stored.

    0 = raw                      0x00 | canonical bytes
    1 = zstd                     0x01 | zstd frame
    2 = zstd with a dictionary   0x02 | dict number (1 byte) | zstd frame (no dict id)

Objects are compressed one by one so a read by id touches one object only.

Bounded inflation (issue 12): a frame must declare its content size, at most
MAX_OBJECT_SIZE, and beyond FREE_SIZE at most MAX_RATIO times its stored size.
A hostile pack can then make a reader hold at most max(FREE_SIZE, MAX_RATIO x
the bytes it read) per object (a 32 KB frame of RLE blocks may otherwise
claim 1 GiB). The writer keeps the same rule: a large object that would
compress further is stored raw (only very repetitive payloads over 16 MiB, which
the engine cuts into 1 MiB blobs anyway).
Small records are mostly field names and msgpack framing, which plain zstd
cannot exploit in 100-500 bytes; the shipped dictionary `dict-1.zdict`
(trained by benchmarks/train_dict.py on varied synthetic records) makes them
smaller and faster to compress (figures: docs/design.md, Stores). A shipped dictionary is never
changed: old objects name it by number. Objects that do not shrink stay raw.
"""

import array
import operator
import os
import threading

import zstandard

from ..errors import CorruptObjectError, ValueTooLargeError

RAW = 0
ZSTD = 1
ZSTD_DICT = 2
CURRENT_DICT = 1
MAX_OBJECT_SIZE = 1 << 30  # larger payloads are split into Blob records
MAX_STORED_SIZE = MAX_OBJECT_SIZE + 2  # stored form: a header byte (or two) before the data
FREE_SIZE = 16 << 20  # frames inflating to at most this may have any ratio (a 1 MiB blob of zeros)
MAX_RATIO = 16  # beyond FREE_SIZE, content size <= MAX_RATIO x stored size
_MIN_SIZE = 32
_DICT_MAX_INPUT = 128 * 1024  # beyond this a dictionary no longer helps
_LEVEL = 3
_DICT_LEVEL = 2  # as small as level 3 on records, and faster (docs/design.md, Stores)
_HERE = os.path.dirname(os.path.abspath(__file__))
_local = threading.local()
_dicts: dict = {}
_dicts_lock = threading.Lock()


def _dict(number: int) -> zstandard.ZstdCompressionDict:
    d = _dicts.get(number)
    if d is None:
        with _dicts_lock:
            d = _dicts.get(number)
            if d is None:
                path = os.path.join(_HERE, f"dict-{number}.zdict")
                try:
                    with open(path, "rb") as f:
                        d = zstandard.ZstdCompressionDict(f.read())
                except FileNotFoundError:
                    raise CorruptObjectError(
                        f"object uses compression dictionary {number}, which this redun does not ship "
                        f"({path} missing); upgrade redun"
                    ) from None
                _dicts[number] = d
    return d


class _Codecs:
    """Per-thread (de)compressors: zstandard objects are not thread-safe."""

    def __init__(self):
        self.plain_c = zstandard.ZstdCompressor(level=_LEVEL, write_checksum=False)
        self.plain_d = zstandard.ZstdDecompressor()
        self.dict_c = zstandard.ZstdCompressor(
            level=_DICT_LEVEL, dict_data=_dict(CURRENT_DICT), write_checksum=False, write_dict_id=False
        )
        self.dict_c_header = bytes((ZSTD_DICT, CURRENT_DICT))
        self.dict_d: dict = {}

    def dict_decompressor(self, number: int) -> zstandard.ZstdDecompressor:
        d = self.dict_d.get(number)
        if d is None:
            d = self.dict_d[number] = zstandard.ZstdDecompressor(dict_data=_dict(number))
        return d


def _codecs() -> _Codecs:
    c = getattr(_local, "codecs", None)
    if c is None:
        c = _local.codecs = _Codecs()
    return c


def _too_large(n: int) -> ValueTooLargeError:
    return ValueTooLargeError(
        f"an object of {n} bytes exceeds the {MAX_OBJECT_SIZE}-byte object limit; "
        "large payloads must be split into Blob records (redun/objects/blobs.py)"
    )


def within_ratio(content_size: int, stored_size: int) -> bool:
    """Whether a frame of stored_size bytes may inflate to content_size (readers refuse others)."""
    return content_size <= FREE_SIZE or content_size <= MAX_RATIO * stored_size


def compress(data: bytes) -> bytes:
    """Stored form of canonical bytes (the smallest of raw, zstd, zstd+dict that
    readers accept: see within_ratio)."""
    n = len(data)
    if n > MAX_OBJECT_SIZE:
        raise _too_large(n)
    if n >= _MIN_SIZE:
        try:
            c = _local.codecs
        except AttributeError:
            c = _codecs()
        if n <= _DICT_MAX_INPUT:
            packed = c.dict_c.compress(data)
            if len(packed) + 2 < n + 1:
                return c.dict_c_header + packed
        else:
            packed = c.plain_c.compress(data)
            if len(packed) + 1 < n + 1 and within_ratio(n, len(packed)):
                return b"\x01" + packed
    return b"\x00" + data


def compress_many(datas: list) -> list:
    """compress() over a list, with the per-call overhead hoisted (PackWriter.add_many)."""
    try:
        c = _local.codecs
    except AttributeError:
        c = _codecs()
    dict_compress, header = c.dict_c.compress, c.dict_c_header
    out = []
    append = out.append
    for data in datas:
        n = len(data)
        if _MIN_SIZE <= n <= _DICT_MAX_INPUT:
            packed = dict_compress(data)
            if len(packed) + 1 < n:
                append(header + packed)
                continue
        append(compress(data) if n > _DICT_MAX_INPUT else b"\x00" + data)
    return out


def _inflate(d: zstandard.ZstdDecompressor, frame, where: str) -> bytes:
    size = zstandard.frame_content_size(frame)
    if size < 0 or size > MAX_OBJECT_SIZE:
        raise CorruptObjectError(f"object {where}: zstd frame has no valid content size (corrupt)".strip())
    if not within_ratio(size, len(frame)):
        raise CorruptObjectError(
            f"object {where}: a {len(frame)}-byte frame claims {size} bytes, beyond the {MAX_RATIO}:1 "
            "ratio redun writes (corrupt or hostile)".replace("object : ", "object: "))
    out = d.decompress(frame)
    if len(out) != size:
        raise CorruptObjectError(f"object {where}: decompressed size mismatch (corrupt)")
    return out


def decompress(stored, where: str = "") -> bytes:
    """Canonical bytes from stored form. Raises CorruptObjectError (only) on bad input."""
    if not stored:
        raise CorruptObjectError(f"empty object {where}".strip())
    code = stored[0]
    try:
        if code == RAW:
            return bytes(stored[1:])
        if code == ZSTD_DICT:
            if len(stored) < 2:
                raise CorruptObjectError(f"object {where}: truncated header".strip())
            return _inflate(_codecs().dict_decompressor(stored[1]), stored[2:], where)
        if code == ZSTD:
            return _inflate(_codecs().plain_d, stored[1:], where)
    except zstandard.ZstdError as e:
        raise CorruptObjectError(f"cannot decompress object {where}: {e}".strip()) from None
    except MemoryError:
        raise CorruptObjectError(f"object {where}: implausible decompressed size (corrupt)".strip()) from None
    raise CorruptObjectError(f"unknown compression code {code} in object {where}".strip())


_DICT_HEAD = bytes((ZSTD_DICT, CURRENT_DICT))
_HEAD2 = operator.itemgetter(slice(None, 2))
_AFTER2 = operator.itemgetter(slice(2, None))


def decompress_many(stored: list, where) -> list:
    """decompress() of each stored form, in order (a pull's checks of whole packs), as bytes
    or bytes-like views (buffer protocol: hash, join and unpack them; bytes() to keep one). Frames of
    the current dictionary are inflated in one call (multi_decompress_to_buffer) once their
    declared sizes pass decompress()'s bounds; anything else, or any error in the batch, goes
    one by one, so the CorruptObjectError names the object: where(i) names entry i."""
    heads = list(map(_HEAD2, stored))
    if heads.count(_DICT_HEAD) == len(stored):  # the usual batch: every entry a dictionary frame
        out = [None] * len(stored)
        at = range(len(stored))
        frames = list(map(_AFTER2, stored))
    else:
        out = [s[1:] if h[:1] == b"\x00" else None for s, h in zip(stored, heads)]
        at = [i for i, h in enumerate(heads) if h == _DICT_HEAD and len(stored[i]) > 2]
        frames = [stored[i][2:] for i in at]
        taken = set(at)
        for i, data in enumerate(out):
            if data is None and i not in taken:
                out[i] = decompress(stored[i], where(i))
    if frames and not _inflate_many(frames, at, out):
        for i in at:
            out[i] = decompress(stored[i], where(i))
    return out


def _inflate_many(frames: list, at: list, out: list) -> bool:
    """Inflate dictionary frames into out[at[k]]; False (nothing trusted) when a declared size
    is missing or beyond what a dictionary frame holds (compress() uses the dictionary up to
    _DICT_MAX_INPUT bytes: a batch then asks for at most that many bytes per frame, and a
    frame claiming more goes one by one, under decompress()'s bounds) or zstd fails."""
    try:
        sizes = list(map(zstandard.frame_content_size, frames))
    except zstandard.ZstdError:
        return False
    if min(sizes) < 0 or max(sizes) > _DICT_MAX_INPUT:
        return False
    d = _codecs().dict_decompressor(CURRENT_DICT)
    try:
        # the declared sizes are what is allocated: a frame claiming more than it holds fails
        inflated = d.multi_decompress_to_buffer(frames, decompressed_sizes=array.array("Q", sizes).tobytes())
    except (zstandard.ZstdError, MemoryError):
        return False
    if len(at) == len(out):
        out[:] = inflated  # the segments are bytes-like views of one buffer: no copy
    else:
        for i, segment in zip(at, inflated):
            out[i] = segment
    return True
