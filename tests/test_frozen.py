"""The `frozen` class builder behind the record types (replaces dataclasses on the start-up path)."""

import copy
import pickle

import pytest

from redun.objects.frozen import Factory, frozen
from redun.objects.records import Execution, Job, Task


@frozen
class Point:
    x: int
    y: int = 0
    tags: dict = Factory(dict)

    def norm1(self) -> int:
        return abs(self.x) + abs(self.y)


@frozen
class Named:
    name: str

    def __repr__(self):
        return f"<{self.name}>"


def test_init_defaults_and_fresh_factories():
    p, q = Point(1), Point(1)
    assert (p.x, p.y, p.tags) == (1, 0, {})
    assert p.tags is not q.tags
    assert Point(x=2, y=3).norm1() == 5
    with pytest.raises(TypeError):
        Point()


def test_value_equality_hash_and_repr():
    assert Point(1, 2) == Point(1, 2) and Point(1, 2) != Point(2, 1)
    assert Point(1, 2).__eq__("x") is NotImplemented
    assert repr(Point(1, 2)) == "Point(x=1, y=2, tags={})"
    assert repr(Named("a")) == "<a>"  # a method the class defines is kept
    t = Task(b"h" * 20, "ns", "n", "src")
    assert hash(t) == hash(Task(b"h" * 20, "ns", "n", "src"))


def test_frozen_and_slotted():
    p = Point(1)
    with pytest.raises(AttributeError):
        p.x = 2
    with pytest.raises(AttributeError):
        del p.x
    with pytest.raises(AttributeError):
        p.other = 1
    assert not hasattr(p, "__dict__")
    job = Job(b"i" * 16, b"e" * 16, None, b"h" * 20, b"o" * 32, None, None, None, None, 1, None, False, "DONE")
    assert not hasattr(job, "__dict__")


def test_pickle_and_copy_round_trip():
    p = Point(1, 2, {"a": "b"})
    assert pickle.loads(pickle.dumps(p)) == p
    assert copy.deepcopy(p) == p
    ex = Execution(b"e" * 16, "[]", None, 5, None, {"k": '"v"'})
    assert pickle.loads(pickle.dumps(ex)) == ex


def test_field_without_default_after_one_with_default_is_refused():
    with pytest.raises(TypeError):
        @frozen
        class Bad:
            a: int = 0
            b: int


def test_init_through_the_twin_leaves_a_frozen_instance_of_the_class():
    p = Point(3, 4)
    assert type(p) is Point and p.__class__ is Point
    with pytest.raises(AttributeError):
        p.y = 5
    job = Job(b"i" * 16, b"e" * 16, None, b"h" * 20, b"o" * 32, None, None, None, None, 1, None, False, "DONE")
    assert type(job) is Job and job.status == "DONE" and job.start_time == 1
    with pytest.raises(AttributeError):
        job.status = "FAILED"


def test_a_subclass_with_its_own_slots_still_initialises_field_by_field():
    class Wider(Point):
        __slots__ = ("extra",)

    w = Wider(1, 2)
    assert type(w) is Wider and (w.x, w.y, w.tags) == (1, 2, {})
    with pytest.raises(AttributeError):
        w.x = 0
