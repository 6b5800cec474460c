"""`redun db import-upstream`: move an upstream redun 0.44.1 database into this repository,
with its evaluation cache, so the next `redun run` of the same workflow is cached."""

import json
import os

import click

from ..errors import NotFoundError, UsageError


def _source(obj, path_or_uri):
    """(connection, description) of the upstream database to read."""
    if path_or_uri is None:
        cfg = obj.local_config_dir
        candidate = os.path.join(cfg, "redun.db")
        if os.path.exists(candidate):
            path_or_uri = candidate
        else:
            from ..repo.dburi import location_of

            loc = location_of(obj.local_config(), cfg)
            if not loc.is_postgresql:
                raise NotFoundError(f"No upstream redun database to import: {candidate} does not exist and "
                                    "the config names no PostgreSQL database. Give its path or URI.")
            path_or_uri = loc.conninfo
    if "://" in path_or_uri:
        from ..repo.dburi import parse_db_uri

        loc = parse_db_uri(path_or_uri, obj.local_config_dir, where="import-upstream")
        if not loc.is_postgresql:
            raise UsageError(f"{path_or_uri}: give an upstream redun.db path or a postgresql:// URI.")
        from ..pg.connection import connect

        conn = connect(loc.conninfo, loc.display)
        tables = {r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'").fetchall()}
        return conn, tables, loc.display
    path = path_or_uri
    if os.path.isdir(path):
        path = os.path.join(path, "redun.db")
    from ..index.upstream import open_upstream_sqlite, sqlite_tables

    conn = open_upstream_sqlite(path)
    return conn, sqlite_tables(conn), path


@click.command("import-upstream")
@click.argument("path_or_uri", required=False)
@click.option("--untrusted", is_flag=True,
              help="Mark the records as coming from elsewhere: `redun run` then never unpickles their "
                   "values (jobs whose cached result is a pickle run again; see `redun import`).")
@click.pass_obj
def import_upstream_command(obj, path_or_uri, untrusted):
    """Import an upstream redun database, with its evaluation cache.

    PATH_OR_URI: an upstream redun.db (or the directory holding it), or a postgresql:// URI
    of an upstream database; default: the config dir's redun.db, else its db_uri. The
    database is only read (upstream need not be installed). Executions, jobs, call nodes,
    values, tasks and tags become records here, and the cache upstream kept (its evaluation
    table) rides on the jobs, so the next `redun run` of the same workflow is cached.
    Importing again adds nothing; an import that is killed leaves nothing and can be run again.
    The records are trusted as if recorded here (upstream unpickled its own cache; moving the
    database keeps that), unless --untrusted.
    """
    from ..exchange.importer import import_lines
    from ..exchange.upstreamdb import check_upstream, counts, upstream_records
    from .progress import progress_on_stderr

    conn, tables, where = _source(obj, path_or_uri)
    try:
        version = check_upstream(conn, tables, where)
        n = counts(conn)
        repo = obj.open_repo(create=True, beside_upstream=True)
        lines = (json.dumps(rec) for rec in upstream_records(conn))
        with progress_on_stderr("import-upstream") as progress:
            summary = import_lines(repo, lines, progress=progress,
                                   source=f"upstream database {where}" if untrusted else None)
    finally:
        conn.close()
    click.echo(f"Read upstream db version {version} at {where}: {n['execution']} executions, {n['job']} jobs, "
               f"{n['call_node']} call nodes, {n['value']} values, {n['task']} tasks, {n['tag']} tags, "
               f"{n['evaluation']} cache entries.")
    click.echo(summary.line() + f" {summary.executions} new execution(s).")
