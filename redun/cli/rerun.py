"""`redun run --rerun SCRIPT ID [--arg value ...]`: run one recorded job again.

ID is a job (or an execution: its root job) by id prefix. The job's task is run with
the arguments its call node recorded (positional by position, keywords by name,
defaults included, as upstream records them); task arguments given on the command
line replace the recorded ones of the same name. The values are read back from the
repository (pickled values are the user's own records, unpickled as a cached result
would be).
"""

from ..errors import NotFoundError, UsageError


class RerunJob:
    def __init__(self, repo, job_row: dict, task_fullname: str):
        self.repo = repo
        self.job = job_row
        self.task_fullname = task_fullname

    def arguments(self) -> tuple:
        """([positional args], {keyword args}) recorded for the job."""
        from ..engine.recorder import Recorder

        if self.job["call_node"] is None:
            raise UsageError("Unable to rerun task: the job has no recorded call (it did not finish).")
        rec = Recorder(self.repo, record=False)
        try:
            call = rec.get(self.job["call_node"])
            pos, kwargs = [], {}
            for arg in sorted(call.args, key=lambda a: -1 if a.position is None else a.position):
                try:
                    value, _ = rec.load_value(arg.value)
                except Exception as e:
                    name = arg.key if arg.key is not None else arg.position
                    raise UsageError(f"Unable to rerun task. Cannot fetch previous argument '{name}' from the "
                                     f"repository ({type(e).__name__}: {e}).") from None
                if arg.key is not None:
                    kwargs[arg.key] = value
                else:
                    pos.append(value)
            return pos, kwargs
        finally:
            rec.close()


def find_rerun_job(repo, text: str) -> RerunJob:
    from ..view.query import Provenance, query_one

    prov = Provenance(repo)
    try:
        v = query_one(prov, text)
    except NotFoundError:
        raise UsageError(f'Unknown job or execution "{text}"') from None
    row = v._row
    if v.kind == "execution":
        job = prov.index.root_job(row["id"]) if row.get("job_oid") else None
        if job is None:
            raise UsageError(f'Execution "{text}" has no finished root job to rerun.')
        row = job
    elif v.kind != "job":
        raise UsageError(f'Unknown job or execution "{text}" (it is a {v.kind.replace("_", " ")}).')
    return RerunJob(repo, row, prov.task_name(row["task_oid"]))
