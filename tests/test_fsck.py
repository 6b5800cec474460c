"""fsck names every bad object, pack, index, link and ref; `redun fsck` exits 0/1."""

import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from redun.cli.group import cli
from redun.objects import Blob, CallNode, Job, Task, Value, encode
from redun.objects.fsck import fsck
from redun.objects.ids import object_id
from redun.objects.memory import MemoryStore
from redun.objects.walk import walk
from redun.refs import MemoryRefs
from redun.repo.repository import Repo


def graph(i=0):
    """A small closed DAG, children first: task, values, callnode, job."""
    t = Task(bytes([i]) * 20, "ns", f"t{i}", "def t(): pass\n")
    v = Value(bytes([i + 1]) * 20, "builtins.int", "native", bytes([i]), (), 1, (), None)
    b = Blob(b"chunk %d" % i)
    big = Value(bytes([i + 2]) * 20, "builtins.bytes", "native", b"", (object_id(encode(b)),), 7, (), None)
    cn = CallNode(bytes([i + 3]) * 20, t.hash, object_id(encode(t)), "ns.t", b"\x00" * 20, (), v.hash,
                  object_id(encode(v)), (), 1)
    job = Job(bytes([i]) * 16, b"\x09" * 16, None, t.hash, object_id(encode(t)), cn.hash, object_id(encode(cn)),
              None, object_id(encode(big)), 1, 2, False, "DONE", (), {})
    return [t, v, b, big, cn, job]


@pytest.fixture
def repo(tmp_repo_dir):
    r = Repo.open(tmp_repo_dir)
    recs = graph(0)
    with r.store.pack_writer() as w:
        ids = [w.add(encode(x)) for x in recs[:4]]
    ids += [r.store.put(x) for x in recs[4:]]  # callnode and job loose
    r.refs.set("execs/one", ids[-1])
    r.ids = ids
    yield r
    r.close()


def flip(path, offset, mask=0xFF):
    raw = bytearray(open(path, "rb").read())
    raw[offset] ^= mask
    open(path, "wb").write(bytes(raw))


def only_file(d, suffix):
    (name,) = [f for f in os.listdir(d) if f.endswith(suffix)]
    return os.path.join(d, name)


def test_clean_repo(repo):
    rep = fsck(repo.store, repo.refs)
    assert rep.ok, rep.problems
    assert (rep.objects, rep.packs, rep.loose, rep.refs) == (6, 1, 2, 1)
    assert "OK" in rep.summary()


def test_corrupt_loose_object_is_named(repo):
    job = repo.ids[-1]
    path = repo.store._loose_path(job)
    flip(path, os.path.getsize(path) - 3)
    rep = fsck(repo.store, repo.refs)
    assert job.hex() in rep.bad_objects()
    assert any(p.where == path for p in rep.problems)


def test_corrupt_byte_in_pack_names_pack_and_object(repo):
    pack = only_file(repo.store.packs_dir, ".pack")
    flip(pack, os.path.getsize(pack) - 2)
    rep = fsck(repo.store, repo.refs)
    kinds = {p.kind for p in rep.problems}
    assert "pack" in kinds and "object" in kinds
    assert any(p.where == pack for p in rep.problems)


def test_truncated_pack(repo):
    pack = only_file(repo.store.packs_dir, ".pack")
    with open(pack, "r+b") as f:
        f.truncate(os.path.getsize(pack) - 10)
    rep = fsck(repo.store, repo.refs)
    assert any(p.kind == "pack" and "truncated" in p.message for p in rep.problems)
    assert rep.bad_objects()


def test_corrupt_index(repo):
    idx = only_file(repo.store.packs_dir, ".idx")
    flip(idx, 12 + 1024 + 3)  # inside the id table
    rep = fsck(repo.store, repo.refs)
    assert any(p.kind == "index" and "checksum" in p.message for p in rep.problems)


def test_truncated_index(repo):
    idx = only_file(repo.store.packs_dir, ".idx")
    with open(idx, "r+b") as f:
        f.truncate(100)
    rep = fsck(Repo.open(repo.root).store, repo.refs)
    assert any(p.kind == "index" and p.where == idx for p in rep.problems)


def test_missing_pack_file(repo):
    os.unlink(only_file(repo.store.packs_dir, ".pack"))
    rep = fsck(Repo.open(repo.root).store, repo.refs)
    assert any(p.kind == "pack" and "missing" in p.message for p in rep.problems)


