"""Where large str/bin items sit inside a native (msgpack) payload.

Pure. Used with blobs.put_payload(spans=...) so that a container and each of
its large items, recorded alone, share their blobs (see blobs.py).
"""

import struct

SPAN_MIN = 1 << 16  # items smaller than this are not worth aligning
_SPAN_BUDGET = 200_000  # give up (no spans) on payloads with more items than this
_FIXED = {0xC0: 1, 0xC2: 1, 0xC3: 1, 0xCA: 5, 0xCB: 9, 0xCC: 2, 0xCD: 3, 0xCE: 5, 0xCF: 9,
          0xD0: 2, 0xD1: 3, 0xD2: 5, 0xD3: 9, 0xD4: 3, 0xD5: 4, 0xD6: 6, 0xD7: 10, 0xD8: 18}


class _TooMany(Exception):
    pass


def native_spans(payload, min_span: int = SPAN_MIN) -> list:
    """Byte ranges of the contents of large str/bin items inside a msgpack
    payload (at any depth, including inside ext-wrapped tuples and sets).

    Passing these as `spans` to put_payload makes a container share blobs with
    each large item recorded alone: the item's own payload (header + content)
    yields the same content span. Returns [] for payloads that are small, not
    msgpack, or hold more than ~200k items (not worth the walk)."""
    mv = memoryview(payload).cast("B")
    if len(mv) < min_span:
        return []
    if min_span > 0xFFFF and isinstance(payload, (bytes, bytearray)) and not _length32_item(payload, min_span):
        return []
    spans: list = []
    try:
        end = _walk(mv, 0, spans, min_span, [_SPAN_BUDGET], 0)
    except (_TooMany, IndexError, struct.error, RecursionError):
        return []
    return spans if end == len(mv) else []


def _length32_item(data, min_span: int) -> bool:
    """Whether data has, anywhere, the head of a str 32, bin 32 or ext 32 item of at least
    min_span bytes that fits in it: an item longer than 0xFFFF bytes has no other head, so
    without one there is no span and the item-by-item walk (a large list of small items
    costs most) is skipped. Heads are found with bytes.find; a false one only means a walk."""
    size = len(data)
    for head in (b"\xdb", b"\xc6", b"\xc9"):
        i = data.find(head)
        while 0 <= i <= size - 5:
            n = int.from_bytes(data[i + 1 : i + 5], "big")
            if n >= min_span and i + 5 + n <= size:
                return True
            i = data.find(head, i + 1)
    return False


def _walk(mv, pos: int, spans: list, min_span: int, budget: list, depth: int) -> int:
    """Parse one msgpack object at pos; return the position after it."""
    budget[0] -= 1
    if budget[0] < 0 or depth > 64:
        raise _TooMany
    b = mv[pos]
    if b <= 0x7F or b >= 0xE0:
        return pos + 1
    if 0xA0 <= b <= 0xBF:
        return pos + 1 + (b & 0x1F)
    if 0x90 <= b <= 0x9F or 0x80 <= b <= 0x8F:
        n, pos = (b & 0x0F) * (2 if b < 0x90 else 1), pos + 1
        for _ in range(n):
            pos = _walk(mv, pos, spans, min_span, budget, depth + 1)
        return pos
    if b in (0xDC, 0xDD, 0xDE, 0xDF):
        wide = b in (0xDD, 0xDF)
        n = struct.unpack_from(">I" if wide else ">H", mv, pos + 1)[0] * (2 if b >= 0xDE else 1)
        pos += 5 if wide else 3
        for _ in range(n):
            pos = _walk(mv, pos, spans, min_span, budget, depth + 1)
        return pos
    if b in (0xD9, 0xC4):
        return pos + 2 + mv[pos + 1]
    if b in (0xDA, 0xC5):
        return pos + 3 + struct.unpack_from(">H", mv, pos + 1)[0]
    if b in (0xDB, 0xC6):
        n = struct.unpack_from(">I", mv, pos + 1)[0]
        start = pos + 5
        if n >= min_span:
            spans.append((start, start + n))
        return start + n
    if b in (0xC7, 0xC8, 0xC9):  # ext 8/16/32: our tuples and sets hold msgpack arrays
        size_len = {0xC7: 1, 0xC8: 2, 0xC9: 4}[b]
        n = int.from_bytes(mv[pos + 1 : pos + 1 + size_len], "big")
        start = pos + 2 + size_len
        if n >= min_span and mv[start - 1] in (2, 3, 4):
            before = len(spans)
            if _walk(mv, start, spans, min_span, budget, depth + 1) != start + n:
                del spans[before:]
        return start + n
    if b in _FIXED:
        return pos + _FIXED[b]
    raise IndexError("not msgpack")
