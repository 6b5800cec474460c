"""LocalExecutor: runs jobs on threads of this process (upstream's `local` type).

Config (`[executors.NAME]`, type = local): `max_workers` (default 20) and
`mode` (`thread`; upstream's old spelling `threads` is accepted). Threads are
started as jobs arrive, up to max_workers, and report straight onto the
scheduler's event queue.
"""

from ..errors import ConfigError
from .base import Executor, register_executor, section_int, section_value

THREAD_MODE = "thread"
PROCESS_MODE = "process"
_OLD_MODES = {"threads": THREAD_MODE, "processes": PROCESS_MODE}


@register_executor("local")
class LocalExecutor(Executor):
    MODES = (THREAD_MODE,)

    def __init__(self, name: str, scheduler=None, config=None, mode: str = THREAD_MODE):
        super().__init__(name, scheduler=scheduler)
        self.max_workers = section_int(config, "max_workers", 20, name)
        mode = section_value(config, "mode", mode)
        self.mode = _OLD_MODES.get(mode, mode)
        if self.mode not in self.MODES:
            raise ConfigError(f"[executors.{name}] mode = {mode!r} is not supported; "
                              f"use one of: {', '.join(self.MODES)}.")
        self._scratch_root = section_value(config, "scratch", "/tmp/redun")
        self._workers = None

    def _get_workers(self):
        if self._workers is None:
            from .workers import Workers

            self._workers = Workers(self.max_workers, self._scheduler.events_queue)
        return self._workers

    def submit(self, job) -> None:
        self._get_workers().submit(job, job.task.func, job.call_args, job.call_kwargs)

    def submit_script(self, job) -> None:
        """A script task: its function returns a command; run it, the result is its stdout."""
        from ..scripting import exec_script_task

        self._get_workers().submit(job, exec_script_task, (job.task, job.call_args, job.call_kwargs), {})

    def stop(self) -> None:
        if self._workers is not None:
            self._workers.stop()
            self._workers = None

    def scratch_root(self) -> str:
        return self._scratch_root
