"""LocalExecutor: runs jobs in this machine's threads or processes (upstream's `local` type).

Config (`[executors.NAME]`, type = local):
  mode          `thread` (default) or `process` (upstream's old spellings
                `threads`/`processes` are accepted); a task may pick its own
                with the `mode` task option, as upstream.
  max_workers   worker threads, or worker processes (default 20).
  start_method  how worker processes start: `fork`, `spawn` or `forkserver`
                (default, as upstream: fork is unreliable on macOS).
  scratch       scratch directory (default /tmp/redun).

Threads (executors/workers.py) call the task function in this process.
Processes (executors/processes.py) receive the task's module and name and the
pickled arguments, and send back the pickled result or exception. Both pools
start on the first job of their mode and stop with the executor. The
scheduler defines two: `default` (threads) and `process` (processes). async
tasks (`async def`) run on an event-loop thread instead (executors/asyncloop.py).
"""

from ..errors import ConfigError
from .asyncloop import get_current_job, set_current_job  # noqa: F401 - upstream's redun.executors.local names
from .base import Executor, register_executor, section_int, section_value

THREAD_MODE = "thread"
PROCESS_MODE = "process"
_OLD_MODES = {"threads": THREAD_MODE, "processes": PROCESS_MODE}


@register_executor("local")
class LocalExecutor(Executor):
    MODES = (THREAD_MODE, PROCESS_MODE)
    START_METHODS = ("fork", "spawn", "forkserver")
    DEFAULT_START_METHOD = "forkserver"

    def __init__(self, name: str, scheduler=None, config=None, mode: str = THREAD_MODE):
        super().__init__(name, scheduler=scheduler)
        self.max_workers = section_int(config, "max_workers", 20, name)
        mode = section_value(config, "mode", mode)
        self.mode = _OLD_MODES.get(mode, mode)
        if self.mode not in self.MODES:
            raise ConfigError(f"[executors.{name}] mode = {mode!r} is not supported; "
                              f"use one of: {', '.join(self.MODES)}.")
        self.start_method = section_value(config, "start_method", self.DEFAULT_START_METHOD)
        if self.start_method not in self.START_METHODS:
            raise ConfigError(f"[executors.{name}] start_method = {self.start_method!r} is not supported; "
                              f"use one of: {', '.join(self.START_METHODS)}.")
        self._scratch_root = section_value(config, "scratch", "/tmp/redun")
        self._threads_only = self.mode == THREAD_MODE  # unless a task asks for another mode
        self._workers = None  # threads
        self._processes = None
        self._async = None  # AsyncRunner, started by the first async task

    def supports_async(self) -> bool:
        return True

    # -- pools, started on first use -------------------------------------------------
    def _thread_pool(self):
        if self._workers is None:
            from .workers import Workers

            self._workers = Workers(self.max_workers, self._scheduler.events_queue)
        return self._workers

    def _process_pool(self):
        if self._processes is None:
            from .processes import ProcessWorkers

            self._processes = ProcessWorkers(self.max_workers, self.start_method, self._scheduler.events_queue,
                                             name=self.name)
        return self._processes

    def _job_mode(self, job) -> str:
        mode = job.get_options().get("mode") or self.mode
        mode = _OLD_MODES.get(mode, mode)
        if mode not in self.MODES:
            raise ConfigError(f"Task {job.task.fullname}: mode = {mode!r} is not supported by executor "
                              f"'{self.name}'; use one of: {', '.join(self.MODES)}.")
        return mode

    # -- the Executor interface ------------------------------------------------------
    def submit(self, job) -> None:
        task = job.task
        if task.is_async():
            if self._async is None:
                from .asyncloop import AsyncRunner

                self._async = AsyncRunner(self._scheduler)
            self._async.submit(job)
            return
        workers, options = self._workers, job._merged_options
        if workers is not None and self._threads_only and options is not None and "mode" not in options:
            # the common case, kept short (the scheduler has merged the job's options already)
            workers.submit(job, task.func, job.call_args, job.call_kwargs)
            return
        try:
            mode = self._job_mode(job)
        except ConfigError as error:
            self._scheduler.reject_job(job, error)
            return
        if mode == THREAD_MODE:
            self._thread_pool().submit(job, job.task.func, job.call_args, job.call_kwargs)
        else:
            from .remote_call import CALL, describe_call

            self._process_pool().submit(job, describe_call(CALL, job))

    def submit_script(self, job) -> None:
        """A script task: its function returns a command; the job's result is the command's output."""
        try:
            mode = self._job_mode(job)
        except ConfigError as error:
            self._scheduler.reject_job(job, error)
            return
        from .remote_call import SCRIPT, describe_call

        if mode == THREAD_MODE:
            from ..scripting import exec_script_task

            self._thread_pool().submit(job, exec_script_task, (job.task, job.call_args, job.call_kwargs), {})
        else:
            self._process_pool().submit(job, describe_call(SCRIPT, job))

    def stop(self) -> None:
        if self._workers is not None:
            self._workers.stop()
            self._workers = None
        if self._processes is not None:
            self._processes.stop()
            self._processes = None
        if self._async is not None:
            self._async.stop()
            self._async = None

    def scratch_root(self) -> str:
        return self._scratch_root
