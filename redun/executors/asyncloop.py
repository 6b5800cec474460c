"""async tasks: an event loop on a thread of its own (upstream's local executor does the same).

`async def` tasks run as coroutines on this loop, all of them concurrently; the
running task's scheduler and job are context variables (`get_current_job`), so
`await expr` inside the task can ask the scheduler to evaluate `expr` now
(`Scheduler.evaluate_async`: the evaluation happens on the scheduler's thread,
the result comes back to the loop through a future).
"""

import asyncio
import threading
from contextvars import ContextVar
from typing import Optional

redun_scheduler_var: ContextVar = ContextVar("redun_scheduler")
redun_job_var: ContextVar = ContextVar("redun_job")


def set_current_job(scheduler, job) -> None:
    redun_scheduler_var.set(scheduler)
    redun_job_var.set(job)


def get_current_job() -> tuple:
    """(scheduler, job) of the async task running in this context, (None, None) outside one."""
    return redun_scheduler_var.get(None), redun_job_var.get(None)


class AsyncRunner:
    """One event loop thread running submitted async jobs until stop()."""

    def __init__(self, scheduler):
        self._scheduler = scheduler
        self._ready = threading.Event()
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._tasks: set = set()
        self._thread = threading.Thread(target=self._run, name="redun-async", daemon=True)
        self._thread.start()
        self._ready.wait()

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        self._ready.set()
        self._loop.run_forever()
        self._loop.close()

    def submit(self, job) -> None:
        scheduler = self._scheduler

        async def run() -> None:
            set_current_job(scheduler, job)
            try:
                result = await job.task.func(*job.call_args, **job.call_kwargs)
            except Exception as error:
                scheduler.reject_job(job, error)
            else:
                scheduler.done_job(job, result)

        def start() -> None:
            task = asyncio.ensure_future(run())
            self._tasks.add(task)  # keep a reference while it runs
            task.add_done_callback(self._tasks.discard)

        self._loop.call_soon_threadsafe(start)

    def stop(self) -> None:
        if self._loop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
