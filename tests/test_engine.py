"""Engine semantics (in-memory Scheduler): upstream hashes, expressions, caching, Files."""

import importlib
import json
import os
import pickle
import sys
import threading
from pathlib import Path

import pytest

from redun import File, Scheduler, task
from redun.expression import SimpleExpression, TaskExpression
from redun.hashing import hash_value

REF = json.loads((Path(__file__).parent / "data" / "upstream_reference.json").read_text())


@pytest.fixture(scope="module")
def ref_modules(tmp_path_factory):
    """Upstream's reference workflow modules, imported with our redun."""
    d = tmp_path_factory.mktemp("refmods")
    for name, text in REF["modules"].items():
        (d / name).write_text(text)
    sys.path.insert(0, str(d))
    mods = {}
    try:
        for name in REF["modules"]:
            modname = name[:-3]
            sys.modules.pop(modname, None)
            mods[name] = importlib.import_module(modname)
    finally:
        sys.path.remove(str(d))
    return mods


def quiet():
    return Scheduler(quiet=True)


# -- upstream hash compatibility -------------------------------------------------

def test_task_hashes_and_pickles_match_upstream(ref_modules):
    checked = 0
    for t in REF["tasks"]:
        if "pickle3_hex" not in t:
            continue
        obj = getattr(ref_modules[t["module"]], t["attr"])
        assert obj.fullname == t["fullname"]
        assert obj.hash == t["task_hash"], t["fullname"]
        assert hash_value(obj) == t["value_hash"]
        assert pickle.dumps(obj, protocol=3).hex() == t["pickle3_hex"], t["fullname"]
        checked += 1
    assert checked >= 12
    # the seed's compile task
    assert getattr(ref_modules["make.py"], "compile").hash.startswith("d2b031e4")


def test_task_options_override_hash(ref_modules):
    (t,) = [t for t in REF["tasks"] if "task_options_override_at_hash_time" in t]
    base = getattr(ref_modules[t["module"]], t["attr"].split(".")[0])
    assert base.options(**t["task_options_override_at_hash_time"]).hash == t["task_hash"]


def test_call_hashes_match_upstream(ref_modules):
    mod = ref_modules["reftasks.py"]
    for c in REF["calls"]:
        s = quiet()
        expr = mod.add(*c["args"], **c["kwargs"])
        assert s.run(expr) == c["result"]
        job = s.root_job
        assert job.args_hash == c["args_hash"], c["call"]
        assert job.eval_hash == c["eval_hash"], c["call"]
        assert job.call_hash == c["scheduler_call_hash"], c["call"]


