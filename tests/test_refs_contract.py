"""The RefStore contract (redun/refs/contract.py), run over every implementation."""

import multiprocessing
import os
import threading

import pytest

from redun.errors import CorruptObjectError, InvalidIdError, RefConflictError
from redun.refs import ANY, DirectoryRefs, MemoryRefs


A, B, C = (bytes([i]) * 32 for i in (1, 2, 3))


class PackingRefs(DirectoryRefs):
    """DirectoryRefs that packs after every update: runs the whole contract with
    refs moving between loose files and refs/.packed all the time."""

    def set(self, name, new, expected=ANY):
        super().set(name, new, expected)
        self.pack_refs()

    def delete(self, name, expected=ANY):
        super().delete(name, expected)
        self.pack_refs()


@pytest.fixture(params=["memory", "directory", "directory-packing", pytest.param("postgres", marks=pytest.mark.postgres)])
def refs(request, tmp_path):
    if request.param == "memory":
        return MemoryRefs()
    if request.param == "postgres":
        from redun.pg import PgDatabase
        from redun.pg.refs import PgRefs

        uri = request.getfixturevalue("pg_server").create_database()
        db = PgDatabase(uri, uri)
        db.ensure_repository(create=True)
        request.addfinalizer(db.close)
        return PgRefs(db)
    return (DirectoryRefs if request.param == "directory" else PackingRefs)(str(tmp_path))


def test_get_set_delete(refs):
    assert refs.get("execs/x") is None
    refs.set("execs/x", A)
    assert refs.get("execs/x") == A
    refs.set("execs/x", B)
    assert refs.get("execs/x") == B
    refs.delete("execs/x")
    assert refs.get("execs/x") is None
    refs.delete("execs/x")  # deleting nothing with ANY is fine


def test_compare_and_swap(refs):
    refs.set("h", A, expected=None)
    with pytest.raises(RefConflictError, match="'h'"):
        refs.set("h", B, expected=None)
    with pytest.raises(RefConflictError):
        refs.set("h", B, expected=C)
    assert refs.get("h") == A
    refs.set("h", B, expected=A)
    assert refs.get("h") == B
    with pytest.raises(RefConflictError):
        refs.delete("h", expected=A)
    assert refs.get("h") == B
    refs.delete("h", expected=B)
    assert refs.get("h") is None
    with pytest.raises(RefConflictError):
        refs.set("h", A, expected=B)


def test_list_sorted_with_prefix(refs):
    for name, v in [("execs/b", A), ("execs/a", B), ("remotes/o/execs/a", C), ("head", A)]:
        refs.set(name, v)
    assert list(refs.list()) == [("execs/a", B), ("execs/b", A), ("head", A), ("remotes/o/execs/a", C)]
    assert list(refs.list("execs/")) == [("execs/a", B), ("execs/b", A)]
    assert refs.names("remotes/") == ["remotes/o/execs/a"]


@pytest.mark.parametrize("bad", ["", "/abs", "a//b", "../x", "a/./b", "a/..", ".hidden", "x.lock", "a/b.lock",
                                 "sp ace", "a\\b", "x.tmp-1", "ü", "a" * 600])
def test_bad_names_rejected(refs, bad):
    with pytest.raises(InvalidIdError):
        refs.set(bad, A)
    with pytest.raises(InvalidIdError):
        refs.get(bad)


def test_values_must_be_object_ids(refs):
    for bad in (b"short", "a" * 64, None, A + b"x"):
        with pytest.raises(InvalidIdError):
            refs.set("r", bad)


def test_ref_and_prefix_clash(refs):
    refs.set("a/b", A)
    with pytest.raises(InvalidIdError, match="clashes"):
        refs.set("a", B)
    refs.set("c", A)
    with pytest.raises(InvalidIdError, match="clashes"):
        refs.set("c/d", B)
    assert refs.get("a/b") == A and refs.get("c") == A


def test_concurrent_cas_threads(refs):
    """Many threads race a CAS counter: every successful swap is seen exactly once."""
    refs.set("counter", (0).to_bytes(32, "big"))
    wins = []

    def worker():
        for _ in range(30):
            while True:
                cur = refs.get("counter")
                nxt = (int.from_bytes(cur, "big") + 1).to_bytes(32, "big")
                try:
                    refs.set("counter", nxt, expected=cur)
                    wins.append(nxt)
                    break
                except RefConflictError:
                    continue

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert int.from_bytes(refs.get("counter"), "big") == 120
    assert len(set(wins)) == 120


def _proc_worker(root, n):
    refs = DirectoryRefs(root)
    for _ in range(n):
        while True:
            cur = refs.get("counter")
            nxt = (int.from_bytes(cur, "big") + 1).to_bytes(32, "big")
            try:
                refs.set("counter", nxt, expected=cur)
                break
            except RefConflictError:
                continue


def test_concurrent_cas_processes(tmp_path):
    refs = DirectoryRefs(str(tmp_path))
    refs.set("counter", (0).to_bytes(32, "big"))
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_proc_worker, args=(str(tmp_path), 25)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert all(p.exitcode == 0 for p in procs)
    assert int.from_bytes(refs.get("counter"), "big") == 75


def test_directory_ref_files_are_plain_hex(tmp_path):
    refs = DirectoryRefs(str(tmp_path))
    refs.set("execs/e1", A)
    with open(tmp_path / "refs" / "execs" / "e1") as f:
        assert f.read() == A.hex() + "\n"
    assert not [n for n in os.listdir(tmp_path / "refs" / "execs") if ".tmp-" in n]


def test_damaged_ref_file_is_named(tmp_path):
    refs = DirectoryRefs(str(tmp_path))
    refs.set("execs/e1", A)
    (tmp_path / "refs" / "execs" / "e1").write_text("garbage\n")
    with pytest.raises(CorruptObjectError, match="e1"):
        refs.get("execs/e1")
    assert refs.names() == ["execs/e1"]


def test_any_is_default(refs):
    refs.set("x", A, ANY)
    refs.set("x", B)
    assert refs.get("x") == B


def test_set_many(refs):
    refs.set("execs/a", A)
    refs.set("execs/b", B)
    conflicts = refs.set_many({"execs/a": (A, C), "execs/b": (A, C), "execs/c": (None, A), "execs/d": (ANY, B)})
    assert conflicts == ["execs/b"]
    assert dict(refs.list("execs/")) == {"execs/a": C, "execs/b": B, "execs/c": A, "execs/d": B}
    with pytest.raises(InvalidIdError):
        refs.set_many({"../x": (None, A)})
    with pytest.raises(InvalidIdError):
        refs.set_many({"execs/e": (None, b"short")})
    assert refs.get("execs/e") is None
    refs.set("p/q", A)
    with pytest.raises(InvalidIdError, match="clash"):
        refs.set_many({"p": (None, A)})
