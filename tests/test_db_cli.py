"""`redun db`: info, versions, upgrade/downgrade machinery, reindex; index automigration."""

import os
import sqlite3

from click.testing import CliRunner

from redun.cli.group import cli
from redun.cli import db as dbcmd
from redun.errors import UsageError
from redun.index import SCHEMA_VERSION
from redun.repo.repository import Repo

from test_index_synth import write_execution


def invoke(repo_dir, *args):
    return CliRunner().invoke(cli, ["-c", repo_dir, "db", *args])


def test_info_and_versions(tmp_repo_dir):
    repo = Repo.open(tmp_repo_dir)
    write_execution(repo.store, repo.refs, n_jobs=3)
    repo.close()
    res = invoke(tmp_repo_dir, "info")
    assert res.exit_code == 0, res.output
    assert "\ndb version: 1.0 '" in res.output and f"index schema: {SCHEMA_VERSION} " in res.output
    assert "CLI requires db versions: >=1.0,<2\nCLI compatible with db: True\n" in res.output
    assert "records: 1 Execution, 3 Job, 3 CallNode, 2 Task" in res.output
    res = invoke(tmp_repo_dir, "versions")
    assert res.exit_code == 0 and res.output.startswith("Version Migration    Description")
    assert "\n1.0     -            " in res.output


def test_upgrade_downgrade_messages(tmp_repo_dir):
    for args in (("upgrade",), ("upgrade", "latest"), ("upgrade", "1"), ("downgrade", "1.0")):
        res = invoke(tmp_repo_dir, *args)
        assert res.exit_code == 0, res.output
        assert "Initial db version: 1.0\nNo migration needed.\n" in res.output
    for args in (("upgrade", "3.5"), ("downgrade", "3.1")):  # upstream's versions: the mapping in one line
        res = invoke(tmp_repo_dir, *args)
        assert res.exit_code == 0, res.output
        assert "is upstream redun's SQL schema" in res.output and "No migration needed." in res.output
    res = invoke(tmp_repo_dir, "upgrade", "9.0")
    assert res.exit_code != 0 and isinstance(res.exception, UsageError)
    assert "Unknown repository format version: 9.0" in str(res.exception)


def test_migration_machinery(tmp_repo_dir, monkeypatch):
    """With a (test-only) second format, upgrade runs the step and rewrites FORMAT; downgrade reverses."""
    calls = []
    monkeypatch.setattr(dbcmd, "FORMAT_VERSIONS", dbcmd.FORMAT_VERSIONS + ((1, 1, "test format"),))
    monkeypatch.setattr(dbcmd, "MIGRATIONS", {((1, 0), (1, 1)): lambda r: calls.append("up"),
                                              ((1, 1), (1, 0)): lambda r: calls.append("down")})
    res = invoke(tmp_repo_dir, "downgrade", "1.1")
    assert res.exit_code != 0 and "Must use upgrade command to migrate from 1.0 to 1.1." in str(res.exception)
    res = invoke(tmp_repo_dir, "upgrade")
    assert res.exit_code == 0, res.output
    assert "Upgrading db from version 1.0 to 1.1...\nFinal db version: 1.1\n" in res.output
    assert open(os.path.join(tmp_repo_dir, "FORMAT")).read() == "redun-repo 1.1\n"
    res = invoke(tmp_repo_dir, "downgrade", "1.0")
    assert res.exit_code == 0 and "Downgrading db from version 1.1 to 1.0..." in res.output
    assert calls == ["up", "down"]


def test_reindex_and_automigrate(tmp_repo_dir):
    repo = Repo.open(tmp_repo_dir)
    write_execution(repo.store, repo.refs, n_jobs=5)
    assert repo.index.counts()["jobs"] == 5
    repo.close()
    res = invoke(tmp_repo_dir, "reindex")
    assert res.exit_code == 0 and "Reindexed 1 executions, 5 jobs" in res.output
    # an index from another schema version is rebuilt on open (automigrate of the local index)
    conn = sqlite3.connect(os.path.join(tmp_repo_dir, "index.sqlite3"))
    conn.execute("UPDATE meta SET value='999' WHERE key='schema_version'")
    conn.commit()
    conn.close()
    res = invoke(tmp_repo_dir, "info")
    assert res.exit_code == 0 and "5 Job" in res.output
    os.unlink(os.path.join(tmp_repo_dir, "index.sqlite3"))
    res = CliRunner().invoke(cli, ["-c", tmp_repo_dir, "log", "--job", "--count"])
    assert res.output.strip() == "5 Job"


def test_parse_version():
    assert dbcmd.parse_version("latest") == (1, 0)
    assert dbcmd.parse_version("1") == (1, 0)
    for bad in ("x", "2.0", "1.0.0", ""):
        try:
            dbcmd.parse_version(bad)
        except UsageError:
            continue
        raise AssertionError(bad)
