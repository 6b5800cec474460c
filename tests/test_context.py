"""Context (issue 14): get_context, update_context, run(context=), [scheduler] context and
context_file, `redun run --context / --context-file`; caching as upstream's (CSE and shallow
checks keyed by the context, single reduction not)."""

import json
import os
import textwrap

import pytest
from conftest import UPSTREAM_REDUN
from inproc import Workflow

from redun import Scheduler, get_context, task
from redun.context import get_context_value
from redun.repo.repository import Repo
from redun.utils import merge_dicts


def test_get_context_value_and_merge():
    ctx = {"foo": {"bar": {"baz": 10, "on": True}}, "name": "x", "list": [1, 2]}
    assert get_context_value(ctx, "foo.bar.baz", 0) == 10
    assert get_context_value(ctx, "foo.bar.on", False) is True
    assert get_context_value(ctx, "foo.bar.nope", 7) == 7
    assert get_context_value(ctx, "list", []) == [1, 2]
    assert get_context_value(ctx, "list.x", "d") == "d"
    assert merge_dicts([{"a": {"b": 1, "c": 2}}, {"a": {"c": 3}, "d": 4}]) == {"a": {"b": 1, "c": 3}, "d": 4}
    assert merge_dicts([{"a": {"b": 1}}, {"a": 5}]) == {"a": 5}


calls: list = []


@task(namespace="ctxtest")
def offset_add(a: int, b: int, offset: int = get_context("offset", 3), mult: int = get_context("mult", 1)) -> int:
    calls.append((a, b, offset, mult))
    return a + b + offset * mult


@task(namespace="ctxtest")
def outer():
    return offset_add(3, 4)


@task(namespace="ctxtest")
def nested(x: str = get_context("aa.bb.cc", "foo")) -> str:
    return x


@task(namespace="ctxtest")
def no_default(x=get_context("a.b.c")):
    return x


def test_context_defaults_updates_and_cache():
    calls.clear()
    s = Scheduler(quiet=True)
    assert s.run(offset_add(1, 2)) == 6
    assert s.run(offset_add.update_context({"offset": 4})(1, 2)) == 7
    assert s.run(offset_add.update_context({"offset": 4})(1, 2)) == 7  # cached: the context value is an argument
    assert len(calls) == 2
    assert s.run(offset_add.update_context(offset=5)(1, 2)) == 8
    assert s.run(offset_add.update_context(offset=4).update_context(mult=2)(1, 2)) == 11
    assert s.run(outer.update_context({"offset": 10})()) == 17  # a child job sees its parent's context
    assert s.run(outer.update_context({"mult": 2})()) == 13
    assert s.run(nested.update_context({"aa": {"bb": {"cc": "bar"}}})()) == "bar"
    assert s.run(no_default(), context={"a": {"b": 1}}) is None
    assert s.run(offset_add(1, 2), context={"offset": 10, "mult": 20}) == 203


def test_context_from_config_text():
    from redun.config import Config

    s = Scheduler(config=Config('[scheduler]\ncontext = {"offset": 10, "mult": 20}\n'), quiet=True)
    assert s.run(offset_add(1, 2)) == 203
    assert s.run(offset_add(1, 2), context={"mult": 1}) == 13  # run(context=) updates the config's


adds: list = []


@task(namespace="ctxtest")
def add_off(a, b, offset=get_context("offset", 0)):
    adds.append(offset)
    return a + b + offset


@task(namespace="ctxtest")
def foo():
    return add_off(1, 2)


@task(namespace="ctxtest", check_valid="shallow")
def shallow_foo():
    return add_off(1, 2)


@task(namespace="ctxtest")
def two_contexts():
    return foo() + foo.update_context(offset=1)()  # would collapse into one job without the context


@task(namespace="ctxtest")
def two_contexts_shallow():
    return shallow_foo() + shallow_foo.update_context(offset=1)()


def test_cse_does_not_collapse_calls_under_other_contexts():
    adds.clear()
    assert Scheduler(quiet=True).run(two_contexts()) == 7
    assert sorted(adds) == [0, 1]
    adds.clear()
    assert Scheduler(quiet=True).run(two_contexts_shallow()) == 7
    assert sorted(adds) == [0, 1]


def test_shallow_check_matches_the_recorded_context(tmp_path):
    """check_valid="shallow" reuses a call node only if it was recorded under the same
    context (its redun.context tag), across executions."""
    repo = Repo.open(str(tmp_path / ".redun"), create=True)
    adds.clear()
    s = Scheduler(repo=repo, quiet=True)
    assert s.run(shallow_foo(), context={"offset": 5}) == 8
    assert s.run(shallow_foo(), context={"offset": 5}) == 8
    assert adds == [5]  # the second run reused the call node of the first
    assert s.run(shallow_foo(), context={"offset": 6}) == 9
    assert adds == [5, 6]
    rows = repo.index._read("SELECT value FROM tags WHERE key = 'redun.context'")
    assert len({v for v, in rows}) == 2  # call nodes tagged with the hash of either context
    repo.close()


