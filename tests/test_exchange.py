"""Upstream JSON-lines import/export: round trips, idempotency, bad input."""

import base64
import json
import os
import pickle

import pytest

from redun.errors import NotFoundError
from redun.exchange import LineError, export_lines, import_lines
from redun.exchange import convert, lines, pickle3
from redun.exchange import spill as spill_module
from redun.exchange.exporter import Exporter
from redun.objects.records import CallNode, Execution, Job, Task, Value
from redun.repo.repository import Repo

HERE = os.path.dirname(__file__)
FIXTURES = [
    os.path.join(HERE, "data", "upstream-export-compile.jsonl"),
    os.path.join(HERE, "data", "upstream-compile-2runs.jsonl"),
]
PK = {"Execution": "id", "Job": "id", "Value": "value_hash", "CallNode": "call_hash", "Tag": "tag_hash"}


def _fixtures():
    return [f for f in FIXTURES if os.path.exists(f)]


def by_key(text_lines):
    out = {}
    for line in text_lines:
        o = json.loads(line)
        out[(o["_type"], o[PK[o["_type"]]])] = o
    return out


def export_text(repo, ids=None) -> list:
    chunks = []
    export_lines(repo, chunks.append, ids)
    out = "".join(chunks).splitlines()
    for line in out:  # exactly the text json.dumps writes for the line's object, as upstream's
        obj = json.loads(line)
        assert json.dumps(obj) == line and tuple(obj) == lines.KEY_ORDER[obj["_type"]], line
    return out


@pytest.fixture
def repo(tmp_repo_dir):
    r = Repo.open(tmp_repo_dir)
    yield r
    r.close()


@pytest.fixture(params=["memory", "sqlite"])
def spill(request, monkeypatch):
    """Run the test with the parsed lines kept in memory, then in a sqlite spill file
    (as an input larger than spill.MEMORY_LIMIT is), checking that the file was used."""
    if request.param == "sqlite":
        monkeypatch.setattr(spill_module, "MEMORY_LIMIT", -1)
        monkeypatch.setattr(spill_module, "BATCH", 2)  # move after the second line
        moved = []
        to_sqlite = spill_module._to_sqlite

        def counted(mem, db):
            moved.append(len(mem.recs))
            return to_sqlite(mem, db)

        monkeypatch.setattr(spill_module, "_to_sqlite", counted)
        yield request.param
        assert moved, "the import never moved its lines to sqlite"
        return
    yield request.param


def read(path):
    with open(path, "rb") as f:
        return f.read().splitlines(keepends=True)


@pytest.mark.parametrize("path", _fixtures())
def test_round_trip_is_exact(repo, spill, path):
    src = read(path)
    s = import_lines(repo, src)
    assert (s.imported, s.present, s.failed, s.executions) == (len(src), 0, 0, 2)
    out = export_text(repo)
    want = by_key(src)
    got = by_key(out)
    assert set(got) == set(want)
    for k, o in want.items():
        assert got[k] == o, k
        assert list(got[k]) == list(o)  # upstream's key order
    # every line is json.dumps with default separators, like upstream's
    assert {json.dumps(json.loads(x)) for x in out} == set(out)


@pytest.mark.parametrize("path", _fixtures())
def test_import_is_idempotent(repo, path):
    src = read(path)
    import_lines(repo, src)
    packs = sorted(os.listdir(os.path.join(repo.root, "packs")))
    s = import_lines(repo, src)
    assert (s.imported, s.present, s.executions) == (0, len(src), 0)
    assert sorted(os.listdir(os.path.join(repo.root, "packs"))) == packs


def test_any_line_order_and_duplicates(repo, spill):
    src = read(FIXTURES[0])
    shuffled = list(reversed(src)) + src[:5]
    s = import_lines(repo, shuffled)
    assert s.imported == len(src) and s.present == 5
    assert set(by_key(export_text(repo))) == set(by_key(src))


