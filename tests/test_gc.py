"""gc: mark from refs, grace period, dry run, keep, live runs, pack rewrite."""

import os
import subprocess
import sys
import uuid

import pytest

from gcfixtures import age_everything, exec_ref, write_execution
from redun.errors import GcError
from redun.maint.gc import collect
from redun.objects import blobs
from redun.objects.directory import DirectoryStore
from redun.objects.fsck import fsck
from redun.objects.records import Value
from redun.refs import DirectoryRefs
from redun.repo.repository import Repo


@pytest.fixture
def repo(tmp_repo_dir):
    r = Repo.open(tmp_repo_dir)
    yield r
    r.close()


def _two_runs(repo, payload=b""):
    with repo.store.pack_writer() as w:
        live = write_execution(w, "live", payload)
        dead = write_execution(w, "dead", payload[::-1])
    repo.refs.set(exec_ref(live["exec_id"]), live["exec"])
    return live, dead


def _fresh(repo):
    return DirectoryStore(repo.root)


def test_unreachable_old_objects_go_reachable_stay(repo):
    live, dead = _two_runs(repo, os.urandom(9000))
    age_everything(repo.root)
    report = collect(repo.store, repo.refs)
    assert report.garbage == len(set(dead["all"]))
    assert report.packs_rewritten == 1
    store = _fresh(repo)
    for oid in live["all"]:
        assert store.has(oid)
    for oid in dead["all"]:
        assert not store.has(oid)
    v = store.get(live["value"])
    assert len(blobs.read_payload(store, v)) == 9000
    assert fsck(store, repo.refs).ok
    again = collect(store, repo.refs)
    assert again.garbage == 0


def test_grace_period_keeps_young_garbage(repo):
    live, dead = _two_runs(repo)
    report = collect(repo.store, repo.refs)  # everything is seconds old
    assert report.garbage == 0
    assert _fresh(repo).has(dead["job"])
    report = collect(repo.store, repo.refs, grace_days=0)
    assert report.garbage == 5 and not _fresh(repo).has(dead["job"])


def test_dry_run_lists_and_deletes_nothing(repo):
    live, dead = _two_runs(repo)
    age_everything(repo.root)
    seen = []
    report = collect(repo.store, repo.refs, dry_run=True, on_garbage=lambda o, t, n: seen.append((o, t)))
    assert sorted(seen) == sorted((o, repo.store.get(o).TYPE) for o in dead["all"])
    assert report.garbage == 5 and "would remove 5" in report.summary()
    assert all(_fresh(repo).has(o) for o in dead["all"])


def test_whole_pack_removed_and_loose_swept(repo):
    live, _ = _two_runs(repo)
    with repo.store.pack_writer() as w:
        orphan = write_execution(w, "orphan")
    loose = repo.store.put(Value(b"\x01" * 20, "str", "native", b"loose garbage"))
    kept = repo.store.put(Value(b"\x04" * 20, "str", "native", b"loose and live"))
    repo.refs.set("remotes/x/keep", kept)
    age_everything(repo.root)
    report = collect(repo.store, repo.refs)
    assert report.packs_removed == 1 and report.loose_removed == 1 and report.loose_packed == 1
    store = _fresh(repo)
    assert not store.has(loose) and not store.has(orphan["exec"])
    assert store.has(kept) and list(store.iter_loose()) == []
    assert fsck(store, repo.refs).ok


def test_keep_restores_a_deleted_execution(repo):
    live, dead = _two_runs(repo)
    age_everything(repo.root)
    eid = str(uuid.UUID(bytes=dead["exec_id"]))
    dry = collect(repo.store, repo.refs, keep=[eid[:8]], dry_run=True)
    assert dry.garbage == 0 and dry.restored_refs == [f"execs/{eid}"]
    assert repo.refs.get(f"execs/{eid}") is None
    report = collect(repo.store, repo.refs, keep=[eid])
    assert report.garbage == 0 and repo.refs.get(f"execs/{eid}") == dead["exec"]
    with pytest.raises(GcError):
        collect(repo.store, repo.refs, keep=["zz"])


def test_jobs_of_a_crashed_run_are_kept(repo):
    # The run died before swapping its ref to the final record: the ref names a
    # preliminary execution (job=None) and the salvaged job is linked from nothing.
    with repo.store.pack_writer() as w:
        run = write_execution(w, "crashed", final=False)
    repo.refs.set(exec_ref(run["exec_id"]), run["exec"])
    age_everything(repo.root)
    report = collect(repo.store, repo.refs)
    assert report.garbage == 0
    assert _fresh(repo).has(run["job"]) and _fresh(repo).has(run["value"])


