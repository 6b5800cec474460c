"""The ObjectStore contract (redun/objects/store.py), run over every implementation."""

import os

import pytest

from redun.errors import AmbiguousPrefixError, InvalidIdError, NotFoundError
from redun.objects import Task, Value, decode, encode
from redun.objects.directory import DirectoryStore
from redun.objects.ids import object_id
from redun.objects.memory import MemoryStore



class PackedDirectoryStore(DirectoryStore):
    """A DirectoryStore whose puts go through a PackWriter committed on flush()."""

    def __init__(self, root):
        super().__init__(root)
        self._w = None

    def put_bytes(self, canonical):
        if self._w is None:
            self._w = self.pack_writer()
        return self._w.add(canonical)

    def flush(self):
        if self._w is not None:
            self._w.commit()
            self._w = None


class WriterPgStore:
    """A PgStore whose puts go through its batched writer, committed on flush()."""

    @staticmethod
    def make(db):
        from redun.pg.store import PgStore

        class _S(PgStore):
            _w = None

            def put_bytes(self, canonical):
                if self._w is None:
                    self._w = self.pack_writer()
                return self._w.add(canonical)

            def flush(self):
                if self._w is not None:
                    self._w.commit()
                    self._w = None

        return _S(db)


def _pg_store(request, writer: bool):
    from redun.pg import PgDatabase
    from redun.pg.store import PgStore

    server = request.getfixturevalue("pg_server")
    uri = server.create_database()
    db = PgDatabase(uri, uri)
    db.ensure_repository(create=True)
    return WriterPgStore.make(db) if writer else PgStore(db)


@pytest.fixture(params=["memory", "directory", "directory-packed",
                        pytest.param("postgres", marks=pytest.mark.postgres),
                        pytest.param("postgres-writer", marks=pytest.mark.postgres)])
def store(request, tmp_path):
    if request.param == "memory":
        s = MemoryStore()
    elif request.param == "directory":
        s = DirectoryStore(str(tmp_path / "repo"))
    elif request.param.startswith("postgres"):
        s = _pg_store(request, writer=request.param == "postgres-writer")
    else:
        s = PackedDirectoryStore(str(tmp_path / "repo"))
    yield s
    s.close()
    if hasattr(s, "db"):
        s.db.close()


def task(i):
    return Task(bytes([i % 256]) * 20, "ns", f"t{i}", f"def t{i}():\n    pass\n")


def test_put_get_roundtrip(store):
    oid = store.put(task(1))
    assert oid == object_id(encode(task(1)))
    assert store.get(oid) == task(1)
    assert store.has(oid)
    assert decode(store.get_bytes(oid), strict=True) == task(1)


def test_put_is_idempotent(store):
    a = store.put(task(2))
    b = store.put_bytes(encode(task(2)))
    store.flush()
    assert a == b
    assert list(store.iter_ids()).count(a) == 1


def test_visible_after_flush(store):
    oid = store.put(task(3))
    store.flush()
    assert store.get(oid) == task(3)


def test_missing_object(store):
    with pytest.raises(NotFoundError):
        store.get(b"\x00" * 32)
    assert not store.has(b"\x00" * 32)


def test_missing_lists_absent_ids(store):
    present = [store.put(task(i)) for i in range(5)]
    absent = [bytes([i]) * 32 for i in range(3)]
    assert store.missing(present + absent) == absent


def test_prefix_resolution(store):
    oids = [store.put(task(i)) for i in range(300)]
    store.flush()
    assert store.resolve_prefix(oids[0].hex()[:10]) == oids[0]
    assert store.resolve_prefix(oids[7].hex()) == oids[7]
    assert store.resolve_prefix(oids[7].hex()[:9].upper()) == oids[7]  # case-insensitive
    with pytest.raises(AmbiguousPrefixError) as e:
        store.resolve_prefix(oids[0].hex()[:1])
    assert len(e.value.candidates) > 1
    assert all(c.startswith(oids[0].hex()[:1]) for c in e.value.candidates)
    assert "Use a longer prefix" in str(e.value)


def test_prefix_not_found_and_invalid(store):
    store.put(task(1))
    with pytest.raises(NotFoundError):
        store.resolve_prefix("f" * 64 if not store.has(bytes.fromhex("f" * 64)) else "0" * 64)
    for bad in ("", "xyz", "../etc", "a" * 65, "12 4"):
        with pytest.raises(InvalidIdError):
            store.resolve_prefix(bad)


def test_iter_ids_streams_each_once(store):
    oids = {store.put(task(i)) for i in range(50)}
    store.flush()
    got = list(store.iter_ids())
    assert len(got) == len(set(got)) == 50
    assert set(got) == oids


def test_iter_records(store):
    oids = {store.put(task(i)): task(i) for i in range(10)}
    store.flush()
    assert dict(store.iter_records()) == oids


def test_large_object(store):
    v = Value(b"\x01" * 20, "builtins.bytes", "native", os.urandom(300_000), (), 300_000, (), None)
    oid = store.put(v)
    store.flush()
    assert store.get(oid) == v
    compressible = Value(b"\x02" * 20, "builtins.str", "native", b"ab" * 500_000, (), 1_000_000, (), None)
    oid = store.put(compressible)
    store.flush()
    assert store.get(oid) == compressible


def test_a_live_run_hold_is_released_once_and_changes_no_object(store):
    """hold_live_run: a handle whose release() ends the hold (a second release is harmless);
    reads and writes go on beside it (a database store holds a lock of its own, pg/liveruns.py)."""
    before = store.put(task(1))
    hold = store.hold_live_run(b"\x05" * 16)
    during = store.put(task(2))
    store.flush()
    hold.release()
    hold.release()
    assert store.get(before) == task(1) and store.get(during) == task(2)


def test_wrong_length_id_rejected(store):
    for bad in (b"../../etc/passwd", b"\x00" * 31, "a" * 64):
        with pytest.raises(InvalidIdError):
            store.get(bad)


def test_reopen_sees_everything(tmp_path):
    root = str(tmp_path / "r")
    s = DirectoryStore(root)
    loose = s.put(task(1))
    with s.pack_writer() as w:
        packed = [w.add(encode(task(i))) for i in range(2, 40)]
    s2 = DirectoryStore(root)
    assert s2.get(loose) == task(1)
    assert [s2.get(o) for o in packed] == [task(i) for i in range(2, 40)]
    assert set(s2.iter_ids()) == {loose, *packed}
