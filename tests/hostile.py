"""Hostile artifacts for issue 12's tests: zstd bombs, packs with bad entries, raw files."""

import os
import struct

import blake3

from redun.objects.pack import PACK_MAGIC, build_index, entry_bytes, pack_name

_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_RLE_MAX = 1 << 17  # a zstd block holds at most 128 KiB


def rle_frame(n: int, byte: int = 0, prefix: bytes = b"") -> bytes:
    """A zstd frame that inflates to `prefix` + n copies of `byte`, built by hand from RLE
    blocks (4 bytes per 128 KiB: 1 GiB from 32 KB, as the report's bombs)."""
    total = len(prefix) + n
    out = [_ZSTD_MAGIC, b"\xe0", struct.pack("<Q", total)]  # single segment, 8-byte content size
    blocks = []
    if prefix:
        blocks.append((0, prefix))  # raw block
    while n > 0:
        k = min(n, _RLE_MAX)
        blocks.append((1, k))
        n -= k
    for i, (kind, arg) in enumerate(blocks):
        last = 1 if i == len(blocks) - 1 else 0
        size = len(arg) if kind == 0 else arg
        out.append(struct.pack("<I", last | (kind << 1) | (size << 3))[:3])
        out.append(arg if kind == 0 else bytes((byte,)))
    return b"".join(out)


def bomb(n: int, prefix: bytes = b"") -> bytes:
    """Stored form (compress.py framing, plain zstd) of an object claiming n+ bytes."""
    return b"\x01" + rle_frame(n, prefix=prefix)


def pack_bytes(entries) -> tuple:
    """(name, pack bytes, idx bytes) for [(oid, stored)]: a well-formed pack of any entries."""
    body = PACK_MAGIC
    idx_entries = []
    for oid, stored in entries:
        e = entry_bytes(oid, stored)
        idx_entries.append((oid, len(body), len(e)))
        body += e
    name = pack_name(sorted(o for o, _ in entries))
    return name, body, build_index(idx_entries, blake3.blake3(body).digest())


def install_pack(root: str, entries) -> str:
    """Write a pack and its index straight into ROOT/packs (no verification)."""
    name, body, idx = pack_bytes(entries)
    packs = os.path.join(root, "packs")
    with open(os.path.join(packs, f"pack-{name}.pack"), "wb") as f:
        f.write(body)
    with open(os.path.join(packs, f"pack-{name}.idx"), "wb") as f:
        f.write(idx)
    return name


def fake_oid(i: int) -> bytes:
    return blake3.blake3(b"hostile %d" % i).digest()


def rewrite_idx(idx_path: str, offsets=None, sizes=None) -> None:
    """Overwrite entry offsets/sizes ({position: value}) of an .idx and re-checksum it, so
    only those fields are wrong (as a hostile remote would serve it)."""
    with open(idx_path, "rb") as f:
        data = bytearray(f.read())
    count = struct.unpack_from("<I", data, 8)[0]
    off_at = 12 + 1024 + 32 * count
    size_at = off_at + 8 * count
    for i, v in (offsets or {}).items():
        struct.pack_into("<Q", data, off_at + 8 * i, v)
    for i, v in (sizes or {}).items():
        struct.pack_into("<I", data, size_at + 4 * i, v)
    data[-32:] = blake3.blake3(bytes(data[:-32])).digest()
    with open(idx_path, "wb") as f:
        f.write(data)
