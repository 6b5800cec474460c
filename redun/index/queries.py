"""Read queries over the index (mixed into Index; every method reads through
`self._read`, which flushes rows this process has buffered).

Rows come back as plain tuples/dicts of bytes and ints; turning them into
records or text is the caller's business (redun.view.query, redun.view.render_text).
"""

from typing import Optional

from .keysql import KeySql, _range_sql, prefix_range

EXEC_COLS = "id, oid, args, job_oid, start_time, end_time, tags"
JOB_COLS = (
    "id, oid, execution_id, parent_id, task_hash, task_oid, call_hash, call_node, eval_hash, "
    "eval_value, start_time, end_time, cached, status"
)
CALL_COLS = "oid, hash, task_hash, task_oid, task_name, args_hash, value_hash, value_oid, timestamp"
TASK_COLS = "oid, hash, namespace, name, fullname"
VAL_COLS = "oid, hash, type, format, size, path"

KINDS = ("execution", "job", "call_node", "task", "value")


def _names(cols: str) -> tuple:
    return tuple(c.strip() for c in cols.split(","))


_FIELDS = {
    "execution": _names(EXEC_COLS),
    "job": _names(JOB_COLS),
    "call_node": _names(CALL_COLS),
    "task": _names(TASK_COLS),
    "value": _names(VAL_COLS),
}


def as_dict(kind: str, row) -> Optional[dict]:
    return None if row is None else dict(zip(_FIELDS[kind], row))


