"""Blob chunking: ids match the codec, round trips over every sink, dedup, corruption."""

import os

import pytest

from redun.errors import CorruptObjectError, DecodeError, NotFoundError
from redun.objects import blobs, codec
from redun.objects.directory import DirectoryStore
from redun.objects.ids import object_id
from redun.objects.memory import MemoryStore
from redun.objects.records import Blob, Value

H = b"\x11" * 20


@pytest.mark.parametrize("n", [0, 1, 255, 256, 65535, 65536, 1 << 20])
def test_blob_encoding_matches_codec(n):
    chunk = os.urandom(n)
    canonical = codec.encode(Blob(chunk))
    assert blobs.blob_canonical(chunk) == canonical
    assert blobs.blob_id(chunk) == object_id(canonical)
    assert bytes(blobs.blob_data(canonical)) == chunk


def test_blob_data_rejects_other_records():
    with pytest.raises(DecodeError):
        blobs.blob_data(codec.encode(Value(H, "str", "native", b"x")))
    canonical = blobs.blob_canonical(b"abc")
    with pytest.raises(DecodeError):
        blobs.blob_data(canonical + b"!")


def test_chunk_bounds_spans():
    cs = blobs.MIN_CHUNK
    b = list(blobs.chunk_bounds(10 * cs, cs, [(100, 100 + 2 * cs + 5)]))
    assert b[0] == (0, 100)
    assert b[1] == (100, 100 + cs)
    assert b[3] == (100 + 2 * cs, 100 + 2 * cs + 5)
    assert b[-1][1] == 10 * cs
    assert all(e - s <= cs for s, e in b)
    assert [x for s, e in b for x in (s, e)][1:-1:2] == [x for s, e in b for x in (s, e)][2::2]
    with pytest.raises(ValueError):
        list(blobs.chunk_bounds(10, cs, [(5, 20)]))


def _sinks(tmp_path):
    mem = MemoryStore()
    d1 = DirectoryStore(str(tmp_path / "d1"))
    d2 = DirectoryStore(str(tmp_path / "d2"))
    w = d2.pack_writer()
    return [(mem, mem, None), (d1, d1, None), (w, d2, w)]


@pytest.mark.parametrize("kind", ["random", "text"])
def test_round_trip_every_sink(tmp_path, kind):
    payload = os.urandom(300_000) if kind == "random" else b"hello world " * 25_000
    for target, store, writer in _sinks(tmp_path):
        oids = blobs.put_payload(target, payload, chunk_size=64 * 1024)
        assert len(oids) == 5
        v = Value(H, "bytes", "native", b"", oids, len(payload))
        assert blobs.read_payload(store, v) == payload  # readable before commit
        if writer is not None:
            writer.commit()
            fresh = DirectoryStore(store.root)
            assert blobs.read_payload(fresh, v) == payload
        for oid in oids:
            assert isinstance(store.get(oid), Blob)


def test_text_is_compressed_random_is_raw(tmp_path):
    store = DirectoryStore(str(tmp_path / "d"))
    (t,) = blobs.put_payload(store, b"abc" * 100_000, chunk_size=1 << 20)
    (r,) = blobs.put_payload(store, os.urandom(300_000), chunk_size=1 << 20)
    assert store.get_stored(t)[0][:1] == b"\x01"
    assert store.get_stored(r)[0][:1] == b"\x00"


def test_dedup_within_and_across_payloads(tmp_path):
    store = DirectoryStore(str(tmp_path / "d"))
    block = os.urandom(blobs.MIN_CHUNK * 4)
    oids = blobs.put_payload(store, block * 3, chunk_size=len(block))
    assert len(set(oids)) == 1
    again = blobs.put_payload(store, block, chunk_size=len(block))
    assert again == oids[:1]
    assert len(list(store.iter_loose())) == 1


def test_spans_align_nested_items_with_their_own_payload():
    # A list payload holding three big items: chunking each item's span from its
    # start gives the same blobs as chunking each item alone.
    store = MemoryStore()
    items = [os.urandom(5 * blobs.MIN_CHUNK + 17) for _ in range(3)]
    head = b"\x93"
    parts, spans, pos = [head], [], len(head)
    for it in items:
        parts.append(b"\xc6" + len(it).to_bytes(4, "big"))
        pos += 5
        spans.append((pos, pos + len(it)))
        parts.append(it)
        pos += len(it)
    payload = b"".join(parts)
    list_oids = blobs.put_payload(store, payload, chunk_size=blobs.MIN_CHUNK, spans=spans)
    item_oids = set()
    for it in items:
        item_oids.update(blobs.put_payload(store, it, chunk_size=blobs.MIN_CHUNK, spans=[(0, len(it))]))
    assert item_oids <= set(list_oids)
    stored = sum(len(store.get_bytes(o)) for o in store.iter_ids())
    assert stored < len(payload) + 2000


