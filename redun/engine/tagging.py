"""Tags made while a workflow runs (upstream semantics), and the apply_tags scheduler task.

- `@task(tags=[(key, value), ...])` (or `task.options(tags=...)`): a tag on each job of the
  task, and on the task itself.
- `apply_tags(value, tags, job_tags, execution_tags)`: evaluates to value; tags go on the
  value, job_tags on the job that evaluates the expression (the task that returned it or
  takes it as an argument), execution_tags on the execution.
- A job whose context is not empty tags its call node `redun.context = <context hash>`
  (what check_valid="shallow" matches the context on; redun/context.py).

They are recorded when the job ends, as Tag records (the Recorder gathers them into the
run's TagSet, named by the ref tags/<execution id>). A job with none of these costs one
attribute test and one option lookup.
"""

from ..task import scheduler_task


def _job_of(parent_job):
    return getattr(parent_job, "job", parent_job) if parent_job is not None else None  # a JobEnv's job


@scheduler_task(namespace="redun")
def apply_tags(scheduler, parent_job, sexpr, value, tags=(), job_tags=(), execution_tags=()):
    """Apply tags to a value, the current job, or the execution; evaluates to value.

    `apply_tags(x, [("env", "prod")])` tags the value x, `job_tags=[...]` the job this
    expression is evaluated in, `execution_tags=[...]` the execution."""

    def then(args):
        value, tags, job_tags, execution_tags = args
        job = _job_of(parent_job)
        if job is None:
            raise ValueError("apply_tags() needs a job to be evaluated in (call it inside a workflow).")
        for what, pairs in (("tags", tags), ("job_tags", job_tags), ("execution_tags", execution_tags)):
            check_pairs(pairs, f"apply_tags({what}=...)")
        if job.job_tags is None:
            job.job_tags, job.value_tags, job.execution_tags = [], [], []
        if tags:
            job.value_tags.append((value, list(tags)))
        job.job_tags.extend(job_tags)
        job.execution_tags.extend(execution_tags)
        return value

    return scheduler.evaluate((value, tags, job_tags, execution_tags), parent_job=parent_job).then(then)


def check_pairs(pairs, what: str) -> None:
    """Tags are (key, JSON value) pairs; anything else is refused here, not when recorded."""
    from ..hashing import json_dumps

    for pair in pairs:
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2 and isinstance(pair[0], str)):
            raise TypeError(f"{what}: a tag must be a (key, value) pair with a text key, not {pair!r}")
        try:
            json_dumps(pair[1])
        except (TypeError, ValueError):
            raise TypeError(f"{what}: the value of tag {pair[0]!r} must be JSON (text, number, bool, "
                            f"None, list or dict), not {type(pair[1]).__name__}") from None


def has_tags(job, options: dict) -> bool:
    return job.job_tags is not None or job.context_hash is not None or bool(options.get("tags"))


def record_job_tags(rec, job, options: dict, execution_id: str) -> None:
    """Record the tags a finished (or failed) job carries, before its Job record."""
    from ..hashing import hash_value

    option_tags = options.get("tags") or ()
    if option_tags:
        check_pairs(option_tags, f"{job.task.fullname}: task option tags")
        task_tags = job.task.get_task_option("tags") or ()
        for key, value in task_tags:
            rec.tag("Task", job.task.hash, key, value)
    if job.context_hash is not None and job.call_hash:
        context = job.get_context()
        rec.tag("CallNode", job.call_hash, "redun.context", job.context_hash,
                value_oid=rec.value_oid(context, job.context_hash))
    for key, value in option_tags:
        rec.tag("Job", job.id, key, value)
    if job.job_tags is None:
        return
    for value, tags in job.value_tags:
        vhash = hash_value(value)
        oid = rec.value_oid(value, vhash)
        for key, tag_value in tags:
            rec.tag("Value", vhash, key, tag_value, value_oid=oid)
    for key, value in job.job_tags:
        rec.tag("Job", job.id, key, value)
    for key, value in job.execution_tags:
        rec.tag("Execution", execution_id, key, value)
