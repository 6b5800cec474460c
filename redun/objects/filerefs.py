"""FileRef: a recorded file-like value (type, path, hash), detached from any filesystem.

Upstream pickles files as classes of module ``redun.file`` with a small state dict;
these tables say which classes exist and what their state holds, so stored values
can be displayed, encoded and re-pickled without importing an engine.
"""

import pickle
from typing import Any, Optional

from .frozen import frozen

# Upstream file classes (all in module redun.file): type_name -> (class name, state key).
# "redun.ConentFile" and "redun.CnotentFileSet" are upstream's own spellings.
FILE_TYPES = {
    "redun.File": ("File", "path"),
    "redun.Dir": ("Dir", "path"),
    "redun.FileSet": ("FileSet", "pattern"),
    "redun.IFile": ("IFile", "path"),
    "redun.IDir": ("IDir", "path"),
    "redun.IFileSet": ("IFileSet", "pattern"),
    "redun.ConentFile": ("ContentFile", "path"),
    "redun.ContentDir": ("ContentDir", "path"),
    "redun.CnotentFileSet": ("ContentFileSet", "pattern"),
}
# Class name (in redun.file) -> (type_name, state key).
FILE_CLASSES = {cls: (tname, key) for tname, (cls, key) in FILE_TYPES.items()}
FILE_MODULE = "redun.file"


class FileRefPicklingError(pickle.PicklingError):
    """Raised by the C pickler on a FileRef, so callers fall back to pickle_plain."""


@frozen
class FileRef:
    """A file-like value as recorded (type, path, hash), without touching any filesystem.

    Displays like upstream's File repr. ``pickle_plain`` writes it as upstream's
    class (e.g. ``redun.file.File`` with state {"path", "hash"}) so exports and
    value hashes of containers match upstream, without importing any engine.
    """

    type_name: str
    path: str
    hash: str

    @property
    def basename(self) -> str:
        known = FILE_TYPES.get(self.type_name)
        return known[0] if known else self.type_name.rsplit(".", 1)[-1]

    def __repr__(self) -> str:
        known = FILE_TYPES.get(self.type_name)
        if known and known[1] == "pattern":
            return f"{self.basename}(pattern={self.path}, hash={self.hash})"
        return f"{self.basename}(path={self.path}, hash={self.hash[:8]})"

    @property
    def __redun_file__(self) -> tuple:
        return (self.type_name, self.path, self.hash)

    def __redun_hash__(self) -> str:
        return self.hash

    def __reduce_ex__(self, protocol):
        # The C pickler cannot write another class's path for us; pickle_plain can.
        raise FileRefPicklingError(f"{self!r} pickles only through redun.objects.valuecodec.pickle_plain")

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self


def file_triple(obj: Any) -> Optional[tuple]:
    """(type_name, path, hash) of a file-like (``__redun_file__``), else None."""
    try:
        triple = getattr(obj, "__redun_file__", None)
    except Exception:
        return None
    if (
        isinstance(triple, tuple)
        and len(triple) == 3
        and all(type(part) is str for part in triple)
    ):
        return triple
    return None
