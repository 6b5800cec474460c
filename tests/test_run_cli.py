"""`redun run` through the real entry point: output format, options, the compile example."""

import os
import re
import shutil
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import copy_compile_example

from redun.cli.group import cli
from redun.repo.repository import Repo


WF = textwrap.dedent('''
    from typing import List
    from redun import task

    redun_namespace = "cli"

    @task()
    def double(x: int) -> int:
        return 2 * x

    @task()
    def main(n: int = 3, words: List[str] = ["a"], flag: bool = False):
        return {"doubles": [double(i) for i in range(n)], "words": words, "flag": flag}

    @task()
    def boom(x: int = 1):
        raise RuntimeError("boom %d" % x)
''')


def run(cwd, *args, check=None):
    env = dict(os.environ, REDUN_CONFIG=str(Path(cwd) / ".redun"), REDUN_USER="tester")
    p = subprocess.run([sys.executable, "-m", "redun", *args], cwd=cwd, env=env, capture_output=True,
                       text=True, timeout=300)
    if check is not None:
        assert p.returncode == check, f"{p.stdout}\n{p.stderr}"
    return p


@pytest.fixture
def wf(tmp_path):
    (tmp_path / "wf.py").write_text(WF)
    return tmp_path


@pytest.mark.slow
def test_run_output_matches_upstream_shape(wf):
    p = run(wf, "run", "wf.py", "main", check=0)
    err = p.stderr.splitlines()
    assert all(line.startswith("[redun] ") for line in err)
    assert err[0] == "[redun] redun :: version 0.44.1"
    assert err[1].startswith("[redun] config dir: ")
    assert re.fullmatch(r"\[redun\] Start Execution [0-9a-f-]{36}:  redun run wf.py main", err[2])
    assert "[redun] Run    Job " in p.stderr and ":  cli.main(n=3, words=['a'], flag=False) on default" in p.stderr
    assert p.stderr.count("Run    Job") == 4
    table = [line for line in err if line.startswith("[redun] |")]
    assert re.match(r"\[redun\] \| JOB STATUS \d{4}/\d\d/\d\d \d\d:\d\d:\d\d$", table[0])
    assert table[1] == "[redun] | TASK       PENDING RUNNING  FAILED  CACHED    DONE   TOTAL"
    assert table[3] == "[redun] | ALL              0       0       0       0       4       4"
    assert table[4] == "[redun] | cli.double       0       0       0       0       3       3"
    assert re.match(r"\[redun\] Execution duration: \d+\.\d\d seconds$", err[-1])
    assert p.stdout == "{'doubles': [0, 2, 4], 'flag': False, 'words': ['a']}\n"

    p2 = run(wf, "run", "wf.py", "main", check=0)
    assert p2.stderr.count("Cached Job") == 4 and "Run    Job" not in p2.stderr
    assert re.search(r"Cached Job [0-9a-f]{8}:  cli\.double\(x=0\) \(eval_hash=[0-9a-f]{8}, call_hash=None\)",
                     p2.stderr)


@pytest.mark.slow
def test_task_arguments_from_command_line(wf):
    p = run(wf, "run", "wf.py", "main", "--n", "2", "--words", "x", "y", "--flag", "true", check=0)
    assert p.stdout == "{'doubles': [0, 2], 'flag': True, 'words': ['x', 'y']}\n"
    assert "cli.main(n=2, words=['x', 'y'], flag=True)" in p.stderr


@pytest.mark.slow
def test_failing_task_exits_1_with_traceback(wf):
    p = run(wf, "run", "wf.py", "boom", "--x", "4", check=1)
    assert "*** Reject Job" in p.stderr
    assert "[redun] *** Execution failed. Traceback (most recent task last):" in p.stderr
    assert "[redun] RuntimeError: boom 4" in p.stderr
    assert p.stderr.rstrip().endswith("RuntimeError: boom 4")
    assert p.stdout == ""
    repo = Repo.open(str(wf / ".redun"))
    (name, oid), = list(repo.refs.list("execs/"))
    ex = repo.store.get(oid)
    job = repo.store.get(ex.job)
    assert job.status == "FAILED"
    repo.close()


@pytest.mark.slow
def test_unknown_task_and_script(wf):
    p = run(wf, "run", "wf.py", "nope", check=1)
    assert 'Unknown task "cli.nope"' in p.stderr
    p = run(wf, "run", "missing.py", "main", check=1)
    assert "Cannot find Python script" in p.stderr


