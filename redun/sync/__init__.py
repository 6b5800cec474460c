"""Sync between repositories: have/want planning, remotes, push and pull.

    plan.py       pure: which refs move, which objects move (children first)
    remote.py     the Remote interface and its contract
    dirremote.py  a directory with the .redun layout (the local repo too)
    s3remote.py   s3://bucket/prefix (boto3 imported lazily)
    transfer.py   sync(src, dst): one pack per push, refs moved by CAS
    wholepacks.py a full sync sends the packs the destination lacks as they are
    packcheck.py  checks of a whole pack while its bytes stream
    s3packs.py    whole packs to and from S3 (upload group, read-ahead download)

This layer works on stores and refs; it never opens a repository. Opening a
configured location as a Remote (or as a local mirror of an S3 remote) is
redun/repo/remotes.py's job.
"""

import hashlib
import os
import re
from typing import Optional


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
