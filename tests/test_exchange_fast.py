"""The exchange's fast paths agree with the plain ones: orjson parsing (optional) against the
standard library's json, and the in-memory line store against the sqlite spill file
(test_exchange.py runs its import tests with both stores through its `spill` fixture)."""

import json
import os

import pytest

from redun.exchange import LineError, export_lines, import_lines, lines
from redun.repo.repository import Repo

HERE = os.path.dirname(__file__)
FIXTURE = os.path.join(HERE, "data", "upstream-export-compile.jsonl")


def _read():
    with open(FIXTURE, "rb") as f:
        return f.read().splitlines(keepends=True)


def _round_trip(tmp_path, name, src) -> list:
    repo = Repo.init(str(tmp_path / name))
    try:
        import_lines(repo, src)
        out = []
        export_lines(repo, out.append)
        return "".join(out).splitlines()
    finally:
        repo.close()


def test_import_without_orjson_is_the_same(tmp_path, monkeypatch):
    """Without orjson (not installed), lines are parsed by json alone: same records, same export."""
    src = _read()
    fast = _round_trip(tmp_path, "fast", src)
    monkeypatch.setattr(lines, "_fast_loads", None)
    assert _round_trip(tmp_path, "plain", src) == fast


TRICKY = [
    # a Tag value with an integer beyond 64 bits (orjson would read a float) and a lone surrogate
    {"_version": 1, "_type": "Tag", "tag_hash": "1" * 40, "entity_type": "Value", "entity_id": "2" * 40,
     "key": "big", "value": [123456789012345678901234567890, "\ud800", 1.5], "parents": []},
    {"_version": 1, "_type": "Execution", "id": "00000000-0000-0000-0000-000000000001",
     "args": "[\"redun\", \"run\", \"caf\u00e9.py\"]", "job_id": "00000000-0000-0000-0000-000000000002",
     "extra": 123456789012345678901234567890},
]
BAD = [
    b'{"_version": 1, "_type": "Execution", "id": "00000000-0000-0000-0000-000000000001", "args": '
    b'123456789012345678901234567890, "job_id": "00000000-0000-0000-0000-000000000002"}',
    b'{"_version": 123456789012345678901234567890, "_type": "Job"}',
    b'{"_version": 1, "_type": "Job", "id": NaN}',
    b'\xef\xbb\xbf{"_version": 1}',
    b'{"_version": 1, "_type": "Tag"} trailing',
    b'\xff{}',
    b'   ',
    b'[' * 5000 + b']' * 5000,
]


def _parse_both(text, monkeypatch):
    """(result or error message) of parse_line with the fast parser, then with json alone."""
    out = []
    for fast in (lines._fast_loads, None):
        with monkeypatch.context() as m:
            m.setattr(lines, "_fast_loads", fast)
            try:
                ln = lines.parse_line(text)
                used = {k: v for k, v in ln.obj.items()  # extra keys are ignored (and may differ)
                        if k in lines.KEY_ORDER[ln.kind] or k.startswith(("_", "eval_"))}
                out.append((ln.kind, ln.key, used))
            except LineError as e:
                out.append(str(e))
    return out


def test_fast_parser_agrees_with_json_on_tricky_lines(monkeypatch):
    pytest.importorskip("orjson")
    for obj in TRICKY:
        texts = [json.dumps(obj), json.dumps(obj).encode()]
        if obj["_type"] != "Tag":  # (the tag's lone surrogate has no UTF-8 form)
            texts.append(json.dumps(obj, ensure_ascii=False).encode())
        for text in texts:
            fast, plain = _parse_both(text, monkeypatch)
            assert fast == plain, text
            assert not isinstance(fast, str), fast
    tag = lines.parse_line(json.dumps(TRICKY[0]).encode()).obj
    assert tag["value"][0] == 123456789012345678901234567890  # exactly, not a float
    for text in BAD:
        fast, plain = _parse_both(text, monkeypatch)
        assert fast == plain and isinstance(fast, str), (text[:80], fast, plain)


def test_fast_parser_agrees_with_json_on_fixture_lines(monkeypatch):
    pytest.importorskip("orjson")
    for raw in _read():
        fast, plain = _parse_both(raw, monkeypatch)
        assert fast == plain


# -- pickles: pickle3.read_plain_tree against the bounded reader ----------------------------
import pickle  # noqa: E402

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from redun.exchange import pickle3  # noqa: E402
from redun.objects import valuecodec  # noqa: E402

_ATOM = (st.none() | st.booleans() | st.integers() | st.integers(min_value=-(2 ** 70), max_value=2 ** 70)
         | st.floats(allow_nan=False) | st.text(max_size=20) | st.binary(max_size=20))
_KEY = st.none() | st.booleans() | st.integers() | st.text(max_size=8) | st.binary(max_size=8)
PLAIN = st.recursive(_ATOM, lambda inner: st.lists(inner, max_size=6) | st.tuples(inner, inner)
                     | st.lists(inner, max_size=4).map(tuple) | st.dictionaries(_KEY, inner, max_size=5),
                     max_leaves=40)


def _slow(data: bytes):
    return valuecodec.native_from_pickle(data, exact=True)


