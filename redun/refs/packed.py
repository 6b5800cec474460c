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
_SEG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}\Z")
_SEG_RE = r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}"
# the whole file in one match: hex ids, names of well-formed segments (linear: segments hold no '/')
_LINES = re.compile(r"(?:[0-9a-f]{64} (?:" + _SEG_RE + r"/)*" + _SEG_RE + r"\n)*\Z")


def _name_ok(name: str) -> bool:
    return len(name) <= 512 and all(_SEG.match(seg) and not seg.endswith(".lock") and ".tmp-" not in seg
                                    for seg in name.split("/"))


def encode_packed(refs: dict) -> bytes:
    """{name: oid} -> file bytes (sorted by name)."""
    parts = [HEADER]
    parts.extend(f"{refs[name].hex()} {name}\n".encode() for name in sorted(refs))
    return b"".join(parts)


def decode_packed(data: bytes, path: str) -> dict:
    """File bytes -> {name: oid}, sorted by name. Every line is validated (oid
    hex, name rules); anything else raises CorruptObjectError naming the file
    (and the line when it can). One regex match over the whole file, so
    listing many refs stays cheap (docs/design.md, Refs)."""
    if not data:
        return {}
    if not data.startswith(HEADER):
        raise CorruptObjectError(
            f"packed refs file {path} does not start with {HEADER.decode().strip()!r}; "
            "restore it from a copy or remove it (its refs are then lost)"
        )
    try:
        text = data[len(HEADER):].decode("ascii")
    except UnicodeDecodeError:
        raise CorruptObjectError(f"packed refs file {path} holds non-ASCII bytes") from None
    lines = text.split("\n")
    if lines.pop() != "" or not _LINES.match(text):
        for lineno, line in enumerate(lines, start=2):
            if not _LINES.match(line + "\n"):
                break
        else:
            lineno = len(lines) + 2
        raise CorruptObjectError(f"packed refs file {path} line {lineno} is not '<64 hex> <ref name>'")
    if ("." in text and (".tmp-" in text or ".lock" in text)) or max(map(len, lines), default=0) > 65 + 512:
        for lineno, line in enumerate(lines, start=2):  # the careful check, only when needed
            if not _name_ok(line[65:]):
                raise CorruptObjectError(f"packed refs file {path} line {lineno}: bad ref name {line[65:]!r}")
    fromhex = bytes.fromhex
    out = dict(zip([line[65:] for line in lines], [fromhex(line[:64]) for line in lines]))
    if len(out) != len(lines):
        raise CorruptObjectError(f"packed refs file {path} names a ref twice")
    names = list(out)
    if any(a >= b for a, b in zip(names, names[1:])):
        out = {n: out[n] for n in sorted(out)}  # written sorted; tolerate a hand-edited file
    return out
