"""JobInfo: a task parameter whose default `JobInfo()` the scheduler fills in with the
running job's ids and hashes (upstream's `redun.scheduler.JobInfo`).

A JobInfo argument is left out of the argument hashes (so it never changes
the cache key); the task function receives one describing its own job.
"""

from typing import Optional

# What nested.arg_hash gives a JobInfo argument: the lifecycle leaves such arguments out of
# the call's hashes and hands the task a filled-in JobInfo instead.
JOBINFO_HASH = "JobInfo:not-hashed"


class JobInfo:
    """Runtime information of a job: execution_id, job_id, eval_hash, args_hash, options."""

    __module__ = "redun.scheduler"  # pickles as upstream's class

    def __init__(self, execution_id: str = "", job_id: str = "", eval_hash: str = "", args_hash: str = "",
                 options: Optional[dict] = None):
        self.execution_id = execution_id
        self.job_id = job_id
        self.eval_hash = eval_hash
        self.args_hash = args_hash
        self.options = options if options is not None else {}

    @classmethod
    def from_job(cls, job, execution_id: str) -> "JobInfo":
        return cls(execution_id=execution_id, job_id=job.id, eval_hash=job.eval_hash, args_hash=job.args_hash,
                   options=dict(job.get_options()))

    def __repr__(self) -> str:
        return (f"JobInfo(execution_id={self.execution_id}, job_id={self.job_id}, eval_hash={self.eval_hash}, "
                f"args_hash={self.args_hash}, options={self.options})")

    def __setstate__(self, state: dict) -> None:
        self.execution_id = state["execution_id"]
        self.job_id = state["job_id"]
        self.eval_hash = state["eval_hash"]
        self.args_hash = state["args_hash"]
        self.options = state.get("options", {})