def test_records_mapping(repo):
    src = read(FIXTURES[0])
    import_lines(repo, src)
    kinds = {}
    for oid in repo.store.iter_ids():
        rec = repo.store.get(oid)
        kinds.setdefault(type(rec).__name__, []).append(rec)
    assert len(kinds["Execution"]) == 2 and len(kinds["Job"]) == 18 and len(kinds["CallNode"]) == 14
    assert len(kinds["Task"]) == 4 and len(kinds["Value"]) == 26
    assert "Tag" not in kinds  # execution tags live in Execution.tags
    ex = kinds["Execution"][0]
    assert json.loads(ex.tags["user"]) == "root"
    root = repo.store.get(ex.job)
    assert isinstance(root, Job) and root.start_time == ex.start_time and root.status == "DONE"
    assert all(isinstance(repo.store.get(c), Job) for c in root.children)
    cn = next(c for c in kinds["CallNode"] if c.task_name == "make")
    assert cn.args[0].key == "files" and cn.args[0].position is None
    cn = next(c for c in kinds["CallNode"] if c.task_name == "compile")
    assert cn.args[0].position == 0 and cn.args[0].key is None
    assert isinstance(repo.store.get(cn.task), Task)
    files = [v for v in kinds["Value"] if v.type == "redun.File"]
    assert files and all(v.path and v.format == "native" for v in files)
    assert sum(v.format == "pickle" for v in kinds["Value"]) == 2  # memo-shared strings: kept verbatim


def test_export_one_execution_and_prefix(repo):
    src = read(FIXTURES[0])
    import_lines(repo, src)
    full = export_text(repo, ["fe3e3a39-339f-444e-b0d2-be9ee325a3d3"])
    assert len(full) == 40  # what upstream exports for this execution
    assert export_text(repo, ["fe3e3a39"]) == full


def test_truncated_export_keeps_whole_executions(tmp_path, repo):
    """Children first: an Execution line follows everything it needs."""
    import_lines(repo, read(FIXTURES[0]))
    out = export_text(repo)
    first_exec = next(i for i, x in enumerate(out) if '"_type": "Execution"' in x)
    cut = next(i for i, x in enumerate(out) if i > first_exec and '"_type": "Job"' in x) + 1
    other = Repo.init(str(tmp_path / "other"))
    with pytest.raises(LineError):  # a job of the second execution dangles
        import_lines(other, [x + "\n" for x in out[:cut]])
    s = import_lines(other, [x + "\n" for x in out[:cut]], keep_going=True)
    assert s.executions == 1 and s.errors


# -- bad input -------------------------------------------------------------------
def _bad(repo, text_lines, needle, line):
    with pytest.raises(LineError) as e:
        import_lines(repo, [t.encode() + b"\n" for t in text_lines])
    assert e.value.line == line and needle in str(e.value), str(e.value)
    assert list(repo.refs.list("execs/")) == []
    assert not [p for p in os.listdir(os.path.join(repo.root, "packs")) if p.endswith(".pack")]
    tmp = os.path.join(repo.root, "tmp")
    assert not os.path.exists(tmp) or not os.listdir(tmp)


def test_malformed_lines(repo, spill):
    good = [x.decode().rstrip("\n") for x in read(FIXTURES[0])]
    _bad(repo, good[:3] + ['{"_version": 1, "_type": "Job", "id":'] + good[3:], "malformed JSON", 4)
    _bad(repo, good[:1] + ['{"_version": 1, "_type": "Frob"}'], "unknown _type 'Frob'", 2)
    _bad(repo, ['{"_version": 99, "_type": "Job"}'], "unsupported _version 99", 1)
    job = json.loads(good[2])
    del job["task_hash"]
    _bad(repo, good[:2] + [json.dumps(job)], "lacks the key 'task_hash'", 3)
    job = json.loads(good[2])
    job["id"] = "../../etc/passwd"
    _bad(repo, good[:2] + [json.dumps(job)], "id is not a lowercase uuid", 3)
    _bad(repo, ["[1, 2]"], "expected a JSON object", 1)


