"""The index's sqlite schema. Bump SCHEMA_VERSION on any change: an index of
another version is simply rebuilt from the objects (it is derived data).

Ids are stored as BLOBs (uuids 16 bytes, upstream hashes 20, object ids 32) so
that a hex prefix becomes a range query on an ordinary b-tree index.
`pack` columns hold `pack_ids.id` of the installed pack a record was ingested
from (NULL when ingested from a running writer): a read hint for the store.
A CallNode's arguments live in its row (`args`: msgpack list of [position, key,
value oid]); `arg_uses` maps an argument's value hash to the CallNodes taking it.
`vals.preview` caches a value's display text (filled by `redun log`, never stale:
values are immutable). `tags` holds every tag by its upstream tag hash: Tag records
(`oid` set) and an execution's own tags from its Execution record (`oid` NULL; value
as normalised JSON text); `tag_parents` says which tags a tag supersedes, so the
current tags are those that are nobody's parent.

Prefix indexes (schema 9): a lookup on a random id or hash (object ids, call/value/eval
hashes) goes through an index of its first 8 bytes (`substr(col,1,8)`, PREFIX) instead of
the whole column: an entry is a third as wide, so a run's random inserts into a big index
dirty ~40 % fewer pages (benchmarks/results/index-prefix.md). A query names the same
expression and tests the full column too (index/keysql.py): the prefix finds the rows, the
full test settles a collision. call_nodes and arg_uses (now a rowid table: appends) are
KEYED like vals: their key index is a prefix index, and an incremental write checks a
batch's keys itself (index/keyed.py).

Bulk-load design: record tables are plain rowid tables (appends are cheap);
their uniqueness lives in UNIQUE indexes that a fresh index creates only after
its first catch-up (`INDEXES`). Until then INSERT OR IGNORE cannot ignore, so
the build step removes any duplicate rows before creating the unique indexes.
"""

SCHEMA_VERSION = 9

# Every schema version this code has used (for `redun db versions`).
KNOWN_SCHEMA_VERSIONS = (1, 2, 3, 4, 5, 6, 7, 8, 9)  # 2: preview cache; 3: bulk-load tables; 4: leaner indexes;
# 5: pack hints (which pack a record came from), 4 KiB pages, arguments inline in call_nodes;
# 6: vals keyed by a plain index (cheap dedupe after a bulk load);
# 7: tags keyed by tag hash, with their parents (tag_parents) and an execution's own tags;
# 8: evaluations (scheduler tasks' cache entries), handles, handle_edges, handle_invalid;
# 9: lookups on random ids/hashes through 8-byte prefix indexes (PREFIX), arg_uses a rowid table

