"""Upstream's expression and task API: destructuring, nout, nested containers, PartialTask,
Task methods and validation, lazy operators, Config, Scheduler attributes (issue 13)."""

import dataclasses
import logging
import pickle
from collections import namedtuple
from typing import Tuple

import pytest

from redun import PartialTask, Scheduler, task
from redun.config import Config
from redun.expression import SimpleExpression, TaskExpression, quote
from redun.promise import Promise
from redun.task import CacheScope, scheduler_task

redun_namespace = "apiexpr"


@task()
def add(a: int, b: int) -> int:
    return a + b


@task()
def pair(x: int) -> Tuple[int, str]:
    return (x, str(x))


@task(nout=2)
def two(x):
    return [x, -x]


P = namedtuple("P", "a b")


@dataclasses.dataclass
class D:
    a: int
    b: list
    c: int = dataclasses.field(default=0, init=False)


def quiet():
    return Scheduler(quiet=True)


def test_tuple_hints_and_nout_give_destructuring_and_iteration():
    a, b = pair(3)
    assert isinstance(a, SimpleExpression) and repr(a) == "apiexpr.pair(3)[0]"
    c, d = two(5)
    assert quiet().run([a, b, c, d, [v for v in pair(4)]]) == [3, "3", 5, -5, [4, "4"]]
    with pytest.raises(TypeError, match="unknown length"):
        iter(add(1, 2))
    assert pair.nout == 2 and two.nout == 2 and add.nout is None


@pytest.mark.parametrize("bad", [-1, "2", 1.5])
def test_invalid_nout_is_rejected(bad):
    def bad_nout(x):
        return x

    with pytest.raises(TypeError, match="nout must be"):
        task(namespace="apiexpr", nout=bad)(bad_nout)


def test_async_task_needs_an_explicit_cache_option():
    async def coro(x):
        return x

    with pytest.raises(ValueError, match="must explicitly set their cache option"):
        task(namespace="apiexpr")(coro)
    with pytest.raises(ValueError, match="check_valid"):
        task(namespace="apiexpr", cache=True)(coro)
    assert task(namespace="apiexpr", cache=False)(coro).is_async()


def test_task_name_and_namespace_validation():
    with pytest.raises(ValueError, match="Task name must use only"):
        task(name="bad-name")(lambda: 1)
    with pytest.raises(ValueError, match="Task namespace must use only"):
        task(namespace=".bad")(lambda: 1)
    with pytest.raises(ValueError, match="Invalid config args"):
        task(config_args=["nope"])(lambda x: x)


def test_expressions_nested_in_dataclasses_and_namedtuples_are_evaluated():
    d = D(a=add(1, 2), b=[add(3, 4)])
    d.c = add(5, 6)
    result = quiet().run({"p": P(a=add(1, 1), b=[add(2, 2)]), "d": d})
    assert result["p"] == P(2, [4])
    assert (result["d"].a, result["d"].b, result["d"].c) == (3, [7], 11)


def test_partial_task_options_partial_and_pickle():
    inc = add.partial(1)
    assert isinstance(inc, PartialTask) and repr(inc).startswith("PartialTask(fullname=apiexpr.add")
    assert quiet().run(inc(10)) == 11
    twice = inc.partial(b=2)
    assert quiet().run(twice()) == 3
    opt = inc.options(cache=False)
    assert isinstance(opt, PartialTask) and opt.get_task_option("cache_scope") == CacheScope.CSE
    assert opt.hash != inc.hash
    back = pickle.loads(pickle.dumps(inc, protocol=3))
    assert isinstance(back, PartialTask) and back.hash == inc.hash and back.args == (1,)
    assert quiet().run(back(5)) == 6


def test_task_methods():
    assert add.get_hash() == add.hash and add.is_async() is False
    assert add.get_task_options() == {}
    t = add.options(executor="default", cache=False)
    assert t.get_task_options() == {"executor": "default", "cache_scope": CacheScope.CSE}
    exported = add.export_options(cache=False)
    assert exported._export_options == {"cache", "cache_scope"}
    assert isinstance(exported(1, 2), TaskExpression)
    old = add.hash
    add.recompute_hash()
    assert add.hash == old and add.is_valid()
    assert add.load_module == __name__


def test_lazy_operators_names_and_reprs():
    e = (add(1, 2) + 1) * 2 / add(0, 4)
    assert repr(e) == "(((apiexpr.add(1, 2) + 1) * 2) / apiexpr.add(0, 4))"
    assert e.func_name == "div"
    assert repr(1 - add(1, 2)) == "(1 - apiexpr.add(1, 2))"
    assert quiet().run([e, 10 - add(1, 2), add(1, 2) >= 3, add(1, 2) | 0]) == [2.0, 7, True, 3]
    q = quote(add(1, 2))
    assert q.eval().task_name == "apiexpr.add" and repr(q) == "QuotedExpression(apiexpr.add(1, 2))"


@scheduler_task(namespace="apiexpr")
def first_of(scheduler, parent_job, sexpr, *exprs):
    """A user-defined scheduler task: evaluates its arguments in order until one is truthy."""

    def step(i):
        if i == len(exprs):
            return Promise(lambda resolve, reject: resolve(None))
        return scheduler.evaluate(exprs[i], parent_job=parent_job).then(lambda v: v or step(i + 1))

    return step(0)


def test_user_scheduler_task():
    s = quiet()
    assert s.run(first_of(add(0, 0), add(0, 2), add(1, 1))) == 2
    assert s.status_counts()["apiexpr.add"]["TOTAL"] == 2  # the third was never evaluated


def test_config_dict_and_sections():
    c = Config({"scheduler": {"job_status_interval": "5"}, "executors.default": {"type": "local", "max_workers": "3"}})
    assert c["scheduler"]["job_status_interval"] == "5"
    assert c["executors"]["default"]["max_workers"] == "3"
    assert c.get("nothing", {}) == {} and "scheduler" in c
    assert c.get("scheduler", "job_status_interval") == "5"
    assert Config(c.get_config_dict()).get_config_dict() == c.get_config_dict()
    c2 = Config()
    c2.read_string("[a.b]\nx = 1\n")
    assert c2["a"]["b"]["x"] == "1"
    s = Scheduler(config=c)
    assert s.executors["default"].max_workers == 3 and s.config is c


def test_scheduler_attributes_and_logger_level(capsys):
    s = Scheduler()
    assert s.logger.name == "redun" and s.type_registry is not None and "default" in s.executors
    s.logger.setLevel(logging.ERROR)
    try:
        assert s.run(add(2, 2)) == 4
        assert "[redun]" not in capsys.readouterr().err
    finally:
        s.logger.setLevel(logging.INFO)
    assert s.run(add(2, 3)) == 5
    assert "Run    Job" in capsys.readouterr().err
    with pytest.raises(TypeError, match="records to a repository"):
        Scheduler(config=Config({"backend": {"db_uri": "sqlite:///elsewhere.db"}}))


def test_hash_args_eval_is_what_the_scheduler_computes():
    from redun.task import hash_args_eval

    s = quiet()
    s.run(add(1, 2))
    assert hash_args_eval(s.type_registry, add, (1, 2), {}) == (s.root_job.eval_hash, s.root_job.args_hash)
