"""Read an upstream redun 0.44.1 database (sqlite `redun.db` or PostgreSQL) with plain SQL and
yield the records upstream's `redun export` writes (its serializers.py), so the importer that
reads export lines builds the same records; Job lines also carry the evaluation cache
(`eval_hash`, `eval_value_hash`, from upstream's evaluation table) so a rerun is cached.
Upstream need not be installed. The SQL is portable (no parameters, plain SELECTs), so one
reader serves a sqlite3 connection (index/upstream.py opens it read-only) and a psycopg one."""

import base64
import datetime
import json
from typing import Iterator

# the tables an upstream 0.44.1 database (db version 3.x) has; checked before reading
REQUIRED = ("execution", "job", "call_node", "value", "task", "tag", "tag_edit", "evaluation", "argument",
            "argument_result", "call_edge", "subvalue", "file")


def _ts(v):
    """A timestamp as upstream's export writes it ('2026-11-25 11:07:14.188267+00:00')."""
    if v is None:
        return None
    if isinstance(v, datetime.datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=datetime.timezone.utc)
        return v.astimezone(datetime.timezone.utc).isoformat(sep=" ")
    text = str(v).replace("T", " ")
    return text if ("+" in text[10:] or text.endswith("Z")) else text + "+00:00"


def _is_sqlite(conn) -> bool:
    return type(conn).__module__.startswith("sqlite3")


def _rows(conn, sql: str) -> list:
    return conn.execute(sql).fetchall()


def _stream(conn, sql: str):
    """Rows one at a time, never the whole result in memory (the value table holds every
    value's bytes): sqlite's cursor is lazy; psycopg's stream() reads row by row."""
    if _is_sqlite(conn):
        yield from conn.execute(sql)
    else:
        yield from conn.cursor().stream(sql)


def values(conn) -> Iterator[dict]:
    files = dict(_rows(conn, "SELECT value_hash, path FROM file"))
    tasks = {r[0]: r[1:] for r in _rows(conn, "SELECT hash, name, namespace, source FROM task")}
    subs: dict = {}
    for child, parent in _rows(conn, "SELECT value_hash, parent_value_hash FROM subvalue"):
        subs.setdefault(parent, []).append(child)
    # in the order upstream recorded them (rowid in sqlite, physical order in PostgreSQL), so
    # listings that follow recording order (`redun log --value`, `--file`) come out as upstream's
    order = "rowid" if _is_sqlite(conn) else "ctid"
    for vh, typ, fmt, data in _stream(conn, f"SELECT value_hash, type, format, value FROM value ORDER BY {order}"):
        subtype = None
        if vh in files:
            subtype = {"_type": "File", "path": files[vh]}
        elif vh in tasks:
            name, ns, src = tasks[vh]
            subtype = {"_type": "Task", "name": name, "namespace": ns, "source": src}
        yield {"_version": 1, "_type": "Value", "value_hash": vh, "type": typ, "format": fmt,
               "data": base64.b64encode(bytes(data)).decode(), "subvalues": sorted(subs.get(vh, ())),
               "subtype": subtype}


def call_nodes(conn) -> Iterator[dict]:
    results: dict = {}
    for arg_hash, result in _rows(conn, "SELECT arg_hash, result_call_hash FROM argument_result"):
        results.setdefault(arg_hash, []).append(result)
    args: dict = {}
    for arg_hash, call_hash, vh, pos, key in _rows(
            conn, "SELECT arg_hash, call_hash, value_hash, arg_position, arg_key FROM argument"):
        args.setdefault(call_hash, {})[key or str(pos)] = {
            "arg_hash": arg_hash, "value_hash": vh, "upstream": sorted(results.get(arg_hash, ()))}
    children: dict = {}
    for parent, child, _order in _rows(conn, "SELECT parent_id, child_id, call_order FROM call_edge "
                                             "ORDER BY parent_id, call_order"):
        children.setdefault(parent, []).append(child)
    for ch, name, th, ah, vh, ts in _rows(
            conn, "SELECT call_hash, task_name, task_hash, args_hash, value_hash, timestamp FROM call_node"):
        yield {"_version": 1, "_type": "CallNode", "call_hash": ch, "task_name": name, "task_hash": th,
               "args_hash": ah, "value_hash": vh, "timestamp": _ts(ts), "args": args.get(ch, {}),
               "children": children.get(ch, [])}


