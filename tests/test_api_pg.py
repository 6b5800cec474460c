"""The records of catch and Handles in a PostgreSQL repository: its index tables for
Evaluation, Handle and HandleRollback records (pg/schema.py, following index/rows.py) answer
the engine's queries (PgIndex.find_evaluation / handle_state / handle_edges) as sqlite's do."""

import os

import pytest

from test_api_runtime import CALLS, handle_flow, records, run, safe

from redun.objects.records import Evaluation, Handle
from redun.repo.repository import Repo

pytestmark = pytest.mark.postgres


def test_catch_cache_and_handle_states_in_postgres(pg_server, tmp_path):
    root = str(tmp_path / ".redun")
    os.makedirs(root)
    with open(os.path.join(root, "redun.ini"), "w") as f:
        f.write(f"[backend]\ndb_uri = {pg_server.create_database()}\n")
    path = str(tmp_path / "rows.txt")
    CALLS.clear()
    first, _, _ = run(root, [safe(2, 0), handle_flow("p", path)])
    again, counts, _ = run(root, [safe(2, 0), handle_flow("p", path)])
    assert first[0] == again[0] == 0 and first[1][0] == again[1][0] == 2
    assert CALLS == {"divide": 1, "write": 2}  # the caught failure and the handle writes: cached
    assert "apirun.divide Run" not in counts and counts["apirun.write Cached"] == 2

    repo = Repo.open(root)
    try:
        assert type(repo).__name__ == "PgRepo"
        evaluations = records(repo, Evaluation)
        assert evaluations and all(repo.index.find_evaluation(e.eval_hash) is not None for e in evaluations)
        handles = records(repo, Handle)
        assert handles and all(repo.index.handle_state(h.hash) is True for h in handles)
        assert repo.index.handle_state(b"\0" * 20) is None
        edges = repo.index.handle_edges(handles[0].fullname)
        assert {bytes(c) for _, c in edges} == {h.hash for h in handles if h.parents}
        # a database made before these tables existed gets them (empty) when it is opened
        repo.db.transaction(lambda conn: conn.execute("DROP TABLE handle_invalid"))
    finally:
        repo.close()
    repo = Repo.open(root)
    try:
        assert repo.index.handle_state(handles[0].hash) is True
    finally:
        repo.close()
