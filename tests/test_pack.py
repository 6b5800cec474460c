"""Packs, pack indexes, PackWriter, pack_loose, repack and recover on a real directory."""

import fcntl
import os

import blake3
import pytest

from redun.errors import CorruptObjectError, NotFoundError
from redun.objects import Task, encode
from redun.objects.directory import DirectoryStore
from redun.objects.ids import object_id
from redun.objects.pack import PackIndex, build_index, pack_name


def task(i):
    return Task(i.to_bytes(20, "big"), "ns", f"t{i}", f"def t{i}():\n    return {i}\n")


def data(i):
    return encode(task(i))


def files(store, suffix):
    return sorted(f for f in os.listdir(store.packs_dir) if f.endswith(suffix))


def test_writer_roundtrip_and_visibility(tmp_path):
    root = str(tmp_path / "r")
    s = DirectoryStore(root)
    other = DirectoryStore(root)
    w = s.pack_writer()
    oids = [w.add(data(i)) for i in range(50)]
    assert len(w) == 50 and oids[3] in w
    assert s.get(oids[3]) == task(3)  # readable at once in this process
    assert not other.has(oids[3])  # invisible to others before commit
    name = w.commit()
    assert w.commit() == name  # idempotent
    assert other.get(oids[3]) == task(3)  # other store refreshes on miss
    assert files(s, ".pack") == [f"pack-{name}.pack"] and files(s, ".idx") == [f"pack-{name}.idx"]
    assert name == pack_name(sorted(oids))


def test_add_many_and_duplicates(tmp_path):
    s = DirectoryStore(str(tmp_path / "r"))
    with s.pack_writer() as w:
        got = w.add_many([data(1), data(2), data(1)] + [data(i) for i in range(3, 2000)])
        w.add(data(2))
        w.add_stored_many([(object_id(data(5)), b"\x00" + data(5))])
    assert got[0] == got[2]
    assert len(w) == 1999
    assert {o for o in s.iter_ids()} == set(got)
    assert [s.get(o) for o in got[:3]] == [task(1), task(2), task(1)]


def test_equal_packs_get_equal_names(tmp_path):
    a = DirectoryStore(str(tmp_path / "a")).write_pack(data(i) for i in range(10))
    b = DirectoryStore(str(tmp_path / "b")).write_pack(data(i) for i in reversed(range(10)))
    assert a == b


def test_abort_and_exception_leave_nothing(tmp_path):
    s = DirectoryStore(str(tmp_path / "r"))
    w = s.pack_writer()
    oid = w.add(data(1))
    w.abort()
    with pytest.raises(RuntimeError):
        with s.pack_writer() as w2:
            w2.add(data(2))
            raise RuntimeError("boom")
    assert os.listdir(s.packs_dir) == []
    assert not s.has(oid)


def test_empty_writer_commits_nothing(tmp_path):
    s = DirectoryStore(str(tmp_path / "r"))
    assert s.pack_writer().commit() is None
    assert os.listdir(s.packs_dir) == []


def test_pack_loose(tmp_path):
    s = DirectoryStore(str(tmp_path / "r"))
    oids = [s.put(task(i)) for i in range(30)]
    assert set(s.iter_loose()) == set(oids)
    name = s.pack_loose()
    assert name and list(s.iter_loose()) == []
    assert [s.get(o) for o in oids] == [task(i) for i in range(30)]
    assert s.pack_loose() is None


def test_prefix_lookup_across_packs_and_loose(tmp_path):
    s = DirectoryStore(str(tmp_path / "r"))
    packed = []
    for k in range(5):
        with s.pack_writer() as w:
            packed += [w.add(data(100 * k + i)) for i in range(40)]
    loose = [s.put(task(1000 + i)) for i in range(40)]
    for oid in packed + loose:
        assert s.resolve_prefix(oid.hex()[:12]) == oid
    for digit in "0123456789abcdef":
        expect = sorted(o for o in packed + loose if o.hex().startswith(digit))
        assert sorted(s.prefix_candidates(digit, limit=10_000)) == expect