class Queries(KeySql):
    # -- engine cache lookups ----------------------------------------------
    def find_eval(self, eval_hash: bytes):
        """(job oid, eval value oid) of the newest finished, non-failed job with this eval_hash."""
        key, p = self._eq("eval_hash", eval_hash)
        rows = self._read(
            f"SELECT oid, eval_value FROM jobs WHERE {key} AND eval_value IS NOT NULL "
            "AND end_time IS NOT NULL AND status != 'FAILED' ORDER BY end_time DESC LIMIT 1", p)
        return (rows[0][0], rows[0][1]) if rows else None

    def find_evals(self, eval_hashes) -> dict:
        """find_eval for many hashes in few queries:
        {eval_hash: (job oid, eval value oid, job call_hash, job call_node oid)}."""
        hashes = list(dict.fromkeys(eval_hashes))
        best: dict = {}
        for i in range(0, len(hashes), 500):
            key, p = self._in("eval_hash", hashes[i : i + 500])
            rows = self._read(
                f"SELECT eval_hash, oid, eval_value, end_time, call_hash, call_node FROM jobs WHERE {key} "
                "AND eval_value IS NOT NULL AND end_time IS NOT NULL AND status != 'FAILED'", p)
            for eh, oid, ev, end, ch, cn in rows:
                if eh not in best or end > best[eh][2]:
                    best[eh] = (oid, ev, end, ch, cn)
        return {eh: (v[0], v[1], v[3], v[4]) for eh, v in best.items()}

    def find_evaluation(self, eval_hash: bytes) -> Optional[bytes]:
        """Value oid of the newest Evaluation record (a scheduler task's cache entry) for eval_hash."""
        rows = self._read("SELECT value_oid FROM evaluations WHERE eval_hash=? ORDER BY timestamp DESC LIMIT 1",
                          (eval_hash,))
        return rows[0][0] if rows else None

    def handle_state(self, handle_hash: bytes) -> Optional[bool]:
        """None if no Handle record has this hash, else whether that state is still valid
        (not invalidated by a rollback)."""
        if not self._read("SELECT 1 FROM handles WHERE hash=? LIMIT 1", (handle_hash,)):
            return None
        return not self._read("SELECT 1 FROM handle_invalid WHERE hash=? LIMIT 1", (handle_hash,))

    def handle_edges(self, fullname: str) -> list:
        """(parent hash, child hash) of every edge between valid states of the handles named fullname."""
        return self._read(
            "SELECT e.parent, e.child FROM handle_edges e JOIN handles h ON h.hash = e.parent "
            "WHERE h.fullname=? AND e.parent NOT IN (SELECT hash FROM handle_invalid)", (fullname,))

    def find_call_node(self, task_hash: bytes, args_hash: bytes, execution_id: Optional[bytes] = None):
        """Oid of the newest CallNode with (task_hash, args_hash); with execution_id,
        only CallNodes that a Job of that execution resolved to."""
        key, p = self._eq("c.args_hash", args_hash)
        if execution_id is None:
            rows = self._read(
                f"SELECT oid FROM call_nodes c WHERE c.task_hash=? AND {key} ORDER BY timestamp DESC LIMIT 1",
                [task_hash, *p])
        else:
            rows = self._read(
                f"SELECT c.oid FROM call_nodes c JOIN jobs j ON {self._on('j.call_node', 'c.oid')} "
                f"WHERE c.task_hash=? AND {key} AND j.execution_id=? ORDER BY c.timestamp DESC LIMIT 1",
                [task_hash, *p, execution_id])
        return rows[0][0] if rows else None

    # -- id resolution ------------------------------------------------------
    def resolve(self, text: str, kinds=KINDS, limit: int = 50) -> list:
        """Every (kind, row dict) matching `text`: a lowercase hex prefix of an
        execution/job uuid (dashes allowed), call_hash, task hash or value hash;
        or the exact name/fullname of a task. Grouped in KINDS order."""
        out = []
        from ..objects.ids import is_hex

        hexp = text.replace("-", "") if is_hex(text.replace("-", "")) and text[:1] != "-" else None
        for kind in kinds:
            if kind == "execution" and hexp and len(hexp) <= 32:
                where, p = _range_sql("id", prefix_range(hexp))
                rows = self._read(f"SELECT {EXEC_COLS} FROM executions WHERE {where} LIMIT {limit}", p)
            elif kind == "job" and hexp and len(hexp) <= 32:
                where, p = _range_sql("id", prefix_range(hexp))
                rows = self._read(f"SELECT {JOB_COLS} FROM jobs WHERE {where} LIMIT {limit}", p)
            elif kind == "call_node" and hexp and len(hexp) <= 40 and "-" not in text:
                where, p = self._range("hash", prefix_range(hexp))
                rows = self._read(
                    f"SELECT {CALL_COLS} FROM call_nodes WHERE {where} "
                    f"GROUP BY hash HAVING timestamp = MAX(timestamp) LIMIT {limit}", p
                )
            elif kind == "task":
                rows = []
                if hexp and len(hexp) <= 40 and "-" not in text:
                    where, p = _range_sql("hash", prefix_range(hexp))
                    rows = self._read(f"SELECT {TASK_COLS} FROM tasks WHERE {where} GROUP BY hash LIMIT {limit}", p)
                seen = {r[1] for r in rows}
                for r in self._read(
                    f"SELECT {TASK_COLS} FROM tasks WHERE fullname=? OR name=? GROUP BY hash LIMIT {limit}", (text, text)
                ):
                    if r[1] not in seen:
                        rows.append(r)
            elif kind == "value" and hexp and len(hexp) <= 40 and "-" not in text:
                where, p = self._range("hash", prefix_range(hexp))
                rows = self._read(f"SELECT {VAL_COLS} FROM vals WHERE {where} GROUP BY hash LIMIT {limit}", p)
            else:
                continue
            out.extend((kind, as_dict(kind, r)) for r in rows)
        return out

    # -- executions ---------------------------------------------------------
    def executions(self, limit: Optional[int] = None, offset: int = 0) -> list:
        """Executions, newest first (by start time)."""
        lim = f" LIMIT {int(limit)} OFFSET {int(offset)}" if limit is not None else ""
        return [as_dict("execution", r) for r in
                self._read(f"SELECT {EXEC_COLS} FROM executions ORDER BY start_time DESC, id{lim}")]

    def execution(self, eid: bytes) -> Optional[dict]:
        rows = self._read(f"SELECT {EXEC_COLS} FROM executions WHERE id=?", (eid,))
        return as_dict("execution", rows[0]) if rows else None

    def execution_jobs(self, eid: bytes) -> list:
        """Every indexed job of an execution, oldest first."""
        return [as_dict("job", r) for r in
                self._read(f"SELECT {JOB_COLS} FROM jobs WHERE execution_id=? ORDER BY start_time, id", (eid,))]

    def root_job(self, eid: bytes) -> Optional[dict]:
        rows = self._read(f"SELECT {JOB_COLS} FROM jobs WHERE execution_id=? AND parent_id IS NULL "
                          "ORDER BY start_time DESC LIMIT 1", (eid,))
        return as_dict("job", rows[0]) if rows else None

    def execution_job_args(self, eid: bytes) -> list:
        """(job id, arg idx, position, key, value oid, cached preview or None) for every
        argument of every job of an execution: the job tree in two queries."""
        from .rows import unpack_args

        out = []
        for jid, blob in self._read(
            f"SELECT j.id, c.args FROM jobs j JOIN call_nodes c ON {self._on('c.oid', 'j.call_node')} "
            "WHERE j.execution_id=? AND c.args IS NOT NULL", (eid,)
        ):
            out.extend((jid, i, a[0], a[1], a[2]) for i, a in enumerate(unpack_args(blob)))
        cached = self.previews(list({r[4] for r in out}))
        return [(*r, cached.get(r[4])) for r in out]

    def pack_hint(self, oid: bytes) -> Optional[str]:
        """Name of the pack a CallNode, Value or Task was ingested from (None if unknown)."""
        key, p = self._eq("oid", oid)
        rows = self._read(
            f"SELECT name FROM pack_ids WHERE id = coalesce((SELECT pack FROM call_nodes WHERE {key}), "
            f"(SELECT pack FROM vals WHERE {key}), (SELECT pack FROM tasks WHERE oid=?))", [*p, *p, oid])
        return rows[0][0] if rows else None

    # -- display cache ------------------------------------------------------
    def previews(self, oids: list) -> dict:
        out = {}
        oids = sorted(oids)
        for i in range(0, len(oids), 8000):  # under sqlite's 32766-variable limit, few queries
            key, p = self._in("oid", oids[i:i + 8000])
            out.update(self._read(f"SELECT oid, preview FROM vals WHERE {key} AND preview IS NOT NULL", p))
        return out

    def save_previews(self, items: dict) -> None:
        """Remember display previews (derived from immutable values, so never stale)."""
        if not items:
            return
        try:
            key = self._eq("oid", b"")[0]  # the SQL only: each row's parameters below
            self.commit(lambda c: c.executemany(f"UPDATE vals SET preview=? WHERE {key} AND preview IS NULL",
                                                [(t, *self._eq("oid", o)[1]) for o, t in items.items()]))
        except Exception:  # noqa: BLE001 - a read-only or busy index only loses the cache
            pass

    # -- jobs ---------------------------------------------------------------
    def job(self, jid: bytes) -> Optional[dict]:
        rows = self._read(f"SELECT {JOB_COLS} FROM jobs WHERE id=?", (jid,))
        return as_dict("job", rows[0]) if rows else None

    def child_jobs(self, jid: bytes) -> list:
        """Jobs whose parent is jid (a parent and its children share an execution)."""
        parent = self.job(jid)
        if parent is None:
            return []
        return [as_dict("job", r) for r in self._read(
            f"SELECT {JOB_COLS} FROM jobs WHERE execution_id=? AND parent_id=? ORDER BY start_time, id",
            (parent["execution_id"], jid))]

    def jobs_for_call_node(self, call_oid: bytes) -> list:
        key, p = self._eq("call_node", call_oid)
        return [as_dict("job", r) for r in self._read(f"SELECT {JOB_COLS} FROM jobs WHERE {key} ORDER BY start_time", p)]

    def first_job_of_task(self, task_hash: bytes) -> Optional[dict]:
        rows = self._read(f"SELECT {JOB_COLS} FROM jobs WHERE task_hash=? ORDER BY start_time LIMIT 1", (task_hash,))
        return as_dict("job", rows[0]) if rows else None

    # -- call nodes ---------------------------------------------------------
    def call_node(self, oid: bytes) -> Optional[dict]:
        key, p = self._eq("oid", oid)
        rows = self._read(f"SELECT {CALL_COLS} FROM call_nodes WHERE {key}", p)
        return as_dict("call_node", rows[0]) if rows else None

    def call_node_by_hash(self, call_hash: bytes) -> Optional[dict]:
        key, p = self._eq("hash", call_hash)
        rows = self._read(f"SELECT {CALL_COLS} FROM call_nodes WHERE {key} ORDER BY timestamp DESC LIMIT 1", p)
        return as_dict("call_node", rows[0]) if rows else None

    def call_parents(self, oid: bytes) -> list:
        """CallNodes of the parent jobs of the jobs that resolved to this CallNode."""
        key, p = self._eq("j.call_node", oid)
        return [as_dict("call_node", r) for r in self._read(
            f"SELECT DISTINCT {', '.join('c.' + c for c in _FIELDS['call_node'])} FROM jobs j "
            f"JOIN jobs p ON p.id = j.parent_id JOIN call_nodes c ON {self._on('c.oid', 'p.call_node')} "
            f"WHERE {key} ORDER BY c.timestamp", p)]

    def call_callers_in_execution(self, oid: bytes, execution_id: bytes) -> list:
        """CallNodes of the parent jobs that called this CallNode within one execution."""
        cols = ", ".join("c." + c for c in _FIELDS["call_node"])
        key, p = self._eq("j.call_node", oid)
        return [as_dict("call_node", r) for r in self._read(
            f"SELECT DISTINCT {cols} FROM jobs j JOIN jobs p ON p.id = j.parent_id "
            f"JOIN call_nodes c ON {self._on('c.oid', 'p.call_node')} WHERE {key} AND j.execution_id=? "
            "ORDER BY p.start_time", [*p, execution_id])]

    def newest_execution_of_call(self, oid: bytes) -> Optional[bytes]:
        """The execution of the newest job that resolved to this CallNode."""
        key, p = self._eq("call_node", oid)
        rows = self._read(f"SELECT execution_id FROM jobs WHERE {key} ORDER BY start_time DESC LIMIT 1", p)
        return rows[0][0] if rows else None

    def task_job_ids(self, task_hash: bytes) -> list:
        """Ids of every job of a task, oldest first."""
        return [r[0] for r in self._read("SELECT id FROM jobs WHERE task_hash=? ORDER BY start_time", (task_hash,))]

    def value_contains(self, outer: bytes, inner: bytes) -> bool:
        """True if value `inner` is `outer` or nested anywhere inside it."""
        if outer == inner:
            return True
        return bool(self._read(
            "WITH RECURSIVE down(o) AS (SELECT ? UNION SELECT s.child FROM subvalues s JOIN down ON s.parent = down.o) "
            "SELECT 1 FROM down WHERE o = ? LIMIT 1", (outer, inner)))

    def call_nodes_by_oid(self, oids) -> list:
        """Rows for these CallNode oids, in the given order (unknown ones skipped)."""
        out = []
        for oid in oids:
            row = self.call_node(oid)
            if row is not None:
                out.append(row)
        return out

    # -- tasks and values ---------------------------------------------------
    def task(self, oid: bytes) -> Optional[dict]:
        rows = self._read(f"SELECT {TASK_COLS} FROM tasks WHERE oid=?", (oid,))
        return as_dict("task", rows[0]) if rows else None

    def task_by_hash(self, task_hash: bytes) -> Optional[dict]:
        rows = self._read(f"SELECT {TASK_COLS} FROM tasks WHERE hash=? LIMIT 1", (task_hash,))
        return as_dict("task", rows[0]) if rows else None

    def value(self, oid: bytes) -> Optional[dict]:
        key, p = self._eq("oid", oid)
        rows = self._read(f"SELECT {VAL_COLS} FROM vals WHERE {key}", p)
        return as_dict("value", rows[0]) if rows else None

    def value_by_hash(self, value_hash: bytes) -> Optional[dict]:
        key, p = self._eq("hash", value_hash)
        rows = self._read(f"SELECT {VAL_COLS} FROM vals WHERE {key} LIMIT 1", p)
        return as_dict("value", rows[0]) if rows else None

    def values_with_path(self, path: str) -> list:
        return [as_dict("value", r) for r in self._read(f"SELECT {VAL_COLS} FROM vals WHERE path=?", (path,))]

    def _direct_hash(self, oid: bytes) -> list:
        key, p = self._eq("oid", oid)
        return [r[0] for r in self._read(f"SELECT hash FROM vals WHERE {key}", p)]

    def _containing(self, oid: bytes) -> list:
        """oid and the oids of every value that holds it (transitively), as value hashes."""
        rows = self._read(
            "WITH RECURSIVE up(o) AS (SELECT ? UNION SELECT s.parent FROM subvalues s JOIN up ON s.child = up.o) "
            f"SELECT DISTINCT v.hash FROM up JOIN vals v ON {self._on('v.oid', 'up.o')}", (oid,))
        return [r[0] for r in rows]

    def producers(self, value_oid: bytes, direct: bool = False) -> list:
        """Jobs whose result is this value (or, unless direct, holds it), newest end first."""
        hashes = self._direct_hash(value_oid) if direct else self._containing(value_oid)
        if not hashes:
            return []
        key, p = self._in("c.value_hash", hashes)
        return [as_dict("job", r) for r in self._read(
            f"SELECT {', '.join('j.' + c for c in _FIELDS['job'])} FROM call_nodes c "
            f"JOIN jobs j ON {self._on('j.call_node', 'c.oid')} WHERE {key} ORDER BY j.end_time DESC", p)]

    def consumers(self, value_oid: bytes, direct: bool = False) -> list:
        """Jobs that took this value (or, unless direct, a value holding it) as an argument,
        newest start first."""
        hashes = self._direct_hash(value_oid) if direct else self._containing(value_oid)
        if not hashes:
            return []
        key, p = self._in("a.value_hash", hashes)
        return [as_dict("job", r) for r in self._read(
            f"SELECT DISTINCT {', '.join('j.' + c for c in _FIELDS['job'])} FROM arg_uses a "
            f"JOIN jobs j ON {self._on('j.call_node', 'a.call_oid')} WHERE {key} ORDER BY j.start_time DESC", p)]

    def counts(self) -> dict:
        out = {}
        for table in ("executions", "jobs", "call_nodes", "tasks", "vals", "tags", "ingested_packs"):
            out[table] = self._read(f"SELECT COUNT(*) FROM {table}")[0][0]
        return out

    # -- listings -----------------------------------------------------------
    _TABLES = {"execution": ("executions", EXEC_COLS), "job": ("jobs", JOB_COLS),
               "call_node": ("call_nodes", CALL_COLS), "task": ("tasks", TASK_COLS), "value": ("vals", VAL_COLS)}

    def select(self, kind: str, where: str = "", params=(), order: str = "", group: str = ""):
        """Stream rows (dicts) of one kind. where/order/group are SQL fragments
        written by our own callers (never user text); user values go in params."""
        table, cols = self._TABLES[kind]
        sql = f"SELECT {cols} FROM {table}"
        if where:
            sql += f" WHERE {where}"
        if group:
            sql += f" GROUP BY {group}"
        if order:
            sql += f" ORDER BY {order}"
        with self.lock:
            if len(self.buffer):
                self.commit()
            cur = self.conn.execute(sql, params)
        while True:
            with self.lock:
                rows = cur.fetchmany(500)
            if not rows:
                return
            for r in rows:
                yield as_dict(kind, r)

    def count(self, kind: str, where: str = "", params=(), distinct: str = "") -> int:
        table, _ = self._TABLES[kind]
        what = f"COUNT(DISTINCT {distinct})" if distinct else "COUNT(*)"
        sql = f"SELECT {what} FROM {table}" + (f" WHERE {where}" if where else "")
        return self._read(sql, params)[0][0]
