"""Tasks for tests/test_executors.py: importable by name, so worker processes find them."""

import os
import threading
import time

from redun import task

redun_namespace = "exectest"


@task()
def where(x: int) -> tuple:
    """(pid, thread id, x + 1): shows which process and thread ran the job."""
    return os.getpid(), threading.get_ident(), x + 1


@task(executor="process")
def where_process(x: int) -> tuple:
    return os.getpid(), threading.get_ident(), x + 1


@task()
def fail(x: int) -> int:
    raise ValueError(f"bad value {x}")


@task()
def die(x: int) -> int:
    os._exit(3)


@task()
def unpicklable_result(x: int):
    return threading.Lock()


class Unpicklable(Exception):
    def __reduce__(self):
        raise TypeError("this exception does not pickle")


@task()
def unpicklable_error(x: int):
    raise Unpicklable("kept here")


@task()
def nap(x: int, seconds: float = 0.3, log: str = "") -> int:
    """Sleeps; appends 'start/end x' lines to log (to see how many ran at once)."""
    if log:
        with open(log, "a") as fh:
            fh.write(f"start {x} {time.time()}\n")
    time.sleep(seconds)
    if log:
        with open(log, "a") as fh:
            fh.write(f"end {x} {time.time()}\n")
    return x


@task()
def fan(n: int, executor: str = "process", start: int = 0) -> list:
    return [where.options(executor=executor)(i) for i in range(start, start + n)]


@task(script=True)
def shout(word: str):
    return f"echo {word}; echo $$ >&2"


@task(executor="remote")
def square(x: int) -> int:
    return x * x


@task()
def sum_squares(n: int) -> int:
    """Leaves on the executor named `remote` (local in one test, Dask in another): same records."""
    return sum_of([square(i) for i in range(n)])


@task()
def sum_of(values: list) -> int:
    return sum(values)
