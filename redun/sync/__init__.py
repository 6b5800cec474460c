"""Sync between repositories: have/want planning, remotes, push and pull.

    plan.py       pure: which refs move, which objects move (children first)
    remote.py     the Remote interface and its contract
    dirremote.py  a directory with the .redun layout (the local repo too)
    s3remote.py   s3://bucket/prefix (boto3 imported lazily)
    transfer.py   sync(src, dst): one pack per push, refs moved by CAS
"""

import hashlib
import os
import re
from typing import Optional

from ..errors import ConfigError

CACHE_DIRNAME = "remotes-cache"
_SAFE = re.compile(r"[A-Za-z0-9_.-]{1,100}\Z")


def is_url(location: str) -> bool:
    return "://" in location


def cache_dir_for(local_root: Optional[str], name: Optional[str], location: str) -> str:
    """Where a remote's immutable pack indexes are cached: <local repo>/remotes-cache/<name>."""
    key = name if name and _SAFE.match(name) and name not in (".", "..") else None
    if key is None:
        key = "url-" + hashlib.sha256(location.encode()).hexdigest()[:16]
    if local_root and os.path.isdir(local_root):
        base = os.path.join(local_root, CACHE_DIRNAME)
    else:
        base = os.path.join(os.path.expanduser("~"), ".cache", "redun", CACHE_DIRNAME)
    return os.path.join(base, key)


def open_remote(location: str, local_root: Optional[str] = None, name: Optional[str] = None, create: bool = False):
    """A Remote for a configured location: a repository directory or s3://bucket/prefix.
    create: initialize a directory that has no repository yet (push destinations)."""
    if location.startswith("s3://"):
        from .s3remote import S3Remote

        return S3Remote(location, cache_dir_for(local_root, name, location))
    if is_url(location):
        raise ConfigError(f"Unsupported repository location {location!r}: use a directory or s3://bucket/prefix.")
    from ..repo.repository import Repo
    from .dirremote import DirectoryRemote

    # a push may initialize an existing config dir (upstream auto-creates its db), never a missing one
    repo = Repo.open(location, create=create and os.path.isdir(location))
    return DirectoryRemote(location, repo=repo, own=True)


def open_location(location: str, local_root: Optional[str] = None, name: Optional[str] = None):
    """A Repo for `--repo NAME`: the directory itself, or for S3 a local mirror
    (under the cache) brought up to date by a pull (one GET when nothing is new)."""
    from ..repo.repository import Repo

    if not is_url(location):
        return Repo.open(location)
    from .transfer import sync

    mirror_root = os.path.join(cache_dir_for(local_root, name, location), "mirror")
    mirror = Repo.open(mirror_root, create=True)
    from .dirremote import DirectoryRemote

    with open_remote(location, local_root, name) as src:
        sync(src, DirectoryRemote(mirror_root, repo=mirror))
    return mirror