@pytest.mark.slow
def test_no_prov_records_nothing(wf):
    run(wf, "init", check=0)
    run(wf, "run", "--no-prov", "wf.py", "main", check=0)
    repo = Repo.open(str(wf / ".redun"))
    assert list(repo.refs.list("execs/")) == []
    repo.close()


@pytest.mark.slow
def test_no_cache_reruns(wf):
    run(wf, "run", "wf.py", "main", check=0)
    p = run(wf, "run", "--no-cache", "wf.py", "main", check=0)
    assert p.stderr.count("Run    Job") == 4


@pytest.mark.slow
def test_dryrun(wf):
    p = run(wf, "run", "--dryrun", "wf.py", "main", check=1)
    assert "Dryrun Job" in p.stderr and "Dryrun: Additional jobs would run." in p.stderr
    run(wf, "run", "wf.py", "main", check=0)
    p = run(wf, "run", "--dryrun", "wf.py", "main", check=0)
    assert "Dryrun Job" not in p.stderr


@pytest.mark.slow
def test_tags_user_and_execution_id(wf, tmp_path):
    eid = str(uuid.uuid4())
    r = CliRunner().invoke(cli, ["-c", str(wf / ".redun"), "run", "-t", "env=prod", "-u", "alice",
                                 "--execution-id", eid, str(wf / "wf.py"), "main", "--n", "1"])
    assert r.exit_code == 0, r.output
    repo = Repo.open(str(wf / ".redun"))
    oid = repo.refs.get(f"execs/{eid}")
    ex = repo.store.get(oid)
    assert ex.tags["env"] == '"prod"' and ex.tags["user"] == '"alice"'
    assert ex.tags["redun.version"] == '"0.44.1"' and ex.tags["project"] == '"cli"'
    assert '"run"' in ex.args
    repo.close()


def test_help():
    r = CliRunner().invoke(cli, ["run", "--help"])
    assert r.exit_code == 0
    for opt in ("--no-cache", "--no-prov", "--dryrun", "--option", "--tag", "--user", "--execution-id"):
        assert opt in r.output


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
def test_compile_example_recompiles_only_what_changed(tmp_path):
    d = tmp_path / "compile"
    copy_compile_example(d)
    p = run(d, "run", "make.py", "make", check=0)
    assert p.stderr.count("Run    Job") == 8
    assert "| ALL             0       0       0       1       8       9" in p.stderr
    assert "tasks needing namespace: make.py:compile, make.py:link, make.py:make_prog, make.py:make" in p.stderr
    assert re.fullmatch(r"\[File\(path=prog, hash=[0-9a-f]{8}\), File\(path=prog2, hash=[0-9a-f]{8}\)\]\n",
                        p.stdout)
    assert subprocess.run(["./prog"], cwd=d, capture_output=True, text=True).stdout == "prog1: Hello, World!\n"

    lib = d / "lib.c"
    lib.write_text(lib.read_text().replace("Hello, World!", "Hello, World!!!!!!!!"))
    p = run(d, "run", "make.py", "make", check=0)
    ran = re.findall(r"Run    Job [0-9a-f]{8}:  (\w+)\((.*)\) on default", p.stderr)
    assert sorted(name for name, _ in ran) == ["compile", "link", "link", "make", "make_prog", "make_prog"]
    assert [args for name, args in ran if name == "compile"] == [next(a for n, a in ran if n == "compile")]
    assert "lib.c" in next(a for n, a in ran if n == "compile")
    # as upstream: 2 Cached lines; the second compile(lib.c) collapses silently into the running one
    assert p.stderr.count("Cached Job") == 2
    assert "| ALL             0       0       0       3       6       9" in p.stderr
    assert subprocess.run(["./prog"], cwd=d, capture_output=True, text=True).stdout == \
        "prog1: Hello, World!!!!!!!!\n"


@pytest.mark.slow
def test_option_override(wf):
    run(wf, "run", "wf.py", "main", check=0)
    p = run(wf, "run", "-o", "cache=false", "wf.py", "main", check=0)
    assert p.stderr.count("Run    Job") == 1  # main itself reruns; its children still hit the cache
    assert p.stderr.count("Cached Job") == 3


@pytest.mark.slow
def test_input_pickle(wf):
    import pickle

    (wf / "in.pkl").write_bytes(pickle.dumps(((2,), {"flag": True})))
    p = run(wf, "run", "-i", "in.pkl", "wf.py", "main", "--words", "z", check=0)
    assert p.stdout == "{'doubles': [0, 2], 'flag': True, 'words': ['z']}\n"
