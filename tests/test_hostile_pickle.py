"""Issue 12 item 2: pickles from elsewhere (imports, pulled values, previews) are read by a
bounded reader; no pickle makes it allocate much more than the pickle's own size."""

import base64
import json
import pickle
import tempfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memcap import assert_bounded, python_capped, redun_capped
from redun.errors import DecodeError
from redun.objects.plainpickle import NotPlainValue, safe_unpickle
from redun.objects.valuecodec import preview

MEMO_BOMB = b"\x80\x03Nr\x00\x00\x00\x02."  # LONG_BINPUT 2**25: CPython's memo table grows to 512 MB


def _value_line(data: bytes, value_hash: str = "ab" * 20) -> str:
    return json.dumps({"_version": 1, "_type": "Value", "value_hash": value_hash, "type": "builtins.NoneType",
                       "format": "application/python-pickle", "data": base64.b64encode(data).decode(),
                       "subvalues": [], "subtype": None}) + "\n"


@pytest.mark.slow
def test_memo_bomb_in_an_import_line_stays_small(tmp_path, tmp_repo_dir):
    """The 218-byte import line of the report drove `import` and `log <value>` to 4.2 GB."""
    lines = tmp_path / "bomb.jsonl"
    lines.write_text(_value_line(MEMO_BOMB))
    res = redun_capped(tmp_repo_dir, "import", "-f", str(lines))
    assert res.returncode == 0, res
    assert_bounded(res)
    res = redun_capped(tmp_repo_dir, "log", "abab")
    assert res.returncode == 0, res
    assert_bounded(res)
    assert "None" in res.stdout


# (name, pickle): each must be refused (or read) within a small multiple of its size
BOMBS = [
    ("memo put 2**32-1", b"\x80\x03Nr\xff\xff\xff\xff."),
    ("memo put text", b"N p4294967295\n."),
    ("unicode length past end", b"\x80\x03X\xff\xff\xff\x7fab."),
    ("binbytes8 length past end", b"\x80\x04\x8e\xff\xff\xff\xff\xff\xff\xff\x00."),
    ("frame past end", b"\x80\x04\x95\xff\xff\xff\xff\xff\xff\x00\x00N."),
    ("long4 length past end", b"\x80\x03\x8b\xff\xff\xff\x7f."),
    # a tuple nested 100k deep used as a dict key: hashing it recurses in C
    ("deep tuple key", b"\x80\x03}K\x01" + b"\x85" * 100_000 + b"K\x02s."),
    # lists nested 100k deep
    ("deep lists", b"\x80\x03" + b"]" * 100_000 + b"a" * 99_999 + b"."),
    # a DAG of tuples: t = (t, t) 60 times; hashing it costs 2**60 steps
    ("tuple dag hashed", b"\x80\x03}K\x01q\x00" + b"h\x00h\x00\x86q\x00" * 60 + b"K\x02s."),
    # a DAG of lists: expands to 2**60 items when encoded or printed
    ("list dag", b"\x80\x03]q\x00" + b"(h\x00h\x00lq\x00" * 60 + b"."),
    # a million empty dicts appended (1 byte each makes a 64-byte dict)
    ("dict flood", b"\x80\x03](" + b"}" * 1_000_000 + b"e."),
    ("big int text", b"L" + b"9" * 100_000 + b"L\n."),
    ("reduce os.system", b"\x80\x03cos\nsystem\nX\x04\x00\x00\x00trueq\x00\x85R."),
    ("persistent id", b"\x80\x03X\x01\x00\x00\x00aQ."),
]


@pytest.mark.slow
def test_bombs_are_refused_within_the_memory_budget():
    code = (
        "import sys, pickle\n"
        "from redun.objects.plainpickle import safe_unpickle\n"
        "from redun.objects.valuecodec import preview, native_from_pickle\n"
        "from redun.errors import DecodeError\n"
        "for data in pickle.loads(sys.stdin.buffer.read()):\n"
        "    preview('builtins.object', 'pickle', data)\n"
        "    native_from_pickle(data)\n"
        "    try:\n"
        "        safe_unpickle(data)\n"
        "    except DecodeError:\n"
        "        pass\n"
        "print('ok')\n"
    )
    with tempfile.TemporaryFile() as f:
        f.write(pickle.dumps([b for _, b in BOMBS]))
        f.seek(0)
        res = python_capped(code, stdin=f, timeout=60)
    assert res.stdout.strip() == "ok", res
    assert_bounded(res)


@pytest.mark.parametrize("name,data", BOMBS, ids=[n for n, _ in BOMBS])
def test_each_bomb_is_refused_cleanly(name, data):
    try:
        safe_unpickle(data)
    except NotPlainValue:
        pass
    except DecodeError:
        pass
    text = preview("builtins.object", "pickle", data)
    assert len(text) <= 200


def test_never_calls_the_c_unpickler(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("CPython's unpickler ran on untrusted bytes")

    monkeypatch.setattr(pickle, "Unpickler", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    from redun.exchange.pickle3 import native_from_pickle

    data = pickle.dumps({"a": [1, 2.5, "x", b"y", (1, 2), {3}, frozenset({4})]}, protocol=3)
    assert safe_unpickle(data) == {"a": [1, 2.5, "x", b"y", (1, 2), {3}, frozenset({4})]}
    assert native_from_pickle(data) is not None
    assert preview("builtins.dict", "pickle", data).startswith("{'a'")


def test_memo_indexes_do_not_allocate():
    # LONG_BINPUT far beyond the number of objects: one dict entry, not a 2**32 table
    assert safe_unpickle(b"\x80\x03K\x05r\xff\xff\xff\xff0j\xff\xff\xff\xff\x85.") == (5,)


def test_tuple_nesting_limit_and_depth_limit():
    ok = b"\x80\x03K\x01" + b"\x85" * 50 + b"."
    v = safe_unpickle(ok)
    for _ in range(50):
        v = v[0]
    assert v == 1
    with pytest.raises(NotPlainValue):
        safe_unpickle(b"\x80\x03K\x01" + b"\x85" * 150 + b".")


_plain = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text() | st.binary(),
    lambda inner: st.lists(inner, max_size=5) | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=5) | st.integers(), inner, max_size=5)
    | st.frozensets(st.integers() | st.text(max_size=3), max_size=4)
    | st.sets(st.integers(), max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(_plain, st.integers(min_value=0, max_value=5))
def test_reader_agrees_with_cpython_on_plain_values(value, protocol):
    data = pickle.dumps(value, protocol=protocol)
    try:
        expected = pickle.loads(data)  # our own bytes: trusted
    except Exception:
        return
    try:
        got = safe_unpickle(data)
    except NotPlainValue:
        # protocols 0-2 write bytes as calls (_codecs.encode, bytes()): not plain, kept as a pickle
        assert protocol < 3, data
        return
    assert got == expected and type(got) is type(expected)


def test_shared_subvalues_still_read():
    shared = [1, 2]
    data = pickle.dumps({"a": shared, "b": shared}, protocol=3)
    assert safe_unpickle(data) == {"a": [1, 2], "b": [1, 2]}
