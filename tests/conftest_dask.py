"""A real Dask cluster on 127.0.0.1 for the dask executor tests: `dask scheduler` and two
`dask worker` processes (each under its nanny, which restarts a killed worker), started
from the venv's `dask` command. Imported by tests/test_dask_executor.py."""

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

ALLOWED_FAILURES = 1  # a task is rerun once after its worker dies, then fails with KilledWorker


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dask_command() -> str:
    path = os.path.join(os.path.dirname(sys.executable), "dask")
    if not os.path.exists(path):
        pytest.fail(f"{path} not found: install the test extra (pip install -e '.[test]'), which brings dask.")
    return path


class DaskCluster:
    def __init__(self, address: str, procs: list):
        self.address = address
        self.procs = procs

    def worker_pids(self) -> dict:
        """{worker pid: worker name} as the scheduler sees them."""
        import distributed

        with distributed.Client(self.address, timeout=30, set_as_default=False) as client:
            info = client.scheduler_info(n_workers=-1)["workers"]
            pids = client.run(os.getpid)
        return {pid: info[addr]["name"] for addr, pid in pids.items()}

    def wait_for_workers(self, n: int, timeout: float = 90) -> None:
        import distributed

        with distributed.Client(self.address, timeout=30, set_as_default=False) as client:
            client.wait_for_workers(n, timeout=timeout)


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    pytest.importorskip("distributed", reason="the dask executor tests need the test extra (dask[distributed])")
    dask = _dask_command()
    tmp = tmp_path_factory.mktemp("dask")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = dict(os.environ, DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES=str(ALLOWED_FAILURES),
               DASK_DISTRIBUTED__WORKER__DAEMON="False")
    logs = []

    def start(name, args):
        log = open(tmp / f"{name}.log", "w")
        logs.append(log)
        return subprocess.Popen([dask, *args], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp,
                                start_new_session=True)

    procs = [start("scheduler", ["scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"])]
    for i in (1, 2):
        procs.append(start(f"worker{i}", ["worker", address, "--name", f"w{i}", "--nworkers", "1", "--nthreads",
                                           "2", "--host", "127.0.0.1", "--no-dashboard",
                                           "--local-directory", str(tmp / f"w{i}")]))
    cluster = DaskCluster(address, procs)
    try:
        deadline = time.time() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.time() > deadline or procs[0].poll() is not None:
                    raise RuntimeError("dask scheduler did not start: " + (tmp / "scheduler.log").read_text())
                time.sleep(0.2)
        cluster.wait_for_workers(2)
        yield cluster
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        for log in logs:
            log.close()
