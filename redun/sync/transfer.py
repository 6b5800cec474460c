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

from ..errors import CorruptObjectError, NotFoundError, RefConflictError, SyncError
from ..objects import codec, compress
from ..objects.progress import Progress, progress_or_none
from ..objects.records import Execution
from ..objects.store import verify
from .plan import resolve_roots, ref_updates, walk
from .remote import Remote

_ATTEMPTS = 5
_PROGRESS_EVERY = 512


@dataclass
class SyncResult:
    objects: int = 0  # objects transferred (records and blobs)
    refs: dict = field(default_factory=dict)  # ref name -> new oid, as applied
    skipped: list = field(default_factory=list)  # refs left alone (see _keep_dst)

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


def _counted(items, result: SyncResult, progress):
    for item in items:
        result.objects += 1
        if result.objects % _PROGRESS_EVERY == 0:
            progress.update(result.objects)
        yield item


def sync(
    src: Remote,
    dst: Remote,
    roots: Optional[Iterable[str]] = None,
    progress: Optional[Progress] = None,
    trusted: bool = False,
) -> SyncResult:
    """Copy src's execution refs (all, or those whose id starts with a prefix in
    roots) and everything they reach to dst. Returns what moved.

    Every object is hash-verified. trusted=True (the source is this machine's
    own repo) finds links without a full decode; otherwise every record is
    decoded and checked field by field. `progress` is told how many objects
    have been copied."""
    progress = progress_or_none(progress)
    if src.same_as(dst):
        raise SyncError(f"Source and destination are the same repository ({dst.location}).")
    src_head = src.read_head()
    only = resolve_roots(src_head.refs, roots) if roots else None
    result = SyncResult()
    expand = _reader(src, trusted)
    for _attempt in range(_ATTEMPTS):
        dst_head = dst.read_head()
        updates = ref_updates(src_head.refs, dst_head.refs, only)
        for name, (old, new) in list(updates.items()):
            if old is not None and _running(src, new):
                if name not in result.skipped:
                    result.skipped.append(name)
                del updates[name]
        if not updates:
            return result
        progress.phase("copying objects")
        progress.update(result.objects)
        sink = dst.begin_pack()  # a PackWriter (objects/packwriter.py)
        try:
            sink.add_stored_many(_counted(walk([new for _, new in updates.values()], dst.has, expand), result, progress))
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