def test_dangling_link_and_ref(repo):
    os.unlink(repo.store._loose_path(repo.ids[4]))  # the callnode the job links to
    repo.refs.set("execs/ghost", b"\x07" * 32)
    rep = fsck(repo.store, repo.refs)
    assert any(p.kind == "link" and repo.ids[4].hex() in p.message for p in rep.problems)
    assert any(p.kind == "ref" and p.name == "execs/ghost" for p in rep.problems)


def test_damaged_ref_file(repo):
    with open(os.path.join(repo.root, "refs", "execs", "one"), "w") as f:
        f.write("not hex\n")
    rep = fsck(repo.store, repo.refs)
    assert [p.name for p in rep.problems if p.kind == "ref"] == ["execs/one"]


def test_crash_debris_is_a_note_not_damage(repo):
    w = repo.store.pack_writer()
    w.add(encode(Blob(b"x")))
    rep = fsck(repo.store, repo.refs)
    assert rep.ok and any("tmp-" in n for n in rep.notes)
    w.abort()


def test_generic_store_path():
    store, refs = MemoryStore(), MemoryRefs()
    ids = [store.put(x) for x in graph(0)]
    refs.set("execs/a", ids[-1])
    assert fsck(store, refs).ok
    store._objects[ids[1]] = b"tampered"
    rep = fsck(store, refs)
    assert rep.bad_objects() == {ids[1].hex()}


def test_walk_closure_and_stop():
    store = MemoryStore()
    ids = [store.put(x) for x in graph(0)]
    seen = [oid for oid, _ in walk(store, [ids[-1]])]
    assert seen[0] == ids[-1] and set(seen) == set(ids) and len(seen) == len(ids)
    cut = [oid for oid, _ in walk(store, [ids[-1]], stop=lambda o: o == ids[4])]
    assert ids[4] not in cut and ids[0] in cut  # task still reached via the job
    bounded = [oid for oid, _ in walk(store, [ids[-1], ids[-1]], max_visited=1)]
    assert set(bounded) == set(ids)
    missing = []
    del store._objects[ids[2]]
    list(walk(store, [ids[-1]], on_missing=lambda o, parent: missing.append((o, parent))))
    assert missing == [(ids[2], ids[3])]
    with pytest.raises(Exception, match=ids[2].hex()):
        list(walk(store, [ids[-1]]))


def test_cli_exit_codes(repo, tmp_path):
    runner = CliRunner()
    ok = runner.invoke(cli, ["-c", repo.root, "fsck"])
    assert ok.exit_code == 0, ok.output
    assert "OK" in ok.output
    path = repo.store._loose_path(repo.ids[-1])
    flip(path, os.path.getsize(path) - 1)
    bad = runner.invoke(cli, ["-c", repo.root, "fsck"])
    assert bad.exit_code == 1
    assert repo.ids[-1].hex() in bad.output


@pytest.mark.slow
def test_cli_subprocess_recover(repo):
    w = repo.store.pack_writer()
    oid = w.add(encode(Blob(b"crashed")))
    os.close(w.fd)  # simulate a crash: tmp pack left, lock released
    repo.store._writers.remove(w)
    p = subprocess.run([sys.executable, "-m", "redun", "-c", repo.root, "fsck", "--recover"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "recovered 1 pack" in p.stdout
    assert Repo.open(repo.root).store.has(oid)


@pytest.mark.parametrize("what", ["length", "header-oid", "magic", "body"])
def test_pack_damage_names_every_bad_object_and_checks_the_rest(tmp_path, what):
    """Damage in one entry: fsck names it and still verifies every other entry."""
    from redun.objects.directory import DirectoryStore

    s = DirectoryStore(str(tmp_path / "s"))
    blobs = [Blob(b"%d" % i * 50) for i in range(40)]
    with s.pack_writer() as w:
        ids = [w.add(encode(b)) for b in blobs]
        off, size = w.entries[ids[10]]
    pack = only_file(s.packs_dir, ".pack")
    at = {"length": off + 33, "header-oid": off + 3, "magic": 2, "body": off + size - 2}[what]
    flip(pack, at, 0x40)
    rep = fsck(DirectoryStore(s.root))
    assert any(p.kind == "pack" for p in rep.problems)
    assert rep.objects == 40
    bad = rep.bad_objects()
    if what == "magic":
        assert any("bad header" in p.message for p in rep.problems)
    else:
        assert bad == {ids[10].hex()}, [str(p) for p in rep.problems]
