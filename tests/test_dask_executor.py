"""The dask executor against a real cluster (tests/conftest_dask.py): jobs run on the workers,
errors come back with their tracebacks, provenance equals a local run's."""

import os

import pytest
from conftest_dask import dask_cluster  # noqa: F401 - fixture

import exec_tasks as T
from redun import Scheduler
from redun.config import Config
from redun.errors import ConfigError

pytestmark = pytest.mark.dask


def dask_scheduler(cluster=None, **keys) -> Scheduler:
    section = {"type": "dask", **keys}
    if cluster is not None:
        section["scheduler_address"] = cluster.address
    return Scheduler(config=Config(config_dict={"executors.dask": section, "executors.remote": section}),
                     quiet=True)


def test_jobs_run_on_the_cluster_workers(dask_cluster):
    s = dask_scheduler(dask_cluster)
    results = s.run(T.fan(6, executor="dask"))
    pids = {pid for pid, _, _ in results}
    assert os.getpid() not in pids
    assert pids <= set(dask_cluster.worker_pids())
    assert [x for _, _, x in results] == list(range(1, 7))


def test_task_error_comes_back_with_its_traceback(dask_cluster):
    s = dask_scheduler(dask_cluster)
    with pytest.raises(ValueError, match="bad value 7"):
        s.run(T.fail.options(executor="dask")(7))
    text = "\n".join(s.traceback_lines)
    assert "exec_tasks.py" in text and "raise ValueError" in text


def test_provenance_is_the_same_as_a_local_run(dask_cluster):
    local = Scheduler(config=Config(config_dict={"executors.remote": {"type": "local"}}), quiet=True)
    remote = dask_scheduler(dask_cluster)
    assert local.run(T.sum_squares(5)) == remote.run(T.sum_squares(5)) == 30

    def calls(job):
        yield job.task.fullname, job.eval_hash, job.call_hash
        for child in job.child_jobs:
            yield from calls(child)

    assert sorted(calls(local.root_job)) == sorted(calls(remote.root_job))
    assert len(list(calls(remote.root_job))) == 7


def test_local_cluster_when_no_address():
    s = dask_scheduler(n_workers="1", threads_per_worker="2")
    results = s.run(T.fan(2, executor="dask", start=50))
    assert [x for _, _, x in results] == [51, 52]
    assert os.getpid() not in {pid for pid, _, _ in results}


def test_unreachable_scheduler_fails_the_job():
    from redun.executors.base import ExecutorError

    s = Scheduler(config=Config(config_dict={"executors.dask": {
        "type": "dask", "scheduler_address": "tcp://127.0.0.1:9", "connect_timeout": "2"}}), quiet=True)
    with pytest.raises(ExecutorError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        s.run(T.fan(1, executor="dask", start=70))


def test_config_errors():
    with pytest.raises(ConfigError, match="scheduler_address must look like tcp://HOST:PORT"):
        Scheduler(config=Config(config_dict={"executors.d": {"type": "dask", "scheduler_address": "localhost"}}))
    with pytest.raises(ConfigError, match="upload_modules must be true or false"):
        Scheduler(config=Config(config_dict={"executors.d": {"type": "dask", "upload_modules": "maybe"}}))
