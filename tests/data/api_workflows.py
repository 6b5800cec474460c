"""Workflows exercising upstream redun 0.44.1's public API, run by both implementations.

tests/data/make_api_reference.py runs each SCENARIOS entry with upstream's in-memory
Scheduler and records the results and the hashes of every call node; tests/test_api_hashes.py
runs them here and compares. Keep the line numbers of the failing tasks stable: a failed
call's hash includes its traceback (file and line), as upstream's does; the module is
imported through the relative path `tests/data` so the file name is the same everywhere.
"""

import dataclasses
from collections import namedtuple
from typing import Optional, Tuple

from redun import Scheduler, catch, cond, task
from redun.functools import (apply_func, as_task, compose, const, delay, eval_, flat_map, flatten, force,
                             identity, map_, seq, starmap, zip_)
from redun.scheduler import JobInfo, catch_all, fork_thread, join_thread, throw
from redun.value import ProxyValue, Value

redun_namespace = "apiwf"


@task()
def fail_value(message: str) -> int:
    raise ValueError(message)


@task()
def fail_key(message: str) -> int:
    raise KeyError(message)


@task()
def divide(a: float, b: float) -> float:
    return a / b


@task()
def add(a: int, b: int) -> int:
    return a + b


@task()
def double(x: int) -> int:
    return 2 * x


@task()
def fallback(error: Exception, value: int) -> int:
    return value


@task()
def describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"


@task()
def reraise_as_key(error: Exception) -> int:
    raise KeyError(f"from {error}")


@task()
def count_errors(values: list) -> int:
    return sum(1 for v in values if isinstance(v, Exception))


@task()
def caught() -> dict:
    return {
        "zero": catch(divide(1, 0), ZeroDivisionError, fallback.partial(value=-1)),
        "fine": catch(divide(6, 3), ZeroDivisionError, fallback.partial(value=-1)),
        "tuple": catch(fail_value("a"), (KeyError, ValueError), describe),
        "second_pair": catch(fail_key("b"), ValueError, describe, KeyError, describe),
        "nested": catch(catch(fail_value("c"), ValueError, reraise_as_key), KeyError, describe),
        "in_map": map_(describe.partial(), [catch(fail_value("d"), ValueError, identity)]),
        "thrown": catch(throw(ValueError("lazy")), ValueError, describe),
        "all": catch_all([divide(4, 2), divide(1, 0)], ZeroDivisionError, count_errors),
    }


@task()
def make_row(x: int) -> dict:
    return {"a": x, "b": x + 1}


@task()
def words(text: str) -> list:
    return text.split()


@task()
def higher() -> dict:
    inc = add.partial(1)
    return {
        "map": map_(double, [1, 2, 3]),
        "map_map": map_(double, map_(inc, [1, 2])),
        "starmap": starmap(add, map_(make_row, [1, 2])),
        "flatten": flatten([[1], [2, 3]]),
        "flat_map": flat_map(words, ["a b", "c"]),
        "zip": zip_([1, 2], ["x", "y"]),
        "compose": compose(double, inc)(5),
        "const": const(double(1), double(2)),
        "force": force(delay(add(2, 3))),
        "eval": eval_("x * y", 3, pos_args=["x"], y=4),
        "as_task": as_task(max)(3, 9, 4),
        "apply": apply_func(min, 5, 2),
        "seq": seq([double(10), double(11)]),
        "cond": cond(double(1) == 2, double(3), double(4)),
        "ops": ((add(1, 2) + 1) * 2 - add(0, 1)) / 2,
    }


Point = namedtuple("Point", ["x", "y"])


@dataclasses.dataclass
class Box:
    label: str
    value: int
    extra: Optional[int] = None


@task()
def pair(x: int) -> Tuple[int, int]:
    return (x, x + 1)


@task(nout=3)
def triple(x: int):
    return [x, x, x]


@task()
def shapes() -> dict:
    a, b = pair(5)
    c, d, e = triple(1)
    return {
        "destructured": add(a, b),
        "iterated": [double(v) for v in pair(7)],
        "nout": add(c, add(d, e)),
        "namedtuple": Point(x=double(1), y=double(2)),
        "dataclass": Box(label="b", value=double(3), extra=double(4)),
        "slice": pair(1)[0:2],
        "attr": make_row(3)["a"],
    }


@task()
def with_info(x: int, job_info: JobInfo = JobInfo()) -> int:
    return x + len(job_info.eval_hash)


@task()
def info_parent() -> int:
    return with_info(1)


@task(prov=False)
def unrecorded(a: int) -> int:
    return add(a, 1)


@task()
def provenance() -> list:
    from redun.functools import no_prov

    return [add(1, unrecorded(2)), no_prov(add(3, 4)), add.options(prov=False)(5, 6)]


@task()
def make_thread(x: int):
    return fork_thread(double(x))


@task()
def take_thread(thread) -> int:
    return join_thread(thread)


@task()
def threads() -> int:
    return take_thread(make_thread(21))


@task(cache=False)
async def eager(x: int) -> int:
    y = await add(x, 1)
    return y * 10


class Version(Value):
    """A user value whose hash is any text (not hex)."""

    type_name = "apiwf.Version"

    def __init__(self, number: int):
        self.number = number

    def get_hash(self, data=None) -> str:
        return f"version-{self.number}"

    def __getstate__(self) -> dict:
        return {"number": self.number}

    def __setstate__(self, state: dict) -> None:
        self.number = state["number"]

    def __repr__(self) -> str:
        return f"Version({self.number})"


class Money:
    def __init__(self, cents: int):
        self.cents = cents

    def __repr__(self) -> str:
        return f"Money({self.cents})"


class MoneyValue(ProxyValue):
    """A proxy for a plain class: hashed and serialized its own way."""

    type = Money
    type_name = "apiwf.Money"

    def get_hash(self, data=None) -> str:
        import hashlib

        return hashlib.sha1(str(self.instance.cents).encode()).hexdigest()

    def get_serialization_format(self) -> str:
        return "text/plain"

    def serialize(self) -> bytes:
        return str(self.instance.cents).encode()

    @classmethod
    def deserialize(cls, raw_type, data: bytes):
        return Money(int(data))


@task()
def bump(v: Version) -> Version:
    return Version(v.number + 1)


@task()
def spend(m: Money) -> Money:
    return Money(m.cents - 1)


@task()
def values() -> dict:
    return {"version": bump(Version(1)), "money": spend(Money(100))}


SCENARIOS = {
    "caught": caught,
    "higher": higher,
    "shapes": shapes,
    "info": info_parent,
    "provenance": provenance,
    "threads": threads,
    "eager": lambda: eager(4),
    "values": values,
}


def scheduler() -> Scheduler:
    return Scheduler()
