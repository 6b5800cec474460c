"""PgIndex: the query index of a PostgreSQL repository (the methods of index/queries.py,
answering with the same row dicts). It inherits the queries whose SQL both databases take
(written with `?` placeholders, which `_read` turns into psycopg's `%s`) and overrides the
rest here in PostgreSQL's SQL (ANY(array), DISTINCT ON, unnest, jsonb, encode).

Rows are written with their objects (store.py), so there is nothing to catch up:
`catch_up()` only flushes rows handed to `ingest`. Ids are bytea; a hex prefix is a range
(`id >= low AND id < high`) on a b-tree index, exactly as in the sqlite index.
"""

import re
from typing import Callable

from ..index.filter_queries import FilterQueries
from ..index.pages import PageQueries
from ..index.queries import (
    CALL_COLS, EXEC_COLS, JOB_COLS, KINDS, TASK_COLS, VAL_COLS, _FIELDS, Queries, as_dict, prefix_range,
)
from ..index.tag_queries import TagQueries
from .schema import write_rows

_TABLES = {"execution": ("executions", EXEC_COLS), "job": ("jobs", JOB_COLS),
           "call_node": ("call_nodes", CALL_COLS), "task": ("tasks", TASK_COLS), "value": ("vals", VAL_COLS)}


def _range(col: str, hexp: str) -> tuple:
    low, high = prefix_range(hexp)
    if high is None:
        return f"{col} >= %s", [low]
    return f"{col} >= %s AND {col} < %s", [low, high]


def _cols(kind: str, alias: str) -> str:
    return ", ".join(f"{alias}.{c}" for c in _FIELDS[kind])


def _fragment(sql: str) -> str:
    """A WHERE/ORDER fragment written by our callers for the sqlite index (log_lists.py):
    `?` placeholders become `%s`, a clause that is just `0` (matches nothing) `false`."""
    if not sql:
        return sql
    sql = " AND ".join("false" if part.strip() == "0" else part for part in sql.split(" AND "))
    return re.sub(r"\?", "%s", sql)


def _pages(rows, size: int):
    page = []
    for r in rows:
        page.append(r)
        if len(page) == size:
            yield page
            page = []
    if page:
        yield page


