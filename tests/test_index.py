"""The index: catch-up, engine cache lookups, prefix resolution, rebuild."""

import os
import sqlite3
import subprocess
import sys

import pytest

from redun.index import open_index, rebuild_index
from redun.index.queries import prefix_range
from redun.objects import codec
from redun.objects.ids import uuid_str
from redun.objects.records import Job
from redun.repo.repository import Repo

from test_index_synth import T0, h20, make_task, make_value, write_execution


@pytest.fixture
def repo(tmp_repo_dir):
    r = Repo.open(tmp_repo_dir)
    yield r
    r.close()


def test_prefix_range_is_exact():
    lo, hi = prefix_range("ab")
    assert lo == b"\xab" and hi == b"\xac"
    lo, hi = prefix_range("abc")
    assert lo == b"\xab\xc0" and hi == b"\xab\xd0"
    assert prefix_range("ff")[1] is None
    assert prefix_range("0f") == (b"\x0f", b"\x10")


def test_catch_up_ingests_packs_once(repo):
    out = write_execution(repo.store, repo.refs, n_jobs=5)
    idx = open_index(repo)
    assert idx.counts()["jobs"] == 5
    assert idx.counts()["ingested_packs"] == 1
    assert idx.catch_up() == 0  # nothing new
    write_execution(repo.store, repo.refs, n_jobs=3, seed=1, start=T0 + 10**6)
    assert idx.catch_up() > 0
    assert idx.counts()["jobs"] == 8
    assert idx.counts()["executions"] == 2
    ex = idx.execution(out["exec_id"])
    assert ex["job_oid"] == out["root"][1]
    idx.close()


def test_find_eval_and_call_node(repo):
    out = write_execution(repo.store, repo.refs, n_jobs=3)
    idx = open_index(repo)
    job_id, job_oid = out["jobs"][0]
    job = repo.store.get(job_oid)
    assert idx.find_eval(job.eval_hash) == (job_oid, job.eval_value)
    assert idx.find_eval(h20("nope")) is None
    call = repo.store.get(job.call_node)
    assert idx.find_call_node(call.task_hash, call.args_hash) == job.call_node
    assert idx.find_call_node(call.task_hash, call.args_hash, out["exec_id"]) == job.call_node
    assert idx.find_call_node(call.task_hash, call.args_hash, b"\0" * 16) is None
    idx.close()


def test_find_eval_skips_failed_and_prefers_newest(repo):
    idx = open_index(repo)
    w = repo.store.pack_writer()
    t_oid, t = make_task(w, "t")
    v1, _ = make_value(w, 1)
    v2, _ = make_value(w, 2)
    eid = os.urandom(16)

    def job(end, status, value):
        rec = Job(id=os.urandom(16), execution_id=eid, parent_id=None, task_hash=t.hash, task=t_oid,
                  call_hash=None, call_node=None, eval_hash=h20("e"), eval_value=value, start_time=end - 5,
                  end_time=end, cached=False, status=status)
        data = codec.encode(rec)
        oid = w.add(data)
        idx.ingest(oid, rec)  # the engine ingests as it writes
        return oid

    old = job(T0 + 10, "DONE", v1)
    job(T0 + 30, "FAILED", v2)
    assert idx.find_eval(h20("e")) == (old, v1)  # buffered rows are visible to queries
    new = job(T0 + 20, "CACHED", v2)
    assert idx.find_eval(h20("e")) == (new, v2)
    name = w.commit()
    idx.note_pack(name)
    assert idx.catch_up() == 0
    idx.close()


def test_resolve_prefixes(repo):
    out = write_execution(repo.store, repo.refs, n_jobs=3)
    idx = open_index(repo)
    eid = out["exec_id"]
    hits = idx.resolve(eid.hex()[:8])
    assert ("execution", eid) in [(k, r["id"]) for k, r in hits if k == "execution"]
    hits = idx.resolve(uuid_str(eid))
    assert [k for k, _ in hits] == ["execution"]
    jid = out["jobs"][1][0]
    assert any(k == "job" and r["id"] == jid for k, r in idx.resolve(jid.hex()[:12]))
    call_hash = out["calls"][0][0]
    assert any(k == "call_node" and r["hash"] == call_hash for k, r in idx.resolve(call_hash.hex()[:10]))
    task = out["tasks"]["step"][1]
    assert [k for k, _ in idx.resolve("step")] == ["task"]
    assert any(k == "task" for k, _ in idx.resolve(task.hash.hex()[:9]))
    vh = out["values"][0][0]
    assert any(k == "value" and r["hash"] == vh for k, r in idx.resolve(vh.hex()))
    assert idx.resolve("zzz") == []
    assert idx.resolve(eid.hex().upper()) == []  # exact case (the full id: a short prefix may be all digits)
    assert idx.resolve("%") == [] and idx.resolve("_") == []  # no LIKE quirks
    idx.close()


