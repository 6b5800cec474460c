"""The packed-refs file format (pure functions; I/O lives in DirectoryRefs).

`refs/.packed` holds many refs in one file so that listing thousands of
execution refs is one read instead of one per ref (as git's packed-refs):

    # redun packed-refs 1
    <64 hex oid> <ref name>
    ...

Lines are sorted by name, each ends with '\\n'. The file name starts with a
dot, so it can never be a ref name (a segment must start with [A-Za-z0-9_]).
"""

import re

from ..errors import CorruptObjectError

PACKED_FILENAME = ".packed"
HEADER = b"# redun packed-refs 1\n"
_SEG = r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}"
_LINE = re.compile(rb"([0-9a-f]{64}) (" + _SEG.encode() + rb"(?:/" + _SEG.encode() + rb")*)\n")


def _bad_lock(name: str) -> bool:
    return any(seg.endswith(".lock") for seg in name.split("/"))


def encode_packed(refs: dict) -> bytes:
    """{name: oid} -> file bytes (sorted by name)."""
    parts = [HEADER]
    parts.extend(f"{refs[name].hex()} {name}\n".encode() for name in sorted(refs))
    return b"".join(parts)


def decode_packed(data: bytes, path: str) -> dict:
    """File bytes -> {name: oid}. Every line is validated (oid hex, name rules);
    anything else raises CorruptObjectError naming the file and line."""
    if not data:
        return {}
    if not data.startswith(HEADER):
        raise CorruptObjectError(
            f"packed refs file {path} does not start with {HEADER.decode().strip()!r}; "
            "restore it from a copy or remove it (its refs are then lost)"
        )
    out = {}
    pos = len(HEADER)
    end = len(data)
    match = _LINE.match
    fromhex = bytes.fromhex
    lineno = 1
    while pos < end:
        lineno += 1
        m = match(data, pos)
        if m is None:
            raise CorruptObjectError(f"packed refs file {path} line {lineno} is not '<64 hex> <ref name>'")
        name = m.group(2).decode()
        if len(name) > 512 or ".tmp-" in name or (".lock" in name and _bad_lock(name)):
            raise CorruptObjectError(f"packed refs file {path} line {lineno}: bad ref name {name!r}")
        out[name] = fromhex(m.group(1).decode())
        pos = m.end()
    if len(out) != lineno - 1:
        raise CorruptObjectError(f"packed refs file {path} names a ref twice")
    return out