def test_payload_fields_threshold():
    store = MemoryStore()
    assert blobs.payload_fields(store, b"x" * 10, 1024) == {"data": b"x" * 10, "blobs": (), "size": 10}
    f = blobs.payload_fields(store, b"x" * 5000, 1024, chunk_size=blobs.MIN_CHUNK)
    assert f["data"] == b"" and len(f["blobs"]) == 2 and f["size"] == 5000
    v = Value(H, "bytes", "native", **f)
    assert blobs.read_payload(store, v) == b"x" * 5000
    assert list(blobs.iter_payload(store, Value(H, "str", "native", b"inline", (), 6))) == [b"inline"]


def test_missing_blob_and_size_mismatch():
    store = MemoryStore()
    oids = blobs.put_payload(store, b"y" * 9000, chunk_size=blobs.MIN_CHUNK)
    with pytest.raises(CorruptObjectError, match="record says"):
        blobs.read_payload(store, Value(H, "bytes", "native", b"", oids, 9001))
    gone = (b"\x00" * 32,) + oids
    with pytest.raises(NotFoundError, match="chunk 1 of 4"):
        blobs.read_payload(store, Value(H, "bytes", "native", b"", gone, 9000))


@pytest.mark.parametrize("chunk_size", [blobs.MIN_CHUNK * 2, 1 << 16])  # general and pread paths
def test_corrupt_blob_in_pack_is_detected(tmp_path, chunk_size):
    store = DirectoryStore(str(tmp_path / "d"))
    payload = os.urandom(3 * chunk_size)
    with store.pack_writer() as w:
        oids = blobs.put_payload(w, payload, chunk_size=chunk_size)
    fresh = DirectoryStore(store.root)
    good = Value(H, "bytes", "native", b"", oids, len(payload))
    assert blobs.read_payload(fresh, good) == payload
    assert b"".join(blobs.iter_payload(fresh, good)) == payload
    with pytest.raises(CorruptObjectError, match="record says"):
        blobs.read_payload(fresh, Value(H, "bytes", "native", b"", oids, len(payload) - 1))
    fresh.close()
    (pack,) = [p for p in os.listdir(store.packs_dir) if p.endswith(".pack")]
    path = os.path.join(store.packs_dir, pack)
    data = bytearray(open(path, "rb").read())
    data[-10] ^= 0xFF
    open(path, "wb").write(bytes(data))
    fresh = DirectoryStore(store.root)
    with pytest.raises(CorruptObjectError):
        blobs.read_payload(fresh, Value(H, "bytes", "native", b"", oids, len(payload)))


def test_native_spans_dedup_list_of_big_strings():
    from redun.objects.valuecodec import encode_native

    store = MemoryStore()
    items = [os.urandom(200_000).hex() for _ in range(3)]  # 400 KB strings
    payload = encode_native([1, ("x", items[0]), {"k": items[1]}, items[2]])
    spans = blobs.native_spans(payload)
    assert len(spans) == 3
    oids = blobs.put_payload(store, payload, chunk_size=1 << 16, spans=spans)
    size_list = sum(len(store.get_bytes(o)) for o in set(oids))
    for it in items:
        data = encode_native(it)
        blobs.put_payload(store, data, chunk_size=1 << 16, spans=blobs.native_spans(data))
    total = sum(len(store.get_bytes(o)) for o in store.iter_ids())
    assert total == size_list  # the items alone added nothing


def test_native_spans_gives_up_gracefully():
    assert blobs.native_spans(b"\xc1" * 100_000) == []
    assert blobs.native_spans(b"short") == []
    from redun.objects.valuecodec import encode_native

    assert blobs.native_spans(encode_native(list(range(300_000)))) == []


def test_native_spans_prefilter_never_changes_the_answer():
    """The head scan that skips the walk (spans._length32_item) is only a shortcut: on payloads
    with and without large items, among random bytes and many small items, the spans are the
    walk's."""
    import random

    import msgpack

    from redun.objects import spans as sp

    rnd = random.Random(7)
    payloads = [
        msgpack.packb(list(range(100_000))),
        msgpack.packb([rnd.randbytes(20) for _ in range(5000)]),
        msgpack.packb([rnd.randbytes(20) for _ in range(3000)] + [rnd.randbytes(70_000)]),
        msgpack.packb({"a": "x" * 70_000, "b": [1, 2, 3] * 20_000}),
        msgpack.packb([rnd.randbytes(65_535), rnd.randbytes(65_536)]),
    ]
    for payload in payloads:
        walked = sp.native_spans(memoryview(payload))  # a memoryview is always walked
        assert sp.native_spans(payload) == walked
        assert sp.native_spans(bytearray(payload)) == walked
    assert sp.native_spans(payloads[0]) == [] and sp.native_spans(payloads[2]) != []