def test_dangling_reference(repo, spill):
    good = [x.decode().rstrip("\n") for x in read(FIXTURES[0])]
    no_callnodes = [x for x in good if '"_type": "CallNode"' not in x]
    with pytest.raises(LineError) as e:
        import_lines(repo, [x.encode() for x in no_callnodes])
    assert e.value.line == 3 and "call node (call_hash) 1666c453" in str(e.value)
    assert list(repo.refs.list("execs/")) == []
    only_jobs = [x for x in good if '"_type": "Job"' in x]
    with pytest.raises(LineError) as e:
        import_lines(repo, [x.encode() for x in only_jobs])
    assert e.value.line == 1 and "in neither the input nor the repository" in str(e.value)
    assert len(e.value.all) == 18  # every problem is collected: one per job


def test_arg_hash_mismatch(repo):
    good = [x.decode().rstrip("\n") for x in read(FIXTURES[0])]
    i = next(i for i, x in enumerate(good) if '"_type": "CallNode"' in x)
    cn = json.loads(good[i])
    name = next(iter(cn["args"]))
    cn["args"][name]["arg_hash"] = "0" * 40
    good[i] = json.dumps(cn)
    _bad(repo, good, "arg_hash", i + 1)


def test_keep_going_commits_the_rest(repo, spill):
    good = [x.decode().rstrip("\n") for x in read(FIXTURES[0])]
    # break the root job of execution fe3e3a39 (line 4): that execution must not appear
    bad = good[:3] + ["{not json"] + good[4:]
    s = import_lines(repo, [x.encode() for x in bad], keep_going=True)
    assert s.errors and s.errors[0].line == 4
    assert [n for n, _ in repo.refs.list("execs/")] == ["execs/e6caf507-3fd5-43df-81e3-8c7cbce884d7"]
    assert s.executions == 1 and s.failed >= 2
    # the other execution is complete
    out = by_key(export_text(repo, ["e6caf507-3fd5-43df-81e3-8c7cbce884d7"]))
    assert len(out) == 40 - 0 or len(out) > 30


def _fixture_with_cycle() -> list:
    """The first fixture's lines with one CallNode made its parent's parent (a cycle)."""
    good = [x.decode().rstrip("\n") for x in read(FIXTURES[0])]
    nodes = [json.loads(x) for x in good if '"_type": "CallNode"' in x]
    a = next(n for n in nodes if n["children"])
    child = next(n for n in nodes if n["call_hash"] == a["children"][0])
    child["children"] = [a["call_hash"]]
    text = [x for x in good if json.loads(x).get("call_hash") != child["call_hash"] or '"CallNode"' not in x]
    text.append(json.dumps(child))
    return text


def test_cycle_is_an_error(repo, spill):
    text = _fixture_with_cycle()
    with pytest.raises(LineError) as e:
        import_lines(repo, [x.encode() for x in text])
    assert "cycle" in str(e.value)
    assert list(repo.refs.list("execs/")) == []


# -- pure pieces -------------------------------------------------------------------
def test_timestamps():
    for text in ("2026-11-24 19:08:53.652979+00:00", "2026-11-24 19:08:53+00:00"):
        assert lines.format_time(lines.parse_time(text, "t")) == text
    with pytest.raises(LineError):
        lines.parse_time("2026-11-24 19:08:53", "t")


def test_task_pickle_matches_upstream():
    for line in read(FIXTURES[0]):
        o = json.loads(line)
        if o["_type"] == "Value" and convert.is_task_value(o):
            sub = o["subtype"]
            assert pickle3.task_pickle(sub["name"], sub["namespace"], o["value_hash"]) == base64.b64decode(o["data"])


