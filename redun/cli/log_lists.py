"""Listing mode of `redun log` (--exec/--job/--call-node/--task/--value/--file/--all):
filters become SQL over the index; rows stream to the renderer."""

from ..errors import UsageError
from ..objects.ids import is_hex

COUNT_NAMES = {"execution": "Execution", "job": "Job", "call_node": "CallNode", "task": "Task", "value": "Value",
               "file": "File"}
TRIM_EVERY = 1000

ORDER = {  # listings read through one cursor (few rows); the others page (_list_pages)
    "execution": "start_time DESC, id",
    "task": "(SELECT MIN(j.start_time) FROM jobs j WHERE j.task_hash = tasks.hash), fullname",
}


def _task_clause(names, column_oid: str):
    """SQL matching tasks by name: 'ns.name' exactly, or a bare name in any namespace."""
    parts, params = [], []
    for n in names:
        parts.append("fullname = ?" if "." in n else "name = ?")
        params.append(n)
    return f"{column_oid} IN (SELECT oid FROM tasks WHERE {' OR '.join(parts)})", params


def _exec_ids(prov, text: str) -> list:
    from ..view.query import query_one

    out = []
    for part in text.split(","):
        v = query_one(prov, part.strip())
        if v.kind != "execution":
            raise UsageError(f"--exec-id: '{part}' is a {v.kind.replace('_', ' ')}, not an execution.")
        out.append(v._row["id"])
    return out


def where_for(prov, kind: str, f: dict) -> tuple:
    where, params = [], []
    if f.get("task_hash") and kind in ("job", "call_node", "task"):
        if not (len(f["task_hash"]) == 40 and is_hex(f["task_hash"])):
            return "0", []  # upstream: full hash, exact match only
        col = "hash" if kind == "task" else "task_hash"
        where.append(f"{col} = ?")
        params.append(bytes.fromhex(f["task_hash"]))
    if f.get("task_name") and kind in ("job", "call_node", "task"):
        if kind == "task":
            clause, p = _task_clause(f["task_name"], "oid")
        else:
            clause, p = _task_clause(f["task_name"], "task_oid")
        where.append(clause)
        params += p
    if kind == "job":
        if f.get("job_status"):
            st = [s for s in f["job_status"] if s != "RUNNING"]  # jobs are recorded when they end
            where.append(f"status IN ({','.join('?' * len(st))})" if st else "0")
            params += st
        if f.get("exec_id"):
            ids = _exec_ids(prov, f["exec_id"])
            where.append(f"execution_id IN ({','.join('?' * len(ids))})")
            params += ids
    if kind == "execution" and f.get("exec_id"):
        ids = _exec_ids(prov, f["exec_id"])
        where.append(f"id IN ({','.join('?' * len(ids))})")
        params += ids
    if f.get("results") or f.get("args"):
        if kind != "job":
            return "0", []  # they select jobs only (as upstream)
        for field in ("results", "args"):
            if f.get(field):
                clause, p = prov.index.value_filter_sql(field, f[field])
                where.append(clause)
                params += p
    if f.get("tags"):
        clause, p = prov.index.tag_filter_sql("value" if kind == "file" else kind, f["tags"])
        where.append(clause)
        params += p
    if f.get("exec_tags"):
        clause, p = prov.index.exec_tag_filter_sql(kind, f["exec_tags"])
        where.append(clause)
        params += p
    if kind in ("value", "file") and f.get("value_type"):
        where.append("type = ?")
        params.append(f["value_type"])
    if kind == "file":
        where.append("path IS NOT NULL")
        if f.get("file_path"):
            where.append("path = ?")
            params.append(f["file_path"])
    return " AND ".join(where), params


def list_kind(prov, renderer, kind: str, f: dict, count: bool, detail: bool, fmt: str, out) -> None:
    from ..view.query import exec_status

    index = prov.index
    where, params = where_for(prov, kind, f)
    table_kind = "value" if kind == "file" else kind
    statuses = f.get("exec_status") if kind == "execution" else None
    if count and not statuses:
        n = index.count(table_kind, where, params, distinct="path" if kind == "file" else "")
        _count_line(out, kind, n, fmt)
        return
    if kind in ("value", "file", "job", "call_node"):
        _list_pages(prov, renderer, kind, where, params, detail, fmt)
        return
    rows = index.select(table_kind, where, params, ORDER[kind], group="path" if kind == "file" else "")
    n = 0
    for row in rows:
        if statuses:
            st = exec_status(index, row)
            if ("RUNNING" if st == "RUN" else st) not in statuses:
                continue
        n += 1
        if count:
            continue
        if n % TRIM_EVERY == 0:
            prov.trim()  # rows stream from the index: keep the records they read from piling up
        if fmt == "json":
            renderer.record(table_kind, row)
        elif kind == "execution":
            renderer.exec_detail(row) if detail else renderer.exec_line(row)
        elif kind == "job":
            renderer.job_detail(row) if detail else renderer.job_line(row)
        elif kind == "call_node":
            renderer.call_node_block(row) if detail else renderer.call_node_line(row)
        elif kind == "task":
            if detail:
                renderer.task_block(row)
                renderer.line()
            else:
                renderer.task_line(row)
        elif kind == "file":
            renderer.file_line(row)
        else:
            renderer.value_block(row) if detail else renderer.value_line(row)
    if count:
        _count_line(out, kind, n, fmt)


def _list_pages(prov, renderer, kind: str, where: str, params: list, detail: bool, fmt: str) -> None:
    """Values, files, jobs and call nodes, a page at a time (redun/view/listing.py): typed
    lines for the text listing; index rows for --format json and --detail, whose renderers
    read records."""
    from ..view import listing

    index = prov.index
    rows_of = {"value": index.value_pages, "file": index.file_pages, "job": index.job_pages,
               "call_node": index.call_node_pages}[kind]
    if fmt == "json" or (detail and kind != "file"):
        if fmt == "json":
            table = "value" if kind == "file" else kind
            show = lambda row: renderer.record(table, row)  # noqa: E731
        else:
            show = {"value": renderer.value_block, "job": renderer.job_detail,
                    "call_node": renderer.call_node_block}[kind]
        for rows in listing.row_pages(prov, rows_of(where, params)):
            for row in rows:
                show(row)
        return
    lines_of, show = {"value": (listing.value_pages, renderer.value_row),
                      "file": (listing.file_pages, renderer.file_row),
                      "job": (listing.job_pages, renderer.job_row),
                      "call_node": (listing.call_node_pages, renderer.call_node_row)}[kind]
    for lines in lines_of(prov, where, params):
        for line in lines:
            show(line)


def _count_line(out, kind: str, n: int, fmt: str) -> None:
    """`--count`: upstream's "<n right-aligned> <Type>" line, or {"_type": ..., "count": n} in json."""
    if fmt == "json":
        out(f'{{"_type": "{COUNT_NAMES[kind]}", "count": {n}}}')
    else:
        out(f"{n:>8} {COUNT_NAMES[kind]}")