TABLES = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ingested_packs (name TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS ingested_loose (oid BLOB PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tmp_packs (name TEXT PRIMARY KEY, offset INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS pack_ids (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS executions (
    id BLOB PRIMARY KEY, oid BLOB NOT NULL, args TEXT NOT NULL, job_oid BLOB,
    start_time INTEGER NOT NULL, end_time INTEGER, tags TEXT
);
CREATE TABLE IF NOT EXISTS jobs (
    id BLOB NOT NULL, oid BLOB NOT NULL, execution_id BLOB NOT NULL, parent_id BLOB,
    task_hash BLOB NOT NULL, task_oid BLOB NOT NULL, call_hash BLOB, call_node BLOB,
    eval_hash BLOB, eval_value BLOB, start_time INTEGER NOT NULL, end_time INTEGER,
    cached INTEGER NOT NULL, status TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS call_nodes (
    oid BLOB NOT NULL, hash BLOB NOT NULL, task_hash BLOB NOT NULL, task_oid BLOB NOT NULL,
    task_name TEXT NOT NULL, args_hash BLOB NOT NULL, value_hash BLOB NOT NULL,
    value_oid BLOB NOT NULL, timestamp INTEGER NOT NULL, args BLOB, pack INTEGER
);
CREATE TABLE IF NOT EXISTS arg_uses (value_hash BLOB NOT NULL, call_oid BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (
    oid BLOB NOT NULL, hash BLOB NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL, fullname TEXT NOT NULL,
    pack INTEGER
);
CREATE TABLE IF NOT EXISTS vals (
    oid BLOB NOT NULL, hash BLOB NOT NULL, type TEXT NOT NULL, format TEXT NOT NULL, size INTEGER NOT NULL,
    path TEXT, pack INTEGER, preview TEXT
);
CREATE TABLE IF NOT EXISTS subvalues (parent BLOB NOT NULL, child BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS tags (
    hash BLOB NOT NULL, oid BLOB, entity_type TEXT NOT NULL, entity_id TEXT NOT NULL, key TEXT NOT NULL,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tag_parents (parent BLOB NOT NULL, child BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS evaluations (
    oid BLOB NOT NULL, eval_hash BLOB NOT NULL, value_oid BLOB NOT NULL, timestamp INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS handles (
    oid BLOB NOT NULL, hash BLOB NOT NULL, fullname TEXT NOT NULL, key TEXT NOT NULL, value_oid BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS handle_edges (parent BLOB NOT NULL, child BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS handle_invalid (hash BLOB NOT NULL);
"""

# Tables whose rows usually repeat across packs (every run records its tasks, and runs share
# input values): their duplicates are removed before the unique index is built, not after it fails.
OFTEN_DUPLICATED = ("tasks", "tags")  # tags: a run's Execution record is written twice with the same tags

# (table, unique key columns): duplicates are removed on these before the unique index is built.
UNIQUE = (
    ("jobs", "id"),  # uuids: 16 bytes already, and INSERT OR IGNORE keeps the key for free
    ("tasks", "oid"),
    ("subvalues", "parent, child"),
    ("tags", "hash"),
    ("tag_parents", "parent, child"),
    ("evaluations", "oid"),
    ("handles", "oid"),
    ("handle_edges", "parent, child"),
    ("handle_invalid", "hash"),
)

# (table, key columns): a plain index on the keys' prefixes instead of a unique one, because a
# prefix entry is a third of a full one, and a bulk load's duplicates (vals repeat across runs:
# shared inputs) are removed through it once, after the load (index._build_indexes), instead
# of failing a unique index. Incremental writes check the full keys themselves, a batch at a
# time (index/keyed.py).
KEYED = (("vals", ("oid",)), ("call_nodes", ("oid",)), ("arg_uses", ("value_hash", "call_oid")))
if [t for t, _ in KEYED].index("call_nodes") > [t for t, _ in KEYED].index("arg_uses"):
    raise AssertionError("index._build_indexes looks for repeated arg_uses rows after call_nodes'")

PREFIX = 8  # bytes of a random id or hash that its lookup index holds (see the module docstring)


def prefix(col: str) -> str:
    """The SQL expression the prefix indexes are built on: a query names it to use one."""
    return f"substr({col},1,{PREFIX})"


def key_match(cols: tuple, params: tuple) -> str:
    """SQL true for rows whose key columns equal the parameters, through their prefix index
    (the full-column test settles a prefix collision)."""
    return " AND ".join(f"{prefix(c)}={prefix(p)} AND {c}={p}" for c, p in zip(cols, params))


# substr(col,1,8): prefix(col) spelt out (a query must name the indexed expression exactly)
INDEXES = """
CREATE INDEX IF NOT EXISTS executions_start ON executions(start_time);
CREATE INDEX IF NOT EXISTS jobs_exec ON jobs(execution_id, parent_id);
CREATE INDEX IF NOT EXISTS jobs_call_node ON jobs(substr(call_node,1,8));
CREATE INDEX IF NOT EXISTS jobs_eval ON jobs(substr(eval_hash,1,8));
CREATE INDEX IF NOT EXISTS jobs_task ON jobs(task_hash, start_time);
CREATE INDEX IF NOT EXISTS jobs_start ON jobs(start_time);
CREATE INDEX IF NOT EXISTS call_nodes_hash ON call_nodes(substr(hash,1,8));
CREATE INDEX IF NOT EXISTS call_nodes_args ON call_nodes(substr(args_hash,1,8));
CREATE INDEX IF NOT EXISTS call_nodes_value ON call_nodes(substr(value_hash,1,8));
CREATE INDEX IF NOT EXISTS call_nodes_time ON call_nodes(timestamp);
CREATE INDEX IF NOT EXISTS tasks_hash ON tasks(hash);
CREATE INDEX IF NOT EXISTS tasks_fullname ON tasks(fullname);
CREATE INDEX IF NOT EXISTS tasks_name ON tasks(name);
CREATE INDEX IF NOT EXISTS vals_hash ON vals(substr(hash,1,8));
CREATE INDEX IF NOT EXISTS vals_path ON vals(path) WHERE path IS NOT NULL;
CREATE INDEX IF NOT EXISTS subvalues_child ON subvalues(child);
CREATE INDEX IF NOT EXISTS tags_entity ON tags(entity_id);
CREATE INDEX IF NOT EXISTS tags_by_key ON tags(key, value);
CREATE INDEX IF NOT EXISTS evaluations_hash ON evaluations(eval_hash, timestamp);
CREATE INDEX IF NOT EXISTS handles_hash ON handles(hash);
CREATE INDEX IF NOT EXISTS handles_fullname ON handles(fullname);
CREATE INDEX IF NOT EXISTS handle_edges_child ON handle_edges(child);
"""


def _split(text: str) -> list:
    return [x.strip() for x in text.split(";") if x.strip()]


def statements() -> tuple:
    """(table statements, index statements); index statements are built after a bulk load."""
    return _split(TABLES), _split(INDEXES)


def unique_index(table: str, cols: str) -> str:
    return f"CREATE UNIQUE INDEX IF NOT EXISTS {table}_key ON {table}({cols})"


def key_index(table: str, cols: tuple) -> str:
    return f"CREATE INDEX IF NOT EXISTS {table}_key ON {table}({', '.join(prefix(c) for c in cols)})"


def index_names() -> list:
    """Names of every index build_indexes creates (unique keys, keyed columns, lookups)."""
    return ([f"{table}_key" for table, _ in UNIQUE] + [f"{table}_key" for table, _ in KEYED]
            + [stmt.split()[5] for stmt in statements()[1]])


def count_distinct_keys(table: str, cols: tuple) -> str:
    """How many distinct key prefixes table holds: as many as rows means no key repeats, and
    dedupe_keyed (a slower scan: it reads the table's rows) has nothing to remove."""
    return f"SELECT COUNT(*) FROM (SELECT DISTINCT {', '.join(prefix(c) for c in cols)} FROM {table})"


def dedupe_keyed(table: str, cols: tuple) -> str:
    """Delete all but the first row of each duplicated key: the prefixes shared by several
    rows are found by a scan of the key index, then only those rows are compared in full."""
    pfx = ", ".join(prefix(c) for c in cols)
    return (
        f"DELETE FROM {table} WHERE ({pfx}) IN (SELECT {pfx} FROM {table} GROUP BY {pfx} HAVING COUNT(*) > 1) "
        # bare column names in the subquery are t's (the innermost table)
        f"AND rowid > (SELECT MIN(rowid) FROM {table} t WHERE {key_match(cols, [f'{table}.{c}' for c in cols])})"
    )


def dedupe(table: str, cols: str) -> str:
    """Delete all but the first row of each key (only needed when a bulk load saw an object twice)."""
    return f"DELETE FROM {table} WHERE rowid NOT IN (SELECT MIN(rowid) FROM {table} GROUP BY {cols})"
