"""Push and pull: move execution refs and their missing objects between Remotes.

One round: read the destination head (1 read), plan the ref updates, walk
from the new ref values through record links stopping at objects the
destination has, stream the missing objects' stored bytes (no recompression)
into one pack, commit it (pack, then index), then move the refs by
compare-and-swap. Every object read from the source is verified (blake3 of
its decompressed bytes) and decoded to find its links; an object the source
lacks aborts the sync before any ref moves. A lost race re-reads the
destination head and tries again: the objects already sent are then had.
"""

from dataclasses import dataclass, field
from typing import Iterable, Optional

from ..errors import CorruptObjectError, NotFoundError, RedunError, RefConflictError, SyncError
from ..objects import codec, compress
from ..objects.progress import Progress, progress_or_none
from ..objects.records import Execution
from ..objects.store import verify
from . import checkpool
from .haves import Haves
from .plan import resolve_roots, ref_updates, walk
from .remote import Remote
from .wholepacks import add_whole, check_outside, missing_objects, plan_whole

_ATTEMPTS = 5
_PROGRESS_EVERY = 512


@dataclass
class SyncResult:
    objects: int = 0  # objects transferred (records and blobs)
    refs: dict = field(default_factory=dict)  # ref name -> new oid, as applied
    skipped: list = field(default_factory=list)  # refs left alone (see _keep_dst)
    failed: dict = field(default_factory=dict)  # keep_going: ref name -> why it was not synced

    @property
    def up_to_date(self) -> bool:
        return self.objects == 0 and not self.refs


def fast_links(data: bytes):
    """The links of encoded record bytes without building the record (several times faster
    than decode; objects/codec.links_of_encoded): only the envelope and the link fields are
    checked. Returns None when anything looks off, so the caller decodes fully and reports."""
    try:
        follow, leaves = codec.links_of_encoded(data)
    except CorruptObjectError:
        return None
    return follow + leaves


def _reader(src: Remote, trusted: bool):
    where = f"{src.location}"

    def expand(oid: bytes) -> tuple:
        try:
            stored = src.get_stored(oid)
        except NotFoundError:
            raise SyncError(
                f"{src.location} lacks object {oid.hex()}, which another of its records links to; "
                "nothing was changed. Run `redun fsck` on that repository."
            ) from None
        data = verify(oid, compress.decompress(stored, f"{oid.hex()} in {where}"), where)
        links = fast_links(data) if trusted else None
        if links is None:
            try:
                links = codec.decode(data).links()
            except CorruptObjectError as e:
                raise CorruptObjectError(f"object {oid.hex()} in {where}: {e}") from None
        return stored, links

    return expand


def _running(src: Remote, oid: bytes) -> bool:
    """Whether oid is an unfinished Execution (never replaces an existing ref)."""
    try:
        data = compress.decompress(src.get_stored(oid))
        rec = codec.decode(verify(oid, data, src.location))
    except (NotFoundError, CorruptObjectError):
        return False  # the walk reports it properly
    return isinstance(rec, Execution) and rec.end_time is None


def _walk_each(updates: dict, have, expand, failed: dict):
    """walk() ref by ref (keep_going): a ref whose closure cannot be read goes into
    `failed` and is dropped from `updates`; what its walk already yielded is closed
    under links (children first), so it may stay in the pack."""
    for name in list(updates):
        try:
            yield from walk([updates[name][1]], have, expand)
        except RedunError as e:
            failed[name] = str(e)
            del updates[name]


def _unreadable(head, where: str) -> SyncError:
    names = ", ".join(sorted(head.bad_refs))
    first = next(iter(head.bad_refs.values()))
    return SyncError(f"{where} has refs that cannot be read ({names}): {first}; nothing was changed. "
                     "Run `redun fsck` there, or sync the rest with --keep-going.")


def _counted(items, result: SyncResult, progress):
    for item in items:
        result.objects += 1
        if result.objects % _PROGRESS_EVERY == 0:
            progress.update(result.objects)
        yield item


