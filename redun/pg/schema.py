"""Every table of a PostgreSQL repository, and the SQL that writes them.

    meta       key -> value: `format` (the repository format, as .redun/FORMAT locally)
    objects    oid -> stored bytes (compress.py's stored form: raw / zstd / zstd+dictionary)
    refs       name -> oid (names sort bytewise: COLLATE "C", so prefixes are ranges)
    executions, jobs, call_nodes, arg_uses, tasks, vals, subvalues, tags, tag_parents, evaluations,
    handles, handle_edges, handle_invalid:
               the query index: the same rows as the sqlite index (index/rows.py builds
               them from records), without its pack hints (there are no packs here)

Index rows are written in the transaction that writes their objects. Lock order: every
writer inserts objects, then the index tables in INDEX_ORDER, each batch sorted by its
key, so two writers inserting overlapping rows wait for each other instead of deadlocking.
"""

FORMAT = "1.0"

# table -> (columns (name, type) in index/rows.py's tuple order, primary key columns).
# Row tuples may carry more columns at the end (the sqlite pack hint): they are cut.
INDEX_TABLES = {
    "executions": ((("id", "bytea"), ("oid", "bytea"), ("args", "text"), ("job_oid", "bytea"),
                    ("start_time", "bigint"), ("end_time", "bigint"), ("tags", "text")), 1),
    "jobs": ((("id", "bytea"), ("oid", "bytea"), ("execution_id", "bytea"), ("parent_id", "bytea"),
              ("task_hash", "bytea"), ("task_oid", "bytea"), ("call_hash", "bytea"), ("call_node", "bytea"),
              ("eval_hash", "bytea"), ("eval_value", "bytea"), ("start_time", "bigint"), ("end_time", "bigint"),
              ("cached", "integer"), ("status", "text")), 1),
    "call_nodes": ((("oid", "bytea"), ("hash", "bytea"), ("task_hash", "bytea"), ("task_oid", "bytea"),
                    ("task_name", "text"), ("args_hash", "bytea"), ("value_hash", "bytea"), ("value_oid", "bytea"),
                    ("timestamp", "bigint"), ("args", "bytea")), 1),
    "arg_uses": ((("value_hash", "bytea"), ("call_oid", "bytea")), 2),
    "tasks": ((("oid", "bytea"), ("hash", "bytea"), ("namespace", "text"), ("name", "text"),
               ("fullname", "text")), 1),
    "vals": ((("oid", "bytea"), ("hash", "bytea"), ("type", "text"), ("format", "text"), ("size", "bigint"),
              ("path", "text")), 1),
    "subvalues": ((("parent", "bytea"), ("child", "bytea")), 2),
    "tags": ((("hash", "bytea"), ("oid", "bytea"), ("entity_type", "text"), ("entity_id", "text"), ("key", "text"),
              ("value", "text")), 1),
    "tag_parents": ((("parent", "bytea"), ("child", "bytea")), 2),
    "evaluations": ((("oid", "bytea"), ("eval_hash", "bytea"), ("value_oid", "bytea"), ("timestamp", "bigint")), 1),
    "handles": ((("oid", "bytea"), ("hash", "bytea"), ("fullname", "text"), ("key", "text"),
                 ("value_oid", "bytea")), 1),
    "handle_edges": ((("parent", "bytea"), ("child", "bytea")), 2),
    "handle_invalid": ((("hash", "bytea"),), 1),
}
INDEX_ORDER = tuple(INDEX_TABLES)
NULLABLE = {"job_oid", "end_time", "tags", "parent_id", "call_hash", "call_node", "eval_hash", "eval_value",
            "args", "path", "tags.oid"}  # tags.oid: an execution's own tags live in its Execution record
EXTRA_COLUMNS = {"vals": ("preview text",)}  # display cache, filled by `redun log`

INDEXES = (
    "CREATE INDEX IF NOT EXISTS executions_start ON executions(start_time)",
    "CREATE INDEX IF NOT EXISTS jobs_exec ON jobs(execution_id, parent_id)",
    "CREATE INDEX IF NOT EXISTS jobs_call_node ON jobs(call_node)",
    "CREATE INDEX IF NOT EXISTS jobs_eval ON jobs(eval_hash)",
    "CREATE INDEX IF NOT EXISTS jobs_task ON jobs(task_hash, start_time)",
    "CREATE INDEX IF NOT EXISTS jobs_oid ON jobs(oid)",
    "CREATE INDEX IF NOT EXISTS call_nodes_hash ON call_nodes(hash, timestamp)",
    "CREATE INDEX IF NOT EXISTS call_nodes_args ON call_nodes(args_hash)",
    "CREATE INDEX IF NOT EXISTS call_nodes_value ON call_nodes(value_hash)",
    "CREATE INDEX IF NOT EXISTS tasks_hash ON tasks(hash)",
    "CREATE INDEX IF NOT EXISTS tasks_fullname ON tasks(fullname)",
    "CREATE INDEX IF NOT EXISTS tasks_name ON tasks(name)",
    "CREATE INDEX IF NOT EXISTS vals_hash ON vals(hash)",
    "CREATE INDEX IF NOT EXISTS vals_path ON vals(path) WHERE path IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS subvalues_child ON subvalues(child)",
    "CREATE INDEX IF NOT EXISTS tags_entity ON tags(entity_id)",
    "CREATE INDEX IF NOT EXISTS tags_by_key ON tags(key, value)",
    "CREATE INDEX IF NOT EXISTS executions_oid ON executions(oid)",
    "CREATE INDEX IF NOT EXISTS evaluations_hash ON evaluations(eval_hash, timestamp)",
    "CREATE INDEX IF NOT EXISTS handles_hash ON handles(hash)",
    "CREATE INDEX IF NOT EXISTS handles_fullname ON handles(fullname)",
    "CREATE INDEX IF NOT EXISTS handle_edges_child ON handle_edges(child)",
)


