"""One execution's collaborators, wired together (see redun/scheduler.py).

Built by `Scheduler.run` for each execution and dropped at its end, so no
state leaks from one run into the next. Recursion limit: deeply nested
expressions (a task returning f(f(f(...)))) are hashed and pickled
recursively, as upstream does, so the limit is raised while the run goes.
"""

import sys
import time

from .caching import CacheChecker
from .evaluation import Evaluator
from .handles import HandleStates, ValueProcessing
from .lifecycle import JobLifecycle
from .loop import RunLoop, watch_debugger
from .recorder import Recorder


class ExecutionRun:
    def __init__(self, scheduler, exec_id: bytes, dryrun: bool, use_cache: bool, prov: bool, context=None):
        from ..objects.ids import uuid_str
        from .job import Execution

        self.execution = Execution(uuid_str(exec_id), context)
        self.dryrun = dryrun
        self.runlog = scheduler.runlog
        repo = scheduler.repo
        if repo is not None:
            self.recorder = Recorder(repo, record=prov and not dryrun)
        else:  # no repository: records (and so the cache) live in memory as long as the scheduler
            if scheduler._memory_recorder is None:
                scheduler._memory_recorder = Recorder(None)
            self.recorder = scheduler._memory_recorder
        self.loop = RunLoop(scheduler.events_queue, scheduler.job_status_interval,
                            on_idle=None if scheduler.runlog.quiet else self._log_statuses)
        self.lifecycle = JobLifecycle(scheduler, self.recorder, scheduler.runlog, self.loop, scheduler.executors,
                                      exec_id, prov=prov, use_cache=use_cache, dryrun=dryrun,
                                      execution=self.execution)
        self.evaluator = Evaluator(scheduler, self.loop.ready, self.lifecycle.exec_job, self.execution)
        self.lifecycle.evaluate = self.evaluator.evaluate
        self.handle_states = HandleStates(self.recorder)
        self.lifecycle.processing = ValueProcessing(self.handle_states, dryrun)
        self.cache = CacheChecker(self.recorder, self.lifecycle, scheduler.runlog.log)
        self._t0 = time.time()

    def _log_statuses(self) -> None:
        from .runlog import log_job_statuses

        log_job_statuses(self.runlog, self.lifecycle.status_counts())

    def duration(self) -> float:
        return time.time() - self._t0

    def execute(self, root, parent_job=None) -> dict:
        """Evaluate root (under parent_job: a subrun's stand-in for the job that runs it) to the
        end; {"ok": result} or {"err": failure} (neither: a dry run stopped)."""
        outcome: dict = {}
        old_limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(old_limit, 20_000))
        watch_debugger(self.loop.status_interval is not None)
        try:
            self.evaluator.evaluate(root, parent_job, lambda v: outcome.setdefault("ok", v),
                                    lambda e: outcome.setdefault("err", e))
            self.loop.run(self.lifecycle, self.cache, self.recorder.before_wait)
        except BaseException:
            self.recorder.abort()
            raise
        finally:
            watch_debugger(False)
            sys.setrecursionlimit(old_limit)
        return outcome
