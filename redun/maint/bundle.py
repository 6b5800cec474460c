"""Bundles: selected executions and their whole closure as one verifiable file.

Layout (all integers little-endian):
    b"RDBUNDLE" u32 version(=1)
    pack bytes            a pack (redun/objects/pack.py format), ids ascending
    index bytes           its .idx
    header                JSON {"format": "redun-bundle", "version": 1,
                                "refs": {name: oid hex}, "objects": n}
    u64 pack length | u64 index length | u32 header length | b"RDBEND\\0\\0"
    blake3 of every byte above (32)
The trailer sits at the end so a bundle is written in one pass. `verify` checks
the checksum, the index, every object (hash and strict decoding) and the
closure before anything is installed; `unbundle` then installs the objects as
a pack and sets refs by compare-and-swap.
"""

import json
import os
import shutil
import struct
import tempfile
from dataclasses import dataclass, field
from typing import Iterable, Optional

import blake3

from ..errors import CorruptObjectError, InvalidIdError, NotFoundError, RedunError, UsageError
from ..objects import codec, compress
from ..objects.ids import object_id, parse_oid
from ..objects.pack import ENTRY_HEAD, PackIndex
from ..objects.packentries import entry_at, find_position, oid_at
from ..objects.walk import walk
from ..refs import check_ref_name
from .packio import sorted_pack_writer

MAGIC = b"RDBUNDLE" + struct.pack("<I", 1)
END = b"RDBEND\x00\x00"
_TRAILER = struct.Struct("<QQI8s32s")  # 60 bytes
_MAX_HEADER = 64 << 20


class BundleError(CorruptObjectError):
    """A bundle file is damaged, incomplete or not a bundle."""


@dataclass
class BundleInfo:
    path: str
    refs: dict = field(default_factory=dict)  # name -> oid
    objects: int = 0
    size: int = 0

    def summary(self) -> str:
        return f"{self.path}: {self.objects} objects, {len(self.refs)} ref(s), {self.size} bytes"


# -- create -----------------------------------------------------------------
def select_refs(refs, exec_ids: Iterable[str]) -> dict:
    """{ref name: oid} for the given execution ids (uuid or unique prefix); all execs if none."""
    execs = dict(refs.list("execs/"))
    wanted = list(exec_ids)
    if not wanted:
        if not execs:
            raise NotFoundError("This repository has no executions to bundle.")
        return execs
    out = {}
    for w in wanted:
        w = w.strip().lower()
        hits = [n for n in execs if n[len("execs/"):].startswith(w)] if w else []
        if not hits:
            raise NotFoundError(f"No execution with id (prefix) {w!r}. See `redun log`.")
        if len(hits) > 1:
            raise UsageError(f"Execution id prefix {w!r} is ambiguous: " + ", ".join(h[6:] for h in hits[:10]))
        out[hits[0]] = execs[hits[0]]
    return out


def create(store, refs, path: str, exec_ids: Iterable[str] = (), reader=None) -> BundleInfo:
    """Write a bundle of the chosen executions (closure read through `reader`,
    default `store`: pass the value-store reader so external blobs come along)."""
    reader = store if reader is None else reader
    chosen = select_refs(refs, exec_ids)
    out_dir = os.path.dirname(os.path.abspath(path)) or "."
    work = tempfile.mkdtemp(prefix=".redun-bundle-", dir=out_dir)
    try:
        with sorted_pack_writer(work) as w:
            w.add_stored_many(_closure_stored(store, reader, list(chosen.values())))
        name = w.commit()
        header = json.dumps({"format": "redun-bundle", "version": 1, "objects": len(w),
                             "refs": {n: o.hex() for n, o in sorted(chosen.items())}}, sort_keys=True).encode()
        pack_path = os.path.join(work, f"pack-{name}.pack")
        idx_path = os.path.join(work, f"pack-{name}.idx")
        tmp = path + ".tmp"
        h = blake3.blake3()
        with open(tmp, "wb") as f:
            def put(data):
                f.write(data)
                h.update(data)

            put(MAGIC)
            lens = []
            for src in (pack_path, idx_path):
                n = 0
                with open(src, "rb") as s:
                    while True:
                        block = s.read(1 << 20)
                        if not block:
                            break
                        put(block)
                        n += len(block)
                lens.append(n)
            put(header)
            put(struct.pack("<QQI8s", lens[0], lens[1], len(header), END))
            f.write(h.digest())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return BundleInfo(path, chosen, len(w), os.path.getsize(path))


