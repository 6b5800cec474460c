"""Worker threads that run user task functions (the local executor's thread mode).

Bookkeeping stays on the scheduler's thread; workers only call the task
function and put (job, ok, result-or-exception, frames) on the result queue.
"""

import queue
import threading
import traceback as tb_module
from typing import Callable


class Workers:
    """Worker threads running user task functions; results come back on one queue."""

    def __init__(self, max_workers: int, outq):
        self.max = max(1, max_workers)
        self.inq = queue.SimpleQueue()
        self.outq = outq
        self.threads = []
        self.idle = 0
        self.queued = 0  # submitted, not yet taken by a worker
        self.lock = threading.Lock()

    def submit(self, job, func: Callable, args, kwargs) -> None:
        with self.lock:
            self.queued += 1
            spawn = self.queued > self.idle and len(self.threads) < self.max
        self.inq.put((job, func, args, kwargs))
        if spawn:
            t = threading.Thread(target=self._loop, name="redun-worker", daemon=True)
            self.threads.append(t)
            t.start()

    def _loop(self):
        inq, outq = self.inq, self.outq
        while True:
            with self.lock:
                self.idle += 1
            item = inq.get()
            with self.lock:
                self.idle -= 1
                if item is not None:
                    self.queued -= 1
            if item is None:
                return
            job, func, args, kwargs = item
            try:
                outq.put((job, True, func(*args, **kwargs), None))
            except BaseException as e:  # noqa: BLE001 - reported as the job's error
                frames = tb_module.extract_tb(e.__traceback__)[1:]
                outq.put((job, False, e, frames))

    def stop(self):
        for _ in self.threads:
            self.inq.put(None)
        self.threads = []


