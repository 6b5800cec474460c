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