def test_task_pickle_marker_collision_falls_back():
    name = "x\ncredun.exchange.pickle3\n_UpstreamTask\n"
    data = pickle3.task_pickle(name, "", "a" * 40)
    assert data.startswith(b"\x80\x03credun.task\nTask\n")
    ops = [op.name for op, _arg, _pos in __import__("pickletools").genops(data)]
    assert ops.count("GLOBAL") == 2  # Task and builtins.set, nothing else


def test_native_values_repickle_to_upstream_bytes():
    n = 0
    for line in read(FIXTURES[0]):
        o = json.loads(line)
        if o["_type"] == "Value" and not convert.is_task_value(o):
            fmt, payload = convert.value_payload(o)
            data = base64.b64decode(o["data"])
            if fmt == "native":
                assert pickle3.pickle_from_native(payload) == data
                n += 1
            else:
                assert payload == data
    assert n > 20


def test_value_line_with_file_subtype():
    v = Value(hash=b"\x01" * 20, type="builtins.int", format="native", data=b"\x05", size=1)
    text = convert.value_text(v, b"\x05", [])
    line = json.loads(text)
    assert json.dumps(line) == text
    assert pickle.loads(base64.b64decode(line["data"])) == 5
    assert line["subtype"] is None and list(line) == list(lines.KEY_ORDER["Value"])


def test_line_key_orders_match_upstream():
    for line in read(FIXTURES[0]):
        o = json.loads(line)
        assert tuple(o) == lines.KEY_ORDER[o["_type"]]


def test_record_types_exported(repo):
    import_lines(repo, read(FIXTURES[0]))
    seen = {type(repo.store.get(o)) for o in repo.store.iter_ids()}
    assert {Execution, Job, CallNode, Task, Value} <= seen


def test_arg_hash_matches_hashing_module():
    from redun.hashing import hash_arg

    for pos, key in ((0, None), (12, None), (None, "files"), (None, "naïve_ключ")):
        assert convert.arg_hash("a" * 40, pos, key, "b" * 40) == hash_arg("a" * 40, pos, key, "b" * 40)


def test_keep_going_cycle_skips_the_cycle_only(repo, spill):
    text = _fixture_with_cycle()
    s = import_lines(repo, [x.encode() for x in text], keep_going=True)
    assert any("cycle" in str(e) for e in s.errors) and s.failed >= 2
    assert s.imported > 0


def test_keep_going_counts_dangling_once(repo):
    good = [x.decode().rstrip("\n") for x in read(FIXTURES[0])]
    no_values = [x for x in good if '"_type": "Value"' not in x]
    s = import_lines(repo, [x.encode() for x in no_values], keep_going=True)
    assert s.executions == 0 and s.imported == 0
    assert s.failed == len(no_values)  # everything needs a task or a value


def test_progress_reports_lines_then_records(repo):
    from redun.objects.progress import Progress

    class Seen(Progress):
        def __init__(self):
            self.events = []

        def phase(self, name, total=None, unit="objects"):
            self.events.append((name, unit))

        def update(self, done):
            self.events.append(done)

    seen = Seen()
    src = read(FIXTURES[0]) * 100  # duplicates: 6800 lines, enough for a progress tick
    s = import_lines(repo, src, progress=seen)
    assert s.imported == 68 and s.present == len(src) - 68
    reading, writing = seen.events.index(("reading lines", "lines")), seen.events.index(("writing records", "records"))
    assert reading < writing and 5000 in seen.events[reading:writing]


