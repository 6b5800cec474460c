"""Paged queries for browsing (mixed into Index; `redun console` reads through them).

Every listing here takes a limit and a cursor, so a screen loads one page of
rows however large the history is: executions by keyset on (start_time, id),
children of one job, jobs of one task, producers and consumers of one value,
recorded file paths. Rows are dicts of the index's columns plus what the screen
shows beside them (task name, derived status), fetched in the same query.

The SQL keeps to what sqlite and PostgreSQL both take (no bare columns beside GROUP BY,
NULLs ordered explicitly), so PostgreSQL's index (redun/pg/queries.py) mixes this class in
too: its `_page_read` turns the `?` placeholders into its own, and `_json_each` names its
function for a JSON object's (key, value) rows.
"""

from typing import Optional

from .queries import VAL_COLS, _FIELDS, as_dict

# An execution's status as exec_status derives it (redun.view.models): from its root job.
_ROOT_STATUS = ("(SELECT status FROM jobs r WHERE r.execution_id = e.id AND r.parent_id IS NULL "
                "ORDER BY r.start_time DESC LIMIT 1)")
_ROOT_TASK = ("(SELECT t.fullname FROM jobs r JOIN tasks t ON t.oid = r.task_oid WHERE r.execution_id = e.id "
              "AND r.parent_id IS NULL ORDER BY r.start_time DESC LIMIT 1)")
_EXEC_STATUS = ("CASE WHEN job_oid IS NULL THEN (CASE WHEN end_time IS NULL THEN 'RUN' ELSE 'FAILED' END) "
                "WHEN root_status IS NULL THEN (CASE WHEN end_time IS NULL THEN 'RUN' ELSE 'DONE' END) "
                "WHEN root_status = 'FAILED' THEN 'FAILED' ELSE 'DONE' END")
_J = ", ".join("j." + c for c in _FIELDS["job"])
_JOB_NAMED = (f"SELECT {_J}, t.fullname, EXISTS (SELECT 1 FROM jobs k WHERE k.execution_id = j.execution_id "
              "AND k.parent_id = j.id) FROM jobs j LEFT JOIN tasks t ON t.oid = j.task_oid")


