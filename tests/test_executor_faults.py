"""SIGKILL of a worker mid-run, with real processes: a local executor's worker process and a
Dask worker. The killed job fails (local: WorkerProcessDied) or is rerun elsewhere (Dask, up to
allowed-failures, then KilledWorker); every finished job stays recorded, the rerun hits the
cache for them, and `redun fsck` is clean."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest_dask import ALLOWED_FAILURES, dask_cluster  # noqa: F401 - fixture

N = 6

WF = textwrap.dedent('''
    import os, time
    from redun import task

    redun_namespace = "fault"

    @task(executor="work")
    def step(x: int, marker_dir: str, hang_attempts: int = 0) -> int:
        """Job 0 hangs (to be killed) on its first `hang_attempts` attempts; the others return."""
        path = os.path.join(marker_dir, "step-%d" % x)
        with open(path, "a") as fh:
            fh.write("%d\\n" % os.getpid())
        if x == 0 and len(open(path).read().split()) <= hang_attempts:
            time.sleep(300)
        return x * 10

    @task()
    def main(n: int, marker_dir: str, hang_attempts: int = 0) -> list:
        return [step(i, marker_dir, hang_attempts) for i in range(n)]
''')


def setup_repo(tmp_path, executor_section: str) -> Path:
    (tmp_path / "wf.py").write_text(WF)
    (tmp_path / ".redun").mkdir()
    (tmp_path / ".redun" / "redun.ini").write_text("[executors.work]\n" + executor_section)
    (tmp_path / "markers").mkdir()
    return tmp_path


def env_for(cwd: Path) -> dict:
    return dict(os.environ, REDUN_CONFIG=str(cwd / ".redun"), REDUN_USER="tester", PYTHONFAULTHANDLER="1")


def finish(run: subprocess.Popen, timeout: float = 120) -> tuple:
    """(stdout, stderr) of the run; if it hangs, its threads' stacks (faulthandler, SIGABRT) in the failure."""
    try:
        run.wait(timeout)
    except subprocess.TimeoutExpired:
        ps = subprocess.run(["ps", "-ef", "--forest"], capture_output=True, text=True).stdout
        run.send_signal(signal.SIGABRT)
        run.wait()
        err = (run.cwd / "run.err").read_text()
        raise AssertionError(f"the run did not end after the kill:\n{err}\n{ps}") from None
    return (run.cwd / "run.out").read_text(), (run.cwd / "run.err").read_text()


def start_run(cwd: Path, hang_attempts: int) -> subprocess.Popen:
    """The run in the background; its output goes to files (worker processes inherit pipes)."""
    run = subprocess.Popen([sys.executable, "-m", "redun", "run", "wf.py", "main", "--n", str(N), "--marker-dir",
                            str(cwd / "markers"), "--hang-attempts", str(hang_attempts)],
                           cwd=cwd, env=env_for(cwd), stdout=open(cwd / "run.out", "w"),
                           stderr=open(cwd / "run.err", "w"))
    run.cwd = cwd
    return run


def redun(cwd: Path, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "redun", *args], cwd=cwd, env=env_for(cwd), capture_output=True,
                          text=True, timeout=300)


def wait_for(predicate, what: str, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while not predicate():
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def kill_hanging_attempt(cwd: Path, attempt: int) -> int:
    """Wait until job 0 is in its `attempt`-th attempt and the other jobs have run; SIGKILL the
    process running job 0. Returns its pid."""
    markers = cwd / "markers"
    victim = markers / "step-0"
    wait_for(lambda: victim.exists() and len(victim.read_text().split()) >= attempt, f"attempt {attempt}")
    wait_for(lambda: all((markers / f"step-{i}").exists() for i in range(1, N)), "the other jobs")
    time.sleep(0.5)  # their results reach the scheduler (and the pack) before the kill
    pid = int(victim.read_text().split()[attempt - 1])
    os.kill(pid, signal.SIGKILL)
    return pid


def rerun(cwd: Path, hang_attempts: int) -> tuple:
    """The same call again (job 0 no longer hangs: its attempts are used up); (stderr, Cached lines)."""
    p = redun(cwd, "run", "wf.py", "main", "--n", str(N), "--marker-dir", str(cwd / "markers"),
              "--hang-attempts", str(hang_attempts))
    assert p.returncode == 0, p.stderr
    cached = [line for line in p.stderr.splitlines() if "Cached Job" in line and "fault.step" in line]
    return p.stderr, cached


@pytest.mark.slow
def test_sigkill_of_a_local_worker_process(tmp_path):
    cwd = setup_repo(tmp_path, "type = local\nmode = process\nmax_workers = 2\nstart_method = fork\n")
    run = start_run(cwd, hang_attempts=1)
    pid = kill_hanging_attempt(cwd, 1)
    _, err = finish(run)
    assert run.returncode == 1, err
    assert f"Worker process {pid} of executor 'work' was killed by signal SIGKILL while running task " \
           "fault.step" in err
    assert "*** Reject Job" in err
    # every job that finished is recorded: the rerun takes them from the cache, only step(0) runs
    stderr, cached = rerun(cwd, 1)
    assert len(cached) == N - 1, stderr
    assert "Run    Job" in stderr and "fault.step(x=0," in stderr
    f = redun(cwd, "fsck")
    assert f.returncode == 0, f.stdout + f.stderr


@pytest.mark.dask
def test_sigkill_of_a_dask_worker_reruns_the_job_elsewhere(tmp_path, dask_cluster):
    cwd = setup_repo(tmp_path, f"type = dask\nscheduler_address = {dask_cluster.address}\n")
    run = start_run(cwd, hang_attempts=1)
    kill_hanging_attempt(cwd, 1)
    out, err = finish(run, 180)
    assert run.returncode == 0, err
    assert "[0, 10, 20, 30, 40, 50]" in out
    assert len((cwd / "markers" / "step-0").read_text().split()) == 2  # ran twice: killed, then rerun
    stderr, cached = rerun(cwd, 1)
    assert len(cached) == N, stderr
    f = redun(cwd, "fsck")
    assert f.returncode == 0, f.stdout + f.stderr
    dask_cluster.wait_for_workers(2)  # the nanny restarted the killed worker


@pytest.mark.dask
def test_dask_job_fails_after_allowed_failures(tmp_path, dask_cluster):
    dask_cluster.wait_for_workers(2)
    cwd = setup_repo(tmp_path, f"type = dask\nscheduler_address = {dask_cluster.address}\n")
    run = start_run(cwd, hang_attempts=ALLOWED_FAILURES + 1)
    for attempt in range(1, ALLOWED_FAILURES + 2):
        kill_hanging_attempt(cwd, attempt)
    _, err = finish(run, 180)
    assert run.returncode == 1, err
    assert "KilledWorker" in err
    stderr, cached = rerun(cwd, ALLOWED_FAILURES + 1)
    assert len(cached) == N - 1, stderr
    f = redun(cwd, "fsck")
    assert f.returncode == 0, f.stdout + f.stderr
    dask_cluster.wait_for_workers(2)
