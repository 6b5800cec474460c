"""Export driver: our records -> upstream JSON lines, streamed.

Walks the records reachable from the roots depth first and writes each
record after everything it links to (children first). Upstream's import
ignores line order; ours too, but children first means an Execution line
comes right after the last record it needs, so a truncated export still
holds whole executions (import it with --keep-going to keep those).
Memory: a map object id -> upstream id for the records written so far
(~150 bytes each), plus the DFS stack.

Records with no upstream counterpart are not written: Blobs (their bytes
travel inside the Value's data), Job.eval_value (upstream exports no
evaluations), running executions (no root job yet).
"""

from typing import Callable, Iterable, Optional

from ..errors import AmbiguousPrefixError, NotFoundError, RedunError
from ..objects import codec
from ..objects.ids import check_prefix, is_hex
from ..objects.records import CallNode, Execution, Job, Tag, TagSet, Task, Value
from . import convert
from .convert import uuid_str

FLUSH_LINES = 512


def fast_decode(data: bytes):
    """Record from canonical bytes the store has already verified against their id,
    without per-field type checks (export speed): codec.decode_trusted."""
    return codec.decode_trusted(data)


def all_execution_roots(repo, on_error: Optional[Callable[[str, Exception], None]] = None) -> list:
    """Object ids of every finished-or-running execution with a root job, newest first.
    on_error(ref name, error): called for each execution that cannot be read (else it raises)."""
    found = []
    for name, oid in _execution_refs(repo, on_error):
        try:
            rec = repo.store.get(oid)
        except RedunError as e:
            if on_error is None:
                raise
            on_error(name, e)
            continue
        if isinstance(rec, Execution) and rec.job is not None:
            found.append((rec.start_time, rec.id, oid))
    found.sort(reverse=True)
    return [oid for _t, _id, oid in found]


def _execution_refs(repo, on_error) -> list:
    """(name, oid) of refs/execs/*; with on_error, the unreadable ones are reported and skipped."""
    try:
        return list(repo.refs.list("execs/"))
    except RedunError as e:
        if on_error is None:
            raise
        try:
            names = repo.refs.names("execs/")
        except RedunError:
            on_error("refs/.packed", e)
            names = repo.refs.loose_names("execs/")
    out = []
    for name in names:
        try:
            oid = repo.refs.get(name)
        except RedunError as e:
            on_error(name, e)
            continue
        if oid is not None:
            out.append((name, oid))
    return out


def resolve_root(repo, text: str) -> bytes:
    """Object id for an execution/job uuid, call/task/value hash, or object id (or a unique prefix)."""
    text = text.strip().lower()
    flat = text.replace("-", "")
    if not flat or not is_hex(flat):
        raise NotFoundError(f"Not an id: {text!r}. Give an execution or job id, a hash, or an object id.")
    if len(flat) == 32 and "-" in text:
        ref = repo.refs.get(f"execs/{text}")
        if ref is not None:
            return ref
    candidates = {}
    try:
        index = repo.index
    except ImportError:
        index = None
    if index is not None and len(flat) <= 40:
        for kind, row in index.resolve(text):
            candidates.setdefault(row["oid"], kind)
    if not candidates and "-" not in text and len(flat) >= 4:  # upstream-style ids win over object ids
        for oid in repo.store.prefix_candidates(check_prefix(flat), 21):
            candidates.setdefault(oid, "object")
    if not candidates:
        raise NotFoundError(f"No execution, job, call node, task, value or object matches {text!r}.")
    if len(candidates) > 1:
        raise AmbiguousPrefixError(text, sorted(o.hex() for o in candidates), "record")
    return next(iter(candidates))


