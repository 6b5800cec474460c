"""subrun: a sub-workflow evaluated by its own scheduler, running as a job on an executor.

The scheduler tasks keep upstream's names and hashes in redun/scheduler.py
(`redun.subrun`, `redun.subrun_root_task`); their work is here. The sub-scheduler
records into the caller's repository as part of the caller's execution (under the
job that runs it) or, with new_execution, as an execution of its own.
"""

import os
import uuid
from typing import Any, Optional

from ..expression import QuotedExpression
from ..promise import Promise
from .job import DryRunResult, Job, SubrunResult


def run_sub_scheduler(scheduler_class, root_task, expr: QuotedExpression, config: dict, config_dir: Optional[str],
                      load_modules: list, run_config: dict, new_execution: bool, job_info,
                      export_options: Optional[dict]) -> dict:
    """The body of redun.subrun_root_task (on the executor): returns upstream's dict."""
    import importlib
    import pickle

    from ..config import Config

    if config_dir:
        from ..repo.repository import Repo

        sub = scheduler_class(repo=Repo.open(config_dir))
    else:
        sub = scheduler_class(config=Config(config))
    for module in load_modules or ():
        importlib.import_module(module)
    out = SubrunResult(config=sub.config.get_config_dict())
    expr_eval = pickle.loads(pickle.dumps(expr.eval()))  # fresh expressions: no bookkeeping shared
    run_config = dict(run_config)  # dryrun, cache and the calling job's context, as upstream's
    if new_execution:
        out["result"] = sub.run(expr_eval, execution_id=run_config.pop("execution_id", None), **run_config)
    else:
        parent = Job(root_task, None, (), {}, None)  # stands for this job in the sub-scheduler
        parent._exported = dict(export_options or {})
        out.update(extend(sub, expr_eval, job_info, parent, run_config))
    out["run_config"] = {"dryrun": run_config.get("dryrun", False), "cache": run_config.get("cache", True)}
    out["status"] = sub.get_job_status_report()
    return out


def extend(sub, expr, job_info, parent: Job, run_config: dict) -> dict:
    """Run expr on scheduler `sub` as part of job_info's execution, under `parent` (a stand-in
    for the calling job): {"result" or "error" or "dryrun", "job_id", "call_hash", "job_oid"}."""
    parent.uuid = uuid.UUID(job_info.job_id).bytes
    parent._context = run_config.get("context") or {}  # the calling job's: its children see it
    out: dict = {}
    try:
        out["result"] = sub.run(expr, execution_id=job_info.execution_id, _parent_job=parent, **run_config)
    except DryRunResult:
        out["dryrun"] = True
    except Exception as error:  # noqa: BLE001 - re-raised by subrun in the calling scheduler
        out["error"] = error
    job = parent.child_jobs[0] if parent.child_jobs else None
    if job is not None:
        out.update(job_id=job.id, call_hash=job.call_hash, job_oid=job.oid)
    return out


def start_subrun(scheduler, parent_job: Job, sexpr, expr: Any, executor: str, config: Optional[dict],
                 config_dir: Optional[str], new_execution: bool, load_modules: Optional[list], task_options: dict,
                 subrun_root_task) -> Promise:
    """The body of the redun.subrun scheduler task (on the calling scheduler)."""
    from ..task import get_task_registry

    if config and config_dir is not None:
        raise ValueError("subrun(): give config or config_dir, not both.")
    if config_dir is None and not config:
        if scheduler.repo is not None:
            config_dir = os.path.abspath(scheduler.repo.root)
        else:
            config = scheduler.config.get_config_dict()
    if load_modules is None:
        load_modules = sorted({t.load_module for t in get_task_registry()
                               if t.func is not None and not t.load_module.startswith("redun.")})
    run = scheduler._run
    run_config = {"dryrun": run.dryrun, "cache": run.lifecycle._use_cache, "context": parent_job.get_context()}
    if not parent_job.recording_provenance() or scheduler.repo is None:
        new_execution = True  # nothing to extend: the caller's records are not in a repository
    sexpr_options = getattr(sexpr, "_options", {}) or {}
    options = {"cache_scope": sexpr_options.get("cache_scope", "BACKEND"),
               "check_valid": sexpr_options.get("check_valid", "shallow"), **task_options}
    root_expr = subrun_root_task.options(executor=executor, **options)(
        expr=QuotedExpression(expr), config=config or {}, config_dir=config_dir, load_modules=load_modules,
        run_config=run_config, export_options=parent_job.get_export_options(), new_execution=new_execution)

    def then(result: dict):
        import pprint

        rule = "-" * 79
        scheduler.log()
        for line in (rule, f"BEGIN: Sub-scheduler report (executor='{executor}'), {repr(expr)[:200]}", rule,
                     "Sub-scheduler config:", *pprint.pformat(result["config"]).splitlines(), "",
                     "Sub-scheduler run_config:", *pprint.pformat(result["run_config"]).splitlines(), "",
                     "Sub-scheduler final job status:", *result["status"], rule, "END: Sub-scheduler report",
                     rule, ""):
            scheduler.log(line)
        if "result" in result:
            return result["result"]
        if "error" in result:
            raise result["error"]
        return Promise()  # a dry run of the sub-workflow: never resolves, as upstream

    return scheduler.evaluate(root_expr, parent_job=parent_job).then(then)
