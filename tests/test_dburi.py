"""`[backend] db_uri`: parsed, honoured or refused; never silently ignored."""

import os
import subprocess
import sys

import pytest

from redun.errors import ConfigError
from redun.repo.dburi import parse_db_uri


@pytest.fixture
def no_creds(monkeypatch):
    monkeypatch.delenv("REDUN_DB_USERNAME", raising=False)
    monkeypatch.delenv("REDUN_DB_PASSWORD", raising=False)


def test_unset_and_default_sqlite_are_the_local_repository(tmp_path):
    d = str(tmp_path / ".redun")
    assert parse_db_uri(None, d).kind == "local"
    assert parse_db_uri("", d).kind == "local"
    assert parse_db_uri("sqlite:///redun.db", d).kind == "local"
    assert parse_db_uri(f"sqlite:///{d}/redun.db", d).kind == "local"


@pytest.mark.parametrize("uri", ["sqlite:///other.db", "sqlite:////elsewhere/redun.db", "sqlite://",
                                 "sqlite:///:memory:"])
def test_other_sqlite_files_are_refused(tmp_path, uri):
    with pytest.raises(ConfigError, match="db_uri"):
        parse_db_uri(uri, str(tmp_path))


@pytest.mark.parametrize("uri", ["mysql://u@h/db", "oracle://h/x", "redun.db", "s3://bucket/x", "file:///x"])
def test_other_schemes_are_refused_naming_the_supported_ones(tmp_path, uri):
    with pytest.raises(ConfigError) as e:
        parse_db_uri(uri, str(tmp_path))
    assert "sqlite:///redun.db" in str(e.value) and "postgresql://" in str(e.value)


def test_postgresql_forms(no_creds, tmp_path):
    for scheme in ("postgresql", "postgresql+psycopg2", "postgres"):
        loc = parse_db_uri(f"{scheme}://localhost:5432/redun", str(tmp_path))
        assert loc.is_postgresql and loc.conninfo == "postgresql://localhost:5432/redun"
    loc = parse_db_uri("postgresql://u:p%40ss@db.example:6543/prod?sslmode=require", str(tmp_path))
    assert loc.conninfo == "postgresql://u:p%40ss@db.example:6543/prod?sslmode=require"
    assert "p%40ss" not in loc.display and "***" in loc.display


def test_postgresql_credentials_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("REDUN_DB_USERNAME", "alice")
    monkeypatch.setenv("REDUN_DB_PASSWORD", "s3cret/+")
    loc = parse_db_uri("postgresql://bob@localhost:5432/redun", str(tmp_path))
    assert loc.conninfo == "postgresql://alice:s3cret%2F%2B@localhost:5432/redun"
    monkeypatch.setenv("MY_USER", "carol")
    monkeypatch.delenv("REDUN_DB_PASSWORD")
    loc = parse_db_uri("postgresql://localhost/redun", str(tmp_path), {"db_username_env": "MY_USER"})
    assert loc.conninfo == "postgresql://carol@localhost/redun"


def test_postgresql_needs_a_host_or_database(no_creds, tmp_path):
    with pytest.raises(ConfigError):
        parse_db_uri("postgresql://", str(tmp_path))
    with pytest.raises(ConfigError, match="port"):
        parse_db_uri("postgresql://h:notaport/db", str(tmp_path))


def _redun(args, cwd):
    return subprocess.run([sys.executable, "-m", "redun", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "REDUN_CONFIG": ""})


@pytest.mark.slow
@pytest.mark.parametrize("command", [["log"], ["init"], ["db", "info"], ["fsck"], ["export"]])
def test_cli_refuses_unsupported_db_uri_and_creates_nothing(tmp_path, command):
    cfg = tmp_path / ".redun"
    cfg.mkdir()
    (cfg / "redun.ini").write_text("[backend]\ndb_uri = mysql://u@h/db\n")
    r = _redun(command, str(tmp_path))
    assert r.returncode != 0
    assert "mysql" in r.stderr and "Supported" in r.stderr
    assert sorted(os.listdir(cfg)) == ["redun.ini"]


def test_postgresql_index_tables_follow_the_row_description():
    """pg/schema.py's columns are index/rows.py's TABLES, in order, without the sqlite pack hint."""
    from redun.index.rows import TABLES
    from redun.pg.schema import INDEX_TABLES

    assert list(INDEX_TABLES) == [t.name for t in TABLES]
    for t in TABLES:
        names = [c for c in t.column_names if c != "pack"]
        assert [c for c, _ in INDEX_TABLES[t.name][0]] == names, t.name
        assert "pack" not in t.column_names or t.column_names[-1] == "pack"  # cut from the end
