"""DirectoryRefs with refs/.packed: packing is invisible, CAS stays exact under
concurrent packers, updaters and listers (threads and processes)."""

import multiprocessing
import os
import threading

import pytest

from redun.errors import CorruptObjectError, InvalidIdError, RefConflictError
from redun.refs import DirectoryRefs

A, B, C = (bytes([i]) * 32 for i in (1, 2, 3))


def oid(i):
    return i.to_bytes(32, "big")


def test_pack_moves_loose_refs_and_tidies_locks(tmp_path):
    refs = DirectoryRefs(str(tmp_path))
    for i in range(10):
        refs.set(f"execs/e{i}", oid(i))
    refs.set("remotes/o/execs/e1", A)
    assert refs.pack_refs() == 11
    assert os.listdir(tmp_path / "refs" / "execs") == []
    text = (tmp_path / "refs" / ".packed").read_text().splitlines()
    assert text[0] == "# redun packed-refs 1" and text[1:] == sorted(text[1:], key=lambda l: l.split()[1])
    assert refs.get("execs/e3") == oid(3)
    assert list(refs.list("execs/")) == [(f"execs/e{i}", oid(i)) for i in range(10)]
    assert refs.names("remotes/") == ["remotes/o/execs/e1"]
    assert refs.pack_refs() == 0


def test_loose_wins_over_packed_and_cas_sees_packed(tmp_path):
    refs = DirectoryRefs(str(tmp_path))
    refs.set("execs/x", A)
    refs.pack_refs()
    with pytest.raises(RefConflictError):
        refs.set("execs/x", B, expected=None)
    refs.set("execs/x", B, expected=A)  # loose now shadows the packed line
    assert refs.get("execs/x") == B and list(refs.list()) == [("execs/x", B)]
    with pytest.raises(RefConflictError):
        refs.delete("execs/x", expected=A)
    refs.delete("execs/x", expected=B)  # drops both: the packed A never shows through
    assert refs.get("execs/x") is None and list(refs.list()) == []
    refs.set("execs/x", C, expected=None)
    assert refs.get("execs/x") == C


def test_delete_packed_only_ref(tmp_path):
    refs = DirectoryRefs(str(tmp_path))
    refs.set("a/b/c", A)
    refs.set("d", B)
    refs.pack_refs()
    refs.delete("a/b/c")
    assert refs.names() == ["d"]
    assert DirectoryRefs(str(tmp_path)).get("a/b/c") is None


def test_clash_with_packed_names(tmp_path):
    refs = DirectoryRefs(str(tmp_path))
    refs.set("p/q", A)
    refs.set("r", A)
    refs.pack_refs()
    for d in ("p", "r"):
        os.rmdir(tmp_path / "refs" / d) if (tmp_path / "refs" / d).is_dir() else None
    with pytest.raises(InvalidIdError, match="clashes"):
        refs.set("p", B)
    with pytest.raises(InvalidIdError, match="clashes"):
        refs.set("r/s", B)


def test_damaged_packed_file_is_named(tmp_path):
    refs = DirectoryRefs(str(tmp_path))
    refs.set("execs/e1", A)
    refs.pack_refs()
    path = tmp_path / "refs" / ".packed"
    for bad in (b"garbage\n", path.read_bytes().replace(b"execs/e1", b"execs/../e1"),
                path.read_bytes() + b"00 execs/e2\n", path.read_bytes() + path.read_bytes()[22:]):
        path.write_bytes(bad)
        fresh = DirectoryRefs(str(tmp_path))
        with pytest.raises(CorruptObjectError, match=r"\.packed"):
            fresh.get("execs/e1")


def test_auto_pack_after_run_end_swaps(tmp_path):
    refs = DirectoryRefs(str(tmp_path))
    refs.PACK_THRESHOLD = 5
    for i in range(5):
        refs.set(f"execs/e{i}", A, expected=None)  # starts: no packing
    assert len(os.listdir(tmp_path / "refs" / "execs")) == 5  # refs only: a lock file goes with its holder
    refs.set("execs/e5", A, expected=None)
    refs.set("execs/e5", B, expected=A)  # a run ends with 6 loose refs
    assert os.listdir(tmp_path / "refs" / "execs") == []
    assert len(list(refs.list("execs/"))) == 6 and refs.get("execs/e5") == B


