"""The Scheduler: upstream's public API over the engine's collaborators.

`Scheduler.run(expr)` evaluates a lazy expression into jobs and returns its
result. One run is made of explicit collaborators, each in redun/engine/:

    RunLoop        ready continuations and the events executors report (loop.py)
    Evaluator      expression reduction, scheduler tasks (evaluation.py)
    JobLifecycle   one call from submission to its records: hashes, CSE,
                   executors, resolution or failure (lifecycle.py)
    CacheChecker   batched backend-cache lookups and validity (caching.py)
    Recorder       records and cached values (recorder.py)
    RunLog         the "[redun] " lines (runlog.py)

and the executors by name (redun/executors/). Everything but executor threads
runs on the thread that called `run`; executors report through `done_job` /
`reject_job`, which are thread-safe. Scheduler tasks (`@scheduler_task`: cond,
catch, ...) get this object and call `evaluate(expr, parent_job)`.
"""

import gc
import os
import queue
import threading
import uuid
from typing import Any, Optional

from .engine.clock import now_us
from .engine.job import DryRunResult, Execution, Job, JobEnv, TaskFailure  # noqa: F401 - upstream exposes these here
from .engine.errorvalue import ErrorValue, Traceback  # noqa: F401 - they pickle as redun.scheduler's
from .engine.lifecycle import SchedulerError  # noqa: F401
from .engine.control import catch, catch_all, cond, throw  # noqa: F401 - upstream's redun.scheduler names
from .engine.tagging import apply_tags  # noqa: F401 - registers redun.apply_tags; upstream's place for it
from .engine.jobinfo import JobInfo  # noqa: F401
from .engine.threads import Thread, fork_thread, join_thread  # noqa: F401
from .engine.handles import merge_handles  # noqa: F401
from .value import get_type_registry, set_run_context
from .engine.runlog import RunLog, format_task_call, log_job_statuses, task_traceback_lines  # noqa: F401
from .expression import QuotedExpression, SchedulerExpression, TaskExpression
from .engine.nested import defaults_of, has_exprs, is_expr
from .promise import Promise
from .task import get_task_registry, scheduler_task, task  # noqa: F401 - upstream's redun.scheduler.scheduler_task

GC_THRESHOLD = 50_000  # gen-0 allocations between cyclic collections while a run is evaluated


class NoCurrentScheduler(Exception):
    def __init__(self):
        super().__init__("Scheduler is not running.")


_local = threading.local()


def get_current_scheduler(required: bool = True) -> Optional["Scheduler"]:
    """The scheduler running on this thread (or set with set_current_scheduler)."""
    scheduler = getattr(_local, "scheduler", None)
    if scheduler is None and required:
        raise NoCurrentScheduler()
    return scheduler


def set_current_scheduler(scheduler: Optional["Scheduler"]) -> None:
    _local.scheduler = scheduler


@task(name="root_task", namespace="redun", version="1",
      source="def root_task(expr: QuotedExpression):\n    return expr.eval()\n")  # no getsource at import
def root_task(expr: QuotedExpression):
    """Root job of an execution whose expression is not a plain task call."""
    return expr.eval()