def test_repack_merges_and_readers_survive(tmp_path):
    root = str(tmp_path / "r")
    s = DirectoryStore(root)
    oids = []
    for k in range(4):
        with s.pack_writer() as w:
            oids += [w.add(data(50 * k + i)) for i in range(50)]
    oids += [s.put(task(900 + i)) for i in range(5)]
    reader = DirectoryStore(root)  # holds mmaps of the old packs
    assert len(reader.packs()) == 4
    name = DirectoryStore(root).repack()
    assert files(s, ".idx") == [f"pack-{name}.idx"] and files(s, ".pack") == [f"pack-{name}.pack"]
    assert list(s.iter_loose()) == []
    assert [reader.get(o) for o in oids[:200]] == [task(i) for i in range(200)]  # old mmaps still valid
    assert reader.get(oids[-1]) == task(904)  # loose one: miss -> refresh -> new pack
    assert len(reader.packs()) == 1
    assert set(DirectoryStore(root).iter_ids()) == set(oids)
    assert DirectoryStore(root).repack() == name  # one pack: nothing to do


def test_repack_refuses_corrupt_source(tmp_path):
    root = str(tmp_path / "r")
    s = DirectoryStore(root)
    s.write_pack(data(i) for i in range(10))
    s.write_pack(data(i) for i in range(10, 20))
    victim = os.path.join(s.packs_dir, files(s, ".pack")[0])
    raw = bytearray(open(victim, "rb").read())
    raw[-3] ^= 0xFF
    open(victim, "wb").write(bytes(raw))
    before = os.listdir(s.packs_dir)
    with pytest.raises(CorruptObjectError):
        DirectoryStore(root).repack()
    assert sorted(os.listdir(s.packs_dir)) == sorted(before)


def _leave_tmp_pack(store, n, torn=0):
    """A writer that 'crashed': its tmp pack stays, its lock is released."""
    w = store.pack_writer()
    oids = [w.add(data(i)) for i in range(n)]
    if torn:
        os.write(w.fd, b"\x01" * torn)  # half an entry
    os.close(w.fd)
    store._writers.remove(w)
    return oids


def test_recover_salvages_valid_prefix(tmp_path):
    root = str(tmp_path / "r")
    oids = _leave_tmp_pack(DirectoryStore(root), 25, torn=50)
    s = DirectoryStore(root)
    assert not s.has(oids[0])
    names = s.recover()
    assert len(names) == 1
    assert [s.get(o) for o in oids] == [task(i) for i in range(25)]
    assert not [f for f in os.listdir(s.packs_dir) if f.startswith("tmp-")]


def test_recover_keeps_prefix_before_corrupt_entry(tmp_path):
    root = str(tmp_path / "r")
    s = DirectoryStore(root)
    w = s.pack_writer()
    oids = [w.add(data(i)) for i in range(10)]
    off, size = w.entries[oids[6]]
    os.close(w.fd)
    s._writers.remove(w)
    raw = bytearray(open(w.tmp_path, "rb").read())
    raw[off + size - 2] ^= 0xFF
    open(w.tmp_path, "wb").write(bytes(raw))
    s.recover()
    assert all(s.has(o) for o in oids[:6])
    assert not any(s.has(o) for o in oids[6:])


def test_recover_leaves_live_writers_alone(tmp_path):
    root = str(tmp_path / "r")
    s = DirectoryStore(root)
    w = s.pack_writer()
    oid = w.add(data(1))
    assert DirectoryStore(root).recover() == []
    assert os.path.exists(w.tmp_path)
    w.commit()
    assert DirectoryStore(root).get(oid) == task(1)


def test_recover_indexes_pack_without_index(tmp_path):
    root = str(tmp_path / "r")
    s = DirectoryStore(root)
    name = s.write_pack(data(i) for i in range(10))
    os.unlink(os.path.join(s.packs_dir, f"pack-{name}.idx"))
    s2 = DirectoryStore(root)
    assert s2.recover() == [name]
    assert files(s2, ".idx") == [f"pack-{name}.idx"]
    assert DirectoryStore(root).get(object_id(data(3))) == task(3)


