"""Incremental writes into a built index: the KEYED tables' keys checked a batch at a time.

vals, call_nodes and arg_uses keep their key in a plain index of its 8-byte prefix
(schema.KEYED, an expression index), not a unique index, so sqlite cannot ignore a duplicate
row itself. Checking each row in its INSERT (`... WHERE NOT EXISTS`) cost ~8 us per row (a run
into an empty index ~10 % more CPU); here a batch asks which of its keys exist, CHUNK keys per
query through the prefix index (full keys compared in Python: a prefix match is only a
candidate), and inserts the rest plainly (benchmarks/results/index-prefix.md):

- vals, call_nodes: rows whose key exists, or that repeat a key earlier in the batch, are
  dropped.
- arg_uses: its rows are built from CallNode records (one per argument: rows.TABLES), so they
  are new exactly when their call node's row is new. They are kept when their call_oid is
  among the call_nodes rows written by the same flush, never looked up. This needs a record's
  rows to be flushed together, as RowBuffer does (a record's rows are appended at once), and
  call_nodes written before arg_uses (rows.ORDER, checked there).

The caller holds the write transaction (BEGIN IMMEDIATE, Index._write_buffer): no other
writer can insert a key between the check and the insert.
"""

from .schema import KEYED, PREFIX, prefix

CHUNK = 500  # keys per existence query (sqlite's limit is 32766 parameters)

# the KEYED tables whose one-column key is looked up (arg_uses is decided by its call node)
_LOOKED_UP = {table: cols[0] for table, cols in KEYED if len(cols) == 1}


def existing_keys(conn, table: str, keys: list) -> set:
    """Which of these keys table holds (through its `{table}_key` prefix index)."""
    column = _LOOKED_UP[table]
    found = set()
    for i in range(0, len(keys), CHUNK):
        chunk = keys[i:i + CHUNK]
        prefixes = list({k[:PREFIX] for k in chunk})
        sql = f"SELECT {column} FROM {table} WHERE {prefix(column)} IN ({','.join('?' * len(prefixes))})"
        found.update(r[0] for r in conn.execute(sql, prefixes))
    return found.intersection(keys)


def new_rows(conn, table: str, rows: list, at: int) -> list:
    """rows (their key at position `at`) without those whose key table holds or an earlier
    row of the batch has."""
    first = {}
    for r in rows:
        first.setdefault(r[at], r)
    held = existing_keys(conn, table, list(first))
    return [r for k, r in first.items() if k not in held] if held else list(first.values())


def new_arg_uses(rows: list, new_calls: set, at: int) -> list:
    """arg_uses rows of the call nodes being inserted (their call_oid at position `at`), each
    once (a call may take one value twice: the key is (value_hash, call_oid))."""
    return list(dict.fromkeys(r for r in rows if r[at] in new_calls))


def write_incremental(conn, rows_by_table: dict, order: tuple, sql: dict, columns: dict) -> None:
    """Insert buffered rows ({table: [row]}, tables in `order`) into a built index, inside the
    caller's write transaction; sql: each table's INSERT (unique tables ignore duplicates);
    columns: each table's column names (rows.TABLES), where the keys are found."""
    new_calls = set()
    for table in order:
        rows = rows_by_table.get(table)
        if not rows:
            continue
        if table in _LOOKED_UP:
            rows = new_rows(conn, table, rows, columns[table].index(_LOOKED_UP[table]))
            if table == "call_nodes":
                at = columns[table].index("oid")
                new_calls = {r[at] for r in rows}
        elif table == "arg_uses":  # after call_nodes in rows.ORDER
            rows = new_arg_uses(rows, new_calls, columns[table].index("call_oid"))
        if rows:
            conn.executemany(sql[table], rows)