def test_running_execution_seen_through_ref(repo):
    w = repo.store.pack_writer()
    out = write_execution(repo.store, repo.refs, n_jobs=3, writer=w, running=False)
    # the engine publishes the running record loose-free: via a tmp pack it is still writing
    idx = open_index(repo)  # picks up the live tmp pack's prefix
    assert idx.counts()["jobs"] == 3
    w.commit()
    idx.close()
    idx = open_index(repo)
    assert idx.counts()["jobs"] == 3
    assert idx.execution(out["exec_id"]) is not None
    idx.close()


def test_refs_and_loose_objects(repo):
    from redun.objects.records import Execution

    rec = Execution(id=os.urandom(16), args='["redun", "run", "x.py", "main"]', job=None, start_time=T0,
                    end_time=None, tags={})
    oid = repo.store.put(rec)  # loose
    repo.refs.set(f"execs/{uuid_str(rec.id)}", oid)
    idx = open_index(repo)
    ex = idx.execution(rec.id)
    assert ex["oid"] == oid and ex["job_oid"] is None
    assert idx.catch_up() == 0
    # the run ends: a final record replaces the running one
    done = Execution(id=rec.id, args=rec.args, job=None, start_time=T0, end_time=T0 + 5, tags={})
    oid2 = repo.store.put(done)
    repo.refs.set(f"execs/{uuid_str(rec.id)}", oid2, expected=oid)
    idx.catch_up()
    assert idx.execution(rec.id)["end_time"] == T0 + 5
    idx.close()


def test_corrupt_or_old_index_is_rebuilt(repo):
    write_execution(repo.store, repo.refs, n_jobs=4)
    open_index(repo).close()
    with open(repo.index_path, "wb") as f:
        f.write(b"garbage" * 100)
    idx = open_index(repo)
    assert idx.counts()["jobs"] == 4
    idx.close()
    conn = sqlite3.connect(repo.index_path)
    conn.execute("UPDATE meta SET value='0' WHERE key='schema_version'")
    conn.commit()
    conn.close()
    idx = open_index(repo)
    assert idx.counts()["jobs"] == 4
    idx.close()
    os.unlink(repo.index_path)
    idx = rebuild_index(repo)
    assert idx.counts()["jobs"] == 4
    idx.close()


def test_repo_index_property(repo):
    write_execution(repo.store, repo.refs, n_jobs=2)
    assert repo.index.counts()["jobs"] == 2


_WRITER = r"""
import sys
sys.path.insert(0, sys.argv[2])
from redun.repo.repository import Repo
from test_index_synth import write_execution, T0
repo = Repo.open(sys.argv[1])
for i in range(5):
    out = write_execution(repo.store, repo.refs, n_jobs=4, seed=i, start=T0 + i)
    repo.index.catch_up()
repo.close()
"""


@pytest.mark.slow
def test_concurrent_processes(repo):
    tests_dir = os.path.dirname(__file__)
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, repo.root, tests_dir]) for _ in range(4)]
    for _ in range(5):
        idx = open_index(repo)
        idx.executions()
        idx.close()
    assert all(p.wait(timeout=120) == 0 for p in procs)
    idx = open_index(repo)
    assert idx.counts()["executions"] == 20
    assert idx.counts()["jobs"] == 80
    idx.close()


def test_object_in_two_packs_is_indexed_once(repo):
    """A bulk load that meets an object twice (two packs hold it) still ends with unique rows."""
    out = write_execution(repo.store, repo.refs, n_jobs=3)
    job_oid = out["jobs"][0][1]
    data = repo.store.get_bytes(job_oid)
    call = repo.store.get_bytes(repo.store.get(job_oid).call_node)
    repo.store.write_pack([call, data])  # a second pack holding the same two objects
    idx = open_index(repo)
    assert idx.counts()["jobs"] == 3 and idx.counts()["call_nodes"] == 3
    assert idx.counts()["ingested_packs"] == 2
    # and once the unique indexes exist, re-ingesting is a no-op
    idx.ingest(job_oid, repo.store.get(job_oid))
    idx.commit()
    assert idx.counts()["jobs"] == 3
    idx.close()


def test_removed_pack_triggers_full_reingest(repo):
    """gc/repack delete packs: rows of objects that are gone must not survive."""
    a = write_execution(repo.store, repo.refs, n_jobs=3, seed=1)
    b = write_execution(repo.store, repo.refs, n_jobs=4, seed=2, start=T0 + 10**6)
    idx = open_index(repo)
    assert idx.counts()["jobs"] == 7
    for ext in ("pack", "idx"):  # what gc does to a pack whose objects all became unreachable
        os.unlink(os.path.join(repo.store.packs_dir, f"pack-{a['pack']}.{ext}"))
    repo.refs.delete(f"execs/{uuid_str(a['exec_id'])}")
    idx.catch_up()
    assert idx.counts()["jobs"] == 4 and idx.counts()["ingested_packs"] == 1
    assert idx.job(a["jobs"][0][0]) is None and idx.job(b["jobs"][0][0]) is not None
    assert idx.find_eval(repo.store.get(b["jobs"][0][1]).eval_hash) is not None
    idx.close()


