"""AliasExecutor (`type = alias`, `target = NAME`): another name for an executor.

Tasks may name different executors that sometimes should share one (and its
worker limit). The target is looked up by name when a job is submitted, so it
may be defined after the alias; an unknown target fails the job. start/stop
are the target's own business and are not forwarded.
"""

from typing import Optional

from ..errors import ConfigError
from .base import Executor, ExecutorError, register_executor


@register_executor("alias")
class AliasExecutor(Executor):
    def __init__(self, name: str, scheduler=None, config=None, target: Optional[Executor] = None):
        super().__init__(name, scheduler=scheduler)
        if (config is None) == (target is None):
            raise ValueError("AliasExecutor needs exactly one of `config` or `target`.")
        if config is not None:
            target_name = config.get("target")
            if not target_name:
                raise ConfigError(f"[executors.{name}] (type = alias) needs a `target`: the name of "
                                  "the executor it stands for.")
            self.target_name = target_name
        else:
            self.target_name = target.name

    def _target(self) -> Executor:
        executors = self._scheduler.executors
        target = executors.get(self.target_name)
        if target is None or target is self:
            raise ExecutorError(f"Could not find executor `{self.target_name}` (alias `{self.name}`) "
                                f"from options: {', '.join(sorted(executors))}.")
        return target

    def submit(self, job) -> None:
        try:
            target = self._target()
        except ExecutorError as error:
            self._scheduler.reject_job(job, error)
            return
        target.submit(job)

    def submit_script(self, job) -> None:
        try:
            target = self._target()
        except ExecutorError as error:
            self._scheduler.reject_job(job, error)
            return
        target.submit_script(job)