class Exporter:
    def __init__(self, repo, write: Callable[[str], None]):
        self.store = repo.store
        self.refs = getattr(repo, "refs", None)
        self.values = repo.values  # payloads: blobs may live at [backend] value_store_path
        self.write = write
        self.ids: dict = {}  # oid -> upstream id (uuid text or hash hex)
        self.hash_texts: dict = {}  # Value oid -> its hash text, for the (rare) values hashing to non-hex text
        self.starts: dict = {}  # job oid -> start time (children are listed by start time)
        self.emitted: set = set()  # upstream keys already written
        self.count = 0
        self._buf: list = []

    def _emit(self, key: str, text: str) -> None:
        if key in self.emitted:
            return
        self.emitted.add(key)
        self._buf.append(text)
        self.count += 1
        if len(self._buf) >= FLUSH_LINES:
            self.flush()

    def flush(self) -> None:
        if self._buf:
            self._buf.append("")
            text, self._buf = "\n".join(self._buf), []
            self.write(text)

    @staticmethod
    def _links(rec) -> list:
        t = type(rec)
        if t is Execution:
            return [] if rec.job is None else [rec.job]
        if t is Job:
            out = [rec.task]
            if rec.call_node is not None:
                out.append(rec.call_node)
            return out + list(rec.children)
        if t is CallNode:
            return [rec.task, rec.value] + [a.value for a in rec.args] + list(rec.children)
        if t is Value:
            return list(rec.subvalues)
        return []

    def export(self, roots: Iterable[bytes], on_error: Optional[Callable[[bytes, Exception], None]] = None) -> int:
        """Write every root with its closure; on_error(root, error) instead of raising skips a
        root that cannot be read whole (the lines already written hold whole sub-trees)."""
        for root in roots:
            try:
                self._walk(root)
            except RedunError as e:
                if on_error is None:
                    raise
                self.flush()
                on_error(root, e)
        self._tags()
        self.flush()
        return self.count

    def _walk(self, root: bytes) -> None:
        ids = self.ids
        stack = [(root, None)]
        while stack:
            oid, rec = stack[-1]
            if oid in ids:
                stack.pop()
                continue
            if rec is None:
                rec = fast_decode(self.store.get_bytes(oid))
                stack[-1] = (oid, rec)
                pending = [c for c in self._links(rec) if c not in ids]
                if pending:
                    stack.extend((c, None) for c in reversed(pending))
                    continue
            stack.pop()
            try:
                self._write_record(oid, rec)
            except (TypeError, AttributeError, KeyError, ValueError):
                codec.decode(self.store.get_bytes(oid))  # raises DecodeError naming the object
                raise

    def _write_record(self, oid: bytes, rec) -> None:
        ids = self.ids
        t = type(rec)
        if t is Value:
            uid = rec.hash_str
            if rec.hash_text is not None:
                self.hash_texts[oid] = uid
            subs = [ids[s] for s in rec.subvalues]
            self._emit("v:" + uid, convert.value_text(rec, self.values.read(rec), subs))
        elif t is Task:
            uid = rec.hash.hex()
            self._emit("v:" + uid, convert.task_text(rec))
        elif t is CallNode:
            uid = rec.hash.hex()
            texts = self.hash_texts
            self._emit("c:" + uid, convert.call_node_text(rec, [ids[c] for c in rec.children], texts if texts else None))
        elif t is Job:
            uid = uuid_str(rec.id)
            self.starts[oid] = rec.start_time
            kids = rec.children
            if len(kids) > 1:
                starts = self.starts
                kids = sorted(kids, key=lambda c: (starts.get(c, 0), ids[c]))
            self._emit("j:" + uid, convert.job_text(rec, [ids[c] for c in kids]))
        elif t is Execution:
            uid = uuid_str(rec.id)
            if rec.job is not None:
                self._emit("e:" + uid, convert.execution_text(rec, ids[rec.job]))
                for tag_hash, text in convert.execution_tag_texts(rec):
                    self._emit("t:" + tag_hash, text)
        elif t is Tag:
            uid = rec.hash.hex()
            self._emit("t:" + uid, convert.tag_text(rec))
        else:  # Blob or a future record type: nothing upstream can hold
            uid = oid.hex()
        ids[oid] = uid

    def _tags(self) -> None:
        """The Tag records of exported entities (tags on executions, jobs, call nodes, values,
        tasks), then the delete markers and updates that supersede them: read from every
        TagSet named by a `tags/` ref (what keeps tags), so no index is needed."""
        if not self.ids or self.refs is None:
            return
        tags = {}  # tag oid -> Tag
        for _name, set_oid in self.refs.list("tags/"):
            tagset = fast_decode(self.store.get_bytes(set_oid))
            if not isinstance(tagset, TagSet):
                continue
            for oid in tagset.tags:
                if oid not in tags:
                    rec = fast_decode(self.store.get_bytes(oid))
                    if isinstance(rec, Tag):
                        tags[oid] = rec
        wanted = set(self.ids.values())
        for oid, rec in tags.items():
            if rec.entity_id in wanted and oid not in self.ids:
                self._walk(oid)
        # every tag exported so far (an execution's own tags included) may have been superseded
        done = {bytes.fromhex(key[2:]) for key in self.emitted if key.startswith("t:")}
        while done:  # the tags naming exported tags as parents (updates, delete markers)
            found = set()
            for oid, rec in tags.items():
                if oid not in self.ids and done.intersection(rec.parents):
                    self._walk(oid)
                    found.add(rec.hash)
            done = found


def export_lines(repo, write: Callable[[str], None], root_ids: Optional[list] = None,
                 on_error: Optional[Callable[[str, Exception], None]] = None) -> int:
    """Write upstream JSON lines for root_ids (all executions if none); returns the line count.
    on_error(what, error): skip and report each root that cannot be read (keep going)."""
    if root_ids:
        roots = [resolve_root(repo, r) for r in root_ids]
    else:
        roots = all_execution_roots(repo, on_error)
    skip = None if on_error is None else (lambda root, e: on_error(f"record {root.hex()}", e))
    return Exporter(repo, write).export(roots, skip)


__all__ = ["export_lines", "Exporter", "resolve_root", "all_execution_roots"]