class Scheduler:
    """Runs expressions. `Scheduler()` records to memory; `Scheduler(repo=...)` to a repository,
    and so does `Scheduler(config=config)` when config was read from a repository's directory.

    Upstream's constructor arguments are accepted by name: config, executor (replaces the
    default executor), logger, use_task_traceback, job_status_interval; `backend` must be
    None (the repository is passed as `repo`). Read from `[scheduler]`: ignore_warnings,
    job_status_interval, context / context_file (see redun/engine/settings.py)."""

    def __init__(self, config=None, backend=None, executor=None, logger=None, use_task_traceback: bool = True,
                 job_status_interval: Optional[int] = None, migrate: Optional[bool] = None, *, repo=None,
                 max_workers: Optional[int] = None, quiet: bool = False, log: Optional[RunLog] = None):
        from .engine.settings import SchedulerSettings
        from .executors.base import executors_from_config
        from .executors.local import LocalExecutor

        if backend is not None:
            raise TypeError("Scheduler(backend=...) is upstream's SQL backend; this redun records to a "
                            "repository: pass repo=Repo.open(path), or a config whose directory holds one.")
        self.repo = repo
        if config is None and repo is not None:
            config = repo.config
        if config is None:
            from .config import Config

            config = Config("")  # as upstream: no redun.ini, no sections (not the init template)
        elif repo is None and not getattr(config, "path", None):
            _check_memory_backend(config)  # (a config read from a directory records there: below)
        self.config = config
        # A config read from a repository's directory records there (opened by load() or run()).
        self._repo_dir = None
        if repo is None and getattr(config, "path", None):
            self._repo_dir = os.path.dirname(os.path.abspath(config.path))
        settings = SchedulerSettings(config, job_status_interval)
        self.ignore_warnings = settings.ignore_warnings
        self.job_status_interval = settings.job_status_interval
        self._context = settings.context
        if logger is None:
            from .logging import logger
        self.logger = logger
        self.use_task_traceback = use_task_traceback
        self.runlog = log or RunLog(quiet=quiet, logger=self.logger)
        self.task_registry = get_task_registry()
        self.type_registry = get_type_registry()
        self.events_queue = queue.SimpleQueue()
        self.executors: dict = {}
        if executor is not None:
            self.add_executor(executor)
        else:
            default = LocalExecutor("default", config={"max_workers": max_workers} if max_workers else
                                    _section(config, "executors.default"))
            self.add_executor(default)
            # Upstream's second built-in executor; its worker processes start on its first job.
            self.add_executor(LocalExecutor("process", mode="process"))
        for ex in executors_from_config(config).values():
            if max_workers and ex.name == "default":
                continue
            self.add_executor(ex)
        from .engine.limits import limits_from_config

        # [limits]: capacities of named resources that tasks take with @task(limits=...).
        self.limits: dict = limits_from_config(_section(config, "limits"), getattr(config, "path", None) or
                                               "the config")
        self.traceback_lines: list = []
        self._run = None  # the collaborators of the run in progress
        self._memory_recorder = None  # records of a scheduler without a repository
        self.recorder = None
        self._root_job = None
        self._last_counts: dict = {}
        self._tracked_promises: dict = {}

    # -- upstream API ---------------------------------------------------------------
    def add_executor(self, executor) -> None:
        executor.set_scheduler(self)
        self.executors[executor.name] = executor

    def load(self, migrate: Optional[bool] = None) -> None:
        """Upstream API: open the backend, here the repository the config came from (created
        if needed). A scheduler given repo=, or built without a config directory, has nothing
        to open."""
        if self.repo is None and self._repo_dir is not None:
            from .repo.repository import Repo

            self.repo = Repo.open(self._repo_dir, create=True)

    @property
    def is_running(self) -> bool:
        return self._run is not None

    @property
    def context(self) -> dict:
        """The context jobs start from: the running execution's, else [scheduler] context's."""
        if self._run is not None:
            return self._run.lifecycle.execution.context
        return self._context

    def log(self, *messages: Any, indent: int = 0, multiline: bool = False, level: int = 20) -> None:
        """Upstream's Scheduler.log: "[redun] " lines through the redun logger (level: INFO)."""
        text = " ".join(str(m) for m in messages)
        for line in ([text] if multiline else text.split("\n")):
            self.runlog.log(" " * indent + line, level)

    @property
    def limits_used(self) -> dict:
        """{limit name: amount held by running jobs} of the run in progress."""
        return dict(self._run.lifecycle.limits.used) if self._run is not None else {}

    @property
    def root_job(self) -> Optional[Job]:
        """The root job of the last run (its hashes, children, status)."""
        return self._root_job

    def status_counts(self) -> dict:
        """{task fullname: {status: count}} of the last run (the JOB STATUS table)."""
        return self._run.lifecycle.status_counts() if self._run is not None else self._last_counts

    def is_using_cache(self) -> bool:
        """Whether this execution may reuse results of earlier ones (not --no-cache/--no-prov)."""
        return self._run is not None and self._run.lifecycle.uses_backend_cache()

    def set_cache(self, eval_hash: str, task_hash: str, args_hash: str, value: Any) -> None:
        """Record value as the cached result of an evaluation (for scheduler tasks such as catch)."""
        if self._run is not None:
            self._run.recorder.set_eval_cache(eval_hash, task_hash, args_hash, value)

    def get_eval_cache(self, eval_hash: str) -> tuple:
        """(True, value) if an evaluation's result was cached with set_cache, else (False, None)."""
        if self._run is None:
            return False, None
        return self._run.recorder.get_eval_cache(eval_hash)

    def evaluate(self, expr: Any, parent_job: Optional[Job] = None) -> Promise:
        """Evaluate expr under parent_job in the running execution (for scheduler tasks)."""
        if self._run is None:
            raise SchedulerError("Scheduler.evaluate() needs a running scheduler (call it from a scheduler task).")
        return self._run.evaluator.promise(expr, parent_job)

    def handle_states(self):
        """The handle states of the running execution (engine/handles.py)."""
        if self._run is None:
            raise SchedulerError("Handle states need a running scheduler.")
        return self._run.handle_states

    def track_promise(self, promise_id: str, promise: Promise) -> str:
        """Keep a promise of this execution under an id (fork_thread's background work)."""
        self._tracked_promises[promise_id] = promise
        return promise_id

    def pop_promise(self, promise_id: str) -> Optional[Promise]:
        return self._tracked_promises.pop(promise_id, None)

    def evaluate_async(self, expr: Any, parent_job: Optional[Job]):
        """An asyncio future (on the calling event loop) of expr evaluated under parent_job:
        what `await expr` in an async task waits for. Thread-safe."""
        import asyncio

        loop = asyncio.get_event_loop()
        future = loop.create_future()

        def start():
            self.evaluate(expr, parent_job).then(
                lambda result: loop.call_soon_threadsafe(_settle, future, result, None),
                lambda error: loop.call_soon_threadsafe(_settle, future, None, error))

        self.events_queue.put((None, None, start, None))
        return future

    def done_job(self, job: Job, result: Any, job_tags=()) -> None:
        """An executor reports a job's return value (thread-safe)."""
        self.events_queue.put((job, True, result, None))

    def reject_job(self, job: Optional[Job], error: Any, error_traceback=None, job_tags=()) -> None:
        """An executor reports a job's exception (thread-safe)."""
        self.events_queue.put((job, False, error, error_traceback))

    # -- running -----------------------------------------------------------------------
    def run(self, expr: Any, exec_argv: Optional[list] = None, dryrun: bool = False, cache: bool = True,
            tags=(), context: Optional[dict] = None, execution_id: Optional[str] = None, record: bool = True,
            _parent_job: Optional[Job] = None) -> Any:
        """Evaluate expr; returns the result or raises the failing task's exception. context updates
        the scheduler's ([scheduler] context) for this execution. (_parent_job: extend_run's
        stand-in for a job of another scheduler; no Execution record of its own.)"""
        from .engine.run import ExecutionRun

        if self._run is not None:
            raise SchedulerError("This scheduler is already running an execution.")
        self.load()
        exec_id = uuid.UUID(execution_id).bytes if execution_id else uuid.uuid4().bytes
        self.execution_id = str(uuid.UUID(bytes=exec_id))
        root = self._root_expression(expr)
        if exec_argv is None:
            exec_argv = ["scheduler.run", _trim(repr(root))]
        self.traceback_lines = []
        exec_context = self._context
        if context:
            from .utils import merge_dicts

            exec_context = merge_dicts([exec_context, context])
        run = self._run = ExecutionRun(self, exec_id, dryrun=dryrun, use_cache=cache, prov=record,
                                       context=exec_context)
        self.recorder = run.recorder  # the run's records (kept after it for inspection)
        previous = get_current_scheduler(required=False)
        set_current_scheduler(self)
        set_run_context(run.handle_states)
        if _parent_job is None:
            run.recorder.start_execution(exec_id, list(exec_argv), self._exec_tags(tags), now_us())
            self.log("Start Execution {}:  redun {}".format(self.execution_id, " ".join(
                _shell_quote(a) for a in exec_argv[1:])))
        self._validate_tasks()
        # Each job allocates a few dozen small objects, almost none cyclic: the default
        # gen-0 threshold (700) makes the cyclic GC a third of the scheduler's CPU.
        old_gc = gc.get_threshold()
        gc.set_threshold(max(old_gc[0], GC_THRESHOLD), *old_gc[1:])
        # What exists before the run (modules, the user's data, earlier runs' leftovers) is
        # left out of the run's collections, which would otherwise scan it again and again
        # (benchmarks/results/api-overhead.md). Not when a run is nested, or the program froze
        # objects itself.
        froze = gc.get_freeze_count() == 0
        if froze:
            gc.freeze()
        for ex in self.executors.values():
            ex.start()
        try:
            outcome = run.execute(root, _parent_job)
            if _parent_job is not None and _parent_job.child_jobs:
                run.lifecycle.root_job = _parent_job.child_jobs[0]
            return self._finish(run, outcome, extension=_parent_job is not None)
        finally:
            for ex in self.executors.values():
                ex.stop()
            run.recorder.end_live_run()
            gc.set_threshold(*old_gc)
            if froze:
                gc.unfreeze()  # garbage among those objects is collected again from here on
            self._root_job = run.lifecycle.root_job
            self._last_counts = run.lifecycle.status_counts()
            self._run = None
            set_current_scheduler(previous)
            set_run_context(None)

    def _finish(self, run, outcome: dict, extension: bool = False) -> Any:
        log_job_statuses(self.runlog, run.lifecycle.status_counts())
        self.log(f"Execution duration: {run.duration():.2f} seconds")
        root_job = run.lifecycle.root_job
        if extension:
            run.recorder.finish_extension()
        else:
            run.recorder.finish_execution(root_job.oid if root_job is not None else None, now_us())
        if "ok" in outcome:
            return outcome["ok"]
        if "err" in outcome:
            failure = outcome["err"]
            self._log_traceback(failure)
            raise failure.error if isinstance(failure, TaskFailure) else failure
        if run.dryrun:
            self.log("Dryrun: Additional jobs would run.")
            raise DryRunResult()
        raise RuntimeError("execution ended without a result")

    def extend_run(self, expr: Any, parent_job_id: str, dryrun: bool = False, cache: bool = True,
                   context: Optional[dict] = None, execution_id: Optional[str] = None) -> dict:
        """Evaluate expr as part of an existing execution, its root job a child of job
        parent_job_id (upstream's API; how a subrun records into the caller's execution).
        Returns {"result" or "error", "job_id", "call_hash", "job_oid"}."""
        if context:
            raise SchedulerError("extend_run(context=...): contexts are not supported by this build.")
        if execution_id is None:
            found = self.repo.index.job(uuid.UUID(parent_job_id).bytes) if self.repo is not None else None
            if not found:
                raise ValueError(f"Unknown parent_job_id: {parent_job_id}")
            execution_id = str(uuid.UUID(bytes=found["execution_id"]))
        from .engine.subrun import extend

        return extend(self, expr, JobInfo(execution_id, parent_job_id), Job(root_task, None, (), {}, None),
                       {"dryrun": dryrun, "cache": cache})

    def get_job_status_report(self) -> list:
        """The JOB STATUS table of the last run, as lines (upstream's API)."""
        from .engine.runlog import job_status_lines

        return job_status_lines(self.status_counts())

    # -- helpers ----------------------------------------------------------------------
    @staticmethod
    def _root_expression(expr: Any) -> Any:
        """expr itself if it is a task call on concrete arguments (defaults included), else
        root_task(quote(expr)): every execution has one root job, as upstream's."""
        if isinstance(expr, TaskExpression) and not isinstance(expr, SchedulerExpression) \
                and not has_exprs((expr.args, expr.kwargs)) and expr.task is not None \
                and not any(is_expr(d) or has_exprs(d) for _, d in defaults_of(expr.task, len(expr.args))):
            return expr
        return root_task(QuotedExpression(expr))

    def _log_traceback(self, failure) -> None:
        if not isinstance(failure, TaskFailure):
            return
        self.traceback_lines = task_traceback_lines(failure.job, failure.frames, failure.error)
        self.log("*** Execution failed. Traceback (most recent task last):")
        for line in self.traceback_lines:
            self.log(line)

    def _exec_tags(self, tags) -> list:
        """Execution tags: the config's [tags] section, then the caller's (the CLI adds
        redun.version, git, user, project, as upstream's `redun run` does)."""
        from .tags import parse_tag_value

        out = [(k, parse_tag_value(v)) for k, v in _section(self.config, "tags").items()]
        out.extend(tags)
        return out

    def _validate_tasks(self) -> None:
        """Upstream's warning about tasks without a namespace ([scheduler] ignore_warnings =
        namespace silences it). One message, its second line without the prefix, as upstream."""
        if "namespace" in self.ignore_warnings:
            return
        missing = [t for t in self.task_registry if not t.namespace and t.func is not None]
        if missing:
            names = ", ".join(f"{os.path.basename(t.func.__code__.co_filename)}:{t.func.__name__}" for t in missing)
            self.runlog.log("Tasks will require namespace soon. Either set namespace in the `@task` decorator or "
                            "with the module-level variable `redun_namespace`.\ntasks needing namespace: " + names,
                            30)  # logging.WARNING


