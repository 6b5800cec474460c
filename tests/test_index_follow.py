"""The index follower (redun/index/follow.py): a large run's index rows are written by a
helper process as the run goes. The index must end up exactly as complete as when the
run writes the rows itself, whatever happens to either process."""

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from redun import Scheduler, task
from redun.index.index import Index
from redun.repo.repository import Repo

redun_namespace = "follow_test"
LEAVES = 600  # one lookup batch of 600 jobs: starts the follower early (recorder.FOLLOW_EXPECTED)
_RUN: dict = {}


@task()
def leaf(i: int) -> dict:
    if i == _RUN.get("kill_follower_at"):
        proc = _RUN["scheduler"].recorder.follower.proc
        proc.kill()
        proc.wait()
    return {"i": i, "sq": i * i}


@task()
def fan(n: int) -> list:
    return [leaf(i) for i in range(n)]


def _counts(index_path: str) -> dict:
    conn = sqlite3.connect(index_path)
    try:
        return {
            "jobs": conn.execute("SELECT count(*) FROM jobs").fetchone()[0],
            "leaf_calls": conn.execute(
                "SELECT count(*) FROM call_nodes WHERE task_name='follow_test.leaf'").fetchone()[0],
            "leaf_call_hashes": conn.execute(
                "SELECT count(DISTINCT hash) FROM call_nodes WHERE task_name='follow_test.leaf'").fetchone()[0],
            "tmp_packs": conn.execute("SELECT count(*) FROM tmp_packs").fetchone()[0],
            "packs": {r[0] for r in conn.execute("SELECT name FROM ingested_packs")},
        }
    finally:
        conn.close()


def _pack_names(root: str) -> set:
    return {e[5:-5] for e in os.listdir(os.path.join(root, "packs")) if e.startswith("pack-") and e.endswith(".pack")}


def _run(tmp_path, **env):
    root = str(tmp_path / ".redun")
    repo = Repo.init(root)
    s = Scheduler(repo=repo, quiet=True)
    _RUN.clear()
    _RUN.update(env, scheduler=s)
    try:
        result = s.run(fan(LEAVES))
    finally:
        _RUN.clear()
    return repo, s, result


@pytest.mark.slow
def test_large_run_is_indexed_by_the_follower(tmp_path):
    repo, s, result = _run(tmp_path)
    assert len(result) == LEAVES
    assert s.recorder.follow_result is True  # the follower ran and ingested the whole pack
    c = _counts(repo.index_path)
    assert c["jobs"] == LEAVES + 1 and c["leaf_calls"] == LEAVES
    assert c["tmp_packs"] == 0 and c["packs"] == _pack_names(repo.root)
    # nothing is left for a catch-up to do, and the rerun finds every job in the index
    assert Index.open(repo, path=repo.index_path).catch_up() == 0
    s2 = Scheduler(repo=repo, quiet=True)
    s2.run(fan(LEAVES))
    assert s2.status_counts()["follow_test.leaf"]["CACHED"] == LEAVES
    repo.close()


