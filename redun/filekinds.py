"""The immutable (I*) and content-hashed (Content*) file families of redun.file.

IFile, IFileSet and IDir hash by path (or pattern) only and are always valid:
for outputs written once and never changed. ContentFile hashes by the bytes of
the file. Each family's methods make files of the same family (`classes`).
Importing redun.file re-labels these classes as redun.file's, so they pickle
and record under upstream's names (including upstream's "redun.ConentFile").
"""

from typing import Optional

from .file import Dir, File, FileClasses, FileSet, StagingDir, StagingFile
from .hashing import hash_stream, hash_struct


class IFileClasses(FileClasses):
    _family = {"File": "IFile", "FileSet": "IFileSet", "Dir": "IDir",
               "StagingFile": "IStagingFile", "StagingDir": "IStagingDir"}


class IFile(File):
    """An immutable file: written once, hashed by path only, always valid."""

    type_basename = "IFile"
    type_name = "redun.IFile"
    classes = IFileClasses()

    def _calc_hash(self) -> str:
        return hash_struct([self.type_basename, self.path])

    def is_valid(self) -> bool:
        return True


class IFileSet(FileSet):
    type_basename = "IFileSet"
    type_name = "redun.IFileSet"
    classes = IFileClasses()

    def _calc_hash(self, files: Optional[list] = None) -> str:
        return hash_struct([self.type_basename, self.pattern])

    def is_valid(self) -> bool:
        return True


class IDir(Dir):
    type_basename = "IDir"
    type_name = "redun.IDir"
    classes = IFileClasses()

    def _calc_hash(self, files: Optional[list] = None) -> str:
        return hash_struct([self.type_basename, self.path])


class IStagingFile(StagingFile):
    type_basename = "IStagingFile"
    type_name = "redun.IStagingFile"
    classes = IFileClasses()


class IStagingDir(StagingDir):
    type_basename = "IStagingDir"
    type_name = "redun.IStagingDir"
    classes = IFileClasses()


class ContentFileClasses(FileClasses):
    _family = {"File": "ContentFile", "FileSet": "ContentFileSet", "Dir": "ContentDir",
               "StagingFile": "ContentStagingFile", "StagingDir": "ContentStagingDir"}


class ContentFile(File):
    """A file hashed by its content (read in full on every hash)."""

    type_basename = "ContentFile"
    type_name = "redun.ConentFile"  # upstream's spelling, kept so records match
    classes = ContentFileClasses()

    def _calc_hash(self) -> str:
        # filesystem.open, not self.open: closing must not trigger another hash.
        with self.filesystem.open(self.path, mode="rb") as infile:
            content_hash = hash_stream(infile)
        return hash_struct([self.type_basename, self.path, content_hash])


class ContentFileSet(FileSet):
    type_basename = "ContentFileSet"
    type_name = "redun.CnotentFileSet"  # upstream's spelling
    classes = ContentFileClasses()


class ContentDir(Dir):
    type_basename = "ContentDir"
    type_name = "redun.ContentDir"
    classes = ContentFileClasses()


class ContentStagingFile(StagingFile):
    type_basename = "ContentStagingFile"
    type_name = "redun.ContentStagingFile"
    classes = ContentFileClasses()


class ContentStagingDir(StagingDir):
    type_basename = "ContentStagingDir"
    type_name = "redun.ContentStagingDir"
    classes = ContentFileClasses()
