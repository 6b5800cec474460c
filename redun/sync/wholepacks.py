"""Whole packs: a full sync sends the source packs the destination lacks entirely as they are.

Used by transfer.sync when every execution is synced (no prefixes), the source can hand its
packs over as files or streams (pack_files, pack_chunks, index_bytes: a directory, or an S3
remote) and the destination takes whole packs as a group (begin_group: a directory installs
them all or nothing, objects/packgroup.py; an S3 remote uploads them, sync/s3packs.py, and
only the HEAD written after the group names them). The closure invariant (a store that has
an object has everything it links to) must hold for every object of a whole pack, reachable
or not, without reading each object's links. It holds because after such a sync the
destination holds every object of the source: the packs it lacks entirely go whole; every
other pack (and every loose object) gives the objects the destination lacks through a
PackWriter in the same group. The source's own closure (fsck-clean) then carries over. To
keep that cheap, whole-pack mode is chosen only when the packs to prove (those not already at
the destination under the same name) are not larger than the packs to send; otherwise the
ref walk alone runs, as before.

Verification (sync/packcheck.py), while the bytes stream from the source to the
destination: the index's checksum and its name (blake3 of its ids) are checked, and the
pack's bytes are hashed against the digest in its index before the pack is staged or its
upload completed. From a source this machine does not trust (anything but the config dir's
own repo), every entry is also parsed as it streams and hash-verified, the entries must be
exactly those the index lists, and their links must be held at the end of the sync (found
without decoding each record: sync/packcheck.py). A directory installs the group all or nothing (a journal; docs/design.md,
"Pack groups"); the refs (or the S3 HEAD) move only after it.
"""

from dataclasses import dataclass, field

from ..errors import CorruptObjectError, SyncError
from ..objects.pack import PackIndex
from .packcheck import PackCheck

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


def _checked_index(data: bytes, name: str, where: str) -> PackIndex:
    """A PackIndex over index bytes after checking the checksum and the name."""
    index = PackIndex(data, f"{where}/packs/pack-{name}.idx")
    index.verify_checksum()
    if index.ids_name() != name:
        raise CorruptObjectError(f"pack index {index.where} does not match its name (its ids hash elsewhere)")
    return index


def add_whole(group, src, pack, trusted: bool, known, pool=None, strict: frozenset = frozenset()) -> tuple:
    """Stage (or upload) one whole pack of src into group, checked while it streams
    (sync/packcheck.py; `strict`: the ids whose records are decoded field by field too).
    Returns (its object count, the links of its entries held neither in it nor by
    `known(oid)`: empty when trusted, as entries are then not read). With a pool
    (sync/checkpool.py), the entries of the staged copy are checked there instead: the
    caller collects their links from the pool."""
    data = src.index_bytes(pack)
    index = _checked_index(data, pack.name, src.location)
    check = PackCheck(pack.name, index, src.location, held=None if trusted or pool else known, strict=strict)
    outside: set = set()

    def finish(staged=None) -> None:
        outside.update(check.finish())
        if pool is not None and not trusted:
            pool.submit(staged, data, pack.name, src.location, strict)

    group.add_pack(pack.name, check.chunks(src.pack_chunks(pack)), data, finish)
    return index.count, outside


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
