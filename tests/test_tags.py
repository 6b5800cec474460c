"""Tags (issue 14): apply_tags, @task(tags=), --tag and [tags], recorded as Tag records that
export, import, push and pull; `redun tag list/add/update/rm`; `redun log --tag/--exec-tag/
--result/--arg`. Tag hashes and listings were checked against upstream 0.44.1."""

import json
import os
import textwrap

import pytest
from conftest import UPSTREAM_REDUN
from inproc import Workflow

from redun import Scheduler, apply_tags, task
from redun.errors import NotFoundError, UsageError
from redun.hashing import hash_tag

WF = textwrap.dedent('''
    from redun import File, apply_tags, task

    redun_namespace = "tagwf"

    @task(tags=[("step", "preprocess")])
    def reverse_file(in_file: File, out_path: str) -> dict:
        out_file = File(out_path)
        with out_file.open("w") as out:
            lines = list(reversed(list(in_file.open())))
            for line in lines:
                out.write(line)
        return {"file": apply_tags(out_file, [("output", "file")]), "lines": len(lines)}

    @task()
    def main(path: str = "data.txt") -> dict:
        file = apply_tags(File(path), [("input", "file")], job_tags=[("stage", 1)],
                          execution_tags=[("env", "test")])
        return reverse_file(file, path + ".reversed")
''')


@pytest.fixture
def wf(tmp_path):
    (tmp_path / "data.txt").write_text("a\nb\nc\n")
    os.utime(tmp_path / "data.txt", (1_700_000_000, 1_700_000_000))  # File hashes depend on mtime
    w = Workflow(tmp_path, WF)
    w.redun("run", "--tag", "who=me", "--tag", "n=2", "--tag", "n=3", w.script, "main")
    return w


def _tags(w) -> list:
    lines = [json.loads(x) for x in w.redun("export").out.splitlines()]
    return sorted((t["entity_type"], t["key"], json.dumps(t["value"])) for t in lines if t["_type"] == "Tag")


def test_tags_are_recorded_and_exported(wf):
    tags = _tags(wf)
    for expected in [("Execution", "who", '"me"'), ("Execution", "n", "2"), ("Execution", "n", "3"),
                     ("Execution", "env", '"test"'), ("Job", "stage", "1"), ("Job", "step", '"preprocess"'),
                     ("Task", "step", '"preprocess"'), ("Value", "input", '"file"'), ("Value", "output", '"file"')]:
        assert expected in tags, expected
    # a run's tags are kept by its TagSet ref (gc roots), and the index is up to date
    repo_refs = os.listdir(os.path.join(wf.config, "refs"))
    assert "tags" in repo_refs or "tags/" in open(os.path.join(wf.config, "refs", ".packed")).read()


def test_value_tag_hash_is_upstreams(wf):
    """The input File's tag: upstream 0.44.1 computes tag_hash over (value hash, key, JSON value)."""
    line = [json.loads(x) for x in wf.redun("export").out.splitlines()]
    tag = [t for t in line if t["_type"] == "Tag" and t["key"] == "input"][0]
    assert tag["tag_hash"] == hash_tag(tag["entity_id"], "input", "file", [])


def test_tag_list_counts_and_values(wf):
    out = wf.redun("tag", "list").out.splitlines()
    assert out[0] == "Tags:"
    assert "  step       (1 Job, 1 Task)" in out and "  n          (2 Execution)" in out
    out = wf.redun("tag", "list", "--values").out.splitlines()
    assert "  step=preprocess                (1 Job, 1 Task)" in out
    assert "  n=2                            (1 Execution)" in out
    out = wf.redun("tag", "list", "step").out.splitlines()  # records carrying the tag (log --all --tag)
    assert [line.split()[0] for line in out] == ["Job", "Task"]
    assert all(line.endswith("(step=preprocess)") for line in out)
    assert wf.redun("tag", "list", "step=other").out == ""


def test_tag_add_update_rm_as_upstream(wf):
    task_row = [line for line in wf.redun("log", "--task").out.splitlines() if "tagwf.main" in line][0]
    tid = task_row.split()[1]
    r = wf.redun("tag", "add", tid, "env=prod", "n=3")
    assert r.out.startswith(f"add tag Task:{tid}") and r.out.rstrip().endswith('env="prod" n=3')
    assert wf.redun("log", "--task", "--tag", "env=prod").out.count("\n") == 1
    wf.redun("tag", "update", tid, "env=dev")
    line = [x for x in wf.redun("log", "--task").out.splitlines() if tid in x][0]
    assert line.endswith("(env=dev, n=3)")
    r = wf.redun("tag", "rm", tid, "--", "env")
    assert r.out.startswith("delete tag Task:")
    wf.redun("tag", "rm", tid, "n=3")
    line = [x for x in wf.redun("log", "--task").out.splitlines() if tid in x][0]
    assert line.endswith("tagwf.main ")
    wf.redun("tag", "add", tid, "env=prod")  # current once, superseded, added again: a new leaf
    line = [x for x in wf.redun("log", "--task").out.splitlines() if tid in x][0]
    assert line.endswith("(env=prod)")
    tags = [json.loads(x) for x in wf.redun("export").out.splitlines()]
    deletes = [t for t in tags if t["_type"] == "Tag" and t["entity_type"] == "Null"]
    assert len(deletes) == 2 and all(d["parents"] for d in deletes)
    with pytest.raises(NotFoundError):
        wf.redun("tag", "add", "ffffffff", "k=v")
    with pytest.raises(UsageError, match="key must be specified"):
        wf.redun("tag", "add", tid, "=v")


