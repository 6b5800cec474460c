"""`redun push` and `redun pull`: sync executions with another repository.

Counts printed are objects transferred (every record, blobs included); an
execution that is already complete at the destination costs nothing.
"""

import click

from ..errors import SyncError
from .output import echo_json, format_option


def _open_pair(obj, src_name: str, dst_name: str, verb: str):
    from ..repo.remotes import open_remote

    local_root = obj.local_config_dir
    src_loc = obj.repo_location(src_name)
    dst_loc = obj.repo_location(dst_name)
    src = open_remote(src_loc, local_root, src_name)
    try:
        dst = open_remote(dst_loc, local_root, dst_name, create=(verb == "push"))
    except BaseException:
        src.close()
        raise
    return src, dst


def _run(obj, src_name, dst_name, roots, verb, keep_going=False):
    from ..repo.trust import trusts
    from ..sync.transfer import sync
    from .progress import progress_on_stderr

    # this config dir's own repo, and those the user marks `trust = true`, hold well-formed
    # records: their entries are not decoded again (a bad trust value fails before any I/O)
    trusted = src_name == "default" or trusts(obj.local_config(), src_name)
    src, dst = _open_pair(obj, src_name, dst_name, verb)
    try:
        if src.same_as(dst):
            other = dst_name if verb == "push" else src_name
            raise SyncError(f"Cannot {verb} repo {other} {'to' if verb == 'push' else 'into'} itself")
        with progress_on_stderr(verb) as progress:
            return sync(src, dst, roots=list(roots) or None, progress=progress, trusted=trusted,
                        keep_going=keep_going)
    finally:
        src.close()
        dst.close()


def sync_json(repo: str, result) -> dict:
    return {
        "repo": repo,
        "objects": result.objects,
        "up_to_date": result.up_to_date,
        "refs": {name: oid.hex() for name, oid in sorted(result.refs.items())},
        "skipped": list(result.skipped),
        "failed": dict(sorted(result.failed.items())),
    }


_keep_going = click.option(
    "--keep-going", is_flag=True,
    help="Sync every execution that can be read; name each one that cannot (missing or damaged "
         "objects, unreadable ref) on stderr and exit 1.")


def _report_failed(result) -> None:
    """--keep-going: one line per execution left behind, then exit 1."""
    from ..sync.plan import describe_ref

    if result.failed:
        for name, why in sorted(result.failed.items()):
            click.echo(f"skipped {describe_ref(name)}: {why}", err=True)
        raise SystemExit(1)


@click.command("push")
@click.argument("repo")
@click.argument("exec_ids", nargs=-1)
@_keep_going
@format_option
@click.pass_obj
def push_command(obj, repo, exec_ids, keep_going, fmt):
    """Sync records to another redun repo.

    Pushes every execution of the current repository (or of `--repo`), or only
    those whose id starts with one of EXEC_IDS, with everything they reference,
    to REPO (a name from `redun repo list`).

    \b
    JSON output (--format json), one object:
      repo        the other repository's name
      objects     objects copied (records and blobs)
      up_to_date  true when nothing had to move
      refs        {ref name: object id hex} of the refs moved
      skipped     refs left alone (a running execution never replaces a ref)
      failed      {ref name: reason} of refs not synced (--keep-going)
    """
    if repo == obj.repo_name:
        raise SyncError(f"Cannot push repo {repo} to itself")
    result = _run(obj, obj.repo_name, repo, exec_ids, "push", keep_going)
    if fmt == "json":
        echo_json(sync_json(repo, result))
    elif result.up_to_date:
        click.echo(f"Repo '{repo}' is up to date.")
    else:
        click.echo(f"Pushed {result.objects} record(s) to repo '{repo}'")
    _report_failed(result)


@click.command("pull")
@click.argument("repo")
@click.argument("exec_ids", nargs=-1)
@_keep_going
@format_option
@click.pass_obj
def pull_command(obj, repo, exec_ids, keep_going, fmt):
    """Sync records from another redun repo.

    Pulls every execution of REPO (or only those whose id starts with one of
    EXEC_IDS, resolved in REPO), with everything they reference, into the
    current repository (or `--repo`). Every object is verified on arrival.

    \b
    JSON output (--format json), one object:
      repo        the other repository's name
      objects     objects copied (records and blobs)
      up_to_date  true when nothing had to move
      refs        {ref name: object id hex} of the refs moved
      skipped     refs left alone (a running execution never replaces a ref)
      failed      {ref name: reason} of refs not synced (--keep-going)
    """
    if repo == obj.repo_name:
        raise SyncError(f"Cannot pull repo {repo} into itself")
    result = _run(obj, repo, obj.repo_name, exec_ids, "pull", keep_going)
    if fmt == "json":
        echo_json(sync_json(repo, result))
    elif result.up_to_date:  # the same words as push for nothing to do (upstream said "Pulled 0")
        click.echo(f"Repo '{repo}' is up to date.")
    else:
        click.echo(f"Pulled {result.objects} new record(s) from repo '{repo}'")
    _report_failed(result)