class PgIndex(Queries, PageQueries, TagQueries, FilterQueries):  # as Index, over PostgreSQL
    HEX = "encode({}, 'hex')"  # TagQueries' SQL in PostgreSQL's dialect

    def _sql(self, sql: str) -> str:
        return _fragment(sql)

    def __init__(self, repo, db):
        self.repo = repo
        self.db = db
        self._rows: dict = {}
        self._count = 0

    # -- the browse queries of index/pages.py (`redun console`), in their portable SQL
    def _page_read(self, sql: str, params=()) -> list:
        return self._read(sql, params)

    def _json_each(self, column: str) -> str:
        return f"jsonb_each_text({column}::jsonb)"

    def _read(self, sql: str, params=()) -> list:
        """Rows of sql, with `?` placeholders (the inherited portable queries) or `%s`."""
        if self._count:
            self.commit()
        return self.db.read(sql.replace("?", "%s"), params)

    # -- writing (rows normally come with their objects; see store.py) ----------
    def ingest(self, oid: bytes, record) -> None:
        from ..index.rows import RowBuffer

        buf = RowBuffer()
        buf.add(oid, record)
        self.ingest_rows(buf)

    def ingest_many(self, pairs) -> None:
        for oid, record in pairs:
            self.ingest(oid, record)

    def ingest_rows(self, rows) -> None:
        for table, part in rows.rows.items():
            if part:
                self._rows.setdefault(table, []).extend(part)
        self._count += rows.count

    def commit(self, extra: Callable = None) -> None:
        rows, self._rows, self._count = self._rows, {}, 0
        if rows or extra is not None:
            def tx(conn):
                write_rows(conn, rows)
                if extra is not None:
                    extra(conn)

            self.db.transaction(tx)

    def catch_up(self, progress=None) -> int:
        """Nothing to catch up: rows are committed with their objects. Flushes ingested rows."""
        self.commit()
        return 0

    def close(self) -> None:
        self.commit()

    # -- engine cache lookups ----------------------------------------------
    def find_evals(self, eval_hashes) -> dict:
        hashes = list(dict.fromkeys(eval_hashes))
        out = {}
        for i in range(0, len(hashes), 5000):
            for eh, oid, ev, ch, cn in self._read(
                "SELECT DISTINCT ON (eval_hash) eval_hash, oid, eval_value, call_hash, call_node FROM jobs "
                "WHERE eval_hash = ANY(%s) AND eval_value IS NOT NULL AND end_time IS NOT NULL "
                "AND status != 'FAILED' ORDER BY eval_hash, end_time DESC", (hashes[i:i + 5000],)):
                out[eh] = (oid, ev, ch, cn)
        return out

    # -- id resolution ------------------------------------------------------
    def resolve(self, text: str, kinds=KINDS, limit: int = 50) -> list:
        from ..objects.ids import is_hex

        out = []
        flat = text.replace("-", "")
        hexp = flat if is_hex(flat) and text[:1] != "-" else None
        plain = hexp and "-" not in text and len(hexp) <= 40
        for kind in kinds:
            if kind == "execution" and hexp and len(hexp) <= 32:
                where, p = _range("id", hexp)
                rows = self._read(f"SELECT {EXEC_COLS} FROM executions WHERE {where} ORDER BY id LIMIT {limit}", p)
            elif kind == "job" and hexp and len(hexp) <= 32:
                where, p = _range("id", hexp)
                rows = self._read(f"SELECT {JOB_COLS} FROM jobs WHERE {where} ORDER BY id LIMIT {limit}", p)
            elif kind == "call_node" and plain:
                where, p = _range("hash", hexp)
                rows = self._read(f"SELECT DISTINCT ON (hash) {CALL_COLS} FROM call_nodes WHERE {where} "
                                  f"ORDER BY hash, timestamp DESC LIMIT {limit}", p)
            elif kind == "task":
                rows = []
                if plain:
                    where, p = _range("hash", hexp)
                    rows = self._read(f"SELECT DISTINCT ON (hash) {TASK_COLS} FROM tasks WHERE {where} "
                                      f"ORDER BY hash LIMIT {limit}", p)
                seen = {r[1] for r in rows}
                for r in self._read(f"SELECT DISTINCT ON (hash) {TASK_COLS} FROM tasks WHERE fullname=%s OR name=%s "
                                    f"ORDER BY hash LIMIT {limit}", (text, text)):
                    if r[1] not in seen:
                        rows.append(r)
            elif kind == "value" and plain:
                where, p = _range("hash", hexp)
                rows = self._read(f"SELECT DISTINCT ON (hash) {VAL_COLS} FROM vals WHERE {where} "
                                  f"ORDER BY hash LIMIT {limit}", p)
            else:
                continue
            out.extend((kind, as_dict(kind, r)) for r in rows)
        return out

    # -- executions ---------------------------------------------------------
    def execution_job_args(self, eid: bytes) -> list:
        from ..index.rows import unpack_args

        out = []
        for jid, blob in self._read("SELECT j.id, c.args FROM jobs j JOIN call_nodes c ON c.oid = j.call_node "
                                    "WHERE j.execution_id=%s AND c.args IS NOT NULL", (eid,)):
            out.extend((jid, i, a[0], a[1], a[2]) for i, a in enumerate(unpack_args(blob)))
        cached = self.previews(list({r[4] for r in out}))
        return [(*r, cached.get(r[4])) for r in out]

    def pack_hint(self, oid: bytes) -> None:
        """No packs in a PostgreSQL repository: every object is one keyed read."""
        return None

    # -- display cache ------------------------------------------------------
    def previews(self, oids: list) -> dict:
        out = {}
        oids = sorted(set(oids))
        for i in range(0, len(oids), 10000):
            out.update(self._read("SELECT oid, preview FROM vals WHERE oid = ANY(%s) AND preview IS NOT NULL",
                                  (oids[i:i + 10000],)))
        return out

    def save_previews(self, items: dict) -> None:
        if not items:
            return
        pairs = sorted(items.items())
        try:
            self.db.transaction(lambda conn: conn.execute(
                "UPDATE vals SET preview = t.p FROM unnest(%s::bytea[], %s::text[]) AS t(o, p) "
                "WHERE vals.oid = t.o AND vals.preview IS NULL",
                ([o for o, _ in pairs], [t.replace("\x00", "\ufffd") for _, t in pairs])))
        except Exception:  # noqa: BLE001 - a read-only role or a busy server only loses the cache
            pass

    # -- call nodes ---------------------------------------------------------
    def call_parents(self, oid: bytes) -> list:
        return [as_dict("call_node", r[:-1]) for r in self._read(
            f"SELECT DISTINCT {_cols('call_node', 'c')}, c.timestamp AS ts FROM jobs j "
            "JOIN jobs p ON p.id = j.parent_id JOIN call_nodes c ON c.oid = p.call_node "
            "WHERE j.call_node=%s ORDER BY ts", (oid,))]

    def call_callers_in_execution(self, oid: bytes, execution_id: bytes) -> list:
        rows = self._read(
            f"SELECT {_cols('call_node', 'c')}, min(p.start_time) AS s FROM jobs j JOIN jobs p ON p.id = j.parent_id "
            "JOIN call_nodes c ON c.oid = p.call_node WHERE j.call_node=%s AND j.execution_id=%s "
            f"GROUP BY {_cols('call_node', 'c')} ORDER BY s", (oid, execution_id))
        return [as_dict("call_node", r[:-1]) for r in rows]

    def value_contains(self, outer: bytes, inner: bytes) -> bool:
        if outer == inner:
            return True
        return bool(self._read(
            "WITH RECURSIVE down(o) AS (SELECT %s::bytea UNION SELECT s.child FROM subvalues s "
            "JOIN down ON s.parent = down.o) SELECT 1 FROM down WHERE o = %s LIMIT 1", (outer, inner)))

    def call_nodes_by_oid(self, oids) -> list:
        oids = list(oids)
        found = {r[0]: r for r in self._read(f"SELECT {CALL_COLS} FROM call_nodes WHERE oid = ANY(%s)", (oids,))}
        return [as_dict("call_node", found[o]) for o in oids if o in found]

    # -- tasks and values ---------------------------------------------------
    def _hashes(self, oid: bytes, direct: bool) -> list:
        if direct:
            return [r[0] for r in self._read("SELECT hash FROM vals WHERE oid=%s", (oid,))]
        return [r[0] for r in self._read(
            "WITH RECURSIVE up(o) AS (SELECT %s::bytea UNION SELECT s.parent FROM subvalues s "
            "JOIN up ON s.child = up.o) SELECT DISTINCT v.hash FROM up JOIN vals v ON v.oid = up.o", (oid,))]

    def producers(self, value_oid: bytes, direct: bool = False) -> list:
        hashes = self._hashes(value_oid, direct)
        if not hashes:
            return []
        return [as_dict("job", r) for r in self._read(
            f"SELECT {_cols('job', 'j')} FROM call_nodes c JOIN jobs j ON j.call_node = c.oid "
            "WHERE c.value_hash = ANY(%s) ORDER BY j.end_time DESC", (hashes,))]

    def consumers(self, value_oid: bytes, direct: bool = False) -> list:
        hashes = self._hashes(value_oid, direct)
        if not hashes:
            return []
        return [as_dict("job", r) for r in self._read(
            f"SELECT DISTINCT {_cols('job', 'j')} FROM arg_uses a JOIN jobs j ON j.call_node = a.call_oid "
            "WHERE a.value_hash = ANY(%s) ORDER BY j.start_time DESC", (hashes,))]

    def counts(self) -> dict:
        out = {}
        for table in ("executions", "jobs", "call_nodes", "tasks", "vals", "tags"):
            out[table] = self._read(f"SELECT count(*) FROM {table}")[0][0]
        out["ingested_packs"] = 0
        return out

    # -- listings -----------------------------------------------------------
    def select(self, kind: str, where: str = "", params=(), order: str = "", group: str = ""):
        """Stream rows (dicts) of one kind; where/order/group are fragments written by our own
        callers (log_lists.py) for either index (see _fragment); user values go in params.
        group: one row per value of that column (DISTINCT ON; `order` must start with it)."""
        table, cols = _TABLES[kind]
        sql = f"SELECT {'DISTINCT ON (' + group + ') ' if group else ''}{cols} FROM {table}"
        if where:
            sql += f" WHERE {_fragment(where)}"
        if order:
            sql += f" ORDER BY {order}"
        if self._count:
            self.commit()
        with self.db.lock:
            conn = self.db.conn
            with conn.transaction():
                with conn.cursor(name="redun_select") as cur:
                    cur.execute(sql, list(params))
                    while True:
                        rows = cur.fetchmany(500)
                        if not rows:
                            break
                        for r in rows:
                            yield as_dict(kind, r)

    def value_pages(self, where: str = "", params=(), page: int = 500):
        """Value rows with their cached `preview` (`pack` None: no packs here), `page` at a time
        by keyset on oid: PostgreSQL's heap order is no order (caching a preview moves a row)."""
        cols = _TABLES["value"][1]
        cond = f" AND ({_fragment(where)})" if where else ""
        after = None
        while True:
            key = "oid > %s" if after is not None else "true"
            rows = self._read(f"SELECT {cols}, preview FROM vals WHERE {key}{cond} ORDER BY oid LIMIT {int(page)}",
                              ([after] if after is not None else []) + list(params))
            if not rows:
                return
            after = rows[-1][0]
            out = []
            for r in rows:
                d = as_dict("value", r[:-1])
                d["pack"], d["preview"] = None, r[-1]
                out.append(d)
            yield out
            if len(rows) < page:
                return

    def job_pages(self, where: str = "", params=(), page: int = 500):
        yield from _pages(self.select("job", where, params, "start_time DESC, id"), page)

    def call_node_pages(self, where: str = "", params=(), page: int = 500):
        yield from _pages(self.select("call_node", where, params, "timestamp, hash, oid"), page)

    def value_cache(self, oids: list) -> dict:
        return {oid: (text, None) for oid, text in self.previews(oids).items()}

    def file_pages(self, where: str = "", params=(), page: int = 500):
        yield from _pages(self.select("value", where, params, "path, hash", group="path"), page)

    def count(self, kind: str, where: str = "", params=(), distinct: str = "") -> int:
        table, _ = _TABLES[kind]
        what = f"count(DISTINCT {distinct})" if distinct else "count(*)"
        sql = f"SELECT {what} FROM {table}" + (f" WHERE {_fragment(where)}" if where else "")
        return self._read(sql, list(params))[0][0]
