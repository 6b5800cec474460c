"""The event loop of one execution, on the scheduler's thread.

Two queues: `ready` holds continuations (function, args) queued by the
evaluator and the lifecycle, run breadth-first so long chains never recurse
deeply; `events` receives what executors report from their own threads
(`Scheduler.done_job` / `reject_job` put (job, ok, value, frames) on it). The
loop runs every ready continuation, then a batch of cache lookups, and blocks
on `events` only when nothing else can move and jobs are still in flight.
"""

from collections import deque


class RunLoop:
    def __init__(self, events):
        self.ready: deque = deque()
        self.events = events  # the scheduler's queue, shared with its executors
        self.inflight = 0  # jobs handed to executors and not yet reported back

    def run(self, lifecycle, cache, flush) -> None:
        """Until nothing is ready, nothing waits for a lookup and nothing is in flight.
        flush() is called before blocking, so finished jobs reach storage first."""
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
            if events_empty():
                flush()  # about to wait: finished jobs reach the pack first (kill -9 keeps them)
            job, ok, value, frames = get()
            self.inflight -= 1
            if ok:
                done(job, value)
            else:
                reject(job, _failure(value, job, frames))


def _failure(error, job, frames):
    from .job import TaskFailure, as_failure

    if frames is None:
        return as_failure(error, job)
    return TaskFailure(error, job, frames)
