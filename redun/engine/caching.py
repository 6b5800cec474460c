"""The backend cache: single and ultimate reduction, checked in batches.

Jobs whose cache scope is BACKEND wait in the lifecycle's `lookups` list and
are looked up together (one index query per batch). A hit is validated before
use: the full check walks the cached value (Files must still hash the same,
tasks must still be registered); check_valid="shallow" looks up the final
result of the same task and arguments (ultimate reduction), and that result
must itself still be valid, as upstream checks it.
"""

from ..errors import UntrustedValueError
from ..expression import is_valid_value
from ..taskoptions import CacheResult
from .runlog import cached_line, format_task_call, miss_line, untrusted_line

_NO_HIT = object()


class CacheChecker:
    """Looks up a batch of jobs and sends each on as cached (lifecycle.after_eval /
    resolve_job) or to run (lifecycle.run_job)."""

    def __init__(self, rec, lifecycle, log):
        self.rec = rec
        self.lifecycle = lifecycle
        self.log = log

    def process(self) -> None:
        lifecycle = self.lifecycle
        batch, lifecycle.lookups = lifecycle.lookups, []
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
            if not self.check(job, args, kwargs, hit):
                lifecycle.run_job(job, args, kwargs)

    def check(self, job, args, kwargs, hit=_NO_HIT) -> bool:
        """Cache hit → the job proceeds as cached (True); miss → False. hit: the prefetched
        find_evals answer (None = no entry), or _NO_HIT to query here."""
        options = job.get_options()
        allowed = options.get("allowed_cache_results")  # None: every kind of hit
        shallow = options.get("check_valid", "full") == "shallow"
        if job.task.is_async():  # as upstream: an async task's result is only reused whole
            allowed = (set(CacheResult) if allowed is None else allowed) - {CacheResult.SINGLE}
            shallow = True
        if shallow and (allowed is None or CacheResult.ULTIMATE in allowed):
            found = self._check_shallow(job, args, kwargs)
            if found is not None:
                return found  # else nothing recorded: single reduction, as upstream falls back to it
        if allowed is not None and CacheResult.SINGLE not in allowed:
            return False
        rec = self.rec
        try:
            if hit is _NO_HIT:
                hit = rec.index.find_eval(bytes.fromhex(job.eval_hash))
            if hit is None:
                return False
            job_oid, val_oid = hit[0], hit[1]
            result, vrec = rec.load_value(val_oid)  # NotFoundError (other process's pack): miss
            if vrec.type == "redun.ErrorValue":
                return False
        except UntrustedValueError as e:
            self.log(untrusted_line(job.id, job.eval_hash, str(e)))
            return False
        except Exception:  # unreadable cache entry: treat as a miss
            return False
        if not is_valid_value(result):
            self.log(miss_line(job.id, repr(result), job.eval_hash))
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
        self.log(cached_line(job.id, format_task_call(job.task, args, kwargs), job.eval_hash, None))
        job.was_cached = True
        job.eval_oid = val_oid
        job.eval_vhash = vrec.hash_str
        self.lifecycle.after_eval(job, result)
        return True

    def _check_shallow(self, job, args, kwargs):
        """Ultimate reduction: the final result recorded for this task and these arguments (in
        the job's context). True: hit; False: recorded but unusable (run); None: none recorded."""
        rec = self.rec
        task = job.task
        try:
            if job.context_hash is not None:
                oid = rec.index.find_call_node_in_context(bytes.fromhex(task.hash), bytes.fromhex(job.args_hash),
                                                          job.context_hash)
            else:
                oid = rec.index.find_call_node(bytes.fromhex(task.hash), bytes.fromhex(job.args_hash), None)
            if oid is None or not rec.has(oid):
                return None
            node = rec.get(oid)
            result, vrec = rec.load_value(node.value)
            if vrec.type == "redun.ErrorValue":
                return False
        except UntrustedValueError as e:
            self.log(untrusted_line(job.id, job.eval_hash, str(e)))
            return False
        except Exception:  # unreadable cache entry: treat as a miss
            return False
        if not is_valid_value(result):
            # upstream's shallow check still validates the final result (e.g. a deleted File)
            self.log(miss_line(job.id, repr(result), job.eval_hash))
            return False
        job.call_hash = node.hash.hex()
        job.call_oid = oid
        job.was_cached = True
        job.result_vhash = vrec.hash_str
        job.eval_vhash = job.result_vhash
        # Not node.value: the job's immediate return value is unknown here, and its Job record
        # must not offer the final result to single reduction (upstream records no evaluation
        # for an ultimate-reduction hit); a later context would otherwise get this one's result.
        job.eval_oid = None
        self.log(cached_line(job.id, format_task_call(task, args, kwargs), job.eval_hash, job.call_hash))
        self.lifecycle.resolve_job(job, result)
        return True
