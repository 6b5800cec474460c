"""`redun gc`: delete unreachable objects older than a grace period."""

import sys

import click


@click.command("gc")
@click.option("-n", "--dry-run", is_flag=True, help="List what would be removed; change nothing.")
@click.option("--grace", "grace_days", type=click.FloatRange(min=0), default=14.0, show_default=True,
              metavar="DAYS", help="Keep every object younger than this many days. "
                   "Use 0 only when nothing writes: a run's newest records are unreferenced for a moment.")
@click.option("--keep", "keep", multiple=True, metavar="EXEC_ID",
              help="Keep this execution (uuid or 8+ char prefix) even if its ref was deleted; "
                   "its ref is restored. Repeatable.")
@click.option("-q", "--quiet", is_flag=True, help="Print only the summary.")
@click.pass_obj
def gc_command(obj, dry_run, grace_days, keep, quiet):
    """Delete objects unreachable from any ref and older than the grace period.

    Roots are every ref (executions, remote-tracking refs, running executions),
    everything younger than --grace, what live runs are staging, and the jobs of
    executions that still have a ref. Packs holding garbage are rewritten (new
    pack first, old one removed after). Safe while runs write. The query index
    is rebuilt on next use when anything was removed.
    """
    from ..maint.gc import collect_repo

    repo = obj.open_repo()

    def show(oid, kind, nbytes):
        click.echo(f"{oid.hex()} {kind} {nbytes}")

    status = None
    if sys.stderr.isatty() and not quiet:
        from rich.console import Console

        status = Console(stderr=True).status("gc")
        status.start()
    try:
        report = collect_repo(repo, grace_days=grace_days, keep=keep, dry_run=dry_run,
                              on_garbage=show if dry_run and not quiet else None,
                              phase=(lambda text: status.update(f"gc: {text}")) if status else None)
    finally:
        if status is not None:
            status.stop()
    for name in report.restored_refs:
        click.echo(f"{'would restore' if dry_run else 'restored'} ref {name}")
    if report.missing_links and not quiet:
        click.echo(f"note: {report.missing_links} link(s) point to objects not in this store "
                   "(external value store, or damage: see `redun fsck`)", err=True)
    click.echo(report.summary())
