"""`redun gc`: delete unreachable objects older than a grace period."""

import click

from .output import JsonListStream, format_option


@click.command("gc")
@click.option("-n", "--dry-run", is_flag=True, help="List what would be removed; change nothing.")
@click.option("--grace", "grace_days", type=click.FloatRange(min=0), default=14.0, show_default=True,
              metavar="DAYS", help="Keep every object younger than this many days. "
                   "Use 0 only when nothing writes: a run's newest records are unreferenced for a moment.")
@click.option("--keep", "keep", multiple=True, metavar="EXEC_ID",
              help="Keep this execution (uuid or 8+ char prefix) even if its ref was deleted; "
                   "its ref is restored. Repeatable.")
@click.option("-q", "--quiet", is_flag=True, help="Print only the summary.")
@format_option
@click.pass_obj
def gc_command(obj, dry_run, grace_days, keep, quiet, fmt):
    """Delete objects unreachable from any ref and older than the grace period.

    Roots are every ref (executions, remote-tracking refs, running executions),
    everything younger than --grace, what live runs are staging, and the jobs of
    executions that still have a ref. Packs holding garbage are rewritten (new
    pack first, old one removed after). Safe while runs write. The query index
    is rebuilt on next use when anything was removed.

    A PostgreSQL repository is collected in the database: marked into a
    temporary table, then swept in one transaction (writers wait for it) that
    removes the objects with their index rows; the grace period is measured by
    the database's clock (objects keep their arrival time).

    \b
    JSON output (--format json), one object:
      would_remove     with --dry-run (and not -q): [{"id": hex, "type":
                       record type tag, "bytes": stored size}], streamed; else []
      dry_run          true with --dry-run
      objects, packs   objects and packs found
      kept             objects kept
      garbage          objects removed (or that would be)
      garbage_bytes    their stored size
      packs_rewritten, packs_removed, loose_removed, loose_packed
      missing_links    links to objects not in this store
      restored_refs    refs restored for --keep (or that would be)
    """
    from ..maint.gc import collect_repo
    from .progress import progress_on_stderr

    repo = obj.open_repo()
    listing = dry_run and not quiet
    stream = JsonListStream("would_remove") if fmt == "json" else None

    def show(oid, kind, nbytes):
        if stream is not None:
            stream.item({"id": oid.hex(), "type": kind, "bytes": nbytes})
        else:
            click.echo(f"{oid.hex()} {kind} {nbytes}")

    with progress_on_stderr("gc", quiet=quiet) as progress:
        report = collect_repo(repo, grace_days=grace_days, keep=keep, dry_run=dry_run,
                              on_garbage=show if listing else None, progress=progress)
    if stream is not None:
        stream.close(gc_json(report))
    else:
        render_text(report, quiet)


def gc_json(report) -> dict:
    return {
        "dry_run": report.dry_run,
        "objects": report.objects,
        "packs": report.packs,
        "kept": report.marked,
        "garbage": report.garbage,
        "garbage_bytes": report.garbage_bytes,
        "packs_rewritten": report.packs_rewritten,
        "packs_removed": report.packs_removed,
        "loose_removed": report.loose_removed,
        "loose_packed": report.loose_packed,
        "missing_links": report.missing_links,
        "restored_refs": list(report.restored_refs),
    }


def render_text(report, quiet: bool) -> None:
    for name in report.restored_refs:
        click.echo(f"{'would restore' if report.dry_run else 'restored'} ref {name}")
    if report.missing_links and not quiet:
        click.echo(f"note: {report.missing_links} link(s) point to objects not in this store "
                   "(external value store, or damage: see `redun fsck`)", err=True)
    click.echo(report.summary())
