"""Debugging and testing support (issue 14): `redun run --pdb`, `--rerun`, redun.tools.debug_task,
`redun oneshot`, RedunClient, the redun.pytest plugin. Outputs checked against upstream 0.44.1."""

import os
import pickle
import subprocess
import sys
import textwrap

import pytest
from inproc import Workflow

from redun.errors import UsageError, WorkflowError

WF = textwrap.dedent('''
    from redun import task
    from redun.tools import debug_task

    redun_namespace = "dbg"

    @task()
    def add(a: int, b: int) -> int:
        return a + b

    @task()
    def boom(num: float, denom: float) -> float:
        return num / denom

    @task()
    def will_boom(num: float = 10, denom: float = 0) -> float:
        return boom(num=num, denom=denom)

    @task()
    def inspect() -> int:
        return add(4, debug_task(add(1, 2)))
''')


@pytest.fixture
def wf(tmp_path):
    return Workflow(tmp_path, WF)


def _redun(wf, *args, stdin=""):
    return subprocess.run([sys.executable, "-m", "redun", "-c", wf.config, *args], cwd=wf.root, input=stdin,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_pdb_opens_post_mortem_in_the_failing_task(wf):
    p = _redun(wf, "run", "--pdb", wf.script, "will_boom", stdin="p num\np denom\nq\n")
    assert p.returncode == 1
    assert p.stdout.startswith("Uncaught exception. Entering postmortem debugging.\n")
    assert f"{wf.script}(13)boom()\n-> return num / denom\n(Pdb) 10\n(Pdb) 0\n" in p.stdout
    assert "ZeroDivisionError: division by zero" in p.stderr
    p = _redun(wf, "run", wf.script, "will_boom")  # without --pdb: no debugger
    assert p.returncode == 1 and "postmortem" not in p.stdout


def test_rerun_a_job_with_its_arguments_or_overrides(wf):
    r = wf.redun("run", wf.script, "will_boom", expect=1)
    job = [line for line in r.lines if "Run    Job" in line and "dbg.boom(" in line][0].split()[3].rstrip(":")
    r = wf.redun("run", "--rerun", wf.script, job, expect=1)  # same arguments: the same failure
    assert ":  dbg.boom(num=10, denom=0) on default" in r.err and r.err.count("Run    Job") == 1
    r = wf.redun("run", wf.script, "--rerun", job, "--denom", "10")  # options after SCRIPT, as upstream's README
    assert r.value == 1.0 and ":  dbg.boom(num=10, denom=10.0) on default" in r.err
    with pytest.raises(UsageError, match='Unknown job or execution "ffffffff"'):
        wf.redun("run", "--rerun", wf.script, "ffffffff")
    execution = wf.redun("log", "--exec").out.splitlines()[-1].split()[1]  # the oldest: will_boom
    r = wf.redun("run", "--rerun", wf.script, execution, expect=1)  # an execution: its root job
    assert ":  dbg.will_boom(num=10, denom=0) on default" in r.err


@pytest.mark.slow
def test_debug_task_stops_in_pdb_and_passes_the_value_on(wf):
    p = _redun(wf, "run", wf.script, "inspect", stdin="p value\nc\n")
    assert p.returncode == 0, p.stderr
    assert "(Pdb) 3\n" in p.stdout and p.stdout.rstrip().endswith("7")
    from redun.tools import debug_task

    assert debug_task.fullname == "redun.debug_task"
    assert debug_task.hash == "a9b4edf6bf40038db349cf0c568d20728314ede1"  # upstream 0.44.1's


def test_oneshot(wf, tmp_path):
    r = wf.redun("oneshot", wf.script, "dbg.add", "--a", "1", "--b", "5")
    assert r.value == 6 and r.out == "6\n"
    assert "[redun] oneshot:  redun oneshot" in r.err
    assert not os.path.exists(wf.config)  # nothing recorded
    assert wf.redun("oneshot", wf.script, "dbg.inspect").out.startswith("dbg.add(4, ")  # children not evaluated
    out = str(tmp_path / "out.pkl")
    wf.redun("oneshot", "-o", out, wf.script, "dbg.add", "--a", "2", "--b", "2")
    assert pickle.load(open(out, "rb")) == 4
    assert "Existing output found" in wf.redun("oneshot", "-o", out, wf.script, "dbg.add", "--a", "9").err
    assert "Existing output" not in wf.redun("oneshot", "--no-cache", "-o", out, wf.script, "dbg.add", "--a", "9",
                                             "--b", "1").err
    assert pickle.load(open(out, "rb")) == 10
    inp = str(tmp_path / "in.pkl")
    pickle.dump(((3,), {"b": 4}), open(inp, "wb"))
    assert wf.redun("oneshot", "-i", inp, wf.script, "dbg.add").value == 7
    err = str(tmp_path / "err.pkl")
    with pytest.raises(ZeroDivisionError):
        wf.redun("oneshot", "-e", err, wf.script, "dbg.boom", "--num", "1", "--denom", "0")
    error, text = pickle.load(open(err, "rb"))
    assert isinstance(error, ZeroDivisionError) and "return num / denom" in text
    # (a name no other test registers: the task registry is per process, as upstream's)
    with pytest.raises(WorkflowError, match='Unknown task "dbg_add_unqualified"'):
        wf.redun("oneshot", wf.script, "dbg_add_unqualified")
    assert "   dbg.add" in wf.redun("oneshot", wf.script, "help").out.splitlines()
    with pytest.raises(UsageError, match="Array job environment variable not set"):
        wf.redun("oneshot", "--array-job", "-i", inp, wf.script, "dbg.add")
    pickle.dump(([(1,), (2,)], [{"b": 10}, {"b": 20}]), open(inp, "wb"))
    os.environ["AWS_BATCH_JOB_ARRAY_INDEX"] = "1"
    try:
        assert wf.redun("oneshot", "--array-job", "-i", inp, wf.script, "dbg.add").value == 22
    finally:
        del os.environ["AWS_BATCH_JOB_ARRAY_INDEX"]


def test_redun_client_runs_commands_in_process(wf, monkeypatch):
    import io

    from redun.cli import RedunClient

    out = io.StringIO()
    client = RedunClient(stdout=out, stderr=io.StringIO())
    monkeypatch.chdir(wf.root)
    assert client.execute(["redun", "-c", wf.config, "run", wf.script, "add", "--a", "1", "--b", "2"]) == 3
    client.execute(["redun", "-c", wf.config, "log", "--job"])
    assert "dbg.add(a=1, b=2)" in out.getvalue()
    with pytest.raises(SystemExit):
        client.execute(["redun", "nosuchcommand"])


@pytest.mark.slow
def test_pytest_plugin_gives_a_scheduler_fixture(tmp_path):
    (tmp_path / "flow.py").write_text("from redun import task\n\n@task(namespace='pt')\ndef add(a, b):\n"
                                      "    return a + b\n\n@task(namespace='pt')\ndef div(a, b):\n    return a / b\n")
    (tmp_path / "test_flow.py").write_text(textwrap.dedent('''
        import pytest
        from flow import add, div
        from redun.pytest import Scheduler

        def test_add(scheduler: Scheduler) -> None:
            assert isinstance(scheduler, Scheduler) and scheduler.repo is None
            assert scheduler.run(add(1, 2)) == 3

        def test_fail(scheduler: Scheduler) -> None:
            with pytest.raises(ZeroDivisionError):
                scheduler.run(div(1, 0))
    '''))
    p = subprocess.run([sys.executable, "-m", "pytest", "-p", "redun.pytest", "-q", "-p", "no:cacheprovider",
                        "test_flow.py"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and "2 passed" in p.stdout, p.stdout + p.stderr
    assert not os.path.exists(tmp_path / ".redun")