def test_young_records_keep_old_objects_they_link(repo):
    with repo.store.pack_writer() as w:
        old = write_execution(w, "old")
    age_everything(repo.root)
    with repo.store.pack_writer() as w:  # a new, unreferenced record reusing an old value
        w.add(__import__("redun.objects.codec", fromlist=["encode"]).encode(
            Value(b"\x02" * 20, "list", "native", b"", (), 0, (old["value"],))))
    report = collect(repo.store, repo.refs)
    store = _fresh(repo)
    assert store.has(old["value"]) and not store.has(old["job"])
    assert report.garbage == 4


def test_live_run_staging_protects_what_it_links(repo):
    with repo.store.pack_writer() as w:
        old = write_execution(w, "old")
    age_everything(repo.root)
    w = repo.store.pack_writer()  # a run in progress, not committed
    from redun.objects import codec

    w.add(codec.encode(Value(b"\x03" * 20, "list", "native", b"", (), 0, (old["value"],))))
    try:
        collect(DirectoryStore(repo.root), repo.refs)
        store = _fresh(repo)
        assert store.has(old["value"]) and store.has(old["task"]) is False
    finally:
        w.commit()
    assert fsck(_fresh(repo), repo.refs).ok


def test_only_one_gc_at_a_time(repo):
    import fcntl

    fd = os.open(os.path.join(repo.root, "gc.lock"), os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        with pytest.raises(GcError, match="another gc"):
            collect(repo.store, repo.refs)
    finally:
        os.close(fd)


@pytest.mark.slow
def test_gc_command_dry_run_and_real(repo, tmp_path):
    live, dead = _two_runs(repo)
    age_everything(repo.root)
    cmd = [sys.executable, "-m", "redun", "-c", repo.root, "gc"]
    out = subprocess.run(cmd + ["--dry-run"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert dead["job"].hex() in out.stdout and "would remove 5" in out.stdout
    out = subprocess.run(cmd + ["--grace", "1"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "removed 5" in out.stdout
    assert not _fresh(repo).has(dead["job"])
    out = subprocess.run(cmd + ["--keep", "nonsense"], capture_output=True, text=True)
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert DirectoryRefs(repo.root).get(exec_ref(live["exec_id"])) == live["exec"]


@pytest.mark.slow
def test_gc_while_runs_write_keeps_the_repo_valid(repo):
    """Runs write (engine protocol) while gc sweeps repeatedly with a 2-second grace
    period (a run's objects are younger than that until its ref names them; with
    no grace at all, a record written just before the ref is set could go)."""
    import time

    from test_archival import WRITER

    tests = os.path.dirname(os.path.abspath(__file__))
    with repo.store.pack_writer() as w:  # old garbage for gc to chew on
        for i in range(20):
            write_execution(w, f"junk{i}")
    age_everything(repo.root)
    writer = subprocess.Popen([sys.executable, "-c", WRITER.format(tests=tests, root=repo.root, seconds=3)],
                              stdout=subprocess.PIPE, text=True)
    removed = 0
    try:
        while writer.poll() is None:
            removed += collect(DirectoryStore(repo.root), DirectoryRefs(repo.root), grace_days=2 / 86400).garbage
            time.sleep(0.05)
    finally:
        out, _ = writer.communicate(timeout=60)
    assert writer.returncode == 0 and int(out) > 0
    assert removed >= 100
    store = DirectoryStore(repo.root)
    report = fsck(store, DirectoryRefs(repo.root))
    assert report.ok, [str(p) for p in report.problems]
    finished = [o for _, o in DirectoryRefs(repo.root).list("execs/") if store.get(o).job is not None]
    assert len(finished) == int(out)


def test_a_corrupt_object_stops_gc_before_anything_is_deleted(repo):
    live, dead = _two_runs(repo)
    age_everything(repo.root)
    (pack,) = [p for p in os.listdir(os.path.join(repo.root, "packs")) if p.endswith(".pack")]
    path = os.path.join(repo.root, "packs", pack)
    store = DirectoryStore(repo.root)
    p = next(x for x in store.packs())
    off, size = p.index.find(live["job"])
    data = bytearray(open(path, "rb").read())
    data[off + size - 3] ^= 0xFF  # damage the live job record (reachable: gc must read it)
    open(path, "wb").write(bytes(data))
    before = sorted(os.listdir(os.path.join(repo.root, "packs")))
    from redun.errors import CorruptObjectError

    with pytest.raises(CorruptObjectError, match="fsck"):
        collect(DirectoryStore(repo.root), repo.refs)
    assert sorted(os.listdir(os.path.join(repo.root, "packs"))) == before
    assert os.path.getsize(path) == len(data)