def test_recover_skips_pack_being_installed(tmp_path):
    root = str(tmp_path / "r")
    s = DirectoryStore(root)
    name = s.write_pack(data(i) for i in range(10))
    idx = os.path.join(s.packs_dir, f"pack-{name}.idx")
    os.rename(idx, idx + ".hold")
    fd = os.open(os.path.join(s.packs_dir, f"pack-{name}.pack"), os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # an installer holds the pack's lock
    try:
        assert DirectoryStore(root).recover() == []
        assert os.path.exists(os.path.join(s.packs_dir, f"pack-{name}.pack"))
    finally:
        os.close(fd)
        os.rename(idx + ".hold", idx)


def test_index_format_checks(tmp_path):
    entries = [(bytes([i]) * 32, 8 + 40 * i, 40) for i in range(5)]
    raw = build_index(entries, b"\x00" * 32)
    idx = PackIndex(raw, "mem")
    idx.verify_checksum()
    assert idx.find(bytes([3]) * 32) == (8 + 120, 40)
    assert idx.find(b"\x09" * 32) is None
    assert list(idx) == [e[0] for e in entries]
    with pytest.raises(CorruptObjectError, match="truncated"):
        PackIndex(raw[:-1], "mem")
    with pytest.raises(CorruptObjectError, match="header"):
        PackIndex(b"XXXX" + raw[4:], "mem")
    bad = bytearray(raw)
    bad[12 + 1024 + 5] ^= 1
    with pytest.raises(CorruptObjectError, match="checksum"):
        PackIndex(bytes(bad), "mem").verify_checksum()


def test_missing_object_after_refresh(tmp_path):
    s = DirectoryStore(str(tmp_path / "r"))
    with pytest.raises(NotFoundError):
        s.get_bytes(b"\x05" * 32)


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from redun.objects.pack import PACK_MAGIC, scan_entries  # noqa: E402


@settings(max_examples=200)
@given(st.binary(max_size=3000), st.binary(min_size=32, max_size=32))
def test_fuzzed_index_bytes_give_clean_errors(raw, probe):
    try:
        idx = PackIndex(raw, "fuzz")
    except CorruptObjectError:
        return
    try:
        idx.verify_checksum()
    except CorruptObjectError:
        pass
    idx.find(probe)
    idx.with_prefix(probe.hex()[:3], 5)


@settings(max_examples=200)
@given(st.binary(max_size=2000))
def test_fuzzed_pack_bytes_scan_cleanly(raw):
    for data in (raw, PACK_MAGIC + raw):
        try:
            for oid, off, size, stored in scan_entries(data, "fuzz"):
                assert len(oid) == 32 and len(stored) == size - 36
        except CorruptObjectError:
            pass


def test_fuzzed_index_with_valid_header(tmp_path):
    """A valid index with random damage: lookups either work or fail with CorruptObjectError."""
    import random

    entries = [(os.urandom(32), 8 + 40 * i, 40) for i in range(300)]
    raw = build_index(entries, b"\x00" * 32)
    rnd = random.Random(5)
    for _ in range(300):
        bad = bytearray(raw)
        for _ in range(rnd.randint(1, 8)):
            bad[rnd.randrange(len(bad))] = rnd.randrange(256)
        try:
            idx = PackIndex(bytes(bad), "fuzz")
            for oid, _, _ in entries[:20]:
                idx.find(oid)
        except CorruptObjectError:
            pass


def test_busy_big_index_switches_to_fine_fanout():
    ids = sorted({os.urandom(32) for _ in range(9000)} | {b"\x00" * 32, b"\xff" * 32, b"\x12\x34" + b"\x00" * 30})
    idx = PackIndex(build_index([(o, 8 + 40 * i, 40) for i, o in enumerate(ids)], b"\x00" * 32), "mem")
    absent = [os.urandom(32) for _ in range(700)]
    for round_ in range(2):  # before and after the switch (after 512 lookups)
        for i, o in enumerate(ids[:700]):
            assert idx.position(o) == i
        assert all(idx.position(o) is None for o in absent if o not in ids)
    assert idx._fan2 is not None
    assert idx.position(b"\xff" * 32) == len(ids) - 1 and idx.position(b"\x00" * 32) == 0


def test_adding_to_a_finished_writer_is_an_error(tmp_path):
    from redun.errors import RedunError

    s = DirectoryStore(str(tmp_path / "r"))
    w = s.pack_writer()
    w.add(data(1))
    w.commit()
    for call in (lambda: w.add(data(2)), lambda: w.add_many([data(3)]), lambda: w.add_stored(b"\x01" * 32, b"\x00x")):
        with pytest.raises(RedunError, match="already committed"):
            call()


def test_iter_ids_once_with_loose_duplicates(tmp_path):
    root = str(tmp_path / "r")
    s = DirectoryStore(root)
    s.write_pack(data(i) for i in range(10))
    dup = object_id(data(3))
    s.put_stored(dup, b"\x00" + data(3))  # has() is true, so write the file by hand
    path = s._loose_path(dup)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, "wb").write(b"\x00" + data(3))
    s.put(task(50))
    ids = list(DirectoryStore(root).iter_ids())
    assert len(ids) == len(set(ids)) == 11
    s.write_pack(data(i) for i in range(5, 15))  # second pack overlapping the first
    ids = list(DirectoryStore(root).iter_ids())
    assert len(ids) == len(set(ids)) == 16


