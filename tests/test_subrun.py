"""subrun: a sub-workflow evaluated by its own scheduler inside an executor, recorded into the
caller's execution (under the subrun job) or as a new execution; JobInfo."""

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest_dask import dask_cluster  # noqa: F401 - fixture

from redun import Scheduler, task
from redun.repo.repository import Repo
from redun.scheduler import JobInfo

WF = textwrap.dedent('''
    import os
    from redun import task
    from redun.scheduler import subrun

    redun_namespace = "sub"

    @task()
    def leaf(x: int) -> int:
        return x * 2

    @task()
    def inner(n: int) -> list:
        return [leaf(i) for i in range(n)]

    @task()
    def fails(n: int) -> int:
        raise ValueError("inner failure %d" % n)

    @task()
    def pid() -> int:
        return os.getpid()

    @task()
    def main(n: int = 3, executor: str = "process", new_execution: bool = False) -> list:
        return subrun(inner(n), executor=executor, new_execution=new_execution)

    @task()
    def main_fail(n: int = 1) -> int:
        return subrun(fails(n), executor="process")

    @task()
    def where() -> list:
        return [pid(), subrun(pid(), executor="process")]
''')


def redun(cwd: Path, *args) -> subprocess.CompletedProcess:
    env = dict(os.environ, REDUN_CONFIG=str(cwd / ".redun"), REDUN_USER="tester")
    return subprocess.run([sys.executable, "-m", "redun", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture
def wf(tmp_path):
    (tmp_path / "wf.py").write_text(WF)
    return tmp_path


@pytest.mark.slow
def test_subrun_in_a_worker_process_extends_the_execution(wf):
    p = redun(wf, "run", "wf.py", "main")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "[0, 2, 4]"
    assert "BEGIN: Sub-scheduler report (executor='process'), sub.inner(3)" in p.stderr
    assert "redun.subrun_root_task(" in p.stderr and " on process" in p.stderr
    log = redun(wf, "log", "-").stdout
    # one execution; the sub-scheduler's jobs are children of the subrun job
    assert "Jobs: 6 (DONE: 6" in log, log
    depth = {m.group(2): len(m.group(1)) for m in re.finditer(r"^( *)Job \w+ \[.*?\] \S+ \S+:\s+([\w.]+)\(",
                                                                log, re.M)}
    assert depth["sub.main"] < depth["redun.subrun_root_task"] < depth["sub.inner"] < depth["sub.leaf"]
    assert len(redun(wf, "log").stdout.strip().splitlines()) == 3  # header, blank, one execution
    f = redun(wf, "fsck")
    assert f.returncode == 0, f.stdout + f.stderr
    again = redun(wf, "run", "wf.py", "main")
    assert again.returncode == 0 and "Run    Job" not in again.stderr, again.stderr


@pytest.mark.slow
def test_subrun_new_execution(wf):
    p = redun(wf, "run", "wf.py", "main", "--n", "2", "--executor", "default", "--new-execution", "true")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "[0, 2]"
    assert p.stderr.count("Start Execution") == 2
    assert redun(wf, "log").stdout.count("Exec ") == 2
    f = redun(wf, "fsck")
    assert f.returncode == 0, f.stdout + f.stderr


@pytest.mark.slow
def test_subrun_error_comes_back(wf):
    p = redun(wf, "run", "wf.py", "main_fail")
    assert p.returncode == 1
    assert "ValueError: inner failure 1" in p.stderr


@pytest.mark.slow
def test_subrun_runs_in_another_process(wf):
    p = redun(wf, "run", "wf.py", "where")
    assert p.returncode == 0, p.stderr
    here, there = eval(p.stdout)
    assert here != there


def test_job_info_is_filled_in_when_the_job_is_submitted(tmp_path):
    @task(namespace="subtest")
    def who(x: int, info: JobInfo = JobInfo()) -> tuple:
        return info.job_id, info.execution_id, info.eval_hash, x

    s = Scheduler(repo=Repo.init(str(tmp_path / ".redun")), quiet=True)
    job_id, execution_id, eval_hash, x = s.run(who(5))
    assert job_id == s.root_job.id and execution_id == s.execution_id and eval_hash == s.root_job.eval_hash
    assert x == 5
    # hashed and recorded with the placeholder: the next run is a cache hit
    s2 = Scheduler(repo=Repo.open(str(tmp_path / ".redun")), quiet=True)
    assert s2.run(who(5))[0] == job_id
    assert s2.root_job.was_cached


@pytest.mark.dask
@pytest.mark.slow
def test_subrun_on_a_dask_cluster_records_into_the_execution(wf, dask_cluster):
    (wf / ".redun").mkdir()
    (wf / ".redun" / "redun.ini").write_text(f"[executors.dask]\ntype = dask\nscheduler_address = "
                                             f"{dask_cluster.address}\n")
    p = redun(wf, "run", "wf.py", "main", "--executor", "dask")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "[0, 2, 4]"
    assert "Jobs: 6 (DONE: 6" in redun(wf, "log", "-").stdout
    f = redun(wf, "fsck")
    assert f.returncode == 0, f.stdout + f.stderr
