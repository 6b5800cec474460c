"""Processes that start together on one repository: the index file is made whole before
anyone opens it, a lock held by another process is waited out (never taken for a corrupt
file, which would be removed under the others' feet), and a loose object is written even
when a concurrent pack commit prunes its empty directory."""

import multiprocessing
import os
import sqlite3

import pytest

from redun.index import index as index_module
from redun.index.index import Index
from redun.objects import directory
from redun.objects.directory import DirectoryStore
from redun.objects.ids import object_id


def _open_and_note(path: str, barrier, name: str, out) -> None:
    try:
        barrier.wait()
        index = Index.open(None, catch_up=False, path=path)
        index.note_pack(name)
        index.close()
        out.put(None)
    except BaseException as e:  # noqa: BLE001 - reported to the test
        out.put(repr(e))


@pytest.mark.slow
def test_four_processes_opening_a_new_index_together_share_one_file(tmp_path):
    """Before the index file was made whole before use, one trial in ten saw an opener take
    "database is locked" (switching to WAL) or a half-made file for corruption and remove the
    file the others were writing."""
    ctx = multiprocessing.get_context("fork")
    for trial in range(30):
        path = str(tmp_path / f"t{trial}" / "index.sqlite3")
        os.makedirs(os.path.dirname(path))
        barrier, out = ctx.Barrier(4), ctx.Queue()
        procs = [ctx.Process(target=_open_and_note, args=(path, barrier, f"p{i}", out)) for i in range(4)]
        for p in procs:
            p.start()
        errors = [out.get(timeout=120) for _ in procs]
        for p in procs:
            p.join()
        assert errors == [None] * 4, (trial, errors)
        conn = sqlite3.connect(path)
        assert {r[0] for r in conn.execute("SELECT name FROM ingested_packs")} == {"p0", "p1", "p2", "p3"}, trial
        conn.close()
        assert not [n for n in os.listdir(os.path.dirname(path)) if ".tmp-" in n]


def test_a_lock_while_opening_is_waited_out_not_taken_for_corruption(tmp_path, monkeypatch):
    path = str(tmp_path / "index.sqlite3")
    Index.open(None, catch_up=False, path=path).close()
    inode = os.stat(path).st_ino
    real, calls = index_module.connect, []

    def locked_twice(p, create=True):
        calls.append(p)
        if len(calls) <= 2:
            raise sqlite3.OperationalError("database is locked")
        return real(p, create=create)

    monkeypatch.setattr(index_module, "connect", locked_twice)
    Index.open(None, catch_up=False, path=path).close()
    assert len(calls) == 3 and os.stat(path).st_ino == inode  # the same file, not a rebuilt one


def test_a_corrupt_index_is_still_made_again(tmp_path):
    path = str(tmp_path / "index.sqlite3")
    with open(path, "wb") as f:
        f.write(b"not a database at all" * 300)
    index = Index.open(None, catch_up=False, path=path)
    index.note_pack("x")
    index.close()
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT name FROM ingested_packs").fetchall() == [("x",)]
    conn.close()


def test_a_loose_object_is_written_when_its_directory_is_pruned_meanwhile(tmp_path, monkeypatch):
    """A pack commit's prune_empty_dirs may remove objects/xx/ between the writer's makedirs and
    its open of the temporary file; the writer makes it again."""
    store = DirectoryStore(str(tmp_path / ".redun"))
    data = b"\x93\xa4Blob\x01\x81\xa4data\xc4\x03abc"  # any bytes: put_stored takes them as stored
    oid = object_id(data)
    real, pruned = os.makedirs, []

    def makedirs_then_pruned(d, exist_ok=False):
        real(d, exist_ok=exist_ok)
        if not pruned:  # the first time, a concurrent prune removes it again at once
            os.rmdir(d)
            pruned.append(d)

    monkeypatch.setattr(directory.os, "makedirs", makedirs_then_pruned)
    store.put_stored(oid, data)
    assert pruned and store.has(oid)


def test_a_commit_that_cannot_begin_reports_the_lock(tmp_path):
    """A write lock held past the busy timeout is what the caller hears about (not a failed
    ROLLBACK of a transaction that never began)."""
    path = str(tmp_path / "index.sqlite3")
    index = Index.open(None, catch_up=False, path=path)
    index.conn.execute("PRAGMA busy_timeout=50")
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            index.note_pack("x")
        assert not index.conn.in_transaction
    finally:
        other.execute("ROLLBACK")
        other.close()
    index.note_pack("x")  # and the index is usable once the lock is gone
    index.close()


def test_a_new_index_is_made_on_a_file_system_without_hard_links(tmp_path, monkeypatch):
    import errno

    from redun.index import files

    def no_links(src, dst):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(files.os, "link", no_links)
    path = str(tmp_path / "index.sqlite3")
    index = Index.open(None, catch_up=False, path=path)
    index.note_pack("x")
    index.close()
    assert sorted(os.listdir(tmp_path)) == ["index.sqlite3"]
