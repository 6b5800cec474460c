"""`redun bundle create|verify|unbundle`: move selected executions as one file."""

import click


@click.group("bundle")
def bundle_group():
    """Move selected executions (with everything they reach) as one file.

    A bundle holds a pack, its index, the refs it carries and a checksum.
    It is checked completely before anything is installed.
    """


@bundle_group.command("create")
@click.argument("file", type=click.Path(dir_okay=False))
@click.argument("exec_ids", nargs=-1)
@click.pass_obj
def create_command(obj, file, exec_ids):
    """Write executions EXEC_IDS (uuid or prefix; default: all) to FILE."""
    from ..maint.bundle import create
    from ..repo.valuestore import blob_reader_for

    repo = obj.open_repo()
    info = create(repo.store, repo.refs, file, exec_ids, reader=blob_reader_for(repo))
    click.echo(f"created {info.summary()}")


@bundle_group.command("verify")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--standalone", is_flag=True,
              help="Do not consult the repository: the bundle alone must be closed.")
@click.pass_obj
def verify_command(obj, file, standalone):
    """Check FILE: checksum, every object, and that every link resolves."""
    from ..maint.bundle import verify

    store = None
    if not standalone:
        from ..errors import RedunError

        try:
            store = obj.open_repo().store
        except RedunError:  # no repository here: check the bundle on its own
            store = None
    info = verify(file, store)
    click.echo(f"ok {info.summary()}")
    for name, oid in sorted(info.refs.items()):
        click.echo(f"  {name} {oid.hex()}")


@bundle_group.command("unbundle")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Point refs at the bundle's records even if they differ.")
@click.pass_obj
def unbundle_command(obj, file, force):
    """Verify FILE, install its objects, and set the refs it carries."""
    from ..maint.bundle import unbundle

    repo = obj.open_repo()
    result = unbundle(repo.store, repo.refs, file, force=force)
    click.echo(f"installed {result.installed} new object(s) of {result.info.objects} from {file}")
    for name in result.updated:
        click.echo(f"  set {name}")
    for name in result.unchanged:
        click.echo(f"  unchanged {name}")
    for name, reason in result.kept:
        click.echo(f"  kept {name}: {reason}")
