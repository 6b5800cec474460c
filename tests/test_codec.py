"""Canonical codec and compression framing: round-trips, canonical form, hostile bytes."""

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from redun.errors import CorruptObjectError, DecodeError
from redun.objects import Arg, Blob, CallNode, Execution, Job, Tag, Task, Value, decode, encode, encode_with_id
from redun.objects import codec, compress
from redun.objects.codec import peek_type
from redun.objects.ids import object_id

h20 = st.binary(min_size=20, max_size=20)
oid = st.binary(min_size=32, max_size=32)
uid = st.binary(min_size=16, max_size=16)
text = st.text(max_size=40)
i64 = st.integers(min_value=-(2**63), max_value=2**64 - 1)
strmap = st.dictionaries(text, text, max_size=4)
oids = st.lists(oid, max_size=4).map(tuple)

tasks = st.builds(Task, h20, text, text, st.text(max_size=300))
blobs = st.builds(Blob, st.binary(max_size=300))
values = st.builds(Value, h20, text, st.sampled_from(["native", "pickle"]), st.binary(max_size=200), oids, i64,
                   oids, st.none() | text)
args = st.builds(Arg, st.none() | st.integers(0, 1000), st.none() | text, h20, oid,
                 st.lists(h20, max_size=2).map(tuple))
callnodes = st.builds(CallNode, h20, h20, oid, text, h20, st.lists(args, max_size=4).map(tuple), h20, oid, oids, i64)
jobs = st.builds(Job, uid, uid, st.none() | uid, h20, oid, st.none() | h20, st.none() | oid, st.none() | h20,
                 st.none() | oid, i64, st.none() | i64, st.booleans(), st.sampled_from(["DONE", "CACHED", "FAILED"]),
                 oids, strmap)
executions = st.builds(Execution, uid, text, st.none() | oid, i64, st.none() | i64, strmap)
tags = st.builds(Tag, h20, text, text, text, text, st.lists(h20, max_size=3).map(tuple))
records = st.one_of(tasks, blobs, values, callnodes, jobs, executions, tags)


@pytest.mark.slow
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(records)
def test_roundtrip_is_exact_and_canonical(record):
    data = encode(record)
    back = decode(data, strict=True)
    assert back == record
    assert encode(back) == data
    assert peek_type(data) == record.TYPE
    oid_, data2 = encode_with_id(record)
    assert data2 == data and oid_ == object_id(data) and len(oid_) == 32
    assert compress.decompress(compress.compress(data)) == data


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(records)
def test_fast_encode_equals_reference_encoding(record):
    """encode builds the sorted map directly; it must give the bytes of the plain definition."""
    from redun.objects.codec import _packer_opts, _sorted

    reference = msgpack.packb([record.TYPE, record.SCHEMA, _sorted(record.to_fields())], **_packer_opts)
    assert encode(record) == reference


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(records)
def test_hot_path_encoders_equal_codec_encode(record):
    """The run writes Job, Value and CallNode records through objects/hotcodec.py."""
    from redun.objects.hotcodec import FAST_ENCODERS

    fast = FAST_ENCODERS.get(type(record))
    if fast is not None:
        assert fast(record) == encode(record)


@settings(max_examples=100)
@given(jobs)
def test_map_order_does_not_matter(job):
    data = encode(job)
    tag, schema, fields = msgpack.unpackb(data, raw=False)
    shuffled = msgpack.packb([tag, schema, dict(reversed(list(fields.items())))], use_bin_type=True)
    assert decode(shuffled) == job
    if shuffled != data:
        with pytest.raises(DecodeError, match="canonical"):
            decode(shuffled, strict=True)


@settings(max_examples=500)
@given(st.binary(max_size=400))
def test_fuzzed_bytes_give_decode_error_only(data):
    try:
        decode(data, strict=True)
    except DecodeError:
        pass


@settings(max_examples=300)
@given(records, st.data())
def test_mutated_encodings_never_crash(record, data):
    enc = bytearray(encode(record))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(enc) - 1))
        enc[i] = data.draw(st.integers(0, 255))
    try:
        decode(bytes(enc))
    except DecodeError:
        pass


def _decode_outcome(check, data):
    try:
        return check(data)
    except DecodeError as e:
        return f"DecodeError: {e}"


@settings(max_examples=300)
@given(records, st.data())
def test_checked_links_agree_with_decode_then_links(record, data):
    """A pull checks entries with checked_links (no record built): the same links, and the
    same DecodeError on the same bytes, as decoding the record."""
    enc = bytearray(encode(record))
    assert codec.checked_links(bytes(enc)) == list(record.links())
    for _ in range(data.draw(st.integers(0, 3))):
        enc[data.draw(st.integers(0, len(enc) - 1))] = data.draw(st.integers(0, 255))
    assert (_decode_outcome(codec.checked_links, bytes(enc))
            == _decode_outcome(lambda d: list(decode(d).links()), bytes(enc)))


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_fuzzed_stored_bytes_give_corrupt_error_only(stored):
    try:
        compress.decompress(stored, "fuzz")
    except CorruptObjectError:
        pass


@settings(max_examples=200)
@given(records, st.data())
def test_mutated_compressed_objects_are_caught(record, data):
    data_ = encode(record)
    stored = bytearray(compress.compress(data_))
    i = data.draw(st.integers(0, len(stored) - 1))
    stored[i] ^= data.draw(st.integers(1, 255))
    try:
        out = compress.decompress(bytes(stored), "fuzz")
    except CorruptObjectError:
        return
    assert out == data_ or object_id(out) != object_id(data_)  # the store's hash check catches it


