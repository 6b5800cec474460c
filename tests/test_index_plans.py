"""Every lookup the sqlite index runs on jobs, call_nodes, vals and arg_uses finds its rows
through an index (schema 9 indexes random ids and hashes by 8-byte prefixes, which sqlite
uses only when a query names the indexed expression: a query that forgot it would silently
scan the table). The statements are caught as run (sqlite's trace, parameters inlined) and
each is checked with EXPLAIN QUERY PLAN."""

import re

import pytest

from redun.cli.log_lists import where_for
from redun.index import open_index
from redun.repo.repository import Repo

from test_index_synth import write_execution

TABLES = ("jobs", "call_nodes", "vals", "arg_uses")


@pytest.fixture
def ran(tmp_repo_dir):
    repo = Repo.open(tmp_repo_dir)
    out = write_execution(repo.store, repo.refs, n_jobs=4)
    idx = open_index(repo)
    yield repo, idx, out
    idx.close()
    repo.close()


def _aliases(sql: str) -> dict:
    """alias -> table for the tables of interest named in sql (`FROM vals v`, `JOIN jobs j`, bare)."""
    out = {}
    for table, alias in re.findall(r"\b(jobs|call_nodes|vals|arg_uses)\b(?:\s+(?:AS\s+)?(\w+))?", sql):
        out[table] = table
        if alias and alias.upper() not in ("WHERE", "JOIN", "ON", "ORDER", "GROUP", "LIMIT", "SELECT", "WITH",
                                           "LEFT", "UNION", "AND", "SET", "VALUES", "AS"):
            out[alias] = table
    return out


def _scans(conn, sql: str) -> list:
    """Plan lines of sql that read a whole table of interest (not through an index)."""
    names = _aliases(sql)
    bad = []
    for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}"):
        m = re.match(r"SCAN (\w+)(.*)", row[3])
        if m and m.group(1) in names and "INDEX" not in m.group(2):
            bad.append(row[3])
    return bad


def _lookups(repo, idx, out):
    """Call every lookup of the index that touches the tables of interest."""
    jid, job_oid = out["jobs"][1]
    job = repo.store.get(job_oid)
    call = repo.store.get(job.call_node)
    vh, v_oid = out["values"][0][0], out["values"][0][1]
    idx.find_eval(job.eval_hash)
    idx.find_evals([job.eval_hash, b"x" * 20])
    idx.find_call_node(call.task_hash, call.args_hash)
    idx.find_call_node(call.task_hash, call.args_hash, out["exec_id"])
    idx.find_call_node_in_context(call.task_hash, call.args_hash, "ab" * 20)
    idx.resolve(call.hash.hex()[:6], kinds=("call_node", "value"))
    idx.resolve(vh.hex()[:8], kinds=("value",))
    idx.execution_job_args(out["exec_id"])
    idx.pack_hint(job.call_node)
    idx.pack_hint(v_oid)
    idx.previews([v_oid])
    idx.save_previews({v_oid: "1"})
    idx.job(jid)
    idx.jobs_for_call_node(job.call_node)
    idx.call_node(job.call_node)
    idx.call_node_by_hash(call.hash)
    idx.call_parents(job.call_node)
    idx.call_callers_in_execution(job.call_node, out["exec_id"])
    idx.newest_execution_of_call(job.call_node)
    idx.value(v_oid)
    idx.value_by_hash(vh)
    idx.producers(v_oid)
    idx.producers(v_oid, direct=True)
    idx.consumers(v_oid)
    idx.consumers(v_oid, direct=True)
    idx.call_args([job.call_node])
    idx.earlier_eval(job.eval_hash, job.end_time)
    idx.earlier_call_of("step", call.args_hash, call.task_hash, job.end_time)
    idx.value_jobs_page(vh, "result", 10)
    idx.value_jobs_page(vh, "arg", 10)
    idx.value_parents_page(v_oid, 10)
    idx.value_cache([v_oid])


class _Prov:  # what redun log's listing filters read: the index
    def __init__(self, index):
        self.index = index


def _filters(idx, vh, filters):
    """`redun log` listing filters over these tables, counted (a count is one query)."""
    prov = _Prov(idx)
    for kind, f in filters:
        where, params = where_for(prov, kind, f)
        idx.count(kind, where, params)


def _caught(idx, run) -> list:
    seen = []
    idx.conn.set_trace_callback(seen.append)
    try:
        run()
    finally:
        idx.conn.set_trace_callback(None)
    return [s for s in seen if re.search(r"\b(jobs|call_nodes|vals|arg_uses)\b", s)
            and s.lstrip().upper().startswith(("SELECT", "UPDATE", "WITH"))]


def test_every_lookup_uses_an_index(ran):
    repo, idx, out = ran
    vh = out["values"][0][0]
    checked = _caught(idx, lambda: (_lookups(repo, idx, out),
                                    _filters(idx, vh, [("job", {"results": [vh]}), ("job", {"args": [vh]})])))
    assert len(checked) >= 30
    bad = {s: scans for s in checked if (scans := _scans(idx.conn, s))}
    assert not bad, bad


def test_execution_tag_filters_look_up_what_their_jobs_name(ran):
    """An execution-tag filter reads the jobs (and their arguments) of the tagged executions
    by scanning jobs (the tag is tested per job's execution: as before schema 9); the call
    nodes and values those jobs name are looked up through an index, not scanned."""
    _, idx, _ = ran
    checked = _caught(idx, lambda: _filters(idx, None, [("call_node", {"exec_tags": [("k", None)]}),
                                                        ("value", {"exec_tags": [("k", None)]})]))
    assert len(checked) == 2
    for sql in checked:
        assert set(_scans(idx.conn, sql)) <= {"SCAN j", "SCAN a"}, sql


def test_incremental_key_checks_go_through_the_prefix_index(ran):
    """The batched key checks of vals and call_nodes (index/keyed.py) seek their key index
    (the oid's prefix), as run by a catch-up of a second execution."""
    repo, idx, _ = ran
    write_execution(repo.store, repo.refs, n_jobs=4, seed=1)
    seen = []
    idx.conn.set_trace_callback(seen.append)
    try:
        idx.catch_up()
    finally:
        idx.conn.set_trace_callback(None)
    checks = [s for s in seen if "substr(oid,1,8) IN" in s]
    assert {re.search(r"FROM (\w+)", s).group(1) for s in checks} == {"vals", "call_nodes"}
    for sql in checks:
        table = re.search(r"FROM (\w+)", sql).group(1)
        plan = [r[3] for r in idx.conn.execute(f"EXPLAIN QUERY PLAN {sql}")]
        assert any(f"{table}_key" in line for line in plan), (table, plan)
        assert not any(line.startswith(f"SCAN {table}") for line in plan), (table, plan)