def test_unusual_values_round_trip(repo):
    """Non-pickle formats, value-store placeholders (empty data), unplain pickles stay verbatim."""
    class Odd:
        pass

    Odd.__module__ = "mymod"
    Odd.__qualname__ = "Odd"
    odd = b"\x80\x03cmymod\nOdd\nq\x00)\x81q\x01."
    vals = [
        {"value_hash": "1" * 40, "type": "builtins.str", "format": "text/plain", "data": "aGVsbG8=",
         "subvalues": [], "subtype": None},
        {"value_hash": "2" * 40, "type": "builtins.bytes", "format": "application/python-pickle", "data": "",
         "subvalues": [], "subtype": None},
        {"value_hash": "3" * 40, "type": "mymod.Odd", "format": "application/python-pickle",
         "data": base64.b64encode(odd).decode(), "subvalues": ["1" * 40], "subtype": None},
    ]
    src = [json.dumps({"_version": 1, "_type": "Value", **v}) for v in vals]
    s = import_lines(repo, [x.encode() for x in src])
    assert s.imported == 3
    ex = Exporter(repo, lambda t: out.append(t))
    out = []
    recs = {repo.store.get(o).hash.hex(): o for o in repo.store.iter_ids()}
    ex.export([recs["3" * 40], recs["2" * 40]])
    got = by_key("".join(out).splitlines())
    assert got == by_key(src)
    assert repo.store.get(recs["3" * 40]).format == "pickle"


def test_fast_native_path_agrees_with_values_module():
    from redun.objects import valuecodec as V

    samples = [1, 300, -5, 2**70, "s", "é" * 3, b"b", None, True, 1.5, [1, "a"], {"k": [1, 2]}, (1, 2),
               {1, 2}, frozenset([3]), [[]], {"a": ("x", None)}]
    for v in samples:
        data = pickle.dumps(v, protocol=3)
        assert pickle3.native_from_pickle(data) == V.native_from_pickle(data, exact=True), v
    shared = "lib.c"
    data = pickle.dumps([shared, [shared]], protocol=3)  # memo sharing: not reproducible from native
    assert pickle3.native_from_pickle(data) is None and V.native_from_pickle(data, exact=True) is None
    evil = b"\x80\x03cos\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03."
    assert pickle3.native_from_pickle(evil) is None


def test_export_roots_of_every_kind(repo):
    import_lines(repo, read(FIXTURES[0]))
    src = by_key(read(FIXTURES[0]))
    job = next(o for (t, _), o in src.items() if t == "Job" and o["parent_id"] is None)
    cn = next(o for (t, _), o in src.items() if t == "CallNode" and o["task_name"] == "compile")
    for root, must in ((job["id"], ("Job", job["id"])), (job["id"][:8], ("Job", job["id"])),
                       (cn["call_hash"][:10], ("CallNode", cn["call_hash"])),
                       (cn["value_hash"], ("Value", cn["value_hash"])),
                       (cn["task_hash"], ("Value", cn["task_hash"]))):
        got = by_key(export_text(repo, [root]))
        assert must in got, root
        assert all(k in src and got[k] == src[k] for k in got)
    with pytest.raises(NotFoundError):
        export_text(repo, ["0123456789abcdef0123"])
    with pytest.raises(NotFoundError):
        export_text(repo, ["not-an-id"])


def test_export_without_index_file(repo):
    import_lines(repo, read(FIXTURES[0]))
    repo.close()
    for suffix in ("", "-wal", "-shm"):
        try:
            os.unlink(repo.index_path + suffix)
        except FileNotFoundError:
            pass
    again = Repo.open(repo.root)
    try:
        assert set(by_key(export_text(again))) == set(by_key(read(FIXTURES[0])))
        assert not os.path.exists(again.index_path)  # a full export does not build the index
    finally:
        again.close()


def test_non_execution_tags_round_trip(repo, spill):
    src = [x.decode().rstrip("\n") for x in read(FIXTURES[0])]
    job = json.loads(next(x for x in src if '"_type": "Job"' in x))
    from redun.hashing import hash_tag

    tag = {"_version": 1, "_type": "Tag", "tag_hash": hash_tag(job["id"], "env", "prod", []),
           "entity_type": "Job", "entity_id": job["id"], "key": "env", "value": "prod", "parents": []}
    s = import_lines(repo, [x.encode() for x in src + [json.dumps(tag)]])
    assert s.imported == len(src) + 1
    got = by_key(export_text(repo))
    assert got[("Tag", tag["tag_hash"])] == tag


