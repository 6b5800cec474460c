"""Turns a run's finished jobs into records, and answers the scheduler's cache lookups.

One PackWriter per run (docs/design.md): every record goes to it children
first, whole jobs at a time (WRITE_JOBS per write(), and whatever is buffered
whenever the scheduler is about to wait), so a kill -9 leaves a valid prefix
that `store.recover()` salvages on the next run (finished jobs are never lost).
Index rows are built as records are made and handed to the index in one
batch when the run ends, never per job; in a large run a helper process
(index/follow.py) writes them on the other core as the run goes instead.

Without a repository (the Python API with no config) records go to a
MemoryStore and lookups use small in-memory tables, like upstream's
in-memory sqlite default.
"""

import json
import os
import pickle
import time

from msgpack import unpackb as _unpackb
from typing import Any, Optional

from ..errors import UntrustedValueError
from ..hashing import pickle_dumps
from .clock import now_us
from ..objects import codec
from ..objects.compress import compress_many
from ..objects.ids import object_id, value_hash_bytes
from ..objects.records import Arg, CallNode, Evaluation, Execution, Job, Tag, TagSet, Task, Value
from ..objects.hotcodec import FAST_ENCODERS as _FAST
from ..objects.valuecodec import decode_native, encode_native, type_name
from ..index.rows import RowBuffer
from .recvalues import ValueInfo, _file_values, _hydrate, _MemoryIndex
from ..value import NOT_CUSTOM as _NOT_CUSTOM
from ..value import custom_deserialize, custom_serializer

INGEST_BATCH = 100_000  # records held for the index; normally one transaction at the end of the run
# Records after which the index rows are left to a follower process. Starting one costs about
# twice what writing 2000 records' rows here does (docs/engine.md), but it runs on the other
# core, and a run this large usually goes on long enough for the follower to catch up meanwhile.
FOLLOW_AFTER = 2000
FOLLOW_EXPECTED = 500  # jobs announced at once (expect_jobs) that start the follower early
SEND_RECORDS = 1000  # rows per message to the follower
# When the run waits for its workers, rows held longer than this go to the follower anyway, so a
# slow or stalled workflow's finished jobs reach the index (and other processes' `redun log`).
SEND_IDLE_AFTER = 0.1
# Finished jobs per pack write(). 1 keeps every finished job on kill -9; batching 64 jobs
# per write was measured and saved nothing measurable (the record bytes are hashed once
# and compressed in one call per write either way).
WRITE_JOBS = 1
WRITE_BYTES = 1 << 20


_PLAIN_TYPES = frozenset((dict, list, tuple, str, int, float, bool, bytes, type(None), set, frozenset))
_PLAIN_TYPE_NAMES: dict = {}


