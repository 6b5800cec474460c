"""Configured locations as sync endpoints: a repository directory or s3://bucket/prefix.
Either is a config dir: when its redun.ini names a PostgreSQL database ([backend] db_uri),
that database is the repository, as upstream (Repo.open reads a directory's; s3_database
an S3 prefix's, one GET).

redun/sync works on stores and refs; this is where a location is opened as a
Repo (format checked, copies settled, config read) and handed to it.
"""

import os
from typing import Optional

from ..errors import ConfigError
from ..sync import cache_dir_for, is_url
from ..sync.dirremote import DirectoryRemote
from .repository import Repo


def repo_remote(repo: Repo, own: bool = False) -> DirectoryRemote:
    """`repo` as one end of a sync, its blobs at value_store_path included.
    own: close the repo when the remote is closed."""
    reader = (lambda: repo.values.reader()) if repo.values.path else None
    if getattr(repo, "kind", "local") == "postgresql":
        from ..pg.remote import PgRemote

        return PgRemote(repo.store, repo.refs, repo.location.display, blob_reader=reader,
                        on_close=repo.close if own else None)
    return DirectoryRemote(repo.root, repo.store, repo.refs, blob_reader=reader,
                           on_close=repo.close if own else None)


MAX_CONFIG_BYTES = 1 << 20


def s3_database(location: str, local_root: Optional[str] = None, name: Optional[str] = None,
                create: bool = False):
    """A PgRepo when the S3 config dir's redun.ini names a PostgreSQL database (as upstream,
    the database is the repository; nothing is written beside redun.ini); None when it has
    no redun.ini or its db_uri names the config dir's own repository (the packs at the
    prefix). Any other db_uri is a ConfigError naming the file (dburi.py)."""
    from ..config import CONFIG_FILENAME, Config
    from ..errors import SyncError
    from ..objects.s3 import S3Location
    from .dburi import location_of

    loc = S3Location(location, "remote config dir", SyncError)
    where = f"{location.rstrip('/')}/{CONFIG_FILENAME}"
    r = loc.get_response(CONFIG_FILENAME)
    if r is None:
        return None
    with loc.guard("read", CONFIG_FILENAME):
        data = r["Body"].read(MAX_CONFIG_BYTES + 1)
        r["Body"].close()
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{where} is larger than {MAX_CONFIG_BYTES >> 20} MiB: not a redun.ini.")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{where} is not UTF-8 text: not a redun.ini.") from None
    root = os.path.join(cache_dir_for(local_root, name, location), "config")
    config = Config(configdir=root, path=where)  # errors name the S3 file
    config.read_string(text)
    db = location_of(config, root)
    if not db.is_postgresql:
        return None
    from .pgrepo import PgRepo

    os.makedirs(root, exist_ok=True)
    return PgRepo.open(root, config, db, create=create)


def open_remote(location: str, local_root: Optional[str] = None, name: Optional[str] = None, create: bool = False):
    """A Remote for a configured location: a repository directory or s3://bucket/prefix
    (or the database the redun.ini of either names).
    create: initialize a directory that has no repository yet (push destinations)."""
    if location.startswith("s3://"):
        from ..sync.s3remote import S3Remote  # lazy: boto3 only for S3

        database = s3_database(location, local_root, name, create=create)
        if database is not None:
            return repo_remote(database, own=True)
        return S3Remote(location, cache_dir_for(local_root, name, location))
    if is_url(location):
        raise ConfigError(f"Unsupported repository location {location!r}: use a directory or s3://bucket/prefix.")
    # a push may initialize an existing config dir (upstream auto-creates its db), never a missing one
    repo = Repo.open(location, create=create and os.path.isdir(location))
    return repo_remote(repo, own=True)


def open_location(location: str, local_root: Optional[str] = None, name: Optional[str] = None) -> Repo:
    """A Repo for `--repo NAME`: the directory itself, or for S3 a local mirror
    (under the cache) brought up to date by a pull (one GET when nothing is new), or the
    database its redun.ini names (read there directly: no mirror)."""
    if not is_url(location):
        return Repo.open(location)
    if location.startswith("s3://"):
        database = s3_database(location, local_root, name)
        if database is not None:
            return database
    from ..sync.transfer import sync

    mirror_root = os.path.join(cache_dir_for(local_root, name, location), "mirror")
    mirror = Repo.open(mirror_root, create=True)
    with open_remote(location, local_root, name) as src:
        sync(src, repo_remote(mirror))
    return mirror
