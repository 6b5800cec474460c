"""The record schema: one description of each record's fields, and everything built from it.

The main test adds fields to Job the way a developer would (one Field each, a SCHEMA bump)
and checks that links, the hot encoder, the decoders and every walker over encoded bytes
(gc's marking, sync's link walk, the index's catch-up) pick them up with no other code,
while records written before the bump still decode to the same object ids.
"""

import os
import sqlite3

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gcfixtures import age_everything, exec_ref, h20
from test_codec import records
from redun.errors import DecodeError
from redun.index import open_index
from redun.index.rows import TABLES, RowBuffer
from redun.index.schema import statements
from redun.maint.gc import collect
from redun.maint.packio import links_of_canonical
from redun.objects import codec
from redun.objects.blobs import BLOB_HEAD, blob_canonical
from redun.objects.directory import DirectoryStore
from redun.objects.fsck import fsck
from redun.objects.ids import object_id
from redun.objects.records import RECORD_TYPES, Blob, CallNode, Execution, Job, Record, Task, Value
from redun.objects.schema import Field, make_encoder, record
from redun.repo.remotes import repo_remote
from redun.repo.repository import Repo
from redun.sync.transfer import fast_links, sync


@record
class JobV2(Record):
    """Job as it would be after adding two fields in schema version 2."""

    TYPE = "job"
    SCHEMA = 2
    FIELDS = Job.FIELDS + (
        Field("log", "oid?", None, since=2),  # a new link: the job's captured output
        Field("attempts", "int", 1, since=2),
    )


def _job(cls=Job, **extra):
    return cls(os.urandom(16), os.urandom(16), None, h20("t"), os.urandom(32), h20("c"), os.urandom(32), None, None,
               1, 2, False, "DONE", (os.urandom(32),), {"k": "v"}, **extra)


def _reference(rec, schema=None):
    """The canonical bytes by the plain definition: sorted map of the generic field walk."""
    return msgpack.packb([rec.TYPE, schema or rec.SCHEMA, codec._sorted(rec.to_fields(schema or rec.SCHEMA))],
                         use_bin_type=True, use_single_float=False, strict_types=True)


@pytest.fixture
def job_v2(monkeypatch):
    monkeypatch.setitem(RECORD_TYPES, "job", JobV2)
    return JobV2


def test_a_new_field_reaches_links_encoders_and_decoders(job_v2):
    log = os.urandom(32)
    rec = _job(JobV2, log=log, attempts=3)
    assert log in rec.links() and log in rec.link_groups()[0]
    data = codec.encode(rec)
    assert data == _reference(rec) and msgpack.unpackb(data)[1] == 2
    hot = make_encoder(JobV2, msgpack.Packer(use_bin_type=True, strict_types=True).pack)
    assert hot(rec) == data
    assert codec.decode(data, strict=True) == rec
    assert codec.decode_trusted(data) == rec
    follow, leaves = codec.links_of_encoded(data)
    assert sorted(follow + leaves) == sorted(rec.links())
    assert sorted(fast_links(data)) == sorted(rec.links())  # sync's walk
    assert log in links_of_canonical(data, "test")[0]  # gc's walk


def test_records_written_before_the_bump_keep_their_bytes_and_ids(job_v2):
    old = _job(Job)
    data = codec.encode(old)
    assert msgpack.unpackb(data)[1] == 1
    back = codec.decode(data, strict=True)  # strict: re-encodes in version 1 to the same bytes
    assert type(back) is JobV2 and (back.log, back.attempts) == (None, 1)
    assert codec.encode(back, 1) == data and object_id(codec.encode(back, 1)) == object_id(data)
    assert codec.decode_trusted(data) == back
    assert codec.links_of_encoded(data)[0] == list(old.links())
    one, two = RowBuffer(), RowBuffer()
    one.add_canonical(b"o" * 32, data)
    two.add(b"o" * 32, back)
    assert one.rows == two.rows and one.rows["jobs"]
    # a version-1 record cannot carry a field added in version 2
    tag, _, fields = msgpack.unpackb(data)
    fields["log"] = None
    with pytest.raises(DecodeError, match="unknown fields"):
        codec.decode(msgpack.packb([tag, 1, fields], use_bin_type=True))
    with pytest.raises(DecodeError, match="schema version 3"):
        codec.decode(msgpack.packb([tag, 3, fields], use_bin_type=True))