@pytest.mark.slow
def test_a_follower_killed_mid_run_is_made_up_for(tmp_path):
    repo, s, result = _run(tmp_path, kill_follower_at=LEAVES // 2)
    assert len(result) == LEAVES
    assert s.recorder.follow_result is False  # it died: the run caught the index up itself
    c = _counts(repo.index_path)
    assert c["jobs"] == LEAVES + 1 and c["leaf_calls"] == LEAVES
    assert c["packs"] == _pack_names(repo.root)
    repo.close()


def test_small_run_writes_its_own_rows(tmp_path):
    root = str(tmp_path / ".redun")
    repo = Repo.init(root)
    s = Scheduler(repo=repo, quiet=True)
    s.run(fan(20))
    assert s.recorder.follow_result is None  # no follower for a few dozen records
    assert _counts(repo.index_path)["leaf_calls"] == 20
    repo.close()


WORKFLOW = textwrap.dedent('''
    import os, time
    from redun import task

    redun_namespace = "follow_test"

    @task()
    def leaf(i: int) -> dict:
        if i >= int(os.environ["GATE_AFTER"]):
            open("reached", "a").close()
            time.sleep(3600)  # the test kills the run here
        return {"i": i, "sq": i * i}

    @task()
    def fan(n: int) -> list:
        return [leaf(i) for i in range(n)]
''')


def _followers_of(root: str) -> list:
    """pids of follower processes writing this repository's index."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if b"redun.index.follow" in argv and any(root.encode() in a for a in argv):
            out.append(int(pid))
    return out


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc to find the follower")
def test_kill_9_of_the_run_leaves_a_complete_index_and_no_follower(tmp_path):
    (tmp_path / "wf.py").write_text(WORKFLOW)
    root = str(tmp_path / ".redun")
    env = dict(os.environ, REDUN_CONFIG=root, GATE_AFTER="560")
    subprocess.run([sys.executable, "-m", "redun", "init"], cwd=tmp_path, env=env, check=True, capture_output=True)
    proc = subprocess.Popen([sys.executable, "-m", "redun", "run", "wf.py", "fan", "--n", str(LEAVES)],
                            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "reached").exists() or not _followers_of(root):
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "workflow never reached the gate"
            time.sleep(0.05)
        # the leaves before the gate finish, reach the pack and the follower; under load that
        # takes a while, so wait for the follower's rows rather than a fixed time
        index_path = os.path.join(root, "index.sqlite3")
        while _counts(index_path)["leaf_calls"] < 500:
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "the follower never indexed the leaves before the gate"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stderr.close()
    deadline = time.monotonic() + 30
    while _followers_of(root):  # it sees the run's end of the pipe close and stops by itself
        assert time.monotonic() < deadline, "the follower outlived its run"
        time.sleep(0.05)
    c = _counts(os.path.join(root, "index.sqlite3"))
    assert c["leaf_calls"] >= 500 and c["tmp_packs"] == 1  # what was written is indexed, offset kept
    rerun = subprocess.run([sys.executable, "-m", "redun", "run", "wf.py", "fan", "--n", str(LEAVES)],
                           cwd=tmp_path, env=dict(env, GATE_AFTER=str(LEAVES)), capture_output=True, text=True,
                           timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    cached = rerun.stderr.count("Cached Job")
    assert cached >= c["leaf_calls"]  # every job the dead run finished is a cache hit


@pytest.mark.slow
def test_concurrent_large_runs_each_with_a_follower_index_fully(tmp_path):
    (tmp_path / "wf.py").write_text(WORKFLOW)
    root = str(tmp_path / ".redun")
    env = dict(os.environ, REDUN_CONFIG=root, GATE_AFTER=str(10 * LEAVES))
    subprocess.run([sys.executable, "-m", "redun", "init"], cwd=tmp_path, env=env, check=True, capture_output=True)
    procs = [subprocess.Popen([sys.executable, "-m", "redun", "run", "wf.py", "fan", "--n", str(LEAVES + i)],
                              cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for i in range(3)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()
    c = _counts(os.path.join(root, "index.sqlite3"))
    # 600 + 601 + 602 leaves and 3 fans; the leaves are 602 distinct calls
    assert c["jobs"] == (LEAVES + 0) + (LEAVES + 1) + (LEAVES + 2) + 3 and c["leaf_call_hashes"] == LEAVES + 2
    assert c["tmp_packs"] == 0 and c["packs"] == _pack_names(root)


def test_rows_that_keep_coming_are_committed_every_commit_every_seconds(tmp_path, monkeypatch):
    """A busy run's pipe is never quiet: its rows still reach a big index every BIG_COMMIT_EVERY."""
    import marshal
    import threading

    from redun.index import follow
    from redun.index.rows import RowBuffer
    from redun.objects.codec import encode_with_id
    from redun.objects.records import Task

    monkeypatch.setattr(follow, "BIG_COMMIT_EVERY", 0.0)
    monkeypatch.setattr(follow, "IDLE_COMMIT_AFTER", 600.0)  # only the clock may commit
    path = str(tmp_path / "index.sqlite3")
    index = Index.open(None, catch_up=False, path=path)
    rows = RowBuffer()
    oid, _ = encode_with_id(Task(b"\x01" * 20, "ns", "t", "src"))
    rows.add(oid, Task(b"\x01" * 20, "ns", "t", "src"))
    r, w = os.pipe()
    done = threading.Thread(target=follow.follow, args=(index, "tmp-x", follow.FrameReader(r), True))
    done.start()
    try:
        os.write(w, follow.frame(b"R", marshal.dumps((123, rows.parts(), rows.count))))
        conn = sqlite3.connect(path)
        deadline = time.monotonic() + 30
        while conn.execute("SELECT offset FROM tmp_packs WHERE name='tmp-x'").fetchone() is None:
            assert time.monotonic() < deadline, "rows not committed while the pipe stays open"
            time.sleep(0.02)
        assert conn.execute("SELECT count(*) FROM tasks").fetchone()[0] == 1
        conn.close()
    finally:
        os.write(w, follow.frame(b"S", b""))
        done.join(30)
        os.close(w)
        os.close(r)
        index.close()


def test_a_big_index_gets_rows_written_before_their_commit(tmp_path, monkeypatch):
    """Into a big index the follower commits rarely, but writes rows as they come (into its
    open transaction), so that its work is not left until the run's end; readers see them
    only once committed."""
    import marshal
    import threading

    from redun.index import follow
    from redun.index.rows import RowBuffer
    from redun.objects.codec import encode_with_id
    from redun.objects.records import Task

    monkeypatch.setattr(follow, "COMMIT_RECORDS", 1)
    monkeypatch.setattr(follow, "BIG_COMMIT_EVERY", 600.0)
    monkeypatch.setattr(follow, "IDLE_COMMIT_AFTER", 600.0)  # only the end may commit
    path = str(tmp_path / "index.sqlite3")
    index = Index.open(None, catch_up=False, path=path)
    rows = RowBuffer()
    rec = Task(b"\x01" * 20, "ns", "t", "src")
    rows.add(encode_with_id(rec)[0], rec)
    r, w = os.pipe()
    done = threading.Thread(target=follow.follow, args=(index, "tmp-x", follow.FrameReader(r), True))
    done.start()
    conn = sqlite3.connect(path)
    try:
        os.write(w, follow.frame(b"R", marshal.dumps((123, rows.parts(), rows.count))))
        deadline = time.monotonic() + 30
        while not index.buffer.count == 0 or not index.conn.in_transaction:
            assert time.monotonic() < deadline, "rows not written while the pipe stays open"
            time.sleep(0.02)
        assert conn.execute("SELECT count(*) FROM tasks").fetchone()[0] == 0  # written, not committed
        os.write(w, follow.frame(b"C", b"pack-x"))
        done.join(30)
        assert conn.execute("SELECT count(*) FROM tasks").fetchone()[0] == 1
        assert conn.execute("SELECT offset FROM tmp_packs WHERE name='tmp-x'").fetchone() == (123,)
    finally:
        conn.close()
        os.close(w)
        os.close(r)
        index.close()