def test_loose_objects_packed_or_deleted(repo):
    from redun.objects.records import Execution

    rec = Execution(id=os.urandom(16), args='["redun", "run", "x.py", "main"]', job=None, start_time=T0,
                    end_time=T0 + 1, tags={})
    oid = repo.store.put(rec)  # loose
    idx = open_index(repo)
    assert idx.execution(rec.id) is not None
    repo.store.pack_loose()  # moved into a pack: still indexed, nothing re-ingested from scratch
    assert idx.catch_up() == 1  # the new pack's one object
    assert idx.execution(rec.id) is not None
    # an object that vanishes altogether (gc) takes its rows with it
    oid2 = repo.store.put(Execution(id=os.urandom(16), args="[]", job=None, start_time=T0, end_time=T0, tags={}))
    idx.catch_up()
    h = oid2.hex()
    os.unlink(os.path.join(repo.store.objects_dir, h[:2], h[2:]))
    idx.catch_up()
    assert idx.counts()["executions"] == 1 and idx.execution(rec.id) is not None
    idx.close()


def test_pack_hints_point_at_the_pack_holding_the_record(repo):
    a = write_execution(repo.store, repo.refs, n_jobs=3)
    b = write_execution(repo.store, repo.refs, n_jobs=3, seed=1, start=T0 + 10**6)
    idx = open_index(repo)
    packs = set(repo.store.pack_names())
    assert len(packs) == 2
    call_a, call_b = a["calls"][0][1], b["calls"][0][1]
    hint_a, hint_b = idx.pack_hint(call_a), idx.pack_hint(call_b)
    assert {hint_a, hint_b} == packs
    assert idx.pack_hint(b"\x00" * 32) is None
    # a cold store opens only the hinted pack; a wrong hint still finds the record
    from redun.objects.directory import DirectoryStore

    cold = DirectoryStore(repo.store.root)
    assert cold.get_from(call_a, hint_a) == repo.store.get(call_a)
    assert sum(p._index is not None for p in cold._packs.values()) == 1
    assert cold.get_from(call_b, hint_a) == repo.store.get(call_b)
    assert cold.get_from(call_b, "no-such-pack") == repo.store.get(call_b)
    cold.close()
    idx.close()


def test_unchanged_directories_skip_the_scan_but_new_packs_are_seen(repo):
    write_execution(repo.store, repo.refs, n_jobs=3)
    old = os.stat(repo.store.packs_dir).st_mtime_ns - 10 * 10**9
    for d in (repo.store.packs_dir, repo.store.objects_dir):
        os.utime(d, ns=(old, old))
    idx = open_index(repo)
    assert idx._read("SELECT value FROM meta WHERE key='objects_stamp'")  # quiet and old: stamped
    assert idx.catch_up() == 0
    write_execution(repo.store, repo.refs, n_jobs=2, seed=1, start=T0 + 10**6)  # moves packs/ mtime
    assert idx.catch_up() > 0
    assert idx.counts()["jobs"] == 5
    idx.close()


def test_rebuild_replaces_the_file_and_keeps_answers(repo):
    out = write_execution(repo.store, repo.refs, n_jobs=4)
    idx = open_index(repo)
    before = idx.counts()
    idx.close()
    idx = rebuild_index(repo)
    assert idx.counts() == before
    assert idx.execution(out["exec_id"]) is not None
    assert not [e for e in os.listdir(repo.root) if ".rebuild-" in e]
    assert idx.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    idx.close()


@pytest.mark.slow
def test_parallel_rebuild_equals_serial_catch_up(repo, monkeypatch):
    from redun.index import bulk

    started = []
    real_start = bulk.start
    monkeypatch.setattr(bulk, "start", lambda *a: started.append(a) or real_start(*a))
    shared = None
    for seed in range(bulk.MIN_PACKS + 2):
        w = repo.store.pack_writer()
        dup = make_value(w, "shared input")  # the same Value in every pack: dedupe across helper/main
        shared = dup[0]
        write_execution(repo.store, repo.refs, n_jobs=3, seed=seed, start=T0 + seed * 10**6, writer=w)
        w.commit()
    idx = open_index(repo)  # serial catch-up (not bulk)
    serial = idx.counts()
    rows = sorted(r["oid"] for r in idx.select("value"))
    idx.close()
    idx = rebuild_index(repo)  # bulk, with a helper process for half the packs
    assert len(started) == 1 and len(started[0][1]) >= bulk.MIN_PACKS // 2
    assert idx.counts() == serial
    assert sorted(r["oid"] for r in idx.select("value")) == rows
    assert len([r for r in idx.select("value", "oid=?", (shared,))]) == 1
    assert idx.pack_hint(shared) in repo.store.pack_names()
    idx.ingest(shared, repo.store.get(shared))  # re-ingesting is still harmless
    assert idx.count("value", "oid=?", (shared,)) == 1
    idx.close()
