"""The event loop of one execution, on the scheduler's thread.

Two queues: `ready` holds continuations (function, args) queued by the
evaluator and the lifecycle, run breadth-first so long chains never recurse
deeply; `events` receives what executors report from their own threads
(`Scheduler.done_job` / `reject_job` put (job, ok, value, frames) on it, and
`(None, None, function, None)` asks for function() on this thread). The
loop runs every ready continuation, then a batch of cache lookups, and blocks
on `events` only when nothing else can move and jobs are still in flight.
"""

import queue
import sys
import time
from collections import deque

FLUSH_AGAIN_AFTER = 0.1  # seconds between flushes while waiting with rows held back


class RunLoop:
    def __init__(self, events, status_interval=None, on_idle=None):
        self.ready: deque = deque()
        self.events = events  # the scheduler's queue, shared with its executors
        self.inflight = 0  # jobs handed to executors and not yet reported back
        # [scheduler] job_status_interval: on_idle() (the JOB STATUS table) after that many
        # seconds without an event, unless a debugger is active in a task (it would garble it).
        self.status_interval = status_interval if on_idle is not None else None
        self.on_idle = on_idle

    def run(self, lifecycle, cache, flush) -> None:
        """Until nothing is ready, nothing waits for a lookup and nothing is in flight.
        flush() is called before blocking, so finished jobs reach storage first; when it
        returns True it has more to hand on shortly, and is called again after a short wait."""
        ready = self.ready
        get = self.events.get
        events_empty = self.events.empty
        done, reject = lifecycle.done_job, lifecycle.reject_job
        while True:
            while ready:
                func, args = ready.popleft()
                func(*args)
            if lifecycle.lookups:
                cache.process()
                continue
            if not self.inflight:
                break
            try:
                job, ok, value, error_traceback = get() if not events_empty() else self._wait(flush)
            except queue.Empty:  # only with a status interval: nothing happened within it
                if not debugger_active():
                    self.on_idle()
                continue
            if job is None:  # a function to call on this thread (Scheduler.evaluate_async, ...)
                value()
                continue
            self.inflight -= 1
            if ok:
                done(job, value)
            else:
                reject(job, _failure(value, job, error_traceback))

    def _wait(self, flush):
        """The next event, flushing first (finished jobs reach the pack before we block, so a
        kill -9 keeps them), and again every FLUSH_AGAIN_AFTER while flush() holds work back.
        Raises queue.Empty when the status interval passes without an event."""
        interval = self.status_interval
        deadline = None if interval is None else time.monotonic() + interval
        while flush():
            try:
                return self.events.get(timeout=FLUSH_AGAIN_AFTER)
            except queue.Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise
        if deadline is None:
            return self.events.get()
        return self.events.get(timeout=max(0.0, deadline - time.monotonic()))


_debugging = [False]
_real_settrace = sys.settrace


def _settrace(func):
    _debugging[0] = func is not None
    _real_settrace(func)


def watch_debugger(on: bool) -> None:
    """While a run waits with a status interval, notice pdb (it calls sys.settrace) in any thread."""
    if on:
        _debugging[0] = False
        sys.settrace = _settrace
    elif sys.settrace is _settrace:
        sys.settrace = _real_settrace


def debugger_active() -> bool:
    return _debugging[0]


def _failure(error, job, error_traceback):
    """The TaskFailure of an executor's report: error_traceback is None (frames from the
    exception), a list of frames, or an upstream-style Traceback object (kept as is)."""
    from .job import TaskFailure, as_failure

    if error_traceback is None:
        return as_failure(error, job)
    if isinstance(error_traceback, list):
        return TaskFailure(error, job, error_traceback)
    frames = list(getattr(error_traceback, "frames", None) or [])
    return TaskFailure(error, job, frames, remote_traceback=error_traceback)
