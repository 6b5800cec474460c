"""fork_thread / join_thread: a computation that runs beside the job tree (upstream's
`redun.scheduler.fork_thread`, `join_thread` and `Thread`).

fork_thread(expr) starts evaluating expr (under the forking job) and at once
returns a Thread value; the forking job may finish while the work goes on.
join_thread(thread) waits for that evaluation, or evaluates the expression
again if this execution did not fork it (a Thread read from the cache).
A Thread hashes by its expression only, so it caches like any value.
"""

import uuid
from typing import Any, Optional

from ..hashing import hash_struct, hash_value
from ..promise import Promise
from ..task import scheduler_task
from ..value import Value


class Thread(Value):
    """A handle on a forked evaluation (its expression, and the id of its promise in the
    execution that forked it)."""

    type_name = "redun.Thread"
    __module__ = "redun.scheduler"  # pickles as upstream's class

    def __init__(self, promise_id: str, expr_hash: str, expr: Any):
        self._promise_id = promise_id
        self._hash = hash_struct(["Thread", expr_hash])
        self._expr = expr

    def get_hash(self, data: Optional[bytes] = None) -> str:
        return self._hash

    def __getstate__(self) -> dict:
        return {"promise_id": self._promise_id, "hash": self._hash, "expr": self._expr}

    def __setstate__(self, state: dict) -> None:
        self._promise_id = state["promise_id"]
        self._hash = state["hash"]
        self._expr = state["expr"]

    def __repr__(self) -> str:
        return f"Thread({self._expr})"


@scheduler_task(namespace="redun")
def fork_thread(scheduler, parent_job, sexpr, expr: Any) -> Promise:
    """Evaluate expr in the background; returns a Thread for join_thread."""
    promise = scheduler.evaluate(expr, parent_job=parent_job)
    promise_id = str(uuid.uuid4())
    scheduler.track_promise(promise_id, promise)
    return Promise(lambda resolve, reject: resolve(Thread(promise_id, hash_value(expr), expr)))


@scheduler_task(namespace="redun")
def join_thread(scheduler, parent_job, sexpr, thread: Thread) -> Promise:
    """The result of a forked evaluation (waiting for it if it still runs)."""
    promise = scheduler.pop_promise(thread._promise_id)
    if promise is not None:
        return promise
    return scheduler.evaluate(thread._expr, parent_job=parent_job)