def create_statements() -> list:
    out = [
        "CREATE TABLE IF NOT EXISTS meta (key text PRIMARY KEY, value text NOT NULL)",
        # added: when the object arrived (gc keeps recent objects a running writer may not
        # have named by a ref yet); origin: NULL if written here, else where it came from
        # (objects/origins.py's JSON; repo/trust.py unpickles only trusted bytes)
        "CREATE TABLE IF NOT EXISTS objects (oid bytea PRIMARY KEY, data bytea NOT NULL, "
        "added timestamptz NOT NULL DEFAULT now(), origin text)",
        # stored bytes are already compressed: keep PostgreSQL from trying again
        "ALTER TABLE objects ALTER COLUMN data SET STORAGE EXTERNAL",
        'CREATE TABLE IF NOT EXISTS refs (name text COLLATE "C" PRIMARY KEY, oid bytea NOT NULL)',
    ]
    for table, (cols, nkey) in INDEX_TABLES.items():
        defs = [f"{name} {typ}{'' if name in NULLABLE or f'{table}.{name}' in NULLABLE else ' NOT NULL'}"
                for name, typ in cols]
        defs += list(EXTRA_COLUMNS.get(table, ()))
        defs.append(f"PRIMARY KEY ({', '.join(name for name, _ in cols[:nkey])})")
        out.append(f"CREATE TABLE IF NOT EXISTS {table} ({', '.join(defs)})")
    out.extend(INDEXES)
    return out


def _insert_sql(table: str) -> str:
    cols, nkey = INDEX_TABLES[table]
    names = ", ".join(name for name, _ in cols)
    arrays = ", ".join(f"%s::{typ}[]" for _, typ in cols)
    sql = f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays}) "
    if table == "executions":
        # a running execution's record is replaced by its final one, never the reverse
        sets = ", ".join(f"{name}=excluded.{name}" for name, _ in cols[1:])
        return (sql + f"ON CONFLICT (id) DO UPDATE SET {sets} WHERE executions.end_time IS NULL OR "
                "(excluded.end_time IS NOT NULL AND excluded.end_time > executions.end_time)")
    return sql + "ON CONFLICT DO NOTHING"


INSERT_SQL = {table: _insert_sql(table) for table in INDEX_ORDER}
INSERT_OBJECTS = ("INSERT INTO objects (oid, data, origin) SELECT o, d, %s FROM unnest(%s::bytea[], %s::bytea[]) "
                  "AS t(o, d) ON CONFLICT DO NOTHING")


def _text(v):
    """PostgreSQL text cannot hold NUL; the index is derived, the record keeps the truth."""
    return v.replace("\x00", "\ufffd") if type(v) is str and "\x00" in v else v


def write_rows(conn, rows_by_table: dict) -> None:
    """Insert index rows ({table: [tuple, ...]} as index/rows.py builds them) inside the
    caller's transaction, table by table in INDEX_ORDER, each sorted by its key."""
    for table in INDEX_ORDER:
        rows = rows_by_table.get(table)
        if not rows:
            continue
        cols, nkey = INDEX_TABLES[table]
        width = len(cols)
        if table == "executions":
            best: dict = {}
            for r in rows:  # one row per id in a statement (DO UPDATE cannot touch a row twice)
                old = best.get(r[0])
                if old is None or old[5] is None or (r[5] is not None and r[5] > old[5]):
                    best[r[0]] = r
            rows = list(best.values())
        rows = sorted({r[:nkey]: r for r in rows}.values(), key=lambda r: r[:nkey])
        texts = [i for i, (_, typ) in enumerate(cols) if typ == "text"]
        columns = [[r[i] for r in rows] for i in range(width)]
        for i in texts:
            columns[i] = [_text(v) for v in columns[i]]
        conn.execute(INSERT_SQL[table], columns)


def write_objects(conn, pairs: list, origin=None) -> None:
    """Insert (oid, stored) pairs, sorted by oid (see the lock order above). origin: a dict
    (objects/origins.py) for objects that come from elsewhere; an object already present keeps
    the origin it has."""
    if pairs:
        import json

        pairs = sorted(dict(pairs).items())
        text = None if origin is None else json.dumps(origin, sort_keys=True)
        conn.execute(INSERT_OBJECTS, (text, [p[0] for p in pairs], [p[1] for p in pairs]))
