"""Tasks for bench_executors.py (a module, so worker processes and Dask workers import it)."""

from redun import task

redun_namespace = "bench_executors"


def spin(loops: int) -> int:
    x = 0
    for i in range(loops):
        x ^= i
    return x


@task()
def burn(i: int, loops: int) -> int:
    """CPU-bound: `loops` iterations of a pure-Python loop (calibrated to ~1 s of CPU)."""
    return spin(loops) + i


@task()
def burns(n: int, loops: int, executor: str) -> list:
    return [burn.options(executor=executor)(i, loops) for i in range(n)]


@task()
def noop(i: int) -> int:
    return i


@task()
def noops(n: int, executor: str) -> list:
    return [noop.options(executor=executor)(i) for i in range(n)]
