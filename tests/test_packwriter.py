"""The one PackWriter: both bookkeeping modes write the same pack and index
bytes as the format's reference builder (pack.build_index), over any sink."""

import os

import blake3
import pytest

from redun.objects import compress
from redun.objects.directory import DirectoryStore
from redun.objects.pack import PACK_MAGIC, PackIndex, build_index, entry_bytes, pack_name
from redun.objects.packfile import PackFile
from redun.objects.packwriter import PackWriter


def _objects(n):
    out = []
    for i in range(n):
        canonical = b"object %d " % i + os.urandom(i % 50)
        out.append((blake3.blake3(canonical).digest(), compress.compress(canonical)))
    return out


def _reference(items):
    """Pack and index bytes built straight from the format description."""
    body, entries, off = bytearray(PACK_MAGIC), [], len(PACK_MAGIC)
    for oid, stored in items:
        e = entry_bytes(oid, stored)
        entries.append((oid, off, len(e)))
        body += e
        off += len(e)
    return bytes(body), build_index(entries, blake3.blake3(body).digest())


@pytest.mark.parametrize("sorted_ids", [False, True])
def test_same_bytes_as_the_format_reference(tmp_path, sorted_ids):
    items = _objects(300)
    if sorted_ids:
        items.sort()
    w = PackWriter(PackFile(str(tmp_path)), sorted_ids=sorted_ids)
    w.add_stored(*items[0])
    w.add_stored_many(items[1:200])
    w.append_stored([o for o, _ in items[200:]], [s for _, s in items[200:]])
    w.add_stored(*items[-1])  # a duplicate is skipped
    assert len(w) == 300
    assert all(w.read(oid) == stored for oid, stored in items[::37])
    assert w.read(b"\x00" * 32) is None
    name = w.commit()
    pack, idx = _reference(items)
    assert name == pack_name(sorted(o for o, _ in items))
    assert open(tmp_path / f"pack-{name}.pack", "rb").read() == pack
    assert open(tmp_path / f"pack-{name}.idx", "rb").read() == idx
    PackIndex(idx, "ref").verify_checksum()
    assert sorted(os.listdir(tmp_path)) == [f"pack-{name}.idx", f"pack-{name}.pack"]


def test_append_stored_skips_repeats_as_the_general_path_does(tmp_path):
    """The run's per-job write (append_stored) frames entries itself: with ids repeated in a
    batch and across batches, the pack is the reference's of the first copies."""
    items = _objects(60)
    os.makedirs(tmp_path / "a")
    w = PackWriter(PackFile(str(tmp_path / "a")))
    w.append_stored([o for o, _ in items[:30]], [s for _, s in items[:30]])
    batch = items[25:45] + items[40:42] + [items[3]]
    w.append_stored([o for o, _ in batch], [s for _, s in batch])
    w.append_stored([items[0][0]], [items[0][1]])  # nothing new: nothing written
    w.append_stored([o for o, _ in items[45:]], [s for _, s in items[45:]])
    assert len(w) == 60 and all(w.read(oid) == stored for oid, stored in items)
    name = w.commit()
    pack, idx = _reference(items)
    assert open(tmp_path / "a" / f"pack-{name}.pack", "rb").read() == pack
    assert open(tmp_path / "a" / f"pack-{name}.idx", "rb").read() == idx


def test_sorted_writer_refuses_ids_out_of_order(tmp_path):
    a, b = sorted(_objects(2))
    w = PackWriter(PackFile(str(tmp_path)), sorted_ids=True)
    w.add_stored(*b)
    with pytest.raises(ValueError, match="increasing order"):
        w.add_stored(*a)
    w.abort()
    assert os.listdir(tmp_path) == []


def test_empty_commit_and_abort_leave_nothing(tmp_path):
    assert PackWriter(PackFile(str(tmp_path))).commit() is None
    w = PackWriter(PackFile(str(tmp_path)))
    w.add_stored(*_objects(1)[0])
    w.abort()
    assert os.listdir(tmp_path) == []


def test_objects_are_readable_through_the_store_while_written(tmp_path):
    s = DirectoryStore(str(tmp_path / "s"))
    items = _objects(10)
    with s.pack_writer() as w:
        w.add_stored_many(items)
        assert s.get_stored(items[3][0])[0] == items[3][1]
        assert not DirectoryStore(s.root).has(items[3][0])  # other readers: after commit
    assert DirectoryStore(s.root).has(items[3][0])
    with pytest.raises(Exception, match="already committed"):
        w.add_stored(*_objects(1)[0])


class _CountingSink(PackFile):
    """A sink elsewhere: records what install() was handed (as S3's upload does)."""

    installed = None

    def install(self, name, index):
        self.installed = (name, b"".join(index), open(self.path, "rb").read())
        os.unlink(self.path)


def test_a_sink_gets_the_finished_pack_and_index(tmp_path):
    items = _objects(20)
    sink = _CountingSink(str(tmp_path))
    w = PackWriter(sink)
    w.add_stored_many(items)
    assert w.commit() == sink.installed[0]
    pack, idx = _reference(items)
    assert sink.installed[1:] == (idx, pack)
