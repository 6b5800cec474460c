"""Executors: the local executor's thread and process modes, alias, user executors, config."""

import io
import os
import threading

import pytest

import exec_tasks as T
from redun import Scheduler
from redun.config import Config
from redun.errors import ConfigError
from redun.executors.alias import AliasExecutor
from redun.executors.base import Executor, ExecutorError, get_executor_class, register_executor
from redun.executors.local import LocalExecutor


def scheduler(executors=None, **sections) -> Scheduler:
    """A quiet in-memory scheduler; executors={"NAME": {key: value}} become [executors.NAME]."""
    for name, section in (executors or {}).items():
        sections[f"executors.{name}"] = section
    return Scheduler(config=Config(config_dict=sections) if sections else None, quiet=True)


def test_default_executors_are_thread_and_process():
    s = scheduler()
    assert set(s.executors) == {"default", "process"}
    assert s.executors["default"].mode == "thread"
    assert s.executors["process"].mode == "process"
    assert s.executors["process"].start_method == "forkserver"


@pytest.mark.slow
def test_process_executor_runs_jobs_in_other_processes():
    s = scheduler()
    results = s.run(T.fan(6))
    pids = {pid for pid, _, _ in results}
    assert os.getpid() not in pids
    assert len(pids) > 1  # several workers
    assert [x for _, _, x in results] == list(range(1, 7))
    thread_results = s.run(T.fan(4, executor="default", start=100))  # not the cached calls above
    assert {pid for pid, _, _ in thread_results} == {os.getpid()}


@pytest.mark.slow
def test_task_executor_option_and_call_time_override_are_logged():
    from redun.engine.runlog import RunLog

    out = io.StringIO()
    s = Scheduler(log=RunLog(stream=out))
    pid, _, _ = s.run(T.where_process(1))
    assert pid != os.getpid()
    s.run(T.where.options(executor="process")(2))
    runs = [line for line in out.getvalue().splitlines() if line.startswith("[redun] Run")]
    assert runs and all(line.endswith("on process") for line in runs), runs


@pytest.mark.slow
@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_start_methods(method):
    s = scheduler(executors={"p": {"type": "local", "mode": "process", "start_method": method,
                                   "max_workers": "2"}})
    results = s.run(T.fan(3, executor="p"))
    assert [x for _, _, x in results] == [1, 2, 3]  # a new Scheduler: nothing cached
    assert os.getpid() not in {pid for pid, _, _ in results}


@pytest.mark.slow
def test_process_error_comes_back_with_its_traceback():
    s = scheduler()
    with pytest.raises(ValueError, match="bad value 5"):
        s.run(T.fail.options(executor="process")(5))
    text = "\n".join(s.traceback_lines)
    assert "exec_tasks.py" in text and "raise ValueError" in text


@pytest.mark.slow
def test_unpicklable_result_and_error_fail_clearly():
    from redun.executors.remote_call import RemoteTaskError

    s = scheduler()
    with pytest.raises(RemoteTaskError, match="result could not be pickled"):
        s.run(T.unpicklable_result.options(executor="process")(1))
    with pytest.raises(RemoteTaskError, match="Unpicklable: kept here"):
        s.run(T.unpicklable_error.options(executor="process")(1))


@pytest.mark.slow
def test_crashed_worker_fails_its_job_and_the_pool_goes_on():
    from redun.executors.processes import WorkerProcessDied

    s = scheduler()
    with pytest.raises(WorkerProcessDied, match=r"exited with code 3 while running task exectest.die"):
        s.run(T.die.options(executor="process")(1))
    # the same scheduler still runs process jobs
    assert [x for _, _, x in s.run(T.fan(2, start=200))] == [201, 202]


@pytest.mark.slow
def test_task_mode_option_picks_the_pool():
    s = scheduler()
    pid, _, _ = s.run(T.where.options(mode="process")(1))
    assert pid != os.getpid()
    with pytest.raises(ConfigError, match="mode = 'gpu' is not supported"):
        s.run(T.where.options(mode="gpu")(2))


def test_config_errors():
    with pytest.raises(ConfigError, match="start_method = 'vfork'"):
        scheduler(executors={"p": {"type": "local", "start_method": "vfork"}})
    with pytest.raises(ConfigError, match="mode = 'fibers'"):
        scheduler(executors={"p": {"type": "local", "mode": "fibers"}})
    with pytest.raises(ConfigError, match="max_workers must be an integer"):
        scheduler(executors={"p": {"type": "local", "max_workers": "many"}})
    with pytest.raises(ConfigError, match=r"'aws_batch'.*not supported by this build.*supported types: .*local"):
        scheduler(executors={"batch": {"type": "aws_batch"}})
    with pytest.raises(ConfigError, match="Unknown executor type 'warp'"):
        scheduler(executors={"x": {"type": "warp"}})


