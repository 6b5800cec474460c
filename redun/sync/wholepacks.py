"""Whole packs: a full sync sends the source packs the destination lacks entirely as they are.

Used by transfer.sync when every execution is synced (no prefixes), the source keeps its
objects in pack files (a directory) and the destination installs pack groups (a directory:
objects/packgroup.py). The closure invariant (a store that has an object has everything it
links to) must hold for every object of a whole pack, reachable or not, without reading each
object's links. It holds because after such a sync the destination holds every object of the
source: the packs it lacks entirely go whole; every other pack (and every loose object) gives
the objects the destination lacks through a PackWriter in the same group. The source's own
closure (fsck-clean) then carries over. To keep that cheap, whole-pack mode is chosen only
when the packs to prove (those not already at the destination under the same name) are not
larger than the packs to send; otherwise the ref walk alone runs, as before.

Verification: a whole pack is streamed and its bytes hashed against the digest in its index;
the index's checksum and its name (blake3 of its ids) are checked. From a source this machine
does not trust (anything but the config dir's own repo), every entry of the staged copy is
also read through the index, hash-verified, decoded, and its links must be held at the end of
the sync. Install is all-or-nothing (a journal; docs/design.md, "Pack groups"), and the refs
move only after it.
"""

import mmap
import os
from dataclasses import dataclass, field

import blake3

from ..errors import CorruptObjectError, SyncError
from ..objects import codec, compress
from ..objects.pack import PackIndex, read_entry
from ..objects.packgroup import chunks_of
from ..objects.store import verify

PROVE_RATIO = 1.0  # at most this many objects proved held per object sent whole


@dataclass
class WholePlan:
    whole: list = field(default_factory=list)  # source packs (MappedPack) the destination lacks entirely
    rest: list = field(default_factory=list)  # source packs to send object by object (what dst lacks)
    objects: int = 0  # objects in the whole packs


def _held_first(pack, dst) -> bool:
    idx = pack.index
    return idx.count > 0 and dst.has(bytes(idx.data[idx.ids_at: idx.ids_at + 32]))


def plan_whole(src, dst, dst_head):
    """A WholePlan, or None when the ref walk alone is the better (or only) way."""
    packs = src.pack_files()
    if packs is None or not dst.installs_pack_groups():
        return None
    there = set(dst_head.packs)
    candidates, others, prove = [], [], 0
    for p in packs:
        if p.name in there:
            continue  # the same ids: held whole already
        if _held_first(p, dst):
            others.append(p)
            prove += p.index.count
        else:
            candidates.append(p)
    sent = sum(p.index.count for p in candidates)
    if not candidates or prove > PROVE_RATIO * sent:
        return None
    plan = WholePlan(rest=others)
    for p in candidates:
        if dst.has_any(p.index):
            plan.rest.append(p)  # partly held: its missing objects go one by one
        else:
            plan.whole.append(p)
            plan.objects += p.index.count
    return plan if plan.whole else None


def _checked_index(pack, where: str) -> tuple:
    """(index bytes, PackIndex over them) after checking the checksum and the name."""
    with open(pack.idx_path, "rb") as f:
        data = f.read()
    index = PackIndex(data, f"{where}/pack-{pack.name}.idx")
    index.verify_checksum()
    if blake3.blake3(data[index.ids_at: index.off_at]).digest(20).hex() != pack.name:
        raise CorruptObjectError(f"pack index {index.where} does not match its name (its ids hash elsewhere)")
    return data, index


def _hashed(chunks, hasher):
    for chunk in chunks:
        hasher.update(chunk)
        yield chunk


def add_whole(group, pack, where: str, trusted: bool, outside: set, known) -> int:
    """Stage one whole pack into group; returns its object count. Untrusted: every entry
    is verified and its links not in the pack (nor `known(oid)`) are added to `outside`."""
    data, index = _checked_index(pack, where)
    hasher = blake3.blake3()

    def check(path: str) -> None:
        if hasher.digest() != index.pack_digest:
            raise CorruptObjectError(f"pack {where}/pack-{pack.name}.pack does not match its index digest")
        if not trusted:
            _verify_entries(path, index, where, outside, known)

    group.add_pack(pack.name, _hashed(chunks_of(pack.path), hasher), data, check)
    return index.count


def _verify_entries(path: str, index: PackIndex, where: str, outside: set, known) -> None:
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
    try:
        for oid, off, n in index.entries():
            stored = read_entry(buf, off, n, oid, where)
            data = verify(oid, compress.decompress(stored, f"{oid.hex()} in {where}"), where)
            try:
                links = codec.decode(data).links()
            except CorruptObjectError as e:
                raise CorruptObjectError(f"object {oid.hex()} in {where}: {e}") from None
            for link in links:
                if index.find(link) is None and not known(link):
                    outside.add(link)
    finally:
        if size:
            buf.close()


def missing_objects(plan: WholePlan, src, known, expand):
    """(oid, stored) of every object of the partly held packs and every loose object of the
    source that the destination lacks, known(oid) answering (each read and verified by expand)."""
    for p in plan.rest:
        for oid in p.index:
            if not known(oid):
                yield oid, expand(oid)[0]
    for oid in src.loose_ids():
        if not known(oid):
            yield oid, expand(oid)[0]


def check_outside(outside: set, have, where: str) -> None:
    for link in outside:
        if not have(link):
            raise SyncError(f"{where} has a pack whose records link to {link.hex()}, which it lacks; "
                            "nothing was changed. Run `redun fsck` on that repository.")