def test_references_to_records_already_in_the_repo(repo, spill):
    src = [x.decode().rstrip("\n") for x in read(FIXTURES[0])]
    import_lines(repo, [x.encode() for x in src])
    ex = json.loads(src[0])
    job = next(json.loads(x) for x in src if json.loads(x).get("id") == ex["job_id"])
    ex["id"], job["id"] = "11111111-2222-4333-8444-555555555555", "66666666-7777-4888-8999-aaaaaaaaaaaa"
    ex["job_id"], job["execution_id"], job["children"] = job["id"], ex["id"], []
    s = import_lines(repo, [json.dumps(ex).encode(), json.dumps(job).encode()])
    assert (s.imported, s.executions) == (2, 1)
    rec = repo.store.get(repo.refs.get(f"execs/{ex['id']}"))
    root = repo.store.get(rec.job)
    assert repo.store.get(root.call_node).hash.hex() == job["call_hash"]
    # the same lines into an empty repository: the call node and task are missing
    other = Repo.init(os.path.join(os.path.dirname(repo.root), "other"))
    with pytest.raises(LineError) as e:
        import_lines(other, [json.dumps(ex).encode(), json.dumps(job).encode()])
    assert "in neither the input nor the repository" in str(e.value) and e.value.line == 2


def test_native_fast_path_with_ext_opcode_bytes_in_arguments():
    """Bytes 0x82-0x84 inside arguments (int 130, a list of them) are not EXT opcodes:
    still stored natively, and byte-exact when pickled back."""
    import pickle

    from redun.exchange import pickle3

    for value in (130, [130, 131, 132] * 50, {"k": 0x83}):
        data = pickle.dumps(value, protocol=3)
        native = pickle3.native_from_pickle(data)
        assert native is not None
        assert pickle3.pickle_from_native(native) == data


def test_exported_text_escapes_like_json(repo, spill):
    """Texts from users (args, tag keys and values, file paths, value types, names) are written
    exactly as json.dumps writes them: quotes, backslashes, non-ASCII, nested tag values."""
    from redun.hashing import hash_tag

    src = [json.loads(x) for x in read(FIXTURES[0])]
    ex = next(o for o in src if o["_type"] == "Execution")
    ex["args"] = '["redun", "run", "caf\u00e9 \\"x\\".py", "\u2603"]'
    job = next(o for o in src if o["_type"] == "Job")
    odd = {"a": [1, 2.5, "\u00fc", None, True], "b": {"c": "\u2603\\\"", "": []}}
    extra = [
        {"_version": 1, "_type": "Tag", "tag_hash": hash_tag(job["id"], 'k"\u00e9', odd, []), "entity_type": "Job",
         "entity_id": job["id"], "key": 'k"\u00e9', "value": odd, "parents": []},
        {"_version": 1, "_type": "Tag", "tag_hash": hash_tag(ex["id"], "n\u00f6te", odd, []),
         "entity_type": "Execution", "entity_id": ex["id"], "key": "n\u00f6te", "value": odd, "parents": []},
        {"_version": 1, "_type": "Value", "value_hash": "4" * 40, "type": "redun.File", "format": "text/plain",
         "data": "aGVsbG8=", "subvalues": [], "subtype": {"_type": "File", "path": '/tmp/d\u00efr/"x"\\y.txt'}},
        {"_version": 1, "_type": "Value", "value_hash": "5" * 40, "type": "my\u00e9mod.T\\ype",
         "format": "x/\u00e9", "data": "aGVsbG8=", "subvalues": [], "subtype": None},
    ]
    src += extra
    for text in ([json.dumps(o) for o in src], [json.dumps(o, ensure_ascii=False) for o in src]):
        import_lines(repo, [x.encode() for x in text])
    got = by_key(export_text(repo, [ex["id"], "4" * 40, "5" * 40]))  # export_text checks every line's bytes
    for o in extra + [ex]:
        assert got[(o["_type"], o[PK[o["_type"]]])] == o