WF = textwrap.dedent('''
    from redun import task, get_context

    redun_namespace = "ctxcli"

    @task(executor=get_context("tool.executor", "default"), memory=get_context("tool.memory", 1))
    def tool(value: int, flag: bool = get_context("tool.flag", False), param: int = get_context("tool.param")):
        return f"flag={flag} param={param}"

    @task
    def main(size: int = 2) -> list:
        return [tool(v) for v in range(size)]
''')


def test_context_from_the_command_line_and_config(tmp_path):
    ini = '[scheduler]\ncontext = {"tool": {"executor": "other", "flag": true}}\n\n[executors.other]\ntype = local\n'
    w = Workflow(tmp_path, WF, ini=ini)
    r = w.redun("run", w.script, "main")
    assert r.value == ["flag=True param=None"] * 2
    assert ":  ctxcli.tool(value=0, flag=True, param=None) on other" in r.err  # option from the context
    r = w.redun("run", "--context", "tool.param=10", w.script, "main")
    assert r.value == ["flag=True param=10"] * 2
    assert r.err.count("Cached Job") == 1 and r.err.count("Run    Job") == 2  # main cached, tools rerun
    with open(tmp_path / "ctx.json", "w") as f:
        json.dump({"tool": {"param": 7, "flag": False}}, f)
    r = w.redun("run", "--context-file", "ctx.json", "--context", "tool.param=8", w.script, "main")
    assert r.value == ["flag=False param=8"] * 2
    with pytest.raises(Exception, match="not valid JSON"):
        (tmp_path / "bad.json").write_text("{")
        w.redun("run", "--context-file", "bad.json", w.script, "main")


def test_context_file_in_config_is_relative_to_the_config_dir(tmp_path):
    w = Workflow(tmp_path, WF, ini="[scheduler]\ncontext_file = context.json\n")
    with open(os.path.join(w.config, "context.json"), "w") as f:
        json.dump({"tool": {"param": 3}}, f)
    assert w.redun("run", w.script, "main").value == ["flag=False param=3"] * 2


@pytest.mark.slow
def test_context_hashes_match_upstream(tmp_path):
    """Both context examples' commands, run by upstream 0.44.1 and by us: the same jobs
    (task, eval and call hashes, cached or not), the same output."""
    import re
    import subprocess
    import sys

    wf2 = ('from typing import Optional\nfrom {m} import main as main1\nfrom redun import task\n\n'
           'redun_namespace = "ctxcli2"\n\n@task\ndef main(size: int = 2, flag: Optional[bool] = None) -> list:\n'
           '    context = {{"tool": {{"flag": flag, "extra": 1}}}} if flag is not None else {{}}\n'
           '    return main1.update_context(context)(size)\n')
    out = {}
    for who in ("up", "ours"):
        (tmp_path / who).mkdir()
        ini = '[scheduler]\ncontext = {"tool": {"memory": 4, "flag": true}}\n'
        w = Workflow(tmp_path / who, WF.replace("ctxcli", "ctxcli"), ini=ini)
        (tmp_path / who / "wf2.py").write_text(wf2.format(m=w.name))
        (tmp_path / who / "ctx.json").write_text('{"tool": {"flag": true, "count": 2}}')
        cmd = [UPSTREAM_REDUN] if who == "up" else [sys.executable, "-m", "redun"]
        stdout, evals = [], []
        for args in (["run", w.script, "main"], ["run", "--context", "tool.param=10", w.script, "main"],
                     ["run", "wf2.py", "main"], ["run", "wf2.py", "main", "--flag", "false"],
                     ["run", "--context-file", "ctx.json", w.script, "main"]):
            p = subprocess.run(cmd + args, cwd=tmp_path / who, capture_output=True, text=True, timeout=300,
                               env=dict(os.environ, REDUN_CONFIG=w.config))
            assert p.returncode == 0, p.stderr
            stdout.append(p.stdout)
            evals += sorted(re.findall(r"eval_hash=([0-9a-f]{8})", p.stderr))
        p = subprocess.run(cmd + ["export"], cwd=tmp_path / who, capture_output=True, text=True, timeout=300,
                           env=dict(os.environ, REDUN_CONFIG=w.config))
        lines = [json.loads(x) for x in p.stdout.splitlines()]
        jobs = sorted((j["task_hash"], j["call_hash"], j["cached"]) for j in lines if j["_type"] == "Job")
        ctx_tags = sorted((t["entity_id"], t["value"]) for t in lines if t["_type"] == "Tag"
                          and t["key"] == "redun.context")
        out[who] = (stdout, evals, jobs, ctx_tags)
    assert out["ours"] == out["up"]


@task(namespace="ctxtest")
def sub_leaf(x=get_context("offset", 0)):
    return x


@task(namespace="ctxtest")
def call_subrun():
    from redun.scheduler import subrun

    return subrun(sub_leaf(), executor="default")


def test_subrun_passes_the_calling_jobs_context(tmp_path):
    """subrun hands the calling job's context to its sub-scheduler (upstream's run_config)."""
    assert Scheduler(quiet=True).run(call_subrun(), context={"offset": 9}) == 9  # a new execution
    s = Scheduler(repo=Repo.open(str(tmp_path / ".redun"), create=True), quiet=True)
    assert s.run(call_subrun(), context={"offset": 7}) == 7  # extending this one
