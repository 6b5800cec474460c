"""A real PostgreSQL server for the tests and benchmarks: initdb + pg_ctl into a temp dir,
listening on 127.0.0.1 on a free port, stopped at the end.

PostgreSQL refuses to run as root: as root the cluster belongs to the `postgres` system user
(the Debian package creates it) and initdb / pg_ctl run as that user through `runuser`.
`pg_server` is registered once by tests/conftest.py (one server per session); `pg_uri` and
the helpers are imported explicitly (`from conftest_pg import pg_uri  # noqa: F401`).
"""

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from contextlib import contextmanager

import pytest

SUPERUSER = "redun"


def pg_bindir() -> str:
    """The newest /usr/lib/postgresql/N/bin (or $REDUN_PG_BINDIR)."""
    env = os.environ.get("REDUN_PG_BINDIR")
    if env:
        return env
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not found:
        pytest.skip("PostgreSQL server binaries not installed (apt-get install postgresql)")
    return os.path.dirname(found[-1])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    def __init__(self, root: str, port: int, bindir: str, as_user):
        self.root, self.port, self.bindir, self.as_user = root, port, bindir, as_user

    def uri(self, dbname: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str = None) -> str:
        """A new empty database; returns its URI."""
        import psycopg

        name = name or "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.uri(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.uri(name)

    def _run(self, *args, **kw):
        return subprocess.run([*self.as_user, *args], check=True, capture_output=True, text=True, **kw)

    def stop(self) -> None:
        subprocess.run([*self.as_user, os.path.join(self.bindir, "pg_ctl"), "-D", os.path.join(self.root, "data"),
                        "-m", "immediate", "-w", "stop"], capture_output=True)


@contextmanager
def running_postgres(fsync: bool = False):
    """Start a private PostgreSQL server; yields a PgServer. fsync off for tests (throwaway data)."""
    bindir = pg_bindir()
    root = tempfile.mkdtemp(prefix="redun-pg-")
    as_user = []
    if os.geteuid() == 0:
        import pwd

        pw = pwd.getpwnam("postgres")
        os.chown(root, pw.pw_uid, pw.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    server = PgServer(root, port, bindir, as_user)
    data = os.path.join(root, "data")
    try:
        server._run(os.path.join(bindir, "initdb"), "-D", data, "--username", SUPERUSER, "--auth", "trust",
                    "-E", "UTF8", "--locale", "C", "--no-sync")
        opts = (f"-p {port} -c listen_addresses=127.0.0.1 -k {root} -c max_connections=200 "
                f"-c shared_buffers=64MB -c fsync={'on' if fsync else 'off'} "
                f"-c synchronous_commit={'on' if fsync else 'off'} -c full_page_writes={'on' if fsync else 'off'}")
        for attempt in range(3):
            try:
                server._run(os.path.join(bindir, "pg_ctl"), "-D", data, "-l", os.path.join(root, "log"),
                            "-o", opts, "-w", "-t", "60", "start")
                break
            except subprocess.CalledProcessError:
                if attempt == 2:
                    raise
                port = server.port = _free_port()  # lost a race for the port: try another
                opts = opts.replace(opts.split()[1], str(port), 1)
                time.sleep(0.2)
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server():
    with running_postgres() as server:
        yield server


@pytest.fixture
def pg_uri(pg_server):
    """A fresh database on the session's server, as a postgresql:// URI."""
    return pg_server.create_database()