def test_plain_tree_reader_on_common_values():
    for value in (None, True, 5, 300, 70000, -1, 2 ** 40, -(2 ** 70), 1.5, "", "caf\u00e9", "x" * 300, b"\x00\xff",
                  b"y" * 300, [], (), (1,), (1, "a", None), {}, {"a": 1, 2: [3, (4, 5)], None: {"b": b"c"}},
                  [{"j": i, "tag": f"leaf-{i}"} for i in range(300)]):
        data = pickle.dumps(value, protocol=3)
        assert pickle3.read_plain_tree(data) == value
        native = pickle3.native_from_pickle(data)
        assert native == _slow(data) and native is not None and pickle3.pickle_from_native(native) == data


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(PLAIN)
def test_plain_tree_reader_reads_what_pickle_wrote(value):
    data = pickle.dumps(value, protocol=3)
    got = pickle3.read_plain_tree(data)
    if got is not pickle3.UNSURE:  # (shared strings, tuples as keys: left to the bounded reader)
        assert pickle.dumps(got, protocol=3) == data
    assert pickle3.native_from_pickle(data) == _slow(data)


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(PLAIN, st.data())
def test_damaged_pickles_get_the_bounded_readers_answer(value, draw):
    """Truncated, cut or flipped bytes: never an exception, and the same decision (native or
    keep the pickle) as the bounded reader."""
    data = bytearray(pickle.dumps(value, protocol=3))
    i = draw.draw(st.integers(0, len(data) - 1))
    how = draw.draw(st.sampled_from(["flip", "cut", "drop"]))
    if how == "flip":
        data[i] = draw.draw(st.integers(0, 255))
    elif how == "cut":
        del data[i:]
    else:
        del data[i]
    data = bytes(data)
    assert pickle3.native_from_pickle(data) == _slow(data)


def test_plain_tree_reader_refuses_what_it_does_not_read():
    shared = [1, 2]
    for data in (
        pickle.dumps({1, 2}, protocol=3),  # a global (builtins.set)
        pickle.dumps([shared, shared], protocol=3),  # one list fetched from the memo twice
        pickle.dumps({(1, 2): 3}, protocol=3),  # a tuple as a key (hashing recurses)
        pickle.dumps([1], protocol=2),  # another protocol
        b"\x80\x03Nr\x00\x00\x00\x02.",  # LONG_BINPUT 2**25: one dict entry here, not a table
        b"\x80\x03X\xff\xff\xff\xff.",  # a length past the end
        b"\x80\x03e.",  # APPENDS without a MARK
        b"",
    ):
        got = pickle3.read_plain_tree(data)
        assert got is pickle3.UNSURE or data == b"\x80\x03Nr\x00\x00\x00\x02.", data
        assert pickle3.native_from_pickle(data) == _slow(data)
    # a string fetched from the memo again and again: charged, then left to the bounded reader
    big = b"\x80\x03]q\x00(X\x00\x00\x10\x00" + b"a" * (1 << 20) + b"q\x01" + b"h\x01" * 200_000 + b"e."
    assert pickle3.read_plain_tree(big) is pickle3.UNSURE


def _index_tables(path: str) -> dict:
    """Every index table's rows (sorted, without the pack hint, which names a pack_ids row)
    and the names of the indexes on them."""
    import sqlite3

    from redun.index.rows import ORDER

    conn = sqlite3.connect(path)
    try:
        out = {}
        for table in ORDER:
            cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})") if r[1] not in ("pack", "preview")]
            out[table] = sorted(conn.execute(f"SELECT {', '.join(cols)} FROM {table}").fetchall(), key=repr)
        out["indexes"] = sorted(r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'"))
        out["pending"] = conn.execute("SELECT * FROM meta WHERE key='indexes_pending'").fetchall()
        return out
    finally:
        conn.close()


def test_bulk_rows_into_an_empty_index_equal_a_rebuilt_index(tmp_path):
    """An import into a repository whose index holds no records writes its rows as a bulk load
    (Index.write_rows): the same rows and the same indexes as the index rebuilt from the objects,
    and as an import into an index that already holds records (rows inserted one by one)."""
    from redun.index import rebuild_index

    src = _read()
    repo = Repo.init(str(tmp_path / "fresh"))
    try:
        import_lines(repo, src)
        bulk = _index_tables(repo.index_path)
        rebuild_index(repo).close()
        assert _index_tables(repo.index_path) == bulk
    finally:
        repo.close()
    assert bulk["jobs"] and bulk["vals"] and not bulk["pending"]
    other = os.path.join(HERE, "data", "upstream-compile-2runs.jsonl")
    repo = Repo.init(str(tmp_path / "incremental"))
    try:
        with open(other, "rb") as f:
            import_lines(repo, f.read().splitlines(keepends=True))
        import_lines(repo, src)  # into an index that holds records: row by row
        rebuilt = _index_tables(repo.index_path)
        rebuild_index(repo).close()
        assert _index_tables(repo.index_path) == rebuilt
    finally:
        repo.close()



def test_import_pauses_the_cyclic_collector_and_leaves_it_as_found(tmp_path, monkeypatch):
    """gcpause.paused_gc: the collector is off while an import runs (it makes no cycles:
    nothing is left for it afterwards) and back as it was, also after an error."""
    import gc
    from contextlib import contextmanager

    from redun.exchange import gcpause

    inside = []

    @contextmanager
    def observed():
        with gcpause.paused_gc():
            inside.append(gc.isenabled())
            yield

    monkeypatch.setattr("redun.exchange.importer.paused_gc", observed)
    repo = Repo.init(str(tmp_path / "r"))
    try:
        gc.collect()
        import_lines(repo, _read())
        assert gc.isenabled()
        assert gc.collect() == 0  # no cyclic garbage: pausing the collector lost nothing
        with pytest.raises(LineError):
            import_lines(repo, [b'{"_version": 1, "_type": "Nope"}\n'])
        assert gc.isenabled()
        gc.disable()
        try:
            import_lines(repo, _read())
            assert not gc.isenabled()
        finally:
            gc.enable()
    finally:
        repo.close()
    assert inside == [False, False, False]
