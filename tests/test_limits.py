"""[limits] and @task(limits=...): how many jobs hold a resource at once (upstream's semantics)."""

import pytest

import exec_tasks as T
from redun import Scheduler
from redun.config import Config
from redun.engine.limits import LimitError
from redun.errors import ConfigError


def most_at_once(log_path) -> int:
    """The largest number of nap jobs that were between their start and end lines together."""
    running = peak = 0
    events = []
    for line in open(log_path):
        kind, _, when = line.split()
        events.append((float(when), 0 if kind == "end" else 1))
    for _, delta in sorted(events):
        running += 1 if delta else -1
        peak = max(peak, running)
    return peak


def run_naps(tmp_path, limits_section, n=6, **options):
    log = tmp_path / "naps.log"
    config = Config(config_dict={"limits": limits_section} if limits_section is not None else None)
    s = Scheduler(config=config, quiet=True)

    @T.task(name="naps", namespace="exectest")
    def naps(n: int, log: str):
        return [T.nap.options(**options)(i, 0.2, log) for i in range(n)]

    assert s.run(naps(n, str(log))) == list(range(n))
    return s, most_at_once(log)


def test_config_capacity_throttles(tmp_path):
    s, peak = run_naps(tmp_path, {"db": "2"}, limits={"db": 1})
    assert s.limits == {"db": 2}
    assert peak == 2
    assert s.limits_used == {}  # nothing held after the run


def test_list_form_and_default_capacity_of_one(tmp_path):
    _, peak = run_naps(tmp_path, None, limits=["gpu"])
    assert peak == 1


def test_without_limits_jobs_run_together(tmp_path):
    _, peak = run_naps(tmp_path, {"db": "1"})
    assert peak > 1


def test_a_job_asking_for_more_than_the_capacity_fails(tmp_path):
    s = Scheduler(config=Config(config_dict={"limits": {"db": "2"}}), quiet=True)
    with pytest.raises(LimitError, match="asks for 3 of limit 'db' but its capacity is 2"):
        s.run(T.nap.options(limits={"db": 3})(1, 0))
    with pytest.raises(LimitError, match="must be a dict"):
        s.run(T.nap.options(limits="db")(2, 0))
    with pytest.raises(LimitError, match=r"limits\['db'\] must be a non-negative integer"):
        s.run(T.nap.options(limits={"db": "x"})(3, 0))


def test_bad_config_value():
    with pytest.raises(ConfigError, match=r"\[limits\] db must be an integer, not 'lots'"):
        Scheduler(config=Config(config_dict={"limits": {"db": "lots"}}))


def test_failed_job_gives_its_limits_back(tmp_path):
    s = Scheduler(config=Config(config_dict={"limits": {"db": "1"}}), quiet=True)


    with pytest.raises(ValueError):
        s.run(T.fail.options(limits={"db": 1})(9))
    # the next run can take the resource again
    assert s.run(T.nap.options(limits={"db": 1})(4, 0)) == 4