def _closure_stored(store, reader, roots: list):
    """(oid, stored bytes) of everything reachable from roots, ids ascending.
    For a directory store: gc's mark state (a byte per packed object), a merge
    of the packs' sorted ids and pread (no id set, no mmap of the packs); links
    the store lacks (blobs at value_store_path) are read through `reader`."""
    if not hasattr(store, "packs_dir"):
        for oid in sorted({oid for oid, _ in walk(reader, roots)}):
            yield oid, _stored(reader, oid)
        return
    import heapq

    from .gc import GcReport
    from .mark import Marker
    from ..objects.packentries import stored_at

    store.refresh()
    m = Marker(store, float("inf"), GcReport())
    m.missing = set()
    try:
        for oid in roots:
            m.mark_root(oid)
        elsewhere = ((oid, -2, 0) for oid in sorted(m.missing))
        for oid, i, pos in heapq.merge(m.marked_entries(), elsewhere):
            if i >= 0:
                got, stored = stored_at(m.packs[i], pos)
                where = f"{oid.hex()} in {m.packs[i].path}"
                if object_id(compress.decompress(stored, where)) != oid:
                    raise CorruptObjectError(f"object {where} does not match its id; run `redun fsck`")
                yield oid, stored
            else:
                yield oid, _stored(store if i == -1 else reader, oid)
    finally:
        m.close()


def _stored(reader, oid: bytes) -> bytes:
    get_stored = getattr(reader, "get_stored", None)
    if get_stored is not None:
        stored, where = get_stored(oid)
        if object_id(compress.decompress(stored, f"{oid.hex()} in {where}")) != oid:
            raise CorruptObjectError(f"object {oid.hex()} in {where} does not match its id; run `redun fsck`")
        return bytes(stored)
    return compress.compress(reader.get_bytes(oid))


# -- read / verify ----------------------------------------------------------
class _Open:
    """An opened bundle: mmap-free reads with pread; `index` over the idx bytes."""

    def __init__(self, path: str):
        self.path = path
        try:
            self.fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            raise NotFoundError(f"No bundle file {path}.") from None
        try:
            self._parse()
        except BaseException:
            os.close(self.fd)
            raise

    def _parse(self):
        size = os.fstat(self.fd).st_size
        self.size = size
        if size < len(MAGIC) + _TRAILER.size or os.pread(self.fd, len(MAGIC), 0) != MAGIC:
            raise BundleError(f"{self.path} is not a redun bundle (bad magic or too short).")
        pack_len, idx_len, head_len, end, digest = _TRAILER.unpack(os.pread(self.fd, _TRAILER.size, size - _TRAILER.size))
        if end != END or len(MAGIC) + pack_len + idx_len + head_len + _TRAILER.size != size or head_len > _MAX_HEADER:
            raise BundleError(f"{self.path}: the trailer does not match the file size (truncated bundle?).")
        h = blake3.blake3()
        pos, stop = 0, size - 32
        while pos < stop:
            block = os.pread(self.fd, min(1 << 20, stop - pos), pos)
            h.update(block)
            pos += len(block)
        if h.digest() != digest:
            raise BundleError(f"{self.path} fails its checksum (damaged in transit?).")
        self.pack_at = len(MAGIC)
        idx_at = self.pack_at + pack_len
        idx_bytes = os.pread(self.fd, idx_len, idx_at)
        self.index = PackIndex(idx_bytes, f"{self.path} (index)")
        self.index.verify_checksum()
        try:
            head = json.loads(os.pread(self.fd, head_len, idx_at + idx_len))
            assert isinstance(head, dict) and head.get("format") == "redun-bundle"
            raw_refs = head["refs"]
            assert isinstance(raw_refs, dict)
        except (ValueError, AssertionError, KeyError, UnicodeDecodeError):
            raise BundleError(f"{self.path}: the bundle header is not valid.") from None
        if head.get("version") != 1:
            raise BundleError(f"{self.path} is bundle version {head.get('version')}; this redun reads version 1.")
        self.refs = {}
        for name, hexid in raw_refs.items():
            try:
                self.refs[check_ref_name(name)] = parse_oid(hexid)
            except InvalidIdError as e:
                raise BundleError(f"{self.path}: bad ref in header: {e}") from None
        self.pack_len = pack_len

    def stored(self, pos: int) -> tuple:
        oid = oid_at(self.index, pos)
        off, size = entry_at(self.index, pos)
        if off + size > self.pack_len or size < ENTRY_HEAD:
            raise BundleError(f"{self.path}: object {oid.hex()} lies outside the pack.")
        data = os.pread(self.fd, size, self.pack_at + off)
        if data[:32] != oid or struct.unpack_from("<I", data, 32)[0] != size - ENTRY_HEAD:
            raise BundleError(f"{self.path}: entry of object {oid.hex()} is damaged.")
        return oid, data[ENTRY_HEAD:]

    def has(self, oid: bytes) -> bool:
        return find_position(self.index, oid) >= 0

    def close(self):
        os.close(self.fd)