def get_arg_defaults(task, args: tuple, kwargs: dict) -> dict:
    """The signature defaults of the parameters a call does not pass (upstream's helper)."""
    return {name: default for name, default in defaults_of(task, len(args)) if name not in kwargs}


def set_arg_defaults(task, args: tuple, kwargs: dict) -> tuple:
    """(args, kwargs with the missing defaults filled in)."""
    return args, {**get_arg_defaults(task, args, kwargs), **kwargs}


def needs_root_task(task_registry, expr: Any) -> bool:
    """Whether expr is run under a root_task job (anything but a task call on concrete arguments)."""
    return Scheduler._root_expression(expr) is not expr


def _trim(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _settle(future, result, error) -> None:
    if not future.done():
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)


_config2scheduler: dict = {}


def run(expr: Any, config_dir: Optional[str] = None, **run_config: Any) -> Any:
    """`redun.run`: evaluate expr with the scheduler of a config directory (default: the
    `.redun` found from the current directory, as `redun run` finds it), recording to its
    repository. run_config: Scheduler.run options such as cache=False. One scheduler per
    config dir, kept for later calls."""
    scheduler = _config2scheduler.get(config_dir)
    if scheduler is None:
        from .config import find_config_dir
        from .repo.repository import Repo

        repo = Repo.open(find_config_dir(config_dir), create=True)
        scheduler = _config2scheduler[config_dir] = Scheduler(repo=repo)
    return scheduler.run(expr, **run_config)


