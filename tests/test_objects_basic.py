"""Smoke tests of the object layer; the full contract suites live beside it."""

import pytest

from redun.errors import AmbiguousPrefixError, NotFoundError
from redun.objects import Task, decode, encode
from redun.objects.directory import DirectoryStore
from redun.objects.memory import MemoryStore


@pytest.fixture(params=["memory", "directory"])
def store(request, tmp_path):
    if request.param == "memory":
        return MemoryStore()
    return DirectoryStore(str(tmp_path / "repo"))


def task(i):
    return Task(bytes([i % 256]) * 20, "ns", f"t{i}", f"def t{i}():\n    pass\n")


def test_put_get_roundtrip(store):
    oid = store.put(task(1))
    assert store.get(oid) == task(1)
    assert store.has(oid)
    assert decode(store.get_bytes(oid), strict=True) == task(1)


def test_missing_object(store):
    with pytest.raises(NotFoundError):
        store.get(b"\x00" * 32)


def test_prefix_resolution(store):
    oids = [store.put(task(i)) for i in range(300)]
    assert store.resolve_prefix(oids[0].hex()[:10]) == oids[0]
    with pytest.raises(AmbiguousPrefixError) as e:
        store.resolve_prefix(oids[0].hex()[:1])
    assert oids[0].hex() in str(e.value) or len(e.value.candidates) > 1


def test_pack_roundtrip(tmp_path):
    s = DirectoryStore(str(tmp_path / "r"))
    with s.pack_writer() as w:
        oids = [w.add(encode(task(i))) for i in range(50)]
    s2 = DirectoryStore(str(tmp_path / "r"))
    assert [s2.get(o) for o in oids] == [task(i) for i in range(50)]
    assert set(s2.iter_ids()) == set(oids)