def _check(b: _Open, store=None) -> int:
    """Every object verified; every link and ref resolves in the bundle (or store)."""
    missing = []
    last = b""
    for pos in range(b.index.count):
        oid, stored = b.stored(pos)
        if oid <= last:
            raise BundleError(f"{b.path}: index ids are not sorted.")
        last = oid
        where = f"{oid.hex()} in bundle {b.path}"
        try:
            canonical = compress.decompress(stored, where)
        except CorruptObjectError as e:
            raise BundleError(f"{e} (damaged bundle)") from None
        if object_id(canonical) != oid:
            raise BundleError(f"object {where} does not match its id (damaged bundle).")
        try:
            record = codec.decode(canonical, strict=True)
        except CorruptObjectError as e:
            raise BundleError(f"object {where}: {e}") from None
        for link in record.links():
            if not b.has(link) and not (store is not None and store.has(link)):
                missing.append((link, oid))
    for name, oid in b.refs.items():
        if not b.has(oid) and not (store is not None and store.has(oid)):
            missing.append((oid, None))
    if missing:
        link, parent = missing[0]
        via = f" (linked from {parent.hex()})" if parent else " (named by a ref)"
        raise BundleError(f"{b.path} is not closed: object {link.hex()}{via} is in neither the bundle "
                          f"nor the repository ({len(missing)} missing link(s)). Nothing was installed.")
    return b.index.count


def verify(path: str, store=None) -> BundleInfo:
    """Check a bundle completely; raise BundleError naming the first problem."""
    b = _Open(path)
    try:
        n = _check(b, store)
        return BundleInfo(path, dict(b.refs), n, b.size)
    finally:
        b.close()


@dataclass
class UnbundleResult:
    info: BundleInfo
    installed: int = 0
    updated: list = field(default_factory=list)
    unchanged: list = field(default_factory=list)
    kept: list = field(default_factory=list)  # (name, reason)


def unbundle(store, refs, path: str, force: bool = False) -> UnbundleResult:
    """Verify, install the objects the store lacks as one pack, then set refs (CAS)."""
    b = _Open(path)
    try:
        n = _check(b, store)
        result = UnbundleResult(BundleInfo(path, dict(b.refs), n, b.size))
        store.refresh()
        def missing():
            for pos in range(b.index.count):
                if not store.has(oid_at(b.index, pos)):
                    yield b.stored(pos)

        origin = {"via": "bundle", "from": os.path.abspath(path)}  # its pickles are not ours to unpickle
        with sorted_pack_writer(store.packs_dir, origin) as w:
            w.add_stored_many(missing())
        result.installed = len(w)
        store.refresh()
        for name, oid in sorted(b.refs.items()):
            _set_ref(store, refs, name, oid, force, result)
        return result
    finally:
        b.close()


def _set_ref(store, refs, name: str, oid: bytes, force: bool, result: UnbundleResult) -> None:
    cur = refs.get(name)
    if cur == oid:
        result.unchanged.append(name)
        return
    if cur is not None and not force:
        reason = _prefer_existing(store, cur, oid)
        if reason:
            result.kept.append((name, reason))
            return
    try:
        refs.set(name, oid, expected=cur)
    except RedunError as e:
        result.kept.append((name, f"changed while unbundling ({e})"))
        return
    result.updated.append(name)


def _prefer_existing(store, cur: bytes, new: bytes) -> Optional[str]:
    """Why the current target of an execution ref should stay (None: take the bundle's)."""
    try:
        a, b = store.get(cur), store.get(new)
    except (NotFoundError, CorruptObjectError):
        return None
    if type(a).__name__ == "Execution" and type(b).__name__ == "Execution":
        if a.end_time is not None and b.end_time is None:
            return "the repository has the finished execution; the bundle's is still running"
        if (a.end_time is None) == (b.end_time is None):
            return "the repository already holds a different record for it (use --force to take the bundle's)"
        return None
    return "the repository already has this ref pointing elsewhere (use --force to overwrite)"
