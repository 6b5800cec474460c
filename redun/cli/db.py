"""`redun db`: the repository FORMAT and the index schema.

The repository format (`.redun/FORMAT`, "redun-repo MAJOR.MINOR") is what
upgrade/downgrade migrate; the index is derived data, so "migrating" it means
rebuilding it (done automatically when a local repo is opened; remotes have no
index and are never migrated implicitly).
"""

import os

import click

from ..errors import RepoFormatError, UsageError
from .import_upstream import import_upstream_command
from .output import echo_json, format_option

# Every repository format this redun knows, oldest first: (major, minor, description).
FORMAT_VERSIONS = (
    (1, 0, "Content-addressed records, refs with compare-and-swap, derived query index."),
)
# Upstream redun 0.44.1's SQL schema versions (`redun db versions` there). Asked for by name,
# they are explained in one line: format 1.0 records what upstream 3.5 does.
UPSTREAM_DB_VERSIONS = ("2.0", "2.1", "2.2", "2.3", "3.0", "3.1", "3.2", "3.3", "3.4", "3.5")
# (from, to) -> function(repo) doing one migration step. None yet: there is one format.
MIGRATIONS: dict = {}


def _fmt(v: tuple) -> str:
    return f"{v[0]}.{v[1]}"


def parse_version(text: str) -> tuple:
    """'latest', 'N' or 'N.M' -> a known (major, minor). Raises UsageError for anything else."""
    known = [(a, b) for a, b, _ in FORMAT_VERSIONS]
    if text == "latest":
        return known[-1]
    try:
        parts = [int(p) for p in text.split(".")]
        if len(parts) == 1:
            cands = [v for v in known if v[0] == parts[0]]
            if cands:
                return cands[-1]
        elif len(parts) == 2 and tuple(parts) in known:
            return tuple(parts)
    except ValueError:
        pass
    raise UsageError(f"Unknown repository format version: {text} (known: {', '.join(_fmt(v) for v in known)}).")


def migration_path(current: tuple, target: tuple) -> list:
    known = [(a, b) for a, b, _ in FORMAT_VERSIONS]
    if current not in known:
        raise RepoFormatError(f"Repository format {_fmt(current)} is not one this redun knows; "
                              "use the redun release that wrote it.")
    i, j = known.index(current), known.index(target)
    step = 1 if j >= i else -1
    path = []
    for k in range(i, j, step):
        a, b = known[k], known[k + step]
        if (a, b) not in MIGRATIONS:
            raise RepoFormatError(f"No migration from format {_fmt(a)} to {_fmt(b)}.")
        path.append((a, b))
    return path


def _header(obj, repo) -> None:
    from .. import __version__

    click.echo(f"redun :: version {__version__}")
    click.echo(f"config dir: {repo.root}")
    click.echo()


@click.group("db")
def db_group():
    """Manage the repository format and its index."""


@db_group.command("info")
@format_option
@click.pass_obj
def info_command(obj, fmt):
    """Show the repository format ("db version", as upstream), index and record counts.

    \b
    JSON output (--format json), one object:
      version            this redun's version
      config_dir         the repository's config directory
      repo_format        "MAJOR.MINOR" (printed as "db version");
                         repo_format_description: its text
      supported_formats  ["MAJOR.MINOR", ...] this redun reads
      requires           the formats this redun reads, in upstream's form (">=1.0,<2")
      compatible         true if this redun reads and writes the repository
      storage            {"kind": "local" | "postgresql", "db_uri": text (password hidden) | null}
      index              {"schema": int | "postgresql", "path": text, "bytes": int}
      packs_ingested     packs the index has read
      records            {"Execution": n, "Job": n, "CallNode": n, "Task": n,
                          "Value": n, "Tag": n}: indexed records of each type
    """
    repo = obj.open_repo()
    info = repo_info(repo)
    if fmt == "json":
        echo_json(info)
    else:
        render_info(info)


def repo_format(repo) -> tuple:
    """(major, minor) of the repository's format: .redun/FORMAT, or the database's meta row."""
    if getattr(repo, "kind", "local") == "postgresql":
        major, minor = (int(x) for x in repo.db.format().split("."))
        return major, minor
    from ..repo.repository import read_format

    return read_format(repo.root)


def _requires() -> str:
    """The versions this CLI reads, in upstream's words ('>=3.5,<4')."""
    known = [(a, b) for a, b, _ in FORMAT_VERSIONS]
    return f">={_fmt(known[0])},<{known[-1][0] + 1}"


def repo_info(repo) -> dict:
    """What `db info` reports, as the JSON object its --help describes."""
    from .. import __version__

    fmt = repo_format(repo)
    c = repo.index.counts()  # opens (and catches up) the index before its size is taken
    if getattr(repo, "kind", "local") == "postgresql":
        index = {"schema": "postgresql", "path": repo.location.display, "bytes": repo.db.index_bytes()}
        storage = {"kind": "postgresql", "db_uri": repo.location.display}
    else:
        from ..index import SCHEMA_VERSION

        size = 0
        for suffix in ("", "-wal"):
            try:
                size += os.path.getsize(repo.index_path + suffix)
            except OSError:
                pass
        index = {"schema": SCHEMA_VERSION, "path": repo.index_path, "bytes": size}
        storage = {"kind": "local", "db_uri": None}
    known = [(a, b) for a, b, _ in FORMAT_VERSIONS]
    return {
        "version": __version__,
        "config_dir": repo.root,
        "repo_format": _fmt(fmt),
        "repo_format_description": {(a, b): d for a, b, d in FORMAT_VERSIONS}.get(fmt, "unknown"),
        "supported_formats": [_fmt(v) for v in known],
        "requires": _requires(),
        "compatible": fmt[0] == known[-1][0] and fmt in known,
        "storage": storage,
        "index": index,
        "packs_ingested": c["ingested_packs"],
        "records": {"Execution": c["executions"], "Job": c["jobs"], "CallNode": c["call_nodes"],
                    "Task": c["tasks"], "Value": c["vals"], "Tag": c["tags"]},
    }