@pytest.mark.parametrize(
    "bad, match",
    [
        (msgpack.packb(["task", 1]), "envelope"),
        (msgpack.packb(["nope", 1, {}]), "unknown record type"),
        (msgpack.packb(["task", 99, {}]), "schema version"),
        (msgpack.packb(["task", 1, []]), "must be a map"),
        (msgpack.packb(["task", 1, {"hash": b"x"}], use_bin_type=True), "lacks field|must be 20 bytes"),
        (msgpack.packb(["blob", 1, {"data": b"", "x": 1}], use_bin_type=True), "unknown fields"),
        (msgpack.packb(["blob", 1, {"data": "text"}], use_bin_type=True), "must be bytes"),
        (b"", "not a msgpack record"),
    ],
)
def test_malformed_records_are_named(bad, match):
    with pytest.raises(DecodeError, match=match):
        decode(bad)
    with pytest.raises(DecodeError, match=match):
        codec.checked_links(bad)


def test_hashes_are_binary_and_type_tag_first():
    t = Task(b"\x11" * 20, "ns", "name", "src")
    raw = msgpack.unpackb(encode(t), raw=False)
    assert raw[0] == "task" and raw[1] == Task.SCHEMA
    assert raw[2]["hash"] == b"\x11" * 20
    assert list(raw[2]) == sorted(raw[2])


def test_bool_is_not_int():
    job = msgpack.unpackb(encode(Job(b"\x01" * 16, b"\x02" * 16, None, b"\x03" * 20, b"\x04" * 32, None, None,
                                     None, None, 5, None, False, "DONE")), raw=False)
    job[2]["start_time"] = True
    with pytest.raises(DecodeError):
        decode(msgpack.packb(job, use_bin_type=True))


def test_dictionary_compression_pays_on_small_records():
    job = Job(b"\x01" * 16, b"\x02" * 16, b"\x03" * 16, bytes(range(20)), bytes(range(32)), bytes(range(1, 21)),
              bytes(range(2, 34)), bytes(range(3, 23)), bytes(range(4, 36)), 1_700_000_000_000_000,
              1_700_000_000_100_000, False, "DONE", (), {})
    data = encode(job)
    stored = compress.compress(data)
    assert stored[0] == compress.ZSTD_DICT and stored[1] == compress.CURRENT_DICT
    assert len(stored) < 0.85 * len(data)
    assert compress.decompress(stored) == data


def test_unknown_dictionary_is_a_clear_error():
    with pytest.raises(CorruptObjectError, match="dictionary 200"):
        compress.decompress(bytes([compress.ZSTD_DICT, 200]) + b"\x28\xb5\x2f\xfd", "x")


def test_legacy_plain_zstd_objects_still_read():
    import zstandard

    data = encode(Blob(b"hello " * 100))
    stored = b"\x01" + zstandard.ZstdCompressor(level=3).compress(data)
    assert compress.decompress(stored) == data


# -- codec.link_candidates: a superset of the links, without decoding (a pull's checks) ------

tricky_oid = st.one_of(oid, st.tuples(st.binary(min_size=30, max_size=30), st.integers(0, 30)).map(
    lambda t: t[0][: t[1]] + b"\xc4 " + t[0][t[1]:]))  # an id holding the bin-32 header itself


@given(st.lists(st.one_of(records, st.builds(Job, uid, uid, st.none() | uid, h20, tricky_oid, st.none() | h20,
                                             st.none() | tricky_oid, st.none() | h20, st.none() | tricky_oid, i64,
                                             st.none() | i64, st.booleans(), st.just("DONE"),
                                             st.lists(tricky_oid, max_size=4).map(tuple), strmap)),
                max_size=6))
def test_link_candidates_hold_every_link(recs):
    joined = b"".join(encode(r) for r in recs)
    found = codec.link_candidates(joined)
    for r in recs:
        assert set(r.links()) <= found
    assert all(len(c) == 32 for c in found)


@pytest.mark.parametrize("head", [b"\xc5\x00 ", b"\xc6\x00\x00\x00 "])
def test_link_candidates_find_links_in_the_longer_bin_forms(head):
    target = b"\x07" * 32
    job = Job(b"\x01" * 16, b"\x02" * 16, None, b"\x03" * 20, b"\x04" * 32, None, target, None, None, 1, None,
              False, "DONE", (), {})
    data = encode(job)
    longer = data.replace(b"\xc4 " + target, head + target)  # not canonical, but msgpack reads it as bin
    assert longer != data and msgpack.unpackb(longer)[2]["call_node"] == target
    assert target in codec.link_candidates(longer)


def test_decompress_many_equals_decompress_and_names_a_bad_entry():
    datas = [encode(Task(bytes([i]) * 20, "ns", f"t{i}", "x" * (i * 40))) for i in range(50)]
    stored = [compress.compress(d) for d in datas] + [b"\x00raw bytes"]
    assert {s[0] for s in stored} == {0, 2}  # raw and dictionary frames in one batch
    assert [bytes(x) for x in compress.decompress_many(stored, str)] == datas + [b"raw bytes"]
    big = compress._codecs().dict_c.compress(b"y" * (compress._DICT_MAX_INPUT + 1))  # more than a dict frame holds
    out = compress.decompress_many([stored[0], b"\x02\x01" + big], str)
    assert bytes(out[1]) == b"y" * (compress._DICT_MAX_INPUT + 1)  # one by one, under decompress()'s bounds
    with pytest.raises(CorruptObjectError, match="entry-1"):
        compress.decompress_many([stored[0], stored[1][:-3]], lambda i: f"entry-{i}")