def like_pattern(text: str) -> str:
    """A LIKE pattern (ESCAPE '\\') matching `text` anywhere, its % and _ taken literally."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _job(row) -> dict:
    out = as_dict("job", row[: len(_FIELDS["job"])])
    out["task_name"] = row[-2]
    out["has_children"] = bool(row[-1])
    return out


class PageQueries:
    def _page_read(self, sql: str, params=()) -> list:
        return self._read(sql, params)

    def _json_each(self, column: str) -> str:
        """Rows (key, value) of a JSON object column; a string value as its JSON text."""
        return f"json_each({column})"

    # -- executions ---------------------------------------------------------
    def execution_page(self, limit: int, after: Optional[tuple] = None, status: Optional[str] = None,
                       task: Optional[str] = None, tag: Optional[tuple] = None) -> list:
        """Executions newest first, `limit` of them after the cursor `after` = (start_time, id)
        of the last row shown. Each row adds `status` (RUN/DONE/FAILED) and `task_name`
        (the root job's task). Filters: status; task (substring of the root task's name);
        tag (key, the JSON texts its value may have; empty for any value)."""
        where, params = [], []
        if after is not None:
            where.append("(e.start_time < ? OR (e.start_time = ? AND e.id > ?))")
            params += [after[0], after[0], after[1]]
        if tag is not None:
            key, values = tag
            if not values:
                where.append(f"EXISTS (SELECT 1 FROM {self._json_each('e.tags')} WHERE key = ?)")
                params.append(key)
            else:
                where.append(f"EXISTS (SELECT 1 FROM {self._json_each('e.tags')} WHERE key = ? "
                             f"AND value IN ({','.join('?' * len(values))}))")
                params += [key, *values]
        if task:
            where.append("EXISTS (SELECT 1 FROM jobs r JOIN tasks t ON t.oid = r.task_oid WHERE r.execution_id = e.id "
                         "AND r.parent_id IS NULL AND t.fullname LIKE ? ESCAPE '\\')")
            params.append(like_pattern(task))
        cols = ", ".join("e." + c for c in _FIELDS["execution"])
        inner = (f"SELECT {cols}, {_ROOT_STATUS} AS root_status, {_ROOT_TASK} AS task_name FROM executions e"
                 + (f" WHERE {' AND '.join(where)}" if where else ""))
        sql = f"SELECT * FROM (SELECT x.*, {_EXEC_STATUS} AS status FROM ({inner}) AS x) AS y"
        if status:
            sql += " WHERE status = ?"
            params.append(status)
        sql += " ORDER BY start_time DESC, id"
        rows = self._page_read(sql + f" LIMIT {int(limit)}", params)
        n = len(_FIELDS["execution"])
        out = []
        for r in rows:
            d = as_dict("execution", r[:n])
            d["task_name"], d["status"] = r[n + 1], r[n + 2]
            out.append(d)
        return out

    def execution_status_counts(self, eid: bytes) -> dict:
        """{job status: count} of one execution."""
        return dict(self._page_read("SELECT status, COUNT(*) FROM jobs WHERE execution_id=? GROUP BY status", (eid,)))

    # -- jobs ---------------------------------------------------------------
    def child_job_page(self, eid: bytes, parent_id: Optional[bytes], limit: int, offset: int = 0) -> list:
        """Jobs of execution `eid` whose parent is parent_id (None: the root jobs), oldest
        first; each row adds task_name and has_children."""
        cond = "j.parent_id = ?" if parent_id is not None else "j.parent_id IS NULL"
        params = [eid] + ([parent_id] if parent_id is not None else [])
        rows = self._page_read(f"{_JOB_NAMED} WHERE j.execution_id = ? AND {cond} ORDER BY j.start_time, j.id "
                          f"LIMIT {int(limit)} OFFSET {int(offset)}", params)
        return [_job(r) for r in rows]

    def orphan_job_page(self, eid: bytes, limit: int, offset: int = 0) -> list:
        """Jobs of an execution whose parent is not recorded (yet): while an execution runs,
        its root job is written last, so these are the top of its tree so far."""
        rows = self._page_read(f"{_JOB_NAMED} WHERE j.execution_id = ? AND j.parent_id IS NOT NULL AND NOT EXISTS "
                          "(SELECT 1 FROM jobs p WHERE p.id = j.parent_id) ORDER BY j.start_time, j.id "
                          f"LIMIT {int(limit)} OFFSET {int(offset)}", (eid,))
        return [_job(r) for r in rows]

    def job_search_page(self, eid: bytes, limit: int, offset: int = 0, status: Optional[str] = None,
                        task: Optional[str] = None) -> list:
        """Jobs of one execution matching a status and/or a task name substring, oldest first."""
        where, params = ["j.execution_id = ?"], [eid]
        if status:
            where.append("j.status = ?")
            params.append(status)
        if task:
            where.append("t.fullname LIKE ? ESCAPE '\\'")
            params.append(like_pattern(task))
        rows = self._page_read(f"{_JOB_NAMED} WHERE {' AND '.join(where)} ORDER BY j.start_time, j.id "
                          f"LIMIT {int(limit)} OFFSET {int(offset)}", params)
        return [_job(r) for r in rows]

    def named_job(self, jid: bytes) -> Optional[dict]:
        rows = self._page_read(f"{_JOB_NAMED} WHERE j.id = ?", (jid,))
        return _job(rows[0]) if rows else None

    def call_args(self, call_oids: list) -> dict:
        """call node oid -> [(position, key, value oid)] for these call nodes."""
        from .rows import unpack_args

        out = {}
        for i in range(0, len(call_oids), 500):
            key, p = self._in("oid", call_oids[i:i + 500])
            for oid, blob in self._page_read(f"SELECT oid, args FROM call_nodes WHERE {key}", p):
                out[oid] = [tuple(a) for a in unpack_args(blob)] if blob is not None else []
        return out

    def task_job_page(self, task_hash: bytes, limit: int, before: Optional[tuple] = None) -> list:
        """Jobs of one task version, newest first, after the cursor (start_time, id)."""
        where, params = ["j.task_hash = ?"], [task_hash]
        if before is not None:
            where.append("(j.start_time < ? OR (j.start_time = ? AND j.id > ?))")
            params += [before[0], before[0], before[1]]
        rows = self._page_read(f"{_JOB_NAMED} WHERE {' AND '.join(where)} ORDER BY j.start_time DESC, j.id "
                          f"LIMIT {int(limit)}", params)
        return [_job(r) for r in rows]

    # -- why a job ran or was cached ----------------------------------------
    def earlier_eval(self, eval_hash: bytes, before_us: int) -> Optional[dict]:
        """The newest finished non-failed job with this eval hash that ended before `before_us`."""
        key, p = self._eq("j.eval_hash", eval_hash)
        rows = self._page_read(f"{_JOB_NAMED} WHERE {key} AND j.end_time IS NOT NULL AND j.end_time <= ? "
                               "AND j.status != 'FAILED' AND j.cached = 0 ORDER BY j.end_time DESC LIMIT 1",
                               [*p, before_us])
        return _job(rows[0]) if rows else None

    def earlier_call_of(self, fullname: str, args_hash: bytes, task_hash: bytes, before_us: int) -> Optional[dict]:
        """The newest earlier job of a task of this name called with the same arguments
        (args_hash) but another task hash: its code changed since."""
        key, p = self._eq("c.args_hash", args_hash)
        rows = self._page_read(
            f"{_JOB_NAMED} JOIN call_nodes c ON {self._on('c.oid', 'j.call_node')} WHERE {key} AND j.task_hash != ? "
            "AND t.fullname = ? AND j.start_time < ? ORDER BY j.start_time DESC LIMIT 1",
            [*p, task_hash, fullname, before_us])
        return _job(rows[0]) if rows else None

    def earlier_job_of_task(self, task_hash: bytes, before_us: int) -> Optional[dict]:
        rows = self._page_read(f"{_JOB_NAMED} WHERE j.task_hash = ? AND j.start_time < ? ORDER BY j.start_time DESC "
                          "LIMIT 1", (task_hash, before_us))
        return _job(rows[0]) if rows else None

    # -- tasks --------------------------------------------------------------
    def task_versions(self, fullname: str, limit: int = 50) -> list:
        """(task row, first job start, last job start, number of jobs) of every task hash
        recorded under this name, newest use first."""
        out = []
        for (task_hash,) in self._page_read("SELECT DISTINCT hash FROM tasks WHERE fullname = ?", (fullname,)):
            first, last, n = self._page_read("SELECT MIN(start_time), MAX(start_time), COUNT(*) FROM jobs "
                                             "WHERE task_hash = ?", (task_hash,))[0]
            out.append((self.task_by_hash(task_hash), first, last, n))
        out.sort(key=lambda v: v[2] if v[2] is not None else -1, reverse=True)
        return out[:limit]

    def task_name_page(self, limit: int, after: str = "", text: Optional[str] = None) -> list:
        """Distinct task names after `after`, alphabetically (text: a substring filter)."""
        where, params = ["fullname > ?"], [after]
        if text:
            where.append("fullname LIKE ? ESCAPE '\\'")
            params.append(like_pattern(text))
        return [r[0] for r in self._page_read(f"SELECT DISTINCT fullname FROM tasks WHERE {' AND '.join(where)} "
                                         f"ORDER BY fullname LIMIT {int(limit)}", params)]

    # -- values and files ---------------------------------------------------
    def value_jobs_page(self, value_hash: bytes, role: str, limit: int) -> list:
        """Jobs whose result is this value (role 'result', newest first) or that took it as
        an argument (role 'arg')."""
        if role == "result":
            key, p = self._eq("c.value_hash", value_hash)
            rows = self._page_read(f"{_JOB_NAMED} JOIN call_nodes c ON {self._on('c.oid', 'j.call_node')} "
                                   f"WHERE {key} ORDER BY j.end_time IS NULL, j.end_time DESC LIMIT {int(limit)}", p)
        else:
            key, p = self._eq("a.value_hash", value_hash)
            rows = self._page_read(f"{_JOB_NAMED} JOIN arg_uses a ON {self._on('a.call_oid', 'j.call_node')} "
                                   f"WHERE {key} ORDER BY j.start_time DESC LIMIT {int(limit)}", p)
        return [_job(r) for r in rows]

    def value_parents_page(self, value_oid: bytes, limit: int) -> list:
        """Values that hold this one directly (e.g. the list a file was returned in)."""
        cols = ", ".join("v." + c for c in _FIELDS["value"])
        return [as_dict("value", r) for r in self._page_read(
            f"SELECT DISTINCT {cols} FROM subvalues s JOIN vals v ON {self._on('v.oid', 's.parent')} WHERE s.child = ? "
            f"LIMIT {int(limit)}", (value_oid,))]

    def file_page(self, limit: int, after: str = "", text: Optional[str] = None) -> list:
        """One value row per recorded file path after `after`, by path (text: substring filter)."""
        where, params = ["path IS NOT NULL", "path > ?"], [after]
        if text:
            where.append("path LIKE ? ESCAPE '\\'")
            params.append(like_pattern(text))
        paths = [r[0] for r in self._page_read(f"SELECT DISTINCT path FROM vals WHERE {' AND '.join(where)} "
                                               f"ORDER BY path LIMIT {int(limit)}", params)]
        first = {}
        for i in range(0, len(paths), 500):
            chunk = paths[i:i + 500]
            for r in self._page_read(f"SELECT {VAL_COLS} FROM vals WHERE path IN ({','.join('?' * len(chunk))}) "
                                     "ORDER BY path, hash", chunk):
                first.setdefault(r[5], as_dict("value", r))
        return [first[p] for p in paths if p in first]
