"""Incremental writes into a built index (index/keyed.py): a key already held, or repeated in
the batch, is written once; arg_uses rows follow their call node's row."""

import os
import sqlite3

from redun.index import keyed, open_index
from redun.index.index import _build_indexes
from redun.index.rows import COLUMNS, ORDER, SQL, TABLES
from redun.index.schema import KEYED, statements
from redun.repo.repository import Repo

from test_index_synth import write_execution


def _counts(conn) -> dict:
    return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("call_nodes", "arg_uses", "vals")}


def _built():
    conn = sqlite3.connect(":memory:", isolation_level=None)
    for stmt in statements()[0]:
        conn.execute(stmt)
    _build_indexes(conn)
    return conn


def _row(table: str, key: bytes, **given):
    """A row of table with key as every id column's value."""
    t = TABLES[ORDER.index(table)]
    out = []
    for name in t.column_names:
        v = given.get(name, key if name in ("oid", "hash", "args_hash", "value_hash", "call_oid") else b"x")
        if name in ("timestamp", "size", "pack"):
            v = 1
        out.append(v)
    return tuple(out)


def test_the_tables_checked_are_the_keyed_ones():
    assert set(keyed._LOOKED_UP) | {"arg_uses"} == {t for t, _ in KEYED}  # derived from KEYED: arg_uses alone is decided by its call node


def test_a_batch_writes_each_key_once_and_arg_uses_of_new_calls_only():
    conn = _built()
    old, new, twin = os.urandom(32), os.urandom(32), os.urandom(32)
    twin = old[:8] + twin[8:]  # same prefix as a held key: a candidate the full key rejects
    conn.execute("BEGIN IMMEDIATE")
    keyed.write_incremental(conn, {"call_nodes": [_row("call_nodes", old)], "arg_uses": [_row("arg_uses", old)],
                                   "vals": [_row("vals", old)]}, ORDER, SQL, COLUMNS)
    v = os.urandom(20)
    buf = {t: [] for t in ORDER}
    buf["call_nodes"] = [_row("call_nodes", k) for k in (old, new, new, twin)]
    buf["arg_uses"] = [_row("arg_uses", old, value_hash=v, call_oid=old),  # its call node is held: dropped
                       _row("arg_uses", new, value_hash=v, call_oid=new),
                       _row("arg_uses", new, value_hash=v, call_oid=new),  # one value passed twice
                       _row("arg_uses", twin, value_hash=v, call_oid=twin)]
    buf["vals"] = [_row("vals", k) for k in (new, old, twin, new)]
    keyed.write_incremental(conn, buf, ORDER, SQL, COLUMNS)
    conn.execute("COMMIT")
    assert _counts(conn) == {"call_nodes": 3, "arg_uses": 3, "vals": 3}
    assert sorted(r[0] for r in conn.execute("SELECT call_oid FROM arg_uses WHERE value_hash=?", (v,))) == \
        sorted([new, twin])


def test_a_key_query_covers_many_chunks():
    conn = _built()
    keys = [os.urandom(32) for _ in range(keyed.CHUNK * 2 + 7)]
    conn.execute("BEGIN IMMEDIATE")
    keyed.write_incremental(conn, {"vals": [_row("vals", k) for k in keys[::2]]}, ("vals",), SQL, COLUMNS)
    keyed.write_incremental(conn, {"vals": [_row("vals", k) for k in keys]}, ("vals",), SQL, COLUMNS)
    conn.execute("COMMIT")
    assert _counts(conn)["vals"] == len(keys)


def test_writing_an_execution_again_adds_no_call_node_value_or_argument(tmp_repo_dir):
    repo = Repo.open(tmp_repo_dir)
    write_execution(repo.store, repo.refs, n_jobs=6, seed=3)
    idx = open_index(repo)
    before = _counts(idx.conn)
    write_execution(repo.store, repo.refs, n_jobs=6, seed=3)  # same call nodes and values, new jobs
    idx.catch_up()
    assert _counts(idx.conn) == before
    assert idx.conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 12
    idx.close()
    repo.close()


def _call_taking_twice():
    from redun.objects.records import Arg, CallNode

    v, v_oid = os.urandom(20), os.urandom(32)
    return CallNode(
        hash=os.urandom(20), task_hash=os.urandom(20), task=os.urandom(32), task_name="ns.f",
        args_hash=os.urandom(20), args=(Arg(0, None, v, v_oid, ()), Arg(1, None, v, v_oid, ())),
        value_hash=os.urandom(20), value=os.urandom(32), children=(), timestamp=1,
    )


def test_a_value_passed_twice_gives_one_arg_uses_row_from_either_row_builder():
    """A record's own arg_uses rows are distinct (rows.TABLES), from a record and from its
    verified bytes alike: a bulk build then needs to look for repeats only where a call node
    was ingested twice (index._build_indexes)."""
    from redun.index.rows import RowBuffer
    from redun.objects.codec import encode_with_id

    call = _call_taking_twice()
    oid, data = encode_with_id(call)
    for add in (lambda b: b.add(oid, call), lambda b: b.add_canonical(oid, data)):
        buf = RowBuffer()
        add(buf)
        assert buf.rows["arg_uses"] == [(call.args[0].value_hash, oid)]


def test_a_bulk_build_removes_the_rows_of_a_call_node_ingested_twice(tmp_path):
    from redun.index.rows import RowBuffer
    from redun.objects.codec import encode_with_id

    call = _call_taking_twice()
    oid, data = encode_with_id(call)
    conn = sqlite3.connect(":memory:", isolation_level=None)
    for stmt in statements()[0]:
        conn.execute(stmt)
    from redun.objects.records import Value

    value = Value(hash=os.urandom(20), type="builtins.int", format="native", data=b"\x01", size=1, path=None)
    v_oid = encode_with_id(value)[0]
    buf = RowBuffer()
    buf.add_canonical(oid, data)
    buf.add(oid, call)  # the same call node in two packs
    buf.add(v_oid, value)
    buf.add(v_oid, value)  # and a value shared by two runs
    buf.add(os.urandom(32), Value(hash=os.urandom(20), type="builtins.int", format="native", data=b"\x02",
                                  size=1, path=None))
    conn.execute("BEGIN")
    buf.flush(conn, bulk=True)
    assert _counts(conn) == {"call_nodes": 2, "arg_uses": 2, "vals": 3}
    _build_indexes(conn)
    conn.execute("COMMIT")
    assert _counts(conn) == {"call_nodes": 1, "arg_uses": 1, "vals": 2}


def test_a_bulk_build_without_repeats_removes_nothing():
    from redun.index.rows import RowBuffer

    call = _call_taking_twice()
    conn = sqlite3.connect(":memory:", isolation_level=None)
    for stmt in statements()[0]:
        conn.execute(stmt)
    buf = RowBuffer()
    for _ in range(3):
        buf.add(os.urandom(32), _call_taking_twice())
    buf.add(os.urandom(32), call)
    conn.execute("BEGIN")
    buf.flush(conn, bulk=True)
    _build_indexes(conn)
    conn.execute("COMMIT")
    assert _counts(conn) == {"call_nodes": 4, "arg_uses": 4, "vals": 0}