def _send_whole(src, dst, plan, updates, expand, trusted, result, progress) -> list:
    """Install plan's whole packs and, in the same group, every other object of the source
    the destination lacks (sync/wholepacks.py); returns the installed pack names."""
    group = dst.begin_group(origin={"via": "sync", "from": src.location})
    pool = None
    try:
        whole = Haves([p.index for p in plan.whole])

        def known(oid):
            return oid in whole or dst.has(oid)

        workers = 0 if trusted or not group.stages_files() else checkpool.workers_for(plan.objects)
        if workers:
            pool = checkpool.CheckPool([p.index for p in plan.whole], workers)
        outside: set = set()
        last = plan.whole[-1] if plan.whole else None
        strict = frozenset() if trusted else frozenset(new for _, new in updates.values())  # no ref to a bad record
        for p in plan.whole:
            # the last pack is checked here as it streams, while the workers finish the others
            count, links = add_whole(group, src, p, trusted, known, pool if p is not last else None, strict)
            outside |= links
            result.objects += count
            progress.update(result.objects)
        if pool is not None:
            outside |= {link for link in pool.outside(known) if not known(link)}
        writer = group.writer()
        try:
            writer.add_stored_many(_counted(missing_objects(plan, src, known, expand), result, progress))
            sent = lambda oid: known(oid) or oid in writer  # noqa: E731
            # what only the refs reach (an object in no pack file: the walk reads and reports it)
            writer.add_stored_many(_counted(walk([new for _, new in updates.values()], sent, expand),
                                            result, progress))
            check_outside(outside, sent, src.location)
            writer.commit()
        except BaseException:
            writer.abort()
            raise
        names = group.commit()
    except BaseException:
        group.abort()
        raise
    finally:
        if pool is not None:
            pool.close()
    dst.groups_installed()
    return names


def sync(
    src: Remote,
    dst: Remote,
    roots: Optional[Iterable[str]] = None,
    progress: Optional[Progress] = None,
    trusted: bool = False,
    keep_going: bool = False,
) -> SyncResult:
    """Copy src's execution refs (all, or those whose id starts with a prefix in
    roots) and everything they reach to dst. Returns what moved.

    Every object is hash-verified. trusted=True (the source is this machine's
    own repo) finds links without a full decode; otherwise an object sent alone is
    decoded and checked field by field, and the entries of a whole pack are hashed
    and their links proved held (sync/packcheck.py). `progress` is told how many objects
    have been copied. keep_going=True syncs every ref that can be read with its
    whole closure and lists the others in result.failed (else the first one
    stops the sync before any ref moves)."""
    progress = progress_or_none(progress)
    if src.same_as(dst):
        raise SyncError(f"Source and destination are the same repository ({dst.location}).")
    src_head = src.read_head()
    result = SyncResult()
    if src_head.bad_refs:
        if not keep_going:
            raise _unreadable(src_head, src.location)
        result.failed.update(src_head.bad_refs)
    only = resolve_roots(src_head.refs, roots) if roots else None
    expand = _reader(src, trusted)
    for _attempt in range(_ATTEMPTS):
        dst_head = dst.read_head()
        if dst_head.bad_refs and not keep_going:
            raise _unreadable(dst_head, dst.location)
        updates = ref_updates(src_head.refs, dst_head.refs, only)
        for name in dst_head.bad_refs:
            if updates.pop(name, None) is not None:
                result.failed[name] = f"{dst.location}: {dst_head.bad_refs[name]}"
        for name, (old, new) in list(updates.items()):
            if old is not None and _running(src, new):
                if name not in result.skipped:
                    result.skipped.append(name)
                del updates[name]
        if not updates:
            return result
        progress.phase("copying objects")
        progress.update(result.objects)
        plan = plan_whole(src, dst, dst_head) if only is None and not result.failed else None
        if plan is not None:
            names = _send_whole(src, dst, plan, updates, expand, trusted, result, progress)
            try:
                dst.update_head(dst_head, updates, names)
            except RefConflictError:
                continue
            result.refs.update({n: new for n, (_, new) in updates.items()})
            progress.update(result.objects)
            return result
        # a PackWriter (objects/packwriter.py); the objects' origin goes with them (repo/trust.py)
        sink = dst.begin_pack(origin={"via": "sync", "from": src.location})
        try:
            if keep_going:
                objects = _walk_each(updates, lambda o: o in sink or dst.has(o), expand, result.failed)
            else:
                objects = walk([new for _, new in updates.values()], dst.has, expand)
            sink.add_stored_many(_counted(objects, result, progress))
            name = sink.commit()
        except BaseException:
            sink.abort()
            raise
        try:
            dst.update_head(dst_head, updates, [name] if name else [])
        except RefConflictError:
            continue  # someone moved one of our refs: re-plan against the new head
        result.refs.update({n: new for n, (_, new) in updates.items()})
        progress.update(result.objects)
        return result
    raise SyncError(f"{dst.location} kept changing during the sync ({_ATTEMPTS} attempts); retry later.")