def test_gc_sync_fsck_and_index_follow_the_new_link(job_v2, tmp_path):
    a = Repo.init(str(tmp_path / "a"))
    with a.store.pack_writer() as w:
        task = w.add(codec.encode(Task(h20("t"), "", "t", "src")))
        value = w.add(codec.encode(Value(h20("v"), "str", "native", b"result")))
        log = w.add(codec.encode(Value(h20("l"), "str", "native", b"only linked by the new field")))
        gone = w.add(codec.encode(Value(h20("g"), "str", "native", b"linked by nothing")))
        call = w.add(codec.encode(CallNode(h20("c"), h20("t"), task, "t", h20("a"), (), h20("v"), value, (), 1)))
        jid, eid = os.urandom(16), os.urandom(16)
        job = w.add(codec.encode(JobV2(jid, eid, None, h20("t"), task, h20("c"), call, None, None, 1, 2, False,
                                       "DONE", log=log)))
        exe = w.add(codec.encode(Execution(eid, "[]", job, 1, 2)))
    a.refs.set(exec_ref(eid), exe)
    age_everything(a.root)
    report = collect(a.store, a.refs)
    store = DirectoryStore(a.root)
    assert store.has(log) and not store.has(gone) and report.garbage == 1
    assert fsck(store, a.refs).ok
    for trusted in (True, False):
        b = Repo.init(str(tmp_path / f"b{trusted}"))
        sync(repo_remote(a), repo_remote(b), trusted=trusted)
        assert DirectoryStore(b.root).has(log)
        b.close()
    index = open_index(Repo.open(a.root))
    assert index._read("SELECT count(*) FROM jobs WHERE id=?", (jid,)) == [(1,)]
    index.close()
    a.close()


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(records)
def test_every_generated_reader_agrees_with_the_record(rec):
    """The walkers, the trusted decoder and both row builders against the plain record."""
    data = codec.encode(rec)
    follow, leaves = rec.link_groups()
    assert codec.links_of_encoded(data) == (list(follow), list(leaves))
    assert sorted(follow + leaves) == sorted(rec.links())
    assert codec.decode_trusted(data) == rec
    one, two = RowBuffer(), RowBuffer()
    one.add(b"o" * 32, rec)
    two.add_canonical(b"o" * 32, data)
    assert one.rows == two.rows and one.count == two.count


@settings(max_examples=300)
@given(records, st.data())
def test_walking_mutated_encodings_raises_decode_error_only(rec, data):
    enc = bytearray(codec.encode(rec))
    for _ in range(data.draw(st.integers(1, 4))):
        enc[data.draw(st.integers(0, len(enc) - 1))] = data.draw(st.integers(0, 255))
    try:
        codec.links_of_encoded(bytes(enc))
    except DecodeError:
        pass
    assert fast_links(bytes(enc)) is None or isinstance(fast_links(bytes(enc)), list)


def test_index_tables_store_exactly_the_indexed_fields():
    for tag, cls in RECORD_TYPES.items():
        used = set().union(*(t.fields() for t in TABLES if t.record == tag))
        indexed = {f.name for f in cls.FIELDS if f.indexed}
        assert used == indexed, f"{tag}: index/rows.py TABLES read {sorted(used)}, FIELDS flag {sorted(indexed)}"


def test_index_tables_match_the_sqlite_schema():
    conn = sqlite3.connect(":memory:")
    for stmt in statements()[0]:
        conn.execute(stmt)
    for t in TABLES:
        cols = {r[1]: r for r in conn.execute(f"PRAGMA table_info({t.name})")}
        assert set(t.column_names) <= set(cols), t.name
        for name, (_, _, _, notnull, default, pk) in cols.items():
            if name not in t.column_names:
                assert not notnull and default is None, f"{t.name}.{name} is filled by no row source"


def test_blob_head_is_the_codec_envelope():
    assert codec.encode(Blob(b"abc")).startswith(BLOB_HEAD) and blob_canonical(b"abc") == codec.encode(Blob(b"abc"))
    assert codec.peek_tag(BLOB_HEAD) == "blob"


def test_field_declarations_are_checked():
    with pytest.raises(TypeError, match="needs a default"):
        @record
        class NoDefault(Record):
            TYPE, SCHEMA = "x", 2
            FIELDS = (Field("a", "int"), Field("b", "int", since=2))
    with pytest.raises(TypeError, match="unknown kind"):
        Field("a", "float")
    with pytest.raises(TypeError, match="leaf_links"):
        Field("a", "int", leaf_links=True)


@pytest.mark.slow  # a fresh interpreter: the row builders are generated once per process
def test_row_builders_are_generated_once_even_through_a_bound_stub():
    import subprocess
    import sys

    script = (
        "from redun.index import rowgen, rows\n"
        "from redun.objects import codec\n"
        "from redun.objects.records import Task\n"
        "n = []\n"
        "real = rowgen._Builder.compile\n"
        "rowgen._Builder.compile = lambda self, *a: n.append(1) or real(self, *a)\n"
        "buf = rows.RowBuffer()\n"
        "add = buf.add_canonical  # bound before the first call: the stub\n"
        "for i in range(50):\n"
        "    oid, data = codec.encode_with_id(Task(bytes([i]) * 20, 'ns', 't', 'src'))\n"
        "    add(oid, data)\n"
        "    first = first if i else len(n)\n"
        "print(first, len(n), buf.count, len(buf.rows['tasks']))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    first, compiled, count, tasks = map(int, out.split())
    assert first == compiled and (count, tasks) == (50, 50)  # nothing generated again after the first call