class Recorder:
    """Writes records for one run and reads cached values back."""

    def __init__(self, repo=None, store=None, record: bool = True):
        self.repo = repo
        self.record = record
        self.pending: list = []  # (oid, record) for the in-memory index (no repository)
        # index rows not yet handed on (a PostgreSQL repository's store writes them itself)
        self.rows = RowBuffer() if repo is not None and not getattr(repo, "indexes_on_write", False) else None
        self._value_oids: dict = {}  # value_hash (hex) -> oid
        self._tags: dict = {}  # tag hash (hex) -> Tag record oid, made in this run
        self._tag_values: dict = {}  # Value oids the run's tags name (insertion-ordered set)
        self._hash_bytes: dict = {}  # value hash text that is not hex -> its 20 bytes (ids.value_hash_bytes)
        self._task_oids: dict = {}  # task hash -> oid
        self._index = None
        self.follower = None  # index/follow.py helper, once started
        self._sent_at = 0.0  # when rows last went to the follower (time.monotonic)
        self.follow_result = None  # True/False once a follower finished (ingested everything or not)
        self._may_follow = os.environ.get("REDUN_INDEX_FOLLOWER", "1") != "0" and self.rows is not None
        self._eval_cache: dict = {}  # eval_hash -> value set by scheduler tasks (catch), this run's
        self.state_records: list = []  # Evaluation/Handle records of this run: the Execution links them
        self._buf: list = []  # (oid, canonical bytes) not yet written
        self._live = None  # the store's hold on this run while it runs (start_execution)
        self._buf_jobs = 0
        self._buf_size = 0
        if repo is not None:
            repo.store.recover()
            self.store = repo.store
            self.writer = repo.store.pack_writer() if record else None
            from ..repo.valuestore import ValueStore  # [backend] value_store_min_size / _path

            self.values = ValueStore.for_repo(repo)
            self.min_size = self.values.min_size
        else:
            from ..objects.memory import MemoryStore

            self.store = store or MemoryStore()
            self.writer = None
            self.min_size = None
            self._index = _MemoryIndex()

    # -- index ---------------------------------------------------------------
    @property
    def index(self):
        if self._index is None:
            self._index = self.repo.index
        return self._index

    def flush_index(self) -> None:
        """Hand buffered rows to the index in one transaction (called every INGEST_BATCH
        records and at the end; bookkeeping stays on the scheduler's thread)."""
        if self.pending:
            pairs, self.pending = self.pending, []
            self.index.ingest_many(pairs)
            self.index.commit()
        if self.rows is not None and len(self.rows):
            rows, self.rows = self.rows, RowBuffer()
            self.index.ingest_rows(rows)
            self.index.commit()

    # -- writing ---------------------------------------------------------------
    def put(self, record) -> bytes:
        fast = _FAST.get(type(record))
        data = fast(record) if fast is not None else codec.encode(record)
        oid = object_id(data)  # hashed once: the pack writer gets (oid, stored) pairs
        if self.writer is not None:
            self._buf.append((oid, data))  # written with a later Job record (see job())
            self._buf_size += len(data)
        elif self.record:
            self.store.put_bytes(data)
        if self.record:
            rows = self.rows
            if rows is None:
                if self.repo is None:
                    self.pending.append((oid, record))
                    self.flush_index()
            else:
                rows.add(oid, record)
                if self.follower is None:
                    if rows.count >= FOLLOW_AFTER and self._may_follow and self.writer is not None:
                        self._start_follower()
                    elif rows.count >= INGEST_BATCH:
                        self.flush_index()
        return oid

    def expect_jobs(self, n: int) -> None:
        """The scheduler is about to look up (then run) n jobs: a run this large starts the
        follower now, so it is ready when their records come."""
        if n >= FOLLOW_EXPECTED and self._may_follow and self.writer is not None and self.record:
            self._start_follower()

    def _start_follower(self) -> None:
        """Leave this run's index rows to a helper process (the rows held so far go to it
        with the next send). If it cannot start, the rows are written here at the end."""
        from ..index.follow import Follower

        self._may_follow = False
        self.index  # the follower opens the same file: make sure it exists
        self.follower = Follower.start(self.repo.index_path, self.writer.tmp_path)

    def _send_rows(self) -> None:
        """Hand the rows of every record written so far to the follower (call with the
        write buffer empty, so that the pack offset covers them)."""
        rows = self.rows
        if len(rows):
            self.follower.send(self.writer.offset, rows.parts(), rows.count)
            self.rows = RowBuffer()
        self._sent_at = time.monotonic()

    def _finish_follower(self, pack_name) -> bool:
        """Wait for the follower; whether every row is in the index."""
        follower, self.follower = self.follower, None
        self.follow_result = follower.finish(pack_name)
        return self.follow_result

    def value_oid(self, obj: Any, value_hash: str, pickled: Optional[bytes] = None) -> bytes:
        """Record obj (hash already computed; pickled: its pickle_dumps, if known) once per run."""
        oid = self._value_oids.get(value_hash)
        if oid is not None:
            return oid
        vh = value_hash_bytes(value_hash)
        hash_text = None if len(value_hash) == 40 and vh.hex() == value_hash else value_hash
        t = type(obj)
        data = encode_native(obj)
        fmt = "native"
        tname = None
        if data is None:
            custom = custom_serializer(t)
            if custom is None:
                data = pickled if pickled is not None else pickle_dumps(obj)
                fmt = "pickle"
            else:  # a user's Value/ProxyValue serializing its own way, as upstream stores it
                data, fmt, tname = custom(obj)
        subs = []
        if (t is list or t is tuple or t is dict or t is set or t is frozenset) and b"redun" in data:
            nested: list = []
            _file_values(obj, nested)
            if nested:
                from ..hashing import hash_value

                seen = set()
                for v in nested:
                    o = self.value_oid(v, hash_value(v))
                    if o not in seen:
                        seen.add(o)
                        subs.append(o)
        path = None
        triple = getattr(obj, "__redun_file__", None) if t not in (str, int, float, list, dict, tuple) else None
        if isinstance(triple, tuple) and len(triple) == 3:
            path = triple[1]
        if tname is None:
            tname = _PLAIN_TYPE_NAMES.get(t)
        if tname is None:
            tname = type_name(obj)
            if t in _PLAIN_TYPES:
                _PLAIN_TYPE_NAMES[t] = tname  # depends on the class only
        if self.min_size is not None and len(data) >= self.min_size and self.writer is not None:
            from ..objects.blobs import native_spans, put_payload

            blobs = put_payload(self.values.target(self.writer), data,
                                spans=native_spans(data) if fmt == "native" else ())
            rec = Value(vh, tname, fmt, b"", tuple(blobs), len(data), tuple(sorted(subs)), path, hash_text)
        else:
            rec = Value(vh, tname, fmt, data, (), len(data), tuple(sorted(subs)), path, hash_text)
        oid = self.put(rec)
        self._value_oids[value_hash] = oid
        if hash_text is not None:
            self._hash_bytes[value_hash] = vh
        return oid

    def task_oid(self, task) -> bytes:
        oid = self._task_oids.get(task.hash)
        if oid is None:
            oid = self.put(Task(bytes.fromhex(task.hash), task.namespace, task.name, task.source or ""))
            self._task_oids[task.hash] = oid
        return oid

    def call_node(self, call_hash: str, task, task_oid: bytes, args_hash: str, args: list,
                  value_hash: str, value_oid: bytes, children: tuple) -> bytes:
        return self.put(CallNode(
            bytes.fromhex(call_hash), bytes.fromhex(task.hash), task_oid, task.fullname,
            bytes.fromhex(args_hash), tuple(args), self.hash_bytes(value_hash), value_oid,
            children, now_us(),
        ))

    def hash_bytes(self, value_hash: str) -> bytes:
        """The 20 bytes records hold for a value hash (non-hex ones were met by value_oid)."""
        raw = self._hash_bytes.get(value_hash)
        return raw if raw is not None else bytes.fromhex(value_hash)

    def arg(self, position, key, value_hash: str, value_oid: bytes, upstream: tuple) -> Arg:
        raw = self._hash_bytes.get(value_hash)
        return Arg(position, key, raw if raw is not None else bytes.fromhex(value_hash), value_oid,
                   tuple([bytes.fromhex(h) for h in upstream]) if upstream else ())

    def job(self, rec: Job) -> bytes:
        """Write a finished job's record after every record it points to (children first),
        in one write() with them (WRITE_JOBS jobs per write): a kill -9 keeps whole jobs."""
        oid = self.put(rec)
        self._buf_jobs += 1
        if self._buf_jobs >= WRITE_JOBS or self._buf_size >= WRITE_BYTES:
            self.flush_writes()
        return oid

    def flush_writes(self) -> None:
        """Write buffered records (whole jobs only) in one write()."""
        if self._buf and self.writer is not None:
            buf, self._buf = self._buf, []
            small = self._buf_size < WRITE_BYTES
            self._buf_jobs = self._buf_size = 0
            oids, datas = zip(*buf)
            if small:
                self.writer.append_stored(oids, compress_many(datas))
            else:
                self.writer.add_stored_many(zip(oids, compress_many(datas)))
            if self.follower is not None and self.rows.count >= SEND_RECORDS:
                self._send_rows()

    def before_wait(self) -> bool:
        """The run is about to wait for its workers: write what is buffered, and hand the
        follower rows it has held for a while. True if rows are still held back (then the
        caller waits a little and calls again)."""
        self.flush_writes()
        if self.follower is None or not len(self.rows):
            return False
        if time.monotonic() - self._sent_at >= SEND_IDLE_AFTER:
            self._send_rows()
            return False
        return True

    # -- tags -------------------------------------------------------------------
    def tag(self, entity_type: str, entity_id: str, key: str, value, value_oid: Optional[bytes] = None) -> None:
        """Record a tag made during the run (once per tag hash); value_oid: a Value the tag
        names (a tagged value, a context), kept with the run's TagSet."""
        from ..hashing import hash_tag, json_dumps

        h = hash_tag(entity_id, key, value, [])
        if h not in self._tags:
            self._tags[h] = self.put(Tag(bytes.fromhex(h), entity_type, entity_id, key, json_dumps(value), ()))
        if value_oid is not None:
            self._tag_values[value_oid] = None

    def _put_tagset(self) -> Optional[bytes]:
        if not self._tags:
            return None
        return self.put(TagSet(tuple(self._tags.values()), tuple(self._tag_values)))

    # -- evaluation cache entries of scheduler tasks (catch) ------------------------
    def set_eval_cache(self, eval_hash: str, task_hash: str, args_hash: str, value: Any) -> None:
        """Record an Evaluation: value as the cached result of eval_hash (linked from the
        execution's final record, and visible to this run at once)."""
        if not self.record:
            return
        from ..hashing import hash_value

        self._eval_cache[eval_hash] = value
        voi = self.value_oid(value, hash_value(value))
        self.state_records.append(self.put(Evaluation(
            bytes.fromhex(eval_hash), bytes.fromhex(task_hash), bytes.fromhex(args_hash), voi, now_us())))

    def get_eval_cache(self, eval_hash: str) -> tuple:
        """(True, value) of the newest Evaluation of eval_hash, else (False, None)."""
        if eval_hash in self._eval_cache:
            return True, self._eval_cache[eval_hash]
        find = getattr(self.index, "find_evaluation", None)
        try:
            oid = find(bytes.fromhex(eval_hash)) if find is not None else None
            if oid is None:
                return False, None
            return True, self.load_value(oid)[0]
        except Exception:  # unreadable entry (e.g. another process's unfinished pack): a miss
            return False, None

    # -- executions --------------------------------------------------------------
    def start_execution(self, exec_id: bytes, argv: list, tags: list, start: int) -> Optional[bytes]:
        """The preliminary Execution record. tags: (key, value) pairs; a key given once lives
        in Execution.tags, a key given several times becomes Tag records (one per value)."""
        if self.repo is None or not self.record:
            return None
        from ..objects.ids import uuid_str

        keys = [k for k, _ in tags]
        folded = {k: json.dumps(v) for k, v in tags if keys.count(k) == 1}
        for k, v in tags:
            if keys.count(k) > 1:
                self.tag("Execution", uuid_str(exec_id), k, v)
        rec = Execution(exec_id, json.dumps(argv), None, start, None, folded)
        # before the first write: gc keeps what the run writes while it is held
        self._live = self.repo.store.hold_live_run(exec_id)
        oid = self.repo.store.put(rec)  # loose: visible to other processes while we run
        self.ref = f"execs/{uuid_str(exec_id)}"
        self.repo.refs.set(self.ref, oid, expected=None)
        self._prelim = (oid, rec)
        return oid

    def finish_execution(self, root_job: Optional[bytes], end: int) -> None:
        if self.repo is None or not self.record:
            return
        oid0, rec0 = self._prelim
        tagset = self._put_tagset()
        final = Execution(rec0.id, rec0.args, root_job, rec0.start_time, end, rec0.tags, tuple(self.state_records))
        oid = self.put(final)
        name = self._commit_pack()
        if tagset is not None:  # before the execution's ref: whoever sees the run sees its tags
            self.repo.refs.set(f"tags/{self.ref[len('execs/'):]}", tagset, expected=None)
        self.repo.refs.set(self.ref, oid, expected=oid0)
        self._index_pack(name, (oid0, rec0))

    def end_live_run(self) -> None:
        """Release the store's hold on this run (start_execution), when the run has ended
        (Scheduler.run): its final ref then links everything it wrote, or, when it stopped
        without one, its jobs stay roots of gc while its preliminary ref lasts."""
        live, self._live = self._live, None
        if live is not None:
            live.release()

    def finish_extension(self) -> None:
        """End a run that extends another process's execution (a subrun): commit the pack and
        index it; no Execution record or ref (the extended execution's records list these jobs)."""
        if self.repo is None or not self.record:
            return
        self._index_pack(self._commit_pack(), None)

    def _index_pack(self, name: Optional[str], prelim) -> None:
        if self.rows is None:  # the store indexed every record as it wrote it (PostgreSQL)
            return
        index = self.index
        if self.follower is not None:
            if not self._finish_follower(name):
                index.catch_up()
        else:
            rows, self.rows = self.rows, RowBuffer()
            index.ingest_rows(rows)
        if prelim is not None:
            index.ingest(*prelim)
        if name and self.follower is None:
            index.note_pack(name)
        index.commit()

    def _commit_pack(self) -> Optional[str]:
        """Write what is buffered, hand the follower its last rows, commit the pack."""
        self.flush_writes()
        if self.follower is not None:
            self._send_rows()
        name = self.writer.commit()
        self.writer = None
        return name

    def abort(self) -> None:
        """Leave what was written in a committed pack (used on interrupt)."""
        if self.writer is not None:
            name = self._commit_pack()
            if self.follower is not None:
                self._finish_follower(name)

    # -- reading ------------------------------------------------------------------
    def get(self, oid: bytes):
        return self.store.get(oid)

    def load_value(self, oid: bytes) -> tuple:
        """(python object, ValueInfo(hash, type, format)) for a recorded value."""
        raw = _unpackb(self.store.get_bytes(oid), raw=False)
        if not (isinstance(raw, list) and len(raw) == 3 and raw[0] == "value"):
            raise ValueError(f"object {oid.hex()} is not a Value record")
        f = raw[2]
        rec = ValueInfo(f["hash"], f["type"], f["format"], f.get("hash_text"))
        if f["blobs"]:
            from ..repo.valuestore import ValueStore

            values = self.values if self.repo is not None else ValueStore(self.store)  # in memory: no value store
            data = values.read(Value.from_fields(f))
        else:
            data = f["data"]
        if rec.format == "native":
            obj = decode_native(data)
            if b"redun." in data:
                obj = _hydrate(obj)
        else:
            why = self.repo.trust.why_not(oid) if self.repo is not None else None
            if why is not None:  # never unpickle (or hand to a custom deserializer) bytes from elsewhere
                raise UntrustedValueError(why)
            obj = custom_deserialize(rec.type, data)
            if obj is _NOT_CUSTOM:
                obj = pickle.loads(data)
        return obj, rec

    def job_fields(self, oid: bytes) -> dict:
        """A Job record's fields without building the record (hot path of cached reruns;
        the bytes are verified against the oid by the store)."""
        return _unpackb(self.store.get_bytes(oid), raw=False)[2]

    def has(self, oid: bytes) -> bool:
        return self.store.has(oid)

    def close(self) -> None:
        if self.writer is not None:
            name = self._commit_pack()
            if self.follower is not None:
                self._finish_follower(name)
        if self.repo is not None:
            self.flush_index()