from hypothesis import HealthCheck  # noqa: E402
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule  # noqa: E402


class StoreMachine(RuleBasedStateMachine):
    """Random puts, packs, repacks and crashes through two stores on one directory:
    every object ever written stays readable from both, with the right content."""

    def __init__(self):
        super().__init__()
        import tempfile

        self.root = tempfile.mkdtemp(prefix="storemachine-")
        self.a, self.b = DirectoryStore(self.root), DirectoryStore(self.root)
        self.model = {}
        self.n = 0
        self.writer = None

    def _next(self):
        self.n += 1
        return data(self.n)

    @rule()
    def put_loose(self):
        d = self._next()
        self.model[self.a.put_bytes(d)] = d

    @rule(k=st.integers(1, 30))
    def write_pack(self, k):
        ds = [self._next() for _ in range(k)]
        self.a.write_pack(ds)
        self.model.update({object_id(d): d for d in ds})

    @rule(k=st.integers(1, 10))
    def add_to_open_writer(self, k):
        if self.writer is None:
            self.writer = self.a.pack_writer()
        for _ in range(k):
            d = self._next()
            self.model[self.writer.add(d)] = d

    @rule()
    def commit_writer(self):
        if self.writer is not None:
            self.writer.commit()
            self.writer = None

    @rule()
    def crash_writer(self):
        if self.writer is not None:  # as if the process died: lock released, file left
            os.close(self.writer.fd)
            self.a._writers.remove(self.writer)
            self.writer = None
            self.b.recover()

    @rule()
    def repack_from_b(self):
        if self.writer is None:
            self.b.repack()

    @rule()
    def pack_loose(self):
        self.b.pack_loose()

    @invariant()
    def everything_readable(self):
        for store in (self.a, self.b):
            for oid, d in list(self.model.items())[-40:]:
                if self.writer is not None and oid in self.writer and store is self.b:
                    continue  # uncommitted: only its own process sees it
                assert store.get_bytes(oid) == d

    def teardown(self):
        import shutil

        from redun.objects.fsck import fsck

        if self.writer is not None:
            self.writer.commit()
        report = fsck(DirectoryStore(self.root))
        assert report.ok, [str(p) for p in report.problems]
        assert set(DirectoryStore(self.root).iter_ids()) == set(self.model)
        shutil.rmtree(self.root, ignore_errors=True)


TestStoreMachine = StoreMachine.TestCase
TestStoreMachine.settings = settings(max_examples=25, stateful_step_count=25, deadline=None,
                                     suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("ids,ok", [
    ([b"\x01" * 32, b"\x02" * 32, b"\x03" * 32], True),
    ([b"\x01" * 32, b"\x03" * 32, b"\x02" * 32], False),  # out of order
    ([b"\x01" * 32, b"\x01" * 32], False),  # twice
    ([b"\x01" * 8 + b"\x02" * 24, b"\x01" * 8 + b"\x03" * 24], True),  # same first 8 bytes, in order
    ([b"\x01" * 8 + b"\x03" * 24, b"\x01" * 8 + b"\x02" * 24], False),  # same first 8 bytes, out of order
])
def test_ids_in_order(ids, ok):
    from redun.objects.pack import PackIndex, ids_in_order, index_parts

    counts = [0] * 256
    for oid in ids:
        counts[oid[0]] += 1
    body = b"".join(index_parts(b"".join(ids), b"\0" * 8 * len(ids), b"\0" * 4 * len(ids), counts, b"\0" * 32))
    assert ids_in_order(PackIndex(body + blake3.blake3(body).digest(), "test")) is ok