def test_unknown_executor_name_fails_the_job():
    from redun.scheduler import SchedulerError

    with pytest.raises(SchedulerError, match='Unknown executor "gpu"'):
        scheduler().run(T.where.options(executor="gpu")(1))


def test_alias_executor():
    s = scheduler(executors={"heavy": {"type": "alias", "target": "process"}})
    assert isinstance(s.executors["heavy"], AliasExecutor)
    pid, _, _ = s.run(T.where.options(executor="heavy")(1))
    assert pid != os.getpid()
    s = scheduler(executors={"bad": {"type": "alias", "target": "nowhere"}})
    with pytest.raises(ExecutorError, match="Could not find executor `nowhere`"):
        s.run(T.where.options(executor="bad")(1))
    with pytest.raises(ConfigError, match="needs a `target`"):
        scheduler(executors={"a": {"type": "alias"}})
    alias = AliasExecutor("fast", target=LocalExecutor("default"))
    assert alias.target_name == "default"


def test_add_executor_as_in_upstreams_testing_example():
    s = Scheduler(quiet=True)
    s.add_executor(LocalExecutor("batch"))
    assert s.run(T.where.options(executor="batch")(10))[2] == 11


@register_executor("inline_test")
class InlineExecutor(Executor):
    """A user's own executor, registered as upstream documents: runs jobs on the caller's thread."""

    def __init__(self, name, scheduler=None, config=None):
        super().__init__(name, scheduler=scheduler)
        self.prefix = (config or {}).get("prefix", "")
        self.ran = []

    def submit(self, job):
        args, kwargs = job.args
        self.ran.append(job.task.fullname)
        try:
            self._scheduler.done_job(job, job.task.func(*args, **kwargs))
        except Exception as error:
            self._scheduler.reject_job(job, error)


def test_user_executor_registered_and_built_from_config():
    assert get_executor_class("inline_test") is InlineExecutor
    s = scheduler(executors={"mine": {"type": "inline_test", "prefix": "x"}})
    ex = s.executors["mine"]
    assert isinstance(ex, InlineExecutor) and ex.prefix == "x"
    pid, tid, value = s.run(T.where.options(executor="mine")(4))
    assert (pid, tid, value) == (os.getpid(), threading.get_ident(), 5)
    assert ex.ran == ["exectest.where"]
    with pytest.raises(ValueError, match="bad value 2"):
        s.run(T.fail.options(executor="mine")(2))


def test_base_executor_rejects():
    s = Scheduler(executor=Executor("default"), quiet=True)
    with pytest.raises(ExecutorError, match="does not support submitting tasks"):
        s.run(T.where(1))


@pytest.mark.slow
def test_script_task_in_a_worker_process():
    s = scheduler()
    assert s.run(T.shout.options(executor="process")("hello")) == b"hello\n"
    assert s.run(T.shout("thread")) == b"thread\n"


@pytest.mark.slow
def test_pytest_fixture_and_add_executor_in_a_users_test_suite(tmp_path):
    """A user's tests with redun.pytest's `scheduler` fixture and a remote executor replaced by a
    local one (upstream's testing pattern), run by pytest in a subprocess."""
    import subprocess
    import sys
    import textwrap

    (tmp_path / "flow.py").write_text(textwrap.dedent('''
        from redun import task

        redun_namespace = "usertests"

        @task(executor="cluster")
        def remote_inc(x: int) -> int:
            return x + 1

        @task()
        def twice(x: int) -> int:
            return remote_inc(remote_inc(x))
    '''))
    (tmp_path / "test_flow.py").write_text(textwrap.dedent('''
        import pytest
        from flow import remote_inc, twice
        from redun.executors.local import LocalExecutor
        from redun.pytest import Scheduler

        def test_fixture_is_in_memory(scheduler):
            assert isinstance(scheduler, Scheduler) and scheduler.repo is None

        def test_unknown_executor_fails(scheduler):
            with pytest.raises(Exception, match='Unknown executor "cluster"'):
                scheduler.run(remote_inc(1))

        def test_local_stand_in():
            scheduler = Scheduler()
            scheduler.add_executor(LocalExecutor("cluster"))
            assert scheduler.run(twice(1)) == 3
    '''))
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "redun.pytest", "test_flow.py"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "3 passed" in p.stdout
