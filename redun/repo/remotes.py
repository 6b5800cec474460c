"""Configured locations as sync endpoints: a repository directory or s3://bucket/prefix.

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


def open_remote(location: str, local_root: Optional[str] = None, name: Optional[str] = None, create: bool = False):
    """A Remote for a configured location: a repository directory or s3://bucket/prefix.
    create: initialize a directory that has no repository yet (push destinations)."""
    if location.startswith("s3://"):
        from ..sync.s3remote import S3Remote  # lazy: boto3 only for S3

        return S3Remote(location, cache_dir_for(local_root, name, location))
    if is_url(location):
        raise ConfigError(f"Unsupported repository location {location!r}: use a directory or s3://bucket/prefix.")
    # a push may initialize an existing config dir (upstream auto-creates its db), never a missing one
    repo = Repo.open(location, create=create and os.path.isdir(location))
    return repo_remote(repo, own=True)


def open_location(location: str, local_root: Optional[str] = None, name: Optional[str] = None) -> Repo:
    """A Repo for `--repo NAME`: the directory itself, or for S3 a local mirror
    (under the cache) brought up to date by a pull (one GET when nothing is new)."""
    if not is_url(location):
        return Repo.open(location)
    from ..sync.transfer import sync

    mirror_root = os.path.join(cache_dir_for(local_root, name, location), "mirror")
    mirror = Repo.open(mirror_root, create=True)
    with open_remote(location, local_root, name) as src:
        sync(src, repo_remote(mirror))
    return mirror