def _check_memory_backend(config) -> None:
    """A Scheduler given a config that was not read from a directory (Config({...}), a string)
    and no repository records in memory: a database it names would be silently ignored, so
    it is refused."""
    uri = config.get("backend", "db_uri") if hasattr(config, "value") else None
    if uri and uri not in ("sqlite:///:memory:", "sqlite://"):
        raise TypeError(f"Scheduler(config=...) with [backend] db_uri = {uri}: this redun records to a repository; "
                        "pass repo=Repo.open(config_dir) (or use `redun run` / redun.run(expr, config_dir)), or use "
                        "db_uri = sqlite:///:memory: to record in memory.")


def _section(config, name: str) -> dict:
    return config.section(name) if config is not None and hasattr(config, "section") else {}


def _shell_quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


# -- subrun: a sub-workflow evaluated by its own scheduler inside an executor (engine/subrun.py) --
@task(namespace="redun", name="subrun_root_task", version="1",
      config_args=["config", "config_dir", "load_modules", "run_config"], cache_scope="CSE", check_valid="shallow",
      source="def _subrun_root_task(expr, config, config_dir, load_modules, run_config, new_execution=False, "
             "job_info=JobInfo(), export_options=None): ...\n")
def _subrun_root_task(expr: QuotedExpression, config: dict, config_dir: Optional[str], load_modules: list,
                      run_config: dict, new_execution: bool = False, job_info: JobInfo = JobInfo(),
                      export_options: Optional[dict] = None) -> dict:
    """Runs on the subrun's executor: a new Scheduler evaluates expr, recording into the same
    repository (config_dir) as a new execution or, by default, as part of the caller's
    execution under this job. Returns upstream's dict (result or error, config, status)."""
    from .engine.subrun import run_sub_scheduler

    return run_sub_scheduler(Scheduler, root_task, expr, config, config_dir, load_modules, run_config,
                             new_execution, job_info, export_options)


@scheduler_task(namespace="redun", version="1", cache_scope="BACKEND", check_valid="shallow")
def subrun(scheduler: "Scheduler", parent_job: Job, sexpr: SchedulerExpression, expr: Any, executor: str,
           config: Optional[dict] = None, config_dir: Optional[str] = None, new_execution: bool = False,
           load_modules: Optional[list] = None, **task_options) -> Promise:
    """Evaluate expr with a sub-scheduler running as a job on `executor` (upstream's subrun).
    Without config or config_dir, the sub-scheduler records into this scheduler's repository
    (or, without one, gets this scheduler's config); load_modules defaults to the modules of
    every registered user task; task_options go to the job that runs the sub-scheduler."""
    from .engine.subrun import start_subrun

    return start_subrun(scheduler, parent_job, sexpr, expr, executor, config, config_dir, new_execution,
                        load_modules, task_options, _subrun_root_task)