def render_info(info: dict) -> None:
    click.echo(f"redun :: version {info['version']}")
    click.echo(f"config dir: {info['config_dir']}")
    click.echo()
    click.echo(f"db version: {info['repo_format']} '{info['repo_format_description']}'")
    click.echo(f"CLI requires db versions: {info['requires']}")
    click.echo(f"CLI compatible with db: {info['compatible']}")
    click.echo()
    if info["storage"]["kind"] == "postgresql":
        click.echo(f"storage: PostgreSQL database {info['storage']['db_uri']}")
        click.echo(f"index: in the database ({info['index']['bytes'] / 1e6:.1f} MB)")
    else:
        index = info["index"]
        click.echo(f"index schema: {index['schema']} ({index['path']}, {index['bytes'] / 1e6:.1f} MB)")
        click.echo(f"packs ingested: {info['packs_ingested']}")
    click.echo("records: " + ", ".join(f"{n} {kind}" for kind, n in info["records"].items()))


@db_group.command("versions")
def versions_command():
    """List the repository format versions ("db versions") this redun knows."""
    from ..index import KNOWN_SCHEMA_VERSIONS

    width = max(len(d) for _, _, d in FORMAT_VERSIONS)
    click.echo(f"{'Version':<8}{'Migration':<13}{'Description':<{width}}")
    click.echo()
    for a, b, desc in FORMAT_VERSIONS:
        step = "-" if (a, b) == FORMAT_VERSIONS[0][:2] else "yes"
        click.echo(f"{_fmt((a, b)):<8}{step:<13}{desc:<{width}}")
    click.echo()
    click.echo(f"Index schema versions: {', '.join(str(v) for v in KNOWN_SCHEMA_VERSIONS)} "
               "(the index is rebuilt automatically when its schema changes).")
    click.echo(f"Upstream db versions {UPSTREAM_DB_VERSIONS[0]}-{UPSTREAM_DB_VERSIONS[-1]} are upstream redun's SQL "
               f"schema; `redun db import-upstream` moves such a database (3.1-3.5) into format "
               f"{_fmt(FORMAT_VERSIONS[-1][:2])}.")


def _upstream_mapping(text: str) -> bool:
    """For an upstream db version (2.0-3.5): say in one line how it maps here. True if it was one."""
    if text not in UPSTREAM_DB_VERSIONS:
        return False
    latest = _fmt(FORMAT_VERSIONS[-1][:2])
    click.echo(f"db version {text} is upstream redun's SQL schema; this repository's format {latest} holds what "
               f"upstream {UPSTREAM_DB_VERSIONS[-1]} records, so there is no step to take "
               "(an upstream database moves over with `redun db import-upstream`).")
    return True


def _migrate(obj, version: str, upgrade: bool) -> None:
    from ..repo.repository import write_format

    repo = obj.open_repo()
    _header(obj, repo)
    current = repo_format(repo)
    click.echo(f"Initial db version: {_fmt(current)}")
    if _upstream_mapping(version):
        click.echo("No migration needed.")
        return
    target = parse_version(version)
    if (upgrade and target < current) or (not upgrade and target > current):
        cmd = "downgrade" if upgrade else "upgrade"
        raise UsageError(f"Must use {cmd} command to migrate from {_fmt(current)} to {_fmt(target)}.")
    steps = migration_path(current, target)
    if not steps:
        click.echo("No migration needed.")
    if steps and getattr(repo, "kind", "local") != "local":
        raise UsageError(f"Migrating a {repo.kind} repository from {_fmt(current)} to {_fmt(target)} is not "
                         "supported by this redun; nothing was changed.")
    for a, b in steps:
        click.echo(f"{'Upgrading' if upgrade else 'Downgrading'} db from version {_fmt(a)} to {_fmt(b)}...")
        MIGRATIONS[(a, b)](repo)
        write_format(repo.root, b)
    repo.index.catch_up()  # also brings the index schema up to date (rebuilt on open if it changed)
    if steps:
        click.echo(f"Final db version: {_fmt(target)}")


@db_group.command("upgrade")
@click.argument("version", default="latest")
@click.pass_obj
def upgrade_command(obj, version):
    """Upgrade the repository format to VERSION (default: latest)."""
    _migrate(obj, version, upgrade=True)


@db_group.command("downgrade")
@click.argument("version")
@click.pass_obj
def downgrade_command(obj, version):
    """Downgrade the repository format to VERSION."""
    _migrate(obj, version, upgrade=False)


db_group.add_command(import_upstream_command)


@db_group.command("reindex")
@click.pass_obj
def reindex_command(obj):
    """Delete the index and rebuild it from the objects."""
    import time

    from ..index import rebuild_index
    from .progress import progress_on_stderr

    repo = obj.open_repo()
    t0 = time.perf_counter()
    with progress_on_stderr("reindex") as progress:
        if getattr(repo, "kind", "local") == "postgresql":
            from ..pg.reindex import rebuild_pg_index

            index = rebuild_pg_index(repo, progress=progress)
        else:
            index = rebuild_index(repo, progress=progress)
    c = index.counts()
    click.echo(f"Reindexed {c['executions']} executions, {c['jobs']} jobs, {c['call_nodes']} call nodes, "
               f"{c['tasks']} tasks, {c['vals']} values from {c['ingested_packs']} packs "
               f"in {time.perf_counter() - t0:.1f}s.")
