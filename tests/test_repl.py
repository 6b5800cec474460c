"""`redun repl`: piped sessions through the real entry point, and the query views."""

import os
import subprocess
import sys

import pytest

from redun.cli.repl import make_namespace
from redun.objects.ids import uuid_str
from redun.repo.repository import Repo

from test_index_synth import T0, write_execution

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def history(tmp_repo_dir):
    repo = Repo.open(tmp_repo_dir)
    a = write_execution(repo.store, repo.refs, n_jobs=4, seed=1, start=T0, file_paths=("out.txt",))
    repo.close()
    return tmp_repo_dir, a


def repl(repo_dir, text, *args, cwd=None):
    return subprocess.run([sys.executable, "-m", "redun", "-c", repo_dir, "repl", *args], input=text,
                          capture_output=True, text=True, cwd=cwd, env=dict(os.environ, PYTHONPATH=ROOT),
                          timeout=60)


@pytest.mark.slow
def test_piped_session(history):
    d, a = history
    call = a["calls"][1][0].hex()
    res = repl(d, f"cn = query('{call[:10]}')\ncn\ncn.value\ncn.value.value\nprint(cn.task.source)\n"
                  f"cn.parents\nlen(cn.parents[0].children)\nquery('zzzz')\nlast_exec.id\n")
    assert res.returncode == 0, res.stderr
    out = res.stdout.splitlines()
    assert out[0] == f"CallNode(hash='{call[:8]}', task_name='step', args=[(1, 1)])"
    assert out[1].startswith("Value(hash=") and out[1].endswith("value=1000010)")
    assert out[2] == "1000010"
    assert "def step(x):" in out
    assert any(line.startswith("[CallNode(hash=") and "task_name='main'" in line for line in out)
    assert "3" in out
    assert out[-1] == repr(uuid_str(a["exec_id"]))


@pytest.mark.slow
def test_errors_do_not_end_the_session_and_c_ends_it(history):
    d, _ = history
    res = repl(d, "this is not python)\n1+1\nc\nprint('not reached')\n")
    assert res.returncode == 0
    assert "SyntaxError" in res.stderr
    assert res.stdout.splitlines() == ["2"]


@pytest.mark.slow
def test_eof_at_once_exits_zero(history):
    d, _ = history
    res = repl(d, "")
    assert res.returncode == 0 and res.stdout == ""


@pytest.mark.slow
def test_repl_with_id_binds_obj(history):
    d, a = history
    res = repl(d, "obj.status\n", a["exec_id"].hex()[:8])
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].startswith(f"Execution(id='{a['exec_id'].hex()[:8]}', task_name='main'")
    assert lines[1] == "'DONE'"


def test_query_views(history, tmp_path, monkeypatch):
    d, a = history
    repo = Repo.open(d)
    ns = make_namespace(repo)
    query = ns["query"]
    ex = query(a["exec_id"].hex()[:8])
    assert ex.status == "DONE" and len(ex.jobs) == 4 and ex.job.task.name == "main"
    assert ns["last_exec"] == ex and ns["execs"] == [ex]
    assert query("-") == ex and query("~1") == ex
    job = query(a["jobs"][0][0].hex()[:12])
    assert job.parent_job.id == uuid_str(a["root"][0])
    assert job.call_node.value.path == "out.txt"
    assert job.execution == ex
    task = query("step")
    assert task.fullname == "step" and "def step" in task.source and len(task.jobs) == 3
    cn = job.call_node
    args = cn.arguments
    assert len(args) == 1 and args[0].arg_position == 0 and args[0].value.value == (1, 0)
    assert repr(args[0]) == "Argument(task_name='step', pos=0, value=(1, 0))"
    assert cn.jobs[0] == job
    assert query("zzzz") is None
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out.txt").write_text("x")
    f, j, kind = query("out.txt")
    assert repr(f).startswith("File(hash=") and j == job and kind == "result"
    repo.close()