def _racer(root, worker, n, packer):
    refs = DirectoryRefs(root)
    for i in range(n):
        name = f"execs/w{worker}-{i % 7}"
        while True:
            cur = refs.get("counter")
            try:
                refs.set("counter", oid(int.from_bytes(cur, "big") + 1), expected=cur)
                break
            except RefConflictError:
                continue
        refs.set(name, oid(i + 1))
        if i % 3 == 0:
            refs.delete(name, expected=oid(i + 1))
        if packer and i % 4 == 0:
            refs.pack_refs()


def _check_final(root, workers, n):
    refs = DirectoryRefs(root)
    assert int.from_bytes(refs.get("counter"), "big") == workers * n
    expect = {}
    for w in range(workers):
        for i in range(n):
            name = f"execs/w{w}-{i % 7}"
            if i % 3 == 0:
                expect.pop(name, None)
            else:
                expect[name] = oid(i + 1)
    expect["counter"] = oid(workers * n)
    assert dict(refs.list()) == expect
    refs.pack_refs()
    assert dict(DirectoryRefs(root).list()) == expect


def test_concurrent_packing_threads(tmp_path):
    root = str(tmp_path)
    DirectoryRefs(root).set("counter", oid(0))
    threads = [threading.Thread(target=_racer, args=(root, w, 40, w % 2 == 0)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    _check_final(root, 4, 40)


def test_concurrent_packing_processes(tmp_path):
    root = str(tmp_path)
    DirectoryRefs(root).set("counter", oid(0))
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_racer, args=(root, w, 40, True)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert all(p.exitcode == 0 for p in procs)
    _check_final(root, 3, 40)


def _lister(root, stop, errors):
    refs = DirectoryRefs(root)
    while not stop.is_set():
        names = dict(refs.list("stable/"))
        if len(names) != 50:
            errors.append(len(names))


def test_list_never_misses_a_ref_while_packing(tmp_path):
    root = str(tmp_path)
    refs = DirectoryRefs(root)
    stop, errors = threading.Event(), []
    for i in range(50):
        refs.set(f"stable/s{i}", A)
    t = threading.Thread(target=_lister, args=(root, stop, errors))
    t.start()
    try:
        for round_ in range(30):
            for i in range(0, 50, 3):
                refs.set(f"stable/s{i}", oid(round_ + 1))  # back to loose
            refs.pack_refs()
    finally:
        stop.set()
        t.join()
    assert errors == []


def _many_racer(root, worker, rounds):
    refs = DirectoryRefs(root)
    refs.SET_MANY_CHUNK = 3
    for r in range(rounds):
        names = [f"execs/m{k}" for k in range(8)]
        while names:  # CAS increment of 8 counters at once; retry only the conflicting ones
            cur = {n: refs.get(n) for n in names}
            names = refs.set_many({n: (cur[n], oid(int.from_bytes(cur[n], "big") + 1)) for n in names})
        if worker % 2 == 0:
            refs.pack_refs()
        else:
            n = f"execs/m{r % 8}"
            while True:
                cur = refs.get(n)
                try:
                    refs.set(n, oid(int.from_bytes(cur, "big") + 1), expected=cur)
                    break
                except RefConflictError:
                    continue


def test_set_many_concurrent_processes(tmp_path):
    root = str(tmp_path)
    refs = DirectoryRefs(root)
    for k in range(8):
        refs.set(f"execs/m{k}", oid(0))
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_many_racer, args=(root, w, 15)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert all(p.exitcode == 0 for p in procs)
    total = sum(int.from_bytes(v, "big") for _, v in DirectoryRefs(root).list("execs/"))
    assert total == 4 * 15 * 8 + 2 * 15  # every set_many increment plus the single increments