def test_file_hash_and_pickle_match_upstream(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for f in REF["files"]:
        if f["path"] != "data.txt":
            continue
        Path("data.txt").write_text(f["content"])
        os.utime("data.txt", (f["mtime"], f["mtime"]))
        fobj = File("data.txt")
        assert fobj.hash == f["hash"]
        assert hash_value(fobj) == f["value_hash"]
        assert pickle.dumps(fobj, protocol=3).hex() == f["pickle3_hex"]
        assert hash_value([File("data.txt")]) == f["list_of_file_value_hash"]
        back = pickle.loads(bytes.fromhex(f["pickle3_hex"]))
        assert type(back) is File and back.path == "data.txt" and back.hash == f["hash"]
        assert back.is_valid()
        return
    pytest.fail("no data.txt entry in the reference")


def test_plain_value_hashes():
    checked = 0
    for v in REF["values"]:
        try:
            obj = eval(v["expr"], {"File": File})  # noqa: S307 - trusted fixture
        except Exception:
            continue
        assert hash_value(obj) == v["value_hash"], v["expr"]
        checked += 1
    assert checked >= 20


# -- expressions ---------------------------------------------------------------

@task(namespace="eng")
def inc(x: int) -> int:
    return x + 1


@task(namespace="eng")
def pair(x):
    return {"a": x, "b": [x, x + 1]}


@task(namespace="eng")
def obj(x):
    return _Box(x)


class _Box:
    def __init__(self, v):
        self.value = v


@task(namespace="eng")
def add(a, b):
    return a + b


@task(namespace="eng")
def fanout(n: int):
    return [inc(i) for i in range(n)]


@task(namespace="eng")
def chain(n: int):
    if n == 0:
        return 0
    return inc(chain(n - 1))


def test_expressions_are_lazy_and_compose():
    e = pair(1)
    assert isinstance(e, TaskExpression)
    assert isinstance(e["b"], SimpleExpression)
    s = quiet()
    assert s.run(add(pair(1)["b"][1], obj(5).value)) == 7
    assert s.run({"x": [inc(1), (inc(2), "k")]}) == {"x": [2, (3, "k")]}
    assert s.run(fanout(4)) == [1, 2, 3, 4]
    assert s.run(chain(30)) == 30


def test_expression_hash_shape():
    from redun.hashing import hash_bytes, hash_struct, pickle_dumps
    from redun.expression import args_hash_of

    e = inc(3)
    assert e.__redun_hash__() == hash_struct(
        ["TaskExpression", "eng.inc", args_hash_of((3,), {}), hash_bytes(pickle_dumps({}))])


def test_identical_calls_make_one_job_per_parent():
    calls = []

    @task(namespace="eng")
    def count(x):
        calls.append(x)
        return x

    @task(namespace="eng")
    def twice():
        return [count(1), count(1), count(2)]

    s = quiet()
    assert s.run(twice()) == [1, 1, 2]
    assert sorted(calls) == [1, 2]
    assert len(s.root_job.child_jobs) == 2


def test_same_call_under_two_parents_runs_once():
    calls = []

    @task(namespace="eng")
    def leafc(x):
        calls.append(x)
        return x

    @task(namespace="eng")
    def mid(i):
        return leafc(7)

    @task(namespace="eng")
    def top():
        return [mid(1), mid(2)]

    s = quiet()
    assert s.run(top()) == [7, 7]
    assert calls == [7]
    counts = s.status_counts()
    assert counts["eng.leafc"]["TOTAL"] == 2 and counts["eng.leafc"]["CACHED"] == 1


def test_tasks_run_in_parallel_threads():
    barrier = threading.Barrier(3, timeout=30)

    @task(namespace="eng")
    def meet(i):
        barrier.wait()  # deadlocks (BrokenBarrierError) unless 3 run at once
        return i

    @task(namespace="eng")
    def all3():
        return [meet(0), meet(1), meet(2)]

    assert quiet().run(all3()) == [0, 1, 2]


# -- caching -------------------------------------------------------------------

def test_second_run_is_cached_and_code_change_invalidates():
    calls = []

    @task(namespace="eng2")
    def work(x):
        calls.append(x)
        return x * 10

    s = quiet()
    assert s.run(work(1)) == 10
    assert s.run(work(1)) == 10
    assert calls == [1]
    assert s.status_counts()["eng2.work"]["CACHED"] == 1

    @task(namespace="eng2", version="2")
    def work(x):  # noqa: F811 - a new version of the task
        calls.append(("v2", x))
        return x * 10

    assert s.run(work(1)) == 10
    assert calls == [1, ("v2", 1)]


def test_no_cache_reruns_but_keeps_cse():
    calls = []

    @task(namespace="eng3")
    def w(x):
        calls.append(x)
        return x

    @task(namespace="eng3")
    def two():
        return [w(1), w(1)]

    s = quiet()
    s.run(two())
    s.run(two(), cache=False)
    assert calls == [1, 1]


def test_cached_result_expression_is_reevaluated():
    """A cached job whose eval value is an expression gets child jobs (full check)."""
    calls = []

    @task(namespace="eng4")
    def child(x):
        calls.append(x)
        return x

    @task(namespace="eng4")
    def parent(x):
        return child(x)

    s = quiet()
    assert s.run(parent(3)) == 3
    assert s.run(parent(3)) == 3
    assert calls == [3]
    root = s.root_job
    assert root.was_cached and len(root.child_jobs) == 1 and root.child_jobs[0].was_cached


def test_file_staleness(tmp_path):
    src = tmp_path / "in.txt"
    out = tmp_path / "out.txt"
    src.write_text("a")
    calls = []

    @task(namespace="engf")
    def copy(f: File) -> File:
        calls.append(f.path)
        o = File(str(out))
        o.write(f.read() + "!")
        return o

    s = quiet()
    assert s.run(copy(File(str(src)))).read() == "a!"
    assert s.run(copy(File(str(src)))).read() == "a!"
    assert len(calls) == 1
    # output changed behind redun's back: the cached result is no longer valid
    out.write_text("tampered, longer")
    assert s.run(copy(File(str(src)))).read() == "a!"
    assert len(calls) == 2
    # input changed: new args, rerun
    src.write_text("bb")
    assert s.run(copy(File(str(src)))).read() == "bb!"
    assert len(calls) == 3


def test_failure_raises_and_is_not_cached():
    calls = []

    @task(namespace="engx")
    def boom(x):
        calls.append(x)
        raise ValueError(f"bad {x}")

    @task(namespace="engx")
    def top():
        return [inc(1), boom(2)]

    s = quiet()
    for _ in range(2):
        with pytest.raises(ValueError, match="bad 2"):
            s.run(top())
    assert calls == [2, 2]
    assert s.status_counts()["engx.boom"]["FAILED"] == 1
    assert any("ValueError: bad 2" in line for line in s.traceback_lines)


def test_shallow_check_uses_ultimate_reduction():
    calls = []

    @task(namespace="engs", check_valid="shallow")
    def sh(x):
        calls.append(x)
        return inc(x)

    s = quiet()
    assert s.run(sh(1)) == 2
    assert s.run(sh(1)) == 2
    assert calls == [1]
    assert s.root_job.was_cached and not s.root_job.child_jobs


def test_defaults_merged_into_kwargs():
    @task(namespace="engd")
    def d(a, b=2):
        return a + b

    s = quiet()
    s.run(d(1))
    h1 = s.root_job.eval_hash
    s.run(d(1, b=2))
    assert s.root_job.eval_hash == h1
    s.run(d(a=1))
    assert s.root_job.eval_hash != h1


def test_cond_evaluates_only_the_chosen_branch():
    from redun import cond

    calls = []

    @task(namespace="engc")
    def is_even(x):
        return x % 2 == 0

    @task(namespace="engc")
    def say(word):
        calls.append(word)
        return word

    s = quiet()
    assert s.run(cond(is_even(2), say("even"), say("odd"))) == "even"
    assert s.run(cond(is_even(3), say("even"), is_even(4), say("four"))) == "four"
    assert s.run(cond(is_even(3), say("even"))) is None
    assert calls == ["even", "four"]


def test_large_values_go_to_blobs_and_come_back(tmp_path):
    from redun.objects.records import Value as ValueRecord
    from redun.repo.repository import Repo

    repo = Repo.init(str(tmp_path / ".redun"))

    @task(namespace="engb")
    def big(n: int):
        return "x" * n

    s = Scheduler(repo=repo, quiet=True)
    assert len(s.run(big(3_000_000))) == 3_000_000
    assert s.run(big(3_000_000)) == "x" * 3_000_000
    assert s.root_job.was_cached
    vals = [r for _, r in repo.store.iter_records() if isinstance(r, ValueRecord) and r.size == 3_000_000 + 5]
    assert vals and all(v.blobs and not v.data for v in vals)
    repo.close()


def test_dir_hash_tracks_contents(tmp_path):
    from redun import Dir

    d = tmp_path / "d"
    d.mkdir()
    (d / "a.txt").write_text("1")
    h1 = Dir(str(d)).hash
    assert Dir(str(d)).hash == h1 and Dir(str(d)).is_valid()
    (d / "b.txt").write_text("2")
    assert Dir(str(d)).hash != h1
    assert pickle.loads(pickle.dumps(Dir(str(d)), protocol=3)).hash == Dir(str(d)).hash


def test_user_value_subclass():
    from redun import Value

    class Versioned(Value):
        def __init__(self, v):
            self.v = v

        def get_hash(self, data=None):
            return "%040x" % self.v

    assert hash_value(Versioned(7)) == "%040x" % 7


def test_call_time_options_keep_the_registered_task_hash():
    calls = []

    @task(namespace="engo")
    def opt(x):
        calls.append(x)
        return x

    s = quiet()
    s.run(opt(1))
    h = s.root_job.eval_hash
    s.run(opt.options(cache=False)(1))
    assert s.root_job.eval_hash == h and s.root_job.task.hash == opt.hash
    assert calls == [1, 1]  # cache=False: not reused across executions


def test_run_plain_values_and_nested_roots():
    s = quiet()
    assert s.run(5) == 5
    assert s.root_job.task.fullname == "redun.root_task"  # every execution has a root job (upstream)
    assert s.run([inc(1), {"k": inc(2)}]) == [2, {"k": 3}]
    assert s.root_job.task.fullname == "redun.root_task"


def test_deeply_nested_returned_expression():
    @task(namespace="engdeep")
    def loop(n: int):
        x = 0
        for _ in range(n):
            x = inc(x)
        return x

    assert quiet().run(loop(1500)) == 1500
