"""`redun fsck`: verify every object, pack and ref of the local repository."""

import sys

import click


@click.command("fsck")
@click.option("--recover", "do_recover", is_flag=True,
              help="First salvage what crashed writers left (tmp packs, packs without index).")
@click.option("-q", "--quiet", is_flag=True, help="Print only problems.")
@click.pass_obj
def fsck_command(obj, do_recover, quiet):
    """Verify every object, pack and ref of the repository.

    Re-hashes every object in every pack and every loose object, checks each
    pack index's checksum and its pack's digest, and checks that every link and
    every ref resolves. Exit 0 when clean, 1 naming each bad object, pack or ref.
    """
    from ..objects.fsck import estimate_objects, fsck

    location = obj.repo_location()
    remote = location if "://" in location else None  # s3://...: checked in place, read-only
    repo = None if remote else obj.open_repo()
    if do_recover and repo is not None:
        salvaged = repo.store.recover()
        if salvaged and not quiet:
            click.echo(f"recovered {len(salvaged)} pack(s) left by interrupted writers")
    progress, bar = None, None
    if sys.stderr.isatty() and not quiet:
        from rich.progress import Progress

        bar = Progress(transient=True, console=None)
        bar.start()
        task = bar.add_task("fsck", total=estimate_objects(repo.store) if repo else None)

        def progress(n):
            bar.advance(task, n)

    try:
        if remote:
            from ..maint.remote_fsck import fsck_remote

            report = fsck_remote(remote, obj.local_config_dir, obj.repo_name, progress=progress)
        else:
            from ..repo.valuestore import link_view

            report = fsck(link_view(repo), repo.refs, progress=progress)
    finally:
        if bar is not None:
            bar.stop()
    for problem in report.problems:
        click.echo(str(problem))
    if not quiet:
        for note in report.notes:
            click.echo(f"note: {note}")
        click.echo(report.summary())
    if not report.ok:
        if not quiet:
            if any("interrupted" in n or "crash" in n for n in report.notes):
                click.echo("hint: `redun fsck --recover` salvages crash debris.", err=True)
            click.echo("hint: damaged or missing objects can be restored from another copy of the "
                       "repository (`redun pull`); records that do not depend on them stay readable.", err=True)
        raise SystemExit(1)
