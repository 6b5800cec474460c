"""The index after a big pull (repo/background_index.py, index/catchup_lock.py): `redun log`
lists executions from the refs and their root jobs at once, a detached background process
ingests the packs, and every other query waits for it and then sees the whole index."""

import os
import sqlite3
import threading
import time

import pytest

from inproc import Workflow
from redun.index import Index
from redun.index.catchup_lock import CatchupLock, held_elsewhere
from redun.objects.progress import Progress
from redun.repo import background_index
from redun.repo.repository import Repo

WORKFLOW = """
from redun import task

@task()
def leaf(x):
    return x * 2

@task()
def bad(x):
    raise ValueError("no")

@task()
def main(n: int = 10):
    return [leaf(i) for i in range(n)]

@task()
def fails():
    return bad(1)
"""


@pytest.fixture
def pulled(tmp_path):
    """(source workflow, destination workflow): four runs pulled into an empty repository."""
    (tmp_path / "src").mkdir()
    src = Workflow(tmp_path / "src", WORKFLOW)
    for n in (5, 10, 20):
        src.redun("run", src.script, "main", "--n", str(n))
    src.redun("run", src.script, "fails", expect=None)
    (tmp_path / "dst").mkdir()
    dst = Workflow(tmp_path / "dst", "")
    dst.redun("init")
    dst.redun("repo", "add", "src", src.config)
    dst.redun("pull", "src")
    return src, dst


def wait_for_background(repo, timeout: float = 60) -> None:
    """Until every pack is ingested and no indexer holds the catch-up lock."""
    packs = {e[5:-4] for e in os.listdir(repo.store.packs_dir) if e.startswith("pack-") and e.endswith(".idx")}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        conn = sqlite3.connect(repo.index_path)
        try:
            done = {r[0] for r in conn.execute("SELECT name FROM ingested_packs")}
        finally:
            conn.close()
        if packs <= done and not held_elsewhere(repo.index_path):
            return
        time.sleep(0.1)
    log = repo.index_path + background_index.LOG_SUFFIX
    raise AssertionError("background indexer did not finish: " + (open(log).read() if os.path.exists(log) else ""))


def counts(path: str) -> tuple:
    conn = sqlite3.connect(path)
    try:
        return tuple(conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("executions", "jobs", "call_nodes"))
    finally:
        conn.close()


@pytest.mark.slow  # starts the background indexer process
def test_listing_defers_a_backlog_and_lists_every_execution(pulled, monkeypatch):
    src, dst = pulled
    expected = src.redun("log").out
    monkeypatch.setattr(background_index, "DEFER_BYTES", 0)
    result = dst.redun("log")
    assert "in the background" in result.err
    assert result.out == expected  # every execution, with its status (FAILED from its root job)
    repo = Repo.open(dst.config)
    try:
        wait_for_background(repo)
        assert counts(repo.index_path) == counts(Repo.open(src.config).index.path)
    finally:
        repo.close()
    # caught up: nothing is left to defer, and jobs are there
    assert "background" not in dst.redun("log").err
    assert dst.redun("log", "--job").out == src.redun("log", "--job").out


def test_small_backlog_is_ingested_in_the_foreground(pulled):
    src, dst = pulled
    result = dst.redun("log")  # the default threshold is far above these few kilobytes
    assert "background" not in result.err
    assert result.out == src.redun("log").out


def test_full_catch_up_waits_for_a_running_indexer(pulled):
    src, dst = pulled
    repo = Repo.open(dst.config)
    lock = CatchupLock(repo.index_path)
    assert lock.acquire()
    assert held_elsewhere(repo.index_path)
    done = threading.Event()

    phases = []

    class Seen(Progress):
        def phase(self, name, total=None, unit="objects"):
            phases.append((name, total, unit))

    def query():
        Index.open(repo, progress=Seen()).close()
        done.set()

    t = threading.Thread(target=query)
    t.start()
    try:
        assert not done.wait(0.5)  # waiting for the lock, not ingesting beside it
        # a listing does not wait: it defers to the running indexer
        listing = Index.open(repo, defer_over=1 << 40)
        assert listing.deferred > 0
        assert listing._read("SELECT COUNT(*) FROM executions") == [(4,)]
        listing.close()
    finally:
        lock.release()
    t.join(30)
    assert done.is_set()
    waiting = phases[0]
    assert waiting[0] == "waiting for another process indexing this repository"
    assert waiting[1] > 0 and waiting[2] == "bytes"  # the backlog it waits for, as a progress bar
    assert counts(repo.index_path) == counts(Repo.open(src.config).index.path)
    repo.close()


def test_killed_indexer_leaves_the_rest_to_the_next_command(pulled, monkeypatch):
    src, dst = pulled
    repo = Repo.open(dst.config)
    index = Index.open(repo, defer_over=0)  # deferred, and no indexer started
    assert index.deferred
    index.close()
    assert not held_elsewhere(repo.index_path)
    assert dst.redun("log", "--job").out == src.redun("log", "--job").out
    repo.close()


@pytest.mark.slow  # starts the bulk helper process
def test_background_catch_up_of_a_fresh_index_shares_packs_with_a_helper(pulled, monkeypatch):
    from redun.index import bulk

    src, dst = pulled
    started = []
    real_start = bulk.start
    monkeypatch.setattr(bulk, "MIN_BYTES", 0)
    monkeypatch.setattr(bulk, "start", lambda *a: started.append(a) or real_start(*a))
    repo = Repo.open(dst.config)
    index = Index.open(repo, catch_up=False)
    index.parallel = True
    index.catch_up()
    assert started  # the helper took part of the packs
    assert counts(repo.index_path) == counts(Repo.open(src.config).index.path)
    assert index._read("SELECT COUNT(*) FROM vals") == Repo.open(src.config).index._read("SELECT COUNT(*) FROM vals")
    index.close()
    repo.close()
    shared = sorted(dst.redun("log", "--value").out.splitlines())
    dst.redun("db", "reindex")  # a few small packs: one process
    assert sorted(dst.redun("log", "--value").out.splitlines()) == shared