def jobs(conn) -> Iterator[dict]:
    """Jobs, each with its evaluation: the eval_hash of (task_hash, args_hash) and, on the
    newest finished job of that evaluation, the value upstream's cache holds for it."""
    evals = {(th, ah): (eh, vh) for eh, th, ah, vh in
             _rows(conn, "SELECT eval_hash, task_hash, args_hash, value_hash FROM evaluation")}
    call_args = {ch: (th, ah) for ch, th, ah in _rows(conn, "SELECT call_hash, task_hash, args_hash FROM call_node")}
    result_types = dict(_rows(conn, "SELECT c.call_hash, v.type FROM call_node c JOIN value v ON v.value_hash = c.value_hash"))
    rows = _rows(conn, "SELECT id, start_time, end_time, task_hash, cached, call_hash, parent_id, execution_id "
                       "FROM job ORDER BY start_time, id")
    children: dict = {}
    for r in rows:
        if r[6] is not None:
            children.setdefault(r[6], []).append(r[0])
    newest: dict = {}  # eval_hash -> job id of its newest finished job
    for r in rows:
        ev = evals.get(call_args.get(r[5]))
        if ev is not None and r[2] is not None:
            best = newest.get(ev[0])
            if best is None or r[2] >= best[1]:  # one database's timestamps compare among themselves
                newest[ev[0]] = (r[0], r[2])
    for jid, start, end, th, cached, ch, parent, eid in rows:
        ev = evals.get(call_args.get(ch))
        # upstream's Job.calc_status, from the type of the job's result
        status = ("FAILED" if result_types.get(ch) == "redun.ErrorValue" else "RUNNING" if end is None
                  else "CACHED" if cached else "DONE")
        line = {"_version": 1, "_type": "Job", "id": jid, "start_time": _ts(start), "end_time": _ts(end),
                "task_hash": th, "cached": bool(cached), "status": status, "call_hash": ch, "parent_id": parent,
                "children": children.get(jid, []), "execution_id": eid}
        if ev is not None:
            line["eval_hash"] = ev[0]
            line["eval_value_hash"] = ev[1] if newest.get(ev[0], (None,))[0] == jid else None
        yield line


def executions(conn) -> Iterator[dict]:
    for eid, args, job_id in _rows(conn, "SELECT id, args, job_id FROM execution"):
        yield {"_version": 1, "_type": "Execution", "id": eid, "args": args, "job_id": job_id}


def tags(conn) -> Iterator[dict]:
    parents: dict = {}
    for parent, child in _rows(conn, "SELECT parent_id, child_id FROM tag_edit"):
        parents.setdefault(child, []).append(parent)
    for th, etype, eid, key, value in _rows(conn, "SELECT tag_hash, entity_type, entity_id, key, value FROM tag"):
        if isinstance(value, str):  # a JSON column: text in sqlite, already decoded by psycopg
            value = json.loads(value)
        yield {"_version": 1, "_type": "Tag", "tag_hash": th, "entity_type": getattr(etype, "name", etype),
               "entity_id": eid, "key": key, "value": value, "parents": parents.get(th, [])}


# alembic revisions of upstream db versions 3.1-3.5 (the tag tables exist from 3.1 on)
KNOWN_REVISIONS = {"cc4f663817b6": "3.1", "eb7b95e4e8bf": "3.2", "f68b3aaee9cc": "3.3",
                   "3b0a6e67cc58": "3.4", "0bee3d6dba76": "3.5"}


def check_upstream(conn, tables: set, where: str) -> str:
    """The upstream db version of this database, or RecordImportError saying what it is not."""
    from ..errors import RecordImportError

    if "alembic_version" not in tables or "execution" not in tables:
        raise RecordImportError(f"{where} is not an upstream redun database (no execution or alembic_version table).")
    rev = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    version = KNOWN_REVISIONS.get(rev[0] if rev else None)
    if version is None:
        raise RecordImportError(
            f"{where} is an upstream redun database of schema revision {rev[0] if rev else '?'}, which this "
            "redun does not read; upgrade it with upstream first (`redun db upgrade`, db versions 3.1-3.5).")
    missing = [t for t in REQUIRED if t not in tables]
    if missing:
        raise RecordImportError(f"{where} lacks upstream table(s) {', '.join(missing)}.")
    return version


def counts(conn) -> dict:
    """Rows of each kind, for the progress bar and the closing counts."""
    return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("execution", "job", "call_node", "value", "task", "tag", "evaluation")}


def upstream_records(conn) -> Iterator[dict]:
    """Every record, children first (values in upstream's recording order, then call nodes,
    jobs, executions, tags): the importer builds them in this order."""
    yield from values(conn)
    yield from call_nodes(conn)
    yield from jobs(conn)
    yield from executions(conn)
    yield from tags(conn)
