"""ShardedS3Dataset: a dataset stored as many files (shards) under one S3 prefix.

Upstream's redun.file.ShardedS3Dataset (importing redun.file re-labels it so it
pickles under that name). Its hash is hash_struct(["ShardedS3Dataset", path] +
sorted shard URLs): adding or removing shards changes it, rewriting a shard in
place does not. Shards are found by globbing `<path>/*.<format>` (and
`<path>/**/*.<format>` when recurse), on any file system although the class is
meant for S3. Pandas loading reads shards through redun's own file systems;
the Spark / AWS Glue methods need a Glue job and fail with a clear error here.
"""

import os
from typing import Any, Iterator, Optional

from .fs import FileSystemError, get_filesystem, glob_file
from .hashing import hash_struct
from .value import Value

FORMATS = ("avro", "csv", "ion", "grokLog", "json", "orc", "parquet", "xml")


class ShardedS3Dataset(Value):
    """Shards of one format under a path; see the module docstring."""

    type_name = "redun.ShardedS3Dataset"

    def __init__(self, path: str, format: str = "parquet", recurse: bool = True):
        if format not in FORMATS:
            raise ValueError(f"Invalid format {format}")
        self._path = path.rstrip("/")
        self._recurse = recurse
        self._format = format
        self._hash: Optional[str] = None
        self.filesystem = get_filesystem(url=self._path)
        self._filenames: list = self._gather_files()

    def _gather_files(self) -> list:
        files = glob_file(f"{self._path}/*.{self._format}")
        if self._recurse:
            files.extend(glob_file(f"{self._path}/**/*.{self._format}"))
        return sorted(set(files))

    # Setting path, format or recurse changes which shards belong: re-gather them.
    @property
    def path(self) -> str:
        return self._path

    @path.setter
    def path(self, value: str) -> None:
        self._path = value
        self._hash = self._calc_hash()

    @property
    def format(self) -> str:
        return self._format

    @format.setter
    def format(self, value: str) -> None:
        self._format = value
        self._hash = self._calc_hash()

    @property
    def recurse(self) -> bool:
        return self._recurse

    @recurse.setter
    def recurse(self, value: bool) -> None:
        self._recurse = value
        self._hash = self._calc_hash()

    @property
    def filenames(self) -> list:
        return self._filenames

    @property
    def hash(self) -> str:
        if not self._hash:
            self._hash = self._calc_hash()
        return self._hash

    def _calc_hash(self) -> str:
        self._filenames = self._gather_files()
        return hash_struct(["ShardedS3Dataset", self._path] + sorted(self._filenames))

    def get_hash(self, data: Optional[bytes] = None) -> str:
        return self.hash

    def __redun_hash__(self) -> str:
        return self.hash

    def update_hash(self) -> None:
        self._hash = self._calc_hash()

    def postprocess(self, postprocess_args) -> "ShardedS3Dataset":
        self.update_hash()
        return self

    def is_valid(self) -> bool:
        if not self._hash:
            self.update_hash()
            return True
        return self.hash == self._calc_hash()

    def __repr__(self) -> str:
        return (f"ShardedS3Dataset(path={self.path}, format={self.format}, "
                f"recurse={self.recurse}, hash={self.hash})")

    def iter_subvalues(self) -> Iterator[Value]:
        from .file import File

        for path in self._filenames:
            yield File(path)

    def __getstate__(self) -> dict:
        return {"path": self._path, "format": self._format, "recurse": self._recurse,
                "hash": self._hash, "files": self._filenames}

    def __setstate__(self, state: dict) -> None:
        self._path = state["path"]
        self._format = state["format"]
        self._recurse = state["recurse"]
        self._filenames = state["files"]
        self._hash = state["hash"]
        self.filesystem = get_filesystem(url=self._path)

    # -- loading --------------------------------------------------------------
    def load_pandas(self, max_shards: int = -1):
        """All shards (at most max_shards; -1: all) as one pandas DataFrame."""
        import pandas

        return pandas.concat(self.load_pandas_shards(max_shards))

    def load_pandas_shards(self, max_shards: int = -1) -> list:
        """One pandas DataFrame per shard, in sorted shard order (re-listed now)."""
        try:
            import pandas
        except ImportError:
            raise FileSystemError("load_pandas needs pandas: pip install pandas") from None
        loaders = {"csv": pandas.read_csv, "parquet": pandas.read_parquet,
                   "json": pandas.read_json, "orc": pandas.read_orc}
        loader = loaders.get(self.format)
        if loader is None:
            raise ValueError(f"No pandas load function found for '{self.format}'")
        from .file import File

        self._filenames = self._gather_files()
        shards = self._filenames if max_shards == -1 else self._filenames[:max_shards]
        frames = []
        for path in shards:
            # Read through redun's file systems: no s3fs needed by pandas.
            with File(path).filesystem.open(path, "rb") as stream:
                frames.append(loader(stream))
        return frames

    def _glue_only(self, method: str):
        return FileSystemError(
            f"ShardedS3Dataset.{method} runs inside an AWS Glue Spark job (awsglue, pyspark); "
            "this redun does not run Glue jobs. Use load_pandas() / load_pandas_shards() to read."
        )

    def load_spark(self, validate: bool = False, format_options: dict = {}):
        raise self._glue_only("load_spark")

    def save_spark(self, dataset: Any, partition_keys: list = [], catalog_database: str = "default",
                   catalog_table: Optional[str] = None, format_options: dict = {}) -> None:
        raise self._glue_only("save_spark")

    def purge_spark(self, remove_older_than: int = 1, manifest_file_path: Optional[str] = None) -> None:
        raise self._glue_only("purge_spark")

    @classmethod
    def from_data(cls, dataset: Any, output_path: str, format: str = "parquet", **kwargs) -> "ShardedS3Dataset":
        raise cls._glue_only(cls, "from_data")

    @classmethod
    def from_files(cls, files: list, format: Optional[str] = None,
                   allow_additional_files: bool = False) -> "ShardedS3Dataset":
        """The dataset rooted at the deepest common prefix of files (all on S3, existing,
        of one format). ValueError if it would take in other files, unless allowed."""
        if not all(f.filesystem.name == "s3" for f in files):
            raise ValueError("All files must be on S3 to construct a ShardedS3Dataset")
        for f in files:
            if not f.exists():
                raise FileNotFoundError(f"File {f.path} must exist to construct a dataset with it.")
        if not files:
            raise ValueError("Cannot construct a dataset from an empty list of files.")
        paths = [f.path.replace("s3://", "/") for f in files]
        root = os.path.split(paths[0])[0] if len(paths) == 1 else os.path.commonpath(paths)
        if not format:
            formats = {os.path.splitext(f.path)[1].replace(".", "") for f in files}
            if len(formats) != 1:
                raise ValueError(f"Multiple or zero file extensions found: {formats}."
                                 " Could not detect format for ShardedS3Dataset.")
            format = formats.pop()
        result = cls(f"s3:/{root}", format=format, recurse=True)
        if not allow_additional_files:
            extras = set(result.filenames) - {f.path for f in files}
            if extras:
                raise ValueError(f"Additional files {extras} would be added to dataset but "
                                 "`allow_additional_files=False`")
        return result
