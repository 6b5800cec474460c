"""Resource limits: `[limits]` capacities and `@task(limits=...)` throttling (upstream's).

`[limits]` in redun.ini gives each named resource a capacity (`db = 2`). A task
asks for some with the `limits` task option: a dict `{"db": 1}` or a list of
names (one each). A job that is about to run takes what it asks for, or waits
in arrival order until running jobs give theirs back (when their executor
reports). A resource not named in `[limits]` has capacity 1, as upstream. Jobs
without the option are never throttled; cache hits take nothing.

Upstream waits forever for a job that asks for more than a capacity; here that
job fails at once with an error naming the resource and its capacity.
"""

from collections import defaultdict

from ..errors import ConfigError

DEFAULT_CAPACITY = 1


def limits_from_config(section: dict, where: str = "redun.ini") -> dict:
    """{name: capacity} from a [limits] section."""
    out = {}
    for name, raw in section.items():
        try:
            out[name] = int(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"[limits] {name} must be an integer, not {raw!r} ({where}).") from None
    return out


class LimitError(Exception):
    """A task's `limits` option cannot be satisfied (bad form or more than the capacity)."""


def job_limits(job, requested) -> dict:
    """The {name: count} a job asks for (the `limits` option: a dict or a list of names)."""
    if isinstance(requested, (list, tuple, set, frozenset)):
        return {name: 1 for name in requested}
    if isinstance(requested, dict):
        for name, count in requested.items():
            if not isinstance(count, int) or count < 0:
                raise LimitError(f"Task {job.task.fullname}: limits[{name!r}] must be a non-negative "
                                 f"integer, not {count!r}.")
        return dict(requested)
    raise LimitError(f"Task {job.task.fullname}: limits must be a dict {{name: count}} or a list of "
                     f"names, not {requested!r}.")


class Limits:
    """The resources of one run: capacities, what running jobs hold, who waits."""

    def __init__(self, capacities: dict):
        self.capacities = capacities
        self.used: dict = defaultdict(int)
        self.holding: dict = {}  # job -> {name: count} it took
        self.waiting: list = []  # (job, args, kwargs), in arrival order

    def capacity(self, name: str) -> int:
        return self.capacities.get(name, DEFAULT_CAPACITY)

    def _fits(self, need: dict, extra: dict = None) -> bool:
        for name, count in need.items():
            taken = self.used[name] + (extra.get(name, 0) if extra else 0)
            if taken + count > self.capacity(name):
                return False
        return True

    def acquire(self, job, need: dict, args, kwargs) -> bool:
        """Take `need` for job (True), or queue it to wait (False). LimitError if it never fits."""
        for name, count in need.items():
            if count > self.capacity(name):
                configured = "" if name in self.capacities else " (not in [limits]: the default)"
                raise LimitError(f"Task {job.task.fullname} asks for {count} of limit '{name}' but its "
                                 f"capacity is {self.capacity(name)}{configured}; raise it in the [limits] "
                                 "section of redun.ini.")
        if not self._fits(need):
            self.waiting.append((job, args, kwargs))
            return False
        for name, count in need.items():
            self.used[name] += count
        self.holding[job] = need
        return True

    def release(self, job) -> list:
        """Give back what job holds; the waiting jobs that now fit, in order (they acquire again
        when restarted, as upstream's nomination does)."""
        need = self.holding.pop(job, None)
        if need is None:
            return []
        for name, count in need.items():
            self.used[name] -= count
        ready, still, proposed = [], [], defaultdict(int)
        for item in self.waiting:
            wanted = self.holding_need(item[0])
            if self._fits(wanted, proposed):
                ready.append(item)
                for name, count in wanted.items():
                    proposed[name] += count
            else:
                still.append(item)
        self.waiting = still
        return ready

    @staticmethod
    def holding_need(job) -> dict:
        return job_limits(job, job.get_options().get("limits"))
