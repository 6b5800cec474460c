"""`redun fsck`: verify every object, pack and ref of the local repository."""

import click

from ..errors import UsageError
from .output import echo_json, format_option


@click.command("fsck")
@click.option("--recover", "do_recover", is_flag=True,
              help="First salvage what crashed writers left (tmp packs, packs without index) and "
                   "remove what killed imports left.")
@click.option("-q", "--quiet", is_flag=True, help="Print only problems.")
@format_option
@click.pass_obj
def fsck_command(obj, do_recover, quiet, fmt):
    """Verify every object, pack and ref of the repository.

    Re-hashes every object in every pack and every loose object, checks each
    pack index's checksum and its pack's digest, and checks that every link and
    every ref resolves. Exit 0 when clean, 1 naming each bad object, pack or ref.
    Then the query index is compared with one built from the objects, and
    rebuilt if they differ (a note says so).
    Only what the refs reach is judged: a link that does not resolve from an
    unreachable object is reported as garbage (exit 0), for `redun gc`.

    \b
    JSON output (--format json), one object:
      ok         true when nothing is wrong (the exit code says the same)
      objects    objects checked;  packs, loose, refs: how many of each
      problems   [{"kind": object|pack|index|ref|link|file, "name": id or
                 name, "message": text, "where": file or location}]
      garbage    link problems of objects no ref reaches (same shape; not
                 damage: left by an interrupted gc, removed by `redun gc`)
      notes      [text]: crash debris and the like, not damage
      recovered  names of the packs --recover installed
    """
    from ..objects.fsck import fsck
    from .progress import progress_on_stderr

    location = obj.repo_location()
    remote = location if "://" in location else None  # s3://...: checked in place, read-only
    if remote and do_recover:
        raise UsageError(f"--recover changes a local repository; {remote} is only checked, in place.")
    repo = None if remote else obj.open_repo()
    recovered = repo.store.recover() if do_recover and repo is not None else []
    if do_recover and repo is not None:
        from ..exchange.spill import discard_stale_spills

        discard_stale_spills(repo)  # scratch files of killed imports
    with progress_on_stderr("fsck", quiet=quiet) as progress:
        if remote:
            from ..maint.remote_fsck import fsck_remote

            report = fsck_remote(remote, obj.local_config_dir, obj.repo_name, progress=progress)
        else:
            from ..repo.valuestore import link_view

            from ..maint.reach import judge_reachable

            report = fsck(link_view(repo), repo.refs, progress=progress)
            judge_reachable(repo.store, repo.refs, report)
            if report.ok and repo.index_path is None:  # a database's index: written with its objects
                report.notes.append("the query index in the database was not compared with the objects "
                                    "(`redun db reindex` rebuilds it from them)")
            elif report.ok:  # the query index is checked against intact objects only
                from ..index.verify import verify_index

                progress.phase("checking the query index")
                check = verify_index(repo, progress=progress)
                if check.rebuilt:
                    report.notes.append(f"the query index did not match the objects ({check.problem}); "
                                        "it was rebuilt from them")
    if fmt == "json":
        echo_json(fsck_json(report, recovered))
    else:
        render_text(report, recovered, quiet)
    if not report.ok:
        raise SystemExit(1)


def fsck_json(report, recovered: list) -> dict:
    return {
        "ok": report.ok,
        "objects": report.objects,
        "packs": report.packs,
        "loose": report.loose,
        "refs": report.refs,
        "problems": [{"kind": p.kind, "name": p.name, "message": p.message, "where": p.where}
                     for p in report.problems],
        "garbage": [{"kind": p.kind, "name": p.name, "message": p.message, "where": p.where}
                    for p in report.garbage],
        "notes": list(report.notes),
        "recovered": list(recovered),
    }


def render_text(report, recovered: list, quiet: bool) -> None:
    if recovered and not quiet:
        click.echo(f"recovered {len(recovered)} pack(s) left by interrupted writers")
    for problem in report.problems:
        click.echo(str(problem))
    if not quiet:
        for note in report.notes:
            click.echo(f"note: {note}")
        if report.garbage:
            objs = sorted({p.name for p in report.garbage})
            shown = ", ".join(o[:12] for o in objs[:5]) + (", ..." if len(objs) > 5 else "")
            click.echo(f"note: {len(objs)} unreachable object(s) link to missing objects ({shown}): garbage "
                       "left by an interrupted gc or import, not damage; `redun gc` removes it")
        click.echo(report.summary())
    if not report.ok and not quiet:
        if any("interrupted" in n or "crash" in n for n in report.notes):
            click.echo("hint: `redun fsck --recover` salvages crash debris.", err=True)
        click.echo("hint: damaged or missing objects can be restored from another copy of the "
                   "repository (`redun pull`); records that do not depend on them stay readable.", err=True)
