"""What a run records in a repository: closure, counts, crash recovery, concurrent runs."""

import os
from pathlib import Path
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from conftest import UPSTREAM_PY, UPSTREAM_REDUN, copy_compile_example

from redun.objects.records import CallNode, Execution, Job, Task, Value
from redun.objects.walk import walk
from redun.repo.repository import Repo

WORKFLOW = textwrap.dedent('''
    import os, time
    from redun import task, File

    redun_namespace = "rec"

    @task()
    def leaf(i: int, salt: str = "s"):
        gate = os.environ.get("GATE_AFTER")
        if gate is not None and i >= int(gate):
            open("reached", "a").close()
            time.sleep(3600)  # the parent process kills us here
        return {"i": i, "sq": i * i}

    @task()
    def group(lo: int, hi: int):
        return [leaf(i) for i in range(lo, hi)] + [shared(1)]

    @task()
    def shared(x: int):
        return x

    @task()
    def main(n: int = 12, k: int = 3):
        step = max(1, n // k)
        return [group(lo, min(n, lo + step)) for lo in range(0, n, step)] + [shared(1), shared(1)]
''')


def _env(tmp_path, **extra):
    env = dict(os.environ)
    env["REDUN_CONFIG"] = str(tmp_path / ".redun")
    env.pop("GATE_AFTER", None)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def _redun(tmp_path, *args, check=True, **env):
    p = subprocess.run([sys.executable, "-m", "redun", *args], cwd=tmp_path, env=_env(tmp_path, **env),
                       capture_output=True, text=True, timeout=300)
    if check and p.returncode != 0:
        raise AssertionError(f"redun {args} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


@pytest.fixture
def wfdir(tmp_path):
    (tmp_path / "wf.py").write_text(WORKFLOW)
    _redun(tmp_path, "init")
    return tmp_path


def _executions(root):
    repo = Repo.open(str(root / ".redun"))
    out = []
    for name, oid in repo.refs.list("execs/"):
        out.append((oid, repo.store.get(oid)))
    return repo, out


def _closure(repo, oid) -> dict:
    """Every record reachable from oid, by type; raises if a link is missing."""
    by_type: dict = {}
    for _, rec in walk(repo.store, [oid]):
        by_type.setdefault(type(rec).__name__, []).append(rec)
    return by_type


@pytest.mark.slow
def test_run_records_a_closed_graph(wfdir):
    p = _redun(wfdir, "run", "wf.py", "main")
    assert "Start Execution" in p.stderr
    repo, execs = _executions(wfdir)
    assert len(execs) == 1
    oid, ex = execs[0]
    assert isinstance(ex, Execution) and ex.job is not None and ex.end_time is not None
    recs = _closure(repo, oid)
    jobs = recs["Job"]
    # main + 3 groups + 12 leaves + shared(1) under 4 parents (the twin call under main
    # is one job: same expression, same parent) = 20 jobs; 3 of the shared ones reuse the first
    assert len(jobs) == 20
    assert {j.status for j in jobs} <= {"DONE", "CACHED"}
    assert sum(1 for j in jobs if j.cached) == 3
    assert all(j.execution_id == ex.id for j in jobs)
    assert len({c.hash for c in recs["CallNode"]}) == 17
    assert {t.name for t in recs["Task"]} == {"main", "group", "leaf", "shared"}
    assert all(len(t.hash) == 20 for t in recs["Task"])
    # values are native (never pickle) for plain data
    assert any(v.format == "native" and v.type == "builtins.dict" for v in recs["Value"])
    repo.close()


@pytest.mark.slow
def test_rerun_is_fully_cached_and_reuses_call_nodes(wfdir):
    _redun(wfdir, "run", "wf.py", "main")
    p = _redun(wfdir, "run", "wf.py", "main")
    assert " Run " not in p.stderr and "Run    Job" not in p.stderr
    assert p.stderr.count("Cached Job") == 20
    repo, execs = _executions(wfdir)
    calls = [set(), set()]
    oids = [set(), set()]
    for i, (oid, ex) in enumerate(sorted(execs, key=lambda e: e[1].start_time)):
        recs = list(walk(repo.store, [oid]))
        calls[i] = {r.hash for _, r in recs if isinstance(r, CallNode)}
        oids[i] = {o for o, r in recs if isinstance(r, CallNode)}
    assert calls[0] == calls[1]  # same results, same children: same call hashes
    assert oids[0] == oids[1]  # and the rerun reuses the recorded CallNodes (none written)
    repo.close()


def _leaf_calls_written(wfdir) -> int:
    """CallNodes of rec.leaf already in the running process's tmp pack (written with their Jobs)."""
    from redun.objects import codec, compress
    from redun.objects.pack import scan_entries

    n = 0
    packs = wfdir / ".redun" / "packs"
    for name in os.listdir(packs):
        if name.startswith("tmp-") and name.endswith(".pack"):
            data = (packs / name).read_bytes()
            try:
                for _, _, _, stored in scan_entries(data, name):
                    rec = codec.decode(compress.decompress(stored, name))
                    n += isinstance(rec, CallNode) and rec.task_name == "rec.leaf"
            except Exception:
                pass  # a partial entry at the end: count what is complete
    return n


@pytest.mark.slow
def test_kill_9_mid_run_loses_no_finished_job(wfdir):
    proc = subprocess.Popen([sys.executable, "-m", "redun", "run", "wf.py", "main"], cwd=wfdir,
                            env=_env(wfdir, GATE_AFTER=8), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not (wfdir / "reached").exists() or _leaf_calls_written(wfdir) < 8:
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "workflow never reached the gate"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    # The rerun (no gate) recovers the crashed run's pack: leaves 0..7 are cached.
    p = _redun(wfdir, "run", "wf.py", "main")
    cached = [line for line in p.stderr.splitlines() if "Cached Job" in line and "rec.leaf" in line]
    assert len(cached) == 8, p.stderr
    repo, execs = _executions(wfdir)
    # the crashed execution is visible (running/unfinished); the rerun is complete
    finals = [e for _, e in execs if e.job is not None]
    assert len(execs) == 2 and len(finals) == 1
    repo.close()


@pytest.mark.slow
def test_four_concurrent_runs_all_record_fully(wfdir):
    procs = [subprocess.Popen([sys.executable, "-m", "redun", "run", "wf.py", "main", "--n", str(20 + i)],
                              cwd=wfdir, env=_env(wfdir), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for i in range(4)]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()
    repo, execs = _executions(wfdir)
    assert len(execs) == 4
    for oid, ex in execs:
        assert ex.job is not None and ex.end_time is not None
        recs = _closure(repo, oid)  # raises NotFoundError on any missing link
        assert len(recs["Job"]) >= 20
    # every execution is queryable through the index too
    idx = repo.index
    for oid, ex in execs:
        assert idx.execution(ex.id) is not None
    repo.close()
    from redun.objects.fsck import fsck

    r2 = Repo.open(str(wfdir / ".redun"))
    report = fsck(r2.store, r2.refs)
    assert report.ok, report.problems
    assert report.refs == 4


@pytest.mark.slow
def test_failed_job_recorded_with_error(wfdir):
    (wfdir / "bad.py").write_text(textwrap.dedent('''
        from redun import task
        redun_namespace = "bad"

        @task()
        def boom(x: int):
            raise ValueError("nope %d" % x)

        @task()
        def main():
            return boom(3)
    '''))
    p = _redun(wfdir, "run", "bad.py", "main", check=False)
    assert p.returncode == 1
    repo, execs = _executions(wfdir)
    (oid, ex), = execs
    recs = _closure(repo, oid)
    failed = [j for j in recs["Job"] if j.status == "FAILED"]
    assert len(failed) == 2 and all(j.eval_value is None for j in failed)
    errs = [v for v in recs["Value"] if v.type == "redun.ErrorValue"]
    assert errs and all(isinstance(c, CallNode) for c in recs["CallNode"])
    repo.close()


@pytest.mark.slow
def test_records_link_only_to_earlier_records(wfdir):
    """Closure invariant on the pack order: every link points at an object already written."""
    _redun(wfdir, "run", "wf.py", "main")
    from redun.objects import codec
    from redun.objects.pack import scan_entries
    from redun.objects import compress

    packs = [p for p in os.listdir(wfdir / ".redun" / "packs") if p.endswith(".pack")]
    assert packs
    for name in packs:
        data = (wfdir / ".redun" / "packs" / name).read_bytes()
        seen = set()
        for oid, _, _, stored in scan_entries(data, name):
            rec = codec.decode(compress.decompress(stored, name))
            for link in rec.links():
                assert link in seen, f"{type(rec).__name__} links to a later object"
            seen.add(oid)
    assert isinstance(Task, type) and isinstance(Value, type) and isinstance(Job, type)


COMPAT_WF = textwrap.dedent('''
    from typing import Dict, List
    from redun import task

    redun_namespace = "compat"

    @task()
    def square(x: int) -> int:
        return x * x

    @task()
    def total(xs: List[int], bonus: int = 0) -> int:
        return sum(xs) + bonus

    @task()
    def pairs(n: int) -> Dict[str, int]:
        return {"n": n, "sq": square(n)}

    @task(version="3")
    def label(d: dict, prefix: str = "v") -> str:
        return "%s%d" % (prefix, d["sq"])

    @task()
    def main(n: int = 4) -> list:
        squares = [square(i) for i in range(n)]
        p = pairs(n)
        return [total(squares), total(squares, bonus=1), label(p), p["sq"], square(2)]
''')


@pytest.mark.upstream
@pytest.mark.slow
def test_same_workflow_same_hashes_as_upstream(tmp_path):
    """Run upstream 0.44.1 and this redun on one workflow: identical task, value and call hashes."""
    import json

    upstream = UPSTREAM_REDUN
    if not os.path.exists(upstream):
        pytest.skip("upstream redun venv not installed")
    up = tmp_path / "up"
    ours = tmp_path / "ours"
    for d in (up, ours):
        d.mkdir()
        (d / "wf.py").write_text(COMPAT_WF)
    env = dict(os.environ, REDUN_CONFIG=str(up / ".redun"))
    r = subprocess.run([upstream, "run", "wf.py", "main"], cwd=up, env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([upstream, "export"], cwd=up, env=env, capture_output=True, text=True, timeout=300)
    lines = [json.loads(x) for x in r.stdout.splitlines() if x.strip()]
    up_calls = {x["call_hash"] for x in lines if x["_type"] == "CallNode"}
    up_results = {x["value_hash"] for x in lines if x["_type"] == "CallNode"}
    up_tasks = {x["task_hash"] for x in lines if x["_type"] == "Job"}
    assert len(up_calls) >= 8

    p = _redun(ours, "run", "wf.py", "main")
    repo, execs = _executions(ours)
    (oid, ex), = execs
    recs = _closure(repo, oid)
    our_calls = {c.hash.hex() for c in recs["CallNode"]}
    our_results = {c.value_hash.hex() for c in recs["CallNode"]}
    our_tasks = {j.task_hash.hex() for j in recs["Job"]}
    assert our_tasks == up_tasks
    assert our_results == up_results
    assert our_calls == up_calls
    repo.close()


@pytest.mark.upstream
@pytest.mark.slow
def test_expression_and_container_hashes_match_upstream(tmp_path):
    """Expressions pickle like upstream's (nested serialized args), so containers of
    expressions, Files and Dirs hash the same: run one script under both."""
    upstream_py = UPSTREAM_PY
    if not os.path.exists(upstream_py):
        pytest.skip("upstream redun venv not installed")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.txt").write_text("a")
    (tmp_path / "chk.py").write_text(textwrap.dedent('''
        from redun import task, File, Dir
        try:
            from redun.value import get_type_registry
            h = get_type_registry().get_hash
        except ImportError:
            from redun.hashing import hash_value as h
        from redun.expression import ValueExpression

        redun_namespace = "chk"

        @task()
        def f(x, y=2):
            return x

        e = f(File("d/a.txt"), y=[1, "s"])
        for v in (e, [e, f(1)], e["k"], [e.attr], [ValueExpression(3)], {"a": [e, Dir("d")]}):
            print(h(v))
    '''))
    outs = []
    for py in (upstream_py, sys.executable):
        p = subprocess.run([py, "chk.py"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        outs.append(p.stdout)
    assert outs[0] == outs[1] and len(outs[0].split()) == 6


@pytest.mark.upstream
@pytest.mark.slow
def test_compile_example_args_hashes_match_upstream(tmp_path):
    """examples/compile under upstream and ours, from copies with identical mtimes: the
    compile/make_prog/make calls see the same File hashes, so the same args hashes."""
    import json
    import shutil

    upstream = UPSTREAM_REDUN
    if not os.path.exists(upstream) or shutil.which("gcc") is None:
        pytest.skip("needs upstream redun and gcc")
    dirs = {name: Path(copy_compile_example(tmp_path / name)) for name in ("up", "ours")}
    for f in ("lib.c", "prog.c", "prog2.c"):
        st = os.stat(os.path.join(dirs["up"], f))
        os.utime(os.path.join(dirs["ours"], f), ns=(st.st_atime_ns, st.st_mtime_ns))
    env = dict(os.environ, REDUN_CONFIG=os.path.join(dirs["up"], ".redun"))
    r = subprocess.run([upstream, "run", "make.py", "make"], cwd=dirs["up"], env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([upstream, "export"], cwd=dirs["up"], env=env, capture_output=True, text=True, timeout=300)
    up = [json.loads(x) for x in r.stdout.splitlines() if x.strip()]
    up_args = {(x["task_name"], x["args_hash"]) for x in up if x["_type"] == "CallNode"
               and x["task_name"] in ("compile", "make_prog", "make")}
    _redun(dirs["ours"], "run", "make.py", "make")
    repo, execs = _executions(dirs["ours"])
    (oid, ex), = execs
    ours = {(c.task_name, c.args_hash.hex()) for c in _closure(repo, oid)["CallNode"]
            if c.task_name in ("compile", "make_prog", "make")}
    assert len(up_args) == 6 and ours == up_args
    repo.close()
