"""Backend cache checks for the scheduler: single and ultimate reduction.

Jobs whose cache scope is BACKEND are queued and looked up in batches (one
index query per batch); each hit is then validated (the full check walks the
cached value: Files must still hash the same, tasks must still be registered).
"""

from ..expression import is_valid_value
from .runlog import cached_line, format_task_call, miss_line

_NO_HIT = object()


class CacheMixin:
    """Mixed into Scheduler: needs self.rec, self.log, self._run_job, self._resolve_job, self._after_eval."""

    def _process_lookups(self) -> None:
        batch, self._lookups = self._lookups, []
        self.rec.expect_jobs(len(batch))
        hits = None
        index_find = getattr(self.rec.index, "find_evals", None)
        if index_find is not None:
            try:
                hits = index_find([bytes.fromhex(j.eval_hash) for j, _, _ in batch])
            except Exception:
                hits = None
        for job, args, kwargs in batch:
            hit = _NO_HIT if hits is None else hits.get(bytes.fromhex(job.eval_hash))
            if not self._check_backend(job, args, kwargs, hit):
                self._run_job(job, args, kwargs)

    def _check_backend(self, job, args, kwargs, hit=None) -> bool:
        """Cache hit → job proceeds as cached (True); miss → False. hit: prefetched find_eval
        answer (None = no entry), or _NO_HIT to query here."""
        rec = self.rec
        task = job.task
        try:
            if job.expr.task.get_task_option("check_valid", "full") == "shallow":
                oid = rec.index.find_call_node(bytes.fromhex(task.hash), bytes.fromhex(job.args_hash), None)
                if oid is None or not rec.has(oid):
                    return False
                node = rec.get(oid)
                result, vrec = rec.load_value(node.value)
                if vrec.type == "redun.ErrorValue":
                    return False
                job.call_hash = node.hash.hex()
                job.call_oid = oid
                job.cached = True
                job.result_vhash = vrec.hash.hex()
                job.eval_vhash = job.result_vhash
                job.eval_oid = node.value
                self.log(cached_line(job.id_str, format_task_call(task, args, kwargs), job.eval_hash,
                                     job.call_hash))
                self._resolve_job(job, result)
                return True
            if hit is _NO_HIT:
                hit = rec.index.find_eval(bytes.fromhex(job.eval_hash))
            if hit is None:
                return False
            job_oid, val_oid = hit[0], hit[1]
            result, vrec = rec.load_value(val_oid)  # NotFoundError (other process's pack): miss
            if vrec.type == "redun.ErrorValue":
                return False
        except Exception:  # unreadable cache entry: treat as a miss
            return False
        if not is_valid_value(result):
            self.log(miss_line(job.id_str, repr(result), job.eval_hash))
            return False
        if len(hit) >= 4:  # find_evals also returns the job's call_hash and CallNode
            if hit[2] is not None and hit[3] is not None:
                job.prev_call = (hit[2].hex(), hit[3])
        else:
            try:
                prev = rec.job_fields(job_oid)
                if prev["call_hash"] is not None and prev["call_node"] is not None:
                    job.prev_call = (prev["call_hash"].hex(), prev["call_node"])
            except Exception:
                pass
        self.log(cached_line(job.id_str, format_task_call(task, args, kwargs), job.eval_hash, None))
        job.cached = True
        job.eval_oid = val_oid
        job.eval_vhash = vrec.hash.hex()
        self._after_eval(job, result, from_cache=True)
        return True