def test_log_tag_filters(wf):
    jobs = wf.redun("log", "--job", "--tag", "step=preprocess").out.splitlines()
    assert len(jobs) == 1 and "tagwf.reverse_file(" in jobs[0] and jobs[0].endswith("(step=preprocess)")
    assert wf.redun("log", "--job", "--tag", "step=other").out == ""
    assert len(wf.redun("log", "--job", "--tag", "stage").out.splitlines()) == 1  # key alone: any value
    assert len(wf.redun("log", "--exec", "--exec-tag", "who=me").out.splitlines()) == 1
    assert wf.redun("log", "--exec", "--exec-tag", "who=you").out == ""
    assert len(wf.redun("log", "--job", "--exec-tag", "who=me").out.splitlines()) == 2
    values = wf.redun("log", "--value", "--exec-tag", "who=me").out
    assert "data.txt.reversed" in values and "'lines': 3" in values


def test_log_result_and_arg_filters(wf):
    lines = [json.loads(x) for x in wf.redun("export").out.splitlines()]
    files = {v["value_hash"]: v for v in lines if v["_type"] == "Value" and v["type"] == "redun.File"}
    by_path = {}
    for h, v in files.items():
        out = wf.redun("log", h[:8]).out
        by_path["out" if ".reversed" in out.splitlines()[0] else "in"] = h
    # the output file is inside both jobs' results (a dict): one level of subvalues, as upstream
    assert len(wf.redun("log", "--job", "--result", by_path["out"]).out.splitlines()) == 2
    arg = wf.redun("log", "--result", by_path["out"], "--arg", by_path["in"]).out.splitlines()
    assert len(arg) == 1 and "reverse_file(" in arg[0]  # --result/--arg list jobs even without --job
    assert wf.redun("log", "--exec", "--result", by_path["out"]).out == ""  # they select jobs only
    with pytest.raises(UsageError, match="full value hashes"):
        wf.redun("log", "--result", "abc")


def test_apply_tags_values_must_be_json():
    @task(namespace="tagunit")
    def bad():
        return apply_tags(1, [("k", object())])

    with pytest.raises(TypeError, match="must be JSON"):
        Scheduler(quiet=True).run(bad())


def test_tags_travel_with_push_pull_and_import(wf, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    w2 = Workflow(other, "")
    w2.redun("init")
    wf.redun("repo", "add", "o", w2.config)
    wf.redun("tag", "add", wf.redun("log", "--task").out.split()[1], "k=v")  # an edit: tags/edit-*
    assert wf.redun("push", "o").out.startswith("Pushed ")
    assert wf.redun("push", "o").out == "Repo 'o' is up to date.\n"
    assert _tags(w2) == _tags(wf)
    third = tmp_path / "third"
    third.mkdir()
    w3 = Workflow(third, "")
    w3.redun("init")
    export = wf.redun("export").out
    (third / "x.jsonl").write_text(export)
    w3.redun("import", "-f", "x.jsonl")
    assert _tags(w3) == _tags(wf)
    assert "Job" in w3.redun("log", "--job", "--tag", "step=preprocess").out
    # the imported tags are named by a ref, so gc keeps them; fsck finds the repositories and
    # their indexes (tags, tag_parents) consistent
    w3.redun("gc", "--grace", "0")
    assert _tags(w3) == _tags(wf)
    for w in (wf, w2, w3):
        w.redun("fsck")


@pytest.mark.slow
def test_tags_example_matches_upstream(tmp_path):
    """The same workflow and tag edits through upstream 0.44.1 and through us: the same tag
    hashes, parents and `tag list` output."""
    import subprocess
    import sys

    out = {}
    for who in ("up", "ours"):
        d = tmp_path / who
        d.mkdir()
        (d / "data.txt").write_text("a\nb\nc\n")
        os.utime(d / "data.txt", (1_700_000_000, 1_700_000_000))
        (d / "wf.py").write_text(WF)
        cmd = [UPSTREAM_REDUN] if who == "up" else [sys.executable, "-m", "redun"]
        env = dict(os.environ, REDUN_CONFIG=str(d / ".redun"), REDUN_USER="tester")

        def r(*args):
            p = subprocess.run(cmd + list(args), cwd=d, capture_output=True, text=True, env=env, timeout=300)
            assert p.returncode == 0, p.stderr
            return p.stdout

        r("run", "wf.py", "main")
        vid = [x for x in r("log", "--value").splitlines() if "redun.File File(path=data.txt," in x][0].split()[1]
        edits = [r("tag", "add", vid, "env=prod", "n=3"), r("tag", "update", vid, "env=dev"),
                 r("tag", "rm", vid, "--", "env"), r("tag", "rm", vid, "n=3"), r("tag", "add", vid, "env=prod")]
        lines = [json.loads(x) for x in r("export").splitlines()]
        tags = sorted((t["entity_type"], t["key"], json.dumps(t["value"]), t["tag_hash"], tuple(t["parents"]))
                      for t in lines if t["_type"] == "Tag" and t["entity_type"] in ("Value", "Task", "Null")
                      and t["key"] != "output")  # the output file's hash has its mtime in it
        out[who] = (edits, tags, r("tag", "list"), r("log", "--task"))
    assert out["ours"] == out["up"]
